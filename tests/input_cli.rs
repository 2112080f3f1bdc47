//! Bad and hostile input on the real binary: bounded reads, refusals that
//! `validate` and `run` share (with file:line:col), escaped output, wording.

mod common;

use common::*;
use predicates::prelude::*;

#[test]
fn validate_dev_zero_is_refused_at_the_size_cap() {
    let t = std::time::Instant::now();
    gilsim()
        .args(["validate", "/dev/zero"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "larger than 1048576 bytes (1 MiB)",
        ));
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn validate_refuses_what_run_refuses_with_a_position() {
    let dir = tempfile::tempdir().unwrap();
    let astd = config(
        &dir,
        "astd",
        "[[backend]]\nkind = \"async-std\"\nworkers = 1\nname = \"one\"\n[[backend]]\nkind = \"async-std\"\nworkers = 2\nname = \"two\"\n[[group]]\nsteps = [{ io = \"1ms\" }]\n",
    );
    let many = config(
        &dir,
        "many",
        "[[backend]]\nkind = \"rayon\"\n[[backend]]\nkind = \"threads\"\n[[group]]\njobs = 100000\nsteps = [{ io = \"1ms\" }]\n",
    );
    for cmd in ["validate", "run"] {
        gilsim()
            .arg(cmd)
            .arg(&astd)
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(
                "astd.toml:7:1: error: backend `two`",
            ))
            .stderr(predicate::str::contains("same `workers`"))
            .stderr(predicate::str::contains("7 | workers = 2"));
        // The rayon backend comes first, but nothing runs: the refusal of
        // the threads backend is found before the first backend starts.
        let t = std::time::Instant::now();
        gilsim()
            .arg(cmd)
            .arg(&many)
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(
                "many.toml:4:1: error: backend `threads` would start 100000 OS threads",
            ))
            .stderr(predicate::str::contains("--max-threads"));
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{cmd} ran something"
        );
    }
}

#[test]
fn async_std_clash_across_files_points_at_the_second_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = config(
        &dir,
        "a",
        "[[backend]]\nkind = \"async-std\"\nworkers = 1\n[[group]]\nsteps = [{ io = \"1ms\" }]\n",
    );
    let b = config(&dir, "b", "# b\n[[backend]]\nkind = \"async-std\"\nworkers = 3\n[[group]]\nsteps = [{ io = \"1ms\" }]\n");
    gilsim()
        .arg("validate")
        .arg(&a)
        .arg(&b)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("b.toml:4:1: error:"))
        .stderr(predicate::str::contains("asks for 1 worker and"));
}

#[test]
fn control_characters_never_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        &dir,
        "esc",
        "name = \"a\\nb\\u001b[2J\"\n[[group]]\nsteps = [{ io = \"1ms\" }] # \u{1b}[2J\n",
    );
    let out = gilsim().arg("validate").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(stderr.contains("\\u{1b}[2J"), "{stderr}");
    // A description is free text: accepted, printed escaped.
    let path = config(
        &dir,
        "desc",
        "description = \"x\\u001b[31my\\u0000\"\n[[group]]\nsteps = [{ io = \"1ms\" }]\n",
    );
    let out = gilsim().arg("validate").arg(&path).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("x\\u{1b}[31my\\0"), "{stdout}");
}

#[test]
fn runaway_values_give_short_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        &dir,
        "digits",
        &format!(
            "[[group]]\nsteps = [{{ io = \"{}s\" }}]\n",
            "9".repeat(10_000)
        ),
    );
    let out = gilsim().arg("validate").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr.len() < 1_000,
        "{} bytes of error",
        out.stderr.len()
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("too large") && stderr.contains("(10001 characters)"),
        "{stderr}"
    );
}

#[test]
fn validate_counts_agree_with_their_nouns() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        &dir,
        "one",
        "[[group]]\njobs = 1\narrival = { closed = 1 }\nsteps = [{ io = \"1ms\" }]\n",
    );
    gilsim()
        .arg("validate")
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains("1 job "))
        .stdout(predicate::str::contains("closed, 1 client"))
        .stdout(predicate::str::contains("total: 1 job;"))
        .stdout(predicate::str::contains("1 clients").not())
        .stdout(predicate::str::contains("1 jobs").not());
}

#[test]
fn validate_of_a_hundred_million_open_loop_jobs_is_instant_and_small() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        &dir,
        "big",
        "[[group]]\njobs = 100000000\narrival = { rate = 1000000 }\nsteps = [{ io = \"1ms\" }]\n",
    );
    let t = std::time::Instant::now();
    gilsim()
        .arg("validate")
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains("100000000 jobs"))
        .stdout(predicate::str::contains("open poisson, over ~100.00s"));
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
}
