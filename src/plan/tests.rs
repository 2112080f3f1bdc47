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
    assert_eq!(a.groups[0].arrival, b.groups[0].arrival);
    assert_eq!(all_draws(&a), all_draws(&b));
}

#[test]
fn different_seed_different_plan() {
    let a = Plan::new(&random_set(1));
    let b = Plan::new(&random_set(2));
    assert_ne!(a.groups[0].arrival, b.groups[0].arrival);
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
    let ArrivalPlan::Open { offsets_ns } = &plan.groups[0].arrival else {
        panic!("not open")
    };
    assert_eq!(offsets_ns.len(), 20_000);
    assert!(offsets_ns.windows(2).all(|w| w[0] <= w[1]));
    let span_s = *offsets_ns.last().unwrap() as f64 / 1e9;
    let rate = 20_000.0 / span_s;
    assert!((rate - 500.0).abs() / 500.0 < 0.03, "rate {rate}");
    let ArrivalPlan::Open { offsets_ns } = &plan.groups[1].arrival else {
        panic!("not open")
    };
    assert_eq!(offsets_ns[1] - offsets_ns[0], 10_000_000);
    assert_eq!(offsets_ns[99], 990_000_000);
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
