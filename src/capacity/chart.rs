//! Sweep charts: one SVG per figure against the varied key, one line per
//! backend (and per value of any other varied key, told apart by dash
//! pattern), one panel per group for latencies. p99 latency comes first:
//! against offered rate it is the chart a capacity planner reads first.
//! With a USL fit, the throughput chart draws the measured points, the
//! fitted curve, and a ring at the fit's peak (N*, X_max); the legend
//! gives σ, κ, λ, N* and X_max.
//!
//! Charts are returned as SVG strings, so `--out` writes them as files and
//! the HTML page inlines them. The drawing (axes, legend, each backend's
//! colour and marker) is the report charts' own (`report::plot`).

use std::io;

use super::keys::{Key, Target, Value, ValueKind};
use super::output::sig;
use super::sweep::{Fit, Row, Sweep};
use crate::report::plot::{render_xy, AxisSpec, XyLine, XyPanel, XyPoint};

/// One chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Short name, used in file names: `p99`, `p50`, `throughput`.
    pub name: &'static str,
    /// The SVG document.
    pub svg: String,
}

const PANEL_HEIGHT: u32 = 400;
/// Above this max/min ratio a latency axis is logarithmic: near
/// saturation p99 grows by orders of magnitude.
const LOG_RATIO: f64 = 30.0;
/// Segments of a drawn USL curve: the SVG rounds points to whole pixels,
/// so many short segments would draw a staircase.
const CURVE_STEPS: usize = 48;

/// The charts of a sweep, p99 first; none when no key takes more than one
/// numeric value (there is no x axis).
pub fn charts(sweep: &Sweep) -> io::Result<Vec<Chart>> {
    let Some(x) = x_axis(sweep) else {
        return Ok(Vec::new());
    };
    let groups = group_names(sweep);
    let latency = |name: &'static str, pick: fn(&Row) -> f64, what: &str| -> io::Result<Chart> {
        let panels: Vec<XyPanel> = groups
            .iter()
            .map(|g| {
                let rows: Vec<&Row> = sweep.summary.iter().filter(|r| &r.group == g).collect();
                XyPanel {
                    title: format!("{what} latency of group {g} — {}", sweep.config),
                    x: x.spec(),
                    y: AxisSpec {
                        what: format!("{what} latency"),
                        unit: Some("ms".into()),
                        log_ratio: Some(LOG_RATIO),
                        from_zero: true,
                        ticks_at: None,
                    },
                    lines: lines(sweep, &x, &rows, pick),
                    hlines: Vec::new(),
                    vlines: Vec::new(),
                    legend_extra: Vec::new(),
                }
            })
            .collect();
        Ok(Chart {
            name,
            svg: render_xy(&panels, PANEL_HEIGHT)?,
        })
    };
    let p99 = latency("p99", |r| r.p99_us.mean / 1e3, "p99")?;
    let p50 = latency("p50", |r| r.p50_us.mean / 1e3, "p50")?;
    let first_group: Vec<&Row> = sweep
        .summary
        .iter()
        .filter(|r| groups.first() == Some(&r.group))
        .collect();
    let mut throughput = lines(sweep, &x, &first_group, |r| r.throughput_per_s.mean);
    add_fits(sweep, &x, &mut throughput);
    let panel = XyPanel {
        title: format!("throughput — {}", sweep.config),
        x: x.spec(),
        y: AxisSpec {
            what: "throughput".into(),
            unit: Some("jobs/s".into()),
            log_ratio: None,
            from_zero: true,
            ticks_at: None,
        },
        lines: throughput,
        hlines: Vec::new(),
        vlines: Vec::new(),
        legend_extra: Vec::new(),
    };
    Ok(vec![
        p99,
        p50,
        Chart {
            name: "throughput",
            svg: render_xy(&[panel], PANEL_HEIGHT)?,
        },
    ])
}

/// The varied key: the first with more than one numeric value.
pub(crate) struct XAxis {
    key: String,
    unit: Option<&'static str>,
    /// Durations are charted in ms.
    scale: f64,
    /// The values swept, labelled on the axis when there are few.
    values: Vec<f64>,
}

/// Up to this many swept values are each labelled on the x axis.
const MAX_VALUE_TICKS: usize = 10;

impl XAxis {
    /// The axis for `key`: its unit, durations in ms.
    pub(crate) fn of(key: &str) -> Self {
        let (unit, scale) = key_unit(key);
        Self {
            key: key.to_string(),
            unit,
            scale,
            values: Vec::new(),
        }
    }

    /// `value` (the key's number: seconds for durations) on this axis.
    pub(crate) fn at(&self, value: f64) -> f64 {
        value * self.scale
    }

    pub(crate) fn spec(&self) -> AxisSpec {
        AxisSpec {
            what: self.key.clone(),
            unit: self.unit.map(String::from),
            // Values swept by factors (1, 2, 4 … 64) read best on a log
            // axis; a narrow range stays linear.
            log_ratio: Some(LOG_RATIO),
            from_zero: false,
            ticks_at: (self.values.len() <= MAX_VALUE_TICKS).then(|| self.values.clone()),
        }
    }
}

/// The unit a key's values are counted in, and the factor from the key's
/// number to it (durations: seconds to ms).
pub(crate) fn key_unit(key: &str) -> (Option<&'static str>, f64) {
    let Ok(k) = Key::parse(key) else {
        return (None, 1.0);
    };
    if k.kind() == ValueKind::Duration {
        return (Some("ms"), 1e3);
    }
    let unit = match k.target() {
        Target::Rate(_) => Some("jobs/s"),
        Target::Closed(_) => Some("clients"),
        Target::Jobs(_) => Some("jobs"),
        Target::Workers(_) => Some("workers"),
        Target::Processes(_) => Some("processes"),
        Target::Cores => Some("cores"),
        _ => None,
    };
    (unit, 1.0)
}

