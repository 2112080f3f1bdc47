//! Issue 4: the trace file, the loss breakdown and the verdict.

mod common;

use common::*;
use serde_json::Value;

fn trace_of(config: &str, extra: &[&str]) -> (Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.json");
    let mut args = vec!["--trace", trace.to_str().unwrap()];
    args.extend_from_slice(extra);
    let report = run_json(&root().join(config), &args);
    let text = std::fs::read_to_string(&trace).expect("trace written");
    (report, serde_json::from_str(&text).expect("trace is JSON"))
}

fn events(trace: &Value) -> &Vec<Value> {
    trace["traceEvents"].as_array().expect("traceEvents array")
}

#[test]
fn trace_has_spans_thread_tracks_and_a_gil_track_whose_holds_never_overlap() {
    let (_, trace) = trace_of("configs/python/convoy_2_5ms.toml", &[]);
    let ev = events(&trace);
    for name in ["run", "job", "step", "gil_wait"] {
        assert!(
            ev.iter().any(|e| e["ph"] == "B" && e["name"] == name),
            "no {name} span"
        );
    }
    let begins = ev.iter().filter(|e| e["ph"] == "B").count();
    let ends = ev.iter().filter(|e| e["ph"] == "E").count();
    assert_eq!(begins, ends, "every span that begins ends");
    for name in ["queue", "gil_hold"] {
        assert!(
            ev.iter()
                .any(|e| e["ph"] == "X" && e["pid"] == 1 && e["name"] == name),
            "no {name} interval on a thread track"
        );
    }
    let step = ev
        .iter()
        .find(|e| e["ph"] == "B" && e["name"] == "step")
        .unwrap();
    let fields = step["args"]["fields"].as_str().unwrap();
    assert!(
        fields.contains("kind=") && fields.contains("requested_us="),
        "{fields}"
    );
    let thread_names: Vec<&str> = ev
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["pid"] == 1)
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    assert!(
        thread_names.iter().any(|n| n.starts_with("python-threads")),
        "{thread_names:?}"
    );
    let gil_track = ev
        .iter()
        .find(|e| e["ph"] == "M" && e["pid"] == 2 && e["args"]["name"] == "GIL: python-threads")
        .expect("a GIL track for the GIL run");
    let mut holds: Vec<(f64, f64)> = ev
        .iter()
        .filter(|e| e["ph"] == "X" && e["pid"] == 2 && e["tid"] == gil_track["tid"])
        .map(|e| (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap()))
        .collect();
    assert!(holds.len() >= 100, "only {} holds", holds.len());
    holds.sort_by(|a, b| a.0.total_cmp(&b.0));
    for w in holds.windows(2) {
        assert!(
            w[0].0 + w[0].1 <= w[1].0 + 0.001,
            "GIL holds overlap: {w:?}"
        );
    }
    assert_eq!(trace["otherData"]["dropped"], 0);
}

#[test]
fn a_capped_trace_says_so() {
    let (_, trace) = trace_of("configs/python/convoy_2_5ms.toml", &["--trace-limit", "50"]);
    assert!(trace["otherData"]["dropped"].as_u64().unwrap() > 0);
    assert!(trace["otherData"]["events"]
        .as_str()
        .unwrap()
        .contains("capped"));
    let begins = events(&trace).iter().filter(|e| e["ph"] == "B").count();
    assert!(begins <= 50);
}

/// Every group's measured shares, plus what no timer covered, are its job
/// time; what no timer covered stays small.
/// The measured parts of `shares`; `queue` there includes `offload_wait`.
const SHARE_PARTS: [&str; 7] = [
    "cpu",
    "native",
    "io",
    "gil_wait",
    "lock_wait",
    "queue",
    "executor_blocked",
];

/// The parts of `time_s`, where `offload_wait` stands on its own.
const TIME_PARTS: [&str; 8] = [
    "cpu",
    "native",
    "io",
    "gil_wait",
    "lock_wait",
    "queue",
    "offload_wait",
    "executor_blocked",
];

/// The sum of the numbers at `keys` of a JSON object.
fn sum_of(v: &Value, keys: &[&str]) -> f64 {
    keys.iter().map(|k| v[k].as_f64().unwrap()).sum()
}

