//! Hand-built report values for the exporters' and the verdict's tests.

use super::{GroupReport, Ideal, Machine, Quantiles, Report, RunReport, Shares, TimeSeconds};

/// Latency quantiles shaped like a real tail: p50 = 2×, p99 = 10×, max = 100× `base_us`.
pub(crate) fn quantiles(base_us: u64) -> Quantiles {
    Quantiles {
        min: base_us,
        mean: base_us as f64 * 2.0,
        p50: base_us * 2,
        p90: base_us * 3,
        p99: base_us * 10,
        p999: base_us * 40,
        max: base_us * 100,
    }
}

/// A group whose latency, queue and service all follow `q`.
pub(crate) fn group(name: &str, jobs: u64, q: Quantiles, shares: Shares) -> GroupReport {
    GroupReport {
        name: name.into(),
        jobs,
        latency_us: q,
        queue_us: q,
        service_us: q,
        time_s: TimeSeconds::default(),
        shares,
        latency_histogram: None,
    }
}

/// A thread-per-job run without a GIL.
pub(crate) fn run(backend: &str, throughput_per_s: f64, groups: Vec<GroupReport>) -> RunReport {
    RunReport {
        backend: backend.into(),
        kind: "threads".into(),
        gil_enabled: false,
        workers: 0,
        flavor: None,
        cpu_mode: None,
        wall_s: 1.0,
        jobs: groups.iter().map(|g| g.jobs).sum(),
        throughput_per_s,
        cpu_utilization: 0.5,
        kernel_speed: Some(1.0),
        held_back_jobs: 0,
        host_steal_ms: None,
        ideal: Ideal::default(),
        groups,
        gil_stats: None,
        counters: vec![],
        gil_timeline: None,
        deployment: None,
        complete: true,
        stopped: None,
        stats: None,
    }
}

/// A report of `runs` for config `config` on a 2-core machine, seed 1.
pub(crate) fn report(config: &str, runs: Vec<RunReport>, verdict: Vec<String>) -> Report {
    Report {
        gilsim: "test".into(),
        config: config.into(),
        seed: 1,
        machine: Machine {
            cores: 2,
            cpu_kernel_iters_per_us: Some(600.0),
        },
        runs,
        verdict,
        plan: None,
        plan_sha256: String::new(),
        complete: true,
        stopped: None,
        not_run: vec![],
        engine: "real".into(),
        sim: None,
    }
}
