//! `--trace FILE`: a Chrome trace-event file (Perfetto, chrome://tracing).
//!
//! A [`ChromeLayer`] records gilsim's spans (run, job, step, gil_wait,
//! lock_wait) as begin/end events on the track of the OS thread that
//! entered them, so async tasks show up on the thread that polled them, and
//! the `queue` and `gil_hold` events (finished intervals that carry their
//! duration: a queue starts before its job exists on a thread, and a hold
//! outlives any one step) as slices on the same tracks. After
//! the runs, [`TraceRecorder::write`] adds one "GIL" track per GIL run from
//! the holds the GIL logged: who held it, when.
//!
//! Why not tracing-chrome: it has no cap on events and no way to add a
//! synthetic track; both matter here (a large run can emit millions of
//! spans, and the GIL timeline is the point of the trace).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use serde_json::{json, Value};
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::metrics::RunMeasurement;
use crate::work::gil::thread_token;

/// Default for `--trace-limit`.
pub const DEFAULT_LIMIT: usize = 2_000_000;

/// Process id used for the GIL tracks (threads live under pid 1).
const GIL_PID: u64 = 2;

/// Added to a model run's virtual thread ids in the trace.
pub const VIRTUAL_TID: u64 = 1 << 40;

/// Events carrying `dur_ns` that the layer draws as finished intervals.
const INTERVAL_EVENTS: [&str; 2] = ["queue", "gil_hold"];

#[derive(Debug, Clone)]
struct Event {
    begin: bool,
    /// Set for a finished interval (drawn as one "X" slice ending at ts).
    dur_ns: Option<u64>,
    name: &'static str,
    tid: u64,
    ts_ns: u64,
    args: Option<Arc<str>>,
}

/// Collects trace events from many threads, up to a limit.
#[derive(Debug)]
pub struct TraceRecorder {
    epoch: Instant,
    limit: usize,
    events: Mutex<Vec<Event>>,
    count: AtomicUsize,
    dropped: AtomicU64,
    threads: Mutex<BTreeMap<u64, String>>,
}

/// A run's GIL holds, to be drawn as a track.
struct GilTrack {
    label: String,
    holds: Vec<(u64, u64, u64)>,
}

