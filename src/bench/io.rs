//! The IO-precision section of `gilsim bench`: each backend's p50 overshoot
//! over a wait, as a ratio to a plain `nanosleep`'s measured right beside
//! it.
//!
//! Why pairs: on a shared virtual machine the plain `nanosleep`'s own
//! overshoot moves from one run to the next, seconds apart (a 200 µs
//! wait's p50 read 6–34 µs over ten runs of 500 on one host, and 21–51 µs
//! from one round to the next on a loaded one). A reference measured once,
//! before every backend's waits, is then seconds away from most of them,
//! and one backend's ratio says as much about when it ran as about how it
//! waits.
//! So each backend's waits are cut into [`BenchSize::pairs`] runs, each
//! right after a `nanosleep` run of the same size; the ratio is the median
//! of the pairs' ratios, and its row names the lowest and highest pair. The
//! rounds go through every backend in turn, so a slow spell of the machine
//! falls on all of them rather than on one backend's every pair.

use std::time::Duration;

use super::{
    figure, group, io_backends, job_set, median, run, spread, turns, with_goal, BenchSize, Figure,
};
use crate::config::{Arrival, DurationSpec, Step};
use crate::error::RunError;
use crate::metrics::GroupMetrics;
use crate::work::kernel::Calibration;
use crate::work::sleep::{overshoot_once_us, p50_p99};

/// One backend's waits over every pair.
struct Waits {
    /// The backend's name in the rows.
    name: String,
    /// Every wait, every pair's run merged (its service time, µs).
    runs: Option<GroupMetrics>,
    /// Each pair's ratio: the backend's p50 overshoot over the `nanosleep`
    /// run's just before it.
    ratios: Vec<f64>,
}

impl Waits {
    /// The p50 or p99 overshoot over every pair's waits, µs.
    fn overshoot_us(&self, q: f64, d: Duration) -> f64 {
        self.runs
            .as_ref()
            .map_or(f64::NAN, |g| overshoot_of(g, q, d))
    }
}

/// The `q` quantile of how much longer than `d` the waits recorded in `g`
/// lasted, µs (their service times are recorded in whole µs).
fn overshoot_of(g: &GroupMetrics, q: f64, d: Duration) -> f64 {
    g.service.value_at_quantile(q) as f64 - d.as_secs_f64() * 1e6
}

/// The waits each pair makes on each side: the section's samples shared
/// out, at least one.
fn per_pair(size: BenchSize) -> u64 {
    (size.io_samples / size.pairs.max(1) as u64).max(1)
}

/// IO wait precision of every backend against a plain `nanosleep`, each
/// measured in pairs beside it, at 200 µs and 1 ms.
pub fn io_precision(
    size: BenchSize,
    c: Calibration,
    figs: &mut Vec<Figure>,
) -> Result<(), RunError> {
    for d in [Duration::from_micros(200), Duration::from_millis(1)] {
        let label = if d < Duration::from_millis(1) {
            "200µs"
        } else {
            "1ms"
        };
        let (plain, waits) = measure_pairs(size, c, d)?;
        let (base50, base99) = p50_p99(plain);
        figs.push(figure(
            "io",
            format!("{label} plain nanosleep overshoot p50"),
            base50,
            "µs",
        ));
        figs.push(figure(
            "io",
            format!("{label} plain nanosleep overshoot p99"),
            base99,
            "µs",
        ));
        if let Some((p50, _)) = turns::taking_turns_overshoot_us(d, size.io_samples) {
            figs.push(figure(
                "io",
                format!(
                    "{label} nanosleep by two threads on two CPUs taking turns, overshoot p50 (×{:.2} plain)",
                    p50 / base50.max(1.0)
                ),
                p50,
                "µs",
            ));
        }
        for w in &waits {
            push_rows(figs, label, d, w);
        }
    }
    Ok(())
}

