//! `gilsim compare BASE.json NEW.json` (SPEC §5): per backend × group, p50,
//! p99 and throughput of two run reports with their relative change, marked
//! when it passes the threshold. Worse means a higher latency or a lower
//! throughput.

use std::io::{self, Write};
use std::path::Path;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ContentArrangement};

use crate::error::Error;
use crate::report::{fmt_rate, fmt_us, saved, Report};

/// `--threshold`: `5%`, or a bare number of percent (`5`).
pub fn parse_threshold(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let number = t.strip_suffix('%').unwrap_or(t).trim();
    match number.parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p / 100.0),
        _ => Err(format!(
            "--threshold {s}: expected a percentage such as 5% (0% or more)"
        )),
    }
}

/// Reads the run reports in a JSON file (one per line, as `run --format
/// json` writes them, or one pretty-printed object), at most
/// [`saved::MAX_SAVED_BYTES`], each checked by [`saved::check_report`]:
/// compare matches configs, backends and groups by name, so a file that
/// names two alike is refused rather than half compared.
pub fn read_reports(path: &Path) -> Result<Vec<Report>, Error> {
    let bad = |why: String| Error::Usage(format!("{}: {why}", path.display()));
    let text = saved::read(path).map_err(|e| bad(e.to_string()))?;
    let mut reports: Vec<Report> = Vec::new();
    let stream = serde_json::Deserializer::from_slice(&text).into_iter::<Report>();
    for (i, report) in stream.enumerate() {
        let report = report.map_err(|e| bad(not_a_report(&text, i, &e)))?;
        saved::check_report(&report).map_err(&bad)?;
        if reports.iter().any(|r| r.config == report.config) {
            return Err(bad(format!(
                "holds two reports of config `{}`; compare matches configs by name",
                report.config
            )));
        }
        reports.push(report);
    }
    if reports.is_empty() {
        return Err(bad("holds no report".into()));
    }
    Ok(reports)
}

/// Why the `i`th JSON value of `text` is not a run report: not JSON at
/// all, a sweep or plan document, or a report's field amiss (`e` says
/// which, and where).
fn not_a_report(text: &[u8], i: usize, e: &serde_json::Error) -> String {
    if e.is_syntax() || e.is_eof() || e.is_io() {
        return format!("not JSON: {e}");
    }
    let value = serde_json::Deserializer::from_slice(text)
        .into_iter::<serde_json::Value>()
        .nth(i)
        .and_then(Result::ok);
    if value.is_some_and(|v| v.get("sweep").is_some() || v.get("plan").is_some()) {
        return "is a sweep or plan file; compare takes run reports (gilsim run --format json)"
            .into();
    }
    format!("not a gilsim run report: {e}")
}

/// Which way a figure moved, against the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Within the threshold.
    Same,
    /// Better beyond the threshold.
    Better,
    /// Worse beyond the threshold.
    Worse,
}

/// One figure of both reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// BASE's value.
    pub base: f64,
    /// NEW's value.
    pub new: f64,
    /// (new − base) / base; `None` when base is 0.
    pub relative: Option<f64>,
    /// Beyond the threshold, and which way.
    pub mark: Mark,
}

impl Change {
    fn of(base: f64, new: f64, threshold: f64, higher_is_worse: bool) -> Self {
        let relative = (base != 0.0).then(|| (new - base) / base);
        let mark = match relative {
            Some(r) if r.abs() > threshold => {
                if (r > 0.0) == higher_is_worse {
                    Mark::Worse
                } else {
                    Mark::Better
                }
            }
            _ => Mark::Same,
        };
        Change {
            base,
            new,
            relative,
            mark,
        }
    }
}

/// One backend × group present in both files.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The config's name.
    pub config: String,
    /// The backend's label.
    pub backend: String,
    /// The group's name.
    pub group: String,
    /// Median latency, µs.
    pub p50: Change,
    /// 99th-percentile latency, µs.
    pub p99: Change,
    /// The backend's throughput, jobs per second.
    pub throughput: Change,
}

/// The comparison of two files.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The threshold, as a fraction.
    pub threshold: f64,
    /// Matched rows, in BASE's order.
    pub rows: Vec<Row>,
    /// What one file has and the other lacks.
    pub unmatched: Vec<String>,
    /// Why a matched config's figures may not compare like for like: a
    /// report cut short, different engines, different plans.
    pub caveats: Vec<String>,
}

