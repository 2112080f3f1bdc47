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
//! imports too), [`REFERENCE_REPS`] pairs run, each pinned to one CPU
//! (`bench::affinity`; SimPy, a child process, inherits the pin), the CPUs
//! in turn and the sides' order alternating. The speed-up is the median of
//! the pairs' own ratios: on a virtual machine whose CPUs differ in speed,
//! a ratio of two runs on different CPUs would measure the CPUs. In each
//! pair the model runs the reference again and again for as long as
//! SimPy's last run took ([`reference_span`]): one 40 ms run against
//! SimPy's 3.5 s would catch one of the host's speeds where SimPy's run
//! averages over several.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{run_with_costs, Costs};
use crate::bench::{affinity, rss, Figure};
use crate::error::RunError;
use crate::options::{RunOptions, DEFAULT_MAX_IN_FLIGHT};
use crate::plan::Plan;
use crate::work::kernel::Calibration;

/// Jobs of the reference model.
pub const REFERENCE_JOBS: u64 = 200_000;

/// Side-by-side repetitions of the reference model and SimPy (best counts).
pub const REFERENCE_REPS: usize = 4;

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
    let reset = rss::reset_peak();
    let t = Instant::now();
    let plan = Plan::new(&set);
    let opts = RunOptions {
        calibration: Calibration::NOT_MEASURED,
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
        peak_rss_mb: reset.then(rss::peak).flatten().map(|b| b as f64 / 1e6),
        wall_s: wall,
    })
}

/// Simulates the reference model again and again until `span` of real
/// time has passed (at least once, at most [`SPAN_RUNS_MAX`] times), and
/// gives the runs' totals as one point: jobs/s and events/s are all the
/// runs' jobs and events over all their time, the peak RSS the highest.
///
/// Why: one run of the 200,000-job reference takes about 40 ms, SimPy's
/// about 3.5 s, and this host's speed changes by up to 1.8× for seconds at
/// a time. A single 40 ms run catches one state, SimPy's run averages over
/// several; run for as long as SimPy did, the model averages over the same
/// kind of stretch.
pub fn reference_span(jobs: u64, cores: usize, span: Duration) -> Result<Point, RunError> {
    // Events are whole numbers per run; adding events/s × s would not be.
    let events_of = |p: &Point| p.events_per_job * p.jobs as f64;
    let first = reference_point(jobs, cores)?;
    let (mut wall, mut events, mut runs) = (first.wall_s, events_of(&first), 1u32);
    let mut peak = first.peak_rss_mb;
    while wall < span.as_secs_f64() && runs < SPAN_RUNS_MAX {
        let p = reference_point(jobs, cores)?;
        wall += p.wall_s;
        events += events_of(&p);
        peak = match (peak, p.peak_rss_mb) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        runs += 1;
    }
    let total_jobs = jobs as f64 * f64::from(runs);
    Ok(Point {
        jobs,
        cores,
        jobs_per_s: total_jobs / wall,
        events_per_s: events / wall,
        events_per_job: events / total_jobs.max(1.0),
        peak_rss_mb: peak,
        wall_s: wall,
    })
}

/// Most runs [`reference_span`] makes for one point.
pub const SPAN_RUNS_MAX: u32 = 500;

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
    // Quick figures run the model once a pair: they check the plumbing,
    // not the speed. Without SimPy there is no run to match either.
    let span = (!quick && simpy_script.is_some()).then_some(FIRST_SPAN);
    let pairs = reference_pairs(jobs, reps, span, simpy_script, log)?;
    push_pairs(&mut figs, &pairs, jobs, reps);
    if simpy_script.is_some() && pairs.iter().any(|p| p.simpy.is_none()) {
        log("model: python3 with simpy not found (or SimPy failed); SimPy figures skipped");
    }
    let Some(reference) = best_point(&pairs) else {
        return Ok(figs);
    };
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

/// One side-by-side pair: the reference model and SimPy on one CPU.
#[derive(Debug, Clone, Copy)]
struct Pair {
    /// The CPU both sides ran on (`None`: the OS refused the pin).
    cpu: Option<usize>,
    model: Point,
    /// SimPy's jobs/s (`None`: not measured).
    simpy: Option<f64>,
}

/// How long the model side of the first pair runs ([`reference_span`])
/// before any SimPy run has said how long SimPy takes: about what SimPy
/// 4.1 takes for the reference model on a 2-core VM.
pub const FIRST_SPAN: Duration = Duration::from_secs(3);

