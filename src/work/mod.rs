//! The work primitives jobs are made of: calibrated CPU work, precise
//! waits, the emulated GIL and shared counters.

pub mod counter;
pub mod gil;
pub mod kernel;
pub mod sleep;
