//! What a plan says in words: the verdict (which backend carries the
//! most load within the SLO, or with `--least` needs the least), what a
//! plan stopped early measured, and the note `plan` gives when the key's
//! usual direction is not the one searched. Formatting only: nothing here
//! runs.

use super::bisect::{Find, Status};
use super::keys::{Key, Target};
use super::search::{BackendResult, ProbeLength};
use crate::stop::Stopped;

/// A key's value for people: whole numbers without a fraction.
pub fn fmt_value(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x:.3}")
    }
}

/// `; the answer confirmed with 40000 measured jobs` when a plan with
/// probes of `length` confirms its answers (`confirm` above 1), else
/// nothing.
pub fn confirmation(length: &ProbeLength, confirm: u32) -> String {
    if confirm > 1 {
        format!(
            "; the answer confirmed with {} measured jobs",
            length.times(confirm).measured_jobs
        )
    } else {
        String::new()
    }
}

/// What a plan looked for, in a heading: `highest` or `least`.
pub fn find_word(find: Find) -> &'static str {
    match find {
        Find::Max => "highest",
        Find::Min => "least",
    }
}

/// A backend's value in a table cell: `640`, `≥ 16000` / `≤ 1` (the
/// range's far end still held), `-` (doom).
pub fn value_cell(r: &BackendResult) -> String {
    match r.value() {
        None => "-".into(),
        Some(_) => shown(r.answer.find(), r),
    }
}

/// Whether more of `key` usually lets the SLOs hold: workers, processes,
/// cores, a closed client's think time. For every other key (a rate,
/// clients, jobs, step durations, the GIL's settings) more is more load.
pub fn more_helps(key: &Key) -> bool {
    matches!(
        key.target(),
        Target::Workers(_) | Target::Processes(_) | Target::Cores | Target::Think(_)
    )
}

/// The note `plan` prints (and adds to its verdict) when the search's
/// direction is not the key's usual one: the highest value of a key where
/// more helps, or (`--least`) the least value of one where more is more
/// load; `None` when they agree.
pub fn direction_note(key: &Key, find: Find) -> Option<String> {
    match (find, more_helps(key)) {
        (Find::Max, true) => Some(format!(
            "plan finds the highest {key} at which the SLOs hold and assumes a larger value is more load; \
             more {key} usually helps instead, so expect `doom` (the lowest value fails) or `not_reached` \
             (the highest holds). To find the least {key} at which the SLOs hold, add --least; to see \
             every value, run `gilsim sweep CONFIG --set {key}=V1,V2,...`."
        )),
        (Find::Min, false) => Some(format!(
            "--least finds the least {key} at which the SLOs hold and assumes a larger value helps; \
             a larger {key} is usually more load instead, so expect `doom` (the highest value fails) or \
             `not_reached` (the lowest holds). Without --least, plan finds the highest {key} that holds."
        )),
        _ => None,
    }
}

/// The verdict lines of a plan over `key` in `range` (LO, HI). Backends
/// whose search was interrupted have no answer and are left out of the
/// comparison ([`incomplete`] says what they measured).
pub fn verdict(find: Find, key: &str, range: (f64, f64), results: &[BackendResult]) -> Vec<String> {
    let mut ok: Vec<&BackendResult> = results.iter().filter(|r| r.value().is_some()).collect();
    let value = |r: &BackendResult| r.value().unwrap_or(0.0);
    match find {
        Find::Max => ok.sort_by(|a, b| value(b).total_cmp(&value(a))),
        Find::Min => ok.sort_by(|a, b| value(a).total_cmp(&value(b))),
    }
    // Where `doom` is decided: LO for the highest, HI for the least.
    let doom_at = match find {
        Find::Max => range.0,
        Find::Min => range.1,
    };
    // Backends tied with the best share the first place; the factor is
    // over the next one after them.
    let tied = ok
        .iter()
        .take_while(|r| r.value() == ok[0].value() && r.status == ok[0].status)
        .count();
    let cut = results.iter().any(|r| r.status == Status::Interrupted);
    let mut lines = match ok.split_at_checked(tied.max(1)) {
        // Nothing finished: nothing to compare.
        None if results.iter().all(|r| r.status == Status::Interrupted) => Vec::new(),
        None => vec![format!(
            "No backend {}meets the SLO even at {key} = {}.",
            if cut { "whose search finished " } else { "" },
            fmt_value(doom_at)
        )],
        Some((best, rest)) => vec![lead(find, key, best, rest.first().copied())],
    };
    let doomed: Vec<&str> = results
        .iter()
        .filter(|r| r.status == Status::Doom)
        .map(|r| r.backend.as_str())
        .collect();
    if !doomed.is_empty() && !ok.is_empty() {
        let when = match find {
            Find::Max => "already",
            Find::Min => "even",
        };
        lines.push(format!(
            "{} fail{} the SLO {when} at {key} = {}.",
            doomed.join(", "),
            if doomed.len() == 1 { "s" } else { "" },
            fmt_value(doom_at)
        ));
    }
    lines
}

