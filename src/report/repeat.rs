//! Several repetitions of one backend on one plan, folded into one
//! [`RunReport`] (`run --runs N`, `sweep --runs N`).
//!
//! The folded report keeps every SPEC §4 field meaningful: each plain
//! figure holds the mean over the repetitions (integers rounded: latency
//! quantiles in µs, GIL acquisitions, counter values), so tables, CSV and
//! charts read it as they read a single run. The spread lives in
//! [`RunReport::stats`]: mean, sample standard deviation and 95% confidence
//! interval of wall time, throughput, CPU utilization and every latency
//! quantile of every group, from [`crate::stats::Summary`].

use crate::stats::Summary;
use crate::work::counter::CounterResult;

use super::detail::{decode_histogram, encode_histogram};
use super::model::{round3, round6, round_rate};
use super::{
    GilReport, GroupReport, GroupStats, HoldQuantiles, Ideal, QuantileStats, Quantiles, RunReport,
    RunStats, Shares, TimeSeconds,
};

/// Folds repetitions of one backend on one plan into one report: plain
/// figures are means, `stats` holds their spread (when there are at least
/// two). Complete only when every repetition is. `None` for no repetition.
///
/// Repetitions are matched by group and counter name; a group missing from
/// some repetition is summarised over those that have it.
pub fn repeat(reps: &[RunReport]) -> Option<RunReport> {
    let first = reps.first()?;
    if reps.len() == 1 {
        return Some(first.clone());
    }
    let f = |get: fn(&RunReport) -> f64| mean(reps.iter().map(get));
    let groups: Vec<(GroupReport, GroupStats)> = first
        .groups
        .iter()
        .map(|g| {
            let same: Vec<&GroupReport> = reps
                .iter()
                .filter_map(|r| r.groups.iter().find(|x| x.name == g.name))
                .collect();
            fold_group(&same)
        })
        .collect();
    let stats = RunStats {
        n: reps.len(),
        wall_s: summary(reps.iter().map(|r| r.wall_s), round6),
        throughput_per_s: summary(reps.iter().map(|r| r.throughput_per_s), round_rate),
        cpu_utilization: summary(reps.iter().map(|r| r.cpu_utilization), round3),
        groups: groups.iter().map(|(_, s)| s.clone()).collect(),
    };
    let speeds: Vec<f64> = reps.iter().filter_map(|r| r.kernel_speed).collect();
    Some(RunReport {
        wall_s: round6(f(|r| r.wall_s)),
        jobs: mean_u64(reps.iter().map(|r| r.jobs)),
        throughput_per_s: round_rate(f(|r| r.throughput_per_s)),
        cpu_utilization: round3(f(|r| r.cpu_utilization)),
        kernel_speed: (!speeds.is_empty()).then(|| round3(mean(speeds.iter().copied()))),
        held_back_jobs: mean_u64(reps.iter().map(|r| r.held_back_jobs)),
        host_steal_ms: reps
            .iter()
            .map(|r| r.host_steal_ms)
            .sum::<Option<f64>>()
            .map(|total| round3(total / reps.len() as f64)),
        ideal: fold_ideal(reps),
        groups: groups.into_iter().map(|(g, _)| g).collect(),
        gil_stats: fold_gil(reps),
        counters: fold_counters(reps),
        complete: reps.iter().all(|r| r.complete),
        stopped: reps.iter().find_map(|r| r.stopped),
        stats: Some(stats),
        ..first.clone()
    })
}

