//! Service-level objectives for `gilsim plan` (SPEC §5): parsing
//! `GROUP.STAT<=DURATION` and `throughput>=X`, checking them against a
//! config, how many measured jobs each needs, and judging a run report.

use std::time::Duration;

use crate::config::{parse_duration, JobSet};
use crate::report::{Quantiles, RunReport};

use super::keys::KeyError;

/// A latency statistic an SLO can bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    P50,
    P90,
    P99,
    P999,
    Max,
    Mean,
}

impl Stat {
    const ALL: [Stat; 6] = [
        Stat::P50,
        Stat::P90,
        Stat::P99,
        Stat::P999,
        Stat::Max,
        Stat::Mean,
    ];

    /// The name written in an SLO.
    pub fn as_str(self) -> &'static str {
        match self {
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P99 => "p99",
            Stat::P999 => "p999",
            Stat::Max => "max",
            Stat::Mean => "mean",
        }
    }

    /// The quantile whose estimate decides how long a probe must be. The
    /// mean needs as many jobs as the median; the maximum is judged over
    /// as many jobs as a p99 (a longer probe only raises a maximum).
    pub fn quantile(self) -> f64 {
        match self {
            Stat::P50 | Stat::Mean => 0.5,
            Stat::P90 => 0.9,
            Stat::P99 | Stat::Max => 0.99,
            Stat::P999 => 0.999,
        }
    }

    /// This statistic of `q`, in µs.
    pub fn of(self, q: &Quantiles) -> f64 {
        match self {
            Stat::P50 => q.p50 as f64,
            Stat::P90 => q.p90 as f64,
            Stat::P99 => q.p99 as f64,
            Stat::P999 => q.p999 as f64,
            Stat::Max => q.max as f64,
            Stat::Mean => q.mean,
        }
    }
}

/// What an SLO bounds.
#[derive(Debug, Clone, PartialEq)]
pub enum Objective {
    /// A latency statistic of one group (`None`: `*`, every group) at most
    /// `limit`.
    Latency {
        group: Option<String>,
        stat: Stat,
        limit: Duration,
    },
    /// The run's measured throughput at least this many jobs per second.
    Throughput { min: f64 },
}

/// One `--slo EXPR`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    text: String,
    objective: Objective,
}

/// One figure an SLO looked at in one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// `requests.p99_us` or `throughput_per_s`.
    pub name: String,
    /// The group it is about (`None` for throughput).
    pub group: Option<String>,
    /// The measured value (µs, or jobs per second).
    pub value: f64,
    /// Whether it meets the objective.
    pub met: bool,
}

/// The syntax, for messages.
pub const SLO_SYNTAX: &str =
    "GROUP.STAT<=DURATION with STAT one of p50 p90 p99 p999 max mean (GROUP may be * for every group), \
     or throughput>=JOBS_PER_SECOND; e.g. requests.p99<=20ms, *.p999<=100ms, throughput>=500";

