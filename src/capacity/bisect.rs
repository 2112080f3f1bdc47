//! The search `gilsim plan` runs over one key, apart from what a probe is:
//! which values to try, given whether each one held.
//!
//! Two directions ([`Find`]). `max` (the default) looks for the highest
//! value that holds, for keys where more is more load (a rate, clients,
//! step durations): an exponential climb from LO (doubling, capped at HI)
//! until a value fails, then bisection. `min` (`--least`) looks for the
//! least value that holds, for keys where more helps (workers, processes,
//! cores, think time): the mirror image, an exponential descent from HI
//! (halving, floored at LO) until a value fails, then bisection. Either
//! way the bisection stops when the value that held and the one that
//! failed are within `precision` of the one that held (relative), or are
//! adjacent values of the key. Each assumes the SLOs hold on one side of
//! a single threshold.

use serde::{Deserialize, Serialize};

/// Which end of the values that hold a plan looks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Find {
    /// The highest value that holds (more is more load).
    #[default]
    Max,
    /// The least value that holds (more helps: `--least`).
    Min,
}

impl Find {
    /// As JSON, tables and files spell it (`max`, `min`).
    pub fn as_str(self) -> &'static str {
        match self {
            Find::Max => "max",
            Find::Min => "min",
        }
    }
}

/// How a backend's search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The value looked for was found within LO..HI.
    Found,
    /// No value in the range holds: LO fails (`max`), or HI fails (`min`).
    Doom,
    /// The whole range holds to its far end: HI holds (`max`), or LO
    /// holds (`min`); the answer lies beyond the range.
    NotReached,
    /// Ctrl-C, SIGTERM or a timeout stopped the search before it ended
    /// (SPEC §8). Half a search has no answer, but its finished probes are
    /// still measurements, so the plan keeps them rather than lose them.
    Interrupted,
}

impl Status {
    /// As JSON and tables spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Found => "found",
            Status::Doom => "doom",
            Status::NotReached => "not_reached",
            Status::Interrupted => "interrupted",
        }
    }
}

/// The values a search visited, and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Searched {
    /// How it ended.
    pub status: Status,
    /// The value found: the highest that held (`max`) or the least
    /// (`min`); `None` for doom.
    pub value: Option<f64>,
    /// Each probe's value and whether it held, in order.
    pub probes: Vec<(f64, bool)>,
}

