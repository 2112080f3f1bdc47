//! The model engine (SPEC §6): the same validated plan, run as a
//! deterministic discrete-event simulation in virtual time on any number of
//! virtual cores.
//!
//! Nothing sleeps and nothing spins: jobs draw their durations from the
//! plan's per-job streams ([`Plan::cursor`]), exactly as the real engine
//! does, and the simulation moves from event to event. The pieces, one
//! concern each:
//! - `clock`: virtual time and the event queue (deterministic order);
//! - `heap`: the 4-ary `u128`-keyed heap under the queue and the cores;
//! - `cores`: N virtual cores shared by processor sharing;
//! - `gil`: CPython's new-GIL protocol (timed waits, drop request, forced
//!   switching, hand-off);
//! - `sync`: application locks and counters (lost updates);
//! - `exec`: how each backend places jobs on threads;
//! - `arrivals`: the driver (batch, closed, open arrivals; in-flight bound);
//! - `sim`: threads executing micro-ops, and the main loop;
//! - `fast`: the same run compiled for thread-per-job backends without a
//!   GIL whose steps are plain cpu/native/io (the same report, faster);
//! - `tally`: the fast path's histogram recording (HdrHistogram's counts,
//!   added once at the end);
//! - `deploy`: deployments of several processes (`processes`, `dispatch`);
//! - `costs`: the calibrated costs the model cannot derive.
//!
//! The result is the same [`RunMeasurement`] the real engine returns:
//! virtual times become `Instant`s as `base + offset`, so reports, verdicts,
//! exports and traces work unchanged.

mod arrivals;
pub mod bench;
mod calendar;
pub mod calibrate;
mod clock;
mod cores;
pub mod costs;
mod deploy;
mod exec;
mod fast;
mod gil;
mod heap;
mod ops;
mod sim;
mod sync;
mod tally;
mod world;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use costs::Costs;

use crate::backend::{backend_for, in_flight_limiter};
use crate::config::BackendSpec;
use crate::error::RunError;
use crate::metrics::sim::SimStats;
use crate::metrics::{HeldBack, ProcessMeasurement, RunMeasurement};
use crate::options::{Progress, RunOptions};
use crate::plan::Plan;
use crate::work::counter::CounterResult;
use crate::work::gil::{GilStats, Hold};

/// Runs `plan` on the backend `spec` in virtual time on `cores` cores, with
/// the costs of [`Costs::load`].
pub fn run(
    spec: &BackendSpec,
    plan: Arc<Plan>,
    opts: &RunOptions<'_>,
    cores: usize,
) -> Result<RunMeasurement, RunError> {
    let costs = Costs::load().map_err(|why| RunError::Refused {
        backend: spec.name.clone(),
        why,
    })?;
    run_with_costs(spec, &plan, opts, cores, &costs)
}

/// Runs `plan` on `spec` in virtual time with the given costs.
pub fn run_with_costs(
    spec: &BackendSpec,
    plan: &Plan,
    opts: &RunOptions<'_>,
    cores: usize,
    costs: &Costs,
) -> Result<RunMeasurement, RunError> {
    let cores = cores.clamp(1, crate::config::limits::MAX_MODEL_CORES);
    // The same refusals and bounds as the real engine.
    let backend = backend_for(spec, cores);
    backend.preflight(plan, opts)?;
    let limiter = in_flight_limiter(backend.in_flight_cap(opts), opts);
    let clock = Instant::now();
    let (base, finished) = simulate(spec, plan, opts, cores, costs, limiter.limit);
    let (out, trace, gil, values) = finished.map_err(|why| RunError::Refused {
        backend: spec.name.clone(),
        why,
    })?;
    if let Some(p) = opts.progress {
        p(Progress {
            done: plan.total_jobs(),
            total: plan.total_jobs(),
        });
    }
    let at = |ns: u64| base + Duration::from_nanos(ns);
    let gil_holds = gil.as_ref().map(|g| holds_of(g, at)).unwrap_or_default();
    let (processes, gil_stats) = processes_of(out.deployment, gil.map(gil_stats_of));
    let (spans, thread_names) = trace.map(|t| (t.spans, t.names)).unwrap_or_default();
    Ok(RunMeasurement {
        gave_up: None,
        backend: spec.clone(),
        workers: spec.resolved_workers(cores),
        cores,
        wall: out.wall,
        jobs: out.groups.iter().map(|g| g.jobs).sum(),
        process_cpu: Duration::from_nanos(out.busy_ns.round() as u64),
        host_steal: None,
        held_back: (out.held_back > 0).then_some(HeldBack {
            jobs: out.held_back,
            limiter,
        }),
        kernel_speed: None,
        groups: plan.name_groups(out.groups),
        gil: gil_stats,
        counters: counters_of(plan, &values),
        gil_holds,
        processes,
        started: at(out.first_due),
        // Nothing stops a simulation midway: it always runs every job.
        complete: true,
        sim: Some(SimStats {
            events: out.events,
            wall: clock.elapsed(),
            costs_us: costs.named().to_vec(),
            costs_source: costs.source.clone(),
            spans,
            thread_names,
            base: Some(base),
        }),
    })
}

