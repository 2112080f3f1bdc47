//! `--format csv`: one row per config × backend × group, with a header.

use std::io::Write;

use super::{Exporter, GroupReport, Quantiles, Report, RunReport};

/// The CSV exporter.
pub struct Csv;

const RUN_COLUMNS: [&str; 10] = [
    "config",
    "backend",
    "kind",
    "gil",
    "workers",
    "wall_s",
    "jobs",
    "throughput_per_s",
    "cpu_utilization",
    "group",
];
const QUANTILE_KEYS: [&str; 7] = ["min", "mean", "p50", "p90", "p99", "p999", "max"];
const TIME_KEYS: [&str; 8] = [
    "cpu",
    "native",
    "io",
    "gil_wait",
    "lock_wait",
    "queue",
    "offload_wait",
    "executor_blocked",
];

fn header() -> Vec<String> {
    let mut h: Vec<String> = RUN_COLUMNS.iter().map(|s| s.to_string()).collect();
    h.push("group_jobs".into());
    for hist in ["latency_us", "queue_us", "service_us"] {
        h.extend(QUANTILE_KEYS.iter().map(|k| format!("{hist}_{k}")));
    }
    h.extend(TIME_KEYS.iter().map(|k| format!("time_s_{k}")));
    h.extend(["gil_acquisitions", "gil_forced_switches", "gil_wait_s"].map(String::from));
    // Added after the first release: new columns go last, so scripts that
    // index columns keep working.
    h.extend(["kernel_speed", "held_back_jobs"].map(String::from));
    h
}

fn quantiles(q: &Quantiles) -> [String; 7] {
    [
        q.min.to_string(),
        q.mean.to_string(),
        q.p50.to_string(),
        q.p90.to_string(),
        q.p99.to_string(),
        q.p999.to_string(),
        q.max.to_string(),
    ]
}

fn row(config: &str, run: &RunReport, g: &GroupReport) -> Vec<String> {
    let mut r = vec![
        config.to_string(),
        run.backend.clone(),
        run.kind.clone(),
        run.gil_enabled.to_string(),
        run.workers.to_string(),
        run.wall_s.to_string(),
        run.jobs.to_string(),
        run.throughput_per_s.to_string(),
        run.cpu_utilization.to_string(),
        g.name.clone(),
        g.jobs.to_string(),
    ];
    for q in [&g.latency_us, &g.queue_us, &g.service_us] {
        r.extend(quantiles(q));
    }
    let t = &g.time_s;
    r.extend(
        [
            t.cpu,
            t.native,
            t.io,
            t.gil_wait,
            t.lock_wait,
            t.queue,
            t.offload_wait,
            t.executor_blocked,
        ]
        .map(|x| x.to_string()),
    );
    match &run.gil_stats {
        Some(s) => r.extend([
            s.acquisitions.to_string(),
            s.forced_switches.to_string(),
            s.wait_s.to_string(),
        ]),
        None => r.extend([String::new(), String::new(), String::new()]),
    }
    r.push(run.kernel_speed.map(|s| s.to_string()).unwrap_or_default());
    r.push(run.held_back_jobs.to_string());
    r
}

impl Exporter for Csv {
    fn export(&self, reports: &[Report], out: &mut dyn Write) -> std::io::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(header())?;
        for report in reports {
            for run in &report.runs {
                for g in &run.groups {
                    w.write_record(row(&report.config, run, g))?;
                }
            }
        }
        w.flush()
    }

    fn extension(&self) -> &'static str {
        "csv"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn header_and_rows_have_the_same_width() {
        let g = fixtures::group("io", 3, fixtures::quantiles(1), Default::default());
        let run = fixtures::run("threads", 3.0, vec![g.clone()]);
        assert_eq!(header().len(), row("c", &run, &g).len());
    }
}
