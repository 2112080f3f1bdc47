//! `--out DIR` also writes `NAME.svg`: latency by percentile, the classic
//! HdrHistogram picture. One panel per group, stacked vertically; in each,
//! one line per backend through min, p50, p90, p99, p99.9 and max.
//!
//! The x axis is the "number of nines", −log10(1 − p): p90 is one step,
//! p99 two, p99.9 three, so the tail gets as much room as the median. The
//! maximum has no finite position on that scale; it is drawn one step past
//! p99.9 and labelled "max". Only the quantiles in the report are drawn (no
//! histogram buckets), so the chart agrees with the JSON and the table.
//!
//! Text is written as SVG `<text>` elements in the generic `sans-serif`
//! family: plotters is built without its font features, so nothing loads
//! system fonts; label widths are plotters' own estimates.

use std::io::{self, Write};
use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Exporter, Quantiles, Report};

/// The SVG chart exporter (`--out` only; not a `--format`).
///
/// Given several reports, it draws all their groups' panels in one SVG, in
/// order (each panel's title names its config): SVG documents cannot simply
/// be concatenated the way JSON Lines can. `--out` calls it with one report
/// per file.
pub struct Svg;

impl Exporter for Svg {
    fn export(&self, reports: &[Report], out: &mut dyn Write) -> io::Result<()> {
        out.write_all(latency_chart(reports)?.as_bytes())
    }

    fn extension(&self) -> &'static str {
        "svg"
    }
}

/// The latency-by-percentile chart of `reports` as one SVG document (the
/// `NAME.svg` file, and the first chart of the HTML page).
pub(crate) fn latency_chart(reports: &[Report]) -> io::Result<String> {
    render(&panels(reports)).map_err(to_io)
}

const WIDTH: u32 = 960;
const PANEL_HEIGHT: u32 = 380;
const FONT: &str = "sans-serif";
const TITLE_SIZE: u32 = 20;
const TEXT_SIZE: u32 = 14;
/// The chart's margin around the plot, shared with the legend so that the
/// legend's first entry lines up with the top of the plot.
const MARGIN: i32 = 12;
/// Histograms record whole microseconds: the floor of a log axis, in ms.
const MIN_MS: f64 = 0.001;
/// Above this max/min ratio the y axis is logarithmic: a linear one would
/// squash the median against the floor.
const LOG_RATIO: f64 = 20.0;

/// Okabe–Ito colours (readable with colour-vision deficiencies), without
/// yellow, which vanishes on white.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

type DrawResult<T> = Result<T, DrawingAreaErrorKind<io::Error>>;
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// One group of one config: a panel.
struct Panel<'a> {
    title: String,
    series: Vec<Series<'a>>,
}

/// One backend's line in a panel.
struct Series<'a> {
    label: &'a str,
    /// The backend's position in the config: its colour and marker, the
    /// same in every panel.
    index: usize,
    /// min, p50, p90, p99, p99.9, max in ms; `None` when the group
    /// completed no jobs on this backend (there is nothing to draw).
    ms: Option<[f64; 6]>,
}

/// −log10(1 − p): how many nines p has.
fn nines(p: f64) -> f64 {
    -(1.0 - p).log10()
}

/// x positions of min, p50, p90, p99, p99.9 and max.
fn x_positions() -> [f64; 6] {
    let p999 = nines(0.999);
    [
        nines(0.0),
        nines(0.5),
        nines(0.9),
        nines(0.99),
        p999,
        p999 + 1.0,
    ]
}

const X_LABELS: [&str; 6] = ["min", "p50", "p90", "p99", "p99.9", "max"];

/// The label of the x key point nearest to `x`.
fn x_label(x: f64) -> String {
    let nearest = x_positions()
        .iter()
        .map(|p| (p - x).abs())
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(i, _)| i);
    X_LABELS[nearest].to_string()
}

fn quantiles_ms(q: &Quantiles) -> [f64; 6] {
    [q.min, q.p50, q.p90, q.p99, q.p999, q.max].map(|us| us as f64 / 1000.0)
}

/// One panel per (config, group), groups in order of first appearance.
fn panels(reports: &[Report]) -> Vec<Panel<'_>> {
    let mut out = Vec::new();
    for report in reports {
        let mut names: Vec<&str> = Vec::new();
        for g in report.runs.iter().flat_map(|r| &r.groups) {
            if !names.contains(&g.name.as_str()) {
                names.push(&g.name);
            }
        }
        for name in names {
            out.push(panel(report, name));
        }
    }
    out
}

fn panel<'a>(report: &'a Report, group: &str) -> Panel<'a> {
    let series = report
        .runs
        .iter()
        .enumerate()
        .map(|(index, run)| Series {
            label: &run.backend,
            index,
            ms: run
                .groups
                .iter()
                .find(|g| g.name == group && g.jobs > 0)
                .map(|g| quantiles_ms(&g.latency_us)),
        })
        .collect();
    Panel {
        title: format!("{group} — {}", report.config),
        series,
    }
}