#[test]
fn breakdown_shares_add_up_to_job_time() {
    for config in [
        "configs/quickstart.toml",
        "configs/io_bound.toml",
        "configs/python/asyncio_offload.toml",
    ] {
        let r = run_json(&root().join(config), &[]);
        for run in r["runs"].as_array().unwrap() {
            for g in run["groups"].as_array().unwrap() {
                let s = &g["shares"];
                let measured = sum_of(s, &SHARE_PARTS);
                let unaccounted = s["unaccounted"].as_f64().unwrap();
                assert!(
                    (measured + unaccounted - 1.0).abs() < 0.01,
                    "{config} {}: {s}",
                    run["backend"]
                );
                assert!(
                    unaccounted.abs() < 0.05,
                    "{config} {} {}: {:.1}% of job time unaccounted",
                    run["backend"],
                    g["name"],
                    unaccounted * 100.0
                );
                // The shares are of the latency the histogram reports.
                let job_time =
                    g["latency_us"]["mean"].as_f64().unwrap() * g["jobs"].as_f64().unwrap() / 1e6;
                let t = &g["time_s"];
                let summed = sum_of(t, &TIME_PARTS);
                assert!(
                    (summed - job_time).abs() <= 0.05 * job_time + 0.002,
                    "{config} {}: parts {summed:.4}s vs job time {job_time:.4}s",
                    run["backend"]
                );
            }
        }
    }
}

#[test]
fn ideal_bounds_the_wall() {
    let r = run_json(&root().join("configs/cpu_bound.toml"), &[]);
    for run in r["runs"].as_array().unwrap() {
        let ideal = &run["ideal"];
        let e = ideal["efficiency"].as_f64().unwrap();
        assert!(e > 0.0 && e <= 1.0, "{ideal}");
        assert!(
            ideal["ideal_s"].as_f64().unwrap() <= run["wall_s"].as_f64().unwrap() * 1.05,
            "{}: {ideal} vs wall {} (kernel {} iters/µs)",
            run["backend"],
            run["wall_s"],
            r["machine"]["cpu_kernel_iters_per_us"]
        );
    }
    // 8 × 100 ms interpreted under a GIL cannot beat 800 ms of work at the
    // speed the kernel ran in this run.
    let gil = run_of(&r, "threads+gil");
    let speed = gil["kernel_speed"].as_f64().unwrap();
    assert!(
        gil["ideal"]["cpu_s"].as_f64().unwrap() * speed >= 0.79,
        "{gil}"
    );
}

#[test]
fn kernel_speed_is_measured_for_cpu_work_and_absent_without_it() {
    let cpu = run_json(&root().join("configs/cpu_bound.toml"), &[]);
    for run in cpu["runs"].as_array().unwrap() {
        // The machine's speed moves by a few percent; a wrong unit or a
        // wall-clock reading under contention would be off by far more
        // (8 threads on 2 cores read as 4× slow by wall time).
        let speed = run["kernel_speed"].as_f64().unwrap();
        assert!((0.7..1.4).contains(&speed), "{}: {speed}", run["backend"]);
    }
    let io = run_json(&root().join("configs/io_bound.toml"), &[]);
    for run in io["runs"].as_array().unwrap() {
        assert!(run["kernel_speed"].is_null(), "{run}");
    }
}

fn verdict(r: &Value) -> String {
    r["verdict"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn verdict_blames_the_gil_for_cpu_bound_work_and_not_for_io_bound_work() {
    let cpu = run_json(
        &root().join("configs/cpu_bound.toml"),
        &["--backend", "threads", "--backend", "threads+gil"],
    );
    let v = verdict(&cpu);
    assert!(
        v.contains("threads+gil: ") && v.contains("GIL: CPU-bound work serialized"),
        "{v}"
    );
    // 64 threads retake the GIL after each of their 640 IO waits: a host
    // that stalls the VM (its steal time) can queue them long enough for
    // the verdict to see GIL waits (13% of job time once in CI). A run
    // that blames the GIL is run again ([`in_three_attempts`]); a GIL held
    // across IO blames it every time.
    in_three_attempts("IO-bound work does not suffer from the GIL", || {
        let io = run_json(
            &root().join("configs/io_bound.toml"),
            &["--backend", "threads", "--backend", "threads+gil"],
        );
        let v = verdict(&io);
        if v.contains("GIL") {
            return Err(v);
        }
        Ok(())
    });
}

#[test]
fn verdict_names_the_convoy_and_the_blocked_event_loop() {
    let convoy = run_json(&root().join("configs/python/convoy.toml"), &[]);
    assert!(verdict(&convoy).contains("convoy"), "{}", verdict(&convoy));
    let loop_blocked = run_json(&root().join("configs/python/asyncio_offload.toml"), &[]);
    let v = verdict(&loop_blocked);
    assert!(
        v.contains("asyncio-inline") && v.contains("blocked the event loop"),
        "{v}"
    );
}
