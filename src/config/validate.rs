//! From the config as written ([`RawConfig`]) to the validated model
//! ([`JobSet`]): ranges, cross-field rules and defaults. Every error points
//! at the value (or key) it is about.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::check::{checked_label, checked_name, u64_in, usize_in};
use super::duration::{format_duration, resolve, FixedDuration};
use super::error::{key_span, Located};
use super::keyword::Kw;
use super::model::{
    limits, Arrival, ArrivalProcess, BackendKind, BackendSpec, CpuMode, Dispatch, Flavor,
    GilSettings, GroupSpec, InterpreterCosts, JobSet, Step,
};
use super::raw::{RawArrival, RawArrivalTable, RawBackend, RawConfig, RawGil, RawGroup};
use super::step::{executions, steps, written};
use super::text::escape_controls;

/// The slowest open-loop rate accepted: one job per
/// [`limits::MAX_DURATION_SECS`], so the mean gap between arrivals is
/// itself a valid duration.
const MIN_RATE: f64 = 1.0 / limits::MAX_DURATION_SECS as f64;

/// Checks a parsed config and fills in defaults. Independent parts (the
/// name, the seed, `[gil]`, each backend, each group) are all checked, so
/// one run reports every problem among them, in file order.
pub(crate) fn job_set(raw: RawConfig, source: &str, path: &Path) -> Result<JobSet, Vec<Located>> {
    let mut problems = Problems::default();
    let name = problems.check(match &raw.name {
        Some(name) => checked_name(name, "`name`"),
        None => Ok(stem(path)),
    });
    let seed = problems.or_default(raw.seed.as_ref(), 0, |s| u64_in(s, "seed", 0, u64::MAX));
    let gil = problems.or_default(raw.gil.as_ref(), GilSettings::default(), gil_settings);
    let model_cores = problems.or_default(raw.model.as_ref(), None, |m| {
        m.cores
            .as_ref()
            .map(|c| usize_in(c, "cores", 1, limits::MAX_MODEL_CORES))
            .transpose()
    });
    let backends = backends(&raw.backend, source, &mut problems);
    let groups = groups(&raw.group, source, &mut problems);
    match (name, seed, gil, model_cores, problems.into_sorted()) {
        (Some(name), Some(seed), Some(gil), Some(model_cores), None) => Ok(JobSet {
            name,
            description: raw.description,
            seed,
            gil,
            model_cores,
            backends,
            groups,
            source: path.to_path_buf(),
        }),
        (.., Some(found)) => Err(found),
        // A part that failed always left a problem behind.
        _ => Err(vec![Located::new(0..0, "invalid config")]),
    }
}

/// The problems found so far in one config.
#[derive(Default)]
struct Problems(Vec<Located>);

impl Problems {
    /// The value, or `None` with the problem kept.
    fn check<T>(&mut self, result: Result<T, Located>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    /// The checked value of an optional key, or `default` when it is absent.
    fn or_default<R, T>(
        &mut self,
        raw: Option<&R>,
        default: T,
        check: impl FnOnce(&R) -> Result<T, Located>,
    ) -> Option<T> {
        match raw {
            Some(r) => self.check(check(r)),
            None => Some(default),
        }
    }

    /// Every problem in file order, or `None` when there is none.
    fn into_sorted(mut self) -> Option<Vec<Located>> {
        self.0.sort_by_key(|p| (p.span.start, p.span.end));
        (!self.0.is_empty()).then_some(self.0)
    }
}

/// The default name: the file's stem ("configs/convoy.toml" → "convoy").
fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| escape_controls(&s.to_string_lossy()).into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "config".to_string())
}

