//! `gilsim plan` on the real binary: the M/M/c textbook case against the
//! Erlang-C formula, and every kind of bad input refused before anything
//! runs.
//!
//! Timing tests: run them one at a time (`--test-threads=1`). The M/M/c
//! test prints its figures (formula vs plan, probes, seconds) with
//! `-- --nocapture`: that is the benchmark figure of docs/planning.md.

mod common;

use std::time::Instant;

use common::*;
use serde_json::Value;

/// Erlang's C formula: the probability that an arrival waits, for `c`
/// servers at offered load `a` = λ/μ (< c).
fn erlang_c(c: u32, a: f64) -> f64 {
    let mut term = 1.0; // a^k / k!
    let mut sum = 0.0;
    for k in 0..c {
        if k > 0 {
            term *= a / k as f64;
        }
        sum += term;
    }
    let last = term * a / c as f64 * (c as f64 / (c as f64 - a));
    last / (sum + last)
}

/// P(R > t) for the response time R = W + S of an M/M/c queue: W waits
/// with probability C and is then exponential with rate θ = cμ − λ
/// (P(W > t) = C e^(−θt)); the service S is exponential with rate μ. The
/// convolution of the two gives the closed form below.
fn response_tail(c: u32, lambda: f64, mu: f64, t: f64) -> f64 {
    let cc = erlang_c(c, lambda / mu);
    let theta = c as f64 * mu - lambda;
    let conv = if (theta - mu).abs() < 1e-9 {
        cc * theta * t * (-mu * t).exp()
    } else {
        cc * theta / (theta - mu) * ((-mu * t).exp() - (-theta * t).exp())
    };
    (1.0 - cc) * (-mu * t).exp() + cc * (-theta * t).exp() + conv
}

/// The response time's quantile `q`, by bisection on the tail.
fn response_quantile(c: u32, lambda: f64, mu: f64, q: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1000.0 / mu + 1000.0 / (c as f64 * mu - lambda));
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if response_tail(c, lambda, mu, mid) > 1.0 - q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Writes an M/M/c config into `dir`: one `threads` pool of `workers`
/// (no GIL), a Poisson stream `req` at `rate`/s of one exponential IO wait
/// of mean `mean_ms`.
fn mm_c_config(
    dir: &tempfile::TempDir,
    seed: u64,
    workers: u32,
    rate: u32,
    mean_ms: f64,
) -> std::path::PathBuf {
    config(
        dir,
        &format!("mm{workers}_{rate}"),
        &format!(
            r#"
            seed = {seed}
            [[backend]]
            kind = "threads"
            workers = {workers}
            [[group]]
            name = "req"
            arrival = {{ rate = {rate}, process = "poisson" }}
            steps = [{{ io = {{ dist = "exp", mean = "{mean_ms}ms" }} }}]
            "#
        ),
    )
}

/// The fewest servers at which the p99 response time of an M/M/c queue
/// at `lambda` is at most `slo_s`.
fn erlang_least_servers(lambda: f64, mu: f64, slo_s: f64) -> u32 {
    (1..10_000)
        .find(|&c| c as f64 * mu > lambda && response_quantile(c, lambda, mu, 0.99) <= slo_s)
        .expect("some c meets it")
}

