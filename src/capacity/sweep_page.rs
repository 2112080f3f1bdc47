//! A sweep's `--out` files besides JSON and CSV: `NAME.sweep.md` (the
//! sweep table and the USL fit table as markdown) and `NAME.sweep.html`
//! (one self-contained page: what was varied, the table, the fit, every
//! sweep chart inline), built with the run report's page builder
//! ([`crate::report::html`]). Formatting only: nothing here runs anything.
//!
//! [`write_files`] writes every file of a sweep, each whole or not at all.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::chart::{self, Chart};
use super::output::{self, sig};
use super::sweep::{Fit, Row, Sweep, SweepFile};
use crate::report::files::{FileError, FileSet};
use crate::report::hgrm::file_part;
use crate::report::html::{render_page, Block, Page, Section, Table};
use crate::report::markdown::{cell, html_table_md, tick};
use crate::stats::Summary;

/// The stem of a sweep's files: `NAME.sweep`, or
/// `NAME.sweep.shardKofN` for a shard.
pub fn stem(sweep: &Sweep) -> String {
    let name = file_part(&sweep.config);
    match sweep.shard {
        Some(s) => format!("{name}.sweep.shard{}of{}", s.index, s.count),
        None => format!("{name}.sweep"),
    }
}

/// Writes `STEM.json`, `STEM.csv`, `STEM.md`, `STEM.html` and one
/// `STEM.FIGURE.svg` per chart into `dir` ([`stem`]); returns the paths
/// written. Each file is written whole or not at all; the first failure
/// stops, and the files already written stay (each complete).
pub fn write_files(dir: &Path, file: &SweepFile) -> Result<Vec<PathBuf>, FileError> {
    let stem = stem(&file.sweep);
    let charts = chart::charts(&file.sweep).map_err(|source| FileError {
        path: dir.join(format!("{stem}.html")),
        source,
    })?;
    let mut files = FileSet::new(dir);
    files.put(format!("{stem}.json"), |w| output::json(file, w))?;
    files.put(format!("{stem}.csv"), |w| output::csv(&file.sweep, w))?;
    files.put(format!("{stem}.md"), |w| markdown(&file.sweep, w))?;
    let html = render_page(&page(file, &charts));
    files.put(format!("{stem}.html"), |w| w.write_all(html.as_bytes()))?;
    for c in &charts {
        files.put(format!("{stem}.{}.svg", c.name), |w| {
            w.write_all(c.svg.as_bytes())
        })?;
    }
    Ok(files.written())
}

/// The sweep as markdown: a heading, what ran, the table (one row per
/// point × backend × group), then the USL fit table.
pub fn markdown(sweep: &Sweep, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "## {}: sweep of {}\n",
        cell(&sweep.config),
        cell(&sweep.keys.join(" × "))
    )?;
    writeln!(out, "{}\n", cell(&what_ran(sweep)))?;
    html_table_md(&results_table(sweep), Some(sweep.keys.len()), out)?;
    if sweep.runs > 1 {
        writeln!(out, "\n{}", cell(&interval_note(sweep)))?;
    }
    if let Some(t) = fit_table(sweep) {
        writeln!(
            out,
            "\n**USL fit** (throughput against `{}`)\n",
            tick(&sweep.fit[0].key)
        )?;
        html_table_md(&t, Some(0), out)?;
    } else if let Some(note) = fit_note(sweep) {
        writeln!(out, "\n{}", cell(&note))?;
    }
    Ok(())
}

/// `12 points, 3 runs each, real engine, backends a, b.` (and, for a
/// sweep stopped early, that it was).
fn what_ran(sweep: &Sweep) -> String {
    let stopped = if sweep.complete {
        String::new()
    } else {
        let why = match sweep.stopped {
            Some(crate::stop::Stopped::Timeout) => "by its timeout",
            _ => "by Ctrl-C or SIGTERM",
        };
        format!(
            " Stopped early {why}: only the {} runs that finished are shown.",
            sweep.points.len()
        )
    };
    format!("{}{stopped}", what_ran_whole(sweep))
}