/// `reps` pairs of the reference model and SimPy, each pair pinned to
/// one CPU (the CPUs taken in turn, the order of the two sides
/// alternating), so that both sides of a ratio ran on the same CPU (see
/// `bench::affinity`). The model side runs for as long as SimPy's last
/// run took (`span` before the first; `None`: once, as it does once SimPy
/// is found missing, and SimPy is then left out).
fn reference_pairs(
    jobs: u64,
    reps: usize,
    mut span: Option<Duration>,
    simpy_script: Option<&Path>,
    log: &dyn Fn(&str),
) -> Result<Vec<Pair>, RunError> {
    let cpus = affinity::allowed_cpus();
    let mut pairs = Vec::with_capacity(reps);
    let mut simpy_found = simpy_script.is_some();
    for rep in 0..reps {
        let cpu = (!cpus.is_empty()).then(|| cpus[rep % cpus.len()]);
        let pin = cpu.and_then(affinity::Pinned::to);
        let on = pin
            .as_ref()
            .and(cpu)
            .map_or(String::new(), |c| format!(" on CPU {c}"));
        let n = rep + 1;
        let simpy_side = |found: &mut bool, span: &mut Option<Duration>| {
            let script = simpy_script.filter(|_| *found)?;
            log(&format!("model: SimPy reference ({n}/{reps}){on}"));
            let v = simpy_jobs_per_s(script, jobs);
            *found = v.is_some();
            // SimPy's time, for the next model side to match; none once
            // SimPy is missing.
            *span = span
                .and(v)
                .map(|rate| Duration::from_secs_f64((jobs as f64 / rate.max(1e-9)).min(60.0)));
            v
        };
        let model_side = |span: Option<Duration>| {
            log(&format!("model: reference model ({n}/{reps}){on}"));
            reference_span(jobs, 64, span.unwrap_or(Duration::ZERO))
        };
        let (model, simpy) = if rep % 2 == 0 {
            let model = model_side(span)?;
            (model, simpy_side(&mut simpy_found, &mut span))
        } else {
            let simpy = simpy_side(&mut simpy_found, &mut span);
            (model_side(span)?, simpy)
        };
        let cpu = pin.is_some().then_some(cpu).flatten();
        drop(pin);
        pairs.push(Pair { cpu, model, simpy });
    }
    Ok(pairs)
}

/// The pairs' fastest run of the reference model.
fn best_point(pairs: &[Pair]) -> Option<Point> {
    pairs
        .iter()
        .map(|p| p.model)
        .max_by(|a, b| a.jobs_per_s.total_cmp(&b.jobs_per_s))
}

