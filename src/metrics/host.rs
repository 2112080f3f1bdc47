//! What the machine's host took from it: hypervisor steal time.
//!
//! On a virtual machine the hypervisor can stop a virtual CPU for
//! milliseconds at a time. Every thread queued on that CPU stalls, so one
//! such pause adds the same few milliseconds to every job in flight and to
//! the jobs that arrive meanwhile: on a 10,000-job probe a handful of
//! pauses is enough to move a p99. The kernel counts that time as *steal*
//! in `/proc/stat`; a run records how much of it fell inside its wall time
//! so reports can say when the host, not the workload, was slow.

use std::time::Duration;

/// Steal time of every CPU of this machine so far, or `None` where the
/// kernel does not report it (not Linux, or no `/proc`).
pub fn steal_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_steal(&stat, ticks_per_second()?)
}

/// Steal time between two readings of [`steal_time`]; `None` when either
/// is missing.
pub fn steal_between(before: Option<Duration>, after: Option<Duration>) -> Option<Duration> {
    Some(after?.saturating_sub(before?))
}

/// Clock ticks per second of `/proc/stat`'s counters (`USER_HZ`).
fn ticks_per_second() -> Option<u64> {
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|&hz| hz > 0)
}

/// The steal field (the 8th number) of the aggregate `cpu` line.
fn parse_steal(stat: &str, hz: u64) -> Option<Duration> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: u64 = line.split_whitespace().nth(8)?.parse().ok()?;
    Some(Duration::from_nanos(
        ticks.saturating_mul(1_000_000_000 / hz),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_steal_column_of_the_cpu_line() {
        let stat = "cpu  814665 730480 125422 370690 4011 0 1203 7804 0 0\n\
                    cpu0 1 2 3 4 5 6 7 8 9 10\n";
        assert_eq!(parse_steal(stat, 100), Some(Duration::from_millis(78_040)));
    }

    #[test]
    fn a_kernel_without_the_column_reports_nothing() {
        assert_eq!(parse_steal("cpu  1 2 3 4\n", 100), None);
        assert_eq!(parse_steal("intr 5\n", 100), None);
    }

    #[test]
    fn a_difference_needs_both_readings() {
        let s = Some(Duration::from_millis(30));
        assert_eq!(
            steal_between(Some(Duration::from_millis(10)), s),
            Some(Duration::from_millis(20))
        );
        assert_eq!(steal_between(None, s), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_reports_a_steal_time() {
        assert!(steal_time().is_some());
    }
}
