//! The parts of a report that exist so that every `--out` file can be
//! rendered again from the JSON alone (`gilsim report`): the resolved plan,
//! each group's latency histogram, and a window of each GIL run's holds.

use std::io::Cursor;
use std::time::Instant;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::plan::{ArrivalPlan, Plan};
use crate::work::gil::Hold;

/// The config as it was run: what the HTML page's first section shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanSummary {
    /// The config's `description`, if it has one.
    pub description: Option<String>,
    /// The GIL's switch interval, µs.
    pub switch_interval_us: u64,
    /// Jobs over all groups.
    pub total_jobs: u64,
    /// One entry per group, in config order.
    pub groups: Vec<GroupPlanSummary>,
}

/// One group of the plan, with its expected work.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupPlanSummary {
    pub name: String,
    pub jobs: u64,
    /// "batch", "closed, 4 clients", "closed, 4 clients + think", "open".
    pub arrival: String,
    /// Expected interpreted CPU work over all the group's jobs, seconds
    /// (including CPU work inside lock sections).
    pub cpu_s: f64,
    /// Expected native CPU work, seconds.
    pub native_s: f64,
    /// Expected IO waits, seconds.
    pub io_s: f64,
    /// Step executions over all jobs, repeats expanded.
    pub steps: u64,
}

impl PlanSummary {
    /// The summary of `plan`; the description comes from the config.
    pub fn of(plan: &Plan, description: Option<String>) -> Self {
        let groups = plan
            .groups
            .iter()
            .enumerate()
            .map(|(gi, g)| {
                let t = plan.group_totals(gi);
                GroupPlanSummary {
                    name: g.name.clone(),
                    jobs: g.jobs,
                    arrival: arrival_text(&g.arrival),
                    cpu_s: round6((t.cpu + t.locked_cpu).as_secs_f64()),
                    native_s: round6(t.native.as_secs_f64()),
                    io_s: round6(t.io.as_secs_f64()),
                    steps: t.steps,
                }
            })
            .collect();
        Self {
            description,
            switch_interval_us: plan.gil.switch_interval.as_micros() as u64,
            total_jobs: plan.total_jobs(),
            groups,
        }
    }
}

/// How many of the first `holds` the timeline shows.
fn window_len(holds: &[Hold]) -> usize {
    let mut switches = 0;
    for (i, pair) in holds.windows(2).enumerate() {
        if i + 1 >= TIMELINE_HOLDS {
            return TIMELINE_HOLDS;
        }
        if pair[0].thread != pair[1].thread {
            if switches == TIMELINE_SWITCHES {
                return i + 1;
            }
            switches += 1;
        }
    }
    holds.len().min(TIMELINE_HOLDS)
}

