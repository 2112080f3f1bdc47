//! Capacity planning (SPEC §5): a layer above a single run.
//!
//! Everything here drives runs only through [`crate::engine::run`]; nothing
//! reaches into a backend. [`keys`] turns `KEY=V1,V2` into changes of a
//! loaded, validated config, re-checked as the config itself would be.

pub mod keys;
pub mod plan_output;
pub mod search;
pub mod slo;
