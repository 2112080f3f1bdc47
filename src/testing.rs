//! What the library's unit tests share across modules: for now, the lock
//! that keeps tests which time CPU work, or which load every core, from
//! running beside each other.

use std::sync::{Mutex, MutexGuard};

/// Timing tests hold this so they do not compete with each other for the
/// cores, and tests that keep every core busy hold it so they do not slow a
/// timing test down.
pub(crate) fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}
