//! Tests of the plan: determinism by seed, `repeat` expansion, open-loop
//! arrivals (rate, count, and lazy draws equal to the eager ones), think
//! times, and interned counters and locks.

use super::*;
use crate::config::{BackendSpec, GroupSpec};
use std::path::PathBuf;

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

fn set(groups: Vec<GroupSpec>, seed: u64) -> JobSet {
    JobSet {
        name: "t".into(),
        description: None,
        seed,
        gil: GilSettings::default(),
        model_cores: None,
        backends: BackendSpec::default_set(),
        groups,
        source: PathBuf::from("t.toml"),
    }
}

fn group(name: &str, jobs: u64, arrival: Arrival, steps: Vec<Step>) -> GroupSpec {
    GroupSpec {
        name: name.into(),
        jobs,
        arrival,
        steps,
    }
}

fn random_set(seed: u64) -> JobSet {
    set(
        vec![
            group(
                "web",
                50,
                Arrival::Open {
                    rate: 1000.0,
                    process: ArrivalProcess::Poisson,
                },
                vec![
                    Step::Io(DurationSpec::Exp { mean: ms(1) }),
                    Step::Repeat {
                        times: 3,
                        steps: vec![Step::Cpu(DurationSpec::Uniform {
                            min: ms(1),
                            max: ms(3),
                        })],
                    },
                ],
            ),
            group(
                "batch",
                5,
                Arrival::Closed {
                    clients: 2,
                    think: Some(DurationSpec::Exp { mean: ms(2) }),
                },
                vec![Step::Native(DurationSpec::LogNormal {
                    median: ms(1),
                    p99: ms(9),
                })],
            ),
        ],
        seed,
    )
}

fn all_draws(plan: &Plan) -> Vec<(Vec<Action>, Duration)> {
    let mut out = Vec::new();
    for (gi, g) in plan.groups.iter().enumerate() {
        for index in 0..g.jobs {
            let id = JobId { group: gi, index };
            out.push((plan.cursor(id).collect(), plan.think_before(id)));
        }
    }
    out
}

#[test]
fn same_seed_same_plan() {
    let a = Plan::new(&random_set(42));
    let b = Plan::new(&random_set(42));
    let arrivals = |p: &Plan| p.open_arrivals(0).map(Iterator::collect::<Vec<u64>>);
    assert_eq!(arrivals(&a), arrivals(&b));
    assert!(arrivals(&a).is_some());
    assert_eq!(all_draws(&a), all_draws(&b));
}

#[test]
fn different_seed_different_plan() {
    let a = Plan::new(&random_set(1));
    let b = Plan::new(&random_set(2));
    let arrivals = |p: &Plan| p.open_arrivals(0).map(Iterator::collect::<Vec<u64>>);
    assert_ne!(arrivals(&a), arrivals(&b));
    assert_ne!(all_draws(&a), all_draws(&b));
}

#[test]
fn seed_override_matches_config_seed() {
    let a = Plan::with_seed(&random_set(1), 9);
    let b = Plan::new(&random_set(9));
    assert_eq!(all_draws(&a), all_draws(&b));
}

#[test]
fn repeat_expands_in_order() {
    let plan = Plan::new(&random_set(3));
    let actions: Vec<_> = plan.cursor(JobId { group: 0, index: 0 }).collect();
    assert_eq!(actions.len(), 4);
    assert!(matches!(actions[0], Action::Io(_)));
    assert!(actions[1..]
        .iter()
        .all(|a| matches!(a, Action::Cpu(d) if *d >= ms(1) && *d <= ms(3))));
}

#[test]
fn open_arrivals_have_the_asked_rate_and_count() {
    let s = set(
        vec![
            group(
                "p",
                20_000,
                Arrival::Open {
                    rate: 500.0,
                    process: ArrivalProcess::Poisson,
                },
                vec![Step::Io(DurationSpec::Fixed(ms(1)))],
            ),
            group(
                "u",
                100,
                Arrival::Open {
                    rate: 100.0,
                    process: ArrivalProcess::Uniform,
                },
                vec![Step::Io(DurationSpec::Fixed(ms(1)))],
            ),
        ],
        5,
    );
    let plan = Plan::new(&s);
    let offsets_ns: Vec<u64> = plan.open_arrivals(0).expect("open").collect();
    assert_eq!(offsets_ns.len(), 20_000);
    assert!(offsets_ns.windows(2).all(|w| w[0] <= w[1]));
    let span_s = *offsets_ns.last().unwrap() as f64 / 1e9;
    let rate = 20_000.0 / span_s;
    assert!((rate - 500.0).abs() / 500.0 < 0.03, "rate {rate}");
    let offsets_ns: Vec<u64> = plan.open_arrivals(1).expect("open").collect();
    assert_eq!(offsets_ns.len(), 100);
    assert_eq!(offsets_ns[1] - offsets_ns[0], 10_000_000);
    assert_eq!(offsets_ns[99], 990_000_000);
    assert_eq!(
        plan.open_arrivals(1).and_then(Iterator::last),
        Some(990_000_000)
    );
    assert!(plan.open_arrivals(2).is_none());
}

