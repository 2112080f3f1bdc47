//! The CPU kernel: a fixed amount of computation per iteration, calibrated
//! once so that a requested `cpu = "1ms"` becomes a number of iterations
//! (SPEC §1.1). CPU work is *work*, never "spin until the clock says so":
//! only then do cores, a GIL and preemption show up as longer wall time.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Iterations of [`spin`] per microsecond on one otherwise idle core.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Kernel iterations per microsecond.
    pub iters_per_us: f64,
}

/// Environment variable that pins the calibration instead of measuring it
/// (for reproducible comparisons across machines or runs).
pub const CALIBRATION_ENV: &str = "GILSIM_ITERS_PER_US";

impl Calibration {
    /// What run options carry where no kernel runs, so none is measured:
    /// the model engine simulates CPU steps from their durations
    /// ([`crate::engine::Engine::calibrate`], the model's benchmark), and
    /// preflight checks run no work. One iteration per µs, a plain
    /// placeholder nothing reads.
    pub const NOT_MEASURED: Calibration = Calibration { iters_per_us: 1.0 };

    /// Measures the kernel's rate: the best of several short runs, because on
    /// a shared machine interference only ever makes a run slower.
    ///
    /// Each run is timed on the thread's CPU clock, not the wall clock: time
    /// the thread spends preempted is not the kernel's. Timed on the wall
    /// clock, a calibration taken while other threads kept both cores busy
    /// (tests running side by side, a build) read the kernel 2.7× slow in
    /// all seven runs, so every CPU step of the run that followed was that
    /// much too short.
    pub fn measure() -> Self {
        // Warm up caches and let the CPU frequency settle.
        spin(0, 2_000_000);
        let probe = 4_000_000u64;
        let best_ns = (0..7)
            .map(|_| {
                let t = thread_cpu_ns();
                spin(1, probe);
                thread_cpu_ns().saturating_sub(t)
            })
            .min()
            .unwrap_or(1_000_000);
        let us = best_ns as f64 / 1e3;
        Self {
            iters_per_us: (probe as f64 / us.max(1e-3)).max(1e-3),
        }
    }

    /// The calibration from [`CALIBRATION_ENV`] when set to a positive
    /// number, else a fresh measurement.
    pub fn from_env_or_measure() -> Result<Self, String> {
        match std::env::var(CALIBRATION_ENV) {
            Ok(v) => match v.trim().parse::<f64>() {
                Ok(x) if x.is_finite() && x > 0.0 => Ok(Self { iters_per_us: x }),
                _ => Err(format!(
                    "{CALIBRATION_ENV}={v:?} is not a positive number of kernel iterations per microsecond"
                )),
            },
            Err(_) => Ok(Self::measure()),
        }
    }

    /// Iterations that make up `d` of CPU work.
    pub fn iters_for(&self, d: Duration) -> u64 {
        // On every CPU step's path: ns times a rate and `+ 0.5` truncated
        // (`x.round()` for x ≥ 0) avoid `as_secs_f64`'s division and a
        // call to libm's `round`. Negative or NaN rates give 0, as before.
        let ns = d.as_secs().saturating_mul(1_000_000_000) + u64::from(d.subsec_nanos());
        (ns as f64 * (self.iters_per_us * 1e-3) + 0.5) as u64
    }
}

/// Shortest CPU work [`SpeedMeter`] samples. Two thread-CPU-clock reads
/// cost about half a microsecond, 0.25% of this: cheap enough to leave on,
/// and long enough that clock granularity does not matter.
pub const SPEED_SAMPLE_MIN: Duration = Duration::from_micros(200);

/// How far the kernel's speed during a run may drift from its calibration
/// (as a fraction) before `gilsim run` warns that CPU steps were off. The
/// calibration alone moves by ±5% between invocations on a shared VM, so a
/// lower threshold would warn on most runs there; the report always carries
/// the figure.
pub const SPEED_DRIFT_WARN: f64 = 0.10;

/// The kernel's speed *during* a run, against its calibration.
///
/// A shared or frequency-scaling machine changes speed from second to second
/// (seen here: 586 to 672 iterations/µs), so the start-up calibration can be
/// off by several percent by the time a job runs. The meter reads the
/// thread's CPU clock around long enough CPU work; CPU time, unlike wall
/// time, does not count the time the thread was preempted, so the ratio is
/// the kernel's own speed however many threads share the cores.
#[derive(Debug)]
pub struct SpeedMeter {
    calibration: Calibration,
    /// [`SPEED_SAMPLE_MIN`] in iterations, worked out once: `start` is on
    /// the path of every CPU step.
    min_iters: u64,
    iters: AtomicU64,
    cpu_ns: AtomicU64,
}

impl SpeedMeter {
    /// A meter for a kernel running with `calibration`.
    pub fn new(calibration: Calibration) -> Self {
        Self {
            calibration,
            min_iters: calibration.iters_for(SPEED_SAMPLE_MIN).max(1),
            iters: AtomicU64::new(0),
            cpu_ns: AtomicU64::new(0),
        }
    }

    /// Starts timing CPU work of `iters` kernel iterations; it is sampled
    /// when it is at least [`SPEED_SAMPLE_MIN`] of work. Hand the sample
    /// back to [`SpeedMeter::finish`].
    pub fn start(&self, iters: u64) -> SpeedSample {
        let sampled = iters >= self.min_iters;
        SpeedSample {
            iters,
            started_ns: sampled.then(thread_cpu_ns),
            excluded_ns: 0,
        }
    }

