//! Only the IO-precision section of `gilsim bench`: every backend's p50
//! overshoot beside a plain `nanosleep`'s, at 200 µs and 1 ms.
//! `cargo run --release --example io_precision [samples]`.

use gilsim::bench::{io_precision, BenchSize};
use gilsim::work::kernel::Calibration;

fn main() {
    let c = Calibration::from_env_or_measure().unwrap_or(Calibration {
        iters_per_us: 650.0,
    });
    let mut size = BenchSize::FULL;
    if let Some(n) = std::env::args().nth(1).and_then(|a| a.parse().ok()) {
        size.io_samples = n;
    }
    let mut figs = Vec::new();
    // Off and on, interleaved, when asked: the async-io wake-up fix side by side.
    let ab = std::env::args().nth(2).is_some_and(|a| a == "ab");
    for round in 0..if ab { 4 } else { 1 } {
        let on = !ab || round % 2 == 1;
        gilsim::backend::set_wake_here(on);
        let mut these = Vec::new();
        if let Err(e) = io_precision(size, c, &mut these) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        for f in &mut these {
            if ab {
                f.name = format!("[wake-here {}] {}", if on { "on " } else { "off" }, f.name);
            }
        }
        figs.extend(these);
    }
    for f in figs {
        let met = match f.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!("{:>8.2} {:<3} {:<4} {}", f.value, f.unit, met, f.name);
    }
}
