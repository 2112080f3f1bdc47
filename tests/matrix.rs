//! Scenarios that hold on every backend, with and without a GIL, on both
//! engines: one test per cell (`tests/common/matrix.rs`), named after it.
//!
//! Timing tests: the README's test command runs them one at a time. What a
//! scenario expects follows from the backend's kind (whether a job's IO
//! holds a worker, whether CPU work can run in parallel), never from the
//! engine: the model must give what the real runtimes give.

mod common;

use common::matrix::batch;
use common::*;
use serde_json::Value;

/// `wall_s` of a run as it would have been at the kernel's calibrated
/// speed (the model's kernel always runs at it), or why it cannot be read:
/// a kernel far off its calibration (a burst of load while gilsim
/// calibrated, or skipped work).
fn calibrated_wall(run: &Value) -> Result<f64, String> {
    let wall = run["wall_s"].as_f64().expect("wall_s");
    match run["kernel_speed"].as_f64() {
        Some(speed) if (0.7..1.4).contains(&speed) => Ok(wall * speed),
        Some(speed) => Err(format!("the kernel ran at {speed:.2}× its calibration")),
        None => Ok(wall),
    }
}

matrix_test! {
    /// Every arrival mode delivers exactly the jobs asked for, every step
    /// kind runs, and an atomic counter loses nothing.
    fn every_arrival_mode_completes(case: Case) {
        let run = case.run(
            r#"
            [[group]]
            name = "batch"
            jobs = 12
            steps = [{ cpu = "200us" }, { io = "300us" }]
            [[group]]
            name = "closed"
            jobs = 9
            arrival = { closed = 2, think = { dist = "exp", mean = "200us" } }
            steps = [{ io = "200us" }, { native = "100us" }, { counter = "hits", add = 10, guard = "atomic" }]
            [[group]]
            name = "open"
            jobs = 15
            arrival = { rate = 2000, process = "poisson" }
            steps = [{ lock = "db", cpu = "50us" }]
            "#,
        );
        assert_eq!(run["jobs"], 36, "{case:?}");
        for (name, jobs) in [("batch", 12), ("closed", 9), ("open", 15)] {
            assert_eq!(group(&run, name)["jobs"], jobs, "{case:?} {name}");
        }
        assert_eq!(counter(&run, "hits")["observed"], 90, "{case:?}");
        assert_eq!(run["gil"].is_null(), !case.gil, "{case:?}: GIL figures");
    }
}

matrix_test! {
    /// IO waits overlap (the GIL is released while waiting), except where
    /// each wait holds one of a fixed set of workers: 12 waits of 40 ms
    /// take one wait's time on threads per job and on async runtimes, and
    /// ⌈12 / workers⌉ waits' time on a pool.
    fn io_waits_overlap_unless_a_worker_waits(case: Case) {
        let run = case.run(&batch("io", 12, r#"[{ io = "40ms" }]"#));
        let wall = run["wall_s"].as_f64().expect("wall_s");
        let rounds = case.io_workers().map_or(1, |w| 12u32.div_ceil(w));
        let ideal = f64::from(rounds) * 0.040;
        // Never faster than the waits themselves; late by at most the
        // start-up and wake-ups of a run (serial waits would take 0.48 s).
        assert!(
            (0.95 * ideal..ideal + 0.06).contains(&wall),
            "{case:?}: 12 × 40 ms IO took {wall:.3} s, expected about {ideal:.3} s"
        );
    }
}

matrix_test! {
    /// CPU work runs in parallel only without a GIL, on a backend that
    /// spreads it over threads, or when it goes to a process-style pool
    /// outside the GIL (smol's `cpu_mode = "rayon"`): 4 jobs of 50 ms on
    /// 2 cores take about 100 ms then, and never less than 200 ms when they
    /// serialize (under a GIL, or inline on one event-loop thread).
    fn cpu_work_runs_in_parallel_only_outside_the_gil(case: Case) {
        let parallel = case.backend == Backend::Smol
            || (!case.gil && !case.backend.one_thread());
        let expected = if parallel { 0.092..0.167 } else { 0.18..f64::MAX };
        // Other processes busy on a core hide any overlap, and a burst of
        // load during calibration skews the kernel's speed: a run that
        // misses is tried again ([`in_three_attempts`], as the runtimes' own
        // overlap tests do); a backend that does not behave misses every
        // time.
        let how = if parallel { "in parallel" } else { "serialized" };
        in_three_attempts(&format!("{case:?}: 4 × 50 ms CPU on 2 cores {how}"), || {
            let run = case.run(&batch("cpu", 4, r#"[{ cpu = "50ms" }]"#));
            let wall = calibrated_wall(&run)?;
            if expected.contains(&wall) {
                return Ok(());
            }
            Err(format!("took {wall:.3} s, expected {expected:?} s"))
        });
    }
}

matrix_test! {
    /// A lone closed-loop client's jobs run one after another, each due
    /// when the one before ended, whoever submits them (on the real engine,
    /// the finishing job itself on every backend: `backend/chain.rs`): all
    /// 40 run, once each, and never overlap, so the run lasts at least
    /// their 40 IO waits of 500 µs (two at a time would take about 13 ms).
    fn a_lone_client_runs_its_jobs_one_after_another(case: Case) {
        let run = case.run(
            r#"
            [[group]]
            name = "client"
            jobs = 40
            arrival = { closed = 1 }
            steps = [{ io = "500us" }, { cpu = "100us" }]
            "#,
        );
        assert_eq!(run["jobs"], 40, "{case:?}");
        assert_eq!(group(&run, "client")["jobs"], 40, "{case:?}");
        let wall = run["wall_s"].as_f64().expect("wall_s");
        assert!(
            wall >= 40.0 * 0.000_5,
            "{case:?}: 40 jobs of a lone client, each waiting 500 µs, took {wall:.4} s"
        );
    }
}

matrix_test! {
    /// A job that ends with an IO wait lasts at least the wait, and its
    /// time breakdown holds the waits whole. On async runtimes without a
    /// GIL the job ends at the wait's own reading, taken as the wait saw
    /// its deadline pass (`AsyncPlatform::sleep_until`): never before it.
    fn a_job_ending_in_an_io_wait_lasts_at_least_the_wait(case: Case) {
        let run = case.run(
            r#"
            [[group]]
            name = "io"
            jobs = 30
            arrival = { closed = 3 }
            steps = [{ io = "300us" }]
            "#,
        );
        let g = group(&run, "io");
        assert_eq!(g["jobs"], 30, "{case:?}");
        let min = g["service_us"]["min"].as_u64().expect("service min");
        assert!(min >= 300, "{case:?}: a 300 µs wait's job took {min} µs");
        let io = g["time_s"]["io"].as_f64().expect("io time");
        assert!(io >= 30.0 * 0.000_3 * 0.999, "{case:?}: IO time {io} s");
    }
}