/// Runs the search for `find` over `lo..=hi`. `snap` maps a number to the
/// nearest value the key can take (whole numbers for counts); `probe` says
/// whether every SLO holds at a value.
pub fn search<E>(
    find: Find,
    lo: f64,
    hi: f64,
    precision: f64,
    snap: impl Fn(f64) -> f64,
    probe: impl FnMut(f64) -> Result<bool, E>,
) -> Result<Searched, E> {
    let mut walk = Walk {
        probe,
        probes: Vec::new(),
    };
    let (lo, hi) = (snap(lo), snap(hi));
    let (start, end) = match find {
        Find::Max => (lo, hi),
        Find::Min => (hi, lo),
    };
    if !walk.run(start)? {
        return Ok(walk.ended(Status::Doom, None));
    }
    // `good` holds; `step` moves it towards `end`, doubling or halving.
    // Halving towards LO stops within 1/1024 of the range of it and tries
    // LO itself: towards an LO of 0 it would never arrive (a duration of
    // 200 ms took 30 halvings to reach 0 ns); above it, the bisection
    // finds the answer if LO fails.
    let near_end = (start - end).abs() / 1024.0;
    let step = |good: f64| -> f64 {
        match find {
            Find::Max if good > 0.0 => snap((good * 2.0).min(end)),
            Find::Max => snap(1.0_f64.min(end)),
            Find::Min if good / 2.0 - end < near_end => end,
            Find::Min => snap((good / 2.0).max(end)),
        }
    };
    let beyond = |x: f64, good: f64| match find {
        Find::Max => x > good,
        Find::Min => x < good,
    };
    let mut good = start;
    let mut bad = loop {
        if !beyond(end, good) {
            return Ok(walk.ended(Status::NotReached, Some(good)));
        }
        let mut next = step(good);
        if !beyond(next, good) {
            next = end;
        }
        if walk.run(next)? {
            good = next;
        } else {
            break next;
        }
    };
    while (bad - good).abs() > precision * good.abs() {
        let mid = snap((good + bad) / 2.0);
        if mid == good || mid == bad || !beyond(mid, good) || beyond(mid, bad) {
            break;
        }
        if walk.run(mid)? {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Ok(walk.ended(Status::Found, Some(good)))
}

/// Confirms a search's answer with longer probes (`probe` runs them):
/// the answer is probed again; while it fails, the value moves one step
/// towards the safe end of the range (down for `max`, up for `min`), by
/// `precision` of it or, where that rounds to the same value, by one
/// whole unit, and is probed there, until a value holds or the safe end
/// itself fails (then `doom`). An answer that holds keeps its status; one
/// that moved is `found`. Every probe is added to the search's.
///
/// Why only towards the safe end: a short probe's tail percentile is low
/// more often than high near saturation (its queue has not filled yet, and
/// a long busy period is rarer in a short run), so the search's answer is
/// optimistic when it is wrong at all (docs/planning.md).
pub fn confirm<E>(
    find: Find,
    (lo, hi): (f64, f64),
    precision: f64,
    snap: impl Fn(f64) -> f64,
    searched: Searched,
    probe: impl FnMut(f64) -> Result<bool, E>,
) -> Result<Searched, E> {
    let Some(answer) = searched.value else {
        return Ok(searched);
    };
    let mut walk = Walk {
        probe,
        probes: searched.probes,
    };
    let (lo, hi) = (snap(lo), snap(hi));
    let safe_end = match find {
        Find::Max => lo,
        Find::Min => hi,
    };
    let safer = |x: f64| -> f64 {
        let (stepped, unit) = match find {
            Find::Max => (snap(x / (1.0 + precision)), snap(x - 1.0)),
            Find::Min => (snap(x * (1.0 + precision)), snap(x + 1.0)),
        };
        let next = if stepped == x { unit } else { stepped };
        match find {
            Find::Max => next.max(safe_end),
            Find::Min => next.min(safe_end),
        }
    };
    let mut x = answer;
    loop {
        if walk.run(x)? {
            let status = if x == answer {
                searched.status
            } else {
                Status::Found
            };
            return Ok(walk.ended(status, Some(x)));
        }
        if x == safe_end {
            return Ok(walk.ended(Status::Doom, None));
        }
        x = safer(x);
    }
}

/// A search's probes so far.
struct Walk<P> {
    probe: P,
    probes: Vec<(f64, bool)>,
}

impl<P> Walk<P> {
    /// Probes `x` and keeps the outcome.
    fn run<E>(&mut self, x: f64) -> Result<bool, E>
    where
        P: FnMut(f64) -> Result<bool, E>,
    {
        let met = (self.probe)(x)?;
        self.probes.push((x, met));
        Ok(met)
    }

    fn ended(self, status: Status, value: Option<f64>) -> Searched {
        Searched {
            status,
            value,
            probes: self.probes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A search whose SLOs hold at or below `truth` (`max`) or at or
    /// above it (`min`).
    fn run(find: Find, lo: f64, hi: f64, precision: f64, truth: f64, integer: bool) -> Searched {
        let snap = |x: f64| if integer { x.round() } else { x };
        let holds = |x: f64| match find {
            Find::Max => x <= truth,
            Find::Min => x >= truth,
        };
        search(find, lo, hi, precision, snap, |x| Ok::<bool, ()>(holds(x))).unwrap()
    }

    #[test]
    fn finds_the_threshold_within_the_precision() {
        let s = run(Find::Max, 10.0, 5000.0, 0.05, 740.0, false);
        assert_eq!(s.status, Status::Found);
        let max = s.value.unwrap();
        assert!((740.0 / 1.05..=740.0).contains(&max), "{max}");
        // 10, 20, ..., 640 hold, 1280 fails: 8 steps, then bisection.
        assert_eq!(
            &s.probes[..8].iter().map(|p| p.0).collect::<Vec<_>>(),
            &[10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0]
        );
        assert!(s.probes.len() <= 8 + 5, "{:?}", s.probes);
    }

    #[test]
    fn the_least_is_found_from_above_within_the_precision() {
        let s = run(Find::Min, 1.0, 5000.0, 0.05, 37.0, false);
        assert_eq!(s.status, Status::Found);
        let min = s.value.unwrap();
        assert!((37.0..=37.0 * 1.05).contains(&min), "{min}");
        // 5000, 2500, ..., 39.06 hold, 19.53 fails: 9 steps, then bisection.
        let halvings: Vec<f64> = (0..9).map(|i| 5000.0 / f64::powi(2.0, i)).collect();
        assert_eq!(
            &s.probes[..9].iter().map(|p| p.0).collect::<Vec<_>>(),
            &halvings[..]
        );
        assert!(s.probes.len() <= 9 + 6, "{:?}", s.probes);
        assert!(s.probes.iter().all(|&(x, met)| met == (x >= 37.0)));
    }

    #[test]
    fn doom_and_not_reached() {
        let doom = run(Find::Max, 10.0, 100.0, 0.05, 5.0, false);
        assert_eq!(
            (doom.status, doom.value, doom.probes.len()),
            (Status::Doom, None, 1)
        );
        let high = run(Find::Max, 10.0, 100.0, 0.05, 1e9, false);
        assert_eq!(high.status, Status::NotReached);
        assert_eq!(high.value, Some(100.0));
        assert_eq!(
            high.probes.last(),
            Some(&(100.0, true)),
            "HI itself is probed"
        );
    }

    /// For `min` the ends swap: HI failing is doom, LO holding is not
    /// reached (the least lies at or below LO).
    #[test]
    fn the_least_has_doom_at_hi_and_not_reached_at_lo() {
        let doom = run(Find::Min, 1.0, 64.0, 0.05, 100.0, true);
        assert_eq!(
            (doom.status, doom.value, doom.probes.clone()),
            (Status::Doom, None, vec![(64.0, false)])
        );
        let low = run(Find::Min, 2.0, 64.0, 0.05, 1.0, true);
        assert_eq!(low.status, Status::NotReached);
        assert_eq!(low.value, Some(2.0));
        assert_eq!(low.probes.last(), Some(&(2.0, true)), "LO itself is probed");
    }

    /// Halving towards an LO of 0 ends: within 1/1024 of the range of LO
    /// it tries LO itself (10, 5, ..., 10/1024, then 0).
    #[test]
    fn the_least_towards_zero_ends() {
        let s = run(Find::Min, 0.0, 10.0, 0.05, 0.0, false);
        assert_eq!((s.status, s.value), (Status::NotReached, Some(0.0)));
        let mut want: Vec<f64> = (0..=10).map(|i| 10.0 / f64::powi(2.0, i)).collect();
        want.push(0.0);
        assert_eq!(s.probes.iter().map(|p| p.0).collect::<Vec<_>>(), want);
        // A threshold near LO is still found by the bisection.
        let s = run(Find::Min, 0.0, 10.0, 0.05, 0.003, false);
        assert_eq!(s.status, Status::Found);
        let min = s.value.unwrap();
        assert!(
            (0.003..=0.003 * 1.05).contains(&min),
            "{min} {:?}",
            s.probes
        );
    }

    #[test]
    fn whole_numbers_stop_at_adjacent_values() {
        let s = run(Find::Max, 1.0, 64.0, 0.001, 13.0, true);
        assert_eq!(s.status, Status::Found);
        assert_eq!(s.value, Some(13.0));
        assert!(s.probes.iter().all(|p| p.0.fract() == 0.0));
        assert!(s.probes.iter().any(|p| p.0 == 14.0 && !p.1));
        let s = run(Find::Min, 1.0, 64.0, 0.001, 13.0, true);
        assert_eq!(s.status, Status::Found);
        assert_eq!(s.value, Some(13.0));
        assert!(s.probes.iter().all(|p| p.0.fract() == 0.0));
        assert!(s.probes.iter().any(|p| p.0 == 12.0 && !p.1));
    }

    /// [`confirm`] of a search that found `answer` (with `status`) over
    /// whole numbers in `range`, where longer probes hold where `holds`.
    fn confirmed(
        find: Find,
        range: (f64, f64),
        status: Status,
        answer: f64,
        holds: impl Fn(f64) -> bool,
    ) -> Searched {
        let searched = Searched {
            status,
            value: Some(answer),
            probes: vec![(answer, true)],
        };
        confirm(find, range, 0.05, f64::round, searched, |x| {
            Ok::<_, ()>(holds(x))
        })
        .unwrap()
    }

    /// A confirmation that holds keeps the answer and its status; one that
    /// fails steps towards the safe end (by the precision, or by one whole
    /// unit where that rounds to the same value) until a value holds, or
    /// ends in doom at the safe end.
    #[test]
    fn a_confirmation_moves_the_answer_only_towards_the_safe_end() {
        let held = confirmed(Find::Max, (1.0, 64.0), Status::NotReached, 64.0, |_| true);
        assert_eq!((held.status, held.value), (Status::NotReached, Some(64.0)));
        assert_eq!(held.probes, [(64.0, true), (64.0, true)]);
        // Longer probes hold only at 11 and below: 13 (the answer) fails,
        // 12 (13 / 1.05 rounds to 12) fails, 11 holds.
        let moved = confirmed(Find::Max, (1.0, 64.0), Status::Found, 13.0, |x| x <= 11.0);
        assert_eq!((moved.status, moved.value), (Status::Found, Some(11.0)));
        assert_eq!(
            moved.probes[1..],
            [(13.0, false), (12.0, false), (11.0, true)]
        );
        // The least, upwards: 8 fails, 9 holds.
        let up = confirmed(Find::Min, (1.0, 64.0), Status::Found, 8.0, |x| x >= 9.0);
        assert_eq!((up.status, up.value), (Status::Found, Some(9.0)));
        // Nothing holds: doom once the safe end fails, and no further.
        let doom = confirmed(Find::Min, (1.0, 4.0), Status::Found, 2.0, |_| false);
        assert_eq!((doom.status, doom.value), (Status::Doom, None));
        assert_eq!(doom.probes[1..], [(2.0, false), (3.0, false), (4.0, false)]);
        // Continuous values step by the precision.
        let searched = Searched {
            status: Status::Found,
            value: Some(700.0),
            probes: vec![],
        };
        let cont = confirm(
            Find::Max,
            (10.0, 5000.0),
            0.05,
            |x| x,
            searched,
            |x| Ok::<_, ()>(x <= 680.0),
        )
        .unwrap();
        let v = cont.value.unwrap();
        assert!((v - 700.0 / 1.05).abs() < 1e-9, "{v}");
        // A doom stays a doom, unprobed.
        let none = Searched {
            status: Status::Doom,
            value: None,
            probes: vec![(1.0, false)],
        };
        let same = confirm(
            Find::Max,
            (1.0, 8.0),
            0.05,
            f64::round,
            none.clone(),
            |_| -> Result<bool, ()> { panic!("a doom is not confirmed") },
        )
        .unwrap();
        assert_eq!(same, none);
    }

    /// Every threshold of a small whole-number range is found exactly, in
    /// both directions, and no value is probed twice.
    #[test]
    fn every_threshold_of_a_small_range_is_found_exactly() {
        for truth in 1..=20 {
            let t = f64::from(truth);
            for find in [Find::Max, Find::Min] {
                let s = run(find, 1.0, 20.0, 0.001, t, true);
                let expect = match (find, truth) {
                    (Find::Max, 20) | (Find::Min, 1) => Status::NotReached,
                    _ => Status::Found,
                };
                assert_eq!((s.status, s.value), (expect, Some(t)), "{find:?} {truth}");
                let mut seen: Vec<f64> = s.probes.iter().map(|p| p.0).collect();
                seen.sort_by(f64::total_cmp);
                seen.dedup();
                assert_eq!(
                    seen.len(),
                    s.probes.len(),
                    "{find:?} {truth}: {:?}",
                    s.probes
                );
            }
        }
    }
}
