//! End-to-end tests of `parse`: good configs, a table of bad ones, and
//! property tests that nothing panics and every position is real.

use std::path::Path;
use std::time::Duration;

use super::*;

fn parse_ok(source: &str) -> JobSet {
    match parse(source, Path::new("configs/demo.toml")) {
        Ok(set) => set,
        Err(e) => panic!("config should parse:\n{source}\n---\n{e}"),
    }
}

fn ms(n: u64) -> DurationSpec {
    DurationSpec::Fixed(Duration::from_millis(n))
}

fn us(n: u64) -> DurationSpec {
    DurationSpec::Fixed(Duration::from_micros(n))
}

// ---------------------------------------------------------------- good configs

#[test]
fn gil_costs_and_counter_share_are_read_and_default_per_key() {
    let set = parse_ok(
        "[gil]\ncounter_inside_share = 0.4\ntimer_slack = \"1ns\"\n[gil.cost]\nresume = \"20us\"\nsubmit = \"0s\"\n[[group]]\nsteps = [{ io = \"1ms\" }]\n",
    );
    assert_eq!(set.gil.counter_inside_share, 0.4);
    assert_eq!(set.gil.timer_slack, Duration::from_nanos(1));
    let defaults = InterpreterCosts::default();
    assert_eq!(
        set.gil.cost,
        InterpreterCosts {
            resume: Duration::from_micros(20),
            submit: Duration::ZERO,
            ..defaults
        }
    );
    let plain = parse_ok("[[group]]\nsteps = [{ io = \"1ms\" }]\n");
    assert_eq!(plain.gil.cost, defaults);
    assert_eq!(
        plain.gil.counter_inside_share,
        GilSettings::DEFAULT_COUNTER_INSIDE_SHARE
    );
}

#[test]
fn minimal_config_gets_every_default() {
    let set = parse_ok("[[group]]\nsteps = [{ cpu = \"1ms\" }]\n");
    assert_eq!(
        set,
        JobSet {
            name: "demo".into(),
            description: None,
            seed: 0,
            gil: GilSettings::default(),
            model_cores: None,
            backends: BackendSpec::default_set(),
            groups: vec![GroupSpec {
                name: "group1".into(),
                jobs: 1,
                arrival: Arrival::Batch,
                steps: vec![Step::Cpu(ms(1))],
            }],
            source: "configs/demo.toml".into(),
        }
    );
    assert_eq!(set.gil.switch_interval, Duration::from_millis(5));
}

#[test]
fn spec_example_parses() {
    let set = parse_ok(
        r#"
name = "convoy"                 # default: the file's stem
description = "IO loop beside a CPU loop under a GIL"
seed = 42                       # default 0

[gil]
switch_interval = "5ms"
tick = "5us"

[[backend]]
kind = "threads"
gil = true
name = "python-threads"
workers = 0

[[group]]
name = "cpu"
jobs = 1
steps = [{ cpu = "2s" }]

[[group]]
name = "io"
jobs = 300
arrival = { closed = 1 }
steps = [{ io = "1ms" }]
"#,
    );
    assert_eq!(set.name, "convoy");
    assert_eq!(
        set.description.as_deref(),
        Some("IO loop beside a CPU loop under a GIL")
    );
    assert_eq!(set.seed, 42);
    assert_eq!(
        set.gil,
        GilSettings {
            switch_interval: Duration::from_millis(5),
            tick: Duration::from_micros(5),
            ..GilSettings::default()
        }
    );
    assert_eq!(
        set.backends,
        vec![BackendSpec {
            kind: BackendKind::Threads,
            gil: true,
            name: "python-threads".into(),
            workers: 0,
            flavor: None,
            cpu_mode: None,
            processes: 1,
            dispatch: Dispatch::SharedQueue,
        }]
    );
    assert_eq!(set.groups.len(), 2);
    assert_eq!(set.groups[0].steps, vec![Step::Cpu(ms(2000))]);
    assert_eq!(set.groups[1].jobs, 300);
    assert_eq!(
        set.groups[1].arrival,
        Arrival::Closed {
            clients: 1,
            think: None
        }
    );
}

#[test]
fn every_step_kind_parses() {
    let set = parse_ok(
        r#"
[[group]]
steps = [
  { cpu = "1ms" },
  { native = "250ns" },
  { io = "40us" },
  { lock = "db", cpu = "2ms" },
  { counter = "hits", add = 1000 },
  { counter = "misses", add = 3, guard = "atomic", switch_inside = true },
  { repeat = 3, steps = [{ io = "1ms" }, { repeat = 2, steps = [{ cpu = "0s" }] }] },
]
"#,
    );
    assert_eq!(
        set.groups[0].steps,
        vec![
            Step::Cpu(ms(1)),
            Step::Native(DurationSpec::Fixed(Duration::from_nanos(250))),
            Step::Io(us(40)),
            Step::Lock {
                name: "db".into(),
                cpu: ms(2)
            },
            Step::Counter {
                name: "hits".into(),
                add: 1000,
                guard: Guard::None,
                switch_inside: false
            },
            Step::Counter {
                name: "misses".into(),
                add: 3,
                guard: Guard::Atomic,
                switch_inside: true
            },
            Step::Repeat {
                times: 3,
                steps: vec![
                    Step::Io(ms(1)),
                    Step::Repeat {
                        times: 2,
                        steps: vec![Step::Cpu(ms(0))]
                    }
                ]
            },
        ]
    );
}

#[test]
fn distributions_parse() {
    let set = parse_ok(
        r#"
[[group]]
steps = [
  { io = { dist = "exp", mean = "1ms" } },
  { io = { dist = "uniform", min = "1ms", max = "3ms" } },
  { io = { dist = "uniform", min = "2ms", max = "2ms" } },
  { cpu = { dist = "normal", mean = "1ms", stddev = "200us" } },
  { native = { dist = "lognormal", median = "1ms", p99 = "20ms" } },
]
"#,
    );
    assert_eq!(
        set.groups[0].steps,
        vec![
            Step::Io(DurationSpec::Exp {
                mean: ms(1).fixed()
            }),
            Step::Io(DurationSpec::Uniform {
                min: ms(1).fixed(),
                max: ms(3).fixed()
            }),
            Step::Io(DurationSpec::Uniform {
                min: ms(2).fixed(),
                max: ms(2).fixed()
            }),
            Step::Cpu(DurationSpec::Normal {
                mean: ms(1).fixed(),
                stddev: us(200).fixed()
            }),
            Step::Native(DurationSpec::LogNormal {
                median: ms(1).fixed(),
                p99: ms(20).fixed()
            }),
        ]
    );
}

