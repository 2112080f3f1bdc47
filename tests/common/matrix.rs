//! The test matrix: one scenario on every backend, with and without a GIL,
//! on both engines, as one test per cell (tokio's `rt_test!` idea).
//!
//! `matrix_test!` takes a scenario, a function of one [`Case`], and
//! expands to a module with one `#[test]` per cell, named
//! after it (`threads_gil_model`, `tokio_ct_real`, …), so a failure names
//! the backend and engine that broke. A scenario writes its `[[group]]`s
//! once and asks the case to run them ([`Case::run`]); what it expects may
//! depend on the case ([`Case::io_workers`]), never on which engine ran.

use serde_json::Value;

use super::{model_on_ci_cores, run_of, run_toml};

/// The backends of the matrix: a label, and the lines of its `[[backend]]`
/// table besides `kind` and `gil`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `threads`, a thread per job.
    Threads,
    /// `threads` with `workers = 3`: a fixed pool.
    Pool,
    /// `rayon` with `workers = 2`.
    Rayon,
    /// `tokio` multi_thread, CPU inline.
    Tokio,
    /// `tokio` current_thread (an asyncio event loop).
    TokioCt,
    /// `tokio` asyncio (an asyncio event loop in asyncio's order).
    Asyncio,
    /// `tokio` with CPU steps on `spawn_blocking`.
    TokioBlocking,
    /// `async-std`.
    AsyncStd,
    /// `smol` with CPU steps on a rayon pool.
    Smol,
}

impl Backend {
    /// Whether one event-loop thread runs every job (inline CPU work then
    /// serializes, GIL or not).
    pub fn one_thread(self) -> bool {
        matches!(self, Backend::TokioCt | Backend::Asyncio)
    }

    /// The `[[backend]]` table's `kind` and extra lines.
    fn toml(self) -> (&'static str, &'static str) {
        match self {
            Backend::Threads => ("threads", ""),
            Backend::Pool => ("threads", "workers = 3"),
            Backend::Rayon => ("rayon", "workers = 2"),
            Backend::Tokio => ("tokio", ""),
            Backend::TokioCt => ("tokio", "flavor = \"current_thread\""),
            Backend::Asyncio => ("tokio", "flavor = \"asyncio\""),
            Backend::TokioBlocking => ("tokio", "cpu_mode = \"spawn_blocking\""),
            Backend::AsyncStd => ("async-std", ""),
            Backend::Smol => ("smol", "cpu_mode = \"rayon\""),
        }
    }
}

/// Which engine runs a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The real runtimes on this machine.
    Real,
    /// The model engine on 2 virtual cores, with the built-in costs.
    Model,
}

/// One cell of the matrix.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub backend: Backend,
    pub gil: bool,
    pub engine: Engine,
}

/// The label every case's backend gets.
const LABEL: &str = "case";

impl Case {
    /// Runs a config made of this case's backend and `rest` (its groups
    /// and anything else but backends) on this case's engine; returns the
    /// report's one run.
    pub fn run(&self, rest: &str) -> Value {
        let (kind, extra) = self.backend.toml();
        let toml = format!(
            "[[backend]]\nkind = \"{kind}\"\ngil = {}\nname = \"{LABEL}\"\n{extra}\n{rest}",
            self.gil
        );
        let report = match self.engine {
            Engine::Real => run_toml(&toml),
            Engine::Model => model_on_ci_cores(&toml),
        };
        run_of(&report, LABEL).clone()
    }

    /// How many jobs' IO waits can overlap: the workers of a backend whose
    /// workers block in IO (a fixed pool, rayon), `None` where a job's IO
    /// holds no worker (a thread per job, async tasks).
    pub fn io_workers(&self) -> Option<u32> {
        match self.backend {
            Backend::Pool => Some(3),
            Backend::Rayon => Some(2),
            _ => None,
        }
    }
}

/// A `[[group]]` named `name` of `jobs` batch jobs, each running `steps`
/// (a TOML array).
pub fn batch(name: &str, jobs: u32, steps: &str) -> String {
    format!("[[group]]\nname = \"{name}\"\njobs = {jobs}\nsteps = {steps}\n")
}

