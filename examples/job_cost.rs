//! What running one job costs on top of its work, on one thread: jobs of
//! 1 µs CPU through `RunShared::run_job_sync` against the bare kernel loop,
//! beside the floor of any per-job measurement
//! ([`gilsim::bench::floor`]), in short interleaved rounds, thread CPU time.
//! `cargo run --release --example job_cost [rounds]` (`CHEAP_CLOCK=0`: stamps
//! from `Instant::now()`).

use gilsim::bench::floor::per_job_costs;
use gilsim::work::kernel::Calibration;

fn main() {
    let c = Calibration::from_env_or_measure().unwrap_or(Calibration {
        iters_per_us: 650.0,
    });
    if std::env::var("CHEAP_CLOCK").is_ok_and(|v| v == "0") {
        gilsim::exec::clock::set_cheap_clock(false);
    }
    let rounds = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(60);
    let p = per_job_costs(c, rounds, 10_000);
    println!(
        "per job over the bare kernel ({:.0} ns): gilsim {:.0} ns, floor {:.0} ns (medians of {rounds} rounds; floor ceiling {:.3}× bare)",
        p.bare_ns,
        p.gilsim_ns,
        p.floor_ns,
        p.floor_ceiling(),
    );
}