    /// Ends a sample and adds it to the run's figure.
    pub fn finish(&self, sample: SpeedSample) {
        if let Some(start) = sample.started_ns {
            let spent = thread_cpu_ns()
                .saturating_sub(start)
                .saturating_sub(sample.excluded_ns);
            self.iters.fetch_add(sample.iters, Ordering::Relaxed);
            self.cpu_ns.fetch_add(spent, Ordering::Relaxed);
        }
    }

    /// Runs `work`, `iters` kernel iterations with nothing to exclude, as one
    /// sample.
    pub fn run<R>(&self, iters: u64, work: impl FnOnce() -> R) -> R {
        let sample = self.start(iters);
        let out = work();
        self.finish(sample);
        out
    }

    /// Observed speed over calibrated speed (1.07 = CPU work ran 7% faster,
    /// so CPU steps were about 7% shorter than requested), or `None` when no
    /// work was long enough to sample.
    pub fn speed(&self) -> Option<f64> {
        let iters = self.iters.load(Ordering::Relaxed);
        let ns = self.cpu_ns.load(Ordering::Relaxed);
        if iters == 0 || ns == 0 {
            return None;
        }
        let observed = iters as f64 / (ns as f64 / 1e3);
        Some(observed / self.calibration.iters_per_us)
    }
}

/// One piece of CPU work being timed by a [`SpeedMeter`].
#[derive(Debug)]
pub struct SpeedSample {
    iters: u64,
    /// Thread CPU time at the start; `None` when the work is too short to
    /// sample.
    started_ns: Option<u64>,
    excluded_ns: u64,
}

impl SpeedSample {
    /// Runs `f` inside the sampled work without counting its CPU time: a GIL
    /// hand-off in the middle of a CPU step burns CPU on futexes and wake-ups
    /// that is not the kernel's (it read 5% slow with 8 threads otherwise).
    pub fn exclude<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let Some(_) = self.started_ns else {
            return f();
        };
        let before = thread_cpu_ns();
        let out = f();
        self.excluded_ns += thread_cpu_ns().saturating_sub(before);
        out
    }
}

/// CPU time of the calling thread, ns.
pub(crate) fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    (t.tv_sec.max(0) as u64) * 1_000_000_000 + t.tv_nsec.max(0) as u64
}

/// Runs `iters` iterations of the kernel, continuing from `state`, and
/// returns the new state. A dependent multiply-xorshift chain: the compiler
/// cannot vectorise or skip it, and it touches no memory, so its speed does
/// not depend on what other threads do with caches.
#[inline(never)]
pub fn spin(state: u64, iters: u64) -> u64 {
    let mut x = state | 1;
    for _ in 0..iters {
        x = x
            .wrapping_mul(0x5851_F42D_4C95_7F2D)
            .wrapping_add(0x1405_7B7E_F767_814F);
        x ^= x >> 29;
    }
    black_box(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterations_scale_with_duration() {
        let c = Calibration {
            iters_per_us: 300.0,
        };
        assert_eq!(c.iters_for(Duration::from_millis(1)), 300_000);
        assert_eq!(c.iters_for(Duration::ZERO), 0);
        assert_eq!(c.iters_for(Duration::from_nanos(500)), 150);
    }

    #[test]
    fn spin_is_deterministic_and_resumable() {
        let whole = spin(7, 1000);
        let halves = spin(spin(7, 400), 600);
        assert_eq!(whole, halves);
    }

    #[test]
    fn meter_skips_short_work_and_measures_long_work() {
        let c = Calibration::measure();
        let m = SpeedMeter::new(c);
        m.run(10, || spin(1, 10));
        assert_eq!(m.speed(), None, "10 iterations are below the sample size");
        let iters = c.iters_for(Duration::from_millis(20));
        m.run(iters, || spin(1, iters));
        let speed = m.speed().expect("a 20 ms spin is sampled");
        // Only interference and frequency changes move it off 1: a wrong
        // unit (µs vs ns) would be off by 1000×.
        assert!((0.3..3.0).contains(&speed), "{speed}");
    }

    #[test]
    fn meter_reads_cpu_time_not_wall_time() {
        let c = Calibration::measure();
        let m = SpeedMeter::new(c);
        // Sleeping burns no CPU: a sampled sleep of "many iterations" must
        // look absurdly fast, never like the calibrated speed.
        m.run(c.iters_for(Duration::from_millis(20)), || {
            std::thread::sleep(Duration::from_millis(20))
        });
        assert!(m.speed().unwrap_or(f64::INFINITY) > 10.0);
    }

    #[test]
    fn calibration_is_positive() {
        assert!(Calibration::measure().iters_per_us > 0.0);
    }

    /// Five spinning threads on this machine's cores leave a calibration
    /// little more than a share of one: it must still read about the
    /// kernel's speed, not its share. Timed on the wall clock, it read
    /// 2.7× slow on two cores (158 against 436 iterations/µs); the margin
    /// allows for SMT siblings and frequency changes, not for counting
    /// preempted time.
    #[test]
    fn a_calibration_on_busy_cores_reads_the_kernel_not_its_share() {
        // The spinners would slow any timing test running beside this one.
        let _x = crate::testing::exclusive();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinners: Vec<_> = (0..5)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        spin(3, 100_000);
                    }
                })
            })
            .collect();
        let busy = Calibration::measure().iters_per_us;
        stop.store(true, Ordering::Relaxed);
        for s in spinners {
            let _ = s.join();
        }
        let quiet = Calibration::measure().iters_per_us;
        assert!(
            busy >= 0.75 * quiet,
            "busy {busy:.0} vs quiet {quiet:.0} iterations/µs"
        );
    }
}