impl TraceRecorder {
    /// A recorder keeping at most `limit` span events.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            limit,
            events: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            threads: Mutex::new(BTreeMap::new()),
        })
    }

    /// The layer that feeds this recorder.
    pub fn layer(self: &Arc<Self>) -> ChromeLayer {
        ChromeLayer { rec: self.clone() }
    }

    fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    fn push(&self, e: Event) {
        // A begin without its end would corrupt the picture, so once the
        // cap is hit, ends of already-begun spans are still kept (bounded
        // by the open spans) and only new begins are dropped.
        if (e.begin || e.dur_ns.is_some())
            && self.count.fetch_add(1, Ordering::Relaxed) >= self.limit
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.name_thread(e.tid);
        self.events.lock().push(e);
    }

    fn name_thread(&self, tid: u64) {
        thread_local! {
            static NAMED: Cell<bool> = const { Cell::new(false) };
        }
        NAMED.with(|named| {
            if !named.get() {
                named.set(true);
                let name = std::thread::current()
                    .name()
                    .unwrap_or("thread")
                    .to_string();
                self.threads.lock().insert(tid, name);
            }
        });
    }

    /// Span begins dropped because of the limit.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes the trace with a GIL track for every run that had one to
    /// `out` (the caller writes it whole or not at all, with
    /// [`crate::fsout::write_atomic`], after checking before the runs that
    /// the path can be written).
    pub fn write(&self, out: &mut dyn Write, runs: &[RunMeasurement]) -> std::io::Result<()> {
        let tracks: Vec<GilTrack> = runs
            .iter()
            .filter(|m| m.gil.is_some())
            .map(|m| GilTrack {
                label: format!("GIL: {}", m.backend.name),
                holds: m
                    .gil_holds
                    .iter()
                    .map(|h| (h.thread, self.ns(h.start), self.ns(h.end)))
                    .collect(),
            })
            .collect();
        self.write_to(out, &tracks, runs)?;
        out.flush()
    }

    fn write_to(
        &self,
        out: &mut dyn Write,
        tracks: &[GilTrack],
        runs: &[RunMeasurement],
    ) -> std::io::Result<()> {
        let dropped = self.dropped();
        let mut threads = self.threads.lock().clone();
        // Model runs' virtual threads: their ids start above every real
        // thread token, so the two never share a track.
        for m in runs {
            if let Some(sim) = &m.sim {
                for (tid, name) in &sim.thread_names {
                    threads.insert(VIRTUAL_TID + tid, format!("{name} (virtual)"));
                }
            }
        }
        let mut first = true;
        let mut emit = |out: &mut dyn Write, v: &Value| -> std::io::Result<()> {
            out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            serde_json::to_writer(&mut *out, v).map_err(std::io::Error::from)
        };
        out.write_all(b"{\"displayTimeUnit\":\"ms\",\"otherData\":")?;
        let note = if dropped > 0 {
            format!(
                "capped: {dropped} span events dropped beyond --trace-limit {}",
                self.limit
            )
        } else {
            "complete".to_string()
        };
        serde_json::to_writer(
            &mut *out,
            &json!({ "generator": "gilsim", "events": note, "dropped": dropped }),
        )?;
        out.write_all(b",\"traceEvents\":[")?;
        emit(
            out,
            &json!({"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "gilsim threads"}}),
        )?;
        emit(
            out,
            &json!({"ph": "M", "name": "process_name", "pid": GIL_PID, "args": {"name": "GIL"}}),
        )?;
        for (tid, name) in &threads {
            emit(
                out,
                &json!({"ph": "M", "name": "thread_name", "pid": 1, "tid": tid, "args": {"name": name}}),
            )?;
        }
        for e in self.events.lock().iter() {
            let mut v = match e.dur_ns {
                Some(d) => json!({"ph": "X", "name": e.name, "pid": 1, "tid": e.tid,
                    "ts": e.ts_ns.saturating_sub(d) as f64 / 1e3, "dur": d as f64 / 1e3}),
                None => {
                    json!({"ph": if e.begin { "B" } else { "E" }, "name": e.name, "pid": 1, "tid": e.tid, "ts": e.ts_ns as f64 / 1e3})
                }
            };
            if let Some(a) = &e.args {
                v["args"] = json!({ "fields": a.as_ref() });
            }
            emit(out, &v)?;
        }
        for m in runs {
            let Some(sim) = &m.sim else { continue };
            let base = sim.base.map_or(0, |b| self.ns(b));
            for span in sim.spans.iter().take(self.limit) {
                let mut v = json!({"ph": "X", "name": span.name, "pid": 1, "tid": VIRTUAL_TID + span.tid,
                    "ts": (base + span.start_ns) as f64 / 1e3, "dur": span.end_ns.saturating_sub(span.start_ns) as f64 / 1e3});
                if let Some(a) = &span.args {
                    v["args"] = json!({ "fields": a });
                }
                emit(out, &v)?;
            }
        }
        for (i, track) in tracks.iter().enumerate() {
            let tid = i as u64 + 1;
            emit(
                out,
                &json!({"ph": "M", "name": "thread_name", "pid": GIL_PID, "tid": tid, "args": {"name": track.label}}),
            )?;
            for (holder, start, end) in track.holds.iter().take(self.limit) {
                let who = threads
                    .get(holder)
                    .cloned()
                    .unwrap_or_else(|| format!("thread {holder}"));
                emit(
                    out,
                    &json!({"ph": "X", "name": who, "pid": GIL_PID, "tid": tid, "ts": *start as f64 / 1e3, "dur": (end - start) as f64 / 1e3, "args": {"holder": holder}}),
                )?;
            }
        }
        out.write_all(b"\n]}\n")
    }
}

/// Span fields rendered once at creation, stored in the span's extensions.
struct Fields(Arc<str>);

/// The `tracing` layer behind `--trace`.
pub struct ChromeLayer {
    rec: Arc<TraceRecorder>,
}

impl<S> Layer<S> for ChromeLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut visitor = FieldText(String::new());
        attrs.record(&mut visitor);
        if let (false, Some(span)) = (visitor.0.is_empty(), ctx.span(id)) {
            span.extensions_mut().insert(Fields(visitor.0.into()));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let name = event.metadata().name();
        if !INTERVAL_EVENTS.contains(&name) {
            return;
        }
        let mut dur = DurField(None);
        event.record(&mut dur);
        if let Some(d) = dur.0 {
            self.rec.push(Event {
                begin: false,
                dur_ns: Some(d),
                name,
                tid: thread_token(),
                ts_ns: self.rec.ns(Instant::now()),
                args: None,
            });
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.edge(id, &ctx, true);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.edge(id, &ctx, false);
    }
}

impl ChromeLayer {
    fn edge<S>(&self, id: &Id, ctx: &Context<'_, S>, begin: bool)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(span) = ctx.span(id) else { return };
        let args = if begin {
            span.extensions().get::<Fields>().map(|f| f.0.clone())
        } else {
            None
        };
        self.rec.push(Event {
            begin,
            dur_ns: None,
            name: span.metadata().name(),
            tid: thread_token(),
            ts_ns: self.rec.ns(Instant::now()),
            args,
        });
    }
}

/// Picks the `dur_ns` field out of an interval event.
struct DurField(Option<u64>);

impl tracing::field::Visit for DurField {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "dur_ns" {
            self.0 = Some(value);
        }
    }

    fn record_debug(&mut self, _field: &tracing::field::Field, _value: &dyn std::fmt::Debug) {}
}

/// Renders span fields as `k=v k=v`.
struct FieldText(String);

impl tracing::field::Visit for FieldText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        let _ = write!(self.0, "{}={:?}", field.name(), value);
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        let _ = write!(self.0, "{}={}", field.name(), value);
    }
}
