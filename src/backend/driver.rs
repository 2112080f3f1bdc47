//! The load generator: submits each job when it is due, whatever the
//! backend, and turns what the run recorded into a [`RunMeasurement`].
//!
//! Latency counts from the due time (SPEC §1.4), so when a backend falls
//! behind, its jobs show queue time instead of silently arriving later.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::chain::ClientChain;
use super::processes::Deployment;
use super::{available_cores, backend_for, Executor};
use crate::config::BackendSpec;
use crate::error::RunError;
use crate::exec::{warmup_of, Bell, Done, JobTicket};
use crate::metrics::{host, process_cpu_time, HeldBack, Limiter, RunMeasurement};
use crate::options::{GiveUp, Progress, RunOptions};
use crate::plan::{ArrivalPlan, JobId, OpenArrivals, Plan, Ready};
use crate::stamp::Stamp;
use crate::stop;
use crate::work::sleep::sleep_until;

/// How often the driver reports progress, at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// How often the driver looks at the completion count when nothing it does
/// needs to hear of a completion at once (see [`Driver::must_hear_at_once`]):
/// it is then late by up to this much to top up a backlog far from empty, or
/// to see the last job end. What is measured is not: latency, queue time and
/// wall come from the jobs' own timestamps.
const POLL_EVERY: Duration = Duration::from_millis(1);

/// Runs `plan` on the backend `spec` and measures it.
pub fn run(
    spec: &BackendSpec,
    plan: Arc<Plan>,
    opts: &RunOptions<'_>,
) -> Result<RunMeasurement, RunError> {
    let cores = available_cores();
    let backend = backend_for(spec, cores);
    backend.preflight(&plan, opts)?;
    let (tx, rx) = crossbeam_channel::unbounded();
    let run_span = tracing::info_span!("run", backend = %spec.name);
    let _enter = run_span.enter();
    tracing::debug!(backend = %spec.name, jobs = plan.total_jobs(), processes = spec.processes, "starting run");
    let deployment = Deployment::launch(spec, &*backend, &plan, opts, tx, cores)?;
    let bell = deployment.bell.clone();
    let chain = deployment.chain.clone();
    let cpu_before = process_cpu_time();
    let steal_before = host::steal_time();
    let limiter = in_flight_limiter(backend.in_flight_cap(opts), opts);
    let mut driver = Driver::new(&plan, &rx, &bell, opts.progress, limiter.limit);
    driver.warmup_jobs = opts.warmup_jobs;
    driver.refill_every = refill_every(spec, limiter.limit);
    driver.set_give_up(opts.give_up);
    let cancel = deployment.canceller();
    driver.cancel = Some(&cancel);
    driver.chain = chain.as_deref();
    let outcome = driver.drive(&*deployment.executor);
    let gave_up = driver.gave_up;
    let abandon = driver.abandoned > 0;
    if abandon {
        // A job cannot be cancelled midway through a step, and joining it
        // could take as long as its longest step: leave the engine running
        // unjoined. Its results are not counted; the process exits once
        // the reports are written (SPEC §8).
        tracing::warn!(
            backend = %spec.name,
            "{} jobs still running {}s after the stop were abandoned",
            driver.abandoned,
            stop::GRACE.as_secs()
        );
    }
    let done = deployment.finish(abandon);
    let process_cpu = process_cpu_time().saturating_sub(cpu_before);
    let host_steal = host::steal_between(steal_before, host::steal_time());
    let (started, last_end) = outcome?;
    if let Some(what) = done.failure {
        return Err(RunError::JobPanicked {
            backend: spec.name.clone(),
            what,
        });
    }
    Ok(RunMeasurement {
        backend: spec.clone(),
        workers: spec.resolved_workers(cores),
        cores,
        wall: last_end.saturating_duration_since(started),
        jobs: done.groups.iter().map(|g| g.jobs).sum(),
        process_cpu,
        host_steal,
        kernel_speed: done.kernel_speed,
        held_back: (driver.held_back > 0).then_some(HeldBack {
            jobs: driver.held_back,
            limiter,
        }),
        groups: plan.name_groups(done.groups),
        gil: done.gil,
        gil_holds: done.gil_holds,
        counters: done.counters,
        processes: done.processes,
        started,
        complete: driver.completed >= driver.total,
        gave_up,
        sim: None,
    })
}

