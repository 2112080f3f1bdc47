//! `gilsim plan` (SPEC §5): per backend, the highest value of a key at
//! which every SLO holds, or with `--least` the least (how many workers,
//! processes or cores a load needs). Checks every input before the first
//! probe runs. After Ctrl-C or SIGTERM it writes what it measured, marked
//! incomplete, and exits 130 (SPEC §8).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::engine_args::EngineArgs;
use super::interrupt;
use gilsim::capacity::bisect::Find;
use gilsim::capacity::keys::{Base, Key, KeyError, Target};
use gilsim::capacity::plan_output::{write_csv, write_json, write_table};
use gilsim::capacity::plan_page;
use gilsim::capacity::plan_verdict::{confirmation, direction_note, find_word, fmt_value, verdict};
use gilsim::capacity::search::{
    parse_precision, parse_vary, BackendResult, PlanRequest, PlanResult, Probe, ProbeEvent,
};
use gilsim::capacity::slo::Slo;
use gilsim::config::BackendKind;
use gilsim::error::{Error, RunError};
use gilsim::fsout;
use gilsim::options::Progress;
use gilsim::preflight::check_together;
use gilsim::report::{fmt_us, Format};
use gilsim::stop;

/// `gilsim plan`.
#[derive(Debug, Args)]
#[command(after_help = "\
Probe length: every probe runs each open- or closed-loop group for at least W + N jobs, \
N = 100/(1-q) for the strictest quantile q among the SLOs (p50 and mean: 200, p90: 1,000, \
p99 and max: 10,000, p999: 100,000), W = max(200, N/10). The first W jobs of each such \
group are a warm-up: they run but are left out of the histograms. Batch groups run as \
written and are measured whole. An open-loop probe must also complete at least 99% of its \
offered rate.

Stopping early (real engine): when every group is open-loop, a probe stops as soon as a \
percentile or max SLO has failed for certain, i.e. more jobs are already later than its bound \
than the percentile allows (p90: 10% of the measured jobs, plus the warm-up); its jobs are \
cancelled and the probe line says \"stopped early\". Past the knee this decides a probe in \
seconds instead of running every arrival and draining the backlog.

Confirmation (--confirm K, default 4): the answer is probed again with K times the measured \
jobs (the same warm-up). While that fails, the value steps towards the safe end (down, or up \
with --least) by --precision or one whole unit, each step probed at the same length, until one \
holds; if the range's safe end fails too, the backend is doom. Near saturation a short probe's \
p99 is more often below the queue's than above it, so the answer can only get safer. \
--confirm 1 skips it.

Statuses: found (the highest value within LO..HI, to --precision), doom (LO already fails), \
not_reached (HI still holds). With --least: found (the least value within LO..HI), doom (HI \
still fails), not_reached (LO already holds). `limit` names the dominant loss at the first \
failing probe.

Ctrl-C or SIGTERM: the probe in progress is dropped and no further probe or backend starts; \
the plan is still written (stdout and --out) with what was measured, \"complete\": false, the \
backend cut short as interrupted (its finished probes kept) and those never searched in \
not_run; exit 130. A second Ctrl-C exits at once, writing nothing.

With --least, plan answers \"how many does this load need\": e.g. \
`gilsim plan web.toml --least --vary backend.*.workers=1..256 --slo 'requests.p99<=50ms'`, or \
`--engine model --least --vary cores=1..1024` for a machine you do not have. It probes HI \
first, halves towards LO while the SLOs hold, then bisects.")]
pub struct PlanArgs {
    /// The config file (TOML).
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,

    /// The key to search and its range, KEY=LO..HI (e.g.
    /// group.requests.arrival.rate=50..5000).
    #[arg(long, value_name = "KEY=LO..HI", required = true)]
    pub vary: String,

    /// An objective every probe must meet (repeatable): GROUP.STAT<=DURATION
    /// with STAT one of p50 p90 p99 p999 max mean (`*` for every group), or
    /// throughput>=JOBS_PER_SECOND.
    #[arg(long = "slo", value_name = "EXPR", required = true)]
    pub slos: Vec<String>,

    /// Stop bisecting when the value that holds and the nearest that fails
    /// are this close (relative).
    #[arg(long, value_name = "PCT", default_value = "5%")]
    pub precision: String,

    /// Probe the answer again with K times the measured jobs, stepping
    /// towards the safe end of the range while it fails (1: no
    /// confirmation). A short probe's p99 near saturation is more often
    /// low than high.
    #[arg(long, value_name = "K", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub confirm: u32,

    /// Find the least value of KEY at which every SLO holds, for keys where
    /// more helps (workers, processes, cores, think time), instead of the
    /// highest. The JSON then has "find": "min" and each result a "min".
    #[arg(long)]
    pub least: bool,

    /// Search only the backends with this label (repeatable).
    #[arg(long = "backend", value_name = "NAME")]
    pub backends: Vec<String>,

