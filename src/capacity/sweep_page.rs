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
use crate::fsout::write_atomic;
use crate::report::files::FileError;
use crate::report::hgrm::file_part;
use crate::report::html::{render_page, Block, Page, Section, Table};
use crate::report::markdown::{cell, tick};
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
    let mut written = Vec::new();
    let mut put = |name: String, fill: &dyn Fn(&mut dyn Write) -> io::Result<()>| {
        let path = dir.join(name);
        write_atomic(&path, fill).map_err(|source| FileError {
            path: path.clone(),
            source,
        })?;
        written.push(path);
        Ok::<_, FileError>(())
    };
    put(format!("{stem}.json"), &|w| output::json(file, w))?;
    put(format!("{stem}.csv"), &|w| output::csv(&file.sweep, w))?;
    put(format!("{stem}.md"), &|w| markdown(&file.sweep, w))?;
    let html = render_page(&page(file, &charts));
    put(format!("{stem}.html"), &|w| w.write_all(html.as_bytes()))?;
    for c in &charts {
        put(format!("{stem}.{}.svg", c.name), &|w| {
            w.write_all(c.svg.as_bytes())
        })?;
    }
    Ok(written)
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
    let t = results_table(sweep);
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
                if i == sweep.keys.len() {
                    format!("`{}`", tick(c))
                } else {
                    cell(c)
                }
            })
            .collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    if sweep.runs > 1 {
        writeln!(out, "\n{}", cell(&interval_note(sweep)))?;
    }
    if let Some(t) = fit_table(sweep) {
        writeln!(
            out,
            "\n**USL fit** (throughput against `{}`)\n",
            tick(&sweep.fit[0].key)
        )?;
        writeln!(out, "| {} |", t.header.join(" | "))?;
        let align: Vec<&str> = t
            .numeric
            .iter()
            .map(|n| if *n { "---:" } else { ":---" })
            .collect();
        writeln!(out, "|{}|", align.join("|"))?;
        for row in &t.rows {
            let mut cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            if let Some(first) = cells.first_mut() {
                *first = format!("`{}`", tick(&row[0]));
            }
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
    } else if let Some(note) = fit_note(sweep) {
        writeln!(out, "\n{}", cell(&note))?;
    }
    Ok(())
}

/// `12 points, 3 runs each, real engine, backends a, b; gilsim 0.3.0.`
fn what_ran(sweep: &Sweep) -> String {
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
