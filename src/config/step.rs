//! Steps: deciding what kind a step table is, and checking it.
//!
//! A step table is one of `{ cpu }`, `{ native }`, `{ io }`,
//! `{ lock, cpu }`, `{ counter, add, guard?, switch_inside? }` or
//! `{ repeat, steps }`. serde reads every key into one all-optional
//! [`RawStep`]; this module picks the kind, so that a wrong table gets a
//! message that says which keys clash, at the right place.

use std::ops::Range;

use toml::Spanned;

use super::check::{checked_name, u64_in};
use super::duration::resolve;
use super::error::{key_span, Located};
use super::model::{limits, Guard, Step};
use super::raw::RawStep;

/// The keys that make a step what it is, as listed in messages.
const KINDS: &str = "cpu, native, io, lock, counter, repeat";

/// What a step table is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Cpu,
    Native,
    Io,
    Lock,
    Counter,
    Repeat,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Cpu => "cpu",
            Kind::Native => "native",
            Kind::Io => "io",
            Kind::Lock => "lock",
            Kind::Counter => "counter",
            Kind::Repeat => "repeat",
        }
    }
}

/// Converts a `steps = [...]` array. `depth` is the number of `repeat`s
/// around it. Every bad step of the array (and of nested arrays) is
/// reported, not only the first.
pub(crate) fn steps(
    list: &Spanned<Vec<Spanned<RawStep>>>,
    depth: usize,
    source: &str,
) -> Result<Vec<Step>, Vec<Located>> {
    if list.get_ref().is_empty() {
        return Err(vec![Located::new(
            list.span(),
            "`steps` is empty; a job needs at least one step, e.g. [{ cpu = \"1ms\" }]",
        )]);
    }
    let mut ok = Vec::with_capacity(list.get_ref().len());
    let mut problems = Vec::new();
    for s in list.get_ref() {
        match step(s, depth, source) {
            Ok(step) => ok.push(step),
            Err(mut found) => problems.append(&mut found),
        }
    }
    if problems.is_empty() {
        Ok(ok)
    } else {
        Err(problems)
    }
}

/// How many step tables a `steps` array holds as written, nested ones
/// included (saturating).
pub(crate) fn written(list: &[Spanned<RawStep>]) -> usize {
    list.iter()
        .map(|s| {
            let inner = s
                .get_ref()
                .steps
                .as_ref()
                .map_or(0, |i| written(i.get_ref()));
            inner.saturating_add(1)
        })
        .fold(0, usize::saturating_add)
}

/// How many steps one job executes, `repeat`s expanded (saturating: only
/// the comparison with the limit matters).
pub(crate) fn executions(steps: &[Step]) -> u128 {
    steps
        .iter()
        .map(|s| match s {
            Step::Repeat { times, steps } => u128::from(*times).saturating_mul(executions(steps)),
            _ => 1,
        })
        .fold(0, u128::saturating_add)
}

fn step(raw: &Spanned<RawStep>, depth: usize, source: &str) -> Result<Step, Vec<Located>> {
    let s = raw.get_ref();
    if let Some(times) = &s.repeat {
        if depth >= limits::MAX_NESTING {
            return Err(vec![Located::new(
                key_span(source, &times.span()),
                format!(
                    "`repeat` nested {} deep; at most {} levels of repeat are allowed; \
                     multiply the counts of nested repeats into one instead",
                    depth + 1,
                    limits::MAX_NESTING
                ),
            )]);
        }
        if s.steps.is_some() && kind_of(raw).is_ok_and(|k| k == Kind::Repeat) {
            return repeat(raw, times, depth, source);
        }
    }
    simple_step(raw, source).map_err(|e| vec![e])
}

/// `{ repeat = N, steps = [...] }`: its count and every problem among its
/// inner steps.
fn repeat(
    raw: &Spanned<RawStep>,
    times: &Spanned<super::raw::RawInt>,
    depth: usize,
    source: &str,
) -> Result<Step, Vec<Located>> {
    let s = raw.get_ref();
    reject_strays(s, Kind::Repeat, source).map_err(|e| vec![e])?;
    let count = u64_in(times, "repeat", 1, u64::MAX);
    let inner = match &s.steps {
        Some(inner) => steps(inner, depth + 1, source),
        None => Ok(Vec::new()),
    };
    match (count, inner) {
        (Ok(times), Ok(steps)) => Ok(Step::Repeat { times, steps }),
        (Err(e), Ok(_)) => Err(vec![e]),
        (Ok(_), Err(found)) => Err(found),
        (Err(e), Err(mut found)) => {
            found.insert(0, e);
            Err(found)
        }
    }
}

/// Any step but a well-formed repeat (which [`repeat`] handles); errors
/// about a repeat's own keys come from here too.
fn simple_step(raw: &Spanned<RawStep>, source: &str) -> Result<Step, Located> {
    let s = raw.get_ref();
    let kind = kind_of(raw)?;
    reject_strays(s, kind, source)?;
    Ok(match kind {
        Kind::Cpu => Step::Cpu(resolve(required(&s.cpu)?, source)?),
        Kind::Native => Step::Native(resolve(required(&s.native)?, source)?),
        Kind::Io => Step::Io(resolve(required(&s.io)?, source)?),
        Kind::Lock => {
            let cpu = s.cpu.as_ref().ok_or_else(|| {
                Located::new(
                    raw.span(),
                    "a lock step needs `cpu`, the work done while holding the lock, \
                     e.g. { lock = \"db\", cpu = \"1ms\" }",
                )
            })?;
            Step::Lock {
                name: name(required(&s.lock)?, "lock")?,
                cpu: resolve(cpu, source)?,
            }
        }
        Kind::Counter => {
            let add = s.add.as_ref().ok_or_else(|| {
                Located::new(
                    raw.span(),
                    "a counter step needs `add`, the number of increments, \
                     e.g. { counter = \"hits\", add = 1000 }",
                )
            })?;
            Step::Counter {
                name: name(required(&s.counter)?, "counter")?,
                // Each increment is a read-modify-write the job executes, so
                // the per-job step limit bounds it too.
                add: u64_in(add, "add", 1, limits::MAX_STEPS_PER_JOB)?,
                guard: s.guard.as_ref().map_or(Guard::None, |g| g.get_ref().0),
                switch_inside: s.switch_inside.as_ref().is_some_and(|b| *b.get_ref()),
            }
        }
        Kind::Repeat => {
            // Reached only without `steps` (see `step`).
            return Err(Located::new(
                raw.span(),
                "a repeat step needs `steps`, the steps to repeat, \
                 e.g. { repeat = 10, steps = [{ cpu = \"1ms\" }] }",
            ));
        }
    })
}