fn what_ran_whole(sweep: &Sweep) -> String {
    let shard = sweep
        .shard
        .map_or(String::new(), |s| format!(" (shard {s})"));
    format!(
        "{} points{shard}, {} run{} each, {} engine; backends {}.",
        sweep.points_total,
        sweep.runs,
        if sweep.runs == 1 { "" } else { "s" },
        sweep.engine,
        sweep.backends.join(", ")
    )
}

fn interval_note(sweep: &Sweep) -> String {
    format!(
        "Figures are the mean ± the half-width of the 95% confidence interval over {} runs.",
        sweep.runs
    )
}

/// Why a sweep asked to fit has no fit table.
fn fit_note(sweep: &Sweep) -> Option<String> {
    match (&sweep.fit_model, sweep.shard) {
        (Some(_), Some(_)) => {
            Some("USL fit: left to `gilsim merge`, which has every shard's points.".into())
        }
        (Some(_), None) if sweep.fit.is_empty() => {
            Some("USL fit: no backend scales with the varied key.".into())
        }
        _ => None,
    }
}

/// One row per point × backend × group: the keys' values, backend, group,
/// p50 and p99 in ms, jobs/s, the dominant loss.
fn results_table(sweep: &Sweep) -> Table {
    let mut header: Vec<String> = sweep.keys.clone();
    header.extend(
        [
            "backend",
            "group",
            "p50 [ms]",
            "p99 [ms]",
            "jobs/s",
            "dominant loss",
        ]
        .map(String::from),
    );
    let mut numeric = vec![false; sweep.keys.len() + 2];
    numeric.extend([true, true, true, false]);
    let rows = sweep.summary.iter().map(|r| row(sweep, r)).collect();
    Table {
        header,
        rows,
        numeric,
    }
}

fn row(sweep: &Sweep, r: &Row) -> Vec<String> {
    let mut row: Vec<String> = sweep
        .keys
        .iter()
        .map(|k| r.set.get(k).map_or(String::new(), ToString::to_string))
        .collect();
    row.extend([
        r.backend.clone(),
        r.group.clone(),
        figure(&r.p50_us, 1e-3, 3),
        figure(&r.p99_us, 1e-3, 3),
        figure(&r.throughput_per_s, 1.0, 1),
        r.dominant_loss.as_ref().map_or("-".into(), |l| {
            format!("{l} {:.0}%", r.dominant_share * 100.0)
        }),
    ]);
    row
}

/// A summary's mean times `scale`, with the interval's half-width after
/// more than one run.
fn figure(s: &Summary, scale: f64, decimals: usize) -> String {
    if !s.mean.is_finite() {
        return "-".into();
    }
    if s.n > 1 {
        format!(
            "{:.decimals$} ± {:.decimals$}",
            s.mean * scale,
            s.half_width() * scale
        )
    } else {
        format!("{:.decimals$}", s.mean * scale)
    }
}

/// The USL fits, one row per backend; `None` without fits.
fn fit_table(sweep: &Sweep) -> Option<Table> {
    if sweep.fit.is_empty() {
        return None;
    }
    let header = [
        "backend",
        "σ (contention)",
        "κ (coherency)",
        "λ [jobs/s]",
        "N*",
        "X_max [jobs/s]",
        "R²",
        "note",
    ]
    .map(String::from)
    .to_vec();
    let rows = sweep.fit.iter().map(fit_row).collect();
    Some(Table {
        header,
        rows,
        numeric: vec![false, true, true, true, true, true, true, false],
    })
}

