//! The workload plan: a validated [`JobSet`] turned into what backends run.
//!
//! Planning resolves names (locks, counters) to indices, turns arrival specs
//! into due times, and gives every job its own random stream derived from
//! the seed, so the same seed always yields the same durations and arrivals
//! (SPEC §1.5) no matter which backend runs the jobs or in which order.

mod cursor;
pub mod digest;
pub mod dist;
mod initial;

use std::collections::BTreeMap;
use std::time::Duration;

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

pub use cursor::{Action, JobCursor};
pub use initial::{InitialJobs, Ready};

use crate::config::{Arrival, ArrivalProcess, DurationSpec, GilSettings, Guard, JobSet, Step};

/// A job set ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The job set's name.
    pub name: String,
    /// The seed every draw derives from.
    pub seed: u64,
    /// `[gil]` settings: the GIL's protocol parameters, the counter
    /// iteration's split (`counter_inside_share`) and the interpreter's
    /// per-operation costs (`cost`), for every engine (docs/gil.md).
    pub gil: GilSettings,
    /// The groups, all running at once.
    pub groups: Vec<GroupPlan>,
    /// Application lock names; a lock's index is its id.
    pub locks: Vec<String>,
    /// Shared counters; a counter's index is its id.
    pub counters: Vec<CounterPlan>,
    /// SHA-256 (hex) of what determines every draw: see [`digest`].
    pub sha256: String,
}

/// One group, planned.
#[derive(Debug, Clone)]
pub struct GroupPlan {
    /// The group's name.
    pub name: String,
    /// Number of jobs.
    pub jobs: u64,
    /// When its jobs become due.
    pub arrival: ArrivalPlan,
    /// Its steps, with names resolved to ids.
    pub steps: Vec<PlanStep>,
}

/// Due times of a group's jobs, relative to the start of the run.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrivalPlan {
    /// Every job is due at 0.
    Batch,
    /// Job `j` belongs to client `j % clients`; a client's next job is due
    /// when its previous one completes, plus the think time.
    Closed {
        /// Number of clients.
        clients: u64,
        /// Think time before every job but a client's first.
        think: Option<DurationSpec>,
    },
    /// Jobs arrive at `rate` per second; their due times are drawn lazily,
    /// in job order, from the group's arrival stream (read them with
    /// [`Plan::open_arrivals`]), so a plan's memory does not grow with its
    /// job count.
    Open {
        /// Jobs per second.
        rate: f64,
        /// Poisson (exponential gaps) or uniform (evenly spaced).
        process: ArrivalProcess,
    },
}

/// A step with names resolved to ids.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanStep {
    /// Interpreted CPU work.
    Cpu(DurationSpec),
    /// Native CPU work (releases the GIL).
    Native(DurationSpec),
    /// An IO wait.
    Io(DurationSpec),
    /// A critical section on lock `lock`.
    Lock {
        /// Index into [`Plan::locks`].
        lock: usize,
        /// Work inside the section.
        cpu: DurationSpec,
    },
    /// Counter increments.
    Counter {
        /// Index into [`Plan::counters`].
        counter: usize,
        /// Increments.
        add: u64,
        /// Protection.
        guard: Guard,
        /// Whether a GIL switch may fall between read and write.
        switch_inside: bool,
    },
    /// Inner steps, `times` times.
    Repeat {
        /// Repetitions.
        times: u64,
        /// The inner steps.
        steps: Vec<PlanStep>,
    },
}

/// A shared counter and how many increments the plan makes to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterPlan {
    /// Its name.
    pub name: String,
    /// Total increments over all jobs: the value when nothing is lost.
    pub expected: u64,
}

/// Work a plan requests, summed over all jobs (expected values where
/// durations are random).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Interpreted CPU work.
    pub cpu: Duration,
    /// Native CPU work.
    pub native: Duration,
    /// IO waits.
    pub io: Duration,
    /// CPU work inside lock sections.
    pub locked_cpu: Duration,
    /// Step executions, with repeats expanded.
    pub steps: u64,
}

impl Totals {
    /// All CPU-type work: what cores must execute.
    pub fn all_cpu(&self) -> Duration {
        self.cpu + self.native + self.locked_cpu
    }

    /// One job's expected service time if it ran alone, with CPU work
    /// running at `cpu_speed` times the calibrated speed.
    pub fn alone(&self, cpu_speed: f64) -> Duration {
        at_speed(self.all_cpu(), cpu_speed) + self.io
    }

