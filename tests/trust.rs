//! Issue 11 §1-2, SPEC §8: repeated runs with mean and spread, and
//! interruption by real signals (SIGINT, SIGTERM, a second SIGINT,
//! `--timeout`) sent to the spawned binary, with the reports and the trace
//! still written whole; `plan_sha256`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{config, gilsim, run_json};
use serde_json::Value;

/// Pins the kernel rate so start-up does not spend time calibrating, and
/// the moment a signal is sent falls where the test means it to.
const ITERS: (&str, &str) = ("GILSIM_ITERS_PER_US", "300");

fn spawn(args: &[&str], config: &Path) -> Child {
    spawn_command("run", args, config)
}

/// `gilsim COMMAND CONFIG --format json ARGS...`, its output piped.
fn spawn_command(command: &str, args: &[&str], config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_gilsim"))
        .arg(command)
        .arg(config)
        .args(["--format", "json"])
        .args(args)
        .env(ITERS.0, ITERS.1)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gilsim")
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill with a valid signal on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill failed");
}

fn report_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON report ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn run_labelled<'a>(r: &'a Value, label: &str) -> &'a Value {
    r["runs"]
        .as_array()
        .and_then(|runs| runs.iter().find(|x| x["backend"] == label))
        .unwrap_or_else(|| panic!("no run {label} in {r}"))
}

#[test]
fn runs_repeat_each_backend_interleaved_and_report_mean_and_spread() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &dir,
        "rep",
        "name = \"rep\"\n\
         [[backend]]\nkind = \"threads\"\n\
         [[backend]]\nkind = \"rayon\"\n\
         [[group]]\nname = \"g\"\njobs = 20\nsteps = [{ cpu = \"1ms\" }, { io = \"2ms\" }]\n",
    );
    let trace = dir.path().join("t.json");
    let r = run_json(
        &cfg,
        &[
            "--runs",
            "3",
            "--warmup",
            "1",
            "--trace",
            trace.to_str().unwrap(),
        ],
    );
    assert_eq!(r["complete"], true);
    assert!(r["stopped"].is_null(), "{r}");
    for run in r["runs"].as_array().unwrap() {
        let stats = &run["stats"];
        assert_eq!(stats["n"], 3, "{run}");
        let tput = &stats["throughput_per_s"];
        let mean = tput["mean"].as_f64().unwrap();
        assert!(
            (run["throughput_per_s"].as_f64().unwrap() - mean).abs() < 0.01,
            "the plain figure is the mean: {run}"
        );
        assert!(tput["stddev"].as_f64().unwrap() >= 0.0);
        let (lo, hi) = (
            tput["ci95_lo"].as_f64().unwrap(),
            tput["ci95_hi"].as_f64().unwrap(),
        );
        assert!(lo <= mean && mean <= hi, "{tput}");
        let p99 = &stats["groups"][0]["latency_us"]["p99"];
        assert_eq!(p99["n"], 3);
        assert_eq!(run["complete"], true);
        assert_eq!(run["jobs"], 20);
    }
    let verdict = r["verdict"].to_string();
    assert!(verdict.contains("over 3 runs per backend"), "{verdict}");

    // Interleaved: threads, rayon, threads, rayon... (warm-up included).
    let t: Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let order: Vec<String> = t["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "run" && e["ph"] == "B")
        .map(|e| e["args"]["fields"].as_str().unwrap_or("").to_string())
        .collect();
    let expect: Vec<String> = ["threads", "rayon"]
        .iter()
        .cycle()
        .take(8)
        .map(|b| format!("backend={b}"))
        .collect();
    assert_eq!(order, expect);
}

#[test]
fn runs_must_be_at_least_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = minute(&dir);
    gilsim()
        .arg("run")
        .arg(&cfg)
        .args(["--runs", "0"])
        .assert()
        .code(2);
    gilsim()
        .arg("run")
        .arg(&cfg)
        .args(["--timeout", "5"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("missing unit"));
}

