//! `gilsim validate`: parse, check and print the resolved plan.

use std::path::PathBuf;

use gilsim::backend::available_cores;
use gilsim::config::{BackendKind, BackendSpec, JobSet};
use gilsim::error::Error;
use gilsim::plan::{ArrivalPlan, Plan};
use gilsim::report::fmt_secs;

pub fn validate(paths: &[PathBuf]) -> Result<(), Error> {
    let sets = super::load_all(paths)?;
    let cores = available_cores();
    for (i, set) in sets.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print!("{}", summary(set, cores));
    }
    Ok(())
}

/// The resolved plan of `set`, as text.
pub fn summary(set: &JobSet, cores: usize) -> String {
    let plan = Plan::new(set);
    let mut s = format!("{}: {}", set.source.display(), set.name);
    if let Some(d) = &set.description {
        s += &format!(" — {d}");
    }
    s += &format!(
        "\n  seed {}; GIL switch interval {}, tick {}\n  groups:\n",
        set.seed,
        fmt_secs(set.gil.switch_interval.as_secs_f64()),
        fmt_secs(set.gil.tick.as_secs_f64())
    );
    for (gi, g) in plan.groups.iter().enumerate() {
        let t = plan.group_totals(gi);
        s += &format!(
            "    {:<16} {:>8} jobs  {:<28} cpu {:>9}  native {:>9}  io {:>9}  steps {}\n",
            g.name,
            g.jobs,
            arrival(&g.arrival),
            fmt_secs((t.cpu + t.locked_cpu).as_secs_f64()),
            fmt_secs(t.native.as_secs_f64()),
            fmt_secs(t.io.as_secs_f64()),
            t.steps
        );
    }
    let t = plan.totals();
    s += &format!(
        "  total: {} jobs; CPU {} (interpreted {}, native {}, in locks {}), IO {} (expected values)\n",
        plan.total_jobs(),
        fmt_secs(t.all_cpu().as_secs_f64()),
        fmt_secs(t.cpu.as_secs_f64()),
        fmt_secs(t.native.as_secs_f64()),
        fmt_secs(t.locked_cpu.as_secs_f64()),
        fmt_secs(t.io.as_secs_f64())
    );
    if !plan.counters.is_empty() {
        let c: Vec<_> = plan
            .counters
            .iter()
            .map(|c| format!("{} (+{})", c.name, c.expected))
            .collect();
        s += &format!("  counters: {}\n", c.join(", "));
    }
    s += &format!("  backends ({cores} cores):\n");
    for b in &set.backends {
        s += &format!("    {:<22} {}\n", b.name, backend_line(b, cores));
    }
    s
}

fn arrival(a: &ArrivalPlan) -> String {
    match a {
        ArrivalPlan::Batch => "batch".into(),
        ArrivalPlan::Closed {
            clients,
            think: None,
        } => format!("closed, {clients} clients"),
        ArrivalPlan::Closed {
            clients,
            think: Some(_),
        } => format!("closed, {clients} clients + think"),
        ArrivalPlan::Open { offsets_ns } => {
            let span = offsets_ns.last().copied().unwrap_or(0) as f64 / 1e9;
            format!("open, over {}", fmt_secs(span))
        }
    }
}

fn backend_line(b: &BackendSpec, cores: usize) -> String {
    let workers = match (b.kind, b.resolved_workers(cores)) {
        (BackendKind::Threads, 0) => "one OS thread per job".to_string(),
        (_, 1) => "1 worker".to_string(),
        (_, w) => format!("{w} workers"),
    };
    let mut s = format!("{} {workers}", b.kind.as_str());
    if let Some(f) = b.flavor {
        s += &format!(", {}", f.as_str());
    }
    if let Some(m) = b.cpu_mode {
        s += &format!(", cpu_mode {}", m.as_str());
    }
    if b.gil {
        s += ", under the GIL";
    }
    if b.processes > 1 {
        s += &format!(
            "; {} processes ({} each), dispatch {}",
            b.processes,
            if b.gil {
                "own GIL and workers"
            } else {
                "own workers"
            },
            b.dispatch.as_str()
        );
    }
    s
}