/// The highest arrival rate at which the p99 response time is at most
/// `slo_s`.
fn erlang_max_rate(c: u32, mu: f64, slo_s: f64) -> f64 {
    let (mut lo, mut hi) = (1e-9, c as f64 * mu * (1.0 - 1e-12));
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if response_quantile(c, mid, mu, 0.99) <= slo_s {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

#[test]
fn the_formula_matches_textbook_values() {
    // M/M/2 at a = 1 (ρ = 0.5): C = 1/3.
    assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
    // One server: P(wait) = ρ, and R is exponential with rate μ − λ.
    assert!((erlang_c(1, 0.6) - 0.6).abs() < 1e-12);
    let t = 0.004;
    let mm1 = response_tail(1, 600.0, 1000.0, t);
    assert!((mm1 - (-(1000.0 - 600.0) * t).exp()).abs() < 1e-9, "{mm1}");
    // A tail that is a probability, falling with t.
    let a = response_tail(8, 6000.0, 1000.0, 0.002);
    let b = response_tail(8, 6000.0, 1000.0, 0.004);
    assert!(a > b && b > 0.0 && a < 1.0);
}

fn plan_json(config: &std::path::Path, args: &[&str]) -> Value {
    plan_with(gilsim(), config, args).0
}

/// `gilsim plan CONFIG --format json --quiet ARGS` run by `cmd` (the real
/// engine's binary, or [`model_gilsim`] with its pinned costs): the plan
/// and the command's stderr.
fn plan_with(
    mut cmd: assert_cmd::Command,
    config: &std::path::Path,
    args: &[&str],
) -> (Value, String) {
    common::success_json_and_stderr(
        cmd.arg("plan")
            .arg(config)
            .args(["--format", "json", "--quiet"])
            .args(args),
    )
}

/// An open-loop Poisson stream into a pool of c threads whose jobs are one
/// exponential IO wait is an M/M/c queue; the rate `plan` finds for a p99
/// target must be the one Erlang C gives, on the engine `engine_args`
/// selects.
///
/// Tolerance: ±10% of the formula's rate. The bisection stops with the
/// answer up to `--precision` 5% below the true threshold; the p99 of
/// 10,000 measured jobs has a sampling error of a few percent, which moves
/// the rate much less (at ρ ≈ 0.9 the p99 grows about 5% per 1% of rate);
/// and a pool thread's wake-up after an idle spell adds tens of µs to some
/// jobs. The service rate put into the formula is the one measured at the
/// answer (IO waits overshoot by ~50 µs); the formula at the nominal rate is
/// printed beside it.
///
/// Time scale: the service mean is 10 ms, not 1 ms. Queueing theory does
/// not care about the unit, but a VM does: its host stops a vCPU for 5-12
/// ms now and then (docs/planning.md), which at a 1 ms service pushed any
/// job it touched past a 6 ms SLO, so a probe at ρ = 0.5 could fail. At 10
/// ms the same stall moves a response by a fraction of the 60-80 ms SLO, so
/// the check measures the queue and not the host. The tolerance is the
/// same.
fn plan_agrees_with_erlang_c(engine_args: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rows = Vec::new();
    let mean_ms = 10.0;
    for (c, slo_ms) in [(8u32, 60u64), (16, 80)] {
        let config = mm_c_config(&dir, 11, c, 100, mean_ms);
        let capacity = c as f64 * 1000.0 / mean_ms;
        let range = format!(
            "group.req.arrival.rate={}..{}",
            capacity / 2.0,
            capacity * 2.0
        );
        let slo = format!("req.p99<={slo_ms}ms");
        let mut args = vec!["--vary", &range, "--slo", &slo];
        args.extend_from_slice(engine_args);
        let t = Instant::now();
        let doc = plan_json(&config, &args);
        let secs = t.elapsed().as_secs_f64();
        let r = &doc["plan"]["results"][0];
        assert_eq!(r["status"], "found", "{r}");
        let max = r["max"].as_f64().expect("max");
        let probes = r["probes"].as_array().expect("probes");
        let remeasured: usize = probes
            .iter()
            .filter_map(|p| p["attempts"].as_array())
            .map(Vec::len)
            .sum();
        let mean_service_us = r["report"]["groups"][0]["service_us"]["mean"]
            .as_f64()
            .expect("service mean");
        let mu = 1e6 / mean_service_us;
        let formula = erlang_max_rate(c, mu, slo_ms as f64 / 1e3);
        let nominal = erlang_max_rate(c, 1000.0 / mean_ms, slo_ms as f64 / 1e3);
        rows.push(format!(
            "M/M/{c}, p99 <= {slo_ms} ms: Erlang C {formula:.0}/s (at the measured mean service {mean_service_us:.0} µs; \
             {nominal:.0}/s at {mean_ms} ms), plan {max:.0}/s ({:+.1}%), {} probes ({remeasured} re-measured), {secs:.1} s",
            100.0 * (max / formula - 1.0),
            probes.len()
        ));
        assert!(
            (max / formula - 1.0).abs() <= 0.10,
            "M/M/{c} p99<={slo_ms}ms: plan found {max:.0}/s, Erlang C says {formula:.0}/s\n{}",
            rows.join("\n")
        );
        // Every probe measured what the rule says; the answer was
        // confirmed by the last probe, four times as long.
        let (last, search) = probes.split_last().expect("probes");
        assert_eq!(last["jobs"].as_u64(), Some(40_000), "{last}");
        assert_eq!(last["value"].as_f64(), Some(max), "{last}");
        assert_eq!(last["met"], true, "{last}");
        for p in search {
            let jobs = p["jobs"].as_u64();
            assert!(jobs == Some(10_000) || jobs == Some(40_000), "{p}");
        }
        for p in probes {
            assert_eq!(p["warmup_jobs"].as_u64(), Some(1_000), "{p}");
        }
    }
    for row in &rows {
        println!("{row}");
    }
}

/// M/M/c on the real engine: real threads, real sleeps.
#[test]
fn plan_agrees_with_erlang_c_on_m_m_c() {
    plan_agrees_with_erlang_c(&[]);
}

/// M/M/c on the model engine: the same search over virtual time, where
/// the formula must hold as well (the model's IO overshoot is this
/// machine's calibration, so the measured mean service goes into it).
#[test]
fn plan_on_the_model_engine_agrees_with_erlang_c_on_m_m_c() {
    plan_agrees_with_erlang_c(&["--engine", "model"]);
}

/// The achieved-rate rule judges whether a probe kept up, not how long its
/// latency tail is (issue 8's 64-core plan): a pool of 256 threads on 64
/// model cores, each request 2 ms of CPU (exponential) and a lognormal IO
/// wait (median 10 ms, p99 40 ms), can serve 256 / 13.95 ms ≈ 18,350
/// requests a second. With an SLO that never binds (p99 ≤ 1 s), the plan
/// must find the rate within 10% below that. The rule used before (the
/// last completion against the last due time) failed every probe above
/// about 9,000/s: at a high rate the last completion is the largest of
/// many long latencies, so a run that kept up looked 2–3% short; it put
/// this knee at 15,000 and the 64-core example's at 9,250.
#[test]
fn a_long_latency_tail_at_a_high_rate_is_not_taken_for_falling_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(
        &dir,
        "pool256",
        r#"
        seed = 3
        [[backend]]
        kind = "threads"
        workers = 256
        [[group]]
        name = "requests"
        arrival = { rate = 4000, process = "poisson" }
        steps = [{ cpu = { dist = "exp", mean = "2ms" } }, { io = { dist = "lognormal", median = "10ms", p99 = "40ms" } }]
        "#,
    );
    let (doc, _) = plan_with(
        model_gilsim(),
        &config,
        &[
            "--cores",
            "64",
            "--engine",
            "model",
            "--vary",
            "group.requests.arrival.rate=1000..100000",
            "--slo",
            "requests.p99<=1s",
        ],
    );
    let r = &doc["plan"]["results"][0];
    assert_eq!(r["status"], "found", "{r}");
    let mean_service_s = r["report"]["groups"][0]["service_us"]["mean"]
        .as_f64()
        .expect("service mean")
        / 1e6;
    let capacity = 256.0 / mean_service_s;
    let max = r["max"].as_f64().expect("max");
    assert!(
        max >= 0.9 * capacity && max <= 1.01 * capacity,
        "plan found {max:.0}/s for a capacity of {capacity:.0}/s"
    );
    // Past the capacity the rule reads how far behind a probe fell: at
    // rate λ the jobs complete at about capacity / λ of it.
    for p in r["probes"].as_array().expect("probes") {
        let (rate, achieved) = (
            p["value"].as_f64().unwrap(),
            p["achieved_ratio"].as_f64().unwrap(),
        );
        if rate >= 1.3 * capacity {
            let expected = capacity / rate;
            assert!(
                (achieved / expected - 1.0).abs() < 0.05,
                "at {rate}/s achieved {achieved}, capacity says {expected:.3}"
            );
        } else if rate <= 0.9 * capacity {
            assert_eq!(achieved, 1.0, "at {rate}/s");
        }
    }
}

/// A probe far past the knee is stopped as soon as its SLO has failed for
/// certain (enough jobs already later than the bound), and its jobs are
/// cancelled, instead of running through every arrival and draining the
/// backlog.
///
/// Both backends get 1,200 jobs (p90: 1,000 measured after 200 warm-up) at
/// 2,000/s, five times what they can serve. Run to the end, the pool of 4
/// would need at least 3 s (1,200 IO waits of 10 ms, 4 at a time), the
/// thread per job under a GIL at least 4.8 s (1,200 × 4 ms of CPU, one at a
/// time). The rule decides both within about 0.3 s of the first arrival;
/// 1.5 s leaves room for a slow machine and the cancelled jobs' last steps.
#[test]
fn a_probe_past_the_knee_is_given_up_once_its_slo_has_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = config(
        &dir,
        "knee",
        r#"
        seed = 5
        [[backend]]
        name = "pool4"
        kind = "threads"
        workers = 4
        [[backend]]
        name = "gthread+gil"
        kind = "threads"
        gil = true
        [[group]]
        name = "req"
        arrival = { rate = 100, process = "poisson" }
        steps = [{ cpu = "4ms" }, { io = "10ms" }]
        "#,
    );
    let doc = plan_json(
        &path,
        &[
            "--vary",
            "group.req.arrival.rate=2000..4000",
            "--slo",
            "req.p90<=100ms",
        ],
    );
    let results = doc["plan"]["results"].as_array().expect("results");
    assert_eq!(results.len(), 2, "{doc}");
    for r in results {
        assert_eq!(r["status"], "doom", "{r}");
        let probe = &r["probes"][0];
        assert_eq!(probe["met"], false, "{probe}");
        let late = probe["gave_up"]
            .as_u64()
            .unwrap_or_else(|| panic!("not given up: {probe}"));
        // More than 10% of 1,000 measured jobs plus the 200 warm-up ones.
        assert!(late > 100 + 200, "{probe}");
        let secs = probe["elapsed_s"].as_f64().expect("elapsed_s");
        assert!(secs < 1.5, "{} took {secs} s: {probe}", r["backend"]);
    }
}

