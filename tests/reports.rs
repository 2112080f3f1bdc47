//! The `--out` files (SPEC §7) and `gilsim report`, on the real binary: the
//! HTML page rendered in headless Chromium, the `.hgrm` files read back,
//! output paths checked before a run, and files written whole.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use common::*;
use predicates::prelude::*;
use serde_json::Value;

/// A run of about a second with CPU and IO groups on GIL and non-GIL
/// backends: every chart of the page has something to draw.
const MIXED: &str = r#"
name = "mixed"
description = "CPU jobs beside IO clients, with and without the GIL"
[[backend]]
kind = "threads"
gil = true
workers = 4
name = "threads+gil"
[[backend]]
kind = "threads"
workers = 4
[[backend]]
kind = "rayon"
[[backend]]
kind = "tokio"
gil = true
name = "tokio+gil"
[[group]]
name = "crunch"
jobs = 4
steps = [{ cpu = "30ms" }]
[[group]]
name = "requests"
jobs = 120
arrival = { closed = 3 }
steps = [{ io = "1ms" }, { cpu = "100us" }]
"#;

const LABELS: [&str; 4] = ["threads+gil", "threads", "rayon", "tokio+gil"];

/// Runs `toml` with `--out DIR` and returns the JSON report from stdout.
fn run_out(toml: &str, dir: &Path) -> Value {
    let cfg = tempfile::tempdir().unwrap();
    let path = config(&cfg, "c", toml);
    let out = success(
        gilsim()
            .args(["run", "--format", "json", "-q", "--out"])
            .arg(dir)
            .arg(&path),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The Chromium binary, or `None` (with a loud message) when absent.
fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Process::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
        {
            let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !path.is_empty() {
                return Some(PathBuf::from(path));
            }
        }
    }
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         SKIPPED: chromium is not installed, so the HTML report was NOT checked\n\
         in a browser. Install it (apt-get install -y chromium); CI does.\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
    None
}