#[test]
fn table_shows_the_interval_with_repetitions() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &dir,
        "tab",
        "[[backend]]\nkind = \"threads\"\n[[group]]\nname = \"g\"\njobs = 4\nsteps = [{ io = \"1ms\" }]\n",
    );
    let out = gilsim()
        .arg("run")
        .arg(&cfg)
        .args(["--runs", "2", "--format", "table"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(table.contains("95% confidence interval"), "{table}");
    assert!(table.contains(" ±"), "{table}");
}

/// SIGINT while the second backend runs: the first backend's report is
/// whole, the second's partial, every output file is written and valid,
/// and the exit status is 130.
#[test]
fn sigint_after_the_first_backend_keeps_its_report_and_the_partial_one() {
    let dir = tempfile::tempdir().unwrap();
    // 80 requests of 50 ms from 4 clients: about 1 s on 4 workers (the
    // first backend), 4 s on one (the second); the signal at 2 s falls
    // inside the second.
    let cfg = config(
        &dir,
        "two",
        "name = \"two\"\n\
         [[backend]]\nkind = \"threads\"\nname = \"first\"\nworkers = 4\n\
         [[backend]]\nkind = \"threads\"\nname = \"second\"\nworkers = 1\n\
         [[group]]\nname = \"w\"\njobs = 80\narrival = { closed = 4 }\nsteps = [{ io = \"50ms\" }]\n",
    );
    let out_dir = dir.path().join("out");
    let trace = dir.path().join("trace.json");
    let child = spawn(
        &[
            "--out",
            out_dir.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap(),
        ],
        &cfg,
    );
    std::thread::sleep(Duration::from_millis(2000));
    let sent = Instant::now();
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(4),
        "stopped within the 2 s grace: {:?}",
        sent.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report_of(&out);
    assert_eq!(r["complete"], false);
    assert_eq!(r["stopped"], "interrupted");
    let first = run_labelled(&r, "first");
    assert_eq!(first["complete"], true, "{first}");
    assert!(first["stopped"].is_null());
    assert_eq!(first["jobs"], 80);
    let second = run_labelled(&r, "second");
    assert_eq!(second["complete"], false, "{second}");
    assert_eq!(second["stopped"], "interrupted");
    assert!(second["jobs"].as_u64().unwrap() < 80, "{second}");
    assert!(r["verdict"][0]
        .as_str()
        .unwrap()
        .starts_with("Incomplete (interrupted)"));
    // Every output whole: the trace and the --out report parse, and the
    // --out report is the one on stdout.
    let t: Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).expect("trace is JSON");
    assert!(t["traceEvents"].is_array());
    let saved: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("two.json")).unwrap()).unwrap();
    assert_eq!(saved, r);
    assert!(out_dir.join("two.csv").exists() && out_dir.join("two.svg").exists());
    assert_no_temp_files(dir.path());
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
}

/// One backend, 20 jobs of 50 ms one after another: a second per point.
fn second_per_point(dir: &tempfile::TempDir) -> PathBuf {
    config(
        dir,
        "slow",
        "name = \"slow\"\n[[backend]]\nkind = \"threads\"\nworkers = 1\n\
         [[group]]\nname = \"w\"\njobs = 20\narrival = { closed = 1 }\nsteps = [{ io = \"50ms\" }]\n",
    )
}