fn gil_settings(raw: &RawGil) -> Result<GilSettings, Located> {
    let positive = |value: &Option<Spanned<FixedDuration>>, key: &str, default: Duration| {
        let Some(v) = value else { return Ok(default) };
        if v.get_ref().0.is_zero() {
            Err(Located::new(
                v.span(),
                format!("`{key}` must be greater than 0"),
            ))
        } else {
            Ok(v.get_ref().0)
        }
    };
    let switch_interval = positive(
        &raw.switch_interval,
        "switch_interval",
        GilSettings::DEFAULT_SWITCH_INTERVAL,
    )?;
    let tick = positive(&raw.tick, "tick", GilSettings::DEFAULT_TICK)?;
    if tick > switch_interval {
        // Blame whichever of the two was written (tick if both were).
        let span = raw
            .tick
            .as_ref()
            .or(raw.switch_interval.as_ref())
            .map_or(0..0, Spanned::span);
        return Err(Located::new(
            span,
            format!(
                "`tick` ({}) must not be longer than `switch_interval` ({})",
                format_duration(tick),
                format_duration(switch_interval)
            ),
        ));
    }
    let counter_inside_share = match &raw.counter_inside_share {
        None => GilSettings::DEFAULT_COUNTER_INSIDE_SHARE,
        Some(v) if (0.0..=1.0).contains(&v.get_ref().0) => v.get_ref().0,
        Some(v) => {
            return Err(Located::new(
                v.span(),
                "`counter_inside_share` must be a number from 0 to 1",
            ))
        }
    };
    let given = |value: &Option<Spanned<FixedDuration>>, default: Duration| {
        value.as_ref().map_or(default, |v| v.get_ref().0)
    };
    let defaults = InterpreterCosts::default();
    let cost = raw.cost.as_ref().map_or(defaults, |c| InterpreterCosts {
        task: given(&c.task, defaults.task),
        resume: given(&c.resume, defaults.resume),
        io_call: given(&c.io_call, defaults.io_call),
        submit: given(&c.submit, defaults.submit),
        complete: given(&c.complete, defaults.complete),
    });
    Ok(GilSettings {
        switch_interval,
        tick,
        counter_inside_share,
        timer_slack: given(&raw.timer_slack, GilSettings::DEFAULT_TIMER_SLACK),
        cost,
    })
}

fn backends(
    raw: &[Spanned<RawBackend>],
    source: &str,
    problems: &mut Problems,
) -> Vec<BackendSpec> {
    if raw.is_empty() {
        return BackendSpec::default_set();
    }
    if let Some(first_extra) = raw.get(limits::MAX_BACKENDS) {
        problems.check::<()>(Err(too_many(
            first_extra.span(),
            raw.len(),
            "[[backend]]",
            limits::MAX_BACKENDS,
        )));
        return Vec::new();
    }
    let mut seen = Names::new("backend");
    raw.iter()
        .filter_map(|b| {
            let spec = problems.check(backend(b.get_ref(), source))?;
            // A defaulted name is blamed on `kind`, where it came from.
            let at = b
                .get_ref()
                .name
                .as_ref()
                .map_or(b.get_ref().kind.span(), Spanned::span);
            problems.check(seen.insert(&spec.name, at, source))?;
            Some(spec)
        })
        .collect()
}

fn backend(raw: &RawBackend, source: &str) -> Result<BackendSpec, Located> {
    let kind = raw.kind.get_ref().0;
    let gil = raw.gil.unwrap_or(false);
    let flavor = option_for(&raw.flavor, kind == BackendKind::Tokio, source, || {
        format!(
            "`flavor` only applies to tokio backends, not {}",
            kind.as_str()
        )
    })?;
    let cpu_mode = option_for(&raw.cpu_mode, kind.is_async(), source, || {
        format!(
            "`cpu_mode` only applies to async backends (tokio, async-std, smol), not {}",
            kind.as_str()
        )
    })?;
    let flavor = (kind == BackendKind::Tokio).then(|| flavor.unwrap_or(Flavor::MultiThread));
    let cpu_mode = kind.is_async().then(|| cpu_mode.unwrap_or(CpuMode::Inline));

    let workers = match &raw.workers {
        None => 0,
        Some(w) if flavor.is_some_and(Flavor::one_thread) => {
            let n = usize_in(w, "workers", 0, limits::MAX_WORKERS)?;
            if n > 1 {
                let runtime = match flavor {
                    Some(Flavor::Asyncio) => "an asyncio",
                    _ => "a current_thread",
                };
                return Err(Located::new(
                    w.span(),
                    format!(
                        "{runtime} tokio runtime has exactly one worker; \
                         `workers` must be 0 or 1, found {n}"
                    ),
                ));
            }
            n
        }
        Some(w) => usize_in(w, "workers", 0, limits::MAX_WORKERS)?,
    };
    let processes = match &raw.processes {
        None => 1,
        Some(p) => usize_in(p, "processes", 1, limits::MAX_PROCESSES)?,
    };
    let dispatch = raw
        .dispatch
        .as_ref()
        .map_or(Dispatch::default(), |d| d.get_ref().0);
    let name = match &raw.name {
        Some(name) => checked_label(name, "backend `name`")?,
        None => BackendSpec::default_name(kind, gil),
    };
    Ok(BackendSpec {
        kind,
        gil,
        name,
        workers,
        flavor,
        cpu_mode,
        processes,
        dispatch,
    })
}

