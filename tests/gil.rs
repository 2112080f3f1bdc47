//! The emulated GIL reproduces what CPython 3.11 does (SPEC §1.3).
//! Timing tests: run one at a time (`--test-threads=1`).

mod common;

use common::*;
use serde_json::Value;

/// The backends every GIL comparison needs: Python threads, one worker
/// (sequential), and threads without a GIL.
const THREE_BACKENDS: &str = r#"
[[backend]]
kind = "threads"
gil = true
name = "py-threads"
[[backend]]
kind = "threads"
gil = true
workers = 1
name = "sequential"
[[backend]]
kind = "threads"
name = "nogil"
"#;

fn speedup(r: &Value, label: &str) -> f64 {
    wall(r, "sequential") / wall(r, label)
}

/// [`speedup`] for CPU-bound runs, with each wall taken at the kernel's
/// calibrated speed: the machine's speed may change between the two runs.
fn cpu_speedup(r: &Value, label: &str) -> f64 {
    wall_at_calibrated_speed(r, "sequential") / wall_at_calibrated_speed(r, label)
}

#[test]
fn cpu_bound_threads_get_no_speedup_under_the_gil() {
    let r = run_toml(&format!(
        "{THREE_BACKENDS}\n[[group]]\nname = \"cpu\"\njobs = 4\nsteps = [{{ cpu = \"100ms\" }}]\n"
    ));
    let gil = cpu_speedup(&r, "py-threads");
    let nogil = cpu_speedup(&r, "nogil");
    assert!(
        gil <= 1.2,
        "4 CPU-bound threads under the GIL sped up {gil:.2}×"
    );
    assert!(
        nogil >= 1.5,
        "without the GIL, 2 cores gave only {nogil:.2}×"
    );
    let run = run_of(&r, "py-threads");
    assert!(
        run["gil"]["forced_switches"].as_u64().unwrap() >= 10,
        "{}",
        run["gil"]
    );
    let t = &group(run, "cpu")["time_s"];
    assert!(
        t["gil_wait"].as_f64().unwrap() > t["cpu"].as_f64().unwrap(),
        "4 threads sharing the GIL should wait more than they run: {t}"
    );
    assert!(run_of(&r, "nogil")["gil"].is_null());
}

#[test]
fn io_bound_threads_still_overlap_under_the_gil() {
    let r = run_toml(&format!(
        "{THREE_BACKENDS}\n[[group]]\nname = \"io\"\njobs = 16\nsteps = [{{ io = \"50ms\" }}]\n"
    ));
    let w = wall(&r, "py-threads");
    assert!(
        w < 0.2,
        "16 × 50 ms IO under the GIL took {w:.3}s (one alone: 0.05s)"
    );
    assert!(speedup(&r, "py-threads") >= 4.0);
}

#[test]
fn native_work_runs_in_parallel_under_the_gil() {
    let r = run_toml(&format!(
        "{THREE_BACKENDS}\n[[group]]\nname = \"native\"\njobs = 4\nsteps = [{{ native = \"100ms\" }}]\n"
    ));
    let s = cpu_speedup(&r, "py-threads");
    assert!(
        s >= 1.5,
        "native work under the GIL sped up only {s:.2}× on 2 cores"
    );
}

/// Mean extra latency of a 1 ms IO op beside a CPU-bound thread, in µs,
/// over the same op without a GIL.
fn convoy_penalty_us(switch_interval: &str) -> f64 {
    let r = run_toml(&format!(
        r#"
        [gil]
        switch_interval = "{switch_interval}"
        [[backend]]
        kind = "threads"
        gil = true
        name = "py-threads"
        [[backend]]
        kind = "threads"
        name = "nogil"
        [[group]]
        name = "cpu"
        jobs = 1
        steps = [{{ cpu = "1500ms" }}]
        [[group]]
        name = "io"
        jobs = 100
        arrival = {{ closed = 1 }}
        steps = [{{ io = "1ms" }}]
        "#
    ));
    let mean = |label: &str| {
        group(run_of(&r, label), "io")["latency_us"]["mean"]
            .as_f64()
            .unwrap()
    };
    mean("py-threads") - mean("nogil")
}

#[test]
fn convoy_costs_about_one_switch_interval_per_io_op() {
    let five = convoy_penalty_us("5ms");
    let half = convoy_penalty_us("2.5ms");
    assert!(
        (2_500.0..=8_000.0).contains(&five),
        "penalty at 5 ms: {five:.0} µs per op"
    );
    let ratio = half / five;
    assert!(
        (0.3..=0.75).contains(&ratio),
        "halving the interval scaled the penalty by {ratio:.2} ({half:.0} vs {five:.0} µs)"
    );
}

