//! The job clock during its warm-up: the first [`clock::WARM_UP`] after the
//! clock's origin, before the time-stamp counter's rate is known, when a
//! reading is the kernel's clock. The origin is set once per process, so
//! this file holds one test and nothing else in its process starts the
//! clock first.

use std::time::{Duration, Instant};

use gilsim::exec::clock;
use gilsim::stamp::Stamp;

/// Readings per round, for each of the two clocks.
const READS: usize = 200;

/// How long `READS` readings of `read` took.
fn time_reads(read: impl Fn() -> Stamp) -> Duration {
    let t = Instant::now();
    for _ in 0..READS {
        std::hint::black_box(read());
    }
    t.elapsed()
}

#[test]
fn a_reading_in_the_warm_up_is_the_kernel_clock_and_costs_about_as_much() {
    clock::warm_up();
    let origin = Instant::now();
    // Rounds alternate the two clocks, so a slow moment of the host
    // slows both; only rounds that ended inside the warm-up count.
    let mut ratios = Vec::new();
    while origin.elapsed() < clock::WARM_UP / 2 {
        let kernel = time_reads(Stamp::now);
        let job_clock = time_reads(clock::stamp);
        let a = Stamp::now();
        let c = clock::stamp();
        let b = Stamp::now();
        if origin.elapsed() < clock::WARM_UP / 2 {
            assert!(a <= c && c <= b, "a reading fell outside its window");
            ratios.push(job_clock.as_secs_f64() / kernel.as_secs_f64().max(1e-9));
        }
    }
    assert!(
        ratios.len() >= 5,
        "only {} rounds ran inside the warm-up",
        ratios.len()
    );
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    // The job path's reading ([`clock::stamp`]) against the same reading
    // of the kernel's clock ([`Stamp::now`]): one kernel reading and the
    // checks around it read 1.32–1.36× here; a pair of counter and kernel
    // readings taken three times over, what a warm-up reading cost before,
    // read 4.87–5.05×.
    assert!(
        median < 2.0,
        "a reading in the warm-up cost {median:.2}× a kernel clock reading ({} rounds)",
        ratios.len()
    );
}