impl Comparison {
    /// Whether any figure is worse beyond the threshold.
    pub fn worse(&self) -> bool {
        self.rows.iter().any(|r| {
            [r.p50, r.p99, r.throughput]
                .iter()
                .any(|c| c.mark == Mark::Worse)
        })
    }
}

/// Matches configs by name, backends by label and groups by name.
pub fn compare(base: &[Report], new: &[Report], threshold: f64) -> Result<Comparison, Error> {
    let mut rows = Vec::new();
    let mut unmatched = Vec::new();
    let mut caveats = Vec::new();
    for b in base {
        let Some(n) = new.iter().find(|n| n.config == b.config) else {
            unmatched.push(format!("config {} is only in BASE", b.config));
            continue;
        };
        caveats.extend(caveats_of(b, n));
        for br in &b.runs {
            let Some(nr) = n.runs.iter().find(|r| r.backend == br.backend) else {
                unmatched.push(format!("{} {} is only in BASE", b.config, br.backend));
                continue;
            };
            for bg in &br.groups {
                let Some(ng) = nr.groups.iter().find(|g| g.name == bg.name) else {
                    unmatched.push(format!(
                        "{} {} group {} is only in BASE",
                        b.config, br.backend, bg.name
                    ));
                    continue;
                };
                rows.push(Row {
                    config: b.config.clone(),
                    backend: br.backend.clone(),
                    group: bg.name.clone(),
                    p50: Change::of(
                        bg.latency_us.p50 as f64,
                        ng.latency_us.p50 as f64,
                        threshold,
                        true,
                    ),
                    p99: Change::of(
                        bg.latency_us.p99 as f64,
                        ng.latency_us.p99 as f64,
                        threshold,
                        true,
                    ),
                    throughput: Change::of(
                        br.throughput_per_s,
                        nr.throughput_per_s,
                        threshold,
                        false,
                    ),
                });
            }
            for ng in nr
                .groups
                .iter()
                .filter(|g| !br.groups.iter().any(|x| x.name == g.name))
            {
                unmatched.push(format!(
                    "{} {} group {} is only in NEW",
                    b.config, br.backend, ng.name
                ));
            }
        }
        for nr in n
            .runs
            .iter()
            .filter(|r| !b.runs.iter().any(|x| x.backend == r.backend))
        {
            unmatched.push(format!("{} {} is only in NEW", b.config, nr.backend));
        }
    }
    for n in new
        .iter()
        .filter(|n| !base.iter().any(|b| b.config == n.config))
    {
        unmatched.push(format!("config {} is only in NEW", n.config));
    }
    if rows.is_empty() {
        return Err(Error::Usage(format!(
            "compare: the two files have no backend × group in common ({})",
            unmatched.join("; ")
        )));
    }
    Ok(Comparison {
        threshold,
        rows,
        unmatched,
        caveats,
    })
}

/// What makes config `b`'s and `n`'s figures differ for reasons other than
/// the change being judged. Comparing them is still allowed (a config
/// edited on purpose changes its plan), but said.
fn caveats_of(b: &Report, n: &Report) -> Vec<String> {
    let mut out = Vec::new();
    for (side, r) in [("BASE", b), ("NEW", n)] {
        if !r.complete {
            out.push(format!(
                "config {}: {side} is incomplete (its runs stopped early), so its figures cover only the jobs that finished",
                r.config
            ));
        }
    }
    if b.engine != n.engine {
        out.push(format!(
            "config {}: BASE ran on the {} engine and NEW on the {}",
            b.config, b.engine, n.engine
        ));
    }
    if !b.plan_sha256.is_empty() && !n.plan_sha256.is_empty() && b.plan_sha256 != n.plan_sha256 {
        out.push(format!(
            "config {}: the two plans differ (plan_sha256), so the jobs are not the same",
            b.config
        ));
    }
    out
}

