//! A sweep as a table, CSV or JSON: one row per point × backend × group
//! (the set values, p50, p99, throughput, the dominant loss), then the USL
//! fits. Formatting only: nothing here runs anything.

use std::io::{self, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ContentArrangement};

use super::sweep::{Fit, Row, Sweep, SweepFile};
use crate::report::fmt_us;
use crate::stats::Summary;

/// The sweep as one compact JSON object on one line.
pub fn json(file: &SweepFile, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer(&mut *out, file)?;
    writeln!(out)
}

/// The summary rows as CSV, with a header: the keys, then backend, group,
/// runs, and mean and 95% interval of p50, p99 and throughput.
pub fn csv(sweep: &Sweep, out: &mut dyn Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut header: Vec<String> = sweep.keys.clone();
    header.extend(["backend", "group", "runs"].map(String::from));
    for fig in ["p50_us", "p99_us", "throughput_per_s"] {
        header.extend([
            fig.to_string(),
            format!("{fig}_ci95_lo"),
            format!("{fig}_ci95_hi"),
        ]);
    }
    header.extend(["dominant_loss", "dominant_share"].map(String::from));
    w.write_record(&header)?;
    for r in &sweep.summary {
        let mut rec: Vec<String> = sweep
            .keys
            .iter()
            .map(|k| r.set.get(k).map_or(String::new(), ToString::to_string))
            .collect();
        rec.extend([r.backend.clone(), r.group.clone(), r.p50_us.n.to_string()]);
        for s in [&r.p50_us, &r.p99_us, &r.throughput_per_s] {
            rec.extend([num(s.mean), num(s.ci95_lo), num(s.ci95_hi)]);
        }
        rec.push(r.dominant_loss.clone().unwrap_or_default());
        rec.push(num(r.dominant_share));
        w.write_record(&rec)?;
    }
    w.flush()
}

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{}", (x * 1000.0).round() / 1000.0)
    } else {
        String::new()
    }
}

/// The sweep as a terminal table, then one line per fit.
pub fn table(sweep: &Sweep, out: &mut dyn Write) -> io::Result<()> {
    let shard = sweep
        .shard
        .map_or(String::new(), |s| format!(", shard {s}"));
    writeln!(
        out,
        "{}: sweep of {} ({} points{shard}, {} run{} each, {} engine)",
        sweep.config,
        sweep.keys.join(" × "),
        sweep.points_total,
        sweep.runs,
        if sweep.runs == 1 { "" } else { "s" },
        sweep.engine,
    )?;
    let mut t = comfy_table::Table::new();
    let mut header: Vec<String> = sweep.keys.clone();
    header.extend(["backend", "group", "p50", "p99", "jobs/s", "dominant loss"].map(String::from));
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    for r in &sweep.summary {
        t.add_row(table_row(sweep, r));
    }
    let first_figure = sweep.keys.len() + 2;
    for col in first_figure..first_figure + 3 {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    writeln!(out, "{t}")?;
    if sweep.runs > 1 {
        writeln!(
            out,
            "figures: mean ± half-width of the 95% confidence interval over {} runs",
            sweep.runs
        )?;
    }
    if sweep.fit_model.is_some() && sweep.shard.is_some() {
        writeln!(
            out,
            "USL fit: left to `gilsim merge`, which has every shard's points"
        )?;
    }
    for f in &sweep.fit {
        writeln!(out, "{}", fit_line(f))?;
    }
    Ok(())
}

fn table_row(sweep: &Sweep, r: &Row) -> Vec<String> {
    let mut row: Vec<String> = sweep
        .keys
        .iter()
        .map(|k| r.set.get(k).map_or(String::new(), ToString::to_string))
        .collect();
    row.extend([
        r.backend.clone(),
        r.group.clone(),
        latency(&r.p50_us),
        latency(&r.p99_us),
        rate(&r.throughput_per_s),
        r.dominant_loss.as_ref().map_or("-".into(), |l| {
            format!("{l} {:.0}%", r.dominant_share * 100.0)
        }),
    ]);
    row
}

fn latency(s: &Summary) -> String {
    if !s.mean.is_finite() {
        return "-".into();
    }
    let mean = fmt_us(s.mean.round().max(0.0) as u64);
    if s.n > 1 {
        format!(
            "{mean} ± {}",
            fmt_us(s.half_width().round().max(0.0) as u64)
        )
    } else {
        mean
    }
}

fn rate(s: &Summary) -> String {
    if !s.mean.is_finite() {
        return "-".into();
    }
    if s.n > 1 {
        format!("{:.1} ± {:.1}", s.mean, s.half_width())
    } else {
        format!("{:.1}", s.mean)
    }
}

/// One fit in words: `rayon: σ = 0.02 ± 0.01, κ = ..., λ = 950/s, ...`.
pub fn fit_line(f: &Fit) -> String {
    let Some(u) = f.usl() else {
        return format!(
            "USL fit {} vs {}: no fit: {}",
            f.backend,
            f.key,
            f.reason.as_deref().unwrap_or("unknown")
        );
    };
    let pm = |x: f64, e: Option<f64>| match e {
        Some(e) => format!("{} ± {}", sig(x), sig(e)),
        None => sig(x),
    };
    let peak = if u.limitless {
        match u.x_max {
            Some(x) => format!("limitless (κ ≈ 0): levels off towards X = {:.1}/s", x),
            None => "limitless: no ceiling within the errors (κ ≈ 0, σ ≈ 0)".into(),
        }
    } else {
        let serial = if u.n_star == Some(1.0) {
            " (more units add nothing: σ ≈ 1)"
        } else {
            ""
        };
        format!(
            "N* = {:.1}, X_max = {:.1}/s{serial}",
            u.n_star.unwrap_or(f64::NAN),
            u.x_max.unwrap_or(f64::NAN)
        )
    };
    format!(
        "USL fit {} vs {}: σ = {}, κ = {}, λ = {}/s, {peak} (R² = {:.3})",
        f.backend,
        f.key,
        pm(u.sigma, u.se.map(|e| e.sigma)),
        pm(u.kappa, u.se.map(|e| e.kappa)),
        pm(u.lambda, u.se.map(|e| e.lambda)),
        u.r2
    )
}

/// Three significant digits.
pub(crate) fn sig(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = (2 - x.abs().log10().floor() as i32).max(0) as usize;
    // Exponent notation at both ends: 1e308 in fixed notation is 309 digits.
    if x.abs() < 1e-3 || x.abs() >= 1e9 {
        format!("{x:.2e}")
    } else {
        format!("{x:.digits$}")
    }
}