/// The reference model's figures: its best run, SimPy's best, and the
/// median of the pairs' ratios with their range.
fn push_pairs(figs: &mut Vec<Figure>, pairs: &[Pair], jobs: u64, reps: usize) {
    let Some(reference) = best_point(pairs) else {
        return;
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
    let ratios: Vec<f64> = pairs
        .iter()
        .filter_map(|p| Some(p.model.jobs_per_s / p.simpy?.max(1e-9)))
        .collect();
    if ratios.len() < pairs.len() || ratios.is_empty() {
        return;
    }
    let simpy_best = pairs.iter().filter_map(|p| p.simpy).fold(0.0, f64::max);
    figs.push(fig(
        format!("SimPy reference model ({jobs} jobs{best}) jobs/s"),
        simpy_best,
        "jobs/s",
    ));
    let ratio = crate::stats::median(&ratios).unwrap_or(0.0);
    let (lo, hi) = ratios
        .iter()
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), &r| {
            (lo.min(r), hi.max(r))
        });
    let same_cpu = if pairs.iter().all(|p| p.cpu.is_some()) {
        "each pair on one CPU, "
    } else {
        ""
    };
    figs.push(Figure {
        goal: "≥ 100× SimPy".into(),
        met: Some(ratio >= 100.0),
        ..fig(
            format!(
                "model speed over SimPy (same run, {same_cpu}median of {} pairs, pairs {lo:.0}–{hi:.0}×)",
                ratios.len()
            ),
            ratio,
            "×",
        )
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn point(jobs_per_s: f64) -> Point {
        Point {
            jobs: 1_000,
            cores: 64,
            jobs_per_s,
            events_per_s: 4.0 * jobs_per_s,
            events_per_job: 4.0,
            peak_rss_mb: None,
            wall_s: 1_000.0 / jobs_per_s,
        }
    }

    fn pair(cpu: Option<usize>, model: f64, simpy: Option<f64>) -> Pair {
        Pair {
            cpu,
            model: point(model),
            simpy,
        }
    }

    fn named<'f>(figs: &'f [Figure], start: &str) -> Option<&'f Figure> {
        figs.iter().find(|f| f.name.starts_with(start))
    }

    /// The speed-up is the median of the pairs' own ratios, not the ratio
    /// of each side's best run: here the best runs (4 M against 40 k)
    /// would say 100×, the pairs 60, 80, 90 and 120×.
    #[test]
    fn the_speed_up_is_the_median_of_the_pairs_ratios() {
        let pairs = [
            pair(Some(0), 3.0e6, Some(50e3)),
            pair(Some(1), 2.4e6, Some(30e3)),
            pair(Some(0), 3.6e6, Some(40e3)),
            pair(Some(1), 4.0e6, Some(33_333.333)),
        ];
        let mut figs = Vec::new();
        push_pairs(&mut figs, &pairs, 1_000, 4);
        let best = named(&figs, "reference model (").unwrap();
        assert_eq!(best.value, 4.0e6);
        assert!(best.name.contains("best of 4"), "{}", best.name);
        assert_eq!(named(&figs, "SimPy").unwrap().value, 50e3);
        let speed = named(&figs, "model speed over SimPy").unwrap();
        assert!((speed.value - 85.0).abs() < 1e-6, "{}", speed.value);
        assert_eq!(speed.met, Some(false));
        assert!(
            speed.name.contains("each pair on one CPU")
                && speed.name.contains("median of 4 pairs")
                && speed.name.contains("pairs 60–120×"),
            "{}",
            speed.name
        );
    }

    /// Without SimPy in every pair there is no ratio (and no SimPy
    /// figure); a pair whose pin was refused drops "on one CPU".
    #[test]
    fn a_pair_without_simpy_leaves_the_ratio_out() {
        let mut figs = Vec::new();
        push_pairs(
            &mut figs,
            &[pair(Some(0), 3e6, Some(30e3)), pair(None, 3e6, None)],
            1_000,
            2,
        );
        assert!(named(&figs, "reference model (").is_some());
        assert!(named(&figs, "SimPy").is_none());
        assert!(named(&figs, "model speed").is_none());

        let mut figs = Vec::new();
        push_pairs(&mut figs, &[pair(None, 3e6, Some(20e3))], 1_000, 1);
        let speed = named(&figs, "model speed").unwrap();
        assert_eq!(speed.met, Some(true));
        assert!(!speed.name.contains("one CPU"), "{}", speed.name);
        assert!(!named(&figs, "reference model (")
            .unwrap()
            .name
            .contains("best of"));
    }

    /// The model side of a pair runs until its span has passed (at most
    /// [`SPAN_RUNS_MAX`] times), and its figures are the totals of its
    /// runs: every run of the reference is the same simulation, four events
    /// a job, so the events per job stay four whatever the number of runs.
    /// A zero span runs once.
    #[test]
    fn a_span_of_runs_adds_up_its_runs() {
        let runs_of = |p: &Point| p.jobs_per_s * p.wall_s / p.jobs as f64;
        let once = reference_span(500, 4, Duration::ZERO).unwrap();
        assert_eq!((once.jobs, once.cores), (500, 4));
        assert!((runs_of(&once) - 1.0).abs() < 1e-9, "{once:?}");
        assert_eq!(once.events_per_job, 4.0);
        let span = Duration::from_millis(30);
        let some = reference_span(500, 4, span).unwrap();
        assert!(some.wall_s >= span.as_secs_f64(), "{some:?}");
        // An hour is never reached: the cap stops it.
        let capped = reference_span(500, 4, Duration::from_secs(3_600)).unwrap();
        assert!(
            (runs_of(&capped) - f64::from(SPAN_RUNS_MAX)).abs() < 1e-6,
            "{capped:?}"
        );
        assert_eq!(capped.events_per_job, 4.0);
        assert!((capped.events_per_s / capped.jobs_per_s - 4.0).abs() < 1e-9);
    }

    /// The quick figures run end to end: a SimPy stand-in (a script that
    /// prints SimPy's JSON) is run in the pairs when python3 exists, and
    /// every scaling point is there with four events per job.
    #[test]
    fn the_quick_figures_pair_the_model_with_a_simpy_stand_in() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("simpy_stand_in.py");
        std::fs::write(&script, "print('{\"jobs_per_s\": 1000.0}')\n").unwrap();
        let python = Command::new("python3").arg("--version").output().is_ok();
        let figs = figures(true, Some(&script), &|_| {}).unwrap();
        let speed = named(&figs, "model speed over SimPy");
        if python {
            let speed = speed.expect("python3 runs the stand-in");
            let best = named(&figs, "reference model (").unwrap().value;
            assert!(speed.value > 0.0 && speed.value <= best / 1000.0 + 1e-9);
            assert_eq!(named(&figs, "SimPy").unwrap().value, 1000.0);
        } else {
            assert!(speed.is_none(), "no python3, no ratio");
        }
        for at in [
            "10000 jobs, 64 cores",
            "100000 jobs, 64 cores",
            "20000 jobs, 1024 cores",
        ] {
            assert!(named(&figs, &format!("{at}: jobs/s")).is_some(), "{at}");
        }
        assert_eq!(
            named(&figs, "reference model events per job")
                .unwrap()
                .value,
            4.0
        );
    }
}
