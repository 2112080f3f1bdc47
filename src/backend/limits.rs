//! How many OS threads a run may start at once.

/// The most threads gilsim will start at once, and why: the smaller of the
/// user's cap and three quarters of what the kernel allows (leaving room
/// for the rest of the system).
pub fn thread_limit(user_cap: u64) -> (u64, String) {
    let mut limit = user_cap;
    let mut why = format!("--max-threads {user_cap}");
    for (name, value) in os_limits() {
        let usable = value.saturating_mul(3) / 4;
        if usable < limit {
            limit = usable;
            why = format!("three quarters of {name} = {value}");
        }
    }
    (limit, why)
}

/// Memory maps an OS thread takes: its stack and its signal stack, each
/// with a guard page (measured: 52,000-63,000 maps for 12,000-15,000
/// threads).
const MAPS_PER_THREAD: u64 = 4;

fn os_limits() -> Vec<(&'static str, u64)> {
    let mut out = Vec::new();
    for (name, path) in [
        ("kernel.threads-max", "/proc/sys/kernel/threads-max"),
        ("kernel.pid_max", "/proc/sys/kernel/pid_max"),
    ] {
        if let Some(v) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            out.push((name, v));
        }
    }
    // Each thread maps its stack, its signal stack and a guard page for
    // each: past `vm.max_map_count` maps, a new thread cannot set up its
    // signal stack and the process aborts.
    if let Some(v) = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
    {
        out.push((
            "vm.max_map_count / 4 (maps per thread)",
            v / MAPS_PER_THREAD,
        ));
    }
    // SAFETY: getrlimit only writes the struct we pass.
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    if unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut rl) } == 0
        && rl.rlim_cur != libc::RLIM_INFINITY
    {
        out.push(("ulimit -u (RLIMIT_NPROC)", rl.rlim_cur));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_cap_bounds_the_limit() {
        let (limit, why) = thread_limit(10);
        assert_eq!(limit, 10);
        assert!(why.contains("--max-threads"));
        assert!(thread_limit(u64::MAX).0 < u64::MAX);
    }
}
