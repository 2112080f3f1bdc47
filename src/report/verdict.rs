//! The verdict under a report: who wins p50, p99 and throughput, and the
//! dominant loss of every other backend, derived from the numbers alone.

use super::RunReport;

/// A loss must take at least this share of job time to be named.
const NOTABLE: f64 = 0.10;

/// Sentences for one config's runs.
pub fn verdict(runs: &[RunReport]) -> Vec<String> {
    if runs.len() < 2 {
        return runs
            .iter()
            .filter_map(|r| loss(r).map(|l| format!("{}: {l}", r.backend)))
            .collect();
    }
    let mut out = Vec::new();
    let best_tput = best(runs, |r| r.throughput_per_s, true);
    let best_p50 = best(
        runs,
        |r| job_weighted(r, |g| g.latency_us.p50 as f64),
        false,
    );
    let best_p99 = best(
        runs,
        |r| job_weighted(r, |g| g.latency_us.p99 as f64),
        false,
    );
    let top = runs[best_tput].throughput_per_s;
    let tie = runs.iter().all(|r| r.throughput_per_s >= 0.98 * top);
    let throughput = if tie {
        // Open-loop arrivals: everyone who keeps up runs at the arrival rate.
        format!("Throughput: all backends within 2% ({top:.1} jobs/s)")
    } else {
        format!(
            "Throughput: {} wins ({top:.1} jobs/s)",
            runs[best_tput].backend
        )
    };
    out.push(format!(
        "{throughput}; p50: {}; p99: {}.",
        runs[best_p50].backend, runs[best_p99].backend
    ));
    let p50 = |r: &RunReport| job_weighted(r, |g| g.latency_us.p50 as f64);
    let p99 = |r: &RunReport| job_weighted(r, |g| g.latency_us.p99 as f64);
    for r in runs {
        // Only backends that lose noticeably get a reason: small differences
        // on a noisy machine are not worth explaining.
        let loser = r.throughput_per_s < 0.9 * runs[best_tput].throughput_per_s
            || p50(r) > 1.25 * p50(&runs[best_p50]) + 50.0
            || p99(r) > 1.25 * p99(&runs[best_p99]) + 50.0;
        if let (true, Some(l)) = (loser, loss(r)) {
            out.push(format!("{}: {l}.", r.backend));
        }
    }
    out
}

/// Index of the best run by `key`.
fn best(runs: &[RunReport], key: impl Fn(&RunReport) -> f64, higher: bool) -> usize {
    let mut idx = 0;
    for (i, r) in runs.iter().enumerate() {
        let (a, b) = (key(r), key(&runs[idx]));
        if (higher && a > b) || (!higher && a < b) {
            idx = i;
        }
    }
    idx
}

/// A per-group figure averaged over groups, weighted by job count.
fn job_weighted(r: &RunReport, f: impl Fn(&super::GroupReport) -> f64) -> f64 {
    let jobs: u64 = r.groups.iter().map(|g| g.jobs).sum();
    if jobs == 0 {
        return f64::INFINITY;
    }
    r.groups.iter().map(|g| f(g) * g.jobs as f64).sum::<f64>() / jobs as f64
}

/// The dominant loss of a run, in words, if one is notable: the loss of
/// the group that lost the most time, explained by that group's own shares
/// (a convoy hurts the IO group, not the CPU job beside it).
fn loss(r: &RunReport) -> Option<String> {
    let (g, what, share) = r
        .groups
        .iter()
        .filter_map(|g| {
            let s = &g.shares;
            let job_time = g.jobs as f64 * g.latency_us.mean;
            [
                ("gil", s.gil_wait),
                ("queue", s.queue),
                ("blocked", s.executor_blocked),
                ("lock", s.lock_wait),
            ]
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(what, share)| (g, what, share, share * job_time))
        })
        .max_by(|a, b| a.3.total_cmp(&b.3))
        .map(|(g, what, share, _)| (g, what, share))?;
    if share < NOTABLE {
        return None;
    }
    let s = &g.shares;
    let pct = (share * 100.0).round();
    let whose = if r.groups.len() > 1 {
        format!("group {}: ", g.name)
    } else {
        String::new()
    };
    let io_led = s.io > s.cpu + s.native;
    let cpu_led = s.cpu + s.native >= 0.05;
    let inline = r.cpu_mode.as_deref() == Some("inline");
    let blocking_pool = r.kind == "rayon" || (r.kind == "threads" && r.workers > 0);
    Some(whose + &match what {
        "gil" if io_led => format!("{pct}% of job time waiting for the GIL: IO completions queue behind CPU-bound threads (convoy effect)"),
        "gil" => format!("{pct}% of job time waiting for the GIL: CPU-bound work serialized"),
        "queue" if io_led && blocking_pool => format!("queue time {pct}%: IO blocked the {}", match r.workers { 1 => "1 worker".to_string(), _ => format!("{} workers", workers(r)) }),
        "queue" if blocking_pool => format!("queue time {pct}%: more CPU work than the {} workers can run", workers(r)),
        "queue" if r.kind == "threads" => format!("queue time {pct}%: each job's new thread waited to start and be scheduled"),
        "queue" if cpu_led && inline => format!("queue time {pct}%: inline CPU work blocked the event loop, so tasks waited to start"),
        "queue" => format!("queue time {pct}%: tasks waited to be first polled"),
        "blocked" if cpu_led && inline => format!("{pct}% of job time ready but not running: inline CPU work blocked the event loop"),
        "blocked" => format!("{pct}% of job time ready but not running: woken tasks waited for a busy executor thread"),
        _ => format!("{pct}% of job time waiting for application locks"),
    })
}

fn workers(r: &RunReport) -> String {
    match r.workers {
        0 => "per-job".to_string(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fixtures, Shares};

    /// A one-group run whose p99 is `p99` µs.
    fn run(name: &str, tput: f64, p99: u64, shares: Shares) -> RunReport {
        let g = fixtures::group("g", 10, fixtures::quantiles(p99 / 10), shares);
        fixtures::run(name, tput, vec![g])
    }

    #[test]
    fn equal_throughput_is_a_tie_and_only_losers_get_a_reason() {
        let fine = Shares {
            io: 0.9,
            queue: 0.1,
            ..Default::default()
        };
        let gil = Shares {
            cpu: 0.2,
            gil_wait: 0.8,
            ..Default::default()
        };
        let v = verdict(&[run("a", 100.0, 1_000, fine), run("b", 99.5, 5_000, gil)]);
        assert!(
            v[0].starts_with("Throughput: all backends within 2%"),
            "{v:?}"
        );
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(
            v[1].starts_with("b: 80% of job time waiting for the GIL: CPU-bound work serialized"),
            "{v:?}"
        );
    }

    #[test]
    fn a_clear_winner_is_named_and_small_losses_are_not() {
        let v = verdict(&[
            run(
                "fast",
                200.0,
                1_000,
                Shares {
                    cpu: 0.95,
                    queue: 0.05,
                    ..Default::default()
                },
            ),
            run(
                "slow",
                100.0,
                2_000,
                Shares {
                    cpu: 0.97,
                    queue: 0.03,
                    ..Default::default()
                },
            ),
        ]);
        assert!(v[0].starts_with("Throughput: fast wins"), "{v:?}");
        assert_eq!(v.len(), 1, "no loss above 10% to name: {v:?}");
    }
}