/// Test-only shorthand: the duration inside a `Fixed`.
trait FixedExt {
    fn fixed(self) -> Duration;
}

impl FixedExt for DurationSpec {
    fn fixed(self) -> Duration {
        match self {
            DurationSpec::Fixed(d) => d,
            other => panic!("not fixed: {other:?}"),
        }
    }
}

#[test]
fn arrivals_parse() {
    let set = parse_ok(
        r#"
[[group]]
name = "a"
arrival = "batch"
steps = [{ io = "1ms" }]
[[group]]
name = "b"
arrival = { closed = 4, think = { dist = "exp", mean = "10ms" } }
steps = [{ io = "1ms" }]
[[group]]
name = "c"
arrival = { rate = 250 }
steps = [{ io = "1ms" }]
[[group]]
name = "d"
arrival = { rate = 0.5, process = "uniform" }
steps = [{ io = "1ms" }]
"#,
    );
    let arrivals: Vec<&Arrival> = set.groups.iter().map(|g| &g.arrival).collect();
    assert_eq!(
        arrivals,
        vec![
            &Arrival::Batch,
            &Arrival::Closed {
                clients: 4,
                think: Some(DurationSpec::Exp {
                    mean: ms(10).fixed()
                })
            },
            &Arrival::Open {
                rate: 250.0,
                process: ArrivalProcess::Poisson
            },
            &Arrival::Open {
                rate: 0.5,
                process: ArrivalProcess::Uniform
            },
        ]
    );
}

#[test]
fn backends_get_kind_specific_defaults() {
    let set = parse_ok(
        r#"
[[backend]]
kind = "threads"
workers = 8
[[backend]]
kind = "rayon"
gil = true
[[backend]]
kind = "tokio"
[[backend]]
kind = "tokio"
name = "asyncio"
gil = true
flavor = "current_thread"
workers = 1
cpu_mode = "spawn_blocking"
[[backend]]
kind = "async-std"
cpu_mode = "rayon"
[[backend]]
kind = "smol"
workers = 4096
[[backend]]
kind = "tokio"
flavor = "asyncio"
name = "aio"

[[group]]
steps = [{ io = "1ms" }]
"#,
    );
    let mut threads = BackendSpec::new(BackendKind::Threads, false);
    threads.workers = 8;
    let mut smol = BackendSpec::new(BackendKind::Smol, false);
    smol.workers = 4096;
    let mut async_std = BackendSpec::new(BackendKind::AsyncStd, false);
    async_std.cpu_mode = Some(CpuMode::Rayon);
    let mut aio = BackendSpec::new(BackendKind::Tokio, false);
    aio.flavor = Some(Flavor::Asyncio);
    aio.name = "aio".into();
    assert_eq!(
        set.backends,
        vec![
            threads,
            BackendSpec::new(BackendKind::Rayon, true),
            BackendSpec::new(BackendKind::Tokio, false),
            BackendSpec {
                kind: BackendKind::Tokio,
                gil: true,
                name: "asyncio".into(),
                workers: 1,
                flavor: Some(Flavor::CurrentThread),
                cpu_mode: Some(CpuMode::SpawnBlocking),
                processes: 1,
                dispatch: Dispatch::SharedQueue,
            },
            async_std,
            smol,
            aio,
        ]
    );
    assert_eq!(set.backends[1].name, "rayon+gil");
    assert_eq!(set.backends[6].resolved_workers(64), 1);
}

#[test]
fn gil_defaults_fill_in_separately() {
    let set = parse_ok("[gil]\ntick = \"2us\"\n[[group]]\nsteps = [{ io = \"1ms\" }]\n");
    assert_eq!(
        set.gil.switch_interval,
        GilSettings::DEFAULT_SWITCH_INTERVAL
    );
    assert_eq!(set.gil.tick, Duration::from_micros(2));
    let set = parse_ok("[gil]\nswitch_interval = \"1ms\"\n[[group]]\nsteps = [{ io = \"1ms\" }]\n");
    assert_eq!(set.gil.switch_interval, Duration::from_millis(1));
    assert_eq!(set.gil.tick, GilSettings::DEFAULT_TICK);
}

#[test]
fn big_seeds_and_array_of_table_steps_parse() {
    let set = parse_ok(
        "seed = 18446744073709551615\n[[group]]\njobs = 100000000\n\
         [[group.steps]]\ncpu = \"1ms\"\n[[group.steps]]\nio = \"1ms\"\n",
    );
    assert_eq!(set.seed, u64::MAX);
    assert_eq!(set.groups[0].jobs, limits::MAX_JOBS);
    assert_eq!(set.groups[0].steps, vec![Step::Cpu(ms(1)), Step::Io(ms(1))]);
}

#[test]
fn nesting_and_step_count_limits_are_inclusive() {
    // Exactly MAX_NESTING repeats deep, exactly MAX_STEPS_PER_JOB steps.
    let mut steps = "[{ io = \"1ms\" }]".to_string();
    for times in [10, 10, 10, 10, 10, 10, 10, 10] {
        steps = format!("[{{ repeat = {times}, steps = {steps} }}]");
    }
    let set = parse_ok(&format!("[[group]]\nsteps = {steps}\n"));
    assert_eq!(step::executions(&set.groups[0].steps), 100_000_000);
}

#[test]
fn name_defaults_to_the_stem_of_any_path() {
    let src = "[[group]]\nsteps = [{ io = \"1ms\" }]\n";
    let name = |p: &str| parse(src, Path::new(p)).map(|s| s.name).unwrap_or_default();
    assert_eq!(name("a/b/convoy.toml"), "convoy");
    assert_eq!(name("plain"), "plain");
    assert_eq!(name("x.tar.toml"), "x.tar");
    assert_eq!(name(""), "config");
}