/// Simulates the run: the compiled fast path where it applies (fast.rs),
/// else the general simulator, the same report either way. Returns the
/// `Instant` that virtual time 0 stands for, with the outcome.
fn simulate(
    spec: &BackendSpec,
    plan: &Plan,
    opts: &RunOptions<'_>,
    cores: usize,
    costs: &Costs,
    in_flight_limit: u64,
) -> (Instant, Result<sim::Finished, String>) {
    if fast::applies(plan, spec, cores, opts.record_gil_holds) {
        let base = Instant::now();
        let run = fast::Fast::new(plan, cores, costs, in_flight_limit, opts.warmup_jobs);
        return (base, run.run());
    }
    let sim = sim::Sim::new(
        plan,
        spec,
        cores,
        costs,
        in_flight_limit,
        opts.record_gil_holds,
        opts.warmup_jobs,
    );
    (sim.base, sim.run())
}

/// The GIL holds a trace asked for, as `Instant`s (`at` turns virtual ns
/// into them).
fn holds_of(g: &gil::GilState, at: impl Fn(u64) -> Instant) -> Vec<Hold> {
    let Some(holds) = &g.holds else {
        return Vec::new();
    };
    holds
        .iter()
        .map(|&(thread, s, e)| Hold {
            thread: crate::trace::VIRTUAL_TID + thread,
            start: at(s),
            end: at(e),
        })
        .collect()
}

/// Per process, what a deployment measured (none with one process), and
/// the run's GIL figures: `first`, process 0's, or with several processes
/// every process's added up, as on the real engine.
fn processes_of(
    deployment: Option<deploy::DeployOutcome>,
    first: Option<GilStats>,
) -> (Vec<ProcessMeasurement>, Option<GilStats>) {
    let Some(d) = deployment else {
        return (Vec::new(), first);
    };
    let gils: Vec<Option<GilStats>> = std::iter::once(first)
        .chain(d.other_gils.into_iter().map(|g| g.map(gil_stats_of)))
        .collect();
    let merged = crate::backend::merge_gil(gils.clone());
    let processes = d
        .jobs
        .into_iter()
        .zip(d.latency)
        .zip(gils)
        .map(|((jobs, latency), gil)| ProcessMeasurement { jobs, latency, gil })
        .collect();
    (processes, merged)
}

/// The counters' results from their final `values`. Each process has its
/// own counters (processes share no memory); the plan's expected total is
/// against their sum.
fn counters_of(plan: &Plan, values: &[u64]) -> Vec<CounterResult> {
    plan.counters
        .iter()
        .zip(deploy::sum_counters(values, plan.counters.len()))
        .map(|(p, observed)| CounterResult {
            name: p.name.clone(),
            expected: p.expected,
            observed,
            lost: p.expected.saturating_sub(observed),
        })
        .collect()
}

/// The figures of one of the model's GILs, as the real GIL reports them.
fn gil_stats_of(g: gil::GilState) -> GilStats {
    GilStats {
        acquisitions: g.acquisitions,
        forced_switches: g.forced_switches,
        requester_wakes: g.requester_wakes,
        wait: Duration::from_nanos(g.wait_ns),
        hold_us: g.hold_us,
        handoff_us: g.handoff_us,
    }
}
