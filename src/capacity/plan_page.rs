//! A plan's `--out` files besides JSON and CSV: `NAME.plan.md` (per
//! backend: status, max, p99 at max, limit; the verdict; every probe),
//! `NAME.plan.html` (the same as one self-contained page with a chart per
//! SLO inline) and the charts themselves, `NAME.plan.FIGURE.svg`.
//! Formatting only: nothing here runs anything.
//!
//! [`write_files`] writes every file of a plan, each whole or not at all.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::bisect::Find;
use super::plan_chart::{self, SloChart};
use super::plan_output::{not_run_row, p99_at_value, write_csv, write_json};
use super::plan_verdict::{confirmation, find_word, fmt_value, value_cell};
use super::search::PlanResult;
use crate::report::files::{FileError, FileSet};
use crate::report::hgrm::file_part;
use crate::report::html::{render_page, Block, Page, Section, Table};
use crate::report::markdown::{cell, html_table_md};

/// The stem of a plan's files: `NAME.plan`.
pub fn stem(plan: &PlanResult) -> String {
    format!("{}.plan", file_part(&plan.config))
}

/// Writes `STEM.json`, `STEM.csv`, `STEM.md`, `STEM.html` and one
/// `STEM.FIGURE.svg` per SLO into `dir` ([`stem`]); returns the paths
/// written. Each file is written whole or not at all; the first failure
/// stops, and the files already written stay (each complete).
pub fn write_files(dir: &Path, plan: &PlanResult) -> Result<Vec<PathBuf>, FileError> {
    let stem = stem(plan);
    let charts = plan_chart::charts(plan).map_err(|source| FileError {
        path: dir.join(format!("{stem}.html")),
        source,
    })?;
    let mut files = FileSet::new(dir);
    files.put(format!("{stem}.json"), |w| write_json(plan, w))?;
    files.put(format!("{stem}.csv"), |w| write_csv(plan, w))?;
    files.put(format!("{stem}.md"), |w| markdown(plan, w))?;
    let html = render_page(&page(plan, &charts));
    files.put(format!("{stem}.html"), |w| w.write_all(html.as_bytes()))?;
    for c in &charts {
        files.put(format!("{stem}.{}.svg", c.name), |w| {
            w.write_all(c.svg.as_bytes())
        })?;
    }
    Ok(files.written())
}

/// `highest group.requests.arrival.rate in 100..3200 where requests.p99<=20ms (precision 5%, real engine)`
fn search_line(plan: &PlanResult) -> String {
    let word = find_word(plan.find);
    let mut first = word.chars();
    let capital: String = first
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .chain(first)
        .collect();
    format!(
        "{capital} {} in {}..{} where {} (precision {}%, {} engine).",
        plan.vary,
        fmt_value(plan.range[0]),
        fmt_value(plan.range[1]),
        plan.slo.join(" and "),
        fmt_value((plan.precision * 1000.0).round() / 10.0),
        plan.engine
    )
}

fn probe_line(plan: &PlanResult) -> String {
    let l = &plan.probe_length;
    format!(
        "Each probe: at least {} measured jobs per open- or closed-loop group, after {} warm-up jobs left out (p{} needs 100/(1−q) jobs){}. A probe meets the plan when every SLO holds and an open-loop group achieves at least 99% of its offered rate.",
        l.measured_jobs,
        l.warmup_jobs,
        fmt_value((l.quantile * 1000.0).round() / 10.0),
        confirmation(&plan.probe_length, plan.confirm)
    )
}