/// The lines that open the verdict of a plan stopped early by `why`: what
/// was cut short and what never ran, as a run report's verdict says it,
/// then for each backend cut short what its finished probes bracket
/// (`slow: interrupted after 3 probes: held at 400, failed at 800.`), since
/// that is all its search learned.
pub fn incomplete(
    find: Find,
    why: Stopped,
    results: &[BackendResult],
    not_run: &[String],
) -> Vec<String> {
    let cut: Vec<&BackendResult> = results
        .iter()
        .filter(|r| r.status == Status::Interrupted)
        .collect();
    let names: Vec<&str> = cut.iter().map(|r| r.backend.as_str()).collect();
    let mut lines = vec![crate::report::incomplete(
        why,
        &names,
        not_run,
        "Only the backends whose search finished are compared.",
    )];
    lines.extend(cut.iter().map(|r| bracket(find, r)));
    lines
}

/// What an interrupted search's finished probes say: the best value that
/// held and the nearest that failed, towards the answer.
fn bracket(find: Find, r: &BackendResult) -> String {
    let n = r.probes.len();
    if n == 0 {
        return format!("{}: interrupted during its first probe.", r.backend);
    }
    let values = |met: bool| {
        r.probes
            .iter()
            .filter(move |p| p.met == met)
            .map(|p| p.value)
    };
    // Held: the highest (the least with --least); failed: the lowest
    // (the highest with --least).
    let (held, failed) = match find {
        Find::Max => (
            values(true).reduce(f64::max),
            values(false).reduce(f64::min),
        ),
        Find::Min => (
            values(true).reduce(f64::min),
            values(false).reduce(f64::max),
        ),
    };
    let said: Vec<String> = [("held at", held), ("failed at", failed)]
        .into_iter()
        .filter_map(|(what, v)| v.map(|v| format!("{what} {}", fmt_value(v))))
        .collect();
    format!(
        "{}: interrupted after {n} probe{}: {}.",
        r.backend,
        if n == 1 { "" } else { "s" },
        said.join(", ")
    )
}

/// A backend's value as the verdict shows it: `≥ HI` or `≤ LO` when the
/// whole range held.
fn shown(find: Find, r: &BackendResult) -> String {
    let beyond = match (r.status, find) {
        (Status::NotReached, Find::Max) => "≥ ",
        (Status::NotReached, Find::Min) => "≤ ",
        _ => "",
    };
    format!("{beyond}{}", fmt_value(r.value().unwrap_or(0.0)))
}

