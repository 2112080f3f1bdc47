//! Helpers for tests that run the real `gilsim` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

pub mod matrix;
#[allow(unused_imports)]
pub(crate) use matrix::matrix_test;

/// The binary under test.
pub fn gilsim() -> Command {
    Command::cargo_bin("gilsim").expect("gilsim binary is built")
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes `toml` to a temporary config file named `name.toml`.
pub fn config(dir: &tempfile::TempDir, name: &str, toml: &str) -> PathBuf {
    let path = dir.path().join(format!("{name}.toml"));
    std::fs::write(&path, toml).expect("write temp config");
    path
}

/// Runs `cmd` and asserts it succeeded, printing its exit status and
/// stderr if not.
pub fn success(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run gilsim");
    assert!(
        out.status.success(),
        "gilsim failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd`, asserts it succeeded (printing its stderr if not) and
/// returns its stdout, which must be one JSON object.
pub fn success_json(cmd: &mut Command) -> Value {
    success_json_and_stderr(cmd).0
}

/// [`success_json`], with the command's stderr beside the JSON.
pub fn success_json_and_stderr(cmd: &mut Command) -> (Value, String) {
    let out = success(cmd);
    let doc = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    (doc, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs `gilsim run PATH --format json` and returns the report.
pub fn run_json(path: &Path, extra: &[&str]) -> Value {
    success_json(
        gilsim()
            .arg("run")
            .arg(path)
            .args(["--format", "json"])
            .args(extra),
    )
}

/// The binary for model-engine tests: the built-in costs, not whatever
/// calibration this machine saved, so that a model run gives the same
/// report on every machine. No kernel speed is pinned: the model measures
/// none, and its reports must not depend on one.
pub fn model_gilsim() -> Command {
    let mut cmd = gilsim();
    cmd.env("GILSIM_MODEL_COSTS", "defaults")
        .env_remove("GILSIM_ITERS_PER_US");
    cmd
}

/// Runs `gilsim run PATH --engine model --format json EXTRA` with the
/// built-in costs and returns the report.
pub fn model_json(path: &Path, extra: &[&str]) -> Value {
    success_json(
        model_gilsim()
            .arg("run")
            .arg(path)
            .args(["--format", "json", "--engine", "model"])
            .args(extra),
    )
}

/// [`model_json`] of an inline config.
pub fn model_toml(toml: &str, extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = config(&dir, "m", toml);
    model_json(&path, extra)
}

/// The model's cores where a test compares it with the real engine: the
/// CI machine's two, so that both answer for the same machine.
pub const CI_CORES: &str = "2";

/// [`model_toml`] on [`CI_CORES`] cores: the model's half of
/// [`on_both_engines`], for a test that runs the real half its own way.
pub fn model_on_ci_cores(toml: &str) -> Value {
    model_toml(toml, &["--cores", CI_CORES])
}

/// An inline config's report on each engine (the model on [`CI_CORES`]
/// cores), named: `[("real", …), ("model", …)]`.
pub fn on_both_engines(toml: &str) -> [(&'static str, Value); 2] {
    [("real", run_toml(toml)), ("model", model_on_ci_cores(toml))]
}

/// A report with `sim.wall_s` (the only figure a model run may change from
/// one run to the next) blanked, for comparing two runs.
pub fn without_sim_wall(mut r: Value) -> Value {
    r["sim"]["wall_s"] = Value::Null;
    r
}

/// Every backend kind, every step kind, every arrival process.
pub const EVERYTHING: &str = include_str!("../data/everything.toml");

/// Runs an inline config and returns the report.
pub fn run_toml(toml: &str) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = config(&dir, "t", toml);
    run_json(&path, &[])
}

/// The run with backend label `label`.
pub fn run_of<'a>(report: &'a Value, label: &str) -> &'a Value {
    report["runs"]
        .as_array()
        .and_then(|runs| runs.iter().find(|r| r["backend"] == label))
        .unwrap_or_else(|| panic!("no run labelled {label} in {report}"))
}

/// Group `name` of a run.
pub fn group<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == name))
        .unwrap_or_else(|| panic!("no group {name} in {run}"))
}

/// `wall_s` of the run labelled `label`.
pub fn wall(report: &Value, label: &str) -> f64 {
    run_of(report, label)["wall_s"]
        .as_f64()
        .expect("wall_s is a number")
}

/// `wall_s` of the run labelled `label` as it would have been had the CPU
/// kernel run at its calibrated speed: wall × `kernel_speed`.
///
/// A shared VM changes speed by several percent between gilsim's start-up
/// calibration and a run (586–672 iterations/µs seen on one machine), and
/// CPU steps follow the machine, so lower bounds on CPU-bound wall time are
/// checked against this. `kernel_speed` comes from thread CPU time, not wall
/// time; it is checked to be near 1, so skipped work (which would read as an
/// absurdly fast kernel) cannot hide behind the correction.
pub fn wall_at_calibrated_speed(report: &Value, label: &str) -> f64 {
    let run = run_of(report, label);
    let speed = run["kernel_speed"]
        .as_f64()
        .unwrap_or_else(|| panic!("{label}: no kernel_speed in {run}"));
    wall(report, label) * checked_speed(label, speed)
}

/// The kernel's speed in run `label` (1 for a model run, whose CPU steps
/// last exactly their duration), checked as in [`wall_at_calibrated_speed`].
pub fn kernel_speed(report: &Value, label: &str) -> f64 {
    match run_of(report, label)["kernel_speed"].as_f64() {
        Some(speed) => checked_speed(label, speed),
        None => 1.0,
    }
}

fn checked_speed(label: &str, speed: f64) -> f64 {
    assert!(
        (0.7..1.4).contains(&speed),
        "{label}: the kernel ran at {speed}× its calibrated speed"
    );
    speed
}

/// Counter `name` of a run.
pub fn counter<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["counters"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no counter {name} in {run}"))
}

/// Runs `attempt` until it returns `Ok`, at most three times in all, and
/// panics with every miss when none succeeded. For timing checks on a
/// shared machine: a burst of load or a host's stall (its steal time) can
/// spoil one run, while a behaviour that is broken misses every time. The
/// bounds inside `attempt` stay as strict as for a single run.
pub fn in_three_attempts(what: &str, mut attempt: impl FnMut() -> Result<(), String>) {
    let mut misses = Vec::new();
    for _ in 0..3 {
        match attempt() {
            Ok(()) => return,
            Err(miss) => misses.push(miss),
        }
    }
    panic!("{what}: missed three times:\n{}", misses.join("\n---\n"));
}

/// A config whose one job waits 3 s: a refusal that comes after it ran
/// is seen in the time it took.
pub const SLOW: &str = "name = \"slow\"\n[[backend]]\nkind = \"threads\"\n[[group]]\nname = \"w\"\nsteps = [{ io = \"3s\" }]\n";

/// Runs `args` on the 3 s config and checks it is refused with exit 2,
/// nothing on stdout, and before the 3 s job could run.
pub fn refused_up_front(args: &[&std::ffi::OsStr], stderr_has: &str) {
    let cfg = tempfile::tempdir().unwrap();
    let slow = config(&cfg, "slow", SLOW);
    let started = std::time::Instant::now();
    gilsim()
        .arg("run")
        .args(args)
        .arg(&slow)
        .assert()
        .code(2)
        .stdout(predicates::str::is_empty())
        .stderr(predicates::str::contains(stderr_has));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "the 3 s job ran before the refusal"
    );
}
