//! A fuzz target on stable Rust over the config path: parse, validate,
//! plan, the preflight checks, and a little of every plan (arrivals and
//! job cursors), fed with inputs generated and mutated from `configs/`.
//!
//! Every input must end in a config or a config error, never a panic.
//!
//! - `smoke_fuzz_10k` (a normal test) runs 10,000 inputs.
//! - `fuzz_1m` (ignored by default) runs 1,000,000 and prints the count and
//!   the rate: `cargo test --release --test fuzz_config -- --ignored --nocapture`.
//!   `GILSIM_FUZZ_N` and `GILSIM_FUZZ_SEED` change the count and the seed.
//!
//! A panicking input is written to the temp directory and named in the
//! failure, so it can be replayed with `gilsim validate FILE`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use gilsim::config::{self, MAX_CONFIG_BYTES};
use gilsim::plan::{JobId, Plan};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// The example configs, the fuzzer's seeds.
fn seeds() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut out = Vec::new();
    for dir in [root.clone(), root.join("python")] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("configs/ is readable")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            out.push(std::fs::read_to_string(&p).expect("seed config is text"));
        }
    }
    assert!(out.len() >= 5, "expected the example configs as seeds");
    out
}

/// Values that sit on or past an edge somewhere in the config path.
const EDGE_VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "340282366920938463463374607431768211456",
    "1e309",
    "nan",
    "inf",
    "-inf",
    "0.0",
    "1e-320",
    "100000000",
    "100000001",
    "4096",
    "4097",
    "\"1e30s\"",
    "\"86400s\"",
    "\"86400.000000001s\"",
    "\"0.5ns\"",
    "\"0s\"",
    "\"\"",
    "\"\\u001b[2J\"",
    "\"a\\u0000b\"",
    "\"名前名前\"",
    "\"µs\"",
    "{ dist = \"lognormal\", median = \"0s\", p99 = \"1s\" }",
    "{ dist = \"normal\", mean = \"1ms\", stddev = \"86400s\" }",
    "{ dist = \"exp\", mean = \"0s\" }",
    "{ dist = \"uniform\", min = \"2ms\", max = \"1ms\" }",
    "{ rate = 1e-300 }",
    "{ rate = 1e300, process = \"uniform\" }",
    "{ closed = 0 }",
    "[]",
    "{}",
    "true",
    "1979-05-27T07:32:00Z",
];

/// Lines worth splicing in on their own.
const EXTRA_LINES: &[&str] = &[
    "[[group]]",
    "[[backend]]",
    "[group]",
    "[gil]",
    "kind = \"async-std\"",
    "workers = 3",
    "workers = 0",
    "flavor = \"current_thread\"",
    "cpu_mode = \"rayon\"",
    "jobs = 100000000",
    "arrival = { rate = 1000000, process = \"poisson\" }",
    "arrival = { closed = 100000000, think = \"86400s\" }",
    "steps = [{ counter = \"c\", add = 100000000, guard = \"lock\", switch_inside = true }]",
    "steps = [{ repeat = 18446744073709551615, steps = [{ cpu = \"1ns\" }] }]",
    "steps = [{ lock = \"l\", cpu = { dist = \"exp\", mean = \"1ms\" } }]",
    "name = \"a\\nb\"",
    "seed = 18446744073709551615",
    "switch_interval = \"1ns\"",
    "tick = \"86400s\"",
    "\u{0}",
    "\u{feff}",
    "'''",
    "\"\"\"",
];