/// The tighter of `--max-in-flight` and a backend's own bound (`own`, from
/// [`Backend::in_flight_cap`](super::Backend::in_flight_cap)); both
/// engines bound a run by it.
pub fn in_flight_limiter(own: Option<Limiter>, opts: &RunOptions<'_>) -> Limiter {
    let user = Limiter {
        limit: opts.max_in_flight.max(1),
        why: format!("--max-in-flight {}", opts.max_in_flight),
    };
    match own {
        Some(own) if own.limit < user.limit => Limiter {
            limit: own.limit.max(1),
            ..own
        },
        _ => user,
    }
}

/// Submission state of one run.
struct Driver<'a> {
    plan: &'a Plan,
    done_rx: &'a Receiver<Done>,
    progress: Option<&'a (dyn Fn(Progress) + Sync)>,
    /// Each open-loop group's remaining due times (`None` for other groups).
    open: Vec<Option<OpenArrivals<'a>>>,
    /// Jobs due later, earliest first. Due times are stamps, as the jobs
    /// take them: converting an `Instant` cost the driver about 9 ns a job.
    pending: BinaryHeap<Reverse<(Stamp, JobId)>>,
    /// Jobs due now or earlier, waiting for an in-flight slot: the initial
    /// jobs (read one at a time, never listed), then later ones.
    ready: Ready<Stamp>,
    max_in_flight: u64,
    t0: Stamp,
    total: u64,
    submitted: u64,
    completed: u64,
    first_due: Option<Stamp>,
    /// Jobs of each group with a lower index are warm-up (see
    /// [`RunOptions::warmup_jobs`]).
    warmup_jobs: u64,
    /// The first due time of a measured (not warm-up) job.
    first_measured_due: Option<Stamp>,
    /// Jobs that found the run at its in-flight bound, each counted once.
    held_back: u64,
    /// Rung by every completion: counts them and keeps the latest end
    /// time; lets the driver sleep through the ones it does not need to act
    /// on at once. Only closed-loop groups' completions come on `done_rx`
    /// too (see [`Deployment::launch`]).
    bell: &'a Bell,
    /// Whether some group is closed-loop: each completion there submits the
    /// client's next job, so every one must wake the driver.
    closed: bool,
    /// At the in-flight bound, how many completions the driver lets
    /// accumulate before topping the backend up (see [`refill_every`]).
    refill_every: u64,
    /// Jobs submitted but still running when the grace period after a stop
    /// request ran out.
    abandoned: u64,
    /// See [`RunOptions::give_up`].
    give_up: &'a [GiveUp],
    /// Every open-loop job's due offset from `t0`, in ns, sorted; filled
    /// only when there are [`GiveUp`] points to check.
    due_offsets: Vec<u64>,
    /// Cancels the jobs in flight when the driver gives up.
    cancel: Option<&'a dyn Fn()>,
    /// Jobs known to be late when the driver gave up on the run, if it did.
    gave_up: Option<u64>,
    /// Where closed-loop clients submit their next jobs themselves, when
    /// they can ([`ClientChain`]); such jobs count in `submitted`.
    chain: Option<&'a ClientChain>,
    /// The chain's count of submissions last added to `submitted`.
    chained_seen: u64,
}

/// Completions the driver lets accumulate, at the in-flight bound, before it
/// tops the backend up again. Waking the driver costs the finishing worker a
/// system call; when the bound is large and the backend keeps its own queue
/// in front of a fixed set of workers, jobs held back at the bound only need
/// that queue never to run dry, so the driver tops it up every 1/16 of the
/// bound. A thread per job runs every job it is given at once, and a small
/// bound is a concurrency limit, so there every completion lets the next job
/// in.
fn refill_every(spec: &BackendSpec, limit: u64) -> u64 {
    let own_thread_per_job = spec.kind == crate::config::BackendKind::Threads && spec.workers == 0;
    if own_thread_per_job || limit < 1024 {
        1
    } else {
        limit / 16
    }
}