/// Runs headless Chromium on `page` with `extra` arguments; returns
/// (stdout, stderr).
fn headless(chrome: &Path, page: &Path, extra: &[String]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = Process::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The page's console messages (Chromium logs them as `INFO:CONSOLE`). The
/// page has no script, so any message is a problem: a blocked fetch, a
/// parse error.
fn console_messages(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// `(data-chart, inner markup)` of every `<figure class="chart">`.
fn figures(dom: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(i) = rest.find("<figure class=\"chart\" data-chart=\"") {
        let after = &rest[i + 34..];
        let id_end = after.find('"').unwrap();
        let end = after.find("</figure>").unwrap();
        out.push((after[..id_end].to_string(), after[..end].to_string()));
        rest = &after[end..];
    }
    out
}

/// Shapes drawn in an SVG (background rectangle excluded by the caller's
/// threshold).
fn shapes(svg: &str) -> usize {
    [
        "<rect",
        "<polyline",
        "<polygon",
        "<path",
        "<circle",
        "<line",
    ]
    .iter()
    .map(|t| svg.matches(t).count())
    .sum()
}

/// PNG width and height from the IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

/// Text of the DOM with the tags removed.
fn text_of(dom: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in dom.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

#[test]
fn the_html_report_renders_in_headless_chromium() {
    let Some(chrome) = chromium() else { return };
    // The detector must see a console error when there is one, or a clean
    // result below would prove nothing.
    let probe = tempfile::tempdir().unwrap();
    let bad = probe.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\"></head><body><img src=\"http://example.invalid/x.png\"></body></html>",
    )
    .unwrap();
    let (_, stderr) = headless(&chrome, &bad, &["--dump-dom".into()]);
    assert!(
        !console_messages(&stderr).is_empty(),
        "a blocked fetch must show up as a console message: {stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let report = run_out(MIXED, dir.path());
    let page = dir.path().join("mixed.html");
    let (dom, stderr) = headless(&chrome, &page, &["--dump-dom".into()]);
    assert_eq!(
        console_messages(&stderr),
        Vec::<&str>::new(),
        "console errors"
    );

    let figs = figures(&dom);
    let ids: Vec<&str> = figs.iter().map(|(id, _)| id.as_str()).collect();
    let gil_runs = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["gil_enabled"] == true)
        .count();
    assert_eq!(gil_runs, 2);
    let mut expected = vec!["latency", "breakdown"];
    expected.extend(std::iter::repeat("gil-timeline").take(gil_runs));
    assert_eq!(ids, expected, "every chart, once");
    for (id, fig) in &figs {
        assert!(
            fig.contains("<svg") && fig.contains("viewBox"),
            "{id}: no SVG"
        );
        assert!(
            shapes(fig) > 10,
            "{id}: an empty drawing ({} shapes)",
            shapes(fig)
        );
        assert!(fig.contains("<figcaption>"), "{id}: no caption");
    }
    // A timeline draws its holds as bars in the backend's colour: more
    // than a handful in each.
    for (_, fig) in figs.iter().filter(|(id, _)| id == "gil-timeline") {
        assert!(fig.contains("who held the GIL"));
        assert!(
            fig.matches("<rect").count() > 10,
            "a timeline without holds"
        );
    }
    let text = text_of(&dom);
    for label in LABELS {
        assert!(text.contains(label), "the page never names {label}");
    }
    for section in ["Config", "Results", "Verdict", "Charts"] {
        assert!(dom.contains(&format!("<h2>{section}</h2>")), "no {section}");
    }

    // Screenshots at desktop and phone width, kept for people to look at.
    let shots = root().join("target/report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for (name, width, height) in [("desktop", 1280, 5200), ("phone", 390, 7600)] {
        let png = shots.join(format!("mixed-{name}.png"));
        let _ = std::fs::remove_file(&png);
        let (_, stderr) = headless(
            &chrome,
            &page,
            &[
                format!("--screenshot={}", png.display()),
                format!("--window-size={width},{height}"),
            ],
        );
        assert_eq!(console_messages(&stderr), Vec::<&str>::new());
        let bytes = std::fs::read(&png).expect("a screenshot");
        assert_eq!(png_size(&bytes), (width, height));
        assert!(
            bytes.len() > 40_000,
            "{name}: a near-empty screenshot ({} bytes)",
            bytes.len()
        );
        eprintln!("screenshot {}: {} bytes", png.display(), bytes.len());
    }
}

/// Rows of a `.hgrm` file: (value ms, percentile, total count), parsed
/// here independently of gilsim's writer.
fn hgrm_rows(text: &str) -> Vec<(f64, f64, u64)> {
    text.lines()
        .skip(2)
        .take_while(|l| !l.starts_with('#'))
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            (
                c[0].parse().unwrap(),
                c[1].parse().unwrap(),
                c[2].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn hgrm_files_give_the_same_p50_and_p99_as_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_out(MIXED, dir.path());
    let mut checked = 0;
    for run in report["runs"].as_array().unwrap() {
        for g in run["groups"].as_array().unwrap() {
            let path = dir
                .path()
                .join("mixed")
                .join(run["backend"].as_str().unwrap())
                .join(format!("{}.hgrm", g["name"].as_str().unwrap()));
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
            assert!(text.contains("#[Mean    = ") && text.contains("#[Buckets = "));
            let rows = hgrm_rows(&text);
            let n = g["jobs"].as_u64().unwrap();
            assert_eq!(rows.last().unwrap().2, n, "the last row counts every job");
            assert_eq!(rows.last().unwrap().1, 1.0);
            let us = |ms: f64| (ms * 1000.0).round() as u64;
            // 50% is one of the distribution's percentile ticks.
            let p50 = rows.iter().find(|r| r.1 == 0.5).expect("a 50% row");
            assert_eq!(us(p50.0), g["latency_us"]["p50"], "{path:?}");
            // 99% is not a tick; with at most 640 values every bucket's
            // first row is printed, so p99 is the first row holding 99% of
            // the values.
            assert!(n <= 640);
            let need = (0.99 * n as f64).ceil() as u64;
            let p99 = rows.iter().find(|r| r.2 >= need).unwrap();
            assert_eq!(us(p99.0), g["latency_us"]["p99"], "{path:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 8, "4 backends × 2 groups");
}

/// All files under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn gilsim_report_renders_the_same_files_from_the_saved_json() {
    let first = tempfile::tempdir().unwrap();
    run_out(MIXED, first.path());
    let files = tree(first.path());
    for f in [
        "mixed.json",
        "mixed.csv",
        "mixed.md",
        "mixed.svg",
        "mixed.html",
        "mixed/rayon/crunch.hgrm",
    ] {
        assert!(files.contains(&PathBuf::from(f)), "{f} missing: {files:?}");
    }
    assert!(
        files.iter().all(|f| !f.to_string_lossy().contains(".tmp")),
        "temporary files left: {files:?}"
    );
    renders_again(first.path(), "mixed.json");
}

/// `gilsim report DIR/JSON --out` a second directory writes exactly the
/// files of `dir`, byte for byte, and names the HTML page among them.
fn renders_again(dir: &Path, json: &str) {
    let files = tree(dir);
    let second = tempfile::tempdir().unwrap();
    gilsim()
        .arg("report")
        .arg(dir.join(json))
        .arg("--out")
        .arg(second.path())
        .assert()
        .success()
        .stdout(predicate::str::contains(".html"));
    assert_eq!(tree(second.path()), files);
    for f in &files {
        assert_eq!(
            std::fs::read(dir.join(f)).unwrap(),
            std::fs::read(second.path().join(f)).unwrap(),
            "{f:?} differs when rendered from {json}"
        );
    }
}

/// `gilsim report` on a saved sweep (with a USL fit) and a saved `--least`
/// plan writes what `sweep --out` and `plan --out` wrote, byte for byte:
/// the JSON read back gives the same numbers to the last bit, the plan's
/// `min` included.
#[test]
fn gilsim_report_renders_a_saved_sweep_and_plan_again() {
    let runs: [(&str, &str, &[&str]); 2] = [
        (POOLS_BATCH, "pools.sweep.json", USL_SWEEP),
        (&pools_at_1500(), "pools.plan.json", LEAST_PLAN),
    ];
    for (toml, json, args) in runs {
        let first = tempfile::tempdir().unwrap();
        capacity_out(toml, args, first.path());
        let files = tree(first.path());
        assert!(files.len() >= 5, "{files:?}");
        renders_again(first.path(), json);
    }
}

#[test]
fn gilsim_report_refuses_what_is_not_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("x.json");
    std::fs::write(&bad, "{\"not\": \"a report\"}").unwrap();
    let half_plan = dir.path().join("plan.json");
    std::fs::write(
        &half_plan,
        "{\"gilsim\": \"0.1.0\", \"plan\": {\"config\": \"web\"}}",
    )
    .unwrap();
    for input in [
        bad.clone(),
        half_plan,
        dir.path().join("missing.json"),
        dir.path().to_path_buf(),
    ] {
        gilsim()
            .arg("report")
            .arg(&input)
            .arg("--out")
            .arg(dir.path().join("o"))
            .assert()
            .code(2)
            .stderr(predicate::str::contains(input.display().to_string()));
    }
}

#[test]
fn an_unwritable_out_dir_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    refused_up_front(&["--out".as_ref(), file.as_os_str()], "not a directory");
    // sysfs refuses new files even to root.
    if Path::new("/sys/kernel").is_dir() {
        refused_up_front(&["--out".as_ref(), "/sys/kernel".as_ref()], "/sys/kernel");
    }
}

#[test]
fn a_trace_path_that_is_a_directory_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    refused_up_front(
        &["--trace".as_ref(), dir.path().as_os_str()],
        "is a directory",
    );
}

#[test]
fn zero_threads_and_zero_in_flight_are_bad_input() {
    for flag in ["--max-threads", "--max-in-flight"] {
        refused_up_front(&[flag.as_ref(), "0".as_ref()], flag);
    }
}

#[test]
fn two_configs_with_the_same_name_under_one_out_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let body = "name = \"same\"\n[[backend]]\nkind = \"threads\"\n[[group]]\nname = \"w\"\nsteps = [{ io = \"3s\" }]\n";
    let a = config(&dir, "a", body);
    let b = config(&dir, "b", body);
    gilsim()
        .args(["run", "--out"])
        .arg(dir.path().join("out"))
        .arg(&a)
        .arg(&b)
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(
            predicate::str::contains("a.toml")
                .and(predicate::str::contains("b.toml"))
                .and(predicate::str::contains("overwrite")),
        );
    assert!(!dir.path().join("out/same.json").exists());
}

#[test]
fn a_write_that_fails_at_the_end_still_prints_the_report() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the backend's `.hgrm` directory should go: the checks
    // before the run pass (they look at `NAME.EXT` and `NAME`, not at
    // every backend under it), and the last files fail at the end.
    std::fs::create_dir_all(dir.path().join("quick")).unwrap();
    std::fs::write(dir.path().join("quick/threads"), b"").unwrap();
    let cfg = config(
        &dir,
        "quick",
        "name = \"quick\"\n[[backend]]\nkind = \"threads\"\n[[group]]\nname = \"w\"\nsteps = [{ io = \"1ms\" }]\n",
    );
    let out = gilsim()
        .args(["run", "--format", "json", "--out"])
        .arg(dir.path())
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("quick/threads"), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("the report on stdout");
    assert_eq!(report["config"], "quick");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn validate_and_calibrate_fail_cleanly_on_a_full_stdout() {
    if !Path::new("/dev/full").exists() {
        eprintln!("SKIPPED: no /dev/full");
        return;
    }
    let quickstart = root().join("configs/quickstart.toml");
    let cases: [Vec<&std::ffi::OsStr>; 2] = [
        vec!["validate".as_ref(), quickstart.as_os_str()],
        vec!["calibrate".as_ref(), "--samples".as_ref(), "10".as_ref()],
    ];
    for args in cases {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = Process::new(assert_cmd::cargo::cargo_bin("gilsim"))
            .args(&args)
            .stdout(full)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("cannot write <stdout>"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn the_trace_file_is_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &dir,
        "t",
        "name = \"t\"\n[[backend]]\nkind = \"threads\"\ngil = true\n[[group]]\nname = \"w\"\njobs = 3\nsteps = [{ cpu = \"2ms\" }]\n",
    );
    let trace = dir.path().join("t.trace.json");
    gilsim()
        .args(["run", "-q", "--format", "json", "--trace"])
        .arg(&trace)
        .arg(&cfg)
        .assert()
        .success();
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    assert!(v["traceEvents"].as_array().is_some_and(|e| !e.is_empty()));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

/// Two pools, one under a GIL, on open-loop requests: on the model engine
/// a short plan (a p50 SLO is 400 jobs per probe) takes well under a
/// second.
const POOLS: &str = r#"
name = "pools"
seed = 2
[[backend]]
kind = "threads"
gil = true
workers = 4
name = "threads+gil"
[[backend]]
kind = "threads"
workers = 4
[[group]]
name = "requests"
arrival = { rate = 50, process = "poisson" }
steps = [{ io = "2ms" }, { cpu = "1ms" }]
"#;

/// The same pools on a batch of jobs that wait on IO for 4 ms after 1 ms
/// of CPU: the GIL pool levels off near 5 workers, the free pool keeps
/// scaling on 8 virtual cores, so the USL fit has a curve to draw.
const POOLS_BATCH: &str = r#"
name = "pools"
seed = 2
[[backend]]
kind = "threads"
gil = true
workers = 1
name = "threads+gil"
[[backend]]
kind = "threads"
workers = 1
[[group]]
name = "work"
jobs = 96
steps = [{ cpu = "1ms" }, { io = "4ms" }]
"#;

const POOL_LABELS: [&str; 2] = ["threads+gil", "threads"];

/// A sweep of the pools' workers with a USL fit, on 8 model cores.
const USL_SWEEP: &[&str] = &[
    "sweep",
    "CONFIG",
    "--set",
    "backend.*.workers=1,2,3,4,6,8",
    "--fit",
    "usl",
    "--engine",
    "model",
    "--cores",
    "8",
];

/// `plan --least`: the fewest workers of each pool for the requests'
/// p50, on 2 model cores (run on [`pools_at_1500`]).
const LEAST_PLAN: &[&str] = &[
    "plan",
    "CONFIG",
    "--least",
    "--vary",
    "backend.*.workers=1..32",
    "--slo",
    "requests.p50<=10ms",
    "--engine",
    "model",
    "--cores",
    "2",
];

/// [`POOLS`] at 1,500 requests/s: the free pool needs several workers,
/// and the GIL pool (1 ms of CPU each) cannot serve them with any number.
fn pools_at_1500() -> String {
    POOLS.replace("rate = 50,", "rate = 1500,")
}

/// Runs gilsim with `args` (CONFIG: the config `toml`) and `--out dir`.
fn capacity_out(toml: &str, args: &[&str], dir: &Path) {
    let cfg = tempfile::tempdir().unwrap();
    let path = config(&cfg, "pools", toml);
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("CONFIG", &path.to_string_lossy()))
        .collect();
    success(
        gilsim()
            .args(&args)
            .args(["--format", "json", "--quiet", "--out"])
            .arg(dir),
    );
}

/// Renders `page` in Chromium and checks it: no console message, the
/// charts `ids` in order, each an SVG with a non-empty drawing and a
/// caption, every label in the text, every section. Then screenshots at
/// desktop and phone width into target/report-screenshots/NAME-*.png.
fn check_in_browser(
    chrome: &Path,
    page: &Path,
    ids: &[&str],
    labels: &[&str],
    sections: &[&str],
    name: &str,
    heights: (u32, u32),
) {
    let (dom, stderr) = headless(chrome, page, &["--dump-dom".into()]);
    assert_eq!(
        console_messages(&stderr),
        Vec::<&str>::new(),
        "{name}: console errors"
    );
    let figs = figures(&dom);
    let got: Vec<&str> = figs.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(got, ids, "{name}: every chart, once");
    for (id, fig) in &figs {
        assert!(
            fig.contains("<svg") && fig.contains("viewBox"),
            "{id}: no SVG"
        );
        assert!(
            shapes(fig) > 10,
            "{id}: an empty drawing ({} shapes)",
            shapes(fig)
        );
        assert!(fig.contains("<figcaption>"), "{id}: no caption");
        for label in labels {
            assert!(fig.contains(label), "{id} never names {label}");
        }
    }
    let text = text_of(&dom);
    for label in labels {
        assert!(text.contains(label), "{name}: the page never names {label}");
    }
    for section in sections {
        assert!(
            dom.contains(&format!("<h2>{section}</h2>")),
            "{name}: no {section}"
        );
    }
    let shots = root().join("target/report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for (kind, width, height) in [("desktop", 1280, heights.0), ("phone", 390, heights.1)] {
        let png = shots.join(format!("{name}-{kind}.png"));
        let _ = std::fs::remove_file(&png);
        let (_, stderr) = headless(
            chrome,
            page,
            &[
                format!("--screenshot={}", png.display()),
                format!("--window-size={width},{height}"),
            ],
        );
        assert_eq!(console_messages(&stderr), Vec::<&str>::new());
        let bytes = std::fs::read(&png).expect("a screenshot");
        assert_eq!(png_size(&bytes), (width, height));
        assert!(
            bytes.len() > 40_000,
            "{name} {kind}: a near-empty screenshot ({} bytes)",
            bytes.len()
        );
        eprintln!("screenshot {}: {} bytes", png.display(), bytes.len());
    }
}

#[test]
fn sweep_and_plan_pages_render_in_headless_chromium() {
    let Some(chrome) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    capacity_out(POOLS_BATCH, USL_SWEEP, dir.path());
    check_in_browser(
        &chrome,
        &dir.path().join("pools.sweep.html"),
        &["sweep-p99", "sweep-p50", "sweep-throughput"],
        &POOL_LABELS,
        &["Sweep", "Results", "USL fit", "Charts"],
        "sweep",
        (4200, 5600),
    );
    capacity_out(
        POOLS,
        &[
            "plan",
            "CONFIG",
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
        ],
        dir.path(),
    );
    check_in_browser(
        &chrome,
        &dir.path().join("pools.plan.html"),
        &["plan-requests.p50", "plan-throughput"],
        &POOL_LABELS,
        &["Plan", "Results", "Verdict", "Charts", "Probes"],
        "plan",
        (3600, 5600),
    );
    // `plan --least`: the fewest workers for 1,500 requests/s; the GIL
    // pool cannot serve them with any number (doom at HI).
    let least = tempfile::tempdir().unwrap();
    capacity_out(&pools_at_1500(), LEAST_PLAN, least.path());
    let page = least.path().join("pools.plan.html");
    check_in_browser(
        &chrome,
        &page,
        &["plan-requests.p50"],
        &POOL_LABELS,
        &["Plan", "Results", "Verdict", "Charts", "Probes"],
        "plan-least",
        (3600, 5600),
    );
    let (dom, _) = headless(&chrome, &page, &["--dump-dom".into()]);
    let text = text_of(&dom);
    for phrase in [
        "Least backend.*.workers in 1..32",
        "p99 at min",
        "meets the SLO with the least backend.*.workers",
        "least value that held",
    ] {
        assert!(
            text.contains(phrase),
            "the least plan's page never says {phrase:?}"
        );
    }
}