#[test]
fn load_reads_files_and_reports_io_errors() {
    let dir = std::env::temp_dir().join(format!("gilsim-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("loaded.toml");
    std::fs::write(&file, "[[group]]\nsteps = [{ io = \"1ms\" }]\n").expect("write");
    let set = load(&file).expect("loads");
    assert_eq!(set.name, "loaded");
    assert_eq!(set.source, file);

    let missing = dir.join("missing.toml");
    let err = load(&missing).expect_err("missing file");
    assert!(matches!(err, ConfigError::Io { .. }));
    assert!(err
        .to_string()
        .starts_with(&format!("{}: error: cannot read", missing.display())));
    assert_eq!(err.line(), None);
    let _ = std::fs::remove_dir_all(&dir);
}

// ----------------------------------------------------------------- bad configs

/// Steps for cases that are about something else.
const G: &str = "[[group]]\nsteps = [{ io = \"1ms\" }]\n";

/// `(source, line, column, phrase)`: parsing `source` must fail at
/// `line:column` with a message containing `phrase`.
fn bad_cases() -> Vec<(String, usize, usize, &'static str)> {
    let g = |s: &str| format!("[[group]]\n{s}\n");
    let step = |s: &str| format!("[[group]]\nsteps = [{s}]\n");
    let backend = |s: &str| format!("[[backend]]\n{s}\n{G}");
    vec![
        // Unknown keys, everywhere.
        (format!("colour = 1\n{G}"), 1, 1, "unknown key `colour`, expected one of `name`, `description`"),
        (backend("kind = \"rayon\"\nthreads = 4"), 3, 1, "unknown key `threads`, expected one of `kind`"),
        (g("name = \"a\"\njob = 3\nsteps = [{ io = \"1ms\" }]"), 3, 1, "unknown key `job`"),
        (step("{ io = \"1ms\", wait = true }"), 2, 24, "unknown key `wait`, expected one of `cpu`"),
        (step("{ io = { dist = \"exp\", mean = \"1ms\", rate = 2 } }"), 2, 47, "unknown key `rate`, expected one of `dist`"),
        (format!("[gil]\ninterval = \"5ms\"\n{G}"), 2, 1, "unknown key `interval`"),
        (g("arrival = { closed = 2, clients = 3 }\nsteps = [{ io = \"1ms\" }]"), 2, 25, "unknown key `clients`"),
        // Durations.
        (step("{ cpu = \"5m\" }"), 2, 18, "unknown unit \"m\""),
        (step("{ cpu = 5 }"), 2, 18, "expected a duration with a unit (\"250ns\", \"40us\", \"1.5ms\", \"2s\") or a distribution table, found integer `5`"),
        (step("{ io = 1.5 }"), 2, 17, "found float `1.5`"),
        (step("{ io = \"5\" }"), 2, 17, "missing unit in \"5\""),
        (step("{ io = \"-1ms\" }"), 2, 17, "cannot be negative"),
        (step("{ io = \"2d\" }"), 2, 17, "unknown unit \"d\""),
        (step("{ io = \"86401s\" }"), 2, 17, "longer than the limit"),
        (step("{ io = true }"), 2, 17, "found boolean `true`"),
        (step("{ io = { dist = \"uniform\", min = \"3ms\", max = \"1ms\" } }"), 2, 56, "`max` (1ms) must not be less than `min` (3ms)"),
        (step("{ io = { dist = \"lognormal\", median = \"10ms\", p99 = \"1ms\" } }"), 2, 62, "`p99` (1ms) must not be less than `median` (10ms)"),
        (step("{ io = { dist = \"lognormal\", median = \"0s\", p99 = \"1ms\" } }"), 2, 48, "`median` must be greater than 0"),
        (step("{ io = { dist = \"exp\", mean = \"1ms\", max = \"2ms\" } }"), 2, 47, "`max` is not a parameter of the exp distribution"),
        (step("{ io = { dist = \"normal\", mean = \"1ms\" } }"), 2, 17, "the normal distribution needs `stddev`"),
        (step("{ io = { dist = \"gauss\", mean = \"1ms\" } }"), 2, 26, "unknown distribution \"gauss\""),
        (step("{ io = { mean = \"1ms\" } }"), 2, 17, "missing key `dist`"),
        (step("{ io = { dist = \"exp\", mean = 3 } }"), 2, 40, "expected a duration with a unit"),
        (format!("[gil]\nswitch_interval = \"0s\"\n{G}"), 2, 19, "`switch_interval` must be greater than 0"),
        (format!("[gil]\ntick = \"0ns\"\n{G}"), 2, 8, "`tick` must be greater than 0"),
        (format!("[gil]\ntick = \"10ms\"\n{G}"), 2, 8, "`tick` (10ms) must not be longer than `switch_interval` (5ms)"),
        (format!("[gil]\nswitch_interval = \"500ns\"\n{G}"), 2, 19, "must not be longer than `switch_interval` (500ns)"),
        (format!("[gil]\ntick = {{ dist = \"exp\", mean = \"1us\" }}\n{G}"), 2, 8, "expected a duration with a unit (\"250ns\", \"40us\", \"1.5ms\", \"2s\"), found a table"),
        (format!("[gil]\ncounter_inside_share = 1.5\n{G}"), 2, 24, "`counter_inside_share` must be a number from 0 to 1"),
        (format!("[gil.cost]\nawait = \"1us\"\n{G}"), 2, 1, "unknown key `await`, expected one of `task`, `resume`, `io_call`, `submit`, `complete`"),
        (format!("[gil.cost]\nresume = 5\n{G}"), 2, 10, "expected a duration with a unit"),
        // Steps.
        (step("{ cpu = \"1ms\", io = \"1ms\" }"), 2, 10, "a step needs exactly one of cpu, native, io, lock, counter, repeat; found cpu and io"),
        (step("{ io = \"1ms\", repeat = 2, native = \"1ms\" }"), 2, 10, "found io, repeat and native"),
        (step("{ }"), 2, 10, "found none"),
        (step("{ guard = \"lock\" }"), 2, 10, "found only guard"),
        (step("{ io = \"1ms\", add = 3 }"), 2, 24, "`add` is not a key of io steps; it belongs to counter steps"),
        (step("{ lock = \"l\", cpu = \"1ms\", steps = [] }"), 2, 37, "`steps` is not a key of lock steps"),
        (step("{ lock = \"db\" }"), 2, 10, "a lock step needs `cpu`"),
        (step("{ lock = \"\", cpu = \"1ms\" }"), 2, 19, "a lock name cannot be empty"),
        (step("{ counter = \"c\" }"), 2, 10, "a counter step needs `add`"),
        (step("{ counter = \" \", add = 1 }"), 2, 22, "a counter name cannot be empty"),
        (step("{ counter = \"c\", add = 0 }"), 2, 33, "`add` must be at least 1, found 0"),
        (step("{ counter = \"c\", add = 1, guard = \"mutex\" }"), 2, 44, "unknown counter guard \"mutex\", expected one of \"none\", \"lock\", \"atomic\""),
        (step("{ counter = \"c\", add = 1, switch_inside = \"yes\" }"), 2, 52, "expected a boolean, found string \"yes\""),
        (step("{ repeat = 0, steps = [{ io = \"1ms\" }] }"), 2, 21, "`repeat` must be at least 1, found 0"),
        (step("{ repeat = 2 }"), 2, 10, "a repeat step needs `steps`"),
        (step("{ repeat = 2, steps = [] }"), 2, 32, "`steps` is empty"),
        (step("5"), 2, 10, "expected a step table such as { cpu = \"1ms\" }, found integer `5`"),
        (g("steps = []"), 2, 9, "`steps` is empty"),
        (g("steps = { io = \"1ms\" }"), 2, 9, "expected an array, found a table"),
        (g("name = \"x\""), 1, 1, "missing key `steps`"),
        (nested(9), 2, 196, "`repeat` nested 9 deep; at most 8 levels of repeat are allowed"),
        (step("{ repeat = 100000, steps = [{ repeat = 1001, steps = [{ io = \"1ms\" }] }] }"), 2, 9, "would execute 100100000 steps"),
        (step("{ counter = \"c\", add = 100000001 }"), 2, 33, "`add` must be at most 100000000"),
        // Groups.
        (g("jobs = 0\nsteps = [{ io = \"1ms\" }]"), 2, 8, "`jobs` must be at least 1, found 0"),
        (g("jobs = -5\nsteps = [{ io = \"1ms\" }]"), 2, 8, "`jobs` must be at least 1, found -5"),
        (g("jobs = 100000001\nsteps = [{ io = \"1ms\" }]"), 2, 8, "`jobs` must be at most 100000000"),
        (g("jobs = \"10\"\nsteps = [{ io = \"1ms\" }]"), 2, 8, "expected an integer, found string \"10\""),
        (format!("{G}name = \"a\"\n[[group]]\nname = \"a\"\nsteps = [{{ io = \"1ms\" }}]\n"), 5, 8, "group name `a` is already used (line 3)"),
        (g("name = \"\"\nsteps = [{ io = \"1ms\" }]"), 2, 8, "group `name` cannot be empty"),
        (g("name = \"*\"\nsteps = [{ io = \"1ms\" }]"), 2, 8, "group `name` cannot be `*`"),
        ("seed = 1\n".to_string(), 1, 1, "at least one [[group]]"),
        // Arrivals.
        (g("arrival = \"open\"\nsteps = [{ io = \"1ms\" }]"), 2, 11, "unknown arrival \"open\", expected \"batch\""),
        (g("arrival = 3\nsteps = [{ io = \"1ms\" }]"), 2, 11, "expected an arrival"),
        (g("arrival = { rate = 0 }\nsteps = [{ io = \"1ms\" }]"), 2, 20, "`rate` must be a finite number of jobs per second"),
        (g("arrival = { rate = -2.5 }\nsteps = [{ io = \"1ms\" }]"), 2, 20, "found -2.5"),
        (g("arrival = { rate = inf }\nsteps = [{ io = \"1ms\" }]"), 2, 20, "found inf"),
        (g("arrival = { rate = 10, process = \"bursty\" }\nsteps = [{ io = \"1ms\" }]"), 2, 34, "unknown arrival process \"bursty\""),
        (g("arrival = { closed = 0 }\nsteps = [{ io = \"1ms\" }]"), 2, 22, "`closed` must be at least 1, found 0"),
        (g("arrival = { closed = 2, rate = 5 }\nsteps = [{ io = \"1ms\" }]"), 2, 25, "either closed (`closed`) or open (`rate`), not both"),
        (g("arrival = { think = \"1ms\" }\nsteps = [{ io = \"1ms\" }]"), 2, 11, "needs `closed`"),
        (g("arrival = { rate = 5, think = \"1ms\" }\nsteps = [{ io = \"1ms\" }]"), 2, 23, "`think` only applies to closed arrivals"),
        (g("arrival = { closed = 5, process = \"uniform\" }\nsteps = [{ io = \"1ms\" }]"), 2, 25, "`process` only applies to open arrivals"),
        // Backends.
        (backend("kind = \"fibers\""), 2, 8, "unknown backend kind \"fibers\", expected one of \"threads\", \"rayon\", \"tokio\", \"async-std\", \"smol\""),
        (backend("kind = \"async_std\""), 2, 8, "(did you mean \"async-std\"?)"),
        (backend("gil = true"), 1, 1, "missing key `kind`"),
        (backend("kind = \"rayon\"\nflavor = \"current_thread\""), 3, 1, "`flavor` only applies to tokio backends, not rayon"),
        (backend("kind = \"threads\"\n  cpu_mode = \"rayon\""), 3, 3, "`cpu_mode` only applies to async backends (tokio, async-std, smol), not threads"),
        (backend("kind = \"tokio\"\nflavor = \"single\""), 3, 10, "unknown tokio flavor \"single\""),
        (backend("kind = \"tokio\"\ncpu_mode = \"blocking\""), 3, 12, "unknown cpu_mode \"blocking\""),
        (backend("kind = \"tokio\"\nflavor = \"current_thread\"\nworkers = 2"), 4, 11, "`workers` must be 0 or 1, found 2"),
        (backend("kind = \"tokio\"\nflavor = \"asyncio\"\nworkers = 3"), 4, 11, "an asyncio tokio runtime has exactly one worker; `workers` must be 0 or 1, found 3"),
        (backend("kind = \"smol\"\nflavor = \"asyncio\""), 3, 1, "`flavor` only applies to tokio backends, not smol"),
        (backend("kind = \"rayon\"\nworkers = 4097"), 3, 11, "`workers` must be at most 4096"),
        (backend("kind = \"rayon\"\nworkers = -1"), 3, 11, "`workers` cannot be negative, found -1"),
        (backend("kind = \"threads\"\nprocesses = 0"), 3, 13, "`processes` must be at least 1, found 0"),
        (backend("kind = \"threads\"\nprocesses = 257"), 3, 13, "`processes` must be at most 256"),
        (backend("kind = \"threads\"\nprocesses = \"4\""), 3, 13, "expected an integer"),
        (backend("kind = \"threads\"\ndispatch = \"round_robin\""), 3, 12, "unknown dispatch \"round_robin\", expected one of \"shared_queue\", \"random\""),
        (backend("kind = \"threads\"\ndispatch = \"shared-queue\""), 3, 12, "(did you mean \"shared_queue\"?)"),
        (backend("kind = \"rayon\"\ngil = \"true\""), 3, 7, "expected a boolean, found string \"true\""),
        (backend("kind = \"rayon\"\nname = \"\""), 3, 8, "backend `name` cannot be empty"),
        (backend("kind = \"rayon\"\nname = \" * \""), 3, 8, "backend `name` cannot be `*`"),
        (format!("[[backend]]\nkind = \"rayon\"\n[[backend]]\nkind = \"rayon\"\n{G}"), 4, 8, "backend name `rayon` is already used (line 2)"),
        (format!("[[backend]]\nkind = \"rayon\"\nname = \"x\"\n[[backend]]\nkind = \"tokio\"\nname = \"x\"\n{G}"), 6, 8, "backend name `x` is already used (line 3)"),
        (format!("backend = \"tokio\"\n{G}"), 1, 11, "expected an array, found string \"tokio\""),
        (format!("[backend]\nkind = \"tokio\"\n{G}"), 1, 1, "write [[backend]] (double brackets)"),
        // Top level.
        (format!("seed = -1\n{G}"), 1, 8, "`seed` cannot be negative, found -1"),
        (format!("seed = 18446744073709551616\n{G}"), 1, 8, "`seed` must be at most 18446744073709551615"),
        (format!("seed = 1.0\n{G}"), 1, 8, "expected an integer, found float `1.0`"),
        (format!("name = \"  \"\n{G}"), 1, 8, "`name` cannot be empty"),
        (format!("name = 7\n{G}"), 1, 8, "expected a string, found integer `7`"),
        (format!("gil = true\n{G}"), 1, 7, "expected a [gil] table, found boolean `true`"),
        (format!("{G}[[group]]\nsteps = [{{ io = \"1ms\" }}]\nsteps = []\n"), 5, 1, "duplicate key `steps`"),
        // TOML syntax, reported by toml itself.
        (format!("name = \n{G}"), 1, 8, "string values must be quoted"),
        (format!("name = \"unterminated\n{G}"), 1, 21, "invalid basic string"),
        (step("{ io = \"1ms\""), 2, 22, ""),
    ]
}

/// `depth` nested repeats around an io step, on one line.
fn nested(depth: usize) -> String {
    let mut steps = "[{ io = \"1ms\" }]".to_string();
    for _ in 0..depth {
        steps = format!("[{{ repeat = 2, steps = {steps} }}]");
    }
    format!("[[group]]\nsteps = {steps}\n")
}

#[test]
fn bad_configs_fail_at_the_right_place_with_a_clear_message() {
    let cases = bad_cases();
    assert!(cases.len() >= 25);
    let mut failures = Vec::new();
    for (source, line, column, phrase) in &cases {
        match parse(source, Path::new("configs/bad.toml")) {
            Ok(set) => failures.push(format!("{source:?}\n  parsed: {set:?}")),
            Err(e) => {
                let got = (e.line(), e.column());
                if got != (Some(*line), Some(*column)) || !e.message().contains(phrase) {
                    failures.push(format!(
                        "{source:?}\n  want {line}:{column} {phrase:?}\n  got  {e}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn error_display_is_one_message_with_the_line_and_a_caret() {
    let err = parse(
        "[[group]]\nsteps = [{ cpu = 5 }]\n",
        Path::new("configs/x.toml"),
    )
    .expect_err("bare number");
    assert_eq!(
        err.to_string(),
        "configs/x.toml:2:18: error: expected a duration with a unit (\"250ns\", \"40us\", \
         \"1.5ms\", \"2s\") or a distribution table, found integer `5`\n  \
         |\n2 | steps = [{ cpu = 5 }]\n  |                  ^"
    );
}

#[test]
fn every_bad_case_renders_its_own_source_line() {
    for (source, line, _, _) in bad_cases() {
        if let Err(ConfigError::Invalid { problem, .. }) = parse(&source, Path::new("b.toml")) {
            let expected = source.split('\n').nth(line - 1).unwrap_or("");
            assert_eq!(problem.snippet, expected, "{source:?}");
        }
    }
}

#[test]
fn crlf_line_endings_are_handled() {
    let err = parse(
        "[[group]]\r\nsteps = [{ cpu = 5 }]\r\n",
        Path::new("x.toml"),
    )
    .expect_err("bad");
    assert_eq!((err.line(), err.column()), (Some(2), Some(18)));
    assert!(err.to_string().contains("2 | steps = [{ cpu = 5 }]\n"));
}

#[test]
fn deep_toml_nesting_is_an_error_not_a_crash() {
    let deep = format!(
        "[[group]]\nsteps = {}{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    assert!(parse(&deep, Path::new("x.toml")).is_err());
    let deep = format!(
        "[[group]]\nsteps = [{}{}]\n",
        "{ repeat = 2, steps = [".repeat(200),
        "]}".repeat(200)
    );
    assert!(parse(&deep, Path::new("x.toml")).is_err());
    // As deep as the TOML parser allows: reaches our own nesting limit
    // without exhausting a 2 MiB test-thread stack on the way.
    for depth in [35, 38, 39, 40, 41] {
        assert!(parse(&nested(depth), Path::new("x.toml")).is_err());
    }
}

// ------------------------------------------------------------- property tests

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Asserts the invariants every outcome of `parse` must satisfy.
    fn check(source: &str) -> Result<(), TestCaseError> {
        let Err(err) = parse(source, Path::new("fuzz.toml")) else {
            return Ok(());
        };
        let problems = err.problems();
        prop_assert!(!problems.is_empty());
        // In file order: a user fixes them top to bottom.
        prop_assert!(problems
            .windows(2)
            .all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column)));
        for &Problem {
            line,
            column,
            ref snippet,
            highlight,
            ..
        } in problems
        {
            let lines: Vec<&str> = source.split('\n').collect();
            prop_assert!(
                line >= 1 && line <= lines.len(),
                "line {} of {}",
                line,
                lines.len()
            );
            let text = lines[line - 1]
                .strip_suffix('\r')
                .unwrap_or(lines[line - 1]);
            prop_assert_eq!(snippet.as_str(), text);
            prop_assert!(column >= 1 && column <= lines[line - 1].chars().count() + 1);
            prop_assert!(highlight >= 1);
        }
        Ok(())
    }

    const KEYS: &[&str] = &[
        "name",
        "description",
        "seed",
        "gil",
        "backend",
        "group",
        "kind",
        "workers",
        "flavor",
        "cpu_mode",
        "jobs",
        "arrival",
        "steps",
        "cpu",
        "native",
        "io",
        "lock",
        "counter",
        "add",
        "guard",
        "switch_inside",
        "repeat",
        "dist",
        "mean",
        "min",
        "max",
        "stddev",
        "median",
        "p99",
        "closed",
        "think",
        "rate",
        "process",
        "switch_interval",
        "tick",
        "bogus",
        "\"quoted key\"",
        "a.b",
    ];

    const WORDS: &[&str] = &[
        "\"1ms\"",
        "\"0s\"",
        "\"-1ms\"",
        "\"5\"",
        "\"1.5us\"",
        "\"2µs\"",
        "\"86401s\"",
        "\"0.5ns\"",
        "\"threads\"",
        "\"tokio\"",
        "\"rayon\"",
        "\"async-std\"",
        "\"smol\"",
        "\"multi_thread\"",
        "\"current_thread\"",
        "\"asyncio\"",
        "\"inline\"",
        "\"spawn_blocking\"",
        "\"batch\"",
        "\"poisson\"",
        "\"uniform\"",
        "\"exp\"",
        "\"normal\"",
        "\"lognormal\"",
        "\"none\"",
        "\"lock\"",
        "\"atomic\"",
        "\"\"",
        "'x'",
        "\"\"\"multi\nline\"\"\"",
        "1.5",
        "nan",
        "-inf",
        "1e300",
        "-0.0",
        "true",
        "false",
        "1979-05-27",
        "07:32:00",
        "1979-05-27T07:32:00Z",
        "0x10",
        "18446744073709551615",
        "99999999999999999999",
    ];

    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(WORDS).prop_map(str::to_string),
            any::<i64>().prop_map(|n| n.to_string()),
            (-2i64..12).prop_map(|n| n.to_string()),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        proptest::sample::select(KEYS).prop_map(str::to_string)
    }

    /// Values: scalars, arrays and inline tables built from the schema's
    /// words, nested a few levels.
    fn value() -> impl Strategy<Value = String> {
        scalar().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("[{}]", v.join(", "))),
                prop::collection::vec((key(), inner), 0..5).prop_map(|kvs| {
                    let body: Vec<String> = kvs.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                    format!("{{ {} }}", body.join(", "))
                }),
            ]
        })
    }

    fn header() -> impl Strategy<Value = String> {
        proptest::sample::select(
            &[
                "[gil]",
                "[[backend]]",
                "[[group]]",
                "[[group]]",
                "[[group.steps]]",
                "[group]",
                "[bogus]",
                "",
            ][..],
        )
        .prop_map(str::to_string)
    }

    /// Documents: sections of `key = value` lines under random headers.
    fn document() -> impl Strategy<Value = String> {
        let section =
            (header(), prop::collection::vec((key(), value()), 0..5)).prop_map(|(h, kvs)| {
                let mut s = format!("{h}\n");
                for (k, v) in kvs {
                    s.push_str(&format!("{k} = {v}\n"));
                }
                s
            });
        prop::collection::vec(section, 0..5).prop_map(|s| s.concat())
    }

    // ---- schema-aware generator: right keys, mostly plausible values ----

    fn pick(words: &'static [&'static str]) -> BoxedStrategy<String> {
        proptest::sample::select(words)
            .prop_map(str::to_string)
            .boxed()
    }

    /// Mostly `plausible`, sometimes any scalar, so both deep validation and
    /// type errors are reached.
    fn or_noise(plausible: BoxedStrategy<String>) -> BoxedStrategy<String> {
        prop_oneof![30 => plausible, 1 => scalar()].boxed()
    }

    fn duration_string() -> BoxedStrategy<String> {
        pick(&[
            "\"1ms\"",
            "\"0s\"",
            "\"250ns\"",
            "\"40us\"",
            "\"1.5ms\"",
            "\"2s\"",
            "\"3µs\"",
            "\"86400s\"",
            "\"86401s\"",
            "\"-1ms\"",
            "\"5\"",
            "\"5m\"",
            "\"0.5ns\"",
        ])
    }

    fn duration() -> BoxedStrategy<String> {
        let param = pick(&["mean", "min", "max", "stddev", "median", "p99", "dist"]);
        let dist = (
            pick(&[
                "\"exp\"",
                "\"uniform\"",
                "\"normal\"",
                "\"lognormal\"",
                "\"pareto\"",
            ]),
            prop::collection::vec((param, duration_string()), 0..3),
        )
            .prop_map(|(d, ps)| {
                let ps: Vec<String> = ps.iter().map(|(k, v)| format!(", {k} = {v}")).collect();
                format!("{{ dist = {d}{} }}", ps.concat())
            });
        or_noise(prop_oneof![3 => duration_string(), 1 => dist].boxed())
    }

    fn small_int() -> BoxedStrategy<String> {
        or_noise(
            prop_oneof![
                (-1i64..5).prop_map(|n| n.to_string()),
                pick(&["100000000", "100000001", "4096", "4097"])
            ]
            .boxed(),
        )
    }

    fn name() -> BoxedStrategy<String> {
        or_noise(pick(&[
            "\"a\"",
            "\"b\"",
            "\"\"",
            "\"threads\"",
            "\"rayon\"",
        ]))
    }

    /// `key = value` lines (or `, `-joined pairs) for distinct keys of one
    /// table, each key with a value of its own kind.
    fn fields(
        keys: &'static [&'static str],
        size: std::ops::RangeInclusive<usize>,
        value: fn(&str, BoxedStrategy<String>) -> BoxedStrategy<String>,
        steps: BoxedStrategy<String>,
    ) -> BoxedStrategy<Vec<String>> {
        proptest::sample::subsequence(keys, size)
            .prop_flat_map(move |ks| {
                ks.into_iter()
                    .map(|k| value(k, steps.clone()).prop_map(move |v| format!("{k} = {v}")))
                    .collect::<Vec<_>>()
            })
            .boxed()
    }

    const STEP_KEYS: &[&str] = &[
        "cpu",
        "native",
        "io",
        "lock",
        "counter",
        "add",
        "guard",
        "switch_inside",
        "repeat",
        "steps",
    ];

    fn step_value(key: &str, steps: BoxedStrategy<String>) -> BoxedStrategy<String> {
        match key {
            "cpu" | "native" | "io" => duration(),
            "lock" | "counter" => name(),
            "add" | "repeat" => small_int(),
            "guard" => or_noise(pick(&["\"none\"", "\"lock\"", "\"atomic\"", "\"mutex\""])),
            "switch_inside" => or_noise(pick(&["true", "false"])),
            "steps" => steps,
            _ => scalar().boxed(),
        }
    }

    /// One step table: usually one of the real shapes, sometimes any mix
    /// of step keys.
    fn step_table(steps: BoxedStrategy<String>) -> BoxedStrategy<String> {
        let shape = |keys: &'static [&'static str], min: usize, steps: &BoxedStrategy<String>| {
            fields(keys, min..=keys.len(), step_value, steps.clone())
        };
        prop_oneof![
            shape(&["cpu"], 1, &steps),
            shape(&["native"], 1, &steps),
            shape(&["io"], 1, &steps),
            shape(&["lock", "cpu"], 2, &steps),
            shape(&["counter", "add", "guard", "switch_inside"], 2, &steps),
            shape(&["repeat", "steps"], 2, &steps),
            fields(STEP_KEYS, 0..=3, step_value, steps.clone()),
        ]
        .prop_map(|kvs| format!("{{ {} }}", kvs.join(", ")))
        .boxed()
    }

    fn step_array() -> BoxedStrategy<String> {
        let leaf = Just("[{ io = \"1ms\" }]".to_string()).boxed();
        leaf.prop_recursive(9, 64, 3, |inner| {
            prop::collection::vec(step_table(inner.boxed()), 0..4)
                .prop_map(|v| format!("[{}]", v.join(", ")))
                .boxed()
        })
        .boxed()
    }

    fn table_value(key: &str, steps: BoxedStrategy<String>) -> BoxedStrategy<String> {
        match key {
            "name" => name(),
            "description" => or_noise(pick(&["\"text\""])),
            "seed" | "jobs" | "workers" => small_int(),
            "switch_interval" | "tick" => duration(),
            "kind" => or_noise(pick(&[
                "\"threads\"",
                "\"rayon\"",
                "\"tokio\"",
                "\"async-std\"",
                "\"smol\"",
                "\"fibers\"",
            ])),
            "gil" => or_noise(pick(&["true", "false"])),
            "flavor" => or_noise(pick(&[
                "\"multi_thread\"",
                "\"current_thread\"",
                "\"asyncio\"",
            ])),
            "cpu_mode" => or_noise(pick(&["\"inline\"", "\"spawn_blocking\"", "\"rayon\""])),
            "arrival" => or_noise(
                prop_oneof![
                    pick(&["\"batch\"", "\"open\""]),
                    (small_int(), prop::option::of(duration())).prop_map(|(c, t)| match t {
                        Some(t) => format!("{{ closed = {c}, think = {t} }}"),
                        None => format!("{{ closed = {c} }}"),
                    }),
                    (
                        pick(&["0", "1", "0.5", "1e9", "-3", "nan", "inf", "0.000001"]),
                        pick(&[
                            "",
                            ", process = \"poisson\"",
                            ", process = \"uniform\"",
                            ", think = \"1ms\""
                        ])
                    )
                        .prop_map(|(r, p)| format!("{{ rate = {r}{p} }}")),
                ]
                .boxed(),
            ),
            "steps" => steps,
            _ => scalar().boxed(),
        }
    }

    /// A whole config: top-level keys, then `[gil]`, backends and groups,
    /// each with a random subset of its own keys.
    fn schema_document() -> impl Strategy<Value = String> {
        // `required` keys are always written, so most documents get past
        // "missing key" and exercise the deeper rules.
        let section = |header: &'static str,
                       required: &'static [&'static str],
                       optional: &'static [&'static str]| {
            (
                fields(
                    required,
                    required.len()..=required.len(),
                    table_value,
                    step_array(),
                ),
                fields(optional, 0..=optional.len(), table_value, step_array()),
            )
                .prop_map(move |(a, b)| format!("{header}\n{}\n{}\n", a.join("\n"), b.join("\n")))
        };
        (
            section("", &[], &["name", "description", "seed"]),
            prop::option::of(section("[gil]", &[], &["switch_interval", "tick"])),
            prop::collection::vec(
                section(
                    "[[backend]]",
                    &["kind"],
                    &["gil", "name", "workers", "flavor", "cpu_mode"],
                ),
                0..3,
            ),
            prop::collection::vec(
                section("[[group]]", &["steps"], &["name", "jobs", "arrival"]),
                0..3,
            ),
        )
            .prop_map(|(top, gil, backends, groups)| {
                format!(
                    "{top}{}{}{}",
                    gil.unwrap_or_default(),
                    backends.concat(),
                    groups.concat()
                )
            })
    }

    const VALID: &str = r#"name = "convoy"