fn x_axis(sweep: &Sweep) -> Option<XAxis> {
    sweep
        .keys
        .iter()
        .zip(&sweep.values)
        .find(|(_, vs)| vs.len() > 1 && vs.iter().all(|v| v.as_f64().is_some()))
        .map(|(k, vs)| {
            let mut x = XAxis::of(k);
            x.values = vs
                .iter()
                .filter_map(Value::as_f64)
                .map(|v| x.at(v))
                .collect();
            x
        })
}

fn group_names(sweep: &Sweep) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in &sweep.summary {
        if !names.contains(&r.group) {
            names.push(r.group.clone());
        }
    }
    names
}

/// A backend's position among the sweep's backends: its colour and marker.
fn backend_index(sweep: &Sweep, backend: &str) -> usize {
    sweep
        .backends
        .iter()
        .position(|b| b == backend)
        .unwrap_or(sweep.backends.len())
}

/// One line per backend and per combination of the other keys' values
/// (the first combination solid, the next ones dashed).
fn lines(sweep: &Sweep, x: &XAxis, rows: &[&Row], pick: fn(&Row) -> f64) -> Vec<XyLine> {
    let mut out: Vec<XyLine> = Vec::new();
    let mut combos: Vec<String> = Vec::new();
    for r in rows {
        let others: Vec<String> = r
            .set
            .0
            .iter()
            .filter(|(k, _)| *k != x.key && varies(sweep, k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let combo = others.join(", ");
        let dash = match combos.iter().position(|c| c == &combo) {
            Some(i) => i,
            None => {
                combos.push(combo.clone());
                combos.len() - 1
            }
        };
        let label = if others.is_empty() {
            r.backend.clone()
        } else {
            format!("{} ({combo})", r.backend)
        };
        let (Some(xv), y) = (r.set.get(&x.key).and_then(Value::as_f64), pick(r)) else {
            continue;
        };
        if !y.is_finite() {
            continue;
        }
        let point = XyPoint {
            x: x.at(xv),
            y,
            hollow: false,
        };
        match out.iter_mut().find(|l| l.label == label) {
            Some(l) => l.points.push(point),
            None => out.push(XyLine {
                label,
                sub: Vec::new(),
                backend: backend_index(sweep, &r.backend),
                dash,
                points: vec![point],
                curve: None,
                ring: None,
            }),
        }
    }
    for l in &mut out {
        l.points.sort_by(|a, b| a.x.total_cmp(&b.x));
    }
    out
}

fn varies(sweep: &Sweep, key: &str) -> bool {
    sweep
        .keys
        .iter()
        .zip(&sweep.values)
        .any(|(k, vs)| k == key && vs.len() > 1)
}

/// Adds each backend's fitted USL curve to its throughput line, rings its
/// peak when the peak lies within the swept values, and puts σ, κ, λ, N*
/// and X_max under its legend label.
fn add_fits(sweep: &Sweep, x: &XAxis, lines: &mut [XyLine]) {
    for fit in &sweep.fit {
        if fit.key != x.key {
            continue;
        }
        let Some(line) = lines.iter_mut().find(|l| l.label == fit.backend) else {
            continue;
        };
        line.sub = fit_legend(fit);
        let Some(u) = fit.usl() else {
            continue;
        };
        let hi = line.points.iter().map(|p| p.x).fold(1.0, f64::max);
        let curve = (0..=CURVE_STEPS)
            .map(|i| {
                let n = 1.0 + (hi - 1.0) * i as f64 / CURVE_STEPS as f64;
                (n, u.at(n))
            })
            .filter(|p| p.1.is_finite())
            .collect();
        line.curve = Some(curve);
        if let (Some(n), Some(xm), false) = (u.n_star, u.x_max, u.limitless) {
            if (1.0..=hi).contains(&n) && xm.is_finite() {
                line.ring = Some((n, xm));
            }
        }
    }
}

/// A fit's legend lines: the parameters, then the peak (or why there is
/// no fit).
pub(crate) fn fit_legend(fit: &Fit) -> Vec<String> {
    let Some(u) = fit.usl() else {
        let why = fit.reason.as_deref().unwrap_or("unknown");
        return vec!["USL: no fit".into(), crate::report::charts::clip(why, 44)];
    };
    let peak = if u.limitless {
        match u.x_max {
            Some(x) => format!("limitless: levels off at {}/s", sig(x)),
            None => "limitless: no ceiling in the data".into(),
        }
    } else {
        format!(
            "N* = {} (ring), X_max = {}/s",
            u.n_star.map_or("-".into(), sig),
            u.x_max.map_or("-".into(), sig)
        )
    };
    vec![
        format!("USL σ = {}, κ = {}", sig(u.sigma), sig(u.kappa)),
        format!("λ = {}/s, R² = {:.3}", sig(u.lambda), u.r2),
        peak,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_units() {
        assert_eq!(
            key_unit("group.requests.arrival.rate"),
            (Some("jobs/s"), 1.0)
        );
        assert_eq!(key_unit("backend.*.workers"), (Some("workers"), 1.0));
        assert_eq!(key_unit("gil.switch_interval"), (Some("ms"), 1e3));
        assert_eq!(key_unit("seed"), (None, 1.0));
    }
}