/// Decides the kind from the keys present. `cpu` next to `lock` is the
/// lock's work, not a kind of its own.
fn kind_of(raw: &Spanned<RawStep>) -> Result<Kind, Located> {
    let s = raw.get_ref();
    let cpu = if s.lock.is_some() {
        None
    } else {
        start(&s.cpu)
    };
    let mut found: Vec<(usize, Kind)> = [
        (cpu, Kind::Cpu),
        (start(&s.native), Kind::Native),
        (start(&s.io), Kind::Io),
        (start(&s.lock), Kind::Lock),
        (start(&s.counter), Kind::Counter),
        (start(&s.repeat), Kind::Repeat),
    ]
    .into_iter()
    .filter_map(|(at, kind)| at.map(|at| (at, kind)))
    .collect();
    // Name the clashing keys in the order they were written.
    found.sort_by_key(|(at, _)| *at);
    match found.as_slice() {
        [(_, kind)] => Ok(*kind),
        [] => {
            let others: Vec<&str> = extras(s).map(|(key, _)| key).collect();
            let found = if others.is_empty() {
                "found none".to_string()
            } else {
                format!("found only {}", others.join(", "))
            };
            Err(Located::new(
                raw.span(),
                format!("a step needs exactly one of {KINDS}; {found}"),
            ))
        }
        many => {
            let keys: Vec<&str> = many.iter().map(|(_, k)| k.key()).collect();
            Err(Located::new(
                raw.span(),
                format!(
                    "a step needs exactly one of {KINDS}; found {}",
                    and_list(&keys)
                ),
            ))
        }
    }
}

/// The keys that qualify a kind rather than choose one, with their value
/// spans.
fn extras(s: &RawStep) -> impl Iterator<Item = (&'static str, Range<usize>)> {
    [
        ("add", span(&s.add)),
        ("guard", span(&s.guard)),
        ("switch_inside", span(&s.switch_inside)),
        ("steps", span(&s.steps)),
    ]
    .into_iter()
    .filter_map(|(key, span)| span.map(|span| (key, span)))
}

/// Rejects qualifying keys that belong to another kind of step, e.g.
/// `{ io = "1ms", add = 3 }`, pointing at the key.
fn reject_strays(s: &RawStep, kind: Kind, source: &str) -> Result<(), Located> {
    for (key, value) in extras(s) {
        let owner = if key == "steps" {
            Kind::Repeat
        } else {
            Kind::Counter
        };
        if owner != kind {
            return Err(Located::new(
                key_span(source, &value),
                format!(
                    "`{key}` is not a key of {} steps; it belongs to {} steps",
                    kind.key(),
                    owner.key()
                ),
            ));
        }
    }
    Ok(())
}

fn name(name: &Spanned<String>, what: &str) -> Result<String, Located> {
    checked_name(name, &format!("a {what} name"))
}

/// The value `kind_of` saw, as an error instead of a panic should the two
/// ever disagree.
fn required<T>(value: &Option<Spanned<T>>) -> Result<&Spanned<T>, Located> {
    value
        .as_ref()
        .ok_or_else(|| Located::new(0..0, "internal error: step kind without its key"))
}

fn span<T>(value: &Option<Spanned<T>>) -> Option<Range<usize>> {
    value.as_ref().map(Spanned::span)
}

fn start<T>(value: &Option<Spanned<T>>) -> Option<usize> {
    span(value).map(|s| s.start)
}

/// "cpu and io", "cpu, io and lock".
fn and_list(items: &[&str]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::DurationSpec;
    use std::time::Duration;

    fn ms(n: u64) -> DurationSpec {
        DurationSpec::Fixed(Duration::from_millis(n))
    }

    #[test]
    fn executions_expand_repeats() {
        let steps = vec![
            Step::Cpu(ms(1)),
            Step::Repeat {
                times: 3,
                steps: vec![
                    Step::Io(ms(1)),
                    Step::Repeat {
                        times: 2,
                        steps: vec![Step::Native(ms(1))],
                    },
                ],
            },
        ];
        assert_eq!(executions(&steps), 1 + 3 * (1 + 2));
    }

    #[test]
    fn executions_saturate() {
        let deep = (0..4).fold(vec![Step::Cpu(ms(1))], |inner, _| {
            vec![Step::Repeat {
                times: u64::MAX,
                steps: inner,
            }]
        });
        assert_eq!(executions(&deep), u128::MAX);
    }

    #[test]
    fn and_list_reads_naturally() {
        assert_eq!(and_list(&[]), "");
        assert_eq!(and_list(&["cpu"]), "cpu");
        assert_eq!(and_list(&["cpu", "io"]), "cpu and io");
        assert_eq!(and_list(&["cpu", "io", "lock"]), "cpu, io and lock");
    }
}