/// SIGINT in a sweep's second point: the first point is kept, the cut one
/// is not, the sweep says it is incomplete, its files are written, and the
/// exit status is 130.
#[test]
fn sigint_in_a_sweep_keeps_the_points_that_finished() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = second_per_point(&dir);
    let out_dir = dir.path().join("out");
    let child = spawn_command(
        "sweep",
        &["--set", "seed=1,2,3,4", "--out", out_dir.to_str().unwrap()],
        &cfg,
    );
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let doc = report_of(&out);
    let sweep = &doc["sweep"];
    assert_eq!(sweep["complete"], false, "{sweep}");
    assert_eq!(sweep["stopped"], "interrupted");
    let points = sweep["points"].as_array().unwrap();
    assert_eq!(points.len(), 1, "only the first point finished: {sweep}");
    assert_eq!(points[0]["index"], 0);
    assert_eq!(points[0]["report"]["complete"], true);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("slow.sweep.json")).unwrap()).unwrap();
    assert_eq!(saved, doc);
    assert_no_temp_files(dir.path());
    assert!(stderr.contains("interrupted"), "{stderr}");
}

/// SIGINT during the second backend's search: the first backend's answer
/// is kept whole, the second is `interrupted` with the probes that
/// finished (the one in progress is dropped), the plan says it is
/// incomplete on stdout and in every `--out` file, and the exit status is
/// 130.
#[test]
fn sigint_in_a_plan_keeps_what_was_measured() {
    let dir = tempfile::tempdir().unwrap();
    // 2 ms waits from 4 to 64 closed clients, with a p50 bound that holds
    // everywhere. Each probe runs 400 jobs (200 measured after 200 of
    // warm-up): a thread per job serves one in 0.2 s or less and reaches
    // HI; one worker serves them one at a time, 0.8 s a probe, so the
    // signal sent once its first probe is reported falls in its second.
    let cfg = config(
        &dir,
        "two",
        "name = \"two\"\n\
         [[backend]]\nkind = \"threads\"\nname = \"fast\"\n\
         [[backend]]\nkind = \"threads\"\nname = \"slow\"\nworkers = 1\n\
         [[group]]\nname = \"w\"\njobs = 10\narrival = { closed = 4 }\nsteps = [{ io = \"2ms\" }]\n",
    );
    let out_dir = dir.path().join("out");
    let mut child = spawn_command(
        "plan",
        &[
            "--vary",
            "group.w.arrival.closed=4..64",
            "--slo",
            "w.p50<=5s",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &cfg,
    );
    let (probe_lines, slow_started) = watch_stderr(&mut child, "slow probe 1:");
    if slow_started.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "no probe of the second backend: {:?}",
            probe_lines.join().unwrap()
        );
    }
    let sent = Instant::now();
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    let stderr = probe_lines.join().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{stderr:?}");
    let doc = report_of(&out);
    let plan = &doc["plan"];
    assert_eq!(plan["complete"], false, "{plan}");
    assert_eq!(plan["stopped"], "interrupted");
    assert!(
        plan.get("not_run").is_none(),
        "both backends started: {plan}"
    );
    let probes_of = |label: &str| {
        let prefix = format!("{label} probe ");
        stderr
            .iter()
            .filter(|l| l.trim_start().starts_with(&prefix))
            .count()
    };
    // The first backend's search ended: HI held.
    let fast = &plan["results"][0];
    assert_eq!(fast["backend"], "fast");
    assert_eq!(fast["status"], "not_reached", "{fast}");
    assert_eq!(fast["max"], 64.0);
    assert!(fast["report"].is_object());
    assert_eq!(fast["probes"].as_array().unwrap().len(), probes_of("fast"));
    // The second's was cut: every probe reported on stderr is kept, none
    // other, and it has no answer.
    let slow = &plan["results"][1];
    assert_eq!(slow["backend"], "slow");
    assert_eq!(slow["status"], "interrupted", "{slow}");
    assert!(slow["max"].is_null() && slow["report"].is_null(), "{slow}");
    let kept = slow["probes"].as_array().unwrap();
    assert!(!kept.is_empty(), "{slow}");
    assert_eq!(kept.len(), probes_of("slow"), "{stderr:?}");
    assert_eq!(kept[0]["value"], 4.0);
    assert!(kept.iter().all(|p| p["met"] == true), "{slow}");
    assert!(plan["verdict"][0]
        .as_str()
        .unwrap()
        .starts_with("Incomplete (interrupted): cut short: slow."));
    // Every --out file written, the JSON the one on stdout.
    let saved: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("two.plan.json")).unwrap()).unwrap();
    assert_eq!(saved, doc);
    let csv = std::fs::read_to_string(out_dir.join("two.plan.csv")).unwrap();
    assert!(csv.contains(",slow,interrupted,"), "{csv}");
    let md = std::fs::read_to_string(out_dir.join("two.plan.md")).unwrap();
    assert!(md.contains("Incomplete (interrupted)"), "{md}");
    for file in ["two.plan.html", "two.plan.w.p50.svg"] {
        assert!(out_dir.join(file).exists(), "{file}: {:?}", walk(&out_dir));
    }
    assert_no_temp_files(dir.path());
    assert!(
        stderr.iter().any(|l| l.contains("interrupted")),
        "{stderr:?}"
    );
}