/// The y axis of one panel. Series are plotted in axis space: ms on a
/// linear axis, log10(ms) on a log one; tick labels convert back to ms.
#[derive(Debug, Clone, Copy, PartialEq)]
enum YScale {
    /// 0 to `top` ms.
    Linear { top: f64 },
    /// log10 of the range's ends.
    Log { bottom: f64, top: f64 },
}

impl YScale {
    /// The axis for latencies between `lo` and `hi` ms.
    fn for_range(lo: f64, hi: f64) -> Self {
        let lo = lo.max(MIN_MS);
        if hi / lo > LOG_RATIO {
            // A little headroom so points do not sit on the frame.
            Self::Log {
                bottom: lo.log10() - 0.2,
                top: hi.log10() + 0.2,
            }
        } else {
            Self::Linear {
                top: if hi > 0.0 { hi * 1.08 } else { 1.0 },
            }
        }
    }

    fn to_axis(self, ms: f64) -> f64 {
        match self {
            Self::Linear { .. } => ms,
            Self::Log { .. } => ms.max(MIN_MS).log10(),
        }
    }

    fn range(self) -> Range<f64> {
        match self {
            Self::Linear { top } => 0.0..top,
            Self::Log { bottom, top } => bottom..top,
        }
    }

    fn label(self, v: f64) -> String {
        match self {
            Self::Linear { .. } => fmt_ms(v),
            Self::Log { .. } => fmt_ms(10f64.powf(v)),
        }
    }

    fn desc(self) -> &'static str {
        match self {
            Self::Linear { .. } => "latency (ms)",
            Self::Log { .. } => "latency (ms, log scale)",
        }
    }

    /// Labelled ticks and unlabelled grid lines, in axis space.
    fn ticks(self) -> (Vec<f64>, Vec<f64>) {
        match self {
            Self::Linear { top } => {
                let step = nice_step(top / 5.0);
                (multiples(step, top), multiples(step / 2.0, top))
            }
            Self::Log { bottom, top } => {
                // Over many decades 2 and 5 would crowd the labels; every
                // decade still gets at least one.
                let decades = top - bottom;
                let labelled: &[f64] = if decades <= 4.5 {
                    &[1.0, 2.0, 5.0]
                } else if decades <= 6.5 {
                    &[1.0, 3.0]
                } else {
                    &[1.0]
                };
                let grid = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
                (
                    log_ticks(bottom, top, labelled),
                    log_ticks(bottom, top, &grid),
                )
            }
        }
    }
}

/// A linear axis with the ticks we choose. (plotters' own key points would
/// fall between the percentiles on x, and its `WithKeyPoints` wrapper
/// cannot be given label formatters in 0.3.)
struct Ticked {
    inner: RangedCoordf64,
    labelled: Vec<f64>,
    grid: Vec<f64>,
}

