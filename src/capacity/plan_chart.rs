//! `gilsim plan` charts: one per SLO, the figure the SLO bounds (e.g.
//! `requests.p99`) against the searched value, one line per backend
//! through its probes (filled marker: the probe met every SLO; hollow: it
//! missed), the SLO as a labelled horizontal line, and each backend's
//! highest value that held as a vertical dashed line in its colour.
//!
//! Formatting only: the charts are drawn from a finished [`PlanResult`]
//! with the report charts' axes, legend and backend colours
//! (`report::plot`).

use std::io;

use super::bisect::{Find, Status};
use super::chart::XAxis;
use super::plan_verdict::fmt_value;
use super::search::{BackendResult, PlanResult, Probe};
use super::slo::{Objective, Slo};
use crate::report::hgrm::file_part;
use crate::report::plot::{
    render_xy, AxisSpec, HLine, LegendEntry, Stroke, VLine, XyLine, XyPanel, XyPoint, INK,
};

const PANEL_HEIGHT: u32 = 440;
/// Above this max/min ratio an axis is logarithmic: the search doubles
/// the value from LO, and a failing probe's latency can be orders of
/// magnitude above the SLO.
const LOG_RATIO: f64 = 30.0;

/// One SLO's chart.
#[derive(Debug, Clone)]
pub struct SloChart {
    /// The SLO as written (`requests.p99<=20ms`).
    pub slo: String,
    /// A file-name part naming it: `requests.p99`, `all.p999`,
    /// `throughput` (unique within the plan).
    pub name: String,
    /// The SVG document.
    pub svg: String,
}

/// Reads one figure of a probe, in the chart's unit.
type Pick = Box<dyn Fn(&Probe) -> Option<f64>>;

/// What an SLO's chart plots.
struct Figure {
    /// The y axis: `requests p99 latency`.
    what: String,
    unit: &'static str,
    /// The bound, in the axis unit.
    bound: f64,
    /// The SLO's line label.
    label: String,
    /// The figure of one probe, in the axis unit (`None`: not measured).
    pick: Pick,
    /// The file-name part.
    name: String,
}

fn figure(slo: &Slo) -> Figure {
    // The bound as the user wrote it (`20ms`, not `20.00ms`).
    let written = slo
        .as_str()
        .split_once("<=")
        .map_or(String::new(), |(_, b)| b.trim().to_string());
    match slo.objective().clone() {
        Objective::Throughput { min } => Figure {
            what: "throughput".into(),
            unit: "jobs/s",
            bound: min,
            label: format!("SLO: throughput ≥ {}/s", fmt_value(min)),
            pick: Box::new(|p: &Probe| p.figures.get("throughput_per_s").copied()),
            name: "throughput".into(),
        },
        Objective::Latency { group, stat, limit } => {
            let suffix = format!(".{}_us", stat.as_str());
            let bound = limit.as_secs_f64() * 1e3;
            let shown = written;
            match group {
                Some(g) => {
                    let key = format!("{g}{suffix}");
                    Figure {
                        what: format!("{g} {} latency", stat.as_str()),
                        unit: "ms",
                        bound,
                        label: format!("SLO: {g}.{} ≤ {shown}", stat.as_str()),
                        pick: Box::new(move |p: &Probe| p.figures.get(&key).map(|us| us / 1e3)),
                        name: format!("{g}.{}", stat.as_str()),
                    }
                }
                // `*`: every group must hold, so the worst one decides.
                None => Figure {
                    what: format!("{} latency of the worst group", stat.as_str()),
                    unit: "ms",
                    bound,
                    label: format!("SLO: every group {} ≤ {shown}", stat.as_str()),
                    pick: Box::new(move |p: &Probe| {
                        p.figures
                            .iter()
                            .filter(|(k, _)| k.ends_with(&suffix))
                            .map(|(_, us)| us / 1e3)
                            .reduce(f64::max)
                    }),
                    name: format!("all.{}", stat.as_str()),
                },
            }
        }
    }
}

/// One chart per SLO of `plan`, in the order they were given. An SLO that
/// no longer parses (a hand-edited file) gets no chart.
pub fn charts(plan: &PlanResult) -> io::Result<Vec<SloChart>> {
    let mut out: Vec<SloChart> = Vec::new();
    for text in &plan.slo {
        let Ok(slo) = Slo::parse(text) else {
            continue;
        };
        let fig = figure(&slo);
        let mut name = file_part(&fig.name);
        if out.iter().any(|c| c.name == name) {
            name = format!("{name}-{}", out.len() + 1);
        }
        let panel = panel(plan, text, &fig);
        out.push(SloChart {
            slo: text.clone(),
            name,
            svg: render_xy(&[panel], PANEL_HEIGHT)?,
        });
    }
    Ok(out)
}

