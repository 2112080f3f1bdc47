//! What running one job costs on top of its work, on one thread: `n` jobs
//! of 1 µs CPU through `RunShared::run_job_sync` against the bare kernel
//! loop, interleaved, thread CPU time. `cargo run --release --example job_cost`
//! (`CHEAP_CLOCK=0`: stamps from `Instant::now()`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gilsim::config::{Arrival, DurationSpec, GilSettings, GroupSpec, JobSet, Step};
use gilsim::exec::{JobTicket, RunShared};
use gilsim::plan::{JobId, Plan};
use gilsim::work::kernel::{spin, Calibration};

fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn main() {
    let c = Calibration::from_env_or_measure().unwrap_or(Calibration {
        iters_per_us: 650.0,
    });
    // `CHEAP_CLOCK=0`: job stamps from `Instant::now()` instead of the
    // time-stamp counter (to compare the two side by side).
    if std::env::var("CHEAP_CLOCK").is_ok_and(|v| v == "0") {
        gilsim::exec::clock::set_cheap_clock(false);
    }
    let n = 200_000u64;
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
    let iters = c.iters_for(Duration::from_micros(1));
    for _ in 0..3 {
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = RunShared::new(Arc::new(Plan::new(&set)), c, None, tx);
        let due = Instant::now();
        let t = thread_cpu();
        for index in 0..n {
            shared.run_job_sync(JobTicket {
                id: JobId { group: 0, index },
                due,
            });
            if index % 1024 == 0 {
                while rx.try_recv().is_ok() {}
            }
        }
        let ours = (thread_cpu() - t).as_secs_f64() * 1e9 / n as f64;
        let t = thread_cpu();
        let mut x = 1;
        for _ in 0..n {
            x = spin(x, iters);
        }
        std::hint::black_box(x);
        let bare = (thread_cpu() - t).as_secs_f64() * 1e9 / n as f64;
        println!(
            "per job: run_job_sync {ours:.0} ns, bare kernel {bare:.0} ns, overhead {:.0} ns",
            ours - bare
        );
    }
}
