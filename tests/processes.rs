//! Deployments of several processes (SPEC §2 `processes`, `dispatch`) on
//! the real binary: each process has its own GIL, processes share cores,
//! and dispatch decides how evenly load spreads.
//!
//! Timing tests: run them one at a time (`--test-threads=1`).

mod common;

use common::*;
use serde_json::Value;

fn deployment(run: &Value) -> &Value {
    &run["deployment"]
}

fn per_process_jobs(run: &Value) -> Vec<u64> {
    deployment(run)["per_process"]
        .as_array()
        .unwrap_or_else(|| panic!("no per_process in {run}"))
        .iter()
        .map(|p| p["jobs"].as_u64().expect("jobs"))
        .collect()
}

/// CPU-bound jobs under a GIL: one process runs them one at a time; two
/// processes have two GILs and use both cores.
#[test]
fn two_processes_with_a_gil_use_two_cores() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipped: needs 2 cores");
        return;
    }
    let r = run_toml(
        r#"
        [[backend]]
        kind = "threads"
        gil = true
        workers = 2
        name = "one"
        [[backend]]
        kind = "threads"
        gil = true
        workers = 2
        processes = 2
        name = "two"
        [[group]]
        name = "w"
        jobs = 16
        steps = [{ cpu = "25ms" }]
        "#,
    );
    // A ratio of two runs of the same work: the kernel's speed drifts
    // alike for both, so plain wall times compare.
    let one = wall(&r, "one");
    let two = wall(&r, "two");
    assert!(
        one / two >= 1.5,
        "two processes gave only {:.2}× over one ({one:.3}s vs {two:.3}s)",
        one / two
    );
    let two_run = run_of(&r, "two");
    // The first free worker takes the next job, so a process that got
    // more CPU takes more; both must have done a real share.
    let jobs = per_process_jobs(two_run);
    assert_eq!(jobs.iter().sum::<u64>(), 16);
    assert!(jobs.iter().all(|&j| j >= 4), "{jobs:?}");
    for p in deployment(two_run)["per_process"].as_array().unwrap() {
        assert!(
            p["gil"]["acquisitions"].as_u64().unwrap() >= 8,
            "each process has its own GIL: {p}"
        );
    }
    assert!(run_of(&r, "one")["deployment"].is_null());
}

/// Equal IO jobs on 4 single-worker processes: a shared accept queue hands
/// each free worker the next job, so every process gets a quarter and the
/// batch takes 10 rounds; random dispatch queues unevenly, so the busiest
/// process sets the wall time.
#[test]
fn shared_queue_spreads_load_evenly_and_random_does_not() {
    let toml = |dispatch: &str| {
        format!(
            r#"
            seed = 3
            [[backend]]
            kind = "threads"
            workers = 1
            processes = 4
            dispatch = "{dispatch}"
            [[group]]
            name = "w"
            jobs = 40
            steps = [{{ io = "5ms" }}]
            "#
        )
    };
    let shared = run_toml(&toml("shared_queue"));
    let random = run_toml(&toml("random"));
    let random_again = run_toml(&toml("random"));
    let (s, r) = (run_of(&shared, "threads"), run_of(&random, "threads"));
    assert_eq!(per_process_jobs(s), vec![10, 10, 10, 10]);
    assert_eq!(deployment(s)["load_spread"].as_f64(), Some(1.0));
    let rj = per_process_jobs(r);
    assert_eq!(rj.iter().sum::<u64>(), 40);
    assert_eq!(
        rj,
        per_process_jobs(run_of(&random_again, "threads")),
        "random dispatch repeats with the seed"
    );
    let busiest = *rj.iter().max().unwrap();
    assert!(busiest > 10, "seed 3 draws an uneven spread: {rj:?}");
    let (sw, rw) = (wall(&shared, "threads"), wall(&random, "threads"));
    assert!(sw < 0.075, "10 rounds of 5 ms took {sw:.3}s");
    assert!(
        rw >= busiest as f64 * 0.005,
        "the busiest process ran {busiest} jobs of 5 ms in {rw:.3}s"
    );
    assert!(rw > sw, "random {rw:.3}s vs shared queue {sw:.3}s");
}

/// Every backend kind runs as several processes, and the per-process job
/// counts add up; counters are per process and summed.
#[test]
fn every_backend_kind_runs_as_several_processes() {
    let r = run_toml(
        r#"
        [[backend]]
        kind = "threads"
        gil = true
        processes = 2
        name = "per-job"
        [[backend]]
        kind = "threads"
        gil = true
        workers = 2
        processes = 3
        dispatch = "random"
        name = "pool"
        [[backend]]
        kind = "rayon"
        processes = 2
        [[backend]]
        kind = "tokio"
        gil = true
        flavor = "current_thread"
        processes = 2
        name = "asyncio"
        [[backend]]
        kind = "tokio"
        processes = 2
        cpu_mode = "spawn_blocking"
        [[backend]]
        kind = "async-std"
        processes = 2
        [[backend]]
        kind = "smol"
        gil = true
        processes = 2
        cpu_mode = "rayon"
        [[group]]
        name = "req"
        jobs = 60
        arrival = { rate = 3000, process = "poisson" }
        steps = [{ io = "500us" }, { cpu = "50us" }, { counter = "hits", add = 10, guard = "lock" }]
        "#,
    );
    for label in [
        "per-job",
        "pool",
        "rayon",
        "asyncio",
        "tokio",
        "async-std",
        "smol+gil",
    ] {
        let run = run_of(&r, label);
        let jobs = per_process_jobs(run);
        assert_eq!(jobs.iter().sum::<u64>(), 60, "{label}: {jobs:?}");
        assert_eq!(run["jobs"].as_u64(), Some(60), "{label}");
        let hits = counter(run, "hits");
        assert_eq!(hits["observed"].as_u64(), Some(600), "{label}: {hits}");
        assert_eq!(hits["lost"].as_u64(), Some(0), "{label}");
    }
    assert_eq!(per_process_jobs(run_of(&r, "pool")).len(), 3);
}