fn fit_row(f: &Fit) -> Vec<String> {
    let Some(u) = f.usl() else {
        let mut row = vec![f.backend.clone()];
        row.extend(std::iter::repeat("-".to_string()).take(6));
        row.push(format!(
            "no fit: {}",
            f.reason.as_deref().unwrap_or("unknown")
        ));
        return row;
    };
    let pm = |x: f64, e: Option<f64>| match e {
        Some(e) => format!("{} ± {}", sig(x), sig(e)),
        None => sig(x),
    };
    let note = if u.limitless {
        match u.x_max {
            Some(_) => "limitless (κ ≈ 0): X_max is the level it tends to".into(),
            None => "limitless: no ceiling within the errors".into(),
        }
    } else if u.n_star == Some(1.0) {
        "more units add nothing (σ ≈ 1)".into()
    } else {
        String::new()
    };
    vec![
        f.backend.clone(),
        pm(u.sigma, u.se.map(|e| e.sigma)),
        pm(u.kappa, u.se.map(|e| e.kappa)),
        pm(u.lambda, u.se.map(|e| e.lambda)),
        u.n_star.map_or("-".into(), sig),
        u.x_max.map_or("-".into(), sig),
        format!("{:.3}", u.r2),
        note,
    ]
}

/// The sweep's HTML page.
pub fn page(file: &SweepFile, charts: &[Chart]) -> Page {
    let sweep = &file.sweep;
    let mut sections = vec![Section {
        title: "Sweep".into(),
        blocks: vec![
            Block::Text(format!(
                "{}: every combination of the values below; {}",
                sweep.config,
                what_ran(sweep)
            )),
            Block::List(
                sweep
                    .keys
                    .iter()
                    .zip(&sweep.values)
                    .map(|(k, vs)| {
                        let vs: Vec<String> = vs.iter().map(ToString::to_string).collect();
                        format!("{k} = {}", vs.join(", "))
                    })
                    .collect(),
            ),
        ],
    }];
    let mut results = vec![Block::Table(results_table(sweep))];
    if sweep.runs > 1 {
        results.push(Block::Text(interval_note(sweep)));
    }
    results.push(Block::Text(
        "p50 and p99 are the group's latency percentiles; jobs/s is the backend's throughput over the whole run; the dominant loss is the largest share of job time lost to GIL wait, lock wait, queueing or a blocked executor.".into(),
    ));
    sections.push(Section {
        title: "Results".into(),
        blocks: results,
    });
    if sweep.fit_model.is_some() {
        let mut blocks = Vec::new();
        if let Some(t) = fit_table(sweep) {
            blocks.push(Block::Text(format!(
                "Universal Scalability Law fitted to throughput against {}: X(N) = λN / (1 + σ(N−1) + κN(N−1)). σ is contention (1: fully serial, as CPU-bound threads under one GIL), κ coherency (throughput falls past N*), λ the throughput at N = 1; X_max = X(N*). ± is one standard error.",
                sweep.fit[0].key
            )));
            blocks.push(Block::Table(t));
        }
        if let Some(note) = fit_note(sweep) {
            blocks.push(Block::Text(note));
        }
        sections.push(Section {
            title: "USL fit".into(),
            blocks,
        });
    }
    sections.push(Section {
        title: "Charts".into(),
        blocks: chart_blocks(sweep, charts),
    });
    Page {
        title: format!("gilsim sweep: {}", sweep.config),
        subtitle: Some(format!(
            "{} × {} · {} engine · gilsim {}",
            sweep.keys.join(" × "),
            sweep.backends.join(", "),
            sweep.engine,
            file.gilsim
        )),
        sections,
    }
}

