//! Only the "harness against bare programs" section of `gilsim bench`:
//! each backend beside the same runtime without gilsim, interleaved pairs.
//! `cargo run --release --example bare_ratios [pairs] [backend name part]`.

use gilsim::bench::{against_bare_only, BenchSize};
use gilsim::work::kernel::Calibration;

fn main() {
    // `PRECISE_WAIT=0`: smol on async-io's `block_on`, as before gilsim's own
    // (to compare the two side by side).
    if std::env::var("PRECISE_WAIT").is_ok_and(|v| v == "0") {
        gilsim::backend::set_precise_wait(false);
    }
    // `CHEAP_CLOCK=0`: job stamps from `Instant::now()` instead of the
    // time-stamp counter (to compare the two side by side).
    if std::env::var("CHEAP_CLOCK").is_ok_and(|v| v == "0") {
        gilsim::exec::clock::set_cheap_clock(false);
    }
    // `PENDING_RECORDS=N`: a recorder shard adds its jobs to the histograms
    // every N jobs (1: at once) instead of when 4,096 are pending or the
    // run ends.
    if let Some(n) = std::env::var("PENDING_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        gilsim::metrics::set_pending_limit(n);
    }
    let c = match Calibration::from_env_or_measure() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut size = BenchSize::FULL;
    if let Some(p) = std::env::args().nth(1).and_then(|a| a.parse().ok()) {
        size.pairs = p;
    }
    let mut figs = Vec::new();
    let only = std::env::args().nth(2).unwrap_or_default();
    if let Err(e) = against_bare_only(size, c, &only, &mut figs) {
        eprintln!("{e}");
        std::process::exit(1);
    }
    for f in figs {
        let met = match f.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!("{:>7.3} {:<8} {:<4} {}", f.value, f.unit, met, f.name);
    }
}