/// Every bad input: exit 2, one clear message, nothing run (no output, no
/// probe line).
#[test]
fn bad_plan_input_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        &dir,
        "web",
        r#"
        [[backend]]
        kind = "threads"
        workers = 4
        [[backend]]
        kind = "async-std"
        [[group]]
        name = "requests"
        arrival = { rate = 100, process = "poisson" }
        steps = [{ io = "1ms" }]
        "#,
    );
    let rate = "group.requests.arrival.rate";
    let ok_slo = "requests.p99<=20ms";
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--vary".into(),
                "group.requests.arrival.speed=1..10".into(),
                "--slo".into(),
                ok_slo.into(),
            ],
            "unknown key `group.requests.arrival.speed`",
        ),
        (
            vec![
                "--vary".into(),
                format!("{rate}=ten..100"),
                "--slo".into(),
                ok_slo.into(),
            ],
            "expected a number",
        ),
        (
            vec![
                "--vary".into(),
                format!("{rate}=-5..100"),
                "--slo".into(),
                ok_slo.into(),
            ],
            "rate",
        ),
        (
            vec![
                "--vary".into(),
                format!("{rate}=100..100"),
                "--slo".into(),
                ok_slo.into(),
            ],
            "is empty",
        ),
        (
            vec![
                "--vary".into(),
                format!("{rate}=..100"),
                "--slo".into(),
                ok_slo.into(),
            ],
            "needs both ends",
        ),
        (
            vec![
                "--vary".into(),
                format!("{rate}=500..100"),
                "--slo".into(),
                ok_slo.into(),
            ],
            "LO (500) is above HI (100)",
        ),
        (
            vec![
                "--vary".into(),
                format!("{rate}:10-100"),
                "--slo".into(),
                ok_slo.into(),
            ],
            "expected KEY=LO..HI",
        ),
        (
            vec![
                "--vary".into(),
                format!("{rate}=10..100"),
                "--slo".into(),
                "checkout.p99<=20ms".into(),
            ],
            "has no group `checkout`; its groups: requests",
        ),
        (
            vec![
                "--vary".into(),
                format!("{rate}=10..100"),
                "--slo".into(),
                "requests.p98<=20ms".into(),
            ],
            "unknown statistic `p98`",
        ),
        (
            vec![
                "--vary".into(),
                format!("{rate}=10..100"),
                "--slo".into(),
                "requests.p99 < 20ms".into(),
            ],
            "expected GROUP.STAT<=DURATION",
        ),
        (
            vec![
                "--vary".into(),
                format!("{rate}=10..100"),
                "--slo".into(),
                ok_slo.into(),
                "--precision".into(),
                "0".into(),
            ],
            "--precision 0",
        ),
        (
            vec![
                "--vary".into(),
                format!("{rate}=10..100"),
                "--slo".into(),
                ok_slo.into(),
                "--backend".into(),
                "rayon".into(),
            ],
            "no backend with that label (labels: threads, async-std)",
        ),
        (
            vec![
                "--vary".into(),
                "backend.*.workers=1..8".into(),
                "--slo".into(),
                ok_slo.into(),
            ],
            "async-std's executor is global",
        ),
        (
            vec![
                "--vary".into(),
                "seed=1..8".into(),
                "--slo".into(),
                ok_slo.into(),
            ],
            "not a quantity",
        ),
        (
            vec![
                "--vary".into(),
                format!("{rate}=10..100"),
                "--slo".into(),
                ok_slo.into(),
                "--cores".into(),
                "4".into(),
            ],
            "--cores sets virtual cores",
        ),
        (
            vec![
                "--vary".into(),
                format!("{rate}=10..100"),
                "--slo".into(),
                ok_slo.into(),
                "--confirm".into(),
                "0".into(),
            ],
            "--confirm",
        ),
        (
            vec![
                "--least".into(),
                "--vary".into(),
                "backend.threads.workers=0..8".into(),
                "--slo".into(),
                ok_slo.into(),
            ],
            "LO must be at least 1; workers = 0 is not a count",
        ),
    ];
    for (args, phrase) in cases {
        let t = Instant::now();
        let out = gilsim()
            .arg("plan")
            .arg(&cfg)
            .args(&args)
            .output()
            .expect("run gilsim plan");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(phrase),
            "{args:?}: want {phrase:?} in {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: printed a result");
        assert!(
            !stderr.contains("probe 1:"),
            "{args:?}: a probe ran: {stderr}"
        );
        assert!(
            t.elapsed().as_secs_f64() < 5.0,
            "{args:?}: took {:?}",
            t.elapsed()
        );
    }
    let missing = gilsim()
        .arg("plan")
        .arg(&cfg)
        .args(["--vary", &format!("{rate}=10..100")])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(2), "--slo is required");
}

