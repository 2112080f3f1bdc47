//! Errors, and the exit status each maps to at the CLI edge.

use std::path::PathBuf;

use crate::config::ConfigError;

/// Anything that can stop a gilsim command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config file is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Several of the config files given are unreadable or invalid.
    #[error("{}", render_configs(.0))]
    Configs(Vec<ConfigError>),
    /// A run was refused up front or failed while running.
    #[error(transparent)]
    Run(#[from] RunError),
    /// Writing an output file failed.
    #[error("cannot write {path}: {source}")]
    Output {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An output file or directory that cannot be written, found before
    /// anything ran.
    #[error("cannot write {path}: {source}; nothing was run")]
    Unwritable {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Bad command-line input that clap cannot express.
    #[error("{0}")]
    Usage(String),
    /// A stop came during the runs (of `run`, a sweep's points, a plan's
    /// probes; SPEC §8): the reports were written, and whatever the stop
    /// cut short is marked incomplete.
    #[error("{}", stopped_message(*.0))]
    Stopped(crate::stop::Stopped),
}

fn stopped_message(why: crate::stop::Stopped) -> String {
    let what = match why {
        crate::stop::Stopped::Interrupted => "interrupted",
        crate::stop::Stopped::Timeout => "--timeout reached",
    };
    format!(
        "{what}: nothing further was started; whatever the stop cut short says \"complete\": false"
    )
}

impl Error {
    /// SPEC §3: 2 for bad input (nothing was run), 1 for a run failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Configs(_) | Error::Usage(_) | Error::Unwritable { .. } => 2,
            Error::Run(e) if e.is_refusal() => 2,
            Error::Run(_) | Error::Output { .. } => 1,
            Error::Stopped(why) => why.exit_code(),
        }
    }
}

impl Error {
    /// One error for every config that failed to load: `None` when all
    /// loaded, the error itself when one failed, all of them otherwise.
    pub fn from_configs(mut errors: Vec<ConfigError>) -> Option<Self> {
        match errors.len() {
            0 => None,
            1 => errors.pop().map(Error::Config),
            _ => Some(Error::Configs(errors)),
        }
    }
}

fn render_configs(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Why a backend run could not happen or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The run would need more OS threads than allowed; refused up front.
    #[error(
        "backend `{backend}` would start {needed} OS threads at once (one per job), more than the limit of {limit} ({why}); \
         set `workers = N` on the backend for a fixed pool, or raise the limit with --max-threads"
    )]
    TooManyThreads {
        /// The backend's label.
        backend: String,
        /// Threads the plan needs at once.
        needed: u64,
        /// The limit in force.
        limit: u64,
        /// Where the limit comes from.
        why: String,
    },
    /// The backend cannot run this plan as configured; refused before it ran.
    #[error("backend `{backend}`: {why}")]
    Refused {
        /// The backend's label.
        backend: String,
        /// What is wrong and which knob to change.
        why: String,
    },
    /// A job panicked; the run's numbers would be meaningless.
    #[error(
        "backend `{backend}`: a job panicked ({what}); this is a gilsim bug, please report it"
    )]
    JobPanicked {
        /// The backend's label.
        backend: String,
        /// The panic message.
        what: String,
    },
    /// The OS refused to start a thread or runtime.
    #[error("backend `{backend}`: could not start {what}: {source}")]
    Spawn {
        /// The backend's label.
        backend: String,
        /// What was being started.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The calibration override is malformed.
    #[error("{0}")]
    Calibration(String),
}

impl RunError {
    /// Whether this error was raised before anything ran (bad input).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            RunError::TooManyThreads { .. } | RunError::Refused { .. } | RunError::Calibration(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_bad_input_and_failures_are_run_failures() {
        let refused = RunError::Refused {
            backend: "b".into(),
            why: "w".into(),
        };
        let too_many = RunError::TooManyThreads {
            backend: "b".into(),
            needed: 2,
            limit: 1,
            why: "w".into(),
        };
        let panicked = RunError::JobPanicked {
            backend: "b".into(),
            what: "w".into(),
        };
        let spawn = RunError::Spawn {
            backend: "b".into(),
            what: "w".into(),
            source: std::io::Error::other("x"),
        };
        assert_eq!(Error::from(refused).exit_code(), 2);
        assert_eq!(Error::from(too_many).exit_code(), 2);
        assert_eq!(
            Error::from(RunError::Calibration("x".into())).exit_code(),
            2
        );
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
        assert_eq!(Error::from(panicked).exit_code(), 1);
        assert_eq!(Error::from(spawn).exit_code(), 1);
    }
}
