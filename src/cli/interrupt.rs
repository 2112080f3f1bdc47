//! Ctrl-C and SIGTERM for `gilsim run`, `sweep` and `plan`; `--timeout` for `run` (SPEC §8).
//!
//! The first SIGINT or SIGTERM, or the timeout, asks the runs to stop
//! ([`gilsim::stop::request`]): the driver submits no more jobs, waits up to
//! [`gilsim::stop::GRACE`] for those in flight, and the command writes the
//! reports it has, marked incomplete, then exits 130 (interrupt) or 124
//! (timeout). A second signal ends the process at once with 130: it clears
//! the progress bar's line, removes temporary files of outputs not yet
//! written, and exits without writing anything.
//!
//! Signals are received by signal-hook on a thread of their own, so no
//! handler code runs in signal context beyond signal-hook's own.

use std::io::IsTerminal;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use gilsim::error::Error;
use gilsim::stop::{self, Stopped};

/// Starts listening for SIGINT and SIGTERM.
pub fn install() -> Result<(), Error> {
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Error::Usage(format!("cannot install the Ctrl-C handler: {e}")))?;
    let clear_line = std::io::stderr().is_terminal();
    std::thread::Builder::new()
        .name("gilsim-signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                if !stop::request(Stopped::Interrupted) {
                    exit_now(clear_line);
                }
            }
        })
        .map(drop)
        .map_err(|e| Error::Usage(format!("cannot start the signal thread: {e}")))
}

/// How `run`, `sweep` and `plan` end once their output is written: with
/// the output error if one happened, else with [`Error::Stopped`]
/// (exit 130 or 124) whenever a stop came, also one that came after the
/// last run and cut nothing (SPEC §8), else with success.
pub fn outcome(failed: Option<Error>) -> Result<(), Error> {
    match (failed, stop::reason()) {
        (Some(e), _) => Err(e),
        (None, Some(why)) => Err(Error::Stopped(why)),
        (None, None) => Ok(()),
    }
}

/// Requests a stop with [`Stopped::Timeout`] once `after` has passed.
pub fn arm_timeout(after: Duration) {
    // Detached: if the runs end first, the process exits under it.
    let _ = std::thread::Builder::new()
        .name("gilsim-timeout".into())
        .spawn(move || {
            std::thread::sleep(after);
            stop::request(Stopped::Timeout);
        });
}

/// The second signal: out at once, leaving no half-written file behind.
fn exit_now(clear_line: bool) -> ! {
    if clear_line {
        // Erase the progress bar's line.
        raw_stderr(b"\r\x1b[2K");
    }
    gilsim::fsout::remove_pending();
    raw_stderr(b"gilsim: interrupted twice: exiting at once, nothing written\n");
    // Not `std::process::exit`: another thread may hold stdout's lock while
    // blocked on a full pipe, and exiting must not wait for it.
    // SAFETY: _exit ends the process immediately; it is always safe to call.
    unsafe { libc::_exit(Stopped::Interrupted.exit_code()) }
}

/// Writes to stderr without taking Rust's stderr lock, which another
/// thread may hold.
fn raw_stderr(bytes: &[u8]) {
    // SAFETY: fd 2 stays open for the life of the process; the buffer is
    // valid for its length. A short or failed write only loses the message.
    unsafe {
        libc::write(2, bytes.as_ptr().cast(), bytes.len());
    }
}
