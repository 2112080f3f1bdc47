//! Everything `gilsim run` refuses before it starts, checked up front so
//! that `validate` refuses the same configs, and `run` refuses them before
//! the first backend runs rather than between two backends.
//!
//! The checks are the backends' own [`Backend::preflight`](crate::backend::Backend::preflight)
//! (the thread limit of thread-per-job backends, ...) and
//! [`check_together`] (async-std's single executor). A refusal about a backend written in a config file is
//! reported as a config error with that backend's `file:line:col`.

use crate::backend::backend_for;
use crate::config::{backend_problem, busiest_group_problem, BackendKind, BackendSpec, JobSet};
use crate::error::{Error, RunError};
use crate::options::{RunOptions, DEFAULT_MAX_IN_FLIGHT};
use crate::plan::Plan;
use crate::work::kernel::Calibration;

/// `--max-threads`' default, which `validate` checks against.
pub const DEFAULT_MAX_THREADS: u64 = 16_384;

/// Checks `sets` as `gilsim run` would run them on `cores` cores.
/// `max_threads` is `--max-threads` on the real engine; `None` skips the
/// per-backend checks (the model engine starts no threads).
pub fn check(sets: &[JobSet], cores: usize, max_threads: Option<u64>) -> Result<(), Error> {
    // Pairs each async-std backend with the first one, so a clash is
    // blamed on the backend (and file) where it is met.
    let mut first = None;
    for set in sets {
        for spec in set
            .backends
            .iter()
            .filter(|b| b.kind == BackendKind::AsyncStd)
        {
            let first = *first.get_or_insert(spec);
            if let Err(e) = check_together([first, spec], cores) {
                return Err(locate(set, e, true));
            }
        }
    }
    let Some(max_threads) = max_threads else {
        return Ok(());
    };
    let opts = RunOptions {
        // Preflight checks do not run work; the calibration is not read.
        calibration: Calibration::NOT_MEASURED,
        max_threads,
        record_gil_holds: false,
        max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        warmup_jobs: 0,
        give_up: &[],
        progress: None,
    };
    for set in sets {
        let plan = Plan::new(set);
        for spec in &set.backends {
            if let Err(e) = backend_for(spec, cores).preflight(&plan, &opts) {
                return Err(locate(set, e, false));
            }
        }
    }
    Ok(())
}

/// The refusal as a config error at its backend, when the backend is
/// written in `set`'s file; else as it is.
fn locate(set: &JobSet, e: RunError, at_workers: bool) -> Error {
    let backend = match &e {
        RunError::Refused { backend, .. } | RunError::TooManyThreads { backend, .. } => backend,
        _ => return e.into(),
    };
    let message = e.to_string();
    backend_problem(set, backend, at_workers, &message)
        .or_else(|| {
            // A backend of the default set is written nowhere; the group
            // that needs the threads is.
            matches!(e, RunError::TooManyThreads { .. })
                .then(|| busiest_group_problem(set, &message))
                .flatten()
        })
        .map_or_else(|| e.into(), Error::Config)
}

/// Refuses, before anything runs, a set of backends that cannot all run in
/// one process: async-std's global executor is sized once, so every
/// async-std backend must ask for the same number of workers.
pub fn check_together<'a>(
    specs: impl IntoIterator<Item = &'a BackendSpec>,
    cores: usize,
) -> Result<(), RunError> {
    let mut first: Option<(&BackendSpec, usize)> = None;
    for spec in specs
        .into_iter()
        .filter(|s| s.kind == BackendKind::AsyncStd)
    {
        let w = spec.resolved_workers(cores);
        match first {
            None => first = Some((spec, w)),
            Some((f, fw)) if fw != w => {
                return Err(RunError::Refused {
                    backend: spec.name.clone(),
                    why: format!(
                        "async-std's executor is global and sized once per process: `{}` asks for {fw} {} and `{}` for {w}; \
                         give every async-std backend the same `workers`, or run them in separate invocations",
                        f.name,
                        if fw == 1 { "worker" } else { "workers" },
                        spec.name
                    ),
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}
