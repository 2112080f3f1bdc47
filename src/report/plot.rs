//! What gilsim's plotted charts share: each backend's colour and marker,
//! axes (linear or logarithmic, with ticks we choose), the legend in a
//! column of its own, and a line chart of figures against a parameter
//! ([`render_xy`]) that `sweep` and `plan` draw their charts with.
//!
//! The run report's latency chart (`svg.rs`) and the capacity charts
//! (`capacity::chart`, `capacity::plan_chart`) are built on these pieces,
//! so a backend has the same colour and marker shape in every chart, and
//! axes and legends look the same everywhere.
//!
//! Text is written as SVG `<text>` elements in the generic `sans-serif`
//! family: plotters is built without its font features, so nothing loads
//! system fonts; label widths are plotters' own estimates.

use std::io;
use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width of every plotted chart, in SVG units.
pub(crate) const WIDTH: u32 = 960;
pub(crate) const FONT: &str = "sans-serif";
pub(crate) const TITLE_SIZE: u32 = 20;
pub(crate) const TEXT_SIZE: u32 = 14;
/// Legend lines under a label (fit parameters, the max found).
const SUB_SIZE: u32 = 13;
/// The chart's margin around the plot, shared with the legend so that the
/// legend's first entry lines up with the top of the plot.
pub(crate) const MARGIN: i32 = 12;

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

/// Reference lines and neutral legend samples (the SLO, "met"/"missed").
pub(crate) const INK: RGBColor = RGBColor(40, 40, 40);

pub(crate) type DrawResult<T> = Result<T, DrawingAreaErrorKind<io::Error>>;
pub(crate) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// The colour of the backend at position `index` in its config: the same in
/// every chart gilsim draws (latency, breakdown, timeline, sweep, plan).
pub(crate) fn color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// The outline of a backend's marker, in pixels around its point. The shape
/// also tells backends apart, for lines drawn on top of each other and for
/// readers who cannot tell the colours apart (or print in grey). All shapes
/// are polygons so that every marker is one element type, in the chart and
/// in the legend.
pub(crate) fn marker_outline(index: usize) -> Vec<(i32, i32)> {
    scaled(index, 1.0)
}

/// The marker's outline `k` times its size (a hollow marker, a ring around
/// a fit's peak), rounded to pixels only after scaling so that a large
/// circle stays round.
fn scaled(index: usize, k: f64) -> Vec<(i32, i32)> {
    let px = |x: f64, y: f64| ((x * k).round() as i32, (y * k).round() as i32);
    match (index / PALETTE.len() + index) % 4 {
        0 => {
            // More sides for a larger circle.
            let sides = if k > 1.5 { 24 } else { 12 };
            (0..sides)
                .map(|i| {
                    let a = f64::from(i) * 2.0 * std::f64::consts::PI / f64::from(sides);
                    px(4.5 * a.cos(), 4.5 * a.sin())
                })
                .collect()
        }
        1 => vec![px(0.0, -5.0), px(5.0, 4.0), px(-5.0, 4.0)],
        2 => vec![px(-4.0, -4.0), px(4.0, -4.0), px(4.0, 4.0), px(-4.0, 4.0)],
        _ => vec![px(0.0, -5.0), px(5.0, 0.0), px(0.0, 5.0), px(-5.0, 0.0)],
    }
}

/// A closed path through `outline` (for hollow markers).
fn closed(mut outline: Vec<(i32, i32)>) -> Vec<(i32, i32)> {
    if let Some(first) = outline.first().copied() {
        outline.push(first);
    }
    outline
}

/// Dash patterns (dash, gap in px) for lines of one backend that differ in
/// something else (another swept key): pattern 0 is solid.
const DASHES: [(i32, i32); 3] = [(8, 5), (2, 4), (14, 5)];

fn dash(pattern: usize) -> Option<(i32, i32)> {
    pattern.checked_sub(1).map(|k| DASHES[k % DASHES.len()])
}

/// One axis: its range in axis space (log10 of the value on a log axis).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scale {
    /// Values from `bottom` to `top`.
    Linear { bottom: f64, top: f64 },
    /// log10 of the range's ends; values below `floor` are drawn at it.
    Log { bottom: f64, top: f64, floor: f64 },
}

