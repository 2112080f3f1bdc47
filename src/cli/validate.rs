//! `gilsim validate`: parse, check and print the resolved plan.

use std::path::PathBuf;

use gilsim::config::{escape_controls, ArrivalProcess, BackendKind, BackendSpec, JobSet};
use gilsim::error::Error;
use gilsim::options::available_cores;
use gilsim::plan::{ArrivalPlan, Plan};
use gilsim::report::{count, fmt_secs};

pub fn validate(paths: &[PathBuf]) -> Result<(), Error> {
    let sets = super::load_all(paths)?;
    let cores = available_cores();
    // What `run` would refuse before it starts (with its default
    // --max-threads), `validate` refuses too.
    gilsim::preflight::check(&sets, cores, Some(gilsim::preflight::DEFAULT_MAX_THREADS))?;
    let mut text = String::new();
    for (i, set) in sets.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text += &summary(set, cores);
    }
    super::print_stdout(&text)
}

/// The resolved plan of `set`, as text.
pub fn summary(set: &JobSet, cores: usize) -> String {
    let plan = Plan::new(set);
    let mut s = format!("{}: {}", set.source.display(), set.name);
    if let Some(d) = &set.description {
        // Free text from the config: shown, but never as terminal commands.
        s += &format!(" — {}", escape_controls(d));
    }
    let (g, c) = (&set.gil, &set.gil.cost);
    let secs = |d: std::time::Duration| fmt_secs(d.as_secs_f64());
    s += &format!(
        "\n  seed {}; GIL switch interval {}, tick {}, counter inside share {}, timer slack {}\n  \
         interpreter costs under the GIL: task {}, resume {}, io_call {}, submit {}, complete {}\n  groups:\n",
        set.seed,
        secs(g.switch_interval),
        secs(g.tick),
        g.counter_inside_share,
        secs(g.timer_slack),
        secs(c.task),
        secs(c.resume),
        secs(c.io_call),
        secs(c.submit),
        secs(c.complete),
    );
    for (gi, g) in plan.groups.iter().enumerate() {
        let t = plan.group_totals(gi);
        s += &format!(
            "    {:<16} {:>13}  {:<28} cpu {:>9}  native {:>9}  io {:>9}  steps {}\n",
            g.name,
            count(g.jobs, "job", "jobs"),
            arrival(&g.arrival, g.jobs),
            fmt_secs((t.cpu + t.locked_cpu).as_secs_f64()),
            fmt_secs(t.native.as_secs_f64()),
            fmt_secs(t.io.as_secs_f64()),
            t.steps
        );
    }
    let t = plan.totals();
    s += &format!(
        "  total: {}; CPU {} (interpreted {}, native {}, in locks {}), IO {} (expected values)\n",
        count(plan.total_jobs(), "job", "jobs"),
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

fn arrival(a: &ArrivalPlan, jobs: u64) -> String {
    match a {
        ArrivalPlan::Batch => "batch".into(),
        ArrivalPlan::Closed {
            clients,
            think: None,
        } => format!("closed, {}", count(*clients, "client", "clients")),
        ArrivalPlan::Closed {
            clients,
            think: Some(_),
        } => format!("closed, {} + think", count(*clients, "client", "clients")),
        ArrivalPlan::Open { rate, process } => {
            // The expected span: the exact one would walk every arrival,
            // and validate stays instant for any job count.
            let span = jobs.saturating_sub(1) as f64 / rate;
            let process = match process {
                ArrivalProcess::Poisson => "poisson",
                ArrivalProcess::Uniform => "uniform",
            };
            format!("open {process}, over ~{}", fmt_secs(span))
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