/// One `#[test]` per cell of the matrix for a scenario `fn name(case:
/// Case) { … }`, in a module named after the scenario. (Only the test
/// files with matrix scenarios use it.)
#[allow(unused_macros)]
macro_rules! matrix_test {
    ($(#[$attr:meta])* fn $name:ident($case:ident: Case) $body:block) => {
        $(#[$attr])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::common::matrix::{Backend, Case, Engine};

            fn scenario($case: Case) $body

            fn cell(backend: Backend, gil: bool, engine: Engine) {
                scenario(Case { backend, gil, engine });
            }

            #[test] fn threads_real() { cell(Backend::Threads, false, Engine::Real) }
            #[test] fn threads_gil_real() { cell(Backend::Threads, true, Engine::Real) }
            #[test] fn threads_model() { cell(Backend::Threads, false, Engine::Model) }
            #[test] fn threads_gil_model() { cell(Backend::Threads, true, Engine::Model) }
            #[test] fn pool_real() { cell(Backend::Pool, false, Engine::Real) }
            #[test] fn pool_gil_real() { cell(Backend::Pool, true, Engine::Real) }
            #[test] fn pool_model() { cell(Backend::Pool, false, Engine::Model) }
            #[test] fn pool_gil_model() { cell(Backend::Pool, true, Engine::Model) }
            #[test] fn rayon_real() { cell(Backend::Rayon, false, Engine::Real) }
            #[test] fn rayon_gil_real() { cell(Backend::Rayon, true, Engine::Real) }
            #[test] fn rayon_model() { cell(Backend::Rayon, false, Engine::Model) }
            #[test] fn rayon_gil_model() { cell(Backend::Rayon, true, Engine::Model) }
            #[test] fn tokio_real() { cell(Backend::Tokio, false, Engine::Real) }
            #[test] fn tokio_gil_real() { cell(Backend::Tokio, true, Engine::Real) }
            #[test] fn tokio_model() { cell(Backend::Tokio, false, Engine::Model) }
            #[test] fn tokio_gil_model() { cell(Backend::Tokio, true, Engine::Model) }
            #[test] fn tokio_ct_real() { cell(Backend::TokioCt, false, Engine::Real) }
            #[test] fn tokio_ct_gil_real() { cell(Backend::TokioCt, true, Engine::Real) }
            #[test] fn tokio_ct_model() { cell(Backend::TokioCt, false, Engine::Model) }
            #[test] fn tokio_ct_gil_model() { cell(Backend::TokioCt, true, Engine::Model) }
            #[test] fn asyncio_real() { cell(Backend::Asyncio, false, Engine::Real) }
            #[test] fn asyncio_gil_real() { cell(Backend::Asyncio, true, Engine::Real) }
            #[test] fn asyncio_model() { cell(Backend::Asyncio, false, Engine::Model) }
            #[test] fn asyncio_gil_model() { cell(Backend::Asyncio, true, Engine::Model) }
            #[test] fn tokio_blocking_real() { cell(Backend::TokioBlocking, false, Engine::Real) }
            #[test] fn tokio_blocking_gil_real() { cell(Backend::TokioBlocking, true, Engine::Real) }
            #[test] fn tokio_blocking_model() { cell(Backend::TokioBlocking, false, Engine::Model) }
            #[test] fn tokio_blocking_gil_model() { cell(Backend::TokioBlocking, true, Engine::Model) }
            #[test] fn async_std_real() { cell(Backend::AsyncStd, false, Engine::Real) }
            #[test] fn async_std_gil_real() { cell(Backend::AsyncStd, true, Engine::Real) }
            #[test] fn async_std_model() { cell(Backend::AsyncStd, false, Engine::Model) }
            #[test] fn async_std_gil_model() { cell(Backend::AsyncStd, true, Engine::Model) }
            #[test] fn smol_real() { cell(Backend::Smol, false, Engine::Real) }
            #[test] fn smol_gil_real() { cell(Backend::Smol, true, Engine::Real) }
            #[test] fn smol_model() { cell(Backend::Smol, false, Engine::Model) }
            #[test] fn smol_gil_model() { cell(Backend::Smol, true, Engine::Model) }
        }
    };
}
pub(crate) use matrix_test;