/// A random config built from the grammar, mostly valid.
fn generate(rng: &mut Pcg64Mcg) -> String {
    let dur = |rng: &mut Pcg64Mcg| -> String {
        let units = ["ns", "us", "µs", "ms", "s"];
        match rng.random_range(0..6) {
            0 => format!(
                "{{ dist = \"exp\", mean = \"{}ms\" }}",
                rng.random_range(0..50)
            ),
            1 => format!(
                "{{ dist = \"uniform\", min = \"{}us\", max = \"{}us\" }}",
                rng.random_range(0..100),
                rng.random_range(0..200)
            ),
            2 => format!(
                "{{ dist = \"lognormal\", median = \"{}us\", p99 = \"{}ms\" }}",
                rng.random_range(0..100),
                rng.random_range(0..10)
            ),
            _ => format!(
                "\"{}{}\"",
                rng.random_range(0..2000),
                units[rng.random_range(0..units.len())]
            ),
        }
    };
    fn step(rng: &mut Pcg64Mcg, depth: u32, dur: &dyn Fn(&mut Pcg64Mcg) -> String) -> String {
        match rng.random_range(0..7) {
            0 => format!("{{ cpu = {} }}", dur(rng)),
            1 => format!("{{ native = {} }}", dur(rng)),
            2 => format!("{{ io = {} }}", dur(rng)),
            3 => format!(
                "{{ lock = \"l{}\", cpu = {} }}",
                rng.random_range(0..3),
                dur(rng)
            ),
            4 => format!(
                "{{ counter = \"c{}\", add = {}, guard = \"{}\" }}",
                rng.random_range(0..3),
                rng.random_range(0..1000),
                ["none", "lock", "atomic"][rng.random_range(0..3)]
            ),
            5 if depth < 12 => {
                let inner: Vec<String> = (0..rng.random_range(1..4))
                    .map(|_| step(rng, depth + 1, dur))
                    .collect();
                format!(
                    "{{ repeat = {}, steps = [{}] }}",
                    rng.random_range(0..20),
                    inner.join(", ")
                )
            }
            _ => format!("{{ io = {} }}", dur(rng)),
        }
    }
    let mut s = format!("name = \"gen\"\nseed = {}\n", rng.random::<u32>());
    if rng.random_bool(0.3) {
        s += "[gil]\nswitch_interval = \"5ms\"\ntick = \"1us\"\n";
    }
    for _ in 0..rng.random_range(0..4) {
        let kinds = ["threads", "rayon", "tokio", "async-std", "smol"];
        let kind = kinds[rng.random_range(0..kinds.len())];
        s += &format!(
            "[[backend]]\nkind = \"{kind}\"\ngil = {}\n",
            rng.random_bool(0.5)
        );
        if rng.random_bool(0.5) {
            s += &format!("workers = {}\n", rng.random_range(0..6));
        }
        if rng.random_bool(0.5) {
            s += &format!("name = \"b{}\"\n", rng.random_range(0..4));
        }
    }
    for g in 0..rng.random_range(0..4) {
        let arrival = match rng.random_range(0..3) {
            0 => "\"batch\"".to_string(),
            1 => format!(
                "{{ closed = {}, think = {} }}",
                rng.random_range(0..10),
                dur(rng)
            ),
            _ => format!(
                "{{ rate = {}, process = \"{}\" }}",
                rng.random_range(0..100_000),
                ["poisson", "uniform"][rng.random_range(0..2)]
            ),
        };
        let steps: Vec<String> = (0..rng.random_range(0..5))
            .map(|_| step(rng, 0, &dur))
            .collect();
        s += &format!(
            "[[group]]\nname = \"g{g}\"\njobs = {}\narrival = {arrival}\nsteps = [{}]\n",
            rng.random_range(0..100_000_000u64),
            steps.join(", ")
        );
    }
    s
}