/// A key that only some backend kinds take: its value if `allowed`, an
/// error at the key otherwise.
fn option_for<T: Copy>(
    value: &Option<Spanned<Kw<T>>>,
    allowed: bool,
    source: &str,
    message: impl FnOnce() -> String,
) -> Result<Option<T>, Located> {
    match value {
        Some(v) if !allowed => Err(Located::new(key_span(source, &v.span()), message())),
        Some(v) => Ok(Some(v.get_ref().0)),
        None => Ok(None),
    }
}

fn groups(raw: &[Spanned<RawGroup>], source: &str, problems: &mut Problems) -> Vec<GroupSpec> {
    if raw.is_empty() {
        problems.check::<()>(Err(Located::new(
            0..0,
            "a config needs at least one [[group]] table; it says what the jobs do",
        )));
        return Vec::new();
    }
    if let Some(first_extra) = raw.get(limits::MAX_GROUPS) {
        problems.check::<()>(Err(too_many(
            first_extra.span(),
            raw.len(),
            "[[group]]",
            limits::MAX_GROUPS,
        )));
        return Vec::new();
    }
    let mut seen = Names::new("group");
    raw.iter()
        .enumerate()
        .filter_map(|(i, g)| {
            let spec = group(g, i, source, problems)?;
            let at = g.get_ref().name.as_ref().map_or(g.span(), Spanned::span);
            problems.check(seen.insert(&spec.name, at, source))?;
            Some(spec)
        })
        .collect()
}

/// One group, with a problem kept for each of its keys that is wrong.
fn group(
    raw: &Spanned<RawGroup>,
    index: usize,
    source: &str,
    problems: &mut Problems,
) -> Option<GroupSpec> {
    let g = raw.get_ref();
    let name = problems.check(match &g.name {
        Some(name) => checked_label(name, "group `name`"),
        None => Ok(format!("group{}", index + 1)),
    });
    let jobs = problems.or_default(g.jobs.as_ref(), 1, |j| {
        u64_in(j, "jobs", 1, limits::MAX_JOBS)
    });
    let arrival = problems.or_default(g.arrival.as_ref(), Arrival::Batch, |a| arrival(a, source));
    let steps = match written(g.steps.get_ref()) {
        n if n > limits::MAX_STEPS_WRITTEN => {
            problems.check::<()>(Err(Located::new(
                g.steps.span(),
                format!(
                    "`steps` holds {n} step tables (nested ones included); at most {} are allowed; \
                     use `repeat` for work that repeats",
                    limits::MAX_STEPS_WRITTEN
                ),
            )));
            None
        }
        _ => match steps(&g.steps, 0, source) {
            Ok(s) => Some(s),
            Err(found) => {
                problems.0.extend(found);
                None
            }
        },
    };
    let (name, jobs, arrival, steps) = (name?, jobs?, arrival?, steps?);
    problems.check(step_limit(g, &name, &steps))?;
    Some(GroupSpec {
        name,
        jobs,
        arrival,
        steps,
    })
}

