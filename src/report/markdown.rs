//! `NAME.md`: the results table and the verdict as GitHub-flavoured
//! markdown, ready to paste into an issue (hyperfine's `--export-markdown`
//! is the model: units in the column headers, numbers right-aligned).

use std::io::Write;

use super::{shares, Exporter, GroupReport, Report, RunReport};

/// The markdown exporter (`--out` only).
pub struct Markdown;

impl Exporter for Markdown {
    fn export(&self, reports: &[Report], out: &mut dyn Write) -> std::io::Result<()> {
        for (i, r) in reports.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            write_report(r, out)?;
        }
        Ok(())
    }

    fn extension(&self) -> &'static str {
        "md"
    }
}

const HEADER: &str = "| Backend | Group | Jobs | p50 [ms] | p99 [ms] | p99.9 [ms] | Max [ms] | Jobs/s | Wall [s] | Where job time went |";
const ALIGN: &str = "|:---|:---|---:|---:|---:|---:|---:|---:|---:|:---|";

fn write_report(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "## {}\n", cell(&r.config))?;
    if let Some(d) = r.plan.as_ref().and_then(|p| p.description.as_deref()) {
        writeln!(out, "{}\n", cell(d))?;
    }
    writeln!(
        out,
        "Seed {}, {} cores, {}, gilsim {}.\n",
        r.seed,
        r.machine.cores,
        r.machine.kernel_words(false),
        r.gilsim
    )?;
    writeln!(out, "{HEADER}\n{ALIGN}")?;
    for run in &r.runs {
        for (gi, g) in run.groups.iter().enumerate() {
            writeln!(out, "{}", row(run, g, gi == 0))?;
        }
    }
    let gil: Vec<&RunReport> = r.runs.iter().filter(|r| r.gil_stats.is_some()).collect();
    if !gil.is_empty() {
        writeln!(out)?;
        for run in gil {
            if let Some(g) = &run.gil_stats {
                writeln!(
                    out,
                    "- `{}`: GIL taken {} times, {} forced switches, {} s waiting in total; holds p50 {} ms, p99 {} ms",
                    tick(&run.backend),
                    g.acquisitions,
                    g.forced_switches,
                    num(g.wait_s),
                    ms(g.hold_us.p50),
                    ms(g.hold_us.p99)
                )?;
            }
        }
    }
    if !r.verdict.is_empty() {
        writeln!(out, "\n**Verdict**\n")?;
        for line in &r.verdict {
            writeln!(out, "- {}", cell(line))?;
        }
    }
    Ok(())
}

fn row(run: &RunReport, g: &GroupReport, first: bool) -> String {
    let (backend, tput, wall) = if first {
        (
            format!("`{}`", tick(&run.backend)),
            super::fmt_rate(run.throughput_per_s),
            num(run.wall_s),
        )
    } else {
        (String::new(), String::new(), String::new())
    };
    let q = &g.latency_us;
    format!(
        "| {backend} | {} | {} | {} | {} | {} | {} | {tput} | {wall} | {} |",
        cell(&g.name),
        g.jobs,
        ms(q.p50),
        ms(q.p99),
        ms(q.p999),
        ms(q.max),
        shares(&g.shares)
    )
}

/// µs as ms with three decimals (whole µs).
fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

/// Seconds with three significant decimals.
fn num(s: f64) -> String {
    format!("{s:.3}")
}

/// Text safe inside a table cell or a line: pipes escaped, line breaks
/// flattened, so a name cannot break the table; and `<`, `>`, `&`, a
/// backslash and a backtick escaped, so a name such as
/// `<script>alert(1)</script>` is shown as written instead of reaching a
/// markdown viewer as HTML (or opening a code span).
pub(crate) fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '|' | '<' | '>' | '&' | '`' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text safe inside backticks: a code span shows its text as written (no
/// HTML, no backslash escapes), so only what would end the span or the
/// table cell is changed.
pub(crate) fn tick(s: &str) -> String {
    s.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('`', "'")
}

/// An HTML page's table as a markdown table: numeric columns right-aligned,
/// the cells of `code_column` (when not empty) as code.
pub(crate) fn html_table_md(
    t: &super::html::Table,
    code_column: Option<usize>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let header: Vec<String> = t.header.iter().map(|h| cell(h)).collect();
    writeln!(out, "| {} |", header.join(" | "))?;
    let align: Vec<&str> = t
        .numeric
        .iter()
        .map(|n| if *n { "---:" } else { ":---" })
        .collect();
    writeln!(out, "|{}|", align.join("|"))?;
    for row in &t.rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if Some(i) == code_column && !c.is_empty() {
                    format!("`{}`", tick(c))
                } else {
                    cell(c)
                }
            })
            .collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn one_table_row_per_backend_and_group_with_the_verdict() {
        let g = |n: &str| fixtures::group(n, 3, fixtures::quantiles(1_500), Default::default());
        let report = fixtures::report(
            "demo",
            vec![
                fixtures::run("threads|gil", 2.0, vec![g("a"), g("b")]),
                fixtures::run("rayon", 3.0, vec![g("a"), g("b")]),
            ],
            vec!["rayon wins.".into()],
        );
        let mut out = Vec::new();
        Markdown.export(&[report], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| ")).collect();
        assert_eq!(rows.len(), 1 + 4, "{text}");
        let columns = |l: &str| l.matches(" |").count();
        assert!(rows.iter().all(|r| columns(r) == columns(HEADER)), "{text}");
        assert!(text.contains("`threads\\|gil`"), "pipes are escaped");
        assert!(text.contains("| 3.000 | 15.000 |"), "p50 and p99 in ms");
        assert!(text.contains("**Verdict**\n\n- rayon wins."));
    }

    #[test]
    fn names_cannot_reach_a_viewer_as_html_or_break_a_row() {
        assert_eq!(
            cell("<script>alert(1)</script>"),
            "\\<script\\>alert(1)\\</script\\>"
        );
        assert_eq!(cell("a\\|b & `c`\nd"), "a\\\\\\|b \\& \\`c\\` d");
        // Inside a code span only the pipe and the backtick need care.
        assert_eq!(tick("<b>|`x`"), "<b>\\|'x'");
    }
}