impl Scale {
    /// An axis from 0 up to `hi` (8% headroom), or a log axis over
    /// `lo..hi` when `hi / lo` passes `log_ratio` (a linear one would
    /// squash the small values against the floor). `floor` is the smallest
    /// value a log axis shows (histograms record whole µs).
    pub(crate) fn from_zero(lo: f64, hi: f64, floor: f64, log_ratio: f64) -> Self {
        let lo = lo.max(floor);
        if hi / lo > log_ratio {
            // A little headroom so points do not sit on the frame.
            Self::Log {
                bottom: lo.log10() - 0.2,
                top: hi.log10() + 0.2,
                floor,
            }
        } else {
            Self::Linear {
                bottom: 0.0,
                top: if hi > 0.0 { hi * 1.08 } else { 1.0 },
            }
        }
    }

    /// An axis over `lo..hi` with 4% padding each side (a parameter's
    /// values, which need not start at 0), logarithmic when all values are
    /// positive and `hi / lo` passes `log_ratio`.
    pub(crate) fn spanning(lo: f64, hi: f64, log_ratio: f64) -> Self {
        if lo > 0.0 && hi / lo > log_ratio {
            let pad = (hi.log10() - lo.log10()) * 0.04;
            return Self::Log {
                bottom: lo.log10() - pad,
                top: hi.log10() + pad,
                floor: lo,
            };
        }
        let pad = ((hi - lo) * 0.04).max(if hi != 0.0 { hi.abs() * 0.04 } else { 1.0 });
        let bottom = if lo >= 0.0 {
            (lo - pad).max(0.0)
        } else {
            lo - pad
        };
        Self::Linear {
            bottom,
            top: hi + pad,
        }
    }

    /// `v` in axis space.
    pub(crate) fn to_axis(self, v: f64) -> f64 {
        match self {
            Self::Linear { .. } => v,
            Self::Log { floor, .. } => v.max(floor).log10(),
        }
    }

    pub(crate) fn range(self) -> Range<f64> {
        match self {
            Self::Linear { bottom, top } => bottom..top,
            Self::Log { bottom, top, .. } => bottom..top,
        }
    }

    /// A tick label: the value at axis position `v`.
    pub(crate) fn label(self, v: f64) -> String {
        match self {
            Self::Linear { .. } => fmt_num(v),
            Self::Log { .. } => fmt_num(10f64.powf(v)),
        }
    }

    /// The axis title: `what (unit)`, saying when the scale is logarithmic.
    pub(crate) fn desc(self, what: &str, unit: Option<&str>) -> String {
        let log = matches!(self, Self::Log { .. });
        match (unit, log) {
            (Some(u), false) => format!("{what} ({u})"),
            (Some(u), true) => format!("{what} ({u}, log scale)"),
            (None, false) => what.to_string(),
            (None, true) => format!("{what} (log scale)"),
        }
    }