/// One row per backend: status, max (or min), the p99 there, probes,
/// limit; a backend the plan stopped before searching is `not_run`.
fn results_table(plan: &PlanResult) -> Table {
    let name = plan.find.as_str();
    Table {
        header: vec![
            "backend".into(),
            "status".into(),
            name.into(),
            format!("p99 at {name} [ms]"),
            "probes".into(),
            "limit".into(),
        ],
        rows: plan
            .results
            .iter()
            .map(|r| {
                vec![
                    r.backend.clone(),
                    r.status.as_str().to_string(),
                    value_cell(r),
                    p99_at_value(plan, r)
                        .map_or("-".into(), |us| format!("{:.3}", us as f64 / 1e3)),
                    r.probes.len().to_string(),
                    r.limit.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .chain(plan.not_run.iter().map(|b| not_run_row(b)))
            .collect(),
        numeric: vec![false, false, true, true, true, false],
    }
}

/// Every figure name the probes carry, in order (`requests.p99_us`,
/// `throughput_per_s`).
fn figure_names(plan: &PlanResult) -> Vec<String> {
    let names: BTreeSet<&String> = plan
        .results
        .iter()
        .flat_map(|r| &r.probes)
        .flat_map(|p| p.figures.keys())
        .collect();
    names.into_iter().cloned().collect()
}

/// A figure's column heading: `requests.p99 [ms]`, `throughput [jobs/s]`.
fn figure_heading(name: &str) -> String {
    match name.strip_suffix("_us") {
        Some(n) => format!("{n} [ms]"),
        None if name == "throughput_per_s" => "throughput [jobs/s]".into(),
        None => name.to_string(),
    }
}

/// Every probe of every backend, in the order they ran.
fn probes_table(plan: &PlanResult) -> Table {
    let figures = figure_names(plan);
    let mut header: Vec<String> = ["backend", "#", plan.vary.as_str(), "result"]
        .map(String::from)
        .to_vec();
    header.extend(figures.iter().map(|f| figure_heading(f)));
    header.extend(["achieved [%]", "jobs", "time [s]"].map(String::from));
    let mut numeric = vec![false, true, true, false];
    numeric.extend(figures.iter().map(|_| true));
    numeric.extend([true, true, true]);
    // Real-engine probes that missed while the host stole CPU time were
    // measured again: say how often, and how much was stolen.
    let probes = || plan.results.iter().flat_map(|r| &r.probes);
    let steal = probes().any(|p| p.host_steal_ms.is_some());
    let remeasured = probes().any(|p| !p.attempts.is_empty());
    if steal {
        header.push("host steal [ms]".into());
        numeric.push(true);
    }
    if remeasured {
        header.push("measurements".into());
        numeric.push(true);
    }
    let mut rows = Vec::new();
    for r in &plan.results {
        for (i, p) in r.probes.iter().enumerate() {
            let mut row = vec![
                if i == 0 {
                    r.backend.clone()
                } else {
                    String::new()
                },
                (i + 1).to_string(),
                fmt_value(p.value),
                match (p.met, p.gave_up) {
                    (true, _) => "met",
                    (false, None) => "missed",
                    // Its figures cover only the jobs that finished.
                    (false, Some(_)) => "missed (stopped early)",
                }
                .to_string(),
            ];
            row.extend(figures.iter().map(|f| match p.figures.get(f) {
                Some(v) if f.ends_with("_us") => format!("{:.3}", v / 1e3),
                Some(v) => format!("{v:.1}"),
                None => "-".into(),
            }));
            row.extend([
                p.achieved_ratio
                    .map_or("-".into(), |a| format!("{:.1}", 100.0 * a)),
                p.jobs.to_string(),
                format!("{:.1}", p.elapsed_s),
            ]);
            if steal {
                row.push(p.host_steal_ms.map_or("-".into(), |ms| format!("{ms:.1}")));
            }
            if remeasured {
                row.push((1 + p.attempts.len()).to_string());
            }
            rows.push(row);
        }
    }
    Table {
        header,
        rows,
        numeric,
    }
}

/// What the statuses mean for `plan`'s search, with those of a plan
/// stopped early when it was.
fn statuses(plan: &PlanResult) -> String {
    let mut text = match plan.find {
        Find::Max => "found: the highest value at which every SLO held; not_reached: the range's end still held (max is a lower bound); doom: the lowest value already failed.",
        Find::Min => "found: the least value at which every SLO held; not_reached: the range's start still held (min is an upper bound); doom: the highest value still failed.",
    }
    .to_string();
    if !plan.complete {
        text += " interrupted: the plan was stopped during this backend's search, which has no answer; its probes that finished are shown. not_run: the plan stopped before searching this backend.";
    }
    text + " The limit is the dominant loss at the first probe that failed."
}

/// The plan as markdown: what was searched, the table per backend, the
/// verdict, then every probe.
pub fn markdown(plan: &PlanResult, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "## {}: plan of {}\n",
        cell(&plan.config),
        cell(&plan.vary)
    )?;
    writeln!(out, "{}\n", cell(&search_line(plan)))?;
    writeln!(out, "{}\n", cell(&probe_line(plan)))?;
    html_table_md(&results_table(plan), Some(0), out)?;
    if !plan.verdict.is_empty() {
        writeln!(out, "\n**Verdict**\n")?;
        for line in &plan.verdict {
            writeln!(out, "- {}", cell(line))?;
        }
    }
    writeln!(out, "\n**Probes**\n")?;
    html_table_md(&probes_table(plan), Some(0), out)
}

/// The plan's HTML page.
pub fn page(plan: &PlanResult, charts: &[SloChart]) -> Page {
    let mut sections = vec![
        Section {
            title: "Plan".into(),
            blocks: vec![
                Block::Text(format!("{}: {}", plan.config, search_line(plan))),
                Block::Text(probe_line(plan)),
            ],
        },
        Section {
            title: "Results".into(),
            blocks: vec![
                Block::Table(results_table(plan)),
                Block::Text(statuses(plan)),
            ],
        },
    ];
    if !plan.verdict.is_empty() {
        sections.push(Section {
            title: "Verdict".into(),
            blocks: vec![Block::List(plan.verdict.clone())],
        });
    }
    let blocks = if charts.is_empty() {
        vec![Block::Text("No charts: no SLO could be read back.".into())]
    } else {
        charts
            .iter()
            .map(|c| Block::Chart {
                id: format!("plan-{}", c.name),
                svg: c.svg.clone(),
                caption: format!(
                    "{}: the figure this SLO bounds at each probe against {}, one line per backend through its probes (its colour and marker as on the run pages). A filled marker: the probe met every SLO; a hollow one: it missed (this SLO, another one, or an open-loop group achieved under 99% of its offered rate). The dashed black line is the SLO; a backend's dotted vertical line is the {} value that held.",
                    c.slo, plan.vary, find_word(plan.find)
                ),
            })
            .collect()
    };
    sections.push(Section {
        title: "Charts".into(),
        blocks,
    });
    sections.push(Section {
        title: "Probes".into(),
        blocks: vec![Block::Table(probes_table(plan))],
    });
    let backends: Vec<&str> = plan.results.iter().map(|r| r.backend.as_str()).collect();
    Page {
        title: format!("gilsim plan: {}", plan.config),
        subtitle: Some(format!(
            "{} · {} · {} engine · {}",
            plan.vary,
            plan.slo.join(" and "),
            plan.engine,
            backends.join(", ")
        )),
        sections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::plan_chart::tests::{interrupted, plan};

    /// `plan`'s markdown, and the rows of its probe table (with its
    /// header).
    fn markdown_of(plan: &PlanResult) -> (String, usize) {
        let mut out = Vec::new();
        markdown(plan, &mut out).unwrap();
        let md = String::from_utf8(out).unwrap();
        let probe_rows = md
            .split("**Probes**")
            .nth(1)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("| "))
            .count();
        (md, probe_rows)
    }

    #[test]
    fn markdown_has_a_row_per_backend_the_verdict_and_every_probe() {
        let (md, probe_rows) = markdown_of(&plan());
        assert!(md.starts_with("## web: plan of group.requests.arrival.rate\n"));
        assert!(md.contains("| `threads+gil` | found | 600 |"), "{md}");
        assert!(md.contains("| `rayon` | not_reached | ≥ 3200 |"), "{md}");
        assert!(md.contains("| `doomed` | doom | - |"), "{md}");
        assert!(md.contains("**Verdict**\n\n- rayon carries the most."));
        assert_eq!(probe_rows, 1 + 6 + 2 + 1, "{md}");
        assert!(md.contains("requests.p99 [ms]") && md.contains("throughput [jobs/s]"));
        assert!(md.contains("| missed |"));
    }

    /// A plan stopped early: the cut backend's row and its finished
    /// probes, a row for the backend not run, the statuses explained, and
    /// the verdict opening with what was cut.
    #[test]
    fn an_interrupted_plan_shows_the_cut_backend_and_the_one_not_run() {
        let plan = interrupted(4, &["tokio"]);
        let (md, probe_rows) = markdown_of(&plan);
        assert!(
            md.contains("| `threads+gil` | interrupted | - | - | 4 |"),
            "{md}"
        );
        assert!(md.contains("| `tokio` | not_run | - | - | 0 | - |"), "{md}");
        assert!(
            md.contains("**Verdict**\n\n- Incomplete (interrupted): cut short: threads+gil; not run: tokio."),
            "{md}"
        );
        assert_eq!(probe_rows, 1 + 4 + 2 + 1, "{md}");
        let charts = plan_chart::charts(&plan).unwrap();
        let html = render_page(&page(&plan, &charts));
        assert!(html.contains("interrupted: the plan was stopped"), "{html}");
        assert!(html.contains("not_run"));
    }

    #[test]
    fn the_page_has_every_section_and_a_chart_per_slo() {
        let plan = plan();
        let charts = plan_chart::charts(&plan).unwrap();
        let html = render_page(&page(&plan, &charts));
        for s in ["Plan", "Results", "Verdict", "Charts", "Probes"] {
            assert!(html.contains(&format!("<h2>{s}</h2>")), "no {s}");
        }
        assert_eq!(html.matches("<figure class=\"chart\"").count(), 3);
        assert!(html.contains("data-chart=\"plan-requests.p99\""));
        assert!(!html.contains("<script") && !html.contains("https://"));
    }
}