/// A GIL thread pool on CPU-heavy requests fails on GIL wait, and the plan
/// says so; the JSON has the SPEC §5 shape.
#[test]
fn plan_names_the_gil_as_the_limit_and_keeps_the_spec_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        &dir,
        "gilweb",
        r#"
        seed = 5
        [[backend]]
        kind = "threads"
        gil = true
        workers = 8
        [[group]]
        name = "requests"
        arrival = { rate = 50, process = "poisson" }
        steps = [{ io = "2ms" }, { cpu = "1ms" }]
        "#,
    );
    let doc = plan_json(
        &cfg,
        &[
            "--vary",
            "group.requests.arrival.rate=100..3200",
            "--slo",
            "requests.p90<=10ms",
            "--precision",
            "20%",
        ],
    );
    let plan = &doc["plan"];
    assert_eq!(plan["config"], "gilweb");
    assert_eq!(plan["engine"], "real");
    assert_eq!(plan["vary"], "group.requests.arrival.rate");
    assert_eq!(plan["range"], serde_json::json!([100.0, 3200.0]));
    assert_eq!(plan["slo"], serde_json::json!(["requests.p90<=10ms"]));
    let r = &plan["results"][0];
    assert_eq!(r["backend"], "threads+gil");
    assert_eq!(r["status"], "found", "{r}");
    let max = r["max"].as_f64().unwrap();
    // One GIL, 1 ms of interpreted CPU per request: at most ~1000/s.
    assert!((100.0..1100.0).contains(&max), "max {max}");
    let limit = r["limit"].as_str().unwrap();
    assert!(
        limit.starts_with("GIL wait") || limit.starts_with("queue"),
        "{limit}"
    );
    let probe = &r["probes"][0];
    assert!(probe["figures"]["requests.p90_us"].is_number(), "{probe}");
    assert!(probe["achieved_ratio"].is_number(), "{probe}");
    assert_eq!(probe["jobs"].as_u64(), Some(1000));
    assert_eq!(r["report"]["backend"], "threads+gil");
    assert!(!plan["verdict"][0].as_str().unwrap().is_empty());
}