    /// Which engine runs the probes, and on how many cores.
    #[command(flatten)]
    pub engine: EngineArgs,

    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Also write NAME.plan.json, .csv, .md, .html and one SVG chart per
    /// SLO (NAME.plan.requests.p99.svg, ...) here (checked writable before
    /// anything runs).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `gilsim plan`: checks every input, searches each selected backend,
/// then writes `--out` and the plan on stdout.
pub fn plan(args: &PlanArgs) -> Result<(), Error> {
    let engine = args.engine.engine()?;
    let base = Base::load(&args.config)?;
    let checked = check(args, &base, engine)?;
    // Ctrl-C or SIGTERM from here on ends the search after the probe in
    // progress winds down (SPEC §8), rather than killing it mid-run; what
    // was measured is still written.
    interrupt::install()?;
    let calibration = engine.calibrate().map_err(RunError::Calibration)?;
    let (lo, hi) = checked.range;
    let find = if args.least { Find::Min } else { Find::Max };
    let request = PlanRequest {
        base: &base,
        key: checked.key.clone(),
        find,
        confirm: args.confirm,
        range: checked.range,
        slos: checked.slos,
        precision: checked.precision,
        engine,
        calibration,
    };
    let length = request.probe_length();
    if !args.quiet {
        eprintln!(
            "gilsim plan: the {} {} in {}..{}; each probe: at least {} measured jobs per open- or closed-loop group after {} warm-up jobs{}",
            find_word(find),
            checked.key,
            fmt_value(lo),
            fmt_value(hi),
            length.measured_jobs,
            length.warmup_jobs,
            confirmation(&length, args.confirm)
        );
    }
    let note = direction_note(&checked.key, find);
    if let Some(note) = &note {
        eprintln!("gilsim plan: note: {note}");
    }
    let (results, not_run) = search_each(args, &request, &checked.labels)?;
    let mut plan = PlanResult {
        config: base.config().name.clone(),
        engine: engine.as_str().to_string(),
        vary: checked.key.to_string(),
        find,
        range: [lo, hi],
        slo: request
            .slos
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        precision: checked.precision,
        probe_length: length,
        confirm: args.confirm,
        complete: true,
        stopped: None,
        not_run: Vec::new(),
        verdict: {
            let mut lines = verdict(find, checked.key.as_str(), (lo, hi), &results);
            lines.extend(note);
            lines
        },
        results,
    };
    if let Some(why) = stop::reason() {
        plan.mark_stopped(why, not_run);
    }
    // A file that fails now does not lose the plan: it still goes to
    // stdout below, and the error is reported after it.
    let mut failed: Option<Error> = None;
    if let Some(dir) = &args.out {
        if let Err(e) = plan_page::write_files(dir, &plan) {
            let e = Error::Output {
                path: e.path,
                source: e.source,
            };
            eprintln!("gilsim: {e}; the plan follows on stdout");
            failed = Some(e);
        }
    }
    print_plan(args, &plan)?;
    // A stop that came after the last search leaves the plan complete,
    // but the exit status still says a stop came.
    interrupt::outcome(failed)
}

/// A plan request's inputs, each checked.
struct Checked {
    /// The backends to search.
    labels: Vec<String>,
    key: Key,
    range: (f64, f64),
    slos: Vec<Slo>,
    precision: f64,
}

/// Checks every input before the first probe runs: the backends, the key
/// and its range (the config must hold at both ends), the SLOs, the
/// precision and `--out`.
fn check(args: &PlanArgs, base: &Base, engine: gilsim::engine::Engine) -> Result<Checked, Error> {
    let set = base.config();
    let labels = selected(set, &args.backends)?;
    let (key, lo, hi) = parse_vary(base, &args.vary, engine)?;
    if args.least && lo < 1.0 && matches!(key.target(), Target::Workers(_)) {
        return Err(KeyError(format!(
            "--least --vary {}: LO must be at least 1; workers = 0 is not a count (one thread per job, or one \
             worker per core), so it does not belong to a search for the fewest workers",
            args.vary
        ))
        .into());
    }
    let slos = args
        .slos
        .iter()
        .map(|s| Slo::parse(s).and_then(|slo| slo.check(set).map(|_| slo)))
        .collect::<Result<Vec<_>, _>>()?;
    let precision = parse_precision(&args.precision)?;
    refuse_async_std_workers(set, &labels, key.target())?;
    for v in [lo, hi] {
        let (at, _) = base.apply(&[(key.clone(), key.value_from_f64(v))], engine)?;
        check_together(
            at.backends.iter().filter(|b| labels.contains(&b.name)),
            engine.cores(),
        )?;
    }
    if let Some(dir) = &args.out {
        fsout::check_writable_dir(dir).map_err(|source| Error::Unwritable {
            path: dir.clone(),
            source,
        })?;
    }
    Ok(Checked {
        labels,
        key,
        range: (lo, hi),
        slos,
        precision,
    })
}

/// Searches each backend of `labels` in turn, with a progress bar for the
/// probe in progress and a line per probe on stderr (unless `--quiet`).
/// After a stop request it starts no further backend: returns the results
/// (the one cut short among them) and the labels never searched.
fn search_each(
    args: &PlanArgs,
    request: &PlanRequest<'_>,
    labels: &[String],
) -> Result<(Vec<BackendResult>, Vec<String>), Error> {
    let key = request.key.to_string();
    let mut results = Vec::with_capacity(labels.len());
    for (i, label) in labels.iter().enumerate() {
        if stop::requested() {
            return Ok((results, labels[i..].to_vec()));
        }
        let bar = job_bar(args.quiet);
        let on_progress = |p: Progress| {
            bar.set_length(p.total);
            bar.set_position(p.done);
        };
        let mut on_probe = |e: ProbeEvent<'_>| {
            bar.set_position(0);
            if !args.quiet {
                bar.suspend(|| eprintln!("{}", probe_line(&key, &e)));
            }
        };
        let r = request.backend(label, &mut on_probe, Some(&on_progress));
        bar.finish_and_clear();
        results.push(r?);
    }
    Ok((results, Vec::new()))
}

