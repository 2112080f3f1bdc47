//! Hostile saved JSON given to the commands that read it back (`gilsim
//! report`, `compare`, `merge`), and hostile names through every file
//! format. Model engine only: nothing here is timed.

mod common;

use std::path::{Path, PathBuf};

use common::{config, model_gilsim, model_toml, success};
use serde_json::Value;

/// A small config on two backends and two groups.
const SMALL: &str = r#"
name = "small"
seed = 5
[[backend]]
kind = "threads"
gil = true
name = "threads+gil"
workers = 2
[[backend]]
kind = "threads"
name = "threads"
workers = 2
[[group]]
name = "a"
jobs = 10
steps = [{ cpu = "1ms" }]
[[group]]
name = "b"
jobs = 10
steps = [{ io = "1ms" }]
"#;

fn write_json(dir: &tempfile::TempDir, name: &str, v: &Value) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, v.to_string()).unwrap();
    path
}

/// Runs gilsim with `args`; asserts exit 2 with one message naming
/// `names` and containing `has`; returns stderr.
fn refused(args: &[&std::ffi::OsStr], names: &Path, has: &str) -> String {
    let out = model_gilsim()
        .args(args)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&names.display().to_string()) && stderr.contains(has),
        "expected `{has}` about {}: {stderr}",
        names.display()
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// A change made to a good report.
type Edit = fn(&mut Value);

fn os(s: &Path) -> &std::ffi::OsStr {
    s.as_os_str()
}

/// Runs the config at `path` on the model engine with `--out out`,
/// asserting it succeeds; returns `out`.
fn run_out(path: &Path, out: &Path) -> PathBuf {
    success(
        model_gilsim()
            .arg("run")
            .arg(path)
            .args(["--engine", "model", "--format", "json", "-q", "--out"])
            .arg(out),
    );
    out.to_path_buf()
}

#[test]
fn dev_zero_is_refused_by_every_reader_at_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_json(&dir, "good.json", &model_toml(SMALL, &[]));
    let zero = Path::new("/dev/zero");
    let out = dir.path().join("out");
    let limit = "larger than 268435456 bytes";
    refused(
        &["report".as_ref(), os(zero), "--out".as_ref(), os(&out)],
        zero,
        limit,
    );
    refused(&["compare".as_ref(), os(&good), os(zero)], zero, limit);
    refused(&["merge".as_ref(), os(zero)], zero, limit);
}

#[test]
fn compare_says_where_a_field_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let good = model_toml(SMALL, &[]);
    let base = write_json(&dir, "base.json", &good);
    let mut bad = good.clone();
    bad["runs"][0]["jobs"] = Value::from("many");
    let new = write_json(&dir, "new.json", &bad);
    refused(
        &["compare".as_ref(), os(&base), os(&new)],
        &new,
        "invalid type: string \"many\", expected u64 at line 1 column",
    );
}

#[test]
fn a_bad_histogram_is_bad_input_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = model_toml(SMALL, &[]);
    r["runs"][1]["groups"][1]["latency_histogram"] = Value::from("!!not base64");
    let path = write_json(&dir, "r.json", &r);
    let out = dir.path().join("out");
    refused(
        &["report".as_ref(), os(&path), "--out".as_ref(), os(&out)],
        &path,
        "the latency histogram of threads / b: not base64",
    );
    let files = std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0);
    assert_eq!(files, 0, "nothing is written for a bad input");
}

#[test]
fn names_with_control_characters_duplicates_and_negative_figures_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = model_toml(SMALL, &[]);
    let base = write_json(&dir, "base.json", &good);
    let out = dir.path().join("out");
    let cases: [(&str, Edit, &str); 5] = [
        (
            "ctrl",
            |r| r["runs"][0]["backend"] = Value::from("a\u{1b}[2Jb"),
            "contains the control character U+001B",
        ),
        (
            "nul",
            |r| r["config"] = Value::from("x\u{0}y"),
            "contains the control character U+0000",
        ),
        (
            "dup_backend",
            |r| r["runs"][1]["backend"] = Value::from("threads+gil"),
            "two runs labelled `threads+gil`",
        ),
        (
            "dup_group",
            |r| r["runs"][0]["groups"][1]["name"] = Value::from("a"),
            "two groups named `a`",
        ),
        (
            "negative",
            |r| r["runs"][0]["throughput_per_s"] = Value::from(-1e308),
            "`throughput_per_s` is -1e308; it cannot be negative",
        ),
    ];
    for (name, edit, has) in cases {
        let mut r = good.clone();
        edit(&mut r);
        let path = write_json(&dir, &format!("{name}.json"), &r);
        let stderr = refused(&["compare".as_ref(), os(&base), os(&path)], &path, has);
        assert!(
            !stderr.contains('\u{1b}') && !stderr.contains('\0'),
            "{stderr:?}"
        );
        refused(
            &["report".as_ref(), os(&path), "--out".as_ref(), os(&out)],
            &path,
            has,
        );
    }
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().count() == 0);
}

