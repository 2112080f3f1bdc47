//! Where a batch of short CPU jobs spends its CPU under gilsim: `n` jobs of
//! 1 µs CPU on one backend, per run the throughput, the process CPU per job
//! and the driver's (this thread's) share of it; then the bare program's
//! throughput and CPU per job (interleaved). For profiling the harness
//! (`perf record -g`) without the bare programs in the same profile.
//! `cargo run --release --example harness_cost -- [backend] [runs] [jobs]`,
//! backend one of `pool`, `rayon`, `tokio`, `tokio-ct`, `async-std`, `smol`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gilsim::backend::{available_cores, run, RunOptions, DEFAULT_MAX_IN_FLIGHT};
use gilsim::bench::bare::{cpu_jobs, Bare};
use gilsim::config::{
    Arrival, BackendKind, BackendSpec, DurationSpec, Flavor, GilSettings, GroupSpec, JobSet, Step,
};
use gilsim::metrics::process_cpu_time;
use gilsim::plan::Plan;
use gilsim::work::kernel::Calibration;

fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn bare_of(name: &str) -> Bare {
    match name {
        "pool" => Bare::ThreadPool,
        "rayon" => Bare::Rayon,
        "tokio" => Bare::TokioMulti,
        "tokio-ct" => Bare::TokioCurrent,
        "async-std" => Bare::AsyncStd,
        _ => Bare::Smol,
    }
}

fn spec(name: &str) -> Option<BackendSpec> {
    let mut s = match name {
        "pool" => {
            let mut s = BackendSpec::new(BackendKind::Threads, false);
            s.workers = 2;
            s
        }
        "rayon" => BackendSpec::new(BackendKind::Rayon, false),
        "tokio" => BackendSpec::new(BackendKind::Tokio, false),
        "tokio-ct" => {
            let mut s = BackendSpec::new(BackendKind::Tokio, false);
            s.flavor = Some(Flavor::CurrentThread);
            s
        }
        "async-std" => BackendSpec::new(BackendKind::AsyncStd, false),
        "smol" => BackendSpec::new(BackendKind::Smol, false),
        _ => return None,
    };
    s.name = name.into();
    Some(s)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("pool", String::as_str);
    let runs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let n: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let Some(spec) = spec(which) else {
        eprintln!("unknown backend {which}");
        std::process::exit(2);
    };
    let c = Calibration::from_env_or_measure().unwrap_or(Calibration {
        iters_per_us: 650.0,
    });
    let set = JobSet {
        name: "cost".into(),
        description: None,
        seed: 0,
        gil: GilSettings::default(),
        backends: vec![],
        groups: vec![GroupSpec {
            name: "g".into(),
            jobs: n,
            arrival: Arrival::Batch,
            steps: vec![Step::Cpu(DurationSpec::Fixed(Duration::from_micros(1)))],
        }],
        source: PathBuf::from("<cost>"),
        model_cores: None,
    };
    let opts = RunOptions {
        calibration: c,
        max_threads: u64::MAX,
        record_gil_holds: false,
        max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        progress: None,
        warmup_jobs: 0,
        give_up: &[],
    };
    for _ in 0..runs {
        let (p0, d0) = (process_cpu_time(), thread_cpu());
        let m = match run(&spec, Arc::new(Plan::new(&set)), &opts) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let per = |d: Duration| d.as_secs_f64() * 1e9 / m.jobs.max(1) as f64;
        println!(
            "{which}: {:.0} jobs/s, CPU per job {:.0} ns (run) {:.0} ns (process), driver {:.0} ns",
            m.jobs as f64 / m.wall.as_secs_f64(),
            per(m.process_cpu),
            per(process_cpu_time() - p0),
            per(thread_cpu() - d0),
        );
        let b = cpu_jobs(
            bare_of(which),
            available_cores(),
            n,
            c.iters_for(Duration::from_micros(1)),
        );
        let per = |d: Duration| d.as_secs_f64() * 1e9 / b.jobs.max(1) as f64;
        println!(
            "{which} bare: {:.0} jobs/s, CPU per job {:.0} ns",
            b.jobs as f64 / b.wall.as_secs_f64(),
            per(b.cpu)
        );
    }
}
