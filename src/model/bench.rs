//! `gilsim bench --model`: the model engine's speed.
//!
//! The reference model (issue 8): 200,000 jobs arriving as a Poisson stream
//! at 50,000/s, each taking one of 64 cores for an exponential CPU time
//! (mean 1 ms), then an exponential IO wait (mean 2 ms) outside the cores.
//! In gilsim terms: a thread per job, no GIL, `[cpu exp 1ms, io exp 2ms]`,
//! on 64 virtual cores, with every cost zero (SimPy's model has none
//! either). Figures: jobs/s and events/s of simulation, how they move from
//! 10^4 to 10^7 jobs and from 1 to 1,024 cores (arrival rate scaled with the
//! cores to keep the load at 78%), the peak RSS of each point, and SimPy
//! 4.x running the same model (`python/simpy_reference.py`) when python3
//! has simpy.
//!
//! The speed-up over SimPy is measured side by side: after one small
//! warm-up run (SimPy's own figure leaves out the interpreter's start and
//! imports too), the reference model and the SimPy program run in turn,
//! [`REFERENCE_REPS`] times each, and each side's best run counts, so a
//! burst of load on a shared machine does not land on one side only.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use super::{run_with_costs, Costs};
use crate::bench::Figure;
use crate::error::RunError;
use crate::options::{RunOptions, DEFAULT_MAX_IN_FLIGHT};
use crate::plan::Plan;
use crate::work::kernel::Calibration;

/// Jobs of the reference model.
pub const REFERENCE_JOBS: u64 = 200_000;

/// Side-by-side repetitions of the reference model and SimPy (best counts).
pub const REFERENCE_REPS: usize = 3;

/// One measured point of the reference model.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    /// Jobs simulated.
    pub jobs: u64,
    /// Virtual cores.
    pub cores: usize,
    /// Simulated jobs per real second.
    pub jobs_per_s: f64,
    /// Events per real second.
    pub events_per_s: f64,
    /// Events per job.
    pub events_per_job: f64,
    /// Peak RSS during the point, MB (None where it cannot be read).
    pub peak_rss_mb: Option<f64>,
    /// Real seconds the run took.
    pub wall_s: f64,
}

/// The reference model's config with `jobs` jobs on `cores` cores, at
/// 50,000/s scaled by cores/64.
pub fn reference_config(jobs: u64, cores: usize) -> String {
    let rate = 50_000.0 * cores as f64 / 64.0;
    format!(
        "name = \"reference\"\nseed = 1\n[[backend]]\nkind = \"threads\"\nworkers = 0\n\
         [[group]]\nname = \"jobs\"\njobs = {jobs}\narrival = {{ rate = {rate}, process = \"poisson\" }}\n\
         steps = [{{ cpu = {{ dist = \"exp\", mean = \"1ms\" }} }}, {{ io = {{ dist = \"exp\", mean = \"2ms\" }} }}]\n"
    )
}

/// Simulates the reference model once.
pub fn reference_point(jobs: u64, cores: usize) -> Result<Point, RunError> {
    let set = crate::config::parse(&reference_config(jobs, cores), Path::new("reference.toml"))
        .map_err(|e| RunError::Refused {
            backend: "reference".into(),
            why: e.to_string(),
        })?;
    let reset = reset_peak_rss();
    let t = Instant::now();
    let plan = Plan::new(&set);
    let opts = RunOptions {
        calibration: Calibration { iters_per_us: 1.0 },
        max_threads: 1 << 20,
        record_gil_holds: false,
        max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        warmup_jobs: 0,
        give_up: &[],
        progress: None,
    };
    let m = run_with_costs(&set.backends[0], &plan, &opts, cores, &Costs::zero())?;
    let wall = t.elapsed().as_secs_f64().max(1e-9);
    let events = m.sim.as_ref().map_or(0, |s| s.events) as f64;
    Ok(Point {
        jobs,
        cores,
        jobs_per_s: m.jobs as f64 / wall,
        events_per_s: events / wall,
        events_per_job: events / m.jobs.max(1) as f64,
        peak_rss_mb: reset.then(read_peak_rss).flatten().map(|b| b as f64 / 1e6),
        wall_s: wall,
    })
}

