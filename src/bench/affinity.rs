//! Which CPUs a measurement runs on.
//!
//! Two measurements compared side by side must run on the same kind of
//! CPU. On a virtual machine they need not be alike: on the 2-core KVM
//! guest of 2026-11-26 one virtual CPU ran the model engine about 1.55×
//! slower than the other, so a ratio of two processes that landed on
//! different CPUs said more about the landing than about the programs.
//! This module lists the CPUs the process may use and keeps the calling
//! thread on one of them for a while ([`Pinned`]); a child process started
//! meanwhile inherits the pin, so a peer program run as a child shares it.

/// The CPUs this process may run on, in order (empty if the OS will not
/// say).
pub fn allowed_cpus() -> Vec<usize> {
    let Some(set) = current_set() else {
        return Vec::new();
    };
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| {
            // SAFETY: `c` is below CPU_SETSIZE.
            unsafe { libc::CPU_ISSET(c, &set) }
        })
        .collect()
}

/// The calling thread's affinity mask.
fn current_set() -> Option<libc::cpu_set_t> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set, and
    // sched_getaffinity writes at most its size into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0)
            .then_some(set)
    }
}

/// Sets the calling thread's affinity mask; false if the OS refused.
fn set(set: &libc::cpu_set_t) -> bool {
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) == 0 }
}

/// Keeps the calling thread on `cpu`; false if the OS refused.
pub fn pin(cpu: usize) -> bool {
    if cpu >= libc::CPU_SETSIZE as usize {
        return false;
    }
    // SAFETY: as in `current_set`; `cpu` is below CPU_SETSIZE.
    let one = unsafe {
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        one
    };
    set(&one)
}

/// The calling thread kept on one CPU until this is dropped, when its
/// earlier mask comes back.
pub struct Pinned {
    before: libc::cpu_set_t,
}

impl Pinned {
    /// Pins the calling thread to `cpu`; `None` (nothing changed) if the
    /// OS refused.
    pub fn to(cpu: usize) -> Option<Self> {
        let before = current_set()?;
        pin(cpu).then_some(Self { before })
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        set(&self.before);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinning holds while the guard lives and the earlier mask comes back
    /// after it. Run on a thread of its own: threads started by a pinned
    /// thread would inherit the pin.
    #[test]
    fn a_pin_holds_until_its_guard_is_dropped() {
        std::thread::spawn(|| {
            let cpus = allowed_cpus();
            assert!(!cpus.is_empty(), "the OS names at least one CPU");
            let last = *cpus.last().unwrap();
            {
                let _pin = Pinned::to(last).expect("an allowed CPU can be pinned");
                assert_eq!(allowed_cpus(), vec![last]);
            }
            assert_eq!(allowed_cpus(), cpus);
            assert!(Pinned::to(libc::CPU_SETSIZE as usize).is_none());
            assert_eq!(allowed_cpus(), cpus, "a refused pin changes nothing");
        })
        .join()
        .unwrap();
    }
}