    fn add_scaled(&mut self, other: &Totals, times: u64) {
        let t = times.min(u32::MAX as u64) as u32;
        self.cpu += other.cpu * t;
        self.native += other.native * t;
        self.io += other.io * t;
        self.locked_cpu += other.locked_cpu * t;
        self.steps = self.steps.saturating_add(other.steps.saturating_mul(times));
    }
}

/// Identifies one job of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId {
    /// Index into [`Plan::groups`].
    pub group: usize,
    /// Index within the group.
    pub index: u64,
}

impl Plan {
    /// Plans `set` with its own seed.
    pub fn new(set: &JobSet) -> Self {
        Self::with_seed(set, set.seed)
    }

    /// Plans `set` with `seed` instead of its own (`--seed`).
    pub fn with_seed(set: &JobSet, seed: u64) -> Self {
        let mut names = Names::default();
        let groups = set
            .groups
            .iter()
            .map(|g| GroupPlan {
                name: g.name.clone(),
                jobs: g.jobs,
                arrival: plan_arrival(&g.arrival),
                steps: names.resolve(&g.steps),
            })
            .collect::<Vec<_>>();
        let mut counters: Vec<CounterPlan> = names
            .counters
            .iter()
            .map(|n| CounterPlan {
                name: n.clone(),
                expected: 0,
            })
            .collect();
        for g in &groups {
            count_increments(&g.steps, g.jobs, &mut counters);
        }
        Self {
            name: set.name.clone(),
            seed,
            gil: set.gil,
            groups,
            locks: names.locks,
            counters,
            sha256: digest::plan_sha256(seed, &set.gil, &set.groups),
        }
    }

    /// Total number of jobs.
    pub fn total_jobs(&self) -> u64 {
        self.groups.iter().map(|g| g.jobs).sum()
    }

    /// The cursor that yields job `id`'s actions with its own draws.
    pub fn cursor(&self, id: JobId) -> JobCursor<'_> {
        JobCursor::new(
            &self.groups[id.group].steps,
            Pcg64Mcg::seed_from_u64,
            job_seed,
            (self.seed, id),
        )
    }

    /// The group's part of the seeds of its jobs' own random streams, the
    /// ones [`Plan::cursor`] draws from: job `index`'s stream is
    /// `Pcg64Mcg::seed_from_u64` of [`job_seed_in`] of it and `index`. For
    /// a caller that walks jobs' steps itself (the model engine's fast
    /// path) and seeds many jobs of one group.
    pub fn group_stream_seed(&self, group: usize) -> u64 {
        group_seed(self.seed, group)
    }

    /// Think time before job `id` of a closed group (zero for a client's first job).
    pub fn think_before(&self, id: JobId) -> Duration {
        match &self.groups[id.group].arrival {
            ArrivalPlan::Closed {
                clients,
                think: Some(t),
            } if id.index >= *clients => {
                let mut rng = job_rng(self.seed ^ 0x7468_696e_6b00_0000, id);
                dist::sample(t, &mut rng)
            }
            _ => Duration::ZERO,
        }
    }

    /// Requested work of one group (expected values).
    pub fn group_totals(&self, group: usize) -> Totals {
        let g = &self.groups[group];
        let mut t = Totals::default();
        t.add_scaled(&steps_totals(&g.steps), g.jobs);
        t
    }

    /// Requested work over all groups (expected values).
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for gi in 0..self.groups.len() {
            t.add_scaled(&self.group_totals(gi), 1);
        }
        t
    }

    /// The due times (ns after the start) of an open-loop group's jobs, in
    /// job order; `None` for other arrival modes. This is the one way to
    /// read open-loop arrivals, so how they are generated (drawn up front or
    /// lazily from the group's stream) stays the plan's business.
    pub fn open_arrivals(&self, group: usize) -> Option<OpenArrivals<'_>> {
        let g = self.groups.get(group)?;
        match &g.arrival {
            ArrivalPlan::Open { rate, process } => Some(OpenArrivals::new(
                *rate,
                *process,
                g.jobs,
                arrival_rng(self.seed, group),
            )),
            _ => None,
        }
    }

    /// The jobs due when a run starts (batch jobs and each closed-loop
    /// client's first), interleaved across groups, one at a time.
    pub fn initial_jobs(&self) -> InitialJobs {
        InitialJobs::of(self)
    }

    /// Pairs per-group values, in plan order, with their group's name.
    pub fn name_groups<T>(&self, per_group: Vec<T>) -> Vec<(String, T)> {
        self.groups
            .iter()
            .map(|g| g.name.clone())
            .zip(per_group)
            .collect()
    }

    /// The longest single job's expected service time if it ran alone, with
    /// CPU work at `cpu_speed` times the calibrated speed.
    pub fn longest_job(&self, cpu_speed: f64) -> Duration {
        self.groups
            .iter()
            .map(|g| steps_totals(&g.steps).alone(cpu_speed))
            .max()
            .unwrap_or_default()
    }

    /// The earliest time the last job of any group can be due: the last
    /// open-loop arrival, or a closed client's chain of jobs and think times
    /// (expected values, CPU work at `cpu_speed` times the calibrated speed).
    pub fn arrival_span(&self, cpu_speed: f64) -> Duration {
        self.groups
            .iter()
            .enumerate()
            .map(|(gi, g)| match &g.arrival {
                ArrivalPlan::Batch => Duration::ZERO,
                ArrivalPlan::Open { .. } => {
                    // Walks a Poisson stream once: time O(jobs), memory O(1).
                    let last = self.open_arrivals(gi).and_then(Iterator::last);
                    Duration::from_nanos(last.unwrap_or(0))
                }
                ArrivalPlan::Closed { clients, think } => {
                    let per_client = g.jobs.div_ceil((*clients).max(1));
                    let job = steps_totals(&g.steps);
                    let think = think.as_ref().map(dist::mean).unwrap_or_default();
                    (job.alone(cpu_speed) + think)
                        .saturating_mul(per_client.saturating_sub(1).min(u32::MAX as u64) as u32)
                }
            })
            .max()
            .unwrap_or_default()
    }
}