/// SimPy's jobs/s on the reference model, when python3 has simpy.
pub fn simpy_jobs_per_s(script: &Path, jobs: u64) -> Option<f64> {
    let out = Command::new("python3")
        .arg(script)
        .args(["--jobs", &jobs.to_string(), "--json"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v.get("jobs_per_s")?.as_f64()
}

fn fig(name: String, value: f64, unit: &'static str) -> Figure {
    Figure {
        section: "model",
        name,
        value,
        unit,
        goal: String::new(),
        met: None,
    }
}

/// Every model figure; `quick` keeps the sizes small.
pub fn figures(
    quick: bool,
    simpy_script: Option<&Path>,
    log: &dyn Fn(&str),
) -> Result<Vec<Figure>, RunError> {
    let mut figs = Vec::new();
    let jobs = if quick { 20_000 } else { REFERENCE_JOBS };
    let reps = if quick { 1 } else { REFERENCE_REPS };
    log("model: warm-up");
    reference_point(20_000, 64)?;
    let mut reference: Option<Point> = None;
    let mut simpy: Option<f64> = None;
    let mut simpy_missing = false;
    for rep in 1..=reps {
        log(&format!("model: reference model ({rep}/{reps})"));
        let p = reference_point(jobs, 64)?;
        if reference.map_or(true, |r| p.jobs_per_s > r.jobs_per_s) {
            reference = Some(p);
        }
        if let (Some(script), false) = (simpy_script, simpy_missing) {
            log(&format!("model: SimPy reference ({rep}/{reps})"));
            match simpy_jobs_per_s(script, jobs) {
                Some(v) => simpy = Some(simpy.map_or(v, |b: f64| b.max(v))),
                None => simpy_missing = true,
            }
        }
    }
    let Some(reference) = reference else {
        return Ok(figs);
    };
    let best = if reps > 1 {
        format!(", best of {reps}")
    } else {
        String::new()
    };
    figs.push(fig(
        format!(
            "reference model ({} jobs, 64 cores{best}) jobs/s",
            reference.jobs
        ),
        reference.jobs_per_s,
        "jobs/s",
    ));
    figs.push(fig(
        "reference model events/s".into(),
        reference.events_per_s,
        "events/s",
    ));
    figs.push(fig(
        "reference model events per job".into(),
        reference.events_per_job,
        "events",
    ));
    figs.push(fig(
        "reference model cost per event".into(),
        1e9 / reference.events_per_s.max(1e-9),
        "ns",
    ));
    match simpy {
        Some(simpy) => {
            figs.push(fig(
                format!("SimPy reference model ({jobs} jobs{best}) jobs/s"),
                simpy,
                "jobs/s",
            ));
            let ratio = reference.jobs_per_s / simpy.max(1e-9);
            figs.push(Figure {
                goal: "≥ 100× SimPy".into(),
                met: Some(ratio >= 100.0),
                ..fig("model speed over SimPy (same run)".into(), ratio, "×")
            });
        }
        None if simpy_script.is_some() => {
            log("model: python3 with simpy not found; SimPy figures skipped")
        }
        None => {}
    }
    let job_sizes: &[u64] = if quick {
        &[10_000, 100_000]
    } else {
        &[10_000, 100_000, 1_000_000, 10_000_000]
    };
    for &jobs in job_sizes {
        log(&format!("model: {jobs} jobs on 64 cores"));
        let p = reference_point(jobs, 64)?;
        push_point(&mut figs, &p);
    }
    let core_counts: &[usize] = if quick {
        &[1, 64, 1024]
    } else {
        &[1, 16, 64, 256, 1024]
    };
    for &cores in core_counts {
        log(&format!("model: {} jobs on {cores} cores", reference.jobs));
        let p = reference_point(reference.jobs, cores)?;
        push_point(&mut figs, &p);
    }
    Ok(figs)
}

fn push_point(figs: &mut Vec<Figure>, p: &Point) {
    let at = format!("{} jobs, {} cores", p.jobs, p.cores);
    figs.push(fig(format!("{at}: jobs/s"), p.jobs_per_s, "jobs/s"));
    figs.push(fig(format!("{at}: events/s"), p.events_per_s, "events/s"));
    figs.push(fig(
        format!("{at}: cost per event"),
        1e9 / p.events_per_s.max(1e-9),
        "ns",
    ));
    if let Some(mb) = p.peak_rss_mb {
        figs.push(fig(format!("{at}: peak RSS"), mb, "MB"));
    }
}

/// Peak RSS of this process since the last reset, bytes.
fn read_peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the peak RSS to the current RSS (Linux ≥ 4.0).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}