fn chart_blocks(sweep: &Sweep, charts: &[Chart]) -> Vec<Block> {
    if charts.is_empty() {
        return vec![Block::Text(
            "No charts: no key takes more than one numeric value, so there is nothing to draw against."
                .into(),
        )];
    }
    let others = if sweep
        .keys
        .iter()
        .zip(&sweep.values)
        .filter(|(_, v)| v.len() > 1)
        .count()
        > 1
    {
        " Lines of one backend that differ in another varied key share its colour and marker and are told apart by dash pattern."
    } else {
        ""
    };
    charts
        .iter()
        .map(|c| {
            let caption = match c.name {
                "p99" => format!("p99 latency against the varied key, one panel per group, one line per backend (its colour and marker as on the run pages). Read this first: where the line turns up is where the backend saturates.{others}"),
                "p50" => format!("Median (p50) latency against the varied key, one panel per group.{others}"),
                _ if sweep.fit.iter().any(|f| f.usl().is_some()) => format!("Throughput against the varied key: the measured points and, for each backend fitted, the USL curve through them, with a ring at its peak (N*, X_max) when the peak lies within the swept values; the legend gives σ, κ, λ, N* and X_max.{others}"),
                _ => format!("Throughput (jobs/s over the whole run) against the varied key, one line per backend.{others}"),
            };
            Block::Chart {
                id: format!("sweep-{}", c.name),
                svg: c.svg.clone(),
                caption,
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::capacity::keys::{Assignment, Value};
    use crate::capacity::usl;

    const KEY: &str = "backend.*.workers";
    const NS: [i64; 6] = [1, 2, 3, 4, 6, 8];

    fn summary(mean: f64, n: usize) -> Summary {
        Summary {
            n,
            mean,
            stddev: 0.0,
            ci95_lo: mean * 0.9,
            ci95_hi: mean * 1.1,
        }
    }

    /// X(N) of a USL with σ = 0.1, κ = 0.02, λ = 100/s: it peaks at
    /// N* = √(0.9/0.02) ≈ 6.7, inside the swept 1..8.
    fn x(n: f64) -> f64 {
        100.0 * n / (1.0 + 0.1 * (n - 1.0) + 0.02 * n * (n - 1.0))
    }

    fn row(index: usize, set: Vec<(String, Value)>, backend: &str, n: f64, runs: usize) -> Row {
        Row {
            index,
            set: Assignment(set),
            backend: backend.into(),
            group: "work".into(),
            p50_us: summary(1000.0 * n, runs),
            p99_us: summary(3000.0 * n, runs),
            throughput_per_s: summary(x(n), runs),
            dominant_loss: Some("GIL wait".into()),
            dominant_share: 0.4,
        }
    }

    fn fit(backend: &str) -> Fit {
        let data: Vec<(f64, f64)> = NS.iter().map(|n| (*n as f64, x(*n as f64))).collect();
        let u = usl::fit(&data).expect("an exact USL fits");
        Fit {
            backend: backend.into(),
            key: KEY.into(),
            status: "ok".into(),
            reason: None,
            sigma: Some(u.sigma),
            kappa: Some(u.kappa),
            lambda: Some(u.lambda),
            se: u.se,
            n_star: u.n_star,
            x_max: u.x_max,
            limitless: Some(u.limitless),
            r2: Some(u.r2),
            data,
        }
    }

    /// A six-point worker sweep of two backends (one fitted, one whose fit
    /// failed), or with `seeds` a second varied key.
    pub(crate) fn sweep(seeds: bool, runs: usize) -> Sweep {
        let mut keys = vec![KEY.to_string()];
        let mut values = vec![NS.iter().map(|n| Value::Int(*n)).collect::<Vec<_>>()];
        if seeds {
            keys.push("seed".into());
            values.push(vec![Value::Int(1), Value::Int(2)]);
        }
        let mut summary = Vec::new();
        for (i, n) in NS.iter().enumerate() {
            for seed in if seeds { vec![1, 2] } else { vec![1] } {
                let mut set = vec![(KEY.to_string(), Value::Int(*n))];
                if seeds {
                    set.push(("seed".into(), Value::Int(seed)));
                }
                for b in ["threads+gil", "rayon"] {
                    summary.push(row(i, set.clone(), b, *n as f64, runs));
                }
            }
        }
        let mut failed = fit("rayon");
        failed.status = "failed".into();
        failed.reason = Some("did not converge".into());
        failed.sigma = None;
        Sweep {
            config: "pools".into(),
            engine: "model".into(),
            keys,
            values,
            runs,
            backends: vec!["threads+gil".into(), "rayon".into()],
            points_total: NS.len(),
            shard: None,
            config_sha256: None,
            fit_model: Some("usl".into()),
            complete: true,
            stopped: None,
            points: Vec::new(),
            summary,
            fit: if seeds {
                Vec::new()
            } else {
                vec![fit("threads+gil"), failed]
            },
        }
    }

    #[test]
    fn markdown_has_the_sweep_table_and_the_fit_table() {
        let mut out = Vec::new();
        markdown(&sweep(false, 3), &mut out).unwrap();
        let md = String::from_utf8(out).unwrap();
        assert!(
            md.starts_with("## pools: sweep of backend.*.workers\n"),
            "{md}"
        );
        let (table, fits) = md.split_once("**USL fit**").expect("a fit table");
        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 2 + 6 * 2, "{md}");
        assert!(rows[0].contains("p99 [ms]") && rows[1].contains("---:"));
        // 3 runs: mean ± half-width, in ms.
        assert!(md.contains("| 3.000 ± "), "{md}");
        assert!(md.contains("mean ± the half-width of the 95% confidence interval over 3 runs"));
        assert!(fits.contains("| `threads+gil` | 0.1"), "σ: {fits}");
        assert!(fits.contains("| `rayon` | - |") && fits.contains("no fit: did not converge"));
    }

    #[test]
    fn the_throughput_chart_draws_the_fit_and_names_its_parameters() {
        let charts = chart::charts(&sweep(false, 1)).unwrap();
        let names: Vec<&str> = charts.iter().map(|c| c.name).collect();
        assert_eq!(names, ["p99", "p50", "throughput"]);
        let svg = &charts[2].svg;
        for needle in [
            // σ may print as 0.100 or 0.1000 (a hair under 0.1).
            "USL σ = 0.1",
            ", κ = 0.0200",
            "λ = 100/s, R² = 1.000",
            "N* = 6.71 (ring), X_max = ",
            "USL: no fit",
            "did not converge",
            "backend.*.workers (workers)",
            "throughput (jobs/s)",
        ] {
            assert!(
                svg.contains(needle),
                "missing {needle}: {:?}",
                svg.lines()
                    .filter(|l| l.contains("USL"))
                    .collect::<Vec<_>>()
            );
        }
        // The x axis is labelled at each swept value.
        for n in NS {
            assert!(svg.contains(&format!("\n{n}\n</text>")), "no tick at {n}");
        }
        let html = render_page(&page(
            &SweepFile {
                gilsim: "test".into(),
                sweep: sweep(false, 1),
            },
            &charts,
        ));
        for s in ["Sweep", "Results", "USL fit", "Charts"] {
            assert!(html.contains(&format!("<h2>{s}</h2>")), "no {s}");
        }
        assert_eq!(html.matches("<figure class=\"chart\"").count(), 3);
        assert!(html.contains("backend.*.workers = 1, 2, 3, 4, 6, 8"));
    }

    #[test]
    fn a_second_varied_key_gets_its_own_dashed_lines() {
        let one = chart::charts(&sweep(false, 1)).unwrap();
        let two = chart::charts(&sweep(true, 1)).unwrap();
        let svg = &two[0].svg;
        for label in [
            "threads+gil (seed=1)",
            "threads+gil (seed=2)",
            "rayon (seed=2)",
        ] {
            assert!(svg.contains(label), "no line {label}");
        }
        // Dashes are drawn as many short segments.
        assert!(
            svg.matches("<polyline").count() > 2 * one[0].svg.matches("<polyline").count(),
            "no dashed lines"
        );
    }
}
