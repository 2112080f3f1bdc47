//! `--format table`: one table per config, one row per backend × group,
//! followed by GIL and counter summaries.

use std::io::Write;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Row};

use super::words::{count, wrap};
use super::{Exporter, GroupReport, Report, RunReport, Shares};
use crate::stats::Summary;

/// The table exporter.
pub struct Table;

const HEADER: [&str; 10] = [
    "backend",
    "group",
    "jobs",
    "p50",
    "p99",
    "p99.9",
    "max",
    "jobs/s",
    "wall",
    "where job time went",
];

impl Exporter for Table {
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
        "txt"
    }
}

fn write_report(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    write_report_at(r, out, None)
}

/// Writes one report; `width` overrides the terminal's width (tests).
fn write_report_at(r: &Report, out: &mut dyn Write, width: Option<u16>) -> std::io::Result<()> {
    writeln!(
        out,
        "{} (seed {}, {} cores, {})",
        r.config,
        r.seed,
        r.machine.cores,
        r.machine.kernel_words(true)
    )?;
    if let Some(n) = r
        .runs
        .iter()
        .filter_map(|x| x.stats.as_ref().map(|s| s.n))
        .max()
    {
        writeln!(
            out,
            "means of up to {n} runs per backend; ±: half the 95% confidence interval, as % of the mean"
        )?;
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(HEADER);
    for run in &r.runs {
        for (gi, g) in run.groups.iter().enumerate() {
            t.add_row(group_row(run, g, gi == 0));
        }
    }
    for col in 2..9 {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
            // Numbers are never split across lines; the names and the
            // prose column take the wrapping.
            c.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    if let Some(w) = width {
        t.set_width(w);
    }
    fit_width(&mut t);
    writeln!(out, "{t}")?;
    // Prose under the table wraps at the same width, between words.
    let prose = t.width().map(usize::from);
    for run in &r.runs {
        for line in run_notes(run) {
            writeln!(out, "{}", wrap(&line, prose, "      "))?;
        }
    }
    for line in &r.verdict {
        writeln!(out, "{}", wrap(line, prose, "  "))?;
    }
    Ok(())
}

/// Narrower than this, a terminal's reported width is not believed.
const MIN_BELIEVABLE_WIDTH: u16 = 40;
/// The width used instead.
const FALLBACK_WIDTH: u16 = 120;

/// A pseudo-terminal without a size (`script`, `docker run -t`, some CI
/// runners) reports 0 columns, and the table would wrap to one character
/// per line; such a width is ignored. Real narrow terminals still wrap.
fn fit_width(t: &mut comfy_table::Table) {
    if t.width().is_some_and(|w| w < MIN_BELIEVABLE_WIDTH) {
        t.set_width(FALLBACK_WIDTH);
    }
}

fn group_row(run: &RunReport, g: &GroupReport, first: bool) -> Row {
    let stats = run.stats.as_ref();
    let (backend, tput, wall) = if first {
        (
            run.backend.clone(),
            fmt_rate(run.throughput_per_s) + &ci(stats.map(|s| &s.throughput_per_s)),
            fmt_secs(run.wall_s) + &ci(stats.map(|s| &s.wall_s)),
        )
    } else {
        (String::new(), String::new(), String::new())
    };
    let lat = stats
        .and_then(|s| s.groups.iter().find(|x| x.name == g.name))
        .map(|x| &x.latency_us);
    Row::from(vec![
        backend,
        g.name.clone(),
        g.jobs.to_string(),
        fmt_us(g.latency_us.p50) + &ci(lat.map(|l| &l.p50)),
        fmt_us(g.latency_us.p99) + &ci(lat.map(|l| &l.p99)),
        fmt_us(g.latency_us.p999),
        fmt_us(g.latency_us.max),
        tput,
        wall,
        shares(&g.shares),
    ])
}

/// ` ±4%`: a figure's 95% interval half-width relative to its mean; empty
/// without repetitions.
fn ci(s: Option<&Summary>) -> String {
    match s {
        Some(s) if s.n > 1 && s.mean.abs() > 0.0 => {
            format!(" ±{:.0}%", 100.0 * s.half_width() / s.mean.abs())
        }
        Some(s) if s.n > 1 => " ±0%".into(),
        _ => String::new(),
    }
}

/// The non-negligible shares of a group's job time, largest first.
pub fn shares(s: &Shares) -> String {
    let mut v: Vec<_> = s.parts().into_iter().filter(|p| p.1 >= 0.005).collect();
    if v.is_empty() {
        return "-".into();
    }
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v.iter()
        .map(|(name, x)| format!("{name} {:.0}%", 100.0 * x))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The GIL and counter lines under the table, one string per line.
fn run_notes(run: &RunReport) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(g) = &run.gil_stats {
        lines.push(format!(
            "  {}: GIL taken {}, {}, {} waiting in total; holds p50 {} p99 {} max {}",
            run.backend,
            count(g.acquisitions, "time", "times"),
            count(g.forced_switches, "forced switch", "forced switches"),
            fmt_secs(g.wait_s),
            fmt_hold(g.hold_us.p50),
            fmt_hold(g.hold_us.p99),
            fmt_hold(g.hold_us.max)
        ));
    }
    if let Some(d) = &run.deployment {
        lines.push(format!(
            "  {}: {}, dispatch {}, busiest at {:.2}× the mean load",
            run.backend,
            count(d.processes as u64, "process", "processes"),
            d.dispatch,
            d.load_spread
        ));
        for p in &d.per_process {
            let gil = p.gil.as_ref().map_or(String::new(), |g| {
                format!(
                    "; GIL {}, {} waiting",
                    count(g.forced_switches, "forced switch", "forced switches"),
                    fmt_secs(g.wait_s)
                )
            });
            lines.push(format!(
                "    process {}: {} ({:.0}%), p50 {} p99 {}{gil}",
                p.process,
                count(p.jobs, "job", "jobs"),
                100.0 * p.share,
                fmt_us(p.latency_us.p50),
                fmt_us(p.latency_us.p99)
            ));
        }
    }
    for c in &run.counters {
        let pct = if c.expected > 0 {
            100.0 * c.lost as f64 / c.expected as f64
        } else {
            0.0
        };
        lines.push(format!(
            "  {}: counter {}: expected {}, observed {}, lost {} ({pct:.1}%)",
            run.backend, c.name, c.expected, c.observed, c.lost
        ));
    }
    lines
}

/// A GIL hold time: holds are recorded in whole microseconds, so 0 means
/// under one, which is what it says.
fn fmt_hold(us: u64) -> String {
    if us == 0 {
        "<1µs".to_string()
    } else {
        fmt_us(us)
    }
}

/// Microseconds as a short human duration.
pub fn fmt_us(us: u64) -> String {
    match us {
        0..=999 => format!("{us}µs"),
        1_000..=999_999 => format!("{:.2}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// A rate (jobs/s) with one decimal; below 0.05 with three significant
/// digits (one job an hour is `0.000278`, not `0.0`); in exponent notation
/// from a billion up and below a millionth, where fixed notation runs to
/// hundreds of digits for a saved `1e308` or `1e-300`.
pub fn fmt_rate(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() || a == 0.0 || (0.05..1e9).contains(&a) {
        format!("{x:.1}")
    } else if !(1e-6..1e9).contains(&a) {
        format!("{x:.3e}")
    } else {
        let digits = (2 - a.log10().floor() as i32) as usize;
        format!("{x:.digits$}")
    }
}

/// Seconds as a short human duration.
pub fn fmt_secs(s: f64) -> String {
    fmt_us((s * 1e6).round().max(0.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(fmt_us(850), "850µs");
        assert_eq!(fmt_us(1_234), "1.23ms");
        assert_eq!(fmt_us(2_010_000), "2.01s");
        assert_eq!(fmt_secs(0.5), "500.00ms");
    }

    #[test]
    fn rates_stay_short_however_large() {
        assert_eq!(fmt_rate(1234.56), "1234.6");
        assert_eq!(fmt_rate(999_999_999.0), "999999999.0");
        assert_eq!(fmt_rate(1e308), "1.000e308");
        assert_eq!(fmt_rate(-2.5e12), "-2.500e12");
        assert_eq!(fmt_rate(0.0), "0.0");
        assert_eq!(fmt_rate(1.0 / 3600.0), "0.000278");
        assert_eq!(fmt_rate(0.049), "0.0490");
        assert_eq!(fmt_rate(1e-300), "1.000e-300");
    }

    #[test]
    fn repeated_figures_carry_their_interval() {
        assert_eq!(ci(None), "");
        let one = Summary::of(&[5.0]).unwrap();
        assert_eq!(ci(Some(&one)), "", "no spread from one run");
        let s = Summary::of(&[90.0, 100.0, 110.0]).unwrap();
        // 4.303 × 10 / √3 = 24.8 around 100.
        assert_eq!(ci(Some(&s)), " ±25%");
    }

    #[test]
    fn shares_sort_and_skip_noise() {
        let s = Shares {
            cpu: 0.25,
            gil_wait: 0.75,
            io: 0.001,
            ..Default::default()
        };
        assert_eq!(shares(&s), "gil wait 75%, cpu 25%");
        assert_eq!(shares(&Shares::default()), "-");
    }

    /// A report with long names, a GIL line and a long verdict line, as
    /// the table shows it at `width` columns.
    fn rendered_at(width: u16) -> String {
        use crate::report::fixtures;
        use crate::report::{GilReport, HoldQuantiles};
        let shares = Shares {
            cpu: 0.25,
            gil_wait: 0.70,
            io: 0.05,
            ..Default::default()
        };
        let groups = vec![
            fixtures::group(
                "crunch-the-numbers",
                1_000_000,
                fixtures::quantiles(123_456),
                shares,
            ),
            fixtures::group("serve-requests", 1, fixtures::quantiles(7), shares),
        ];
        let mut gil = fixtures::run("threads+gil-with-a-long-label", 12_345.6, groups.clone());
        gil.gil_stats = Some(GilReport {
            acquisitions: 1,
            forced_switches: 1,
            wait_s: 1234.5,
            hold_us: HoldQuantiles {
                p50: 0,
                p99: 987_654,
                max: 12_345_678,
            },
        });
        let report = fixtures::report("wide", vec![gil, fixtures::run("rayon", 99_999.9, groups)], vec![
                "threads+gil-with-a-long-label: 70% of job time waiting for the GIL: CPU-bound work serialized; \
                 rayon wins throughput (99999.9 jobs/s) by 710.0%, beyond the noise of 5 runs"
                    .into(),
            ]);
        let mut out = Vec::new();
        write_report_at(&report, &mut out, Some(width)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_fit_the_terminal_and_numbers_stay_whole() {
        use unicode_width::UnicodeWidthStr;
        for width in [80u16, 120] {
            let text = rendered_at(width);
            for line in text.lines() {
                assert!(
                    line.width() <= width as usize,
                    "{width}: {line:?} is {} wide",
                    line.width()
                );
            }
            // Every figure appears whole on one line.
            for number in [
                "12345.6", "99999.9", "1000000", "246.91ms", "1.23s", "12.35s", "987.65ms",
                "710.0%", "99999.9",
            ] {
                assert!(
                    text.lines().any(|l| l.contains(number)),
                    "{width}: {number} split or missing in\n{text}"
                );
            }
        }
    }

    #[test]
    fn gil_line_counts_agree_and_short_holds_say_so() {
        let text = rendered_at(200);
        assert!(
            text.contains("GIL taken 1 time, 1 forced switch,"),
            "{text}"
        );
        assert!(text.contains("holds p50 <1µs p99 987.65ms"), "{text}");
    }

    #[test]
    fn a_zero_width_terminal_is_not_believed_but_a_narrow_one_is() {
        let mut t = comfy_table::Table::new();
        t.set_width(0);
        fit_width(&mut t);
        assert_eq!(t.width(), Some(FALLBACK_WIDTH));
        t.set_width(60);
        fit_width(&mut t);
        assert_eq!(t.width(), Some(60));
    }
}
