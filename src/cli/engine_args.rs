//! `--engine` and `--cores`: which engine runs a command's plans, shared by
//! `run`, `sweep` and `plan`.

use clap::Args;

/// `--engine` and `--cores`, shared by the commands that run plans.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// real: OS threads and runtimes on this machine; model: the same plan
    /// in virtual time (SPEC §6).
    #[arg(long, value_enum, default_value_t = EngineKind::Real)]
    pub engine: EngineKind,

    /// Virtual cores for --engine model [default: the config's
    /// `[model] cores`, else this machine's].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=gilsim::engine::MAX_MODEL_CORES as u64))]
    pub cores: Option<u64>,
}

/// The engines `--engine` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// Real threads and runtimes, wall-clock time.
    Real,
    /// Discrete-event simulation in virtual time.
    Model,
}

impl EngineArgs {
    /// The engine these flags select; `--cores` on the real engine is bad
    /// input, since the real engine runs on the cores this machine has.
    pub fn engine(&self) -> Result<gilsim::engine::Engine, gilsim::error::Error> {
        use gilsim::engine::Engine;
        match (self.engine, self.cores) {
            (EngineKind::Real, Some(_)) => Err(gilsim::error::Error::Usage(
                "--cores sets virtual cores and needs --engine model; the real engine runs on this machine's cores".into(),
            )),
            (EngineKind::Real, None) => Ok(Engine::Real),
            (EngineKind::Model, cores) => Ok(Engine::Model {
                cores: cores.map_or_else(gilsim::options::available_cores, |c| c as usize),
            }),
        }
    }
}
