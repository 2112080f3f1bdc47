//! Walking one job's step tree, drawing its durations as it goes.

use std::time::Duration;

use rand_pcg::Pcg64Mcg;

use super::{dist, JobId, PlanStep};
use crate::config::{DurationSpec, Guard};

/// One leaf step of a job, with its duration drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Interpreted CPU work.
    Cpu(Duration),
    /// Native CPU work (releases the GIL).
    Native(Duration),
    /// An IO wait.
    Io(Duration),
    /// A critical section: lock id and the work inside.
    Lock { lock: usize, cpu: Duration },
    /// Counter increments.
    Counter {
        counter: usize,
        add: u64,
        guard: Guard,
        switch_inside: bool,
    },
}

impl Action {
    /// The span name of this kind of step.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Cpu(_) => "cpu",
            Action::Native(_) => "native",
            Action::Io(_) => "io",
            Action::Lock { .. } => "lock",
            Action::Counter { .. } => "counter",
        }
    }

    /// The duration asked for, in µs (increments for a counter step).
    pub fn requested_us(&self) -> u64 {
        match self {
            Action::Cpu(d) | Action::Native(d) | Action::Io(d) | Action::Lock { cpu: d, .. } => {
                d.as_micros() as u64
            }
            Action::Counter { add, .. } => *add,
        }
    }
}

struct Frame<'a> {
    steps: &'a [PlanStep],
    next: usize,
    reps_left: u64,
}

/// Yields a job's actions in order. An explicit stack instead of recursion
/// lets async executors drive it across `.await`s, and keeps memory per job
/// at O(nesting) however large the `repeat` counts are.
pub struct JobCursor<'a> {
    /// The job's own steps; kept out of `nested` so that a job without
    /// `repeat` allocates nothing (the cursor is on every job's path).
    root: Frame<'a>,
    root_done: bool,
    /// `repeat` blocks being walked, innermost last.
    nested: Vec<Frame<'a>>,
    /// The job's random stream, made on the first draw: seeding it is a
    /// good part of a short job's bookkeeping, and fixed durations draw
    /// nothing.
    rng: LazyRng,
}

/// A [`Pcg64Mcg`] made on first use, from a seed also worked out on first
/// use (three SplitMix rounds that a job of fixed durations never needs).
struct LazyRng {
    make: fn(u64) -> Pcg64Mcg,
    seed: fn(u64, JobId) -> u64,
    of: (u64, JobId),
    rng: Option<Pcg64Mcg>,
}

impl LazyRng {
    /// A duration drawn from `spec`; the stream is only made (and only
    /// advanced) when the distribution draws, as [`dist::sample`] would.
    #[inline]
    fn draw(&mut self, spec: &DurationSpec) -> Duration {
        match spec {
            DurationSpec::Fixed(d) => *d,
            _ => self.draw_random(spec),
        }
    }

    /// [`LazyRng::draw`] from a distribution, out of line: it is most of
    /// the cursor's code, and `next`, inlined into every job loop, stays
    /// small without it.
    #[inline(never)]
    fn draw_random(&mut self, spec: &DurationSpec) -> Duration {
        let (make, seed, (plan_seed, id)) = (self.make, self.seed, self.of);
        dist::sample(
            spec,
            self.rng.get_or_insert_with(|| make(seed(plan_seed, id))),
        )
    }
}

impl<'a> JobCursor<'a> {
    /// A cursor over `steps`, drawing from the stream `make(seed(of))`.
    pub(super) fn new(
        steps: &'a [PlanStep],
        make: fn(u64) -> Pcg64Mcg,
        seed: fn(u64, JobId) -> u64,
        of: (u64, JobId),
    ) -> Self {
        Self {
            root: Frame {
                steps,
                next: 0,
                reps_left: 1,
            },
            root_done: false,
            nested: Vec::new(),
            rng: LazyRng {
                make,
                seed,
                of,
                rng: None,
            },
        }
    }
}

impl Iterator for JobCursor<'_> {
    type Item = Action;

    // Inlined into the job loops, a job's action stays in registers instead
    // of being stored and read back in pieces.
    #[inline(always)]
    fn next(&mut self) -> Option<Action> {
        loop {
            let frame = match self.nested.last_mut() {
                Some(f) => f,
                None if !self.root_done => &mut self.root,
                None => return None,
            };
            if frame.next == frame.steps.len() {
                if frame.reps_left > 1 {
                    frame.reps_left -= 1;
                    frame.next = 0;
                } else if self.nested.pop().is_none() {
                    self.root_done = true;
                }
                continue;
            }
            let steps = frame.steps;
            let step = &steps[frame.next];
            frame.next += 1;
            let rng = &mut self.rng;
            return Some(match step {
                PlanStep::Repeat { times, steps } => {
                    if *times > 0 && !steps.is_empty() {
                        self.nested.push(Frame {
                            steps,
                            next: 0,
                            reps_left: *times,
                        });
                    }
                    continue;
                }
                PlanStep::Cpu(d) => Action::Cpu(rng.draw(d)),
                PlanStep::Native(d) => Action::Native(rng.draw(d)),
                PlanStep::Io(d) => Action::Io(rng.draw(d)),
                PlanStep::Lock { lock, cpu } => Action::Lock {
                    lock: *lock,
                    cpu: rng.draw(cpu),
                },
                PlanStep::Counter {
                    counter,
                    add,
                    guard,
                    switch_inside,
                } => Action::Counter {
                    counter: *counter,
                    add: *add,
                    guard: *guard,
                    switch_inside: *switch_inside,
                },
            });
        }
    }
}