fn panel(plan: &PlanResult, slo: &str, fig: &Figure) -> XyPanel {
    let x = XAxis::of(&plan.vary);
    let lines = plan
        .results
        .iter()
        .enumerate()
        .map(|(i, r)| XyLine {
            label: r.backend.clone(),
            sub: vec![outcome(r)],
            backend: i,
            dash: 0,
            points: r
                .probes
                .iter()
                .filter_map(|p| {
                    let y = (fig.pick)(p)?;
                    y.is_finite().then_some(XyPoint {
                        x: x.at(p.value),
                        y,
                        hollow: !p.met,
                    })
                })
                .collect(),
            curve: None,
            ring: None,
        })
        .collect();
    let vlines = plan
        .results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            // Dotted, so that in grey it is not taken for the SLO's dashes.
            r.value().map(|m| VLine {
                x: x.at(m),
                backend: i,
                dash: 2,
            })
        })
        .collect();
    let sample = |label: &str, hollow: bool| LegendEntry {
        label: label.into(),
        sub: Vec::new(),
        color: INK,
        shape: Some(2),
        hollow,
        stroke: Stroke::None,
    };
    XyPanel {
        title: match plan.stopped {
            // Stopped early: say so where the chart is seen alone.
            Some(why) if !plan.complete => format!("{slo} — {} ({})", plan.config, why.as_str()),
            _ => format!("{slo} — {}", plan.config),
        },
        x: x.spec(),
        y: AxisSpec {
            what: fig.what.clone(),
            unit: Some(fig.unit.into()),
            log_ratio: Some(LOG_RATIO),
            from_zero: true,
            ticks_at: None,
        },
        lines,
        hlines: vec![HLine {
            y: fig.bound,
            label: fig.label.clone(),
        }],
        vlines,
        legend_extra: vec![
            sample("probe met every SLO", false),
            sample("probe missed", true),
            LegendEntry {
                label: match plan.find {
                    Find::Max => "highest value that held",
                    Find::Min => "least value that held",
                }
                .into(),
                sub: Vec::new(),
                color: INK,
                shape: None,
                hollow: false,
                stroke: Stroke::Dash(2),
            },
        ],
    }
}

/// A backend's outcome for its legend line: `max 640`, `max ≥ 16000
/// (range end)`, `fails already at 250 (doom)`, `interrupted after 3
/// probes`; with `--least`, `min 12`, `min ≤ 1 (range end)`, `fails even
/// at 64 (doom)`.
pub(crate) fn outcome(r: &BackendResult) -> String {
    let find = r.answer.find();
    let (name, beyond, doom) = match find {
        Find::Max => ("max", "≥", "already"),
        Find::Min => ("min", "≤", "even"),
    };
    match (r.status, r.value()) {
        (Status::Found, Some(m)) => format!("{name} {}", short_value(m)),
        (Status::NotReached, Some(m)) => format!("{name} {beyond} {} (range end)", short_value(m)),
        (Status::Interrupted, _) => match r.probes.len() {
            1 => "interrupted after 1 probe".into(),
            n => format!("interrupted after {n} probes"),
        },
        _ => match r.probes.first() {
            Some(p) => format!("fails {doom} at {} (doom)", short_value(p.value)),
            None => "no probe".into(),
        },
    }
}

