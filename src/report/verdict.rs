//! The verdict under a report: who wins p50, p99 and throughput, and the
//! dominant loss of every other backend, derived from the numbers alone.

use super::{RunReport, Shares};

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
    out.push(format!(
        "Throughput: {} wins ({:.1} jobs/s); p50: {}; p99: {}.",
        runs[best_tput].backend,
        runs[best_tput].throughput_per_s,
        runs[best_p50].backend,
        runs[best_p99].backend
    ));
    for (i, r) in runs.iter().enumerate() {
        if i == best_tput && i == best_p99 {
            continue;
        }
        if let Some(l) = loss(r) {
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

/// Shares over the whole run, weighted by each group's job time.
fn run_shares(r: &RunReport) -> Shares {
    let mut acc = Shares::default();
    let weights: Vec<f64> = r
        .groups
        .iter()
        .map(|g| g.jobs as f64 * g.latency_us.mean)
        .collect();
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return acc;
    }
    for (g, w) in r.groups.iter().zip(weights) {
        let k = w / total;
        let s = &g.shares;
        acc.cpu += s.cpu * k;
        acc.native += s.native * k;
        acc.io += s.io * k;
        acc.gil_wait += s.gil_wait * k;
        acc.lock_wait += s.lock_wait * k;
        acc.queue += s.queue * k;
        acc.executor_blocked += s.executor_blocked * k;
    }
    acc
}

/// The dominant loss of a run, in words, if one is notable.
fn loss(r: &RunReport) -> Option<String> {
    let s = run_shares(r);
    let losses = [
        ("gil", s.gil_wait),
        ("queue", s.queue),
        ("blocked", s.executor_blocked),
        ("lock", s.lock_wait),
    ];
    let (what, share) = losses.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))?;
    if share < NOTABLE {
        return None;
    }
    let pct = (share * 100.0).round();
    let io_led = s.io > s.cpu + s.native;
    Some(match what {
        "gil" if io_led => format!("{pct}% of job time waiting for the GIL: IO completions queue behind CPU-bound threads (convoy effect)"),
        "gil" => format!("{pct}% of job time waiting for the GIL: CPU-bound work serialized"),
        "queue" if io_led => format!("queue time {pct}%: IO blocked the {} workers", workers(r)),
        "queue" => format!("queue time {pct}%: more CPU work than the {} workers can run", workers(r)),
        "blocked" => format!("{pct}% of job time ready but not running: inline CPU work blocked the event loop"),
        _ => format!("{pct}% of job time waiting for application locks"),
    })
}

fn workers(r: &RunReport) -> String {
    match r.workers {
        0 => "per-job".to_string(),
        n => n.to_string(),
    }
}