/// The verdict's first line: the best backends (one, or several tied),
/// and by what factor they beat the next (if any).
fn lead(find: Find, key: &str, best: &[&BackendResult], next: Option<&BackendResult>) -> String {
    let first = best[0];
    let names = match best {
        [one] => one.backend.clone(),
        [init @ .., last] => format!(
            "{} and {}",
            init.iter()
                .map(|r| r.backend.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            last.backend
        ),
        [] => String::new(),
    };
    let plural = best.len() > 1;
    let head = match find {
        Find::Max => format!(
            "{names} {} the most load within the SLO: {key} up to {}",
            if plural { "carry" } else { "carries" },
            shown(find, first)
        ),
        Find::Min => format!(
            "{names} {} the SLO with the least {key}: {}",
            if plural { "meet" } else { "meets" },
            shown(find, first)
        ),
    };
    let Some(next) = next else {
        return format!("{head}.");
    };
    let (b, n) = (first.value().unwrap_or(0.0), next.value().unwrap_or(0.0));
    // How many times more load the best carries, or how many times less
    // of the key it needs.
    let (num, den) = match find {
        Find::Max => (b, n),
        Find::Min => (n, b),
    };
    let factor = if den > 0.0 {
        format!("{:.2}×", num / den)
    } else {
        "more than".into()
    };
    let lower = if first.status == Status::NotReached {
        "at least "
    } else {
        ""
    };
    let than = match find {
        Find::Max => format!("{lower}{factor} the next best"),
        Find::Min => format!("{lower}{factor} less than the next best"),
    };
    format!("{head}, {than} ({}: {}).", next.backend, shown(find, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::search::Answer;

    fn r(find: Find, name: &str, status: Status, value: Option<f64>) -> BackendResult {
        BackendResult {
            backend: name.into(),
            status,
            answer: Answer::new(find, value),
            limit: None,
            probes: vec![],
            report: None,
        }
    }

    #[test]
    fn verdict_names_the_best_and_the_factor() {
        let m = Find::Max;
        let lines = verdict(
            m,
            "rate",
            (10.0, 5000.0),
            &[
                r(m, "threads+gil", Status::Found, Some(740.0)),
                r(m, "rayon", Status::Found, Some(1480.0)),
                r(m, "asyncio", Status::Doom, None),
            ],
        );
        assert_eq!(
            lines[0],
            "rayon carries the most load within the SLO: rate up to 1480, 2.00× the next best (threads+gil: 740)."
        );
        assert_eq!(lines[1], "asyncio fails the SLO already at rate = 10.");
    }

    #[test]
    fn the_least_verdict_names_who_needs_least_and_who_fails_at_hi() {
        let m = Find::Min;
        let lines = verdict(
            m,
            "cores",
            (1.0, 64.0),
            &[
                r(m, "threads+gil", Status::Doom, None),
                r(m, "pool", Status::Found, Some(24.0)),
                r(m, "rayon", Status::Found, Some(12.0)),
            ],
        );
        assert_eq!(
            lines[0],
            "rayon meets the SLO with the least cores: 12, 2.00× less than the next best (pool: 24)."
        );
        assert_eq!(lines[1], "threads+gil fails the SLO even at cores = 64.");
        let low = verdict(
            m,
            "cores",
            (2.0, 64.0),
            &[
                r(m, "a", Status::NotReached, Some(2.0)),
                r(m, "b", Status::Found, Some(8.0)),
            ],
        );
        assert_eq!(
            low[0],
            "a meets the SLO with the least cores: ≤ 2, at least 4.00× less than the next best (b: 8)."
        );
        let tie = verdict(
            m,
            "cores",
            (1.0, 64.0),
            &[
                r(m, "a", Status::Found, Some(9.0)),
                r(m, "b", Status::Found, Some(58.0)),
                r(m, "c", Status::Found, Some(9.0)),
            ],
        );
        assert_eq!(
            tie[0],
            "a and c meet the SLO with the least cores: 9, 6.44× less than the next best (b: 58)."
        );
        let none = verdict(m, "cores", (1.0, 64.0), &[r(m, "a", Status::Doom, None)]);
        assert_eq!(none, vec!["No backend meets the SLO even at cores = 64."]);
    }

    /// A backend cut short has no answer: it is left out of the
    /// comparison, and the lines that open the verdict name it and say
    /// what its finished probes bracket.
    #[test]
    fn an_interrupted_backend_is_not_compared_and_its_probes_bracket_it() {
        use crate::capacity::plan_chart::tests::probe;
        let m = Find::Max;
        let mut cut = r(m, "slow", Status::Interrupted, None);
        let range = (10.0, 5000.0);
        let found = r(m, "fast", Status::Found, Some(740.0));
        assert_eq!(
            verdict(m, "rate", range, &[found, cut.clone()]),
            ["fast carries the most load within the SLO: rate up to 740."]
        );
        let doom = r(m, "a", Status::Doom, None);
        assert_eq!(
            verdict(m, "rate", range, &[doom, cut.clone()]),
            ["No backend whose search finished meets the SLO even at rate = 10."]
        );
        assert!(verdict(m, "rate", range, &[cut.clone()]).is_empty());
        assert_eq!(
            incomplete(m, Stopped::Timeout, &[cut.clone()], &[]),
            [
                "Incomplete (timeout): cut short: slow. Only the backends whose search finished are compared.",
                "slow: interrupted during its first probe."
            ]
        );
        cut.probes = vec![
            probe(10.0, true, 1.0),
            probe(20.0, true, 2.0),
            probe(40.0, false, 90.0),
        ];
        let lines = incomplete(m, Stopped::Interrupted, &[cut.clone()], &["b".into()]);
        assert_eq!(
            lines,
            [
                "Incomplete (interrupted): cut short: slow; not run: b. Only the backends whose search finished are compared.",
                "slow: interrupted after 3 probes: held at 20, failed at 40."
            ]
        );
        // With --least, the least that held and the highest that failed.
        let l = Find::Min;
        cut.answer = Answer::new(l, None);
        cut.probes = vec![
            probe(64.0, true, 1.0),
            probe(32.0, true, 1.0),
            probe(16.0, false, 9.0),
        ];
        assert_eq!(
            incomplete(l, Stopped::Interrupted, &[cut.clone()], &[])[1],
            "slow: interrupted after 3 probes: held at 32, failed at 16."
        );
        cut.probes.truncate(1);
        assert_eq!(
            incomplete(l, Stopped::Interrupted, &[cut], &[])[1],
            "slow: interrupted after 1 probe: held at 64."
        );
        // Nothing cut, one backend not run.
        assert_eq!(
            incomplete(m, Stopped::Interrupted, &[], &["a".into(), "b".into()]),
            ["Incomplete (interrupted): not run: a, b. Only the backends whose search finished are compared."]
        );
    }
}
