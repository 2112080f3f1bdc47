//! Only the IO-precision section of `gilsim bench`: every backend's p50
//! overshoot beside a plain `nanosleep`'s, at 200 µs and 1 ms (the section
//! pairs each async backend with its runtime's bare program too), and,
//! once more per round, the bare smol and async-std programs on their own
//! timers, for the `ab` and `hold` summaries.
//!
//! `cargo run --release --example io_precision [samples] [ab|hold]`: with
//! `ab`, 4 rounds, gilsim's precise wait for smol and async-std off, on,
//! off, on ([`gilsim::backend::set_precise_wait`]); with `hold`, the same
//! for smol's held-back peer wake-ups alone
//! ([`gilsim::backend::set_hold_wakes`]); then a summary of the async-io
//! rows, each round's ratio to its own `nanosleep` (for gilsim's rows the
//! median of the round's pairs, as the row names it; for the bare programs
//! the round's plain `nanosleep` p50).

use std::time::Duration;

use gilsim::bench::bare::{timer_overshoots_us, Bare};
use gilsim::bench::{io_precision, BenchSize, Figure};
use gilsim::work::kernel::Calibration;
use gilsim::work::sleep::p50_p99;

/// The ratio a row names ("… (×1.10 nanosleep, …)"): the median of its
/// pairs, each against the `nanosleep` run beside it.
fn named_ratio(name: &str) -> Option<f64> {
    let (_, rest) = name.split_once("(×")?;
    rest.split_once(" nanosleep")?.0.parse().ok()
}

/// p50 overshoot in µs of `n` waits of `d` on `kind`'s own timer (the
/// bench's bare peer, [`timer_overshoots_us`]).
fn bare_p50(kind: Bare, n: u64, d: Duration) -> f64 {
    let v = timer_overshoots_us(kind, 2, n, d).unwrap_or_default();
    p50_p99(v).0
}

fn main() {
    let c = Calibration::from_env_or_measure().unwrap_or(Calibration {
        iters_per_us: 650.0,
    });
    let mut size = BenchSize::FULL;
    if let Some(n) = std::env::args().nth(1).and_then(|a| a.parse().ok()) {
        size.io_samples = n;
    }
    let mut figs: Vec<Figure> = Vec::new();
    // Off and on, interleaved, when asked: gilsim's block_on for smol and
    // the async-std kick (on) against the path before them (off).
    let mode = std::env::args().nth(2).unwrap_or_default();
    let hold = mode == "hold";
    let ab = mode == "ab" || hold;
    let switch = if hold { "hold-wakes" } else { "precise-wait" };
    // (round label, wait label, row, p50 µs, ratio to that round's nanosleep)
    let mut summary: Vec<(String, &str, String, f64, f64)> = Vec::new();
    for round in 0..if ab { 4 } else { 1 } {
        let on = !ab || round % 2 == 1;
        if hold {
            gilsim::backend::set_hold_wakes(on);
        } else {
            gilsim::backend::set_precise_wait(on);
        }
        let mut these = Vec::new();
        if let Err(e) = io_precision(size, c, &mut these) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        let tag = if on { "on " } else { "off" };
        for (label, d) in [
            ("200µs", Duration::from_micros(200)),
            ("1ms", Duration::from_millis(1)),
        ] {
            let base = these
                .iter()
                .find(|f| f.name == format!("{label} plain nanosleep overshoot p50"))
                .map(|f| f.value)
                .unwrap_or(f64::NAN);
            for f in &these {
                if f.name.starts_with(label)
                    && f.name.contains("overshoot p50 (")
                    && (f.name.contains("smol") || f.name.contains("async-std"))
                {
                    let row = f.name.split(" overshoot").next().unwrap_or("").to_string();
                    let ratio = named_ratio(&f.name).unwrap_or(f.value / base.max(1.0));
                    summary.push((tag.into(), label, row, f.value, ratio));
                }
            }
            for (name, p50) in [
                (
                    "bare smol (async_io::Timer)",
                    bare_p50(Bare::Smol, size.io_samples, d),
                ),
                (
                    "bare async-std (task::sleep)",
                    bare_p50(Bare::AsyncStd, size.io_samples, d),
                ),
            ] {
                let ratio = p50 / base.max(1.0);
                these.push(Figure {
                    section: "io",
                    name: format!("{label} {name} overshoot p50 (×{ratio:.2} nanosleep)"),
                    value: p50,
                    unit: "µs",
                    goal: String::new(),
                    met: None,
                });
                summary.push((tag.into(), label, format!("{label} {name}"), p50, ratio));
            }
        }
        for f in &mut these {
            if ab {
                f.name = format!("[{switch} {tag}] {}", f.name);
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
    if ab {
        println!(
            "\nasync-io rows, p50 overshoot (µs) and ×nanosleep of the same round, per round:"
        );
        let mut rows: Vec<&String> = summary.iter().map(|s| &s.2).collect();
        rows.dedup();
        let mut seen = Vec::new();
        for row in rows {
            if seen.contains(&row) {
                continue;
            }
            seen.push(row);
            let cells: Vec<String> = summary
                .iter()
                .filter(|s| &s.2 == row)
                .map(|s| format!("{} {:.0} (×{:.2})", s.0.trim(), s.3, s.4))
                .collect();
            println!("{row:<40} {}", cells.join(" | "));
        }
    }
}