/// Two thread pools, one under a GIL, on open-loop requests; with a p50
/// SLO a probe is 400 jobs, and the model engine runs each in
/// milliseconds.
const TWO_POOLS: &str = r#"
name = "pools"
seed = 4
[[backend]]
kind = "threads"
gil = true
workers = 4
[[backend]]
kind = "threads"
workers = 4
[[group]]
name = "requests"
arrival = { rate = 50, process = "poisson" }
steps = [{ io = "2ms" }, { cpu = "1ms" }]
"#;

#[test]
fn plan_out_writes_markdown_a_page_and_a_chart_per_slo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&dir, "pools", TWO_POOLS);
    let out = dir.path().join("out");
    let doc = plan_json(
        &cfg,
        &[
            "--vary",
            "group.requests.arrival.rate=100..6400",
            "--slo",
            "requests.p50<=10ms",
            "--slo",
            "throughput>=50",
            "--precision",
            "20%",
            "--engine",
            "model",
            "--cores",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let plan = &doc["plan"];
    let read = |name: &str| {
        std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "pools.plan.csv",
            "pools.plan.html",
            "pools.plan.json",
            "pools.plan.md",
            "pools.plan.requests.p50.svg",
            "pools.plan.throughput.svg",
        ]
    );
    let md = read("pools.plan.md");
    assert!(
        md.starts_with("## pools: plan of group.requests.arrival.rate\n"),
        "{md}"
    );
    let probes: usize = plan["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["probes"].as_array().unwrap().len())
        .sum();
    assert!(probes >= 4, "{plan}");
    for r in plan["results"].as_array().unwrap() {
        let b = r["backend"].as_str().unwrap();
        let status = r["status"].as_str().unwrap();
        assert!(
            md.contains(&format!("| `{b}` | {status} |")),
            "no row for {b}: {md}"
        );
    }
    let probe_rows = md
        .split("**Probes**")
        .nth(1)
        .expect("a probe table")
        .lines()
        .filter(|l| l.starts_with("| "))
        .count();
    assert_eq!(probe_rows, 1 + probes, "{md}");
    assert!(md.contains("**Verdict**"));

    let svg = read("pools.plan.requests.p50.svg");
    assert_eq!(
        svg.matches("SLO: requests.p50 ≤ 10ms").count(),
        2,
        "line and legend"
    );
    for needle in [
        "threads+gil",
        "threads",
        "group.requests.arrival.rate (jobs/s",
        "requests p50 latency (ms",
    ] {
        assert!(svg.contains(needle), "the chart lacks {needle}");
    }
    // One marker per probe (hollow ones are a polygon under an outline),
    // plus the legend's samples (one per backend, met and missed) and one
    // on top of each backend's max line.
    let maxes = plan["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["max"].is_number())
        .count();
    assert_eq!(
        svg.matches("<polygon").count(),
        probes + 2 + 2 + maxes,
        "{svg}"
    );
    let html = read("pools.plan.html");
    for s in ["Plan", "Results", "Verdict", "Charts", "Probes"] {
        assert!(html.contains(&format!("<h2>{s}</h2>")), "no {s} section");
    }
    assert!(html.contains("data-chart=\"plan-requests.p50\""));
    assert!(html.contains("data-chart=\"plan-throughput\""));
    assert!(!html.contains("<script") && !html.contains("https://"));
}

#[test]
fn an_unwritable_plan_out_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&dir, "pools", TWO_POOLS);
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    gilsim()
        .arg("plan")
        .arg(&cfg)
        .args([
            "--vary",
            "group.requests.arrival.rate=100..6400",
            "--slo",
            "requests.p99<=10ms",
            "--out",
        ])
        .arg(&file)
        .assert()
        .code(2)
        .stdout(predicates::str::is_empty())
        .stderr(predicates::str::contains("not a directory"));
}

