//! gilsim: when do threads, process-style pools and async IO win, and where
//! does a global interpreter lock serialize a workload?
//!
//! Data flows one way: [`config`] (TOML → validated [`config::JobSet`]) →
//! [`plan`] (deterministic jobs and arrivals) → [`backend`] (runs the plan
//! on one engine, using the [`exec`] job runner and the [`work`]
//! primitives) → [`metrics`] (what a run measured) → [`report`] (tables,
//! JSON, CSV). Backends never format output; reports never run anything.
//! Everything above a single run ([`capacity`], the CLI) starts runs
//! through [`engine`] with [`options`], never through a backend.

pub mod backend;
pub mod bench;
pub mod capacity;
pub mod config;
pub mod engine;
pub mod error;
pub mod exec;
pub mod fsout;
pub mod hist;
pub mod metrics;
pub mod model;
pub mod options;
pub mod plan;
pub mod preflight;
pub mod report;
pub mod stamp;
pub mod stats;
pub mod stop;
pub mod trace;
pub mod work;

#[cfg(test)]
mod testing;
