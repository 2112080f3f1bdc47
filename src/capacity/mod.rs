//! Capacity planning (SPEC §5): a layer above a single run.
//!
//! Everything here drives runs only through [`crate::engine::run`]; nothing
//! reaches into a backend. [`keys`] turns `KEY=V1,V2` into changes of a
//! loaded, validated config, re-checked as the config itself would be;
//! [`sweep`] runs the cartesian product of key values; [`usl`] fits the
//! Universal Scalability Law to a sweep's throughput; [`compare`] sets two
//! run reports side by side; [`merge`] joins a sharded sweep; [`slo`],
//! [`search`] and [`bisect`] are `gilsim plan`'s SLOs, probes and the
//! values it tries, and [`doom`] says when a probe's outcome is decided
//! before it ends. [`output`], [`chart`], [`sweep_page`], [`plan_output`],
//! [`plan_verdict`], [`plan_chart`] and [`plan_page`] only format finished
//! results (drawing with the report's page and chart builders).

pub mod bisect;
pub mod chart;
pub mod compare;
pub mod doom;
pub mod keys;
pub mod merge;
pub mod output;
pub mod plan_chart;
pub mod plan_output;
pub mod plan_page;
pub mod plan_verdict;
pub mod search;
pub mod slo;
pub mod sweep;
pub mod sweep_page;
pub mod usl;
