//! Sweep charts: one SVG per figure against the varied key, one line per
//! backend (and per value of any other varied key), one panel per group
//! for latencies. p99 latency comes first: against offered rate it is the
//! chart a capacity planner reads first. With a USL fit, the throughput
//! chart draws the measured points and the fitted curve.
//!
//! Charts are returned as SVG strings, so `--out` writes them as files and
//! an HTML page can inline them. Text uses the generic `sans-serif` family,
//! as in the run chart: nothing loads system fonts.

use std::io;
use std::ops::Range;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::keys::Value;
use super::sweep::{Row, Sweep};

/// One chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Short name, used in file names: `p99`, `p50`, `throughput`.
    pub name: &'static str,
    /// The SVG document.
    pub svg: String,
}

const WIDTH: u32 = 960;
const PANEL_HEIGHT: u32 = 400;
const FONT: &str = "sans-serif";
/// Above this max/min ratio a latency axis is logarithmic: near
/// saturation p99 grows by orders of magnitude.
const LOG_RATIO: f64 = 30.0;
/// Points on a drawn USL curve.
const CURVE_STEPS: usize = 200;

type DrawResult<T> = Result<T, DrawingAreaErrorKind<io::Error>>;

/// One line: a label and its (x, y) points.
struct Line {
    label: String,
    points: Vec<(f64, f64)>,
    /// A fitted curve drawn beside the points, when there is one.
    curve: Option<Vec<(f64, f64)>>,
}

/// The charts of a sweep, p99 first; none when no key takes more than one
/// numeric value (there is no x axis).
pub fn charts(sweep: &Sweep) -> io::Result<Vec<Chart>> {
    let Some(x) = x_axis(sweep) else {
        return Ok(Vec::new());
    };
    let groups = group_names(sweep);
    let latency = |name: &'static str, pick: fn(&Row) -> f64, what: &str| -> io::Result<Chart> {
        let panels: Vec<(String, Vec<Line>)> = groups
            .iter()
            .map(|g| {
                let rows: Vec<&Row> = sweep.summary.iter().filter(|r| &r.group == g).collect();
                (
                    format!("{what} latency of group {g} — {}", sweep.config),
                    lines(sweep, &x, &rows, pick),
                )
            })
            .collect();
        let svg =
            render(&panels, &x.label, &format!("{what} latency (ms)"), true).map_err(to_io)?;
        Ok(Chart { name, svg })
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
    let panels = vec![(format!("throughput — {}", sweep.config), throughput)];
    let svg = render(&panels, &x.label, "throughput (jobs/s)", false).map_err(to_io)?;
    Ok(vec![
        p99,
        p50,
        Chart {
            name: "throughput",
            svg,
        },
    ])
}

fn to_io(e: DrawingAreaErrorKind<io::Error>) -> io::Error {
    io::Error::other(e.to_string())
}

/// The varied key: the first with more than one numeric value.
struct XAxis {
    key: String,
    label: String,
    /// Durations are charted in ms.
    scale: f64,
}