/// Reads `child`'s stderr on a thread of its own: returns the thread,
/// which ends with every line once the child closes it, and a channel
/// that hears once a line starts with `marker` (past its indent).
fn watch_stderr(
    child: &mut Child,
    marker: &'static str,
) -> (std::thread::JoinHandle<Vec<String>>, mpsc::Receiver<()>) {
    let stderr = child.stderr.take().expect("stderr piped");
    let (seen, heard) = mpsc::channel();
    let lines = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.trim_start().starts_with(marker) {
                let _ = seen.send(());
            }
            lines.push(line);
        }
        lines
    });
    (lines, heard)
}

/// A config that would run for a minute: 4 clients × 50 ms IO.
fn minute(dir: &tempfile::TempDir) -> PathBuf {
    config(
        dir,
        "minute",
        "name = \"minute\"\n[[backend]]\nkind = \"threads\"\n[[group]]\nname = \"w\"\njobs = 4800\narrival = { closed = 4 }\nsteps = [{ io = \"50ms\" }]\n",
    )
}

#[test]
fn sigterm_stops_like_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let child = spawn(&[], &minute(&dir));
    std::thread::sleep(Duration::from_millis(800));
    let sent = Instant::now();
    signal(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(4),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(out.status.code(), Some(130));
    let r = report_of(&out);
    assert_eq!(
        (r["complete"].clone(), r["stopped"].clone()),
        (false.into(), "interrupted".into())
    );
    let jobs = r["runs"][0]["jobs"].as_u64().unwrap();
    assert!(jobs > 0 && jobs < 4800, "{jobs}");
}

#[test]
fn timeout_stops_like_ctrl_c_and_exits_124() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = spawn(&["--timeout", "1s"], &minute(&dir))
        .wait_with_output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(124),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report_of(&out);
    assert_eq!(r["stopped"], "timeout");
    assert_eq!(r["runs"][0]["stopped"], "timeout");
    assert_eq!(r["runs"][0]["complete"], false);
}

/// Jobs still running when the grace period ends are abandoned: the
/// report comes after about 2 s, not after the 30 s step.
#[test]
fn jobs_running_past_the_grace_period_are_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &dir,
        "long",
        "name = \"long\"\n[[backend]]\nkind = \"threads\"\n[[group]]\nname = \"w\"\njobs = 2\nsteps = [{ io = \"30s\" }]\n",
    );
    let started = Instant::now();
    let out = spawn(&["--timeout", "300ms"], &cfg)
        .wait_with_output()
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2000) && took < Duration::from_secs(6),
        "the 2 s grace, then out: {took:?}"
    );
    assert_eq!(out.status.code(), Some(124));
    let r = report_of(&out);
    assert_eq!(r["runs"][0]["jobs"], 0);
    assert_eq!(r["runs"][0]["complete"], false);
}