/// `plan` looks for the highest value that holds, assuming more is more
/// load. Over workers (more helps) it says so on stderr and in its
/// verdict, naming `sweep`; over a rate it does not.
#[test]
fn a_plan_over_workers_says_that_more_workers_help() {
    let config = common::root().join("configs/capacity/mm_c.toml");
    let plan = |vary: &str| {
        let args = ["--engine", "model", "--vary", vary, "--slo", "req.p99<=6ms"];
        let (doc, stderr) = plan_with(model_gilsim(), &config, &args);
        (stderr, doc)
    };
    let (stderr, doc) = plan("backend.*.workers=1..64");
    assert!(
        stderr.contains("more backend.*.workers usually helps")
            && stderr.contains("add --least")
            && stderr.contains("gilsim sweep CONFIG --set backend.*.workers="),
        "{stderr}"
    );
    let verdict = doc["plan"]["verdict"].to_string();
    assert!(verdict.contains("usually helps"), "{verdict}");
    let (stderr, doc) = plan("group.req.arrival.rate=2000..16000");
    assert!(!stderr.contains("usually helps"), "{stderr}");
    assert!(!doc["plan"]["verdict"].to_string().contains("usually helps"));
}

/// `plan --least` over workers answers "how many workers does this load
/// need": on an M/M/c pool (Poisson arrivals at a fixed rate, exponential
/// IO service of mean 10 ms) the least workers it finds must be the
/// fewest servers Erlang C gives for the same p99 target, on the model
/// engine (virtual time, so the answer is the queue's, not the host's).
///
/// Tolerance: ±1 worker, and never a pool the load would saturate. The
/// search over whole numbers ends at adjacent values, and the SLO (55 ms)
/// lies between the formula's p99 on either side of its answer: at 600/s,
/// 61.7 ms with 7 servers and 49.1 ms with 8; at 2,000/s, 63.7 ms with 21
/// and 50.5 ms with 22 (ρ 0.86–0.95). But the p99 of one probe is not the
/// queue's: with 7 servers at 600/s, 10,000 jobs read 50.7 to 66.9 ms over
/// eight seeds (median 56.6 ms), 40,000 jobs (a confirmation) 56.2 to
/// 69.7 ms; with 21 at 2,000/s, 40,000 jobs read 54.8 to 104 ms over six.
/// Unconfirmed, `plan` named 7 and 21; confirmed, 8 and 21. The measured
/// mean service (the model's IO overshoot from its costs) goes into the
/// formula.
///
/// An SLO whose answer lies near ρ = 1 (2,000/s, p99 ≤ 80 ms) must give
/// the formula's answer exactly: 21 servers have a p99 of about 60 ms, 20
/// (ρ 0.994) have none to speak of, since their queue takes about a minute
/// of arrivals to reach its steady state. Unconfirmed, an 11,000-job probe
/// ended long before that and `plan` named 20; confirmed, 21
/// (docs/planning.md).
#[test]
fn plan_least_workers_agrees_with_erlang_c() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The p99 of the service alone is 46 ms (4.6 means): SLOs above it.
    // The third is the case near ρ = 1, where the answer must be exact.
    for (rate, slo_ms, exact) in [
        (600u32, 55u64, false),
        (2_000, 55, false),
        (2_000, 80, true),
    ] {
        let config = mm_c_config(&dir, 5, 4, rate, 10.0);
        let slo = format!("req.p99<={slo_ms}ms");
        let least = |confirm: &str| {
            let args = [
                "--engine",
                "model",
                "--least",
                "--vary",
                "backend.*.workers=1..256",
                "--slo",
                &slo,
                "--confirm",
                confirm,
            ];
            plan_with(model_gilsim(), &config, &args).0
        };
        if exact {
            // Without the confirmation the short probes name one too few.
            let short = least("1");
            let r = &short["plan"]["results"][0];
            assert_eq!(r["min"], 20.0, "{r}");
            assert!(r["probes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["jobs"] == 10_000));
        }
        let doc = least("4");
        let plan = &doc["plan"];
        assert_eq!(plan["confirm"], 4, "{plan}");
        assert_eq!(plan["find"], "min", "{plan}");
        let r = &plan["results"][0];
        assert_eq!(r["status"], "found", "{r}");
        assert!(r.get("max").is_none(), "a least plan has no max: {r}");
        let min = r["min"].as_f64().expect("min");
        let mean_service_us = r["report"]["groups"][0]["service_us"]["mean"]
            .as_f64()
            .expect("service mean");
        let formula = erlang_least_servers(rate as f64, 1e6 / mean_service_us, slo_ms as f64 / 1e3);
        println!(
            "M/M/c at {rate}/s, p99 <= {slo_ms} ms: Erlang C {formula} servers, plan --least {min}"
        );
        assert!(
            (min - formula as f64).abs() <= 1.0 && min * 1e6 / mean_service_us > rate as f64,
            "{rate}/s p99<={slo_ms}ms: plan found {min} workers, Erlang C says {formula}\n{r}"
        );
        assert!(
            !exact || min == formula as f64,
            "{rate}/s p99<={slo_ms}ms: {min} for {formula}"
        );
        // The value below the answer failed its last (longest) probe; the
        // answer held its own.
        let probes = r["probes"].as_array().expect("probes");
        let met_at = |v: f64| {
            probes
                .iter()
                .rev()
                .find(|p| p["value"].as_f64() == Some(v))
                .map(|p| p["met"] == true)
        };
        assert_eq!(met_at(min), Some(true), "{r}");
        assert_eq!(met_at(min - 1.0), Some(false), "{r}");
        assert!(
            plan["verdict"][0]
                .as_str()
                .is_some_and(|v| v.contains("meets the SLO with the least backend.*.workers")),
            "{plan}"
        );
    }
}

/// `plan --least --vary cores` on the model engine: how many cores a CPU-bound
/// load needs. 10,000 jobs/s of 1 ms CPU each need at least 10 cores to keep
/// up, and with a p99 of 10 ms (ten services) they need a few more, not many
/// more: with 16 cores the load is 62% and no job waits long. A GIL
/// serialises every CPU step, so under it no number of cores serves more
/// than 1,000/s: doom at HI, and the verdict says so. The files name the
/// answer `min`.
#[test]
fn plan_least_cores_on_the_model_finds_what_a_load_needs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        &dir,
        "cpu",
        r#"
        seed = 3
        [[backend]]
        kind = "threads"
        name = "free"
        [[backend]]
        kind = "threads"
        name = "gil"
        gil = true
        [[group]]
        name = "req"
        arrival = { rate = 10000, process = "poisson" }
        steps = [{ cpu = "1ms" }]
        "#,
    );
    let out = dir.path().join("out");
    let (doc, stderr) = plan_with(
        model_gilsim(),
        &cfg,
        &[
            "--engine",
            "model",
            "--least",
            "--vary",
            "cores=1..256",
            "--slo",
            "req.p99<=10ms",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(!stderr.contains("usually"), "no note for cores: {stderr}");
    let plan = &doc["plan"];
    let free = &plan["results"][0];
    assert_eq!(free["status"], "found", "{free}");
    let min = free["min"].as_f64().expect("min");
    assert!(
        (10.0..=16.0).contains(&min),
        "free-threaded needs {min} cores"
    );
    let gil = &plan["results"][1];
    assert_eq!(gil["status"], "doom", "{gil}");
    assert!(gil["min"].is_null(), "{gil}");
    assert_eq!(
        gil["probes"][0]["value"], 256.0,
        "HI is probed first: {gil}"
    );
    let verdict = plan["verdict"].to_string();
    assert!(
        verdict.contains(&format!("free meets the SLO with the least cores: {min}"))
            && verdict.contains("gil fails the SLO even at cores = 256"),
        "{verdict}"
    );
    let csv = std::fs::read_to_string(out.join("cpu.plan.csv")).expect("csv");
    assert!(
        csv.starts_with("config,vary,backend,status,min,p99_us_at_min,probes,limit"),
        "{csv}"
    );
    let md = std::fs::read_to_string(out.join("cpu.plan.md")).expect("md");
    assert!(md.contains("Least cores in 1..256"), "{md}");
    assert!(md.contains("p99 at min [ms]"), "{md}");
}

/// `--least` over a key where more is more load gets the mirror of the
/// workers note: it searches as asked (HI first, which fails here), and
/// says what to expect.
#[test]
fn a_least_plan_over_a_rate_says_that_more_is_more_load() {
    let config = common::root().join("configs/capacity/mm_c.toml");
    let args = [
        "--engine",
        "model",
        "--least",
        "--vary",
        "group.req.arrival.rate=2000..16000",
        "--slo",
        "req.p99<=6ms",
    ];
    let (doc, stderr) = plan_with(model_gilsim(), &config, &args);
    assert!(
        stderr.contains("a larger group.req.arrival.rate is usually more load"),
        "{stderr}"
    );
    // HI (twice the pool's capacity) is probed first, and fails: doom.
    let r = &doc["plan"]["results"][0];
    assert_eq!(r["status"], "doom", "{r}");
    assert!(r["min"].is_null(), "{r}");
}