fn x_axis(sweep: &Sweep) -> Option<XAxis> {
    sweep
        .keys
        .iter()
        .zip(&sweep.values)
        .find(|(_, vs)| vs.len() > 1 && vs.iter().all(|v| v.as_f64().is_some()))
        .map(|(k, vs)| {
            let duration = vs.iter().any(|v| matches!(v, Value::Text(_)));
            XAxis {
                key: k.clone(),
                label: if duration {
                    format!("{k} (ms)")
                } else {
                    k.clone()
                },
                scale: if duration { 1e3 } else { 1.0 },
            }
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

/// One line per backend and per combination of the other keys' values.
fn lines(sweep: &Sweep, x: &XAxis, rows: &[&Row], pick: fn(&Row) -> f64) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    for r in rows {
        let others: Vec<String> = r
            .set
            .0
            .iter()
            .filter(|(k, _)| *k != x.key && varies(sweep, k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let label = if others.is_empty() {
            r.backend.clone()
        } else {
            format!("{} ({})", r.backend, others.join(", "))
        };
        let (Some(xv), y) = (r.set.get(&x.key).and_then(Value::as_f64), pick(r)) else {
            continue;
        };
        if !y.is_finite() {
            continue;
        }
        let point = (xv * x.scale, y);
        match out.iter_mut().find(|l| l.label == label) {
            Some(l) => l.points.push(point),
            None => out.push(Line {
                label,
                points: vec![point],
                curve: None,
            }),
        }
    }
    for l in &mut out {
        l.points.sort_by(|a, b| a.0.total_cmp(&b.0));
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

/// Adds each backend's fitted USL curve to its throughput line.
fn add_fits(sweep: &Sweep, x: &XAxis, lines: &mut [Line]) {
    for fit in &sweep.fit {
        let (Some(u), true) = (fit.usl(), fit.key == x.key) else {
            continue;
        };
        let Some(line) = lines.iter_mut().find(|l| l.label == fit.backend) else {
            continue;
        };
        let hi = line.points.iter().map(|p| p.0).fold(1.0, f64::max);
        let curve = (0..=CURVE_STEPS)
            .map(|i| {
                let n = 1.0 + (hi - 1.0) * i as f64 / CURVE_STEPS as f64;
                (n, u.at(n))
            })
            .filter(|p| p.1.is_finite())
            .collect();
        line.curve = Some(curve);
        line.label = format!("{} (USL σ={:.3} κ={:.2e})", fit.backend, u.sigma, u.kappa);
    }
}

/// Panels stacked top to bottom.
fn render(
    panels: &[(String, Vec<Line>)],
    x_desc: &str,
    y_desc: &str,
    latency: bool,
) -> DrawResult<String> {
    let mut buf = String::new();
    {
        let rows = panels.len().max(1);
        let height = u32::try_from(rows).map_or(u32::MAX, |r| r.saturating_mul(PANEL_HEIGHT));
        let root = SVGBackend::with_string(&mut buf, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        for (area, (title, lines)) in root.split_evenly((rows, 1)).iter().zip(panels) {
            panel(area, title, lines, x_desc, y_desc, latency)?;
        }
        root.present()?;
    }
    Ok(buf)
}

fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    lines: &[Line],
    x_desc: &str,
    y_desc: &str,
    latency: bool,
) -> DrawResult<()> {
    let all = || {
        lines
            .iter()
            .flat_map(|l| l.points.iter().chain(l.curve.iter().flatten()))
    };
    if all().next().is_none() {
        return area.draw(&Text::new(
            "nothing to chart",
            (20, 40),
            (FONT, 16).into_font(),
        ));
    }
    let (xlo, xhi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    let (ylo, yhi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let log = latency && ylo > 0.0 && yhi / ylo > LOG_RATIO;
    let to_axis = |y: f64| if log { y.max(1e-3).log10() } else { y };
    let y_range: Range<f64> = if log {
        to_axis(ylo) - 0.1..to_axis(yhi) + 0.1
    } else {
        0.0..if yhi > 0.0 { yhi * 1.08 } else { 1.0 }
    };
    let pad = ((xhi - xlo) * 0.04).max(1e-9);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(xlo - pad..xhi + pad, y_range)?;
    let y_label = move |v: &f64| {
        let y = if log { 10f64.powf(*v) } else { *v };
        short(y)
    };
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(if log {
            format!("{y_desc}, log scale")
        } else {
            y_desc.to_string()
        })
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&y_label)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 14))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(BLACK.mix(0.05))
        .draw()?;
    for (i, l) in lines.iter().enumerate() {
        // A backend keeps the colour it has in the run report's charts.
        let color = crate::report::backend_rgb(i);
        let pts: Vec<(f64, f64)> = l.points.iter().map(|p| (p.0, to_axis(p.1))).collect();
        let series = match &l.curve {
            Some(curve) => {
                let c: Vec<(f64, f64)> = curve.iter().map(|p| (p.0, to_axis(p.1))).collect();
                chart.draw_series(LineSeries::new(c, color.stroke_width(2)))?
            }
            None => chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?,
        };
        series.label(l.label.clone()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
        });
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}

/// A number with at most three significant digits, no trailing zeros.
fn short(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}