/// The due times as the plan drew them up front before they became lazy
/// (the code as it was): the lazy stream must give exactly these.
fn eager_offsets(
    rate: f64,
    process: ArrivalProcess,
    jobs: u64,
    seed: u64,
    group: usize,
) -> Vec<u64> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, Exp};
    let splitmix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let s = seed ^ 0x6172_7269_7661_6c00;
    let mixed = splitmix(splitmix(s ^ splitmix(group as u64 + 1)) ^ u64::MAX);
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(mixed);
    let gap_ns = 1e9 / rate;
    match process {
        ArrivalProcess::Uniform => (0..jobs).map(|i| (i as f64 * gap_ns) as u64).collect(),
        ArrivalProcess::Poisson => {
            let exp = Exp::new(rate).ok();
            let mut t = 0.0f64;
            (0..jobs)
                .map(|_| {
                    let at = t;
                    t += exp.map(|e| e.sample(&mut rng) * 1e9).unwrap_or(gap_ns);
                    at as u64
                })
                .collect()
        }
    }
}

#[test]
fn lazy_arrivals_are_the_draws_of_the_eager_plan() {
    for (seed, rate, process) in [
        (5, 500.0, ArrivalProcess::Poisson),
        (77, 0.25, ArrivalProcess::Poisson),
        (9, 1e6, ArrivalProcess::Uniform),
    ] {
        let open = Arrival::Open { rate, process };
        let io = vec![Step::Io(DurationSpec::Fixed(ms(1)))];
        let s = set(
            vec![
                group("a", 3, Arrival::Batch, io.clone()),
                group("b", 5_000, open, io),
            ],
            seed,
        );
        let plan = Plan::new(&s);
        let lazy: Vec<u64> = plan.open_arrivals(1).expect("open").collect();
        assert_eq!(lazy, eager_offsets(rate, process, 5_000, seed, 1));
        // A second read gives the same stream again.
        assert!(plan
            .open_arrivals(1)
            .expect("open")
            .eq(lazy.iter().copied()));
    }
}

#[test]
fn a_plan_of_a_hundred_million_open_jobs_is_small() {
    let s = set(
        vec![group(
            "many",
            100_000_000,
            Arrival::Open {
                rate: 1e6,
                process: ArrivalProcess::Poisson,
            },
            vec![Step::Io(DurationSpec::Fixed(ms(1)))],
        )],
        1,
    );
    let plan = Plan::new(&s);
    // Nothing per job is kept: the whole plan is a few hundred bytes.
    assert!(std::mem::size_of_val(&plan.groups[0]) < 256);
    assert_eq!(plan.open_arrivals(0).map(|a| a.len()), Some(100_000_000));
    let first: Vec<u64> = plan.open_arrivals(0).expect("open").take(3).collect();
    assert_eq!(first[0], 0);
}

#[test]
fn think_time_only_between_a_clients_jobs() {
    let plan = Plan::new(&random_set(4));
    assert_eq!(
        plan.think_before(JobId { group: 1, index: 0 }),
        Duration::ZERO
    );
    assert_eq!(
        plan.think_before(JobId { group: 1, index: 1 }),
        Duration::ZERO
    );
    assert!(plan.think_before(JobId { group: 1, index: 2 }) > Duration::ZERO);
}

#[test]
fn counters_and_locks_are_interned_and_totals_expected() {
    let s = set(
        vec![group(
            "c",
            4,
            Arrival::Batch,
            vec![
                Step::Repeat {
                    times: 10,
                    steps: vec![Step::Counter {
                        name: "hits".into(),
                        add: 5,
                        guard: Guard::None,
                        switch_inside: false,
                    }],
                },
                Step::Counter {
                    name: "hits".into(),
                    add: 1,
                    guard: Guard::Atomic,
                    switch_inside: false,
                },
                Step::Lock {
                    name: "db".into(),
                    cpu: DurationSpec::Fixed(ms(1)),
                },
                Step::Lock {
                    name: "db".into(),
                    cpu: DurationSpec::Fixed(ms(1)),
                },
            ],
        )],
        0,
    );
    let plan = Plan::new(&s);
    assert_eq!(
        plan.counters,
        vec![CounterPlan {
            name: "hits".into(),
            expected: 4 * 51
        }]
    );
    assert_eq!(plan.locks, vec!["db".to_string()]);
    assert_eq!(plan.totals().locked_cpu, ms(8));
    assert_eq!(plan.totals().steps, 4 * 13);
}