/// One group per counter variant; every job adds 300 000.
fn counter_report(gil: bool) -> Value {
    let variant = |name: &str, guard: &str, inside: bool| {
        format!(
            "[[group]]\nname = \"{name}\"\njobs = 4\nsteps = [{{ counter = \"{name}\", add = 300000, guard = \"{guard}\", switch_inside = {inside} }}]\n"
        )
    };
    run_toml(&format!(
        "[[backend]]\nkind = \"threads\"\ngil = {gil}\nname = \"b\"\n{}{}{}{}",
        variant("plus_equals", "none", false),
        variant("plus_call", "none", true),
        variant("locked", "lock", true),
        variant("atomic", "atomic", true),
    ))
}

fn lost(r: &Value, name: &str) -> (u64, u64) {
    let c = counter(run_of(r, "b"), name);
    assert_eq!(c["expected"], 1_200_000u64, "{c}");
    assert_eq!(
        c["expected"].as_u64().unwrap() - c["lost"].as_u64().unwrap(),
        c["observed"].as_u64().unwrap()
    );
    (c["lost"].as_u64().unwrap(), c["observed"].as_u64().unwrap())
}

#[test]
fn counters_lose_updates_only_where_cpython_does() {
    // `counter = counter + f()` loses only when a forced switch lands inside
    // its window *and* another thread of the same counter runs before the
    // write: a matter of timing. On a host that hands the GIL around
    // quickly, about one mixed run in 20 lost nothing there (3 of 60 runs,
    // the binary before this test changed included). So up to three runs:
    // a GIL that cannot lose updates loses in none of them. The `+=` and
    // guarded counters must lose nothing in every run.
    let mut lost_call = 0;
    for _ in 0..3 {
        let r = counter_report(true);
        assert_eq!(
            lost(&r, "plus_equals").0,
            0,
            "`counter += 1` must not lose under the GIL"
        );
        assert_eq!(lost(&r, "locked").0, 0);
        assert_eq!(lost(&r, "atomic").0, 0);
        lost_call = lost(&r, "plus_call").0;
        if lost_call > 0 {
            break;
        }
    }
    assert!(
        lost_call > 0,
        "`counter = counter + f()` must lose under the GIL (it lost nothing in three runs)"
    );
}

#[test]
fn without_a_gil_unguarded_counters_race_and_guards_fix_it() {
    let r = counter_report(false);
    assert!(
        lost(&r, "plus_equals").0 > 0,
        "parallel unguarded increments should race"
    );
    assert_eq!(lost(&r, "locked").0, 0);
    assert_eq!(lost(&r, "atomic").0, 0);
}

/// Lost fraction of 2 threads × `add` `counter = counter + CALL` with the
/// given `[gil] counter_inside_share`.
fn pair_loss(share: Option<f64>, add: u64) -> f64 {
    let share = share.map_or(String::new(), |s| format!("counter_inside_share = {s}\n"));
    let r = run_toml(&format!(
        "[gil]\n{share}[[backend]]\nkind = \"threads\"\ngil = true\nname = \"b\"\n\
         [[group]]\nname = \"c\"\njobs = 2\nsteps = [{{ counter = \"c\", add = {add}, guard = \"none\", switch_inside = true }}]\n"
    ));
    let c = counter(run_of(&r, "b"), "c");
    c["lost"].as_f64().unwrap() / c["expected"].as_f64().unwrap()
}

#[test]
fn only_switches_that_land_inside_the_window_lose_updates() {
    // Summed over 3 runs each, because a run has only ~40 switches and one
    // switch inside the window loses a whole switch interval of the other
    // thread's increments (~5% of them).
    let sum = |share: Option<f64>| -> f64 { (0..3).map(|_| pair_loss(share, 2_000_000)).sum() };
    // Every switch inside (the behaviour before the split).
    let all = sum(Some(1.0));
    // Share 0: the inside check sits right after the read, so a request is
    // served there only if it arrives in the few nanoseconds of loop control
    // between the back-edge check and that check (a few % of a 50 ns
    // iteration; measured 3-15% lost per run on a quiet 2-core VM, against
    // 40-50% with every switch inside).
    let none = sum(Some(0.0));
    assert!(
        none < all / 2.0,
        "share 0 lost {none:.3} (3 runs), every switch inside {all:.3}"
    );
    // The measured default lies between: it loses, and less than all.
    let default = sum(None);
    assert!(default > 0.0, "the default share must still lose updates");
    assert!(
        default < all,
        "default share lost {default:.3} (3 runs), every switch inside {all:.3}"
    );
}

/// The p50 queue time (due to start) of group `g` in backend `label`, µs.
fn queue_p50_us(r: &Value, label: &str, g: &str) -> f64 {
    group(run_of(r, label), g)["queue_us"]["p50"]
        .as_f64()
        .expect("queue_us.p50 is a number")
}

/// A job stream beside a CPU-bound job, on a pool of 4 with and without a
/// GIL. The stream's jobs are 20 ms apart, so each is over (its retake of
/// the GIL after the IO included) before the next is due: nothing but the
/// submitting thread's own timed wait ends the holder's turn.
const SUBMITTED: &str = r#"
[[backend]]
kind = "threads"
gil = true
workers = 4
name = "pool"
[[backend]]
kind = "threads"
workers = 4
name = "nogil"
[[group]]
name = "hog"
jobs = 1
steps = [{ cpu = "500ms" }]
[[group]]
name = "req"
jobs = 20
arrival = { rate = 50, process = "uniform" }
steps = [{ io = "1ms" }]
"#;