fn fold_group(same: &[&GroupReport]) -> (GroupReport, GroupStats) {
    let g0 = same[0];
    let q = |get: fn(&GroupReport) -> Quantiles| fold_quantiles(same.iter().map(|g| get(g)));
    let t = |get: fn(&TimeSeconds) -> f64| round6(mean(same.iter().map(|g| get(&g.time_s))));
    let s = |get: fn(&Shares) -> f64| round3(mean(same.iter().map(|g| get(&g.shares))));
    let latency: Vec<Quantiles> = same.iter().map(|g| g.latency_us).collect();
    let group = GroupReport {
        name: g0.name.clone(),
        jobs: mean_u64(same.iter().map(|g| g.jobs)),
        latency_us: q(|g| g.latency_us),
        queue_us: q(|g| g.queue_us),
        service_us: q(|g| g.service_us),
        time_s: TimeSeconds {
            cpu: t(|x| x.cpu),
            native: t(|x| x.native),
            io: t(|x| x.io),
            gil_wait: t(|x| x.gil_wait),
            lock_wait: t(|x| x.lock_wait),
            queue: t(|x| x.queue),
            offload_wait: t(|x| x.offload_wait),
            executor_blocked: t(|x| x.executor_blocked),
        },
        shares: Shares {
            cpu: s(|x| x.cpu),
            native: s(|x| x.native),
            io: s(|x| x.io),
            gil_wait: s(|x| x.gil_wait),
            lock_wait: s(|x| x.lock_wait),
            queue: s(|x| x.queue),
            executor_blocked: s(|x| x.executor_blocked),
            unaccounted: s(|x| x.unaccounted),
        },
        latency_histogram: merged_histogram(same),
    };
    let qs = |get: fn(&Quantiles) -> f64| summary(latency.iter().map(get), round3);
    let stats = GroupStats {
        name: g0.name.clone(),
        latency_us: QuantileStats {
            min: qs(|q| q.min as f64),
            mean: qs(|q| q.mean),
            p50: qs(|q| q.p50 as f64),
            p90: qs(|q| q.p90 as f64),
            p99: qs(|q| q.p99 as f64),
            p999: qs(|q| q.p999 as f64),
            max: qs(|q| q.max as f64),
        },
    };
    (group, stats)
}

/// Every repetition's latencies in one histogram (HdrHistogram adds
/// exactly), so the `.hgrm` of a repeated run is the distribution of all its
/// jobs; `None` when any repetition has none.
fn merged_histogram(same: &[&GroupReport]) -> Option<String> {
    let mut total: Option<hdrhistogram::Histogram<u64>> = None;
    for g in same {
        let h = decode_histogram(g.latency_histogram.as_deref()?).ok()?;
        match &mut total {
            None => total = Some(h),
            Some(t) => t.add(&h).ok()?,
        }
    }
    encode_histogram(&total?)
}

fn fold_quantiles(qs: impl Iterator<Item = Quantiles> + Clone) -> Quantiles {
    let u = |get: fn(&Quantiles) -> u64| mean_u64(qs.clone().map(|q| get(&q)));
    Quantiles {
        min: u(|q| q.min),
        mean: round3(mean(qs.clone().map(|q| q.mean))),
        p50: u(|q| q.p50),
        p90: u(|q| q.p90),
        p99: u(|q| q.p99),
        p999: u(|q| q.p999),
        max: u(|q| q.max),
    }
}

fn fold_ideal(reps: &[RunReport]) -> Ideal {
    let f = |get: fn(&Ideal) -> f64| mean(reps.iter().map(|r| get(&r.ideal)));
    Ideal {
        ideal_s: round6(f(|i| i.ideal_s)),
        cpu_s: round6(f(|i| i.cpu_s)),
        longest_job_s: round6(f(|i| i.longest_job_s)),
        arrival_span_s: round6(f(|i| i.arrival_span_s)),
        efficiency: round3(f(|i| i.efficiency)),
    }
}

fn fold_gil(reps: &[RunReport]) -> Option<GilReport> {
    let gils: Vec<&GilReport> = reps.iter().filter_map(|r| r.gil_stats.as_ref()).collect();
    if gils.is_empty() {
        return None;
    }
    let u = |get: fn(&GilReport) -> u64| mean_u64(gils.iter().map(|g| get(g)));
    Some(GilReport {
        acquisitions: u(|g| g.acquisitions),
        forced_switches: u(|g| g.forced_switches),
        wait_s: round6(mean(gils.iter().map(|g| g.wait_s))),
        hold_us: HoldQuantiles {
            p50: u(|g| g.hold_us.p50),
            p99: u(|g| g.hold_us.p99),
            max: u(|g| g.hold_us.max),
        },
    })
}