seed = 42
[gil]
switch_interval = "5ms"
tick = "5us"
[[backend]]
kind = "tokio"
flavor = "current_thread"
cpu_mode = "spawn_blocking"
[[group]]
name = "io"
jobs = 300
arrival = { rate = 100, process = "uniform" }
steps = [{ io = { dist = "lognormal", median = "1ms", p99 = "20ms" } }, { repeat = 3, steps = [{ counter = "c", add = 2, guard = "lock" }, { lock = "l", cpu = "1us" }] }]
"#;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn random_strings_never_panic(s in any::<String>()) {
            check(&s)?;
        }

        #[test]
        fn toml_ish_strings_never_panic(s in "[a-z_\\[\\]{}=\",.0-9 \n\t#'-]{0,120}") {
            check(&s)?;
        }

        #[test]
        fn schema_shaped_documents_never_panic(doc in document()) {
            check(&doc)?;
        }

        #[test]
        fn schema_aware_documents_never_panic(doc in schema_document()) {
            check(&doc)?;
        }

        #[test]
        fn mutated_valid_configs_never_panic(
            at in 0usize..VALID.len(),
            cut in 0usize..8,
            insert in prop_oneof![scalar(), key(), Just("\n".to_string()), Just("{".to_string()), Just("µ".to_string())],
        ) {
            let mut at = at;
            while !VALID.is_char_boundary(at) { at -= 1; }
            let mut end = (at + cut).min(VALID.len());
            while !VALID.is_char_boundary(end) { end -= 1; }
            let doc = format!("{}{}{}", &VALID[..at], insert, &VALID[end..]);
            check(&doc)?;
        }
    }

    #[test]
    fn the_mutation_base_is_valid() {
        parse_ok(VALID);
    }
}