/// An open-loop group's due times in job order (see [`Plan::open_arrivals`]),
/// drawn as they are read: cumulative exponential gaps (Poisson) or
/// `i / rate` (uniform). The draws are those the plan made up front before
/// (same stream, same order), so a seed gives the same arrivals as ever.
#[derive(Debug, Clone)]
pub struct OpenArrivals<'a> {
    /// Jobs still to come.
    remaining: u64,
    /// Index of the next job (uniform spacing).
    next: u64,
    /// Mean gap between arrivals.
    gap_ns: f64,
    /// Due time of the next job (Poisson), in ns as f64.
    t: f64,
    /// The Poisson gaps' mean in seconds, as `Exp::new(rate)` has it
    /// (`None` for uniform arrivals, or when the rate is not a valid Exp
    /// parameter: the mean gap is used). Drawn by [`dist::draw_exp`], the
    /// value `Exp::sample` gives, which the model's steps draw through too.
    exp_scale: Option<f64>,
    poisson: bool,
    rng: Pcg64Mcg,
    _plan: std::marker::PhantomData<&'a Plan>,
}

impl OpenArrivals<'_> {
    fn new(rate: f64, process: ArrivalProcess, jobs: u64, rng: Pcg64Mcg) -> Self {
        let poisson = process == ArrivalProcess::Poisson;
        Self {
            remaining: jobs,
            next: 0,
            gap_ns: 1e9 / rate,
            t: 0.0,
            exp_scale: if poisson { dist::exp_scale(rate) } else { None },
            poisson,
            rng,
            _plan: std::marker::PhantomData,
        }
    }
}

impl Iterator for OpenArrivals<'_> {
    type Item = u64;

    #[inline(always)]
    fn next(&mut self) -> Option<u64> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let i = self.next;
        self.next += 1;
        if !self.poisson {
            return Some(dist::f64_to_u64(i as f64 * self.gap_ns));
        }
        let at = self.t;
        self.t += match self.exp_scale {
            Some(scale) => dist::draw_exp(scale, &mut self.rng) * 1e9,
            None => self.gap_ns,
        };
        Some(dist::f64_to_u64(at))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        (n, Some(n))
    }

    fn last(mut self) -> Option<u64> {
        if self.poisson || self.remaining == 0 {
            return self.fold(None, |_, x| Some(x));
        }
        // Uniform: the last index is known without walking.
        self.next += self.remaining - 1;
        self.remaining = 1;
        self.next()
    }
}

impl ExactSizeIterator for OpenArrivals<'_> {}

/// `cpu` of calibrated work as it runs at `speed` times the calibrated
/// speed; a missing or nonsensical speed leaves it as requested.
pub fn at_speed(cpu: Duration, speed: f64) -> Duration {
    if speed.is_finite() && speed > 0.0 {
        Duration::try_from_secs_f64(cpu.as_secs_f64() / speed).unwrap_or(cpu)
    } else {
        cpu
    }
}