impl<'a> Driver<'a> {
    fn new(
        plan: &'a Plan,
        done_rx: &'a Receiver<Done>,
        bell: &'a Bell,
        progress: Option<&'a (dyn Fn(Progress) + Sync)>,
        max_in_flight: u64,
    ) -> Self {
        // A short lead lets the engine settle before the first job is due.
        let t0 = Stamp::now() + Duration::from_millis(2);
        Self {
            plan,
            done_rx,
            progress,
            open: (0..plan.groups.len())
                .map(|g| plan.open_arrivals(g))
                .collect(),
            pending: BinaryHeap::new(),
            ready: Ready::new(plan, t0),
            max_in_flight: max_in_flight.max(1),
            t0,
            total: plan.total_jobs(),
            submitted: 0,
            completed: 0,
            first_due: None,
            warmup_jobs: 0,
            first_measured_due: None,
            held_back: 0,
            bell,
            closed: plan
                .groups
                .iter()
                .any(|g| matches!(g.arrival, ArrivalPlan::Closed { .. })),
            refill_every: 1,
            abandoned: 0,
            give_up: &[],
            due_offsets: Vec::new(),
            cancel: None,
            gave_up: None,
            chain: None,
            chained_seen: 0,
        }
    }

    /// Submits every job and waits for all completions, or, after a stop
    /// request ([`stop::requested`]), submits no more and waits at most
    /// [`stop::GRACE`] for the jobs in flight. Returns the first due time
    /// (of a measured job, when there is a warm-up) and the last
    /// completion.
    fn drive(&mut self, exec: &dyn Executor) -> Result<(Instant, Instant), RunError> {
        // The jobs due at t0 are already in `ready` (read one at a time as
        // they are submitted, so a batch of any size costs nothing before
        // t0), and each open-loop group's first job is scheduled.
        self.schedule_first_open_jobs();
        sleep_until(self.t0.instant());
        let result = self.submit_all(exec);
        if let Some(chain) = self.chain {
            chain.close();
        }
        self.drain();
        // Whatever happened, jobs already submitted still report in; wait
        // for them so the engine can shut down cleanly.
        let grace_end =
            (stop::requested() || self.gave_up.is_some()).then(|| Instant::now() + stop::GRACE);
        while self.completed < self.submitted {
            self.wait_bell(self.submitted, grace_end);
            self.drain();
            if grace_end.is_some_and(|end| Instant::now() >= end) {
                break;
            }
        }
        self.abandoned = self.submitted - self.completed;
        result?;
        let chained_first = self.chain.and_then(ClientChain::first_measured_due);
        let measured = match (self.first_measured_due, chained_first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let first = measured.or(self.first_due).unwrap_or(self.t0).instant();
        Ok((first, self.bell.last_end().unwrap_or(first)))
    }

    fn submit_all(&mut self, exec: &dyn Executor) -> Result<(), RunError> {
        let mut last_report = Instant::now();
        while self.completed < self.total && !stop::requested() && !self.decided() {
            self.report_progress(&mut last_report);
            self.release_due_jobs();
            self.admit(exec)?;
            // At the in-flight limit only a completion lets more in;
            // otherwise the next due job may come first.
            let mut wake = Instant::now() + PROGRESS_EVERY;
            if let (true, Some(Reverse((due, _)))) = (self.ready.is_empty(), self.pending.peek()) {
                wake = wake.min(due.instant());
            }
            self.wait_for_completion(wake);
        }
        Ok(())
    }

    /// Sets the [`GiveUp`] points to check during the run.
    fn set_give_up(&mut self, points: &'a [GiveUp]) {
        let all_open = self.open.iter().all(Option::is_some);
        if points.is_empty() || !all_open {
            return;
        }
        self.give_up = points;
        self.due_offsets = (0..self.plan.groups.len())
            .filter_map(|g| self.plan.open_arrivals(g))
            .flatten()
            .collect();
        self.due_offsets.sort_unstable();
    }

    /// Whether a [`GiveUp`] point has been reached; the first time it is,
    /// cancels the jobs in flight. Checked at least every
    /// [`PROGRESS_EVERY`].
    fn decided(&mut self) -> bool {
        if self.gave_up.is_some() {
            return true;
        }
        let elapsed = Stamp::now().since(self.t0);
        let late = |g: &GiveUp| {
            let cutoff = elapsed.saturating_sub(g.late).as_nanos() as u64;
            let due = self.due_offsets.partition_point(|&d| d < cutoff) as u64;
            due.saturating_sub(self.completed)
        };
        let Some(late_jobs) = self
            .give_up
            .iter()
            .map(|g| (g, late(g)))
            .find(|(g, n)| *n > g.late_jobs_over)
            .map(|(_, n)| n)
        else {
            return false;
        };
        self.gave_up = Some(late_jobs);
        tracing::debug!(late_jobs, "the run's outcome is decided: giving up");
        if let Some(cancel) = self.cancel {
            cancel();
        }
        true
    }

    /// Moves every job whose due time has come from the timer heap to the
    /// ready queue.
    fn release_due_jobs(&mut self) {
        let now = Stamp::now();
        while let Some(Reverse((due, id))) = self.pending.peek().copied() {
            if due > now {
                break;
            }
            self.pending.pop();
            self.ready.push_back(due, id);
            self.schedule_next_open(id.group, id.index + 1);
        }
    }

    /// Submits ready jobs while fewer than `max_in_flight` are running.
    /// Jobs held back keep their due time, so the wait counts as queue time.
    fn admit(&mut self, exec: &dyn Executor) -> Result<(), RunError> {
        while self.submitted - self.completed < self.max_in_flight && !stop::requested() {
            let Some((due, id)) = self.ready.pop_front() else {
                break;
            };
            self.submit(exec, id, due)?;
        }
        // Whatever is still ready waits for a slot.
        self.held_back += self.ready.newly_held_back();
        if let Some(chain) = self.chain {
            chain.set_backlog(!self.ready.is_empty());
        }
        Ok(())
    }

    fn schedule_first_open_jobs(&mut self) {
        for group in 0..self.plan.groups.len() {
            self.schedule_next_open(group, 0);
        }
    }

    /// Open-loop groups keep one job in the heap: the next one due, read
    /// from the group's arrival stream.
    fn schedule_next_open(&mut self, group: usize, index: u64) {
        let Some(stream) = self.open.get_mut(group).and_then(Option::as_mut) else {
            return;
        };
        if let Some(off) = stream.next() {
            self.pending
                .push(Reverse((self.t0.add_ns(off), JobId { group, index })));
        }
    }

    fn submit(&mut self, exec: &dyn Executor, id: JobId, due: Stamp) -> Result<(), RunError> {
        exec.submit(JobTicket { id, due })?;
        self.submitted += 1;
        self.first_due = Some(self.first_due.map_or(due, |f| f.min(due)));
        if id.index >= warmup_of(self.plan, id.group, self.warmup_jobs) {
            self.first_measured_due = Some(self.first_measured_due.map_or(due, |f| f.min(due)));
        }
        Ok(())
    }

    /// Waits until the driver has something to do or `deadline` (returns
    /// at once if it has passed), then takes every completion there.
    fn wait_for_completion(&mut self, deadline: Instant) {
        self.wait_bell(self.wanted(), Some(deadline));
        self.drain();
    }

    /// Waits for `want` completions or `deadline`: woken by the completion
    /// that reaches the count when the driver must hear of it at once,
    /// looking every [`POLL_EVERY`] otherwise.
    fn wait_bell(&self, want: u64, deadline: Option<Instant>) {
        if self.must_hear_at_once() {
            self.bell.wait(want, deadline);
        } else {
            self.bell.poll(want, deadline, POLL_EVERY);
        }
    }

    /// Whether the next completion must be acted on at once: it submits a
    /// closed-loop client's next job (whose due time is that completion, so
    /// a late driver would show as queue time), or, at a small in-flight
    /// bound or with a thread per job ([`refill_every`] 1), it lets the next
    /// held-back job in. Otherwise the driver only waits for a backlog to
    /// shrink by a large share, or for the last job, whose end time the
    /// jobs record themselves.
    fn must_hear_at_once(&self) -> bool {
        self.closed || (self.refill_every <= 1 && !self.ready.is_empty())
    }

    /// Counts the completions rung so far, and submits the closed-loop
    /// clients' next jobs for those sent. A completion is sent before it is
    /// rung, so every one counted is already in the channel.
    fn drain(&mut self) {
        let rung = self.bell.rung();
        // After the ring count: a job chained by a finishing job is counted
        // as submitted before that job is rung.
        if let Some(chain) = self.chain {
            let chained = chain.submitted();
            self.submitted = (self.submitted + chained).saturating_sub(self.chained_seen);
            self.chained_seen = chained;
        }
        while let Ok(done) = self.done_rx.try_recv() {
            self.on_done(done);
        }
        self.completed = self.completed.max(rung);
    }

    /// How many completions must have been sent before the driver has
    /// something to do: the next one when it submits a closed-loop client's
    /// next job on it, or lets a held-back job in (every
    /// [`Driver::refill_every`]-th); else the last job in flight (the driver
    /// wakes anyway for the next due job and for progress).
    fn wanted(&self) -> u64 {
        let in_flight = self.submitted - self.completed;
        if in_flight == 0 {
            u64::MAX
        } else if self.closed {
            self.completed + 1
        } else if !self.ready.is_empty() {
            self.completed + self.refill_every.clamp(1, in_flight)
        } else {
            self.submitted
        }
    }

    /// Submits a closed-loop client's next job after `done` (completions of
    /// other groups are counted by the bell alone).
    fn on_done(&mut self, done: Done) {
        if let ArrivalPlan::Closed { clients, .. } = &self.plan.groups[done.id.group].arrival {
            let next = JobId {
                group: done.id.group,
                index: done.id.index + clients,
            };
            if next.index < self.plan.groups[next.group].jobs {
                let due = done.end + self.plan.think_before(next);
                self.pending.push(Reverse((due, next)));
            }
        }
    }

    fn report_progress(&self, last: &mut Instant) {
        if let Some(cb) = self.progress {
            if last.elapsed() >= PROGRESS_EVERY {
                *last = Instant::now();
                cb(Progress {
                    done: self.completed,
                    total: self.total,
                });
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::config::{Arrival, BackendKind, DurationSpec, GilSettings, GroupSpec, JobSet, Step};
    use crate::work::kernel::Calibration;

    #[test]
    fn only_queueing_backends_under_a_large_bound_top_up_in_batches() {
        let per_job = BackendSpec::new(BackendKind::Threads, false);
        assert_eq!(refill_every(&per_job, 16_384), 1);
        let mut pool = BackendSpec::new(BackendKind::Threads, false);
        pool.workers = 2;
        assert_eq!(refill_every(&pool, 65_536), 4096);
        assert_eq!(refill_every(&pool, 512), 1);
        assert_eq!(
            refill_every(&BackendSpec::new(BackendKind::Tokio, false), 2048),
            128
        );
    }

    fn set(jobs: u64, arrival: Arrival) -> Arc<Plan> {
        set_of(vec![(jobs, arrival)])
    }

    /// A plan of `groups` (job count, arrival), each job one 2 µs CPU step.
    pub(in crate::backend) fn set_of(groups: Vec<(u64, Arrival)>) -> Arc<Plan> {
        Arc::new(Plan::new(&JobSet {
            name: "driver".into(),
            description: None,
            seed: 1,
            gil: GilSettings::default(),
            backends: vec![],
            groups: groups
                .into_iter()
                .enumerate()
                .map(|(i, (jobs, arrival))| GroupSpec {
                    name: format!("g{i}"),
                    jobs,
                    arrival,
                    steps: vec![Step::Cpu(DurationSpec::Fixed(Duration::from_micros(2)))],
                })
                .collect(),
            source: "driver.toml".into(),
            model_cores: None,
        }))
    }

    fn opts(max_in_flight: u64) -> RunOptions<'static> {
        RunOptions {
            calibration: Calibration {
                iters_per_us: 100.0,
            },
            max_threads: 1000,
            record_gil_holds: false,
            max_in_flight,
            warmup_jobs: 0,
            give_up: &[],
            progress: None,
        }
    }

    /// Held-back jobs topped up in batches, and closed-loop clients woken
    /// on every completion, all complete and are all measured.
    #[test]
    fn every_job_completes_whatever_the_driver_sleeps_through() {
        let mut pool = BackendSpec::new(BackendKind::Threads, false);
        pool.workers = 2;
        for spec in [pool, BackendSpec::new(BackendKind::Rayon, false)] {
            let m = run(&spec, set(20_000, Arrival::Batch), &opts(2048)).unwrap();
            assert_eq!(m.jobs, 20_000, "{}", spec.name);
            assert!(m.held_back.is_some_and(|h| h.jobs == 20_000 - 2048));
            let closed = Arrival::Closed {
                clients: 3,
                think: None,
            };
            let m = run(&spec, set(3_000, closed), &opts(65_536)).unwrap();
            assert_eq!(m.jobs, 3_000, "{}", spec.name);
        }
    }

    /// A lone closed-loop client goes on by itself on every kind of
    /// backend, work-stealing runtimes included ([`ClientChain::applies`]),
    /// and every one of its jobs is run and measured once; two clients go
    /// through the driver there.
    #[test]
    fn a_lone_client_goes_on_by_itself_on_every_backend() {
        let mut pool = BackendSpec::new(BackendKind::Threads, false);
        pool.workers = 2;
        let mut ct = BackendSpec::new(BackendKind::Tokio, false);
        ct.flavor = Some(crate::config::Flavor::CurrentThread);
        let clients = |n| Arrival::Closed {
            clients: n,
            think: None,
        };
        for mut spec in [
            pool,
            BackendSpec::new(BackendKind::Rayon, false),
            BackendSpec::new(BackendKind::Tokio, false),
            ct,
            BackendSpec::new(BackendKind::AsyncStd, false),
            BackendSpec::new(BackendKind::Smol, false),
        ] {
            // Two workers everywhere: async-std's one executor takes one
            // worker count per process, and its other tests ask for two.
            spec.workers = 2;
            let cores = available_cores();
            let backend = backend_for(&spec, cores);
            let chained = |plan: &Arc<Plan>| {
                let (tx, _rx) = crossbeam_channel::unbounded();
                let d = Deployment::launch(&spec, &*backend, plan, &opts(64), tx, cores).unwrap();
                let chained = d.chain.is_some();
                d.finish(false);
                chained
            };
            assert!(chained(&set(10, clients(1))), "{}: one client", spec.name);
            assert_eq!(
                chained(&set(10, clients(2))),
                backend.queues_alike_from_workers(),
                "{}: two clients",
                spec.name
            );
            let m = run(&spec, set(500, clients(1)), &opts(64)).unwrap();
            assert_eq!(m.jobs, 500, "{}", spec.name);
            assert!(m.complete, "{}", spec.name);
        }
    }

    /// Closed-loop clients that go on by themselves ([`ClientChain`]) still
    /// respect a bound below the number of clients, and every job of a
    /// mix of chained clients, clients with a think time and a batch is
    /// run and measured once, on every kind of executor.
    #[test]
    fn chained_clients_complete_under_a_bound_and_beside_other_groups() {
        let mut pool = BackendSpec::new(BackendKind::Threads, false);
        pool.workers = 2;
        let per_job = BackendSpec::new(BackendKind::Threads, false);
        let closed = Arrival::Closed {
            clients: 10,
            think: None,
        };
        for spec in [
            pool,
            per_job,
            BackendSpec::new(BackendKind::Rayon, false),
            BackendSpec::new(BackendKind::Tokio, false),
            BackendSpec::new(BackendKind::Smol, false),
        ] {
            let m = run(&spec, set(2_000, closed.clone()), &opts(3)).unwrap();
            assert_eq!(m.jobs, 2_000, "{}", spec.name);
            assert!(m.held_back.is_some(), "{}: 10 clients, 3 slots", spec.name);
            let thinking = Arrival::Closed {
                clients: 2,
                think: Some(DurationSpec::Fixed(Duration::from_micros(50))),
            };
            let mixed = set_of(vec![
                (1_000, closed.clone()),
                (300, thinking),
                (500, Arrival::Batch),
            ]);
            let m = run(&spec, mixed, &opts(65_536)).unwrap();
            assert_eq!(m.jobs, 1_800, "{}", spec.name);
            assert!(m.complete, "{}", spec.name);
        }
    }
}