/// A key's value without trailing zeros: `2187.5`, not `2187.500`.
fn short_value(x: f64) -> String {
    let s = fmt_value(x);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::capacity::search::ProbeLength;
    use std::collections::BTreeMap;

    /// A probe at `value` that met its SLOs or not, with a p99 of
    /// `p99_ms`.
    pub(crate) fn probe(value: f64, met: bool, p99_ms: f64) -> Probe {
        Probe {
            value,
            met,
            figures: BTreeMap::from([
                ("requests.p99_us".to_string(), p99_ms * 1e3),
                ("other.p99_us".to_string(), p99_ms * 2e3),
                ("throughput_per_s".to_string(), value * 0.99),
            ]),
            achieved_ratio: Some(1.0),
            jobs: 10_000,
            warmup_jobs: 1_000,
            elapsed_s: 1.0,
            host_steal_ms: None,
            attempts: Vec::new(),
            gave_up: None,
            steal_explains: false,
        }
    }

    fn result(
        backend: &str,
        status: Status,
        max: Option<f64>,
        probes: Vec<Probe>,
    ) -> BackendResult {
        BackendResult {
            backend: backend.into(),
            status,
            answer: crate::capacity::search::Answer::Max(max),
            limit: None,
            probes,
            report: None,
        }
    }

    pub(crate) fn plan() -> PlanResult {
        PlanResult {
            config: "web".into(),
            engine: "model".into(),
            vary: "group.requests.arrival.rate".into(),
            find: Find::Max,
            range: [100.0, 3200.0],
            slo: vec![
                "requests.p99<=20ms".into(),
                "*.p99<=50ms".into(),
                "throughput>=150".into(),
            ],
            precision: 0.05,
            probe_length: ProbeLength {
                quantile: 0.99,
                measured_jobs: 10_000,
                warmup_jobs: 1_000,
            },
            confirm: 4,
            results: vec![
                result(
                    "threads+gil",
                    Status::Found,
                    Some(600.0),
                    vec![
                        probe(100.0, true, 3.0),
                        probe(200.0, true, 4.0),
                        probe(400.0, true, 6.0),
                        probe(800.0, false, 300.0),
                        probe(600.0, true, 12.0),
                        probe(700.0, false, 45.0),
                    ],
                ),
                result(
                    "rayon",
                    Status::NotReached,
                    Some(3200.0),
                    vec![probe(100.0, true, 1.0), probe(3200.0, true, 2.0)],
                ),
                result(
                    "doomed",
                    Status::Doom,
                    None,
                    vec![probe(100.0, false, 90.0)],
                ),
            ],
            complete: true,
            stopped: None,
            not_run: Vec::new(),
            verdict: vec!["rayon carries the most.".into()],
        }
    }

    #[test]
    fn one_chart_per_slo_with_the_slo_line_and_a_marker_per_probe() {
        let plan = plan();
        let charts = charts(&plan).unwrap();
        let names: Vec<&str> = charts.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["requests.p99", "all.p99", "throughput"]);
        let svg = &charts[0].svg;
        // The SLO's label on its line and in the legend.
        assert_eq!(svg.matches("SLO: requests.p99 ≤ 20ms").count(), 2, "{svg}");
        for b in ["threads+gil", "rayon", "doomed"] {
            assert!(svg.contains(b), "no {b}");
        }
        assert!(svg.contains("max 600"));
        assert!(svg.contains("max ≥ 3200 (range end)"));
        assert!(svg.contains("fails already at 100 (doom)"));
        assert!(
            svg.contains("group.requests.arrival.rate (jobs/s"),
            "x axis with its unit"
        );
        assert!(
            svg.contains("requests p99 latency (ms"),
            "y axis with its unit"
        );
        // Every probe is a marker: filled ones one polygon, hollow ones a
        // white polygon under an outline (polyline).
        let probes = 6 + 2 + 1;
        let missed = 3;
        let legend_samples = 3 + 2;
        let max_lines = 2;
        assert_eq!(
            svg.matches("<polygon").count(),
            probes + legend_samples + max_lines,
            "{svg}"
        );
        assert!(
            svg.matches("<polyline").count() >= missed + 3,
            "outlines and lines"
        );
        // The `*` SLO plots the worst group; throughput keeps its own unit.
        assert!(charts[1].svg.contains("p99 latency of the worst group (ms"));
        assert!(charts[2].svg.contains("throughput (jobs/s"));
        assert!(charts[2].svg.contains("SLO: throughput ≥ 150/s"));
    }

    /// [`plan`] stopped by Ctrl-C with its first backend (`threads+gil`,
    /// which held up to 400 and failed at 800) cut after `kept` probes,
    /// and the backends `not_run` never searched.
    pub(crate) fn interrupted(kept: usize, not_run: &[&str]) -> PlanResult {
        let mut plan = plan();
        let cut = &mut plan.results[0];
        cut.status = Status::Interrupted;
        cut.answer = crate::capacity::search::Answer::Max(None);
        cut.probes.truncate(kept);
        let not_run = not_run.iter().map(|b| b.to_string()).collect();
        plan.mark_stopped(crate::stop::Stopped::Interrupted, not_run);
        plan
    }

    /// A backend cut short is drawn through the probes that finished,
    /// says so in its legend line, and has no answer's line; the title
    /// says the plan stopped early.
    #[test]
    fn an_interrupted_backend_is_drawn_through_its_finished_probes() {
        let plan = interrupted(3, &[]);
        assert_eq!(outcome(&plan.results[0]), "interrupted after 3 probes");
        let plan = interrupted(1, &[]);
        assert_eq!(outcome(&plan.results[0]), "interrupted after 1 probe");
        let svg = &charts(&plan).unwrap()[0].svg;
        assert!(svg.contains("interrupted after 1 probe"), "{svg}");
        assert!(
            svg.contains("requests.p99&lt;=20ms — web (interrupted)"),
            "{svg}"
        );
        // The cut backend's one probe among the markers, and only rayon's
        // answer line (as counted in the test above).
        let probes = 1 + 2 + 1;
        let (legend_samples, max_lines) = (3 + 2, 1);
        assert_eq!(
            svg.matches("<polygon").count(),
            probes + legend_samples + max_lines
        );
    }

    #[test]
    fn legend_values_have_no_trailing_zeros() {
        assert_eq!(short_value(2187.5), "2187.5");
        assert_eq!(short_value(640.0), "640");
        assert_eq!(short_value(0.125), "0.125");
    }

    #[test]
    fn the_same_figure_twice_gets_two_file_names() {
        let mut plan = plan();
        plan.slo = vec!["requests.p99<=20ms".into(), "requests.p99<=30ms".into()];
        let names: Vec<String> = charts(&plan).unwrap().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["requests.p99", "requests.p99-2"]);
    }
}
