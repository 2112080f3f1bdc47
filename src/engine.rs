//! The engine seam: one call runs one backend of a plan, whichever engine
//! executes it.
//!
//! The real engine ([`crate::backend`]) runs jobs on this machine's cores in
//! wall-clock time. The model engine (SPEC §6) runs the same plan in virtual
//! time on any number of virtual cores. Both hand back a
//! [`RunMeasurement`], so reports, verdicts, traces and exports never know
//! which engine produced a run, and capacity planning drives runs through
//! [`run`] without reaching into either engine.

use std::sync::Arc;

use crate::backend;
use crate::config::BackendSpec;
use crate::error::RunError;
use crate::metrics::RunMeasurement;
use crate::options::{available_cores, RunOptions};
use crate::plan::Plan;
use crate::work::kernel::Calibration;

pub use crate::config::limits::MAX_MODEL_CORES;

/// Which engine runs a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// OS threads and runtimes on this machine, in wall-clock time.
    Real,
    /// A discrete-event simulation in virtual time.
    Model {
        /// Virtual cores.
        cores: usize,
    },
}

impl Engine {
    /// `"real"` or `"model"`, as reports and `--engine` spell it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Engine::Real => "real",
            Engine::Model { .. } => "model",
        }
    }

    /// The CPU kernel's calibration for runs on this engine: the real
    /// engine's from [`Calibration::from_env_or_measure`]; the model runs
    /// no kernel, so it measures nothing (about 60 ms saved here, and
    /// its reports depend on nothing but the config and seed).
    ///
    /// On the real engine it also starts the job clock's warm-up
    /// ([`crate::exec::clock::warm_up`]), so that the measurement's 60 ms
    /// cover it and the first run's jobs read the cheap clock.
    pub fn calibrate(&self) -> Result<Calibration, String> {
        match self {
            Engine::Real => {
                crate::exec::clock::warm_up();
                Calibration::from_env_or_measure()
            }
            Engine::Model { .. } => Ok(Calibration::NOT_MEASURED),
        }
    }

    /// The kernel's rate a report of this engine states
    /// (`machine.cpu_kernel_iters_per_us`): `c`'s on the real engine,
    /// none on the model.
    pub fn kernel_rate(&self, c: Calibration) -> Option<f64> {
        matches!(self, Engine::Real).then_some(c.iters_per_us)
    }

    /// Cores the runs see: this machine's for the real engine, the virtual
    /// count for the model.
    pub fn cores(&self) -> usize {
        match self {
            Engine::Real => available_cores(),
            Engine::Model { cores } => *cores,
        }
    }
}

/// Runs `plan` on the backend `spec` with `engine` and measures it.
pub fn run(
    engine: &Engine,
    spec: &BackendSpec,
    plan: Arc<Plan>,
    opts: &RunOptions<'_>,
) -> Result<RunMeasurement, RunError> {
    match engine {
        Engine::Real => backend::run(spec, plan, opts),
        Engine::Model { cores } => crate::model::run(spec, plan, opts, *cores),
    }
}