/// The comparison as a table, a list of what did not match, and a verdict.
pub fn table(c: &Comparison, out: &mut dyn Write) -> io::Result<()> {
    let several = c.rows.iter().any(|r| r.config != c.rows[0].config);
    let mut t = comfy_table::Table::new();
    let mut header = vec!["backend", "group", "p50", "p99", "jobs/s"];
    if several {
        header.insert(0, "config");
    }
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    for r in &c.rows {
        let mut row = vec![
            r.backend.clone(),
            r.group.clone(),
            cell(&r.p50, |v| fmt_us(v.round().max(0.0) as u64)),
            cell(&r.p99, |v| fmt_us(v.round().max(0.0) as u64)),
            cell(&r.throughput, fmt_rate),
        ];
        if several {
            row.insert(0, r.config.clone());
        }
        t.add_row(row);
    }
    let first = if several { 3 } else { 2 };
    for col in first..first + 3 {
        if let Some(col) = t.column_mut(col) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    writeln!(out, "{t}")?;
    for u in &c.unmatched {
        writeln!(out, "not compared: {u}")?;
    }
    for why in &c.caveats {
        writeln!(out, "note: {why}")?;
    }
    let pct = c.threshold * 100.0;
    let count = |m: Mark| {
        c.rows
            .iter()
            .flat_map(|r| [r.p50, r.p99, r.throughput])
            .filter(|x| x.mark == m)
            .count()
    };
    let (worse, better) = (count(Mark::Worse), count(Mark::Better));
    if worse > 0 {
        writeln!(
            out,
            "NEW is worse: {worse} figure(s) beyond {pct}% (and {better} better)"
        )
    } else {
        writeln!(out, "no figure is worse beyond {pct}% ({better} better)")
    }
}

/// `base → new (+12.3% worse)`.
fn cell(c: &Change, fmt: impl Fn(f64) -> String) -> String {
    let change = match c.relative.map(|r| r * 100.0) {
        // A hostile saved figure can make the change 1e308%.
        Some(p) if p.abs() >= 1e9 => format!("{p:+.2e}%"),
        Some(p) => format!("{p:+.1}%"),
        None => "n/a".into(),
    };
    let mark = match c.mark {
        Mark::Same => "",
        Mark::Better => " better",
        Mark::Worse => " WORSE",
    };
    format!("{} → {} ({change}{mark})", fmt(c.base), fmt(c.new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_as_percentages() {
        assert_eq!(parse_threshold("5%"), Ok(0.05));
        assert_eq!(parse_threshold("12.5"), Ok(0.125));
        assert_eq!(parse_threshold(" 0% "), Ok(0.0));
        for bad in ["", "%", "-5%", "five", "nan", "inf%"] {
            assert!(parse_threshold(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_change_is_marked_by_direction_and_size() {
        assert_eq!(Change::of(100.0, 120.0, 0.05, true).mark, Mark::Worse);
        assert_eq!(Change::of(100.0, 80.0, 0.05, true).mark, Mark::Better);
        assert_eq!(Change::of(100.0, 104.0, 0.05, true).mark, Mark::Same);
        assert_eq!(Change::of(100.0, 80.0, 0.05, false).mark, Mark::Worse);
        assert_eq!(Change::of(100.0, 120.0, 0.05, false).mark, Mark::Better);
        let zero = Change::of(0.0, 5.0, 0.05, true);
        assert_eq!((zero.relative, zero.mark), (None, Mark::Same));
    }

    /// A saved throughput of 1e308 (valid JSON, and finite) printed 309
    /// digits for the figure and as many for its change.
    #[test]
    fn huge_figures_and_changes_are_printed_short() {
        let c = Change::of(1.0, 1e300, 0.05, false);
        assert_eq!(cell(&c, fmt_rate), "1.0 → 1.000e300 (+1.00e302% better)");
        // A change past f64's range in percent reads as infinite.
        let c = Change::of(1.0, 1e308, 0.05, false);
        assert_eq!(cell(&c, fmt_rate), "1.0 → 1.000e308 (+inf% better)");
        assert_eq!(
            cell(&Change::of(100.0, 150.0, 0.05, false), fmt_rate),
            "100.0 → 150.0 (+50.0% better)"
        );
        assert_eq!(crate::capacity::output::sig(1e308), "1.00e308");
        assert_eq!(crate::capacity::output::sig(123.456), "123");
    }
}