/// Backends and groups whose names differ but make one file name each get
/// their own `.hgrm` file, from `run --out` and from `report`.
#[test]
fn names_that_make_one_file_name_do_not_overwrite_each_others_hgrm() {
    let toml = SMALL
        .replace("name = \"threads+gil\"", "name = \"x y\"")
        .replace("name = \"threads\"", "name = \"x/y\"")
        .replace("name = \"a\"", "name = \"g?\"")
        .replace("name = \"b\"", "name = \"g*\"");
    let dir = tempfile::tempdir().unwrap();
    let path = config(&dir, "c", &toml);
    let out = run_out(&path, &dir.path().join("out"));
    let mut hgrms: Vec<String> = walk(&out.join("small"));
    hgrms.sort();
    assert_eq!(
        hgrms,
        [
            "x_y-2/g_-2.hgrm",
            "x_y-2/g_.hgrm",
            "x_y/g_-2.hgrm",
            "x_y/g_.hgrm"
        ]
    );
    let again = dir.path().join("again");
    let report = model_gilsim()
        .arg("report")
        .arg(out.join("small.json"))
        .arg("--out")
        .arg(&again)
        .output()
        .unwrap();
    assert!(report.status.success());
    for f in &hgrms {
        assert_eq!(
            std::fs::read(out.join("small").join(f)).unwrap(),
            std::fs::read(again.join("small").join(f)).unwrap()
        );
    }
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            for f in walk(&p) {
                out.push(format!("{}/{f}", p.file_name().unwrap().to_string_lossy()));
            }
        } else {
            out.push(p.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    out
}

#[test]
fn markdown_shows_html_in_names_as_text() {
    let toml = SMALL
        .replace("name = \"small\"", "name = \"<script>alert(1)</script>\"")
        .replace("name = \"a\"", "name = \"<!-- a | b\"");
    let dir = tempfile::tempdir().unwrap();
    let path = config(&dir, "c", &toml);
    let out = run_out(&path, &dir.path().join("out"));
    let md = std::fs::read_to_string(out.join("_script_alert_1___script_.md")).unwrap();
    assert!(
        md.starts_with("## \\<script\\>alert(1)\\</script\\>\n"),
        "{md}"
    );
    assert!(md.contains("| \\<!-- a \\| b |"), "{md}");
    for ext in ["md", "html", "svg"] {
        let text =
            std::fs::read_to_string(out.join(format!("_script_alert_1___script_.{ext}"))).unwrap();
        // In markdown `\<` is an escaped `<`, shown as text.
        let raw = text.replace("\\<", "");
        assert!(!raw.contains("<script"), "{ext}: a raw <script");
    }
}

fn sweep_shards(dir: &tempfile::TempDir, cores: [&str; 2]) -> [PathBuf; 2] {
    [0, 1].map(|k| sweep_shard(dir, "c", SMALL, cores[k], k))
}

/// Shard `k` of 2 of a model sweep over `backend.*.workers=1,2,3,4` of the
/// config `toml` (written as `name`) on `cores` virtual cores; returns
/// the shard's JSON file.
fn sweep_shard(dir: &tempfile::TempDir, name: &str, toml: &str, cores: &str, k: usize) -> PathBuf {
    let path = config(dir, name, toml);
    let out = success(
        model_gilsim()
            .arg("sweep")
            .arg(&path)
            .args(["--engine", "model", "--format", "json", "-q"])
            .args(["--set", "backend.*.workers=1,2,3,4"])
            .args(["--cores", cores])
            .arg("--shard")
            .arg(format!("{k}/2")),
    );
    let p = dir.path().join(format!("{name}.{k}.json"));
    std::fs::write(&p, out.stdout).unwrap();
    p
}

#[test]
fn merge_refuses_an_edited_point_count_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = sweep_shards(&dir, ["2", "2"]);
    let mut edited: Value = serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
    // Used to walk 10^18 points looking for the missing ones.
    edited["sweep"]["points_total"] = Value::from(1_000_000_000_000_000_000u64);
    let b2 = write_json(&dir, "edited.json", &edited);
    refused(
        &["merge".as_ref(), os(&a), os(&b2)],
        &b2,
        "`points_total` is 1000000000000000000, but the keys' values make 4",
    );
    edited["sweep"]["points_total"] = Value::from(4);
    edited["sweep"]["runs"] = Value::from(0);
    let b3 = write_json(&dir, "runs.json", &edited);
    refused(&["merge".as_ref(), os(&a), os(&b3)], &b3, "`runs` is 0");
}

/// Shards must come from one config: a copy edited on one machine (the
/// same name, keys and values) is refused, a comment is not an edit.
#[test]
fn merge_refuses_shards_of_configs_that_differ() {
    let dir = tempfile::tempdir().unwrap();
    let shard = |name: &str, toml: &str, k: usize| sweep_shard(&dir, name, toml, "2", k);
    let a = shard("a", SMALL, 0);
    let commented = shard("b", &format!("# the same, commented\n{SMALL}"), 1);
    success(model_gilsim().arg("merge").args([&a, &commented]));
    let edited = shard(
        "c",
        &SMALL.replace("jobs = 10\nsteps = [{ io", "jobs = 11\nsteps = [{ io"),
        1,
    );
    refused(
        &["merge".as_ref(), os(&a), os(&edited)],
        &edited,
        "not shards of one sweep: their configs' contents (config_sha256) differ",
    );
}

/// Merge places points by index and shows them by their set: a point
/// whose set was edited to another point's values would be shown there.
#[test]
fn merge_refuses_a_point_whose_set_is_not_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = sweep_shards(&dir, ["2", "2"]);
    let mut edited: Value = serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
    // Shard 1/2 holds points 1 and 3 (workers 2 and 4); point 1 now says 1.
    assert_eq!(edited["sweep"]["points"][0]["index"], Value::from(1));
    edited["sweep"]["points"][0]["set"]["backend.*.workers"] = Value::from(1);
    let b2 = write_json(&dir, "edited.json", &edited);
    refused(
        &["merge".as_ref(), os(&a), os(&b2)],
        &b2,
        "point 1 run 0 is set to backend.*.workers=1, but point 1 of the keys' values is backend.*.workers=2",
    );
}

#[test]
fn merge_refuses_model_shards_run_on_other_virtual_cores() {
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = sweep_shards(&dir, ["2", "8"]);
    refused(
        &["merge".as_ref(), os(&a), os(&b)],
        &b,
        "not shards of one sweep: they ran on 2 and 8 virtual cores",
    );
}