#[test]
fn a_second_sigint_exits_at_once_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &dir,
        "long",
        "name = \"long\"\n[[backend]]\nkind = \"threads\"\n[[group]]\nname = \"w\"\njobs = 2\nsteps = [{ io = \"30s\" }]\n",
    );
    let trace = dir.path().join("trace.json");
    let out_dir = dir.path().join("out");
    let child = spawn(
        &[
            "--trace",
            trace.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &cfg,
    );
    std::thread::sleep(Duration::from_millis(800));
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(200));
    let second = Instant::now();
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert!(
        second.elapsed() < Duration::from_millis(1000),
        "at once, not after the grace period: {:?}",
        second.elapsed()
    );
    assert_eq!(out.status.code(), Some(130));
    assert!(out.stdout.is_empty(), "nothing written");
    assert!(!trace.exists(), "the trace is absent, not half written");
    assert_no_temp_files(dir.path());
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted twice"));
}

fn assert_no_temp_files(dir: &Path) {
    for entry in walk(dir) {
        let name = entry.file_name().unwrap().to_string_lossy().to_string();
        assert!(!name.ends_with(".tmp"), "temporary file left: {entry:?}");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn plan_sha256_matches_for_the_same_experiment_and_differs_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let toml = "seed = 5\n[[backend]]\nkind = \"threads\"\n[[group]]\nname = \"g\"\njobs = 5\narrival = { rate = 500 }\nsteps = [{ io = { dist = \"exp\", mean = \"1ms\" } }]\n";
    let a = config(&dir, "a", toml);
    let sha = |path: &Path, extra: &[&str]| {
        run_json(path, extra)["plan_sha256"]
            .as_str()
            .expect("plan_sha256 is a string")
            .to_string()
    };
    let first = sha(&a, &[]);
    assert_eq!(first.len(), 64, "{first}");
    assert_eq!(first, sha(&a, &[]), "same config and seed");
    assert_eq!(first, sha(&a, &["--backend", "threads"]));
    assert_ne!(first, sha(&a, &["--seed", "6"]), "another seed");
    let b = config(&dir, "b", &toml.replace("rate = 500", "rate = 501"));
    assert_ne!(first, sha(&b, &[]), "another rate");
}

/// A stop that comes after a sweep's last point, while its output is being
/// written (here: blocked on a full stdout pipe), cuts nothing: the sweep
/// reads complete, and the exit status still says a stop came (130), as for
/// `run`.
#[test]
fn sigint_after_the_last_point_leaves_the_sweep_complete_and_exits_130() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &dir,
        "late",
        "name = \"late\"\n[[backend]]\nkind = \"threads\"\nworkers = 1\n\
         [[group]]\nname = \"w\"\njobs = 20\narrival = { closed = 1 }\nsteps = [{ io = \"1ms\" }]\n",
    );
    // Sixty model points: about 120 KB of JSON, more than a pipe holds.
    let seeds: Vec<String> = (1..=60).map(|s| s.to_string()).collect();
    let set = format!("seed={}", seeds.join(","));
    let mut child = spawn_command("sweep", &["--engine", "model", "--set", &set, "-q"], &cfg);
    let mut stdout = child.stdout.take().expect("piped stdout");
    // The sweep is printed only after its last point, so once a byte has
    // come, every point has run and gilsim is blocked on the full pipe.
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    signal(&child, libc::SIGINT);
    // Let the signal thread record the stop before the write can finish.
    std::thread::sleep(Duration::from_millis(300));
    let mut json = first.to_vec();
    stdout.read_to_end(&mut json).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(json.len() > 64 * 1024, "{} bytes fit in a pipe", json.len());
    let doc: Value = serde_json::from_slice(&json).unwrap();
    let sweep = &doc["sweep"];
    assert_eq!(sweep["complete"], true, "nothing was cut");
    assert!(sweep.get("stopped").is_none(), "{}", sweep["stopped"]);
    assert_eq!(sweep["points"].as_array().map(Vec::len), Some(60));
    assert!(
        stderr.contains("interrupted: nothing further was started"),
        "{stderr}"
    );
}