// ------------------------------------------------------- several problems

#[test]
fn independent_problems_are_all_reported_in_file_order() {
    let source = "\
[gil]
switch_interval = \"0ms\"
[[backend]]
kind = \"tokio\"
flavor = \"current_thread\"
workers = 4
[[group]]
name = \"a\"
jobs = 0
steps = [{ cpu = \"1ms\" }]
[[group]]
name = \"b\"
arrival = { rate = 0 }
steps = [{ io = \"1ms\" }]
";
    let err = parse(source, Path::new("many.toml")).expect_err("four problems");
    let at: Vec<(usize, usize)> = err.problems().iter().map(|p| (p.line, p.column)).collect();
    assert_eq!(at, vec![(2, 19), (6, 11), (9, 8), (13, 20)], "{err}");
    let text = err.to_string();
    assert!(
        text.contains("`switch_interval` must be greater than 0"),
        "{text}"
    );
    assert!(text.contains("exactly one worker"), "{text}");
    assert!(text.ends_with("many.toml: 4 problems"), "{text}");
    // The first problem is still the one `line()` and `column()` give.
    assert_eq!((err.line(), err.column()), (Some(2), Some(19)));
}

#[test]
fn a_group_with_several_bad_keys_reports_each() {
    let source = "[[group]]\nname = \"\"\njobs = 0\nsteps = [{ cpu = \"1ms\" }]\n";
    let err = parse(source, Path::new("g.toml")).expect_err("two problems");
    assert_eq!(err.problems().len(), 2, "{err}");
}

#[test]
fn a_single_problem_has_no_count_line() {
    let err = parse(
        "[[group]]\njobs = 0\nsteps = [{ cpu = \"1ms\" }]\n",
        Path::new("one.toml"),
    )
    .expect_err("one problem");
    assert_eq!(err.problems().len(), 1);
    assert!(!err.to_string().contains("problems"), "{err}");
}

#[test]
fn problems_beyond_the_cap_are_counted_not_shown() {
    let mut source = String::new();
    for i in 0..(error::MAX_PROBLEMS + 5) {
        source.push_str(&format!(
            "[[group]]\nname = \"g{i}\"\njobs = 0\nsteps = [{{ cpu = \"1ms\" }}]\n"
        ));
    }
    let err = parse(&source, Path::new("cap.toml")).expect_err("many problems");
    assert_eq!(err.problems().len(), error::MAX_PROBLEMS);
    let text = err.to_string();
    assert!(
        text.ends_with(&format!(
            "cap.toml: {} problems; the first {} are shown, 5 more are not",
            error::MAX_PROBLEMS + 5,
            error::MAX_PROBLEMS
        )),
        "{text}"
    );
}

#[test]
fn processes_and_dispatch_parse_with_defaults() {
    let set = parse_ok(
        "[[backend]]\nkind = \"threads\"\ngil = true\nworkers = 8\nprocesses = 4\ndispatch = \"random\"\n\
         [[backend]]\nkind = \"tokio\"\nflavor = \"current_thread\"\nprocesses = 2\n\
         [[backend]]\nkind = \"rayon\"\n[[group]]\nsteps = [{ io = \"1ms\" }]\n",
    );
    let got: Vec<(usize, Dispatch)> = set
        .backends
        .iter()
        .map(|b| (b.processes, b.dispatch))
        .collect();
    assert_eq!(
        got,
        vec![
            (4, Dispatch::Random),
            (2, Dispatch::SharedQueue),
            (1, Dispatch::SharedQueue)
        ]
    );
}

#[test]
fn a_flavor_is_found_by_the_name_reports_give_it() {
    for f in [Flavor::MultiThread, Flavor::CurrentThread, Flavor::Asyncio] {
        assert_eq!(Flavor::named(f.as_str()), Some(f));
    }
    assert_eq!(Flavor::named("current-thread"), None);
    assert!(Flavor::Asyncio.one_thread() && Flavor::CurrentThread.one_thread());
    assert!(!Flavor::MultiThread.one_thread());
}