/// The plan on stdout, in `--format` (default: a table on a terminal,
/// JSON otherwise).
fn print_plan(args: &PlanArgs, plan: &PlanResult) -> Result<(), Error> {
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let mut out = std::io::stdout().lock();
    let written = match format {
        Format::Table => write_table(plan, &mut out),
        Format::Json => write_json(plan, &mut out),
        Format::Csv => write_csv(plan, &mut out),
    };
    written
        .and_then(|_| out.flush())
        .map_err(|source| Error::Output {
            path: "<stdout>".into(),
            source,
        })
}

/// The labels to search: `--backend` ones (each must exist), else all.
fn selected(set: &gilsim::config::JobSet, names: &[String]) -> Result<Vec<String>, Error> {
    let all: Vec<String> = set.backends.iter().map(|b| b.name.clone()).collect();
    for n in names {
        if !all.contains(n) {
            return Err(Error::Usage(format!(
                "--backend {n}: config `{}` has no backend with that label (labels: {})",
                set.name,
                all.join(", ")
            )));
        }
    }
    Ok(if names.is_empty() {
        all
    } else {
        all.into_iter().filter(|l| names.contains(l)).collect()
    })
}

/// async-std's executor is sized once per process, so a search over its
/// workers could not run its second probe.
fn refuse_async_std_workers(
    set: &gilsim::config::JobSet,
    labels: &[String],
    target: &Target,
) -> Result<(), KeyError> {
    use gilsim::capacity::keys::Backends;
    let hit = set.backends.iter().find(|b| {
        b.kind == BackendKind::AsyncStd
            && labels.contains(&b.name)
            && match target {
                Target::Workers(Backends::All) => true,
                Target::Workers(Backends::Label(l)) => l == &b.name,
                _ => false,
            }
    });
    match hit {
        Some(b) => Err(KeyError(format!(
            "--vary: async-std's executor is global and sized once per gilsim process, so `{}`'s workers cannot change \
             between probes; plan its workers with one `gilsim run` per value, or leave it out with --backend",
            b.name
        ))),
        None => Ok(()),
    }
}

/// `threads+gil probe 3: rate=640 met (requests.p99_us 15.30ms; achieved 100%) 10000 jobs after 1000 warm-up, 3.9s`
fn probe_line(key: &str, e: &ProbeEvent<'_>) -> String {
    let p = e.probe;
    let figures: Vec<String> = p
        .figures
        .iter()
        .map(|(name, v)| match name.strip_suffix("_us") {
            Some(n) => format!("{n} {}", fmt_us(v.round() as u64)),
            None => format!("{name} {v:.1}"),
        })
        .collect();
    let achieved = p.achieved_ratio.map_or(String::new(), |r| {
        format!("; achieved {:.1}% of offered", 100.0 * r)
    });
    format!(
        "  {} probe {}: {key}={} {} ({}{achieved}) {} jobs measured after {} warm-up, {:.1}s{}",
        e.backend,
        e.number,
        fmt_value(p.value),
        if p.met { "met" } else { "FAILED" },
        figures.join(", "),
        p.jobs,
        p.warmup_jobs,
        p.elapsed_s,
        remeasured(p) + &given_up(p)
    )
}

/// `; stopped early: 1212 jobs were already later than the SLO allows, so it had failed`
/// when the probe was given up on ([`gilsim::capacity::doom`]).
fn given_up(p: &Probe) -> String {
    p.gave_up.map_or(String::new(), |n| {
        format!(
            "; stopped early: {n} jobs were already later than the SLO allows, so it had failed"
        )
    })
}

/// `; measured 2 times: the host stole 20 ms while it failed` when a
/// probe was measured again because the host stole CPU time.
fn remeasured(p: &Probe) -> String {
    if p.attempts.is_empty() {
        return String::new();
    }
    let stolen: f64 = p.attempts.iter().filter_map(|a| a.host_steal_ms).sum();
    format!(
        "; measured {} times: the host stole {stolen:.0} ms of CPU while it failed",
        p.attempts.len() + 1
    )
}

fn job_bar(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("  [{bar:30}] {pos}/{len} jobs {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