/// Every backend's waits of `d`, pair by pair, and every plain `nanosleep`
/// overshoot measured beside them (µs).
fn measure_pairs(
    size: BenchSize,
    c: Calibration,
    d: Duration,
) -> Result<(Vec<f64>, Vec<Waits>), RunError> {
    let n = per_pair(size);
    let set = job_set(vec![group(
        n,
        Arrival::Closed {
            clients: 1,
            think: None,
        },
        Step::Io(DurationSpec::Fixed(d)),
    )]);
    let specs = io_backends();
    let mut waits: Vec<Waits> = specs
        .iter()
        .map(|s| Waits {
            name: s.name.clone(),
            runs: None,
            ratios: Vec::new(),
        })
        .collect();
    let mut plain = Vec::new();
    for _ in 0..size.pairs.max(1) {
        for (spec, w) in specs.iter().zip(&mut waits) {
            let base: Vec<f64> = (0..n).map(|_| overshoot_once_us(d)).collect();
            let (base50, _) = p50_p99(base.clone());
            plain.extend(base);
            let m = run(spec, &set, c, u64::MAX)?;
            let Some((_, g)) = m.groups.into_iter().next() else {
                continue;
            };
            w.ratios.push(overshoot_of(&g, 0.5, d) / base50.max(1.0));
            match &mut w.runs {
                Some(all) => all.merge(&g),
                None => w.runs = Some(g),
            }
        }
    }
    Ok((plain, waits))
}

/// A backend's p50 row (with the goal) and p99 row.
fn push_rows(figs: &mut Vec<Figure>, label: &str, d: Duration, w: &Waits) {
    let ratio = median(&w.ratios);
    let pairs = match w.ratios.len() {
        0 | 1 => spread(&w.ratios),
        n => format!("median of {n} pairs, {}", spread(&w.ratios)),
    };
    figs.push(with_goal(
        figure(
            "io",
            format!(
                "{label} {} overshoot p50 (×{ratio:.2} nanosleep, {pairs})",
                w.name
            ),
            w.overshoot_us(0.5, d),
            "µs",
        ),
        "≤ 1.25× plain nanosleep p50",
        ratio <= 1.25,
    ));
    figs.push(figure(
        "io",
        format!("{label} {} overshoot p99", w.name),
        w.overshoot_us(0.99, d),
        "µs",
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The section's samples are shared out over the pairs, so the
    /// section takes as long as before its pairs; a pair never has none.
    #[test]
    fn the_pairs_share_the_samples() {
        let mut size = BenchSize::FULL;
        assert_eq!(per_pair(size), 200);
        size.io_samples = 3;
        assert_eq!(per_pair(size), 1);
        size.pairs = 0;
        assert_eq!(per_pair(size), 3);
    }

    /// A row's ratio is the median of its pairs' ratios (not their mean,
    /// nor the first), the goal is checked on that median, the row names
    /// the lowest and highest pair, and its value comes from the merged
    /// waits. (That each pair is divided by its own `nanosleep` run is
    /// `measure_pairs`' loop, which needs real waits and is measured by
    /// `gilsim bench` itself.)
    #[test]
    fn each_row_names_the_median_of_its_pairs_and_their_spread() {
        let mut g = GroupMetrics::default();
        g.service.record(212).unwrap();
        let w = Waits {
            name: "smol".into(),
            runs: Some(g),
            ratios: vec![1.5, 0.9, 1.1],
        };
        let mut figs = Vec::new();
        push_rows(&mut figs, "200µs", Duration::from_micros(200), &w);
        assert_eq!(
            figs[0].name,
            "200µs smol overshoot p50 (×1.10 nanosleep, median of 3 pairs, pairs 0.90–1.50)"
        );
        assert_eq!(figs[0].met, Some(true));
        assert!((figs[0].value - 12.0).abs() < 0.5, "{}", figs[0].value);
        assert_eq!(figs[1].name, "200µs smol overshoot p99");
    }

    /// One pair (the quick bench) says so instead of a median.
    #[test]
    fn one_pair_is_named_as_such() {
        let w = Waits {
            name: "threads".into(),
            runs: None,
            ratios: vec![1.3],
        };
        let mut figs = Vec::new();
        push_rows(&mut figs, "1ms", Duration::from_millis(1), &w);
        assert_eq!(
            figs[0].name,
            "1ms threads overshoot p50 (×1.30 nanosleep, one pair)"
        );
        assert_eq!(figs[0].met, Some(false));
        assert!(figs[0].value.is_nan());
    }
}
