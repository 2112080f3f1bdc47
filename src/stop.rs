//! Stopping a run early (SPEC §8): one process-wide request, set by the
//! first Ctrl-C, SIGTERM or `--timeout`, read by the driver between
//! submissions.
//!
//! The request is process-wide because signals are: whoever installs the
//! handlers (the CLI) sets it, and every run in the process sees it. Reading
//! it is one relaxed atomic load, cheap enough for the driver's submit loop.
//! Once set it stays set: after a stop, no further run starts, and the
//! process reports what it has and exits.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long jobs already submitted may keep running after a stop request
/// before the driver abandons them: long enough for the short steps most
/// configs have to finish and be counted, short enough that a user who
/// pressed Ctrl-C is not kept waiting.
pub const GRACE: Duration = Duration::from_secs(2);

/// Why a run stopped before its last job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stopped {
    /// Ctrl-C (SIGINT) or SIGTERM.
    Interrupted,
    /// `--timeout` elapsed.
    Timeout,
}

impl Stopped {
    /// The exit status after a stop: 130 (128 + SIGINT) after an interrupt,
    /// 124 after a timeout (as `timeout(1)` exits).
    pub fn exit_code(self) -> i32 {
        match self {
            Stopped::Interrupted => 130,
            Stopped::Timeout => 124,
        }
    }

    /// `"interrupted"` or `"timeout"`, as reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Stopped::Interrupted => "interrupted",
            Stopped::Timeout => "timeout",
        }
    }

    fn code(self) -> u8 {
        match self {
            Stopped::Interrupted => 1,
            Stopped::Timeout => 2,
        }
    }
}

/// 0: running; otherwise [`Stopped::code`] of the first request.
static REQUEST: AtomicU8 = AtomicU8::new(0);

/// Asks every run in this process to stop. The first request wins (a
/// timeout after a Ctrl-C is still an interrupt); returns whether this call
/// was the first.
pub fn request(why: Stopped) -> bool {
    REQUEST
        .compare_exchange(0, why.code(), Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

/// Whether a stop was requested: one relaxed load, for hot loops.
#[inline]
pub fn requested() -> bool {
    REQUEST.load(Ordering::Relaxed) != 0
}

/// Why the process was asked to stop, if it was.
pub fn reason() -> Option<Stopped> {
    match REQUEST.load(Ordering::SeqCst) {
        1 => Some(Stopped::Interrupted),
        2 => Some(Stopped::Timeout),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_names_follow_the_spec() {
        assert_eq!(Stopped::Interrupted.exit_code(), 130);
        assert_eq!(Stopped::Timeout.exit_code(), 124);
        assert_eq!(
            serde_json::to_string(&Stopped::Timeout).unwrap(),
            "\"timeout\""
        );
        assert_eq!(Stopped::Interrupted.as_str(), "interrupted");
    }
}
