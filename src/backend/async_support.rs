//! Pieces every async backend shares: where offloaded CPU work runs, and
//! wrapping work for a blocking pool gilsim does not own.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::available_cores;
use super::rayon_pool::build_pool;
use crate::config::CpuMode;
use crate::error::RunError;
use crate::exec::Offload;

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