fn fold_counters(reps: &[RunReport]) -> Vec<CounterResult> {
    reps[0]
        .counters
        .iter()
        .map(|c| {
            let same: Vec<&CounterResult> = reps
                .iter()
                .filter_map(|r| r.counters.iter().find(|x| x.name == c.name))
                .collect();
            let observed = mean_u64(same.iter().map(|x| x.observed));
            CounterResult {
                name: c.name.clone(),
                expected: c.expected,
                observed,
                lost: c.expected.saturating_sub(observed),
            }
        })
        .collect()
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

fn mean_u64(xs: impl Iterator<Item = u64>) -> u64 {
    mean(xs.map(|x| x as f64)).round() as u64
}

/// The summary of `xs`, each field rounded as the plain figure is; the
/// figures come from finished reports, so they are finite.
fn summary(xs: impl Iterator<Item = f64>, round: fn(f64) -> f64) -> Summary {
    let xs: Vec<f64> = xs.collect();
    let s = Summary::of(&xs).unwrap_or(Summary {
        n: xs.len(),
        mean: 0.0,
        stddev: 0.0,
        ci95_lo: 0.0,
        ci95_hi: 0.0,
    });
    Summary {
        n: s.n,
        mean: round(s.mean),
        stddev: round(s.stddev),
        ci95_lo: round(s.ci95_lo),
        ci95_hi: round(s.ci95_hi),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;
    use crate::stop::Stopped;

    fn rep(tput: f64, p50_base: u64, complete: bool) -> RunReport {
        let g = fixtures::group("g", 10, fixtures::quantiles(p50_base), Shares::default());
        let mut r = fixtures::run("b", tput, vec![g]);
        r.wall_s = 10.0 / tput;
        r.complete = complete;
        r.stopped = (!complete).then_some(Stopped::Interrupted);
        r
    }

    #[test]
    fn one_repetition_is_itself_and_none_is_nothing() {
        assert!(repeat(&[]).is_none());
        let r = repeat(&[rep(100.0, 10, true)]).unwrap();
        assert_eq!(r.throughput_per_s, 100.0);
        assert!(r.stats.is_none(), "no spread from one run");
    }

    #[test]
    fn plain_figures_are_means_and_stats_hold_the_spread() {
        let r = repeat(&[
            rep(90.0, 10, true),
            rep(100.0, 20, true),
            rep(110.0, 30, true),
        ])
        .unwrap();
        assert_eq!(r.throughput_per_s, 100.0);
        assert_eq!(r.groups[0].latency_us.p50, 40, "mean of 20, 40, 60");
        assert!(r.complete && r.stopped.is_none());
        let s = r.stats.unwrap();
        assert_eq!(s.n, 3);
        assert_eq!(s.throughput_per_s.mean, 100.0);
        assert_eq!(s.throughput_per_s.stddev, 10.0);
        // t(2) = 4.303: 100 ± 4.303 × 10 / √3.
        assert!((s.throughput_per_s.half_width() - 24.843).abs() < 0.01);
        let p50 = s.groups[0].latency_us.p50;
        assert_eq!((p50.mean, p50.stddev), (40.0, 20.0));
        assert_eq!(s.groups[0].name, "g");
    }

    #[test]
    fn one_incomplete_repetition_makes_the_fold_incomplete() {
        let r = repeat(&[rep(100.0, 10, true), rep(50.0, 10, false)]).unwrap();
        assert!(!r.complete);
        assert_eq!(r.stopped, Some(Stopped::Interrupted));
    }

    #[test]
    fn counters_and_gil_are_averaged() {
        let mut a = rep(100.0, 10, true);
        let mut b = rep(100.0, 10, true);
        for (r, observed, acq) in [(&mut a, 80, 10), (&mut b, 90, 20)] {
            r.counters = vec![CounterResult {
                name: "c".into(),
                expected: 100,
                observed,
                lost: 100 - observed,
            }];
            r.gil_stats = Some(GilReport {
                acquisitions: acq,
                forced_switches: 1,
                wait_s: 0.5,
                hold_us: HoldQuantiles {
                    p50: 5,
                    p99: 50,
                    max: 500,
                },
            });
        }
        let r = repeat(&[a, b]).unwrap();
        assert_eq!((r.counters[0].observed, r.counters[0].lost), (85, 15));
        assert_eq!(r.gil_stats.unwrap().acquisitions, 15);
    }
}
