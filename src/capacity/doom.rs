//! When a probe's outcome is decided before it ends: the points at which
//! `gilsim plan` lets the driver give up on a probe ([`GiveUp`]).
//!
//! The rule is a certainty, not a guess. A job still unfinished `L` after
//! its due time has a latency above `L` whatever happens next. In an
//! open-loop probe the driver knows every job's due time, so at any moment
//! at least (jobs due more than `L` ago) − (jobs completed) of them are
//! such late jobs. Once more than a `1 − q` share of a group's measured
//! jobs (plus every warm-up job, which might be among them) is late, that
//! group's q-quantile is above `L`, and an SLO `GROUP.pQ<=L` has failed.
//! Past its knee a backend's backlog grows with every arrival, so an
//! overloaded probe is decided within seconds instead of running through
//! all its arrivals and then draining (a thread per request under a GIL
//! can take minutes to drain: docs/planning.md); cancelling its jobs also
//! keeps them from taking the CPU from the next probe.
//!
//! Where the rule cannot be sure, it gives no point: closed-loop and batch
//! groups (the driver counts due times of open-loop arrivals), mean and
//! throughput SLOs (a few slow jobs do not decide them), and an SLO on one
//! group of several (the driver counts late jobs over the whole run, not per
//! group).

use std::time::Duration;

use super::slo::{Objective, Slo, Stat};
use crate::exec::warmup_of;
use crate::options::GiveUp;
use crate::plan::Plan;

/// Slack on the SLO's bound before the rule applies: histograms keep three
/// significant digits, so a latency a hair above `L` could read as `L`.
const BOUND_SLACK: f64 = 1.01;

/// Slack on the time, for clock reads on different threads.
const TIME_SLACK: Duration = Duration::from_millis(10);

/// The points at which a probe of `plan` under `slos` is decided (empty
/// when the rule cannot be sure of any).
pub fn give_up_points(plan: &Plan, slos: &[Slo], warmup_jobs: u64) -> Vec<GiveUp> {
    let all_open = (0..plan.groups.len()).all(|g| plan.open_arrivals(g).is_some());
    if plan.groups.is_empty() || !all_open {
        return Vec::new();
    }
    slos.iter()
        .filter_map(|slo| point_for(plan, slo, warmup_jobs))
        .collect()
}

/// The point for one SLO, if the rule applies to it.
fn point_for(plan: &Plan, slo: &Slo, warmup_jobs: u64) -> Option<GiveUp> {
    let Objective::Latency { group, stat, limit } = slo.objective() else {
        return None;
    };
    let tail = tail_share(*stat)?;
    if group.is_some() && plan.groups.len() > 1 {
        return None;
    }
    // Pigeonhole: more late jobs than the sum of the groups' bounds puts at
    // least one group past its own.
    let late_jobs_over = (0..plan.groups.len())
        .map(|g| {
            let jobs = plan.groups[g].jobs;
            let warmup = warmup_of(plan, g, warmup_jobs).min(jobs);
            let measured = jobs - warmup;
            (tail * measured as f64).floor() as u64 + 1 + warmup
        })
        .sum();
    Some(GiveUp {
        late: limit.mul_f64(BOUND_SLACK) + TIME_SLACK,
        late_jobs_over,
    })
}

/// The share of jobs above the statistic: more than this many jobs above a
/// bound put the statistic above it. `None` for the mean, which a few slow
/// jobs do not decide.
fn tail_share(stat: Stat) -> Option<f64> {
    match stat {
        Stat::P50 => Some(0.5),
        Stat::P90 => Some(0.1),
        Stat::P99 => Some(0.01),
        Stat::P999 => Some(0.001),
        Stat::Max => Some(0.0),
        Stat::Mean => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(toml: &str) -> Plan {
        let set = crate::config::parse(toml, std::path::Path::new("t.toml")).expect("config");
        Plan::new(&set)
    }

    const OPEN: &str = r#"
        seed = 3
        [[backend]]
        kind = "threads"
        [[group]]
        name = "req"
        jobs = 1200
        arrival = { rate = 1000, process = "uniform" }
        steps = [{ io = "1ms" }]
    "#;

    #[test]
    fn a_p99_slo_is_decided_once_more_than_one_percent_is_late() {
        let plan = plan_of(OPEN);
        let slo = Slo::parse("req.p99<=20ms").unwrap();
        let points = give_up_points(&plan, &[slo], 200);
        assert_eq!(points.len(), 1);
        // 1,000 measured jobs: 10 may be late, the 11th decides; the 200
        // warm-up jobs might be among the late ones.
        assert_eq!(points[0].late_jobs_over, 10 + 1 + 200);
        assert_eq!(points[0].late, Duration::from_micros(20_200 + 10_000));
    }

    #[test]
    fn max_allows_no_late_job_and_the_mean_gives_no_point() {
        let plan = plan_of(OPEN);
        let max = Slo::parse("req.max<=20ms").unwrap();
        let mean = Slo::parse("req.mean<=20ms").unwrap();
        let thr = Slo::parse("throughput>=10").unwrap();
        let points = give_up_points(&plan, &[max, mean, thr], 200);
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].late_jobs_over, 1 + 200);
    }

    #[test]
    fn closed_loops_and_one_group_of_several_give_no_point() {
        let closed = plan_of(
            r#"
            [[backend]]
            kind = "threads"
            [[group]]
            name = "req"
            jobs = 100
            arrival = { closed = 4 }
            steps = [{ io = "1ms" }]
        "#,
        );
        let slo = Slo::parse("req.p99<=20ms").unwrap();
        assert!(give_up_points(&closed, &[slo], 10).is_empty());

        let two = plan_of(&format!(
            "{OPEN}\n[[group]]\nname = \"bg\"\njobs = 100\narrival = {{ rate = 100 }}\nsteps = [{{ io = \"1ms\" }}]\n"
        ));
        let one = Slo::parse("req.p99<=20ms").unwrap();
        assert!(give_up_points(&two, &[one], 10).is_empty());
        // `*` over both groups: the bounds add up. req: 1% of 1,190
        // measured is 11, +1, +10 warm-up; bg: 1% of 90 is 0, +1, +10.
        let every = Slo::parse("*.p99<=20ms").unwrap();
        let points = give_up_points(&two, &[every], 10);
        assert_eq!(points[0].late_jobs_over, 22 + 11);
    }
}