impl Slo {
    /// Parses an SLO expression.
    pub fn parse(text: &str) -> Result<Slo, KeyError> {
        let t = text.trim();
        let bad = |why: &str| KeyError(format!("--slo {t}: {why}; expected {SLO_SYNTAX}"));
        let objective = if let Some((lhs, rhs)) = t.split_once(">=") {
            if lhs.trim() != "throughput" {
                return Err(bad(
                    "only throughput takes >= (latencies take <=, as in requests.p99<=20ms)",
                ));
            }
            match rhs.trim().parse::<f64>() {
                Ok(min) if min.is_finite() && min > 0.0 => Objective::Throughput { min },
                _ => return Err(bad(&format!("`{}` is not a positive number", rhs.trim()))),
            }
        } else if let Some((lhs, rhs)) = t.split_once("<=") {
            let (group, stat) = lhs
                .trim()
                .rsplit_once('.')
                .ok_or_else(|| bad(&format!("`{}` is not GROUP.STAT", lhs.trim())))?;
            let stat = Stat::ALL
                .into_iter()
                .find(|s| s.as_str() == stat.trim())
                .ok_or_else(|| bad(&format!("unknown statistic `{}`", stat.trim())))?;
            let group = match group.trim() {
                "" => return Err(bad("the group is empty")),
                "*" => None,
                g => Some(g.to_string()),
            };
            let limit = parse_duration(rhs.trim())
                .map_err(|why| bad(&format!("`{}`: {why}", rhs.trim())))?;
            if limit.is_zero() {
                return Err(bad("a latency bound of 0 can never hold"));
            }
            Objective::Latency { group, stat, limit }
        } else {
            return Err(bad("no <= or >="));
        };
        Ok(Slo {
            text: t.to_string(),
            objective,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// What it bounds.
    pub fn objective(&self) -> &Objective {
        &self.objective
    }

    /// Refuses an SLO naming a group the config does not have.
    pub fn check(&self, set: &JobSet) -> Result<(), KeyError> {
        if let Objective::Latency { group: Some(g), .. } = &self.objective {
            if !set.groups.iter().any(|x| &x.name == g) {
                let names: Vec<&str> = set.groups.iter().map(|x| x.name.as_str()).collect();
                return Err(KeyError(format!(
                    "--slo {}: config `{}` has no group `{g}`; its groups: {}",
                    self.text,
                    set.name,
                    names.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The groups this SLO measures (every group for `*` and throughput).
    pub fn groups<'a>(&'a self, set: &'a JobSet) -> Vec<&'a str> {
        match &self.objective {
            Objective::Latency { group: Some(g), .. } => vec![g.as_str()],
            _ => set.groups.iter().map(|g| g.name.as_str()).collect(),
        }
    }

    /// The quantile that sets the probe length (0.5 for throughput).
    pub fn quantile(&self) -> f64 {
        match &self.objective {
            Objective::Latency { stat, .. } => stat.quantile(),
            Objective::Throughput { .. } => 0.5,
        }
    }

    /// The figures of `run` this SLO looks at, each judged.
    pub fn judge(&self, run: &RunReport) -> Vec<Figure> {
        match &self.objective {
            Objective::Throughput { min } => vec![Figure {
                name: "throughput_per_s".into(),
                group: None,
                value: run.throughput_per_s,
                met: run.throughput_per_s >= *min,
            }],
            Objective::Latency { group, stat, limit } => {
                let bound = limit.as_secs_f64() * 1e6;
                run.groups
                    .iter()
                    .filter(|g| group.as_ref().map_or(true, |x| *x == g.name))
                    .map(|g| {
                        let value = stat.of(&g.latency_us);
                        Figure {
                            name: format!("{}.{}_us", g.name, stat.as_str()),
                            group: Some(g.name.clone()),
                            value,
                            // A group with no measured job has not shown
                            // it meets anything.
                            met: g.jobs > 0 && value <= bound,
                        }
                    })
                    .collect()
            }
        }
    }
}

/// Measured jobs a probe needs for quantile `q`: 100 / (1 − q), so that at
/// least 100 jobs lie beyond the quantile (p99: 10,000; p999: 100,000),
/// and never fewer than 200.
pub fn jobs_for_quantile(q: f64) -> u64 {
    let tail = (1.0 - q).max(1e-6);
    // Less a hair: 1 − 0.99 is not exactly 0.01 in floating point.
    ((100.0 / tail - 1e-6).ceil() as u64).max(200)
}

/// Warm-up jobs before `measured` measured ones: a tenth of them, at least
/// 200, so queues reach their steady state before anything is recorded.
pub fn warmup_for(measured: u64) -> u64 {
    (measured / 10).max(200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slos_parse() {
        let s = Slo::parse("requests.p99<=20ms").unwrap();
        assert_eq!(
            s.objective(),
            &Objective::Latency {
                group: Some("requests".into()),
                stat: Stat::P99,
                limit: Duration::from_millis(20)
            }
        );
        let all = Slo::parse(" *.p999 <= 1.5s ").unwrap();
        assert!(matches!(
            all.objective(),
            Objective::Latency {
                group: None,
                stat: Stat::P999,
                ..
            }
        ));
        assert_eq!(
            Slo::parse("throughput>=500").unwrap().objective(),
            &Objective::Throughput { min: 500.0 }
        );
        let dotted = Slo::parse("api.v2.mean<=3ms").unwrap();
        assert!(
            matches!(dotted.objective(), Objective::Latency { group: Some(g), stat: Stat::Mean, .. } if g == "api.v2")
        );
    }

    #[test]
    fn malformed_slos_say_what_is_wrong() {
        for (text, phrase) in [
            ("requests.p98<=20ms", "unknown statistic `p98`"),
            ("requests.p99<20ms", "no <= or >="),
            ("requests.p99<=20", "`20`"),
            ("requests.p99<=0ms", "can never hold"),
            ("p99<=20ms", "is not GROUP.STAT"),
            (".p99<=20ms", "the group is empty"),
            ("throughput>=fast", "`fast` is not a positive number"),
            ("throughput>=-3", "not a positive number"),
            ("requests.p99>=20ms", "only throughput takes >="),
            ("", "no <= or >="),
        ] {
            let e = Slo::parse(text).unwrap_err().0;
            assert!(e.contains(phrase), "{text}: {e}");
            assert!(e.contains("expected GROUP.STAT<=DURATION"), "{e}");
        }
    }

    #[test]
    fn probe_length_follows_the_quantile() {
        assert_eq!(jobs_for_quantile(0.99), 10_000);
        assert_eq!(jobs_for_quantile(0.999), 100_000);
        assert_eq!(jobs_for_quantile(0.9), 1_000);
        assert_eq!(jobs_for_quantile(0.5), 200);
        assert_eq!(warmup_for(10_000), 1_000);
        assert_eq!(warmup_for(200), 200);
    }
}
