//! Pieces every async backend shares: where offloaded CPU work runs, and
//! wrapping work for a blocking pool gilsim does not own.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::available_cores;
use super::rayon_pool::build_pool;
use crate::config::CpuMode;
use crate::error::RunError;
use crate::exec::{never_awaits, Offload, RunShared};

/// Where `cpu_mode` sends CPU-type steps; [`CpuMode::Rayon`] gets its own
/// pool of one worker per core (the "process pool").
pub(super) fn offload_for(backend: &str, mode: CpuMode) -> Result<Offload, RunError> {
    Ok(match mode {
        CpuMode::Inline => Offload::Inline,
        CpuMode::SpawnBlocking => Offload::Blocking,
        CpuMode::Rayon => Offload::Rayon(Arc::new(build_pool(
            &format!("{backend}-cpu"),
            available_cores(),
        )?)),
    })
}

/// `f` for a blocking pool gilsim does not own: a panic becomes `None`
/// instead of unwinding into the awaiting task.
pub(super) fn catching<R>(
    f: impl FnOnce() -> R + Send + 'static,
) -> impl FnOnce() -> Option<R> + Send + 'static {
    move || catch_unwind(AssertUnwindSafe(f)).ok()
}

/// Per group of `shared`'s plan, whether its jobs never await when their
/// CPU work runs on `offload` ([`never_awaits`]): those are spawned as a
/// small task running [`RunShared::run_task_inline`].
pub(super) fn inline_groups(shared: &RunShared, offload: &Offload) -> Vec<bool> {
    (0..shared.plan.groups.len())
        .map(|g| never_awaits(&shared.plan, g, offload))
        .collect()
}
