//! `run`'s flags for repetitions and stopping: `--runs`, `--warmup`,
//! `--timeout` (issue 11, SPEC §8).

use std::time::Duration;

use clap::Args;

/// Most repetitions `--runs` and `--warmup` accept.
pub const MAX_RUNS: u32 = 1000;

/// How often each backend runs, and when to give up.
#[derive(Debug, Clone, Args)]
pub struct RunControl {
    /// Run each backend N times on the same plan, interleaved (b1 b2 b3 b1
    /// b2 b3 …) so drift hits every backend alike; report means with a 95%
    /// confidence interval, and name winners only beyond the noise.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_RUNS as i64))]
    pub runs: u32,

    /// Unmeasured runs of each backend before the measured ones (also
    /// interleaved).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=MAX_RUNS as i64))]
    pub warmup: u32,

    /// Stop after DURATION ("90s", "1.5s", as in configs) as the first
    /// Ctrl-C does: no new jobs, 2 s grace for running ones, incomplete
    /// reports written, exit status 124.
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = gilsim::config::parse_duration(s)?;
    if d.is_zero() {
        return Err(
            "a timeout of 0 would stop before anything ran; give a positive duration".into(),
        );
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_use_the_config_duration_syntax() {
        assert_eq!(parse_timeout("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_timeout("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("5").unwrap_err().contains("missing unit"));
    }
}