fn arrival_text(a: &ArrivalPlan) -> String {
    match a {
        ArrivalPlan::Batch => "batch".into(),
        ArrivalPlan::Closed {
            clients,
            think: None,
        } => format!("closed, {clients} client{}", plural(*clients)),
        ArrivalPlan::Closed {
            clients,
            think: Some(_),
        } => format!("closed, {clients} client{} + think", plural(*clients)),
        ArrivalPlan::Open { .. } => "open".into(),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Holds drawn in a report's GIL timeline at most: enough to show dozens of
/// switches, few enough to draw and to keep the JSON small.
pub const TIMELINE_HOLDS: usize = 400;
/// Hand-overs shown in a timeline at most: past a few dozen, a run's
/// switches get too thin to see (a 3 s window of 5 ms holds is 1.6 px
/// each), so the window ends at the 60th.
pub const TIMELINE_SWITCHES: usize = 60;
/// Threads given a lane of their own; the rest share one "other threads"
/// lane.
pub const TIMELINE_LANES: usize = 12;

/// Who held the GIL when, over a window of one run: the picture from
/// Beazley's GIL talks, drawn from the run itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GilTimeline {
    /// Start of the window (the first hold's start), ns after the run's
    /// first arrival.
    pub from_ns: u64,
    /// End of the window (the last drawn hold's end), ns.
    pub to_ns: u64,
    /// Lane names, top to bottom: "thread 1", "thread 2" … in the order
    /// the threads first took the GIL in the window; past
    /// [`TIMELINE_LANES`], the last lane is "N other threads".
    pub lanes: Vec<String>,
    /// `[lane, start_ns, end_ns]` per hold, in time order.
    pub holds: Vec<[u64; 3]>,
    /// Times the GIL passed to a different thread inside the window.
    pub switches: u64,
    /// Holds in the whole run (the GIL's acquisitions); the window shows
    /// the first of them.
    pub run_holds: u64,
}

impl GilTimeline {
    /// The window of the first holds in `holds` (logged from the run's
    /// start, oldest first): at most [`TIMELINE_HOLDS`] holds and
    /// `TIMELINE_SWITCHES` hand-overs. `None` when nothing held the GIL.
    pub fn of(holds: &[Hold], started: Instant, run_holds: u64) -> Option<Self> {
        let window = &holds[..window_len(holds)];
        let first = window.first()?;
        let ns = |t: Instant| t.saturating_duration_since(started).as_nanos() as u64;
        let mut threads: Vec<u64> = Vec::new();
        for h in window {
            if !threads.contains(&h.thread) {
                threads.push(h.thread);
            }
        }
        let own_lanes = if threads.len() > TIMELINE_LANES {
            TIMELINE_LANES - 1
        } else {
            threads.len()
        };
        let mut lanes: Vec<String> = (1..=own_lanes).map(|i| format!("thread {i}")).collect();
        if threads.len() > own_lanes {
            lanes.push(format!("{} other threads", threads.len() - own_lanes));
        }
        let lane_of = |thread: u64| {
            let i = threads.iter().position(|t| *t == thread).unwrap_or(0);
            i.min(own_lanes) as u64
        };
        let switches = window
            .windows(2)
            .filter(|w| w[0].thread != w[1].thread)
            .count() as u64;
        Some(Self {
            from_ns: ns(first.start),
            to_ns: window.iter().map(|h| ns(h.end)).max().unwrap_or(0),
            lanes,
            holds: window
                .iter()
                .map(|h| [lane_of(h.thread), ns(h.start), ns(h.end)])
                .collect(),
            switches,
            run_holds,
        })
    }
}

/// `h` as HdrHistogram's compressed V2 encoding in base64: the form
/// HdrHistogram's interval logs use, so other HdrHistogram tools can read
/// it too. `None` for an empty histogram.
pub fn encode_histogram(h: &Histogram<u64>) -> Option<String> {
    if h.is_empty() {
        return None;
    }
    let mut bytes = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut bytes).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Reads back what [`encode_histogram`] wrote.
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut Cursor::new(bytes))
        .map_err(|e| format!("not an HdrHistogram: {e}"))
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn histograms_survive_the_round_trip() {
        let mut h = crate::metrics::new_histogram();
        for v in [1, 7, 150, 2_000, 2_001, 150_000, 3_000_000] {
            h.record(v).unwrap();
        }
        let text = encode_histogram(&h).unwrap();
        let back = decode_histogram(&text).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
        assert!(encode_histogram(&crate::metrics::new_histogram()).is_none());
        assert!(decode_histogram("not base64!").is_err());
        assert!(decode_histogram("aGVsbG8=").is_err());
    }

    #[test]
    fn the_timeline_window_names_lanes_and_counts_switches() {
        let t0 = Instant::now();
        let hold = |thread, from_ms, to_ms| Hold {
            thread,
            start: t0 + Duration::from_millis(from_ms),
            end: t0 + Duration::from_millis(to_ms),
        };
        let holds = [
            hold(7, 1, 5),
            hold(9, 5, 6),
            hold(7, 6, 11),
            hold(7, 11, 12),
        ];
        let t = GilTimeline::of(&holds, t0, 4).unwrap();
        assert_eq!(t.lanes, ["thread 1", "thread 2"]);
        assert_eq!(t.switches, 2);
        assert_eq!((t.from_ns, t.to_ns), (1_000_000, 12_000_000));
        assert_eq!(t.holds[1], [1, 5_000_000, 6_000_000]);
        assert!(GilTimeline::of(&[], t0, 0).is_none());
    }

    #[test]
    fn the_window_stops_at_enough_hand_overs_or_holds() {
        let t0 = Instant::now();
        let alternating: Vec<Hold> = (0..1000u64)
            .map(|i| Hold {
                thread: i % 2,
                start: t0 + Duration::from_millis(5 * i),
                end: t0 + Duration::from_millis(5 * i + 5),
            })
            .collect();
        let t = GilTimeline::of(&alternating, t0, 1000).unwrap();
        assert_eq!(t.switches, TIMELINE_SWITCHES as u64);
        assert_eq!(t.holds.len(), TIMELINE_SWITCHES + 1);
        let same: Vec<Hold> = alternating
            .iter()
            .map(|h| Hold { thread: 1, ..*h })
            .collect();
        let t = GilTimeline::of(&same, t0, 1000).unwrap();
        assert_eq!(t.holds.len(), TIMELINE_HOLDS);
        assert_eq!(t.switches, 0);
    }

    #[test]
    fn many_threads_share_an_other_lane() {
        let t0 = Instant::now();
        let holds: Vec<Hold> = (0..20u64)
            .map(|i| Hold {
                thread: 100 + i,
                start: t0 + Duration::from_micros(i * 10),
                end: t0 + Duration::from_micros(i * 10 + 5),
            })
            .collect();
        let t = GilTimeline::of(&holds, t0, 20).unwrap();
        assert_eq!(t.lanes.len(), TIMELINE_LANES);
        assert_eq!(t.lanes.last().unwrap(), "9 other threads");
        assert_eq!(t.holds[19][0], (TIMELINE_LANES - 1) as u64);
    }
}