#[test]
fn a_gil_pools_jobs_wait_for_its_submitting_thread_on_both_engines() {
    // In CPython a Python thread submits each job to a ThreadPoolExecutor
    // under the GIL: beside a CPU-bound holder it waits for a forced switch
    // (up to the 5 ms interval) before any worker can see the job. Without
    // a GIL the job reaches an idle worker at once.
    for (engine, r) in on_both_engines(SUBMITTED) {
        let (gil, nogil) = (
            queue_p50_us(&r, "pool", "req"),
            queue_p50_us(&r, "nogil", "req"),
        );
        assert!(
            (2_500.0..9_000.0).contains(&gil),
            "{engine}: queue p50 {gil} µs under the GIL, expected about one switch interval"
        );
        assert!(
            nogil < 1_000.0,
            "{engine}: queue p50 {nogil} µs without a GIL"
        );
    }
}

/// CPU seconds per job of group `g` in backend `label`, at the kernel's
/// calibrated speed (as [`wall_at_calibrated_speed`] does for walls).
/// A kernel far off its calibration is a miss: the host was too disturbed
/// for CPU times to mean anything.
fn cpu_per_job(r: &Value, label: &str, g: &str) -> Result<f64, String> {
    let run = run_of(r, label);
    let speed = run["kernel_speed"].as_f64().unwrap_or(1.0);
    if !(0.7..1.4).contains(&speed) {
        return Err(format!(
            "{label}: the kernel ran at {speed}× its calibrated speed"
        ));
    }
    let grp = group(run, g);
    Ok(grp["time_s"]["cpu"].as_f64().unwrap() / grp["jobs"].as_f64().unwrap() * speed)
}

#[test]
fn interpreter_costs_are_charged_under_the_gil() {
    // A stall of the shared host in the middle of a CPU step, or a kernel
    // speed misread at a noisy minute, can move one run's figures by a
    // fifth (5.2 ms a job once on CI, against 3.58–4.28 ms in 25 runs on
    // that host); a cost charged twice or not at all misses in every run.
    // So a run that misses is tried again ([`in_three_attempts`]) with the
    // same bounds.
    in_three_attempts("interpreter costs charged under the GIL", || {
        interpreter_costs_hold(&run_toml(INTERPRETER_COSTS))
    });
}

/// Costs far above the real ones so they dominate: asyncio pays task +
/// io_call + resume per job; a pool's worker pays io_call + complete, and
/// its submitting thread submit, before the job starts.
const INTERPRETER_COSTS: &str = r#"
    [gil.cost]
    task = "1ms"
    resume = "2ms"
    io_call = "500us"
    submit = "3ms"
    complete = "1ms"
    [[backend]]
    kind = "tokio"
    gil = true
    workers = 2
    name = "asyncio"
    [[backend]]
    kind = "threads"
    gil = true
    workers = 2
    name = "pool"
    [[backend]]
    kind = "tokio"
    workers = 2
    name = "nogil"
    [[group]]
    name = "g"
    jobs = 20
    steps = [{ io = "1ms" }]
"#;

/// Whether `INTERPRETER_COSTS`' report `r` charged each backend its costs
/// under the GIL; the first miss if not.
fn interpreter_costs_hold(r: &Value) -> Result<(), String> {
    // 3.5 ms of costs; a resume charged twice would read 5.5 ms.
    let asyncio = cpu_per_job(r, "asyncio", "g")?;
    if !(0.0025..0.0050).contains(&asyncio) {
        return Err(format!(
            "asyncio job cpu {asyncio:.4}s, expected ~3.5 ms of costs"
        ));
    }
    let pool = cpu_per_job(r, "pool", "g")?;
    if !(0.0010..0.0025).contains(&pool) {
        return Err(format!(
            "pool job cpu {pool:.4}s, expected ~1.5 ms of costs"
        ));
    }
    // One thread submits the 20 jobs, 3 ms each: the median job reaches
    // the pool ~30 ms after it was due.
    let queue = queue_p50_us(r, "pool", "g");
    if queue < 25_000.0 {
        return Err(format!(
            "pool queue p50 {queue} µs: the submits did not serialize before the jobs"
        ));
    }
    // Under one GIL the costs serialize even on 2 workers: 20 × 3.5 ms.
    let w = wall(r, "asyncio");
    if w < 0.060 {
        return Err(format!("asyncio wall {w:.3}s: costs ran in parallel"));
    }
    // Without a GIL nothing is charged.
    let nogil = cpu_per_job(r, "nogil", "g")?;
    if nogil >= 0.0002 {
        return Err(format!("nogil job cpu {nogil:.4}s: a cost was charged"));
    }
    Ok(())
}