/// Refuses a job that would execute too many steps once repeats expand.
fn step_limit(g: &RawGroup, name: &str, steps: &[Step]) -> Result<(), Located> {
    let total = executions(steps);
    if total > u128::from(limits::MAX_STEPS_PER_JOB) {
        let total = if total == u128::MAX {
            "more than 10^38".to_string()
        } else {
            total.to_string()
        };
        return Err(Located::new(
            g.steps.span(),
            format!(
                "one job of group `{name}` would execute {total} steps (repeats expanded); \
                 the limit is {}; lower a `repeat` count",
                limits::MAX_STEPS_PER_JOB
            ),
        ));
    }
    Ok(())
}

fn arrival(raw: &Spanned<RawArrival>, source: &str) -> Result<Arrival, Located> {
    match raw.get_ref() {
        RawArrival::Batch => Ok(Arrival::Batch),
        RawArrival::Table(t) => arrival_table(t, raw.span(), source),
    }
}

fn arrival_table(
    t: &RawArrivalTable,
    table: Range<usize>,
    source: &str,
) -> Result<Arrival, Located> {
    match (&t.closed, &t.rate) {
        (Some(_), Some(rate)) => Err(Located::new(
            key_span(source, &rate.span()),
            "an arrival is either closed (`closed`) or open (`rate`), not both",
        )),
        (None, None) => Err(Located::new(
            table,
            "an arrival table needs `closed` (e.g. { closed = 4 }) or `rate` (e.g. { rate = 100 })",
        )),
        (Some(clients), None) => {
            if let Some(process) = &t.process {
                return Err(Located::new(
                    key_span(source, &process.span()),
                    "`process` only applies to open arrivals ({ rate = R }), not closed ones",
                ));
            }
            Ok(Arrival::Closed {
                clients: u64_in(clients, "closed", 1, limits::MAX_JOBS)?,
                think: t.think.as_ref().map(|d| resolve(d, source)).transpose()?,
            })
        }
        (None, Some(rate)) => {
            if let Some(think) = &t.think {
                return Err(Located::new(
                    key_span(source, &think.span()),
                    "`think` only applies to closed arrivals ({ closed = C }), not open ones",
                ));
            }
            let r = rate.get_ref().0;
            if !r.is_finite() || r < MIN_RATE {
                return Err(Located::new(
                    rate.span(),
                    format!(
                        "`rate` must be a finite number of jobs per second, at least one \
                         a day ({MIN_RATE:.7}), found {r}"
                    ),
                ));
            }
            Ok(Arrival::Open {
                rate: r,
                process: t
                    .process
                    .as_ref()
                    .map_or(ArrivalProcess::Poisson, |p| p.get_ref().0),
            })
        }
    }
}

/// Tracks names already used, to report the second use of one.
struct Names<'a> {
    what: &'a str,
    seen: HashMap<String, Range<usize>>,
}

impl<'a> Names<'a> {
    fn new(what: &'a str) -> Self {
        Self {
            what,
            seen: HashMap::new(),
        }
    }

    fn insert(&mut self, name: &str, at: Range<usize>, source: &str) -> Result<(), Located> {
        if let Some(first) = self.seen.get(name) {
            let line = source
                .get(..first.start)
                .map_or(1, |s| s.matches('\n').count() + 1);
            return Err(Located::new(
                at,
                format!(
                    "{} name `{name}` is already used (line {line}); {} names must be unique{}",
                    self.what,
                    self.what,
                    if self.what == "backend" {
                        ", set `name` to tell them apart"
                    } else {
                        ""
                    },
                ),
            ));
        }
        self.seen.insert(name.to_string(), at);
        Ok(())
    }
}

/// "2000 [[group]] tables; at most 1000 are allowed", at the first one
/// past the limit.
fn too_many(at: Range<usize>, found: usize, what: &str, max: usize) -> Located {
    Located::new(
        at,
        format!("{found} {what} tables; at most {max} are allowed in one config"),
    )
}