/// One mutation of `input`, using `seeds` for splices.
fn mutate(input: &str, seeds: &[String], rng: &mut Pcg64Mcg) -> String {
    let mut bytes = input.as_bytes().to_vec();
    let at = |rng: &mut Pcg64Mcg, len: usize| rng.random_range(0..=len);
    match rng.random_range(0..10) {
        // Flip a bit.
        0 if !bytes.is_empty() => {
            let i = rng.random_range(0..bytes.len());
            bytes[i] ^= 1 << rng.random_range(0..8);
        }
        // Insert a random byte (control characters and high bytes too).
        1 => {
            let i = at(rng, bytes.len());
            bytes.insert(i, rng.random());
        }
        // Delete a range.
        2 if !bytes.is_empty() => {
            let i = rng.random_range(0..bytes.len());
            let n = rng.random_range(1..=(bytes.len() - i).min(64));
            bytes.drain(i..i + n);
        }
        // Splice in a line from another config.
        3 => {
            let other = &seeds[rng.random_range(0..seeds.len())];
            let lines: Vec<&str> = other.lines().collect();
            if !lines.is_empty() {
                let line = lines[rng.random_range(0..lines.len())];
                let mut mine: Vec<&str> = input.lines().collect();
                let i = at(rng, mine.len());
                mine.insert(i, line);
                return mine.join("\n");
            }
        }
        // Replace a number or a quoted value with an edge value.
        4 | 5 => {
            let text = input;
            let starts: Vec<usize> = text
                .char_indices()
                .filter(|(i, c)| {
                    (c.is_ascii_digit() || *c == '"')
                        && text[..*i]
                            .chars()
                            .last()
                            .is_some_and(|p| p == ' ' || p == '=')
                })
                .map(|(i, _)| i)
                .collect();
            if !starts.is_empty() {
                let s = starts[rng.random_range(0..starts.len())];
                let rest = &text[s..];
                let len = if let Some(quoted) = rest.strip_prefix('"') {
                    quoted.find('"').map_or(rest.len(), |e| e + 2)
                } else {
                    rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                        .unwrap_or(rest.len())
                };
                let edge = EDGE_VALUES[rng.random_range(0..EDGE_VALUES.len())];
                return format!("{}{edge}{}", &text[..s], &text[s + len..]);
            }
        }
        // Splice in a line that matters somewhere.
        6 => {
            let mut mine: Vec<&str> = input.lines().collect();
            let i = at(rng, mine.len());
            mine.insert(i, EXTRA_LINES[rng.random_range(0..EXTRA_LINES.len())]);
            return mine.join("\n");
        }
        // Deep nesting: repeats, arrays or inline tables.
        7 => {
            let d = rng.random_range(1..150);
            let (open, close) = match rng.random_range(0..3) {
                0 => ("{ repeat = 2, steps = [", "] }"),
                1 => ("[", "]"),
                _ => ("{ a = ", " }"),
            };
            let nested = format!("{}{{ cpu = \"1ms\" }}{}", open.repeat(d), close.repeat(d));
            return format!("{input}\n[[group]]\nsteps = [{nested}]\n");
        }
        // Duplicate a chunk (duplicate keys and tables).
        8 if !bytes.is_empty() => {
            let i = rng.random_range(0..bytes.len());
            let n = rng.random_range(1..=(bytes.len() - i).min(200));
            let chunk = bytes[i..i + n].to_vec();
            let j = at(rng, bytes.len());
            bytes.splice(j..j, chunk);
        }
        // Truncate.
        _ if !bytes.is_empty() => {
            let i = rng.random_range(0..bytes.len());
            bytes.truncate(i);
        }
        _ => {}
    }
    // The config path reads UTF-8 text; other bytes are refused at read
    // time (tested in the CLI tests), so keep the input text.
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Everything the config path does with one input. Returns whether it
/// was a valid config.
fn exercise(source: &str) -> bool {
    let path = Path::new("fuzz.toml");
    match config::parse(source, path) {
        Err(e) => {
            // Rendering the error (snippet, caret, escapes) is part of the path.
            let shown = e.to_string();
            assert!(!shown.contains('\u{1b}'), "raw ESC in {shown:?}");
            assert!(!shown.contains('\0'), "raw NUL in {shown:?}");
            false
        }
        Ok(set) => {
            let plan = Plan::new(&set);
            let _ = plan.totals();
            let _ = plan.longest_job(1.0);
            for (gi, g) in plan.groups.iter().enumerate() {
                if let Some(arrivals) = plan.open_arrivals(gi) {
                    let mut last = 0;
                    for t in arrivals.take(200) {
                        assert!(t >= last, "arrivals go back in time");
                        last = t;
                    }
                }
                for index in 0..g.jobs.min(3) {
                    let id = JobId { group: gi, index };
                    let _ = plan.think_before(id);
                    for _ in plan.cursor(id).take(200) {}
                }
            }
            let _ = gilsim::preflight::check(std::slice::from_ref(&set), 2, Some(16_384));
            true
        }
    }
}

/// Runs `n` inputs from `seed`; returns (valid configs, panics, first
/// panicking input's file).
fn fuzz(n: u64, seed: u64) -> (u64, u64, Option<PathBuf>) {
    let seeds = seeds();
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (mut valid, mut panics, mut first) = (0, 0, None);
    let mut current = seeds[0].clone();
    for i in 0..n {
        // Mostly chains of mutations from a seed, some fresh generated
        // configs, now and then back to a pristine seed.
        current = match rng.random_range(0..20) {
            0 => seeds[rng.random_range(0..seeds.len())].clone(),
            1..=3 => generate(&mut rng),
            _ => mutate(&current, &seeds, &mut rng),
        };
        if current.len() as u64 > MAX_CONFIG_BYTES || i % 64 == 0 && rng.random_bool(0.5) {
            current = seeds[rng.random_range(0..seeds.len())].clone();
        }
        match catch_unwind(AssertUnwindSafe(|| exercise(&current))) {
            Ok(true) => valid += 1,
            Ok(false) => {}
            Err(_) => {
                panics += 1;
                if first.is_none() {
                    let p = std::env::temp_dir().join(format!("gilsim-fuzz-panic-{seed}-{i}.toml"));
                    let _ = std::fs::write(&p, &current);
                    first = Some(p);
                }
            }
        }
    }
    std::panic::set_hook(hook);
    (valid, panics, first)
}

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run_and_check(default_n: u64) {
    let n = env_u64("GILSIM_FUZZ_N", default_n);
    let seed = env_u64("GILSIM_FUZZ_SEED", 1);
    let t = Instant::now();
    let (valid, panics, first) = fuzz(n, seed);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "fuzz: {n} inputs (seed {seed}), {valid} valid configs, {panics} panics, {secs:.1}s, {:.0} inputs/s",
        n as f64 / secs
    );
    assert_eq!(
        panics, 0,
        "{panics} inputs panicked; the first is saved in {first:?}"
    );
    // The mix must reach past the parser: some inputs are valid configs.
    assert!(
        valid > n / 50,
        "only {valid} of {n} inputs were valid configs"
    );
}

#[test]
fn smoke_fuzz_10k() {
    run_and_check(10_000);
}

#[test]
#[ignore = "1M inputs, about a minute in release; run with --ignored"]
fn fuzz_1m() {
    run_and_check(1_000_000);
}

#[test]
fn mutations_are_deterministic_and_varied() {
    let seeds = seeds();
    let run = || {
        let mut rng = Pcg64Mcg::seed_from_u64(9);
        (0..200)
            .map(|_| mutate(&seeds[0], &seeds, &mut rng))
            .collect::<Vec<_>>()
    };
    let a = run();
    assert_eq!(a, run());
    let distinct: std::collections::HashSet<_> = a.iter().collect();
    assert!(distinct.len() > 150, "{} distinct mutants", distinct.len());
}