    /// Labelled ticks and unlabelled grid lines, in axis space.
    pub(crate) fn ticks(self) -> (Vec<f64>, Vec<f64>) {
        match self {
            Self::Linear { bottom, top } => {
                let step = nice_step((top - bottom).max(1e-12) / 5.0);
                (
                    multiples(step, bottom, top),
                    multiples(step / 2.0, bottom, top),
                )
            }
            Self::Log { bottom, top, .. } => {
                // Over many decades 2 and 5 would crowd the labels; every
                // decade still gets at least one.
                let decades = top - bottom;
                let labelled: &[f64] = if decades <= 1.2 {
                    &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0]
                } else if decades <= 4.5 {
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

    /// This scale as a plotters axis with our ticks.
    pub(crate) fn ticked(self) -> Ticked {
        let (labelled, grid) = self.ticks();
        Ticked::new(self.range(), labelled, grid)
    }
}

/// A linear axis with the ticks we choose. (plotters' own key points would
/// fall between the percentiles on x, and its `WithKeyPoints` wrapper
/// cannot be given label formatters in 0.3.)
pub(crate) struct Ticked {
    inner: RangedCoordf64,
    labelled: Vec<f64>,
    grid: Vec<f64>,
}

impl Ticked {
    pub(crate) fn new(range: Range<f64>, labelled: Vec<f64>, grid: Vec<f64>) -> Self {
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

/// The multiples of `step` within `bottom..=top`.
fn multiples(step: f64, bottom: f64, top: f64) -> Vec<f64> {
    let first = (bottom / step).ceil() as i64;
    (first..)
        .map(|i| i as f64 * step)
        .take_while(|v| *v <= top + step * 1e-9)
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

/// A number with three significant digits at most, no trailing zeros
/// (axis labels: ms, jobs/s, worker counts).
pub(crate) fn fmt_num(v: f64) -> String {
    let decimals = match v.abs() {
        m if m >= 100.0 => 0,
        m if m >= 10.0 => 1,
        m if m >= 1.0 => 2,
        _ => 3,
    };
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// How a legend entry's sample line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stroke {
    /// No line (a marker alone).
    None,
    /// A line in dash pattern `n` (0: solid).
    Dash(usize),
}

/// One legend entry: a sample (line and/or marker) and its label, with
/// smaller lines under it.
#[derive(Debug, Clone)]
pub(crate) struct LegendEntry {
    pub label: String,
    /// Smaller lines under the label (a fit's parameters, a found max).
    pub sub: Vec<String>,
    pub color: RGBColor,
    /// The marker shape ([`marker_outline`] index), if any.
    pub shape: Option<usize>,
    /// The marker drawn as an outline.
    pub hollow: bool,
    pub stroke: Stroke,
}

impl LegendEntry {
    /// A backend's entry: its colour, its marker, a solid line.
    pub(crate) fn backend(label: String, index: usize) -> Self {
        Self {
            label,
            sub: Vec::new(),
            color: color(index),
            shape: Some(index),
            hollow: false,
            stroke: Stroke::Dash(0),
        }
    }
}

const ROW: i32 = 24;
const SUB_ROW: i32 = 16;

/// Room for the longest label beside its sample: plotters draws size 14
/// text at about 11 px, whose characters average under 7 px wide in common
/// sans-serif fonts.
pub(crate) fn legend_width(entries: &[LegendEntry]) -> u32 {
    let chars = entries
        .iter()
        .flat_map(|e| {
            std::iter::once(e.label.chars().count())
                .chain(e.sub.iter().map(|s| s.chars().count() * 6 / 7))
        })
        .max()
        .unwrap_or(0);
    let chars = u32::try_from(chars).unwrap_or(u32::MAX);
    chars.saturating_mul(7).saturating_add(56).clamp(140, 360)
}

/// The legend, top to bottom, in `area` (a column beside the plot, so it
/// never covers a line).
pub(crate) fn draw_legend(area: &Area<'_>, entries: &[LegendEntry]) -> DrawResult<()> {
    let style = TextStyle::from((FONT, TEXT_SIZE)).pos(Pos::new(HPos::Left, VPos::Center));
    let sub_style = TextStyle::from((FONT, SUB_SIZE))
        .color(&RGBColor(70, 70, 70))
        .pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = MARGIN + 10;
    for e in entries {
        match e.stroke {
            Stroke::None => {}
            Stroke::Dash(pattern) => match dash(pattern) {
                None => area.draw(&PathElement::new(
                    vec![(4, y), (36, y)],
                    e.color.stroke_width(2),
                ))?,
                Some((size, gap)) => area.draw(&DashedPathElement::new(
                    vec![(4, y), (36, y)],
                    size,
                    gap,
                    e.color.stroke_width(2),
                ))?,
            },
        }
        if let Some(shape) = e.shape {
            draw_marker(area, (20, y), shape, e.color, e.hollow)?;
        }
        area.draw(&Text::new(e.label.clone(), (44, y), style.clone()))?;
        y += ROW;
        for s in &e.sub {
            area.draw(&Text::new(s.clone(), (48, y - 6), sub_style.clone()))?;
            y += SUB_ROW;
        }
    }
    Ok(())
}

/// A marker at pixel `at` of `area`.
fn draw_marker(
    area: &Area<'_>,
    at: (i32, i32),
    shape: usize,
    color: RGBColor,
    hollow: bool,
) -> DrawResult<()> {
    if hollow {
        let outline = scaled(shape, 1.2);
        area.draw(&(EmptyElement::at(at) + Polygon::new(outline.clone(), WHITE.filled())))?;
        area.draw(
            &(EmptyElement::at(at) + PathElement::new(closed(outline), color.stroke_width(2))),
        )
    } else {
        area.draw(&(EmptyElement::at(at) + Polygon::new(marker_outline(shape), color.filled())))
    }
}

/// A centred line of text where a chart would be.
pub(crate) fn note(area: &Area<'_>, text: &str) -> DrawResult<()> {
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
pub(crate) fn to_io(e: DrawingAreaErrorKind<io::Error>) -> io::Error {
    io::Error::other(format!("drawing an SVG chart: {e}"))
}

/// An axis of an [`XyPanel`]: what it shows, its unit, and when it turns
/// logarithmic.
#[derive(Debug, Clone)]
pub(crate) struct AxisSpec {
    pub what: String,
    pub unit: Option<String>,
    /// Logarithmic past this max/min ratio; `None`: always linear.
    pub log_ratio: Option<f64>,
    /// A linear axis starts at 0 (figures), or spans the values
    /// (parameters).
    pub from_zero: bool,
    /// Label exactly these values (a sweep's values of its key) instead of
    /// a regular step; `None` or an empty list: a regular step.
    pub ticks_at: Option<Vec<f64>>,
}

/// A point of an [`XyLine`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct XyPoint {
    pub x: f64,
    pub y: f64,
    /// Drawn as an outline (a plan probe that missed).
    pub hollow: bool,
}

/// One line: a backend's points (in its colour and marker), optionally
/// drawn through a fitted curve instead of point to point.
#[derive(Debug, Clone)]
pub(crate) struct XyLine {
    pub label: String,
    /// Legend lines under the label.
    pub sub: Vec<String>,
    /// The backend's position in its config: colour and marker.
    pub backend: usize,
    /// Dash pattern (0: solid), for lines of one backend that differ in
    /// another key.
    pub dash: usize,
    pub points: Vec<XyPoint>,
    /// A fitted curve: drawn instead of joining the points.
    pub curve: Option<Vec<(f64, f64)>>,
    /// A point to ring (a fit's peak).
    pub ring: Option<(f64, f64)>,
}

/// A labelled horizontal line (an SLO).
#[derive(Debug, Clone)]
pub(crate) struct HLine {
    pub y: f64,
    pub label: String,
}

/// A vertical line in a backend's colour and dash (its max found), with
/// the backend's marker at its top.
#[derive(Debug, Clone)]
pub(crate) struct VLine {
    pub x: f64,
    pub backend: usize,
    pub dash: usize,
}

/// One panel of an xy chart.
#[derive(Debug, Clone)]
pub(crate) struct XyPanel {
    pub title: String,
    pub x: AxisSpec,
    pub y: AxisSpec,
    pub lines: Vec<XyLine>,
    pub hlines: Vec<HLine>,
    pub vlines: Vec<VLine>,
    /// Legend entries after the lines' (what hollow markers mean).
    pub legend_extra: Vec<LegendEntry>,
}

/// `panels` stacked top to bottom, `panel_height` each, as one SVG
/// document.
pub(crate) fn render_xy(panels: &[XyPanel], panel_height: u32) -> io::Result<String> {
    let mut buf = String::new();
    {
        let rows = panels.len().max(1);
        let height = u32::try_from(rows).map_or(u32::MAX, |r| r.saturating_mul(panel_height));
        let root = SVGBackend::with_string(&mut buf, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(to_io)?;
        if panels.is_empty() {
            note(&root, "nothing to chart").map_err(to_io)?;
        }
        for (area, panel) in root.split_evenly((rows, 1)).iter().zip(panels) {
            draw_xy(area, panel).map_err(to_io)?;
        }
        root.present().map_err(to_io)?;
    }
    Ok(buf)
}

/// The legend of a panel: one entry per line, then the reference lines,
/// then the extras.
fn xy_legend(panel: &XyPanel) -> Vec<LegendEntry> {
    let mut out: Vec<LegendEntry> = panel
        .lines
        .iter()
        .map(|l| LegendEntry {
            sub: l.sub.clone(),
            stroke: Stroke::Dash(l.dash),
            ..LegendEntry::backend(l.label.clone(), l.backend)
        })
        .collect();
    out.extend(panel.hlines.iter().map(|h| LegendEntry {
        label: h.label.clone(),
        sub: Vec::new(),
        color: INK,
        shape: None,
        hollow: false,
        stroke: Stroke::Dash(1),
    }));
    out.extend(panel.legend_extra.iter().cloned());
    out
}

fn axis_scale(spec: &AxisSpec, values: impl Iterator<Item = f64> + Clone) -> Scale {
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(f64::NEG_INFINITY, f64::max);
    let ratio = spec.log_ratio.unwrap_or(f64::INFINITY);
    if spec.from_zero {
        // Only positive values can go on a log axis.
        let floor = if lo > 0.0 { lo } else { 1e-3 };
        Scale::from_zero(lo.max(0.0), hi, floor, ratio)
    } else {
        Scale::spanning(lo, hi, ratio)
    }
}

/// The chart an [`XyPanel`] is drawn on: both axes ticked.
type XyChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Ticked, Ticked>>;

/// Draws `panel`: its title, its legend, the axes, the guide lines, each
/// backend's line and the guides' labels (last, so no line crosses them).
fn draw_xy(area: &Area<'_>, panel: &XyPanel) -> DrawResult<()> {
    let body = draw_title(area, &panel.title)?;
    let (width, _) = body.dim_in_pixel();
    let legend = xy_legend(panel);
    let (plot, column) = body.split_horizontally(width.saturating_sub(legend_width(&legend)));
    draw_legend(&column, &legend)?;
    let Some(xy) = xy_scales(panel) else {
        return note(&plot, "nothing to chart");
    };
    let mut chart = ChartBuilder::on(&plot)
        .margin(MARGIN)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x_ticks(panel, &xy.x), xy.y.ticked())?;
    draw_mesh(&mut chart, panel, &xy)?;
    draw_guides(&mut chart, panel, &xy)?;
    for l in &panel.lines {
        draw_line(&mut chart, l, &xy)?;
    }
    draw_hline_labels(&mut chart, panel, &xy)
}

/// Draws `title` at the top left of `area` and returns the area below it.
/// Left, as the page's other charts' titles: on a phone the chart scrolls
/// sideways and a centred title would start off-screen.
fn draw_title<'a>(area: &Area<'a>, title: &str) -> DrawResult<Area<'a>> {
    let (head, body) = area.split_vertically(TITLE_SIZE + 16);
    head.draw(&Text::new(
        title.to_string(),
        (MARGIN + 4, 8),
        TextStyle::from((FONT, TITLE_SIZE)).pos(Pos::new(HPos::Left, VPos::Top)),
    ))?;
    Ok(body)
}

/// A panel's two scales.
struct XyScales {
    x: Scale,
    y: Scale,
}

/// The x and y scales that hold every point, curve, ring and guide of
/// `panel`; `None` when it has no point at all.
fn xy_scales(panel: &XyPanel) -> Option<XyScales> {
    let points = || {
        panel.lines.iter().flat_map(|l| {
            l.points
                .iter()
                .map(|p| (p.x, p.y))
                .chain(l.curve.iter().flatten().copied())
                .chain(l.ring)
        })
    };
    points().next()?;
    let xs = points()
        .map(|p| p.0)
        .chain(panel.vlines.iter().map(|v| v.x))
        .filter(|v| v.is_finite());
    let ys = points()
        .map(|p| p.1)
        .chain(panel.hlines.iter().map(|h| h.y))
        .filter(|v| v.is_finite());
    Some(XyScales {
        x: axis_scale(&panel.x, xs),
        y: axis_scale(&panel.y, ys),
    })
}

/// The x axis's ticks: the panel's own where it names them, else the
/// scale's.
fn x_ticks(panel: &XyPanel, x: &Scale) -> Ticked {
    match panel.x.ticks_at.as_deref() {
        Some(at) if !at.is_empty() => {
            let at: Vec<f64> = at.iter().map(|v| x.to_axis(*v)).collect();
            Ticked::new(x.range(), at.clone(), at)
        }
        _ => x.ticked(),
    }
}

/// The grid and the axes' labels.
fn draw_mesh(chart: &mut XyChart<'_, '_>, panel: &XyPanel, xy: &XyScales) -> DrawResult<()> {
    let (x, y) = (&xy.x, &xy.y);
    chart
        .configure_mesh()
        .x_desc(x.desc(&panel.x.what, panel.x.unit.as_deref()))
        .y_desc(y.desc(&panel.y.what, panel.y.unit.as_deref()))
        .x_label_formatter(&|v| x.label(*v))
        .y_label_formatter(&|v| y.label(*v))
        .label_style((FONT, TEXT_SIZE))
        .axis_desc_style((FONT, TEXT_SIZE))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(BLACK.mix(0.05))
        .draw()
}

/// The horizontal guides (dashed, in ink) and the vertical ones (dashed in
/// their backend's colour, with its marker on top, which says whose line
/// it is without colour).
fn draw_guides(chart: &mut XyChart<'_, '_>, panel: &XyPanel, xy: &XyScales) -> DrawResult<()> {
    let (x, y) = (&xy.x, &xy.y);
    let (x_range, y_range) = (x.range(), y.range());
    for h in &panel.hlines {
        let yy = y.to_axis(h.y);
        let ends = vec![(x_range.start, yy), (x_range.end, yy)];
        chart.draw_series(DashedLineSeries::new(ends, 8, 5, INK.stroke_width(2)))?;
    }
    for v in &panel.vlines {
        let xx = x.to_axis(v.x);
        let ends = vec![(xx, y_range.start), (xx, y_range.end)];
        let (size, gap) = dash(v.dash.max(1)).unwrap_or((8, 5));
        chart.draw_series(DashedLineSeries::new(
            ends,
            size,
            gap,
            color(v.backend).mix(0.8).stroke_width(2),
        ))?;
        chart.draw_series(std::iter::once(
            EmptyElement::at((xx, y_range.end))
                + Polygon::new(scaled(v.backend, 1.2), color(v.backend).filled()),
        ))?;
    }
    Ok(())
}

/// One backend's line: its path (a fitted curve where it has one, else its
/// points in x order), its ring, and its points' markers (hollow ones
/// bigger, on white).
fn draw_line(chart: &mut XyChart<'_, '_>, l: &XyLine, xy: &XyScales) -> DrawResult<()> {
    let (x, y) = (&xy.x, &xy.y);
    let at = |(px, py): (f64, f64)| (x.to_axis(px), y.to_axis(py));
    let c = color(l.backend);
    let mut pts: Vec<XyPoint> = l.points.clone();
    pts.sort_by(|a, b| a.x.total_cmp(&b.x));
    let path: Vec<(f64, f64)> = match &l.curve {
        Some(curve) => curve.iter().map(|p| at(*p)).collect(),
        None => pts.iter().map(|p| at((p.x, p.y))).collect(),
    };
    match dash(l.dash) {
        None => {
            chart.draw_series(LineSeries::new(path, c.stroke_width(2)))?;
        }
        Some((size, gap)) => {
            chart.draw_series(DashedLineSeries::new(path, size, gap, c.stroke_width(2)))?;
        }
    }
    if let Some(r) = l.ring {
        let ring = closed(scaled(l.backend, 2.2));
        chart.draw_series(std::iter::once(
            EmptyElement::at(at(r)) + PathElement::new(ring, c.stroke_width(2)),
        ))?;
    }
    let outline = marker_outline(l.backend);
    let big = scaled(l.backend, 1.2);
    chart.draw_series(
        pts.iter()
            .filter(|p| !p.hollow)
            .map(|p| EmptyElement::at(at((p.x, p.y))) + Polygon::new(outline.clone(), c.filled())),
    )?;
    chart.draw_series(pts.iter().filter(|p| p.hollow).map(|p| {
        EmptyElement::at(at((p.x, p.y)))
            + Polygon::new(big.clone(), WHITE.filled())
            + PathElement::new(closed(big.clone()), c.stroke_width(2))
    }))?;
    Ok(())
}

/// The horizontal guides' labels, at the right end, on a light ground so
/// that lines crossing them do not strike them out (they still show
/// faintly through).
fn draw_hline_labels(
    chart: &mut XyChart<'_, '_>,
    panel: &XyPanel,
    xy: &XyScales,
) -> DrawResult<()> {
    let (x, y) = (&xy.x, &xy.y);
    let x_end = x.range().end;
    for h in &panel.hlines {
        let yy = y.to_axis(h.y);
        let style = TextStyle::from((FONT, TEXT_SIZE))
            .color(&INK)
            .pos(Pos::new(HPos::Right, VPos::Bottom));
        let width = i32::try_from(h.label.chars().count()).unwrap_or(0) * 7 + 8;
        chart.draw_series(std::iter::once(
            EmptyElement::at((x_end, yy))
                + Rectangle::new([(-width - 4, -20), (-2, -3)], WHITE.mix(0.75).filled())
                + Text::new(h.label.clone(), (-6, -5), style),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_only_for_wide_ranges() {
        let y = |lo, hi| Scale::from_zero(lo, hi, 0.001, 20.0);
        assert!(matches!(y(1.0, 15.0), Scale::Linear { .. }));
        assert!(matches!(y(1.0, 25.0), Scale::Log { .. }));
        // A zero minimum is floored instead of dividing by zero.
        assert!(matches!(y(0.0, 0.5), Scale::Log { .. }));
        assert!(matches!(y(0.0, 0.0), Scale::Linear { .. }));
        assert!(matches!(
            Scale::spanning(250.0, 16000.0, 30.0),
            Scale::Log { .. }
        ));
        assert!(matches!(
            Scale::spanning(0.0, 16000.0, 30.0),
            Scale::Linear { .. }
        ));
        let Scale::Linear { bottom, top } = Scale::spanning(2000.0, 4000.0, 30.0) else {
            panic!("linear")
        };
        assert!(
            bottom > 1800.0 && bottom < 2000.0 && top > 4000.0,
            "{bottom}..{top}"
        );
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(-0.0001), "0");
        assert_eq!(fmt_num(0.002), "0.002");
        assert_eq!(fmt_num(2.5), "2.5");
        assert_eq!(fmt_num(150.0), "150");
        let log = |bottom, top| Scale::Log {
            bottom,
            top,
            floor: 0.001,
        };
        let labels =
            |s: Scale| -> Vec<String> { s.ticks().0.iter().map(|v| s.label(*v)).collect() };
        assert_eq!(
            labels(log(-0.2, 2.5)),
            ["1", "2", "5", "10", "20", "50", "100", "200"]
        );
        assert_eq!(
            labels(log(-3.2, 2.7)),
            ["0.001", "0.003", "0.01", "0.03", "0.1", "0.3", "1", "3", "10", "30", "100", "300"]
        );
        assert_eq!(
            labels(Scale::Linear {
                bottom: 1900.0,
                top: 4100.0
            }),
            ["2000", "2500", "3000", "3500", "4000"]
        );
    }

    #[test]
    fn axis_titles_carry_the_unit_and_the_scale() {
        let lin = Scale::Linear {
            bottom: 0.0,
            top: 1.0,
        };
        let log = Scale::Log {
            bottom: 0.0,
            top: 1.0,
            floor: 1.0,
        };
        assert_eq!(lin.desc("latency", Some("ms")), "latency (ms)");
        assert_eq!(log.desc("latency", Some("ms")), "latency (ms, log scale)");
        assert_eq!(log.desc("seed", None), "seed (log scale)");
    }

    fn line(backend: usize, pts: &[(f64, f64, bool)]) -> XyLine {
        XyLine {
            label: format!("backend{backend}"),
            sub: vec![format!("max {backend}")],
            backend,
            dash: 0,
            points: pts
                .iter()
                .map(|&(x, y, hollow)| XyPoint { x, y, hollow })
                .collect(),
            curve: None,
            ring: None,
        }
    }

    #[test]
    fn an_xy_panel_draws_lines_markers_and_reference_lines() {
        let panel = XyPanel {
            title: "demo".into(),
            x: AxisSpec {
                what: "rate".into(),
                unit: Some("jobs/s".into()),
                log_ratio: Some(30.0),
                from_zero: false,
                ticks_at: None,
            },
            y: AxisSpec {
                what: "p99 latency".into(),
                unit: Some("ms".into()),
                log_ratio: Some(30.0),
                from_zero: true,
                ticks_at: None,
            },
            lines: vec![
                line(0, &[(100.0, 2.0, false), (200.0, 30.0, true)]),
                line(1, &[(100.0, 3.0, false)]),
            ],
            hlines: vec![HLine {
                y: 20.0,
                label: "SLO <= 20ms".into(),
            }],
            vlines: vec![VLine {
                x: 100.0,
                backend: 0,
                dash: 1,
            }],
            legend_extra: Vec::new(),
        };
        let svg = render_xy(&[panel], 400).unwrap();
        for needle in [
            "demo",
            "backend0",
            "backend1",
            "max 0",
            "SLO &lt;= 20ms",
            "rate (jobs/s)",
            "p99 latency (ms)",
        ] {
            assert!(svg.contains(needle), "missing {needle}");
        }
        // The SLO label twice (legend and line), every point a marker.
        assert_eq!(svg.matches("SLO &lt;= 20ms").count(), 2);
        assert!(
            svg.matches("<polygon").count() >= 3 + 2,
            "markers and legend samples"
        );
        assert!(svg.matches("<polyline").count() >= 1);
    }

    #[test]
    fn an_empty_chart_says_so() {
        assert!(render_xy(&[], 300).unwrap().contains("nothing to chart"));
    }
}
