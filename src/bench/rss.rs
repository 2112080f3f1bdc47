//! This process's resident memory, read from `/proc/self/status`: the
//! peak since a reset and the size now, for the bench's memory figures.

/// A `kB` line of `/proc/self/status` (`VmHWM`, `VmRSS`), in bytes.
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Peak resident set size since the last [`reset_peak`], in bytes.
pub fn peak() -> Option<u64> {
    status_kb("VmHWM")
}

/// Resident set size now, in bytes.
pub fn current() -> Option<u64> {
    status_kb("VmRSS")
}

/// Resets the peak to the current size (Linux ≥ 4.0); false where the
/// kernel does not allow it.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where `/proc` is there, 64 MB touched and held show in both the
    /// size now and the peak. (Only lower bounds: tests running beside
    /// this one allocate, free and reset the peak at any time.)
    #[test]
    fn touched_memory_shows_in_the_peak() {
        if current().is_none() {
            assert!(std::fs::metadata("/proc/self/status").is_err());
            return;
        }
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        let (now, top) = (current().unwrap(), peak().unwrap());
        assert!(now >= 64 << 20, "{now} bytes resident while holding 64 MB");
        assert!(top >= 64 << 20, "peak {top} while holding 64 MB");
    }
}
