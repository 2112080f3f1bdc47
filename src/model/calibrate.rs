//! Measuring the model's costs on this machine (`gilsim calibrate`).
//!
//! Each figure is a median over repeated measurements, so one preemption on
//! a busy machine does not move it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Costs;
use crate::backend;
use crate::config::GilSettings;
use crate::options::{RunOptions, DEFAULT_MAX_IN_FLIGHT};
use crate::plan::Plan;
use crate::work::gil::Gil;
use crate::work::kernel::Calibration;
use crate::work::sleep::{overshoot_us, precise_sleep, reduce_timer_slack};

/// Measures every cost; `samples` scales how many repetitions each gets.
pub fn measure(c: Calibration, samples: u32) -> Result<Costs, String> {
    let n = (samples as usize).clamp(10, 2_000);
    Ok(Costs {
        thread_start_us: thread_start_us(n)?,
        wake_us: wake_us(n),
        gil_handoff_us: gil_handoff_us(n.min(200)),
        io_overshoot_us: overshoot_us(Duration::from_micros(200), n as u64).0,
        job_overhead_us: job_overhead_us(c)?,
        source: "measured".into(),
    })
}

fn median(v: Vec<f64>) -> f64 {
    crate::stats::median(&v).unwrap_or(0.0)
}

/// From `spawn` to the new thread running.
fn thread_start_us(n: usize) -> Result<f64, String> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let h = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || t.elapsed())
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        let d = h
            .join()
            .map_err(|_| "a calibration thread panicked".to_string())?;
        v.push(d.as_secs_f64() * 1e6);
    }
    Ok(median(v))
}

/// From a send on a channel to the parked receiver running.
fn wake_us(n: usize) -> f64 {
    let (tx, rx) = crossbeam_channel::bounded::<Instant>(1);
    let (back_tx, back_rx) = crossbeam_channel::bounded::<f64>(1);
    let h = std::thread::spawn(move || {
        reduce_timer_slack();
        for sent in rx {
            let _ = back_tx.send(sent.elapsed().as_secs_f64() * 1e6);
        }
    });
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        // Let the receiver park first.
        precise_sleep(Duration::from_micros(300));
        if tx.send(Instant::now()).is_err() {
            break;
        }
        if let Ok(us) = back_rx.recv() {
            v.push(us);
        }
    }
    drop(tx);
    let _ = h.join();
    median(v)
}

/// From the GIL's release to a blocked waiter holding it.
fn gil_handoff_us(n: usize) -> f64 {
    let gil = Arc::new(Gil::new(GilSettings {
        switch_interval: Duration::from_secs(1),
        ..GilSettings::default()
    }));
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        gil.acquire();
        let g = gil.clone();
        let (tx, rx) = crossbeam_channel::bounded::<Instant>(1);
        let h = std::thread::spawn(move || {
            g.acquire();
            let got = Instant::now();
            g.release();
            rx.recv()
                .map(|released| got.saturating_duration_since(released))
                .ok()
        });
        // Let the waiter block on the GIL first.
        precise_sleep(Duration::from_micros(500));
        let released = Instant::now();
        gil.release();
        let _ = tx.send(released);
        if let Ok(Some(d)) = h.join() {
            v.push(d.as_secs_f64() * 1e6);
        }
    }
    median(v)
}

/// gilsim's own cost per job: a pool of one thread running jobs of 1 µs.
fn job_overhead_us(c: Calibration) -> Result<f64, String> {
    let jobs = 20_000u64;
    let text = format!(
        "name = \"overhead\"\n[[backend]]\nkind = \"threads\"\nworkers = 1\n[[group]]\nname = \"g\"\njobs = {jobs}\nsteps = [{{ cpu = \"1us\" }}]\n"
    );
    let set = crate::config::parse(&text, Path::new("overhead.toml")).map_err(|e| e.to_string())?;
    let plan = Arc::new(Plan::new(&set));
    let opts = RunOptions {
        calibration: c,
        max_threads: 16,
        record_gil_holds: false,
        max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        warmup_jobs: 0,
        give_up: &[],
        progress: None,
    };
    let m = backend::run(&set.backends[0], plan, &opts).map_err(|e| e.to_string())?;
    let per_job = m.wall.as_secs_f64() * 1e6 / jobs as f64 - 1.0;
    Ok(per_job.max(0.0))
}