/// The RNG stream of one job: a pure function of (seed, group, index).
fn job_rng(seed: u64, id: JobId) -> Pcg64Mcg {
    Pcg64Mcg::seed_from_u64(job_seed(seed, id))
}

/// The seed of [`job_rng`].
fn job_seed(seed: u64, id: JobId) -> u64 {
    job_seed_in(group_seed(seed, id.group), id.index)
}

/// The group's part of [`job_seed`].
fn group_seed(seed: u64, group: usize) -> u64 {
    splitmix(seed ^ splitmix(group as u64 + 1))
}

/// The seed of job `index` of the group whose [`Plan::group_stream_seed`]
/// is `group_seed`.
#[inline]
pub fn job_seed_in(group_seed: u64, index: u64) -> u64 {
    splitmix(group_seed ^ index)
}

/// SplitMix64's finaliser: spreads nearby inputs over the whole range.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stream open-loop due times of `group` are drawn from.
fn arrival_rng(seed: u64, group: usize) -> Pcg64Mcg {
    job_rng(
        seed ^ 0x6172_7269_7661_6c00,
        JobId {
            group,
            index: u64::MAX,
        },
    )
}

fn plan_arrival(arrival: &Arrival) -> ArrivalPlan {
    match arrival {
        Arrival::Batch => ArrivalPlan::Batch,
        Arrival::Closed { clients, think } => ArrivalPlan::Closed {
            clients: *clients,
            think: *think,
        },
        Arrival::Open { rate, process } => ArrivalPlan::Open {
            rate: *rate,
            process: *process,
        },
    }
}

/// Name → id tables built while resolving steps.
#[derive(Default)]
struct Names {
    locks: Vec<String>,
    counters: Vec<String>,
    lock_ids: BTreeMap<String, usize>,
    counter_ids: BTreeMap<String, usize>,
}

impl Names {
    fn resolve(&mut self, steps: &[Step]) -> Vec<PlanStep> {
        steps.iter().map(|s| self.resolve_one(s)).collect()
    }

    fn resolve_one(&mut self, step: &Step) -> PlanStep {
        match step {
            Step::Cpu(d) => PlanStep::Cpu(*d),
            Step::Native(d) => PlanStep::Native(*d),
            Step::Io(d) => PlanStep::Io(*d),
            Step::Lock { name, cpu } => PlanStep::Lock {
                lock: intern(&mut self.locks, &mut self.lock_ids, name),
                cpu: *cpu,
            },
            Step::Counter {
                name,
                add,
                guard,
                switch_inside,
            } => PlanStep::Counter {
                counter: intern(&mut self.counters, &mut self.counter_ids, name),
                add: *add,
                guard: *guard,
                switch_inside: *switch_inside,
            },
            Step::Repeat { times, steps } => PlanStep::Repeat {
                times: *times,
                steps: self.resolve(steps),
            },
        }
    }
}

fn intern(list: &mut Vec<String>, ids: &mut BTreeMap<String, usize>, name: &str) -> usize {
    *ids.entry(name.to_string()).or_insert_with(|| {
        list.push(name.to_string());
        list.len() - 1
    })
}

fn count_increments(steps: &[PlanStep], times: u64, counters: &mut [CounterPlan]) {
    for s in steps {
        match s {
            PlanStep::Counter { counter, add, .. } => {
                let c = &mut counters[*counter];
                c.expected = c.expected.saturating_add(add.saturating_mul(times));
            }
            PlanStep::Repeat { times: n, steps } => {
                count_increments(steps, times.saturating_mul(*n), counters)
            }
            _ => {}
        }
    }
}

fn steps_totals(steps: &[PlanStep]) -> Totals {
    let mut t = Totals::default();
    for s in steps {
        t.steps = t.steps.saturating_add(1);
        match s {
            PlanStep::Cpu(d) => t.cpu += dist::mean(d),
            PlanStep::Native(d) => t.native += dist::mean(d),
            PlanStep::Io(d) => t.io += dist::mean(d),
            PlanStep::Lock { cpu, .. } => t.locked_cpu += dist::mean(cpu),
            PlanStep::Counter { add, .. } => {
                t.cpu += crate::work::counter::INCREMENT_COST * (*add).min(u32::MAX as u64) as u32
            }
            PlanStep::Repeat { times, steps } => {
                t.steps -= 1;
                t.add_scaled(&steps_totals(steps), *times)
            }
        }
    }
    t
}

#[cfg(test)]
mod tests;