impl Ticked {
    fn new(range: Range<f64>, labelled: Vec<f64>, grid: Vec<f64>) -> Self {
        Self {
            inner: range.into(),
            labelled,
            grid,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.grid.clone()
        } else {
            self.labelled.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// The 1–2–5 step nearest above `raw`.
pub(crate) fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}

/// 0, step, 2·step … up to `top`.
fn multiples(step: f64, top: f64) -> Vec<f64> {
    (0..)
        .map(|i| i as f64 * step)
        .take_while(|v| *v <= top)
        .collect()
}

/// log10(m · 10^e) for every mantissa m and decade e inside the range.
fn log_ticks(bottom: f64, top: f64, mantissas: &[f64]) -> Vec<f64> {
    let decades = bottom.floor() as i32..=top.ceil() as i32;
    decades
        .flat_map(|e| mantissas.iter().map(move |m| m.log10() + e as f64))
        .filter(|v| (bottom..=top).contains(v))
        .collect()
}

/// Milliseconds with three significant digits at most, no trailing zeros.
pub(crate) fn fmt_ms(ms: f64) -> String {
    let decimals = match ms.abs() {
        m if m >= 100.0 => 0,
        m if m >= 10.0 => 1,
        m if m >= 1.0 => 2,
        _ => 3,
    };
    let s = format!("{ms:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The whole SVG document: panels stacked top to bottom.
fn render(panels: &[Panel<'_>]) -> DrawResult<String> {
    let mut buf = String::new();
    {
        let rows = panels.len().max(1);
        let height = u32::try_from(rows).map_or(u32::MAX, |r| r.saturating_mul(PANEL_HEIGHT));
        let root = SVGBackend::with_string(&mut buf, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        if panels.is_empty() {
            note(&root, "no groups to chart")?;
        }
        for (area, panel) in root.split_evenly((rows, 1)).iter().zip(panels) {
            draw_panel(area, panel)?;
        }
        root.present()?;
    }
    Ok(buf)
}

fn draw_panel(area: &Area<'_>, panel: &Panel<'_>) -> DrawResult<()> {
    let body = area.titled(&panel.title, (FONT, TITLE_SIZE))?;
    let (width, _) = body.dim_in_pixel();
    // The legend gets its own column so it never covers a line.
    let (plot, legend) = body.split_horizontally(width.saturating_sub(legend_width(panel)));
    draw_legend(&legend, &panel.series)?;
    let drawn: Vec<(usize, [f64; 6])> = panel
        .series
        .iter()
        .filter_map(|s| s.ms.map(|ms| (s.index, ms)))
        .collect();
    if drawn.is_empty() {
        return note(&plot, "no jobs completed in this group");
    }
    let lo = drawn
        .iter()
        .map(|(_, ms)| ms[0])
        .fold(f64::INFINITY, f64::min);
    let hi = drawn.iter().map(|(_, ms)| ms[5]).fold(0.0, f64::max);
    draw_chart(&plot, YScale::for_range(lo, hi), &drawn)
}

/// Axes, grid and one line with markers per backend.
fn draw_chart(plot: &Area<'_>, y: YScale, drawn: &[(usize, [f64; 6])]) -> DrawResult<()> {
    let xs = x_positions();
    let x_axis = Ticked::new(xs[0] - 0.2..xs[5] + 0.2, xs.to_vec(), vec![]);
    let (labelled, grid) = y.ticks();
    let y_axis = Ticked::new(y.range(), labelled, grid);
    let mut chart = ChartBuilder::on(plot)
        .margin(MARGIN)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x_axis, y_axis)?;
    chart
        .configure_mesh()
        .x_desc("percentile (\"number of nines\": p90 → p99 → p99.9, each 10× rarer)")
        .y_desc(y.desc())
        .x_label_formatter(&|x| x_label(*x))
        .y_label_formatter(&|v| y.label(*v))
        .label_style((FONT, TEXT_SIZE))
        .axis_desc_style((FONT, TEXT_SIZE))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(BLACK.mix(0.05))
        .draw()?;
    for (index, ms) in drawn {
        let points: Vec<(f64, f64)> = xs
            .iter()
            .zip(ms)
            .map(|(x, m)| (*x, y.to_axis(*m)))
            .collect();
        let color = color(*index);
        chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?;
        chart.draw_series(
            points.into_iter().map(|p| {
                EmptyElement::at(p) + Polygon::new(marker_outline(*index), color.filled())
            }),
        )?;
    }
    Ok(())
}

/// The colour of the backend at position `index` in its config: the same in
/// every chart gilsim draws (latency, breakdown, timeline, sweep).
pub(crate) fn color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// The outline of a backend's marker, in pixels around its point. The shape
/// also tells backends apart, for lines drawn on top of each other and for
/// readers who cannot tell the colours apart. All shapes are polygons so
/// that every marker is one element type, in the chart and in the legend.
pub(crate) fn marker_outline(index: usize) -> Vec<(i32, i32)> {
    match (index / PALETTE.len() + index) % 4 {
        0 => (0..12)
            .map(|k| {
                let a = f64::from(k) * std::f64::consts::PI / 6.0;
                (
                    (4.5 * a.cos()).round() as i32,
                    (4.5 * a.sin()).round() as i32,
                )
            })
            .collect(),
        1 => vec![(0, -5), (5, 4), (-5, 4)],
        2 => vec![(-4, -4), (4, -4), (4, 4), (-4, 4)],
        _ => vec![(0, -5), (5, 0), (0, 5), (-5, 0)],
    }
}

/// Room for the longest label beside its line sample: plotters draws size
/// 14 text at about 11 px, whose characters average under 7 px wide in
/// common sans-serif fonts.
fn legend_width(panel: &Panel<'_>) -> u32 {
    let chars = panel
        .series
        .iter()
        .map(|s| legend_text(s).chars().count())
        .max()
        .unwrap_or(0);
    let chars = u32::try_from(chars).unwrap_or(u32::MAX);
    chars.saturating_mul(7).saturating_add(56).clamp(140, 360)
}

fn legend_text(s: &Series<'_>) -> String {
    match s.ms {
        Some(_) => s.label.to_string(),
        None => format!("{} (no jobs)", s.label),
    }
}

fn draw_legend(area: &Area<'_>, series: &[Series<'_>]) -> DrawResult<()> {
    let style = TextStyle::from((FONT, TEXT_SIZE)).pos(Pos::new(HPos::Left, VPos::Center));
    for (row, s) in (0i32..).zip(series) {
        let y = MARGIN + 10 + row * 24;
        let color = color(s.index);
        area.draw(&PathElement::new(
            vec![(4, y), (36, y)],
            color.stroke_width(2),
        ))?;
        let marker = Polygon::new(marker_outline(s.index), color.filled());
        area.draw(&(EmptyElement::at((20, y)) + marker))?;
        area.draw(&Text::new(legend_text(s), (44, y), style.clone()))?;
    }
    Ok(())
}

/// A centred line of text where a chart would be.
fn note(area: &Area<'_>, text: &str) -> DrawResult<()> {
    let (w, h) = area.dim_in_pixel();
    let style = TextStyle::from((FONT, TEXT_SIZE)).pos(Pos::new(HPos::Center, VPos::Center));
    let at = (
        i32::try_from(w / 2).unwrap_or(0),
        i32::try_from(h / 2).unwrap_or(0),
    );
    area.draw(&Text::new(text, at, style))
}

/// plotters' errors as io errors, like every other exporter's. (Drawing
/// into a `String` has no io to fail; what remains are layout errors.)
fn to_io(e: DrawingAreaErrorKind<io::Error>) -> io::Error {
    io::Error::other(format!("drawing the SVG chart: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fixtures, GroupReport, RunReport, Shares};

    fn group(name: &str, jobs: u64, base_us: u64) -> GroupReport {
        fixtures::group(name, jobs, fixtures::quantiles(base_us), Shares::default())
    }

    fn run(backend: &str, groups: Vec<GroupReport>) -> RunReport {
        fixtures::run(backend, 10.0, groups)
    }

    fn report() -> Report {
        fixtures::report(
            "demo",
            vec![
                run(
                    "threads+gil",
                    vec![group("crunch", 4, 150_000), group("requests", 10, 2_000)],
                ),
                run(
                    "rayon",
                    vec![group("crunch", 4, 150_000), group("requests", 0, 0)],
                ),
            ],
            vec![],
        )
    }

    fn svg_of(reports: &[Report]) -> String {
        let mut out = Vec::new();
        Svg.export(reports, &mut out).expect("export");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn renders_an_svg_with_every_backend_and_group() {
        let svg = svg_of(&[report()]);
        assert!(svg.trim_start().starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for needle in ["threads+gil", "rayon", "crunch — demo", "requests — demo"] {
            assert!(svg.contains(needle), "missing {needle}");
        }
        assert!(svg.contains("<path") || svg.contains("<polyline"));
        assert!(svg.contains("rayon (no jobs)"), "empty series is named");
        assert!(!svg.contains("font-face") && !svg.contains("url("));
    }

    #[test]
    fn no_reports_still_give_a_valid_svg() {
        let svg = svg_of(&[]);
        assert!(svg.trim_start().starts_with("<svg"));
        assert!(svg.contains("no groups to chart"));
    }

    #[test]
    fn max_sits_one_step_past_p999() {
        let xs = x_positions();
        assert_eq!(xs[0], 0.0);
        assert!((xs[2] - 1.0).abs() < 1e-9 && (xs[3] - 2.0).abs() < 1e-9);
        assert!((xs[5] - xs[4] - 1.0).abs() < 1e-9);
        assert_eq!(x_label(xs[5]), "max");
        assert_eq!(x_label(nines(0.5)), "p50");
    }

    #[test]
    fn log_axis_only_for_wide_ranges() {
        assert!(matches!(
            YScale::for_range(1.0, 15.0),
            YScale::Linear { .. }
        ));
        assert!(matches!(YScale::for_range(1.0, 25.0), YScale::Log { .. }));
        // A zero minimum is floored at 1 µs instead of dividing by zero.
        assert!(matches!(YScale::for_range(0.0, 0.5), YScale::Log { .. }));
        assert!(matches!(YScale::for_range(0.0, 0.0), YScale::Linear { .. }));
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(fmt_ms(0.0), "0");
        assert_eq!(fmt_ms(0.002), "0.002");
        assert_eq!(fmt_ms(2.5), "2.5");
        assert_eq!(fmt_ms(150.0), "150");
        let (labelled, _) = YScale::Log {
            bottom: -0.2,
            top: 2.5,
        }
        .ticks();
        let labels: Vec<String> = labelled.iter().map(|v| fmt_ms(10f64.powf(*v))).collect();
        assert_eq!(labels, ["1", "2", "5", "10", "20", "50", "100", "200"]);
        let (wide, _) = YScale::Log {
            bottom: -3.2,
            top: 2.7,
        }
        .ticks();
        let labels: Vec<String> = wide.iter().map(|v| fmt_ms(10f64.powf(*v))).collect();
        assert_eq!(
            labels,
            ["0.001", "0.003", "0.01", "0.03", "0.1", "0.3", "1", "3", "10", "30", "100", "300"]
        );
    }
}
