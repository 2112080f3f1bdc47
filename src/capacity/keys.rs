//! Sweep keys (SPEC §5): the dotted paths `sweep --set KEY=V1,V2` and
//! `plan --vary KEY=LO..HI` change, and how a value is applied to a config.
//!
//! A key names one value of a config, by group name or backend label:
//! `seed`, `gil.switch_interval`, `gil.tick`, `group.NAME.jobs`,
//! `group.NAME.arrival.rate|closed|think`, `group.NAME.steps.I.cpu|io|native`,
//! `backend.LABEL.workers`, `backend.*.workers`, `backend.LABEL.processes`
//! and `cores` (virtual cores; model engine only).
//!
//! Values are applied to the config *document* (the TOML as written, with
//! the default backend set written out when a backend key needs it), and the
//! changed document goes through [`crate::config::parse`] again. So a value
//! is refused exactly when the config itself would refuse it, with the
//! config's own message, and a field the config learns later (such as a
//! backend's `processes`) needs no rule here.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::{self, Arrival, BackendKind, BackendSpec, ConfigError, Flavor, JobSet, Step};
use crate::engine::{Engine, MAX_MODEL_CORES};
use crate::error::Error;

/// A key or value that cannot be applied: bad input, so nothing runs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Self {
        Error::Usage(e.0)
    }
}

/// Which part of a group's step a `steps.I.KIND` key sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// `{ cpu = D }`.
    Cpu,
    /// `{ io = D }`.
    Io,
    /// `{ native = D }`.
    Native,
}

impl StepKind {
    /// The step key as written in a config.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Cpu => "cpu",
            StepKind::Io => "io",
            StepKind::Native => "native",
        }
    }

    fn of(step: &Step) -> Option<StepKind> {
        match step {
            Step::Cpu(_) => Some(StepKind::Cpu),
            Step::Io(_) => Some(StepKind::Io),
            Step::Native(_) => Some(StepKind::Native),
            _ => None,
        }
    }
}

/// Which backends a backend key applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Backends {
    /// `backend.*`: every backend that has workers.
    All,
    /// `backend.LABEL`.
    Label(String),
}

/// What a key points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `seed`.
    Seed,
    /// `gil.switch_interval`.
    SwitchInterval,
    /// `gil.tick`.
    Tick,
    /// `group.NAME.jobs`.
    Jobs(String),
    /// `group.NAME.arrival.rate` (open-loop groups).
    Rate(String),
    /// `group.NAME.arrival.closed` (closed-loop groups).
    Closed(String),
    /// `group.NAME.arrival.think` (closed-loop groups).
    Think(String),
    /// `group.NAME.steps.I.cpu|io|native` (top-level steps, from 0).
    Step {
        /// The group's name.
        group: String,
        /// The step's index among the group's top-level steps.
        index: usize,
        /// The step's kind; it must match the step's.
        kind: StepKind,
    },
    /// `backend.LABEL.workers` or `backend.*.workers`.
    Workers(Backends),
    /// `backend.LABEL.processes`.
    Processes(String),
    /// `cores`: the model engine's virtual cores.
    Cores,
}

/// What kind of value a key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A whole number (`1200`).
    Integer,
    /// Any finite number (`250.5`).
    Number,
    /// A fixed duration with a unit (`5ms`).
    Duration,
}

/// A parsed sweep key: where it points and how the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    text: String,
    target: Target,
}

impl Key {
    /// Parses a dotted path. Only the shape is checked here; whether this
    /// config has the group, backend or step is [`Base::key`]'s job.
    pub fn parse(text: &str) -> Result<Key, KeyError> {
        let target = parse_target(text.trim()).ok_or_else(|| {
            KeyError(format!(
                "unknown key `{text}`; keys look like seed, gil.switch_interval, gil.tick, \
                 group.NAME.jobs, group.NAME.arrival.rate|closed|think, \
                 group.NAME.steps.I.cpu|io|native, backend.LABEL.workers, backend.*.workers, \
                 backend.LABEL.processes, cores"
            ))
        })?;
        Ok(Key {
            text: text.trim().to_string(),
            target,
        })
    }

    /// The key as written (`group.web.arrival.rate`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// What the key points at.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// What kind of value it takes.
    pub fn kind(&self) -> ValueKind {
        match self.target {
            Target::Rate(_) => ValueKind::Number,
            Target::SwitchInterval | Target::Tick | Target::Think(_) | Target::Step { .. } => {
                ValueKind::Duration
            }
            Target::Seed
            | Target::Jobs(_)
            | Target::Closed(_)
            | Target::Workers(_)
            | Target::Processes(_)
            | Target::Cores => ValueKind::Integer,
        }
    }

    /// Whether the key counts concurrency (workers, processes, closed
    /// clients or cores): the N a Universal Scalability Law fit needs.
    pub fn is_concurrency(&self) -> bool {
        matches!(
            self.target,
            Target::Workers(_) | Target::Processes(_) | Target::Closed(_) | Target::Cores
        )
    }

    /// Parses one value as written on the command line (`5ms`, `1200`).
    pub fn value(&self, text: &str) -> Result<Value, KeyError> {
        let t = text.trim();
        let bad = |what: &str| KeyError(format!("{}={t}: expected {what}, found `{t}`", self.text));
        match self.kind() {
            ValueKind::Integer => t
                .parse::<i64>()
                .map(Value::Int)
                .map_err(|_| bad("a whole number such as 4")),
            ValueKind::Number => match t.parse::<i64>() {
                Ok(n) => Ok(Value::Int(n)),
                Err(_) => match t.parse::<f64>() {
                    Ok(x) if x.is_finite() => Ok(Value::Number(x)),
                    _ => Err(bad("a number such as 250 or 12.5")),
                },
            },
            ValueKind::Duration => match config::parse_duration(t) {
                Ok(_) => Ok(Value::Text(t.to_string())),
                Err(why) => Err(KeyError(format!("{}={t}: {why}", self.text))),
            },
        }
    }

    /// The value of this key nearest to `x` (in the unit of
    /// [`Value::as_f64`]: seconds for durations): rounded for whole-number
    /// keys, to the nanosecond for durations. For searches such as `plan`
    /// that move a key through numbers.
    pub fn value_from_f64(&self, x: f64) -> Value {
        match self.kind() {
            ValueKind::Integer => Value::Int(x.round() as i64),
            ValueKind::Number if x.fract() == 0.0 && x.abs() < 9.0e15 => Value::Int(x as i64),
            ValueKind::Number => Value::Number(x),
            ValueKind::Duration => Value::Text(format!("{}ns", (x.max(0.0) * 1e9).round() as u64)),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_target(text: &str) -> Option<Target> {
    match text {
        "seed" => return Some(Target::Seed),
        "gil.switch_interval" => return Some(Target::SwitchInterval),
        "gil.tick" => return Some(Target::Tick),
        "cores" => return Some(Target::Cores),
        _ => {}
    }
    if let Some(rest) = text.strip_prefix("group.") {
        return group_target(rest);
    }
    let rest = text.strip_prefix("backend.")?;
    if let Some(label) = rest.strip_suffix(".workers").filter(|l| !l.is_empty()) {
        return Some(Target::Workers(if label == "*" {
            Backends::All
        } else {
            Backends::Label(label.to_string())
        }));
    }
    let label = rest.strip_suffix(".processes").filter(|l| !l.is_empty())?;
    (label != "*").then(|| Target::Processes(label.to_string()))
}

/// `NAME.jobs`, `NAME.arrival.X` or `NAME.steps.I.KIND`; NAME may hold dots,
/// so the known tail is matched from the end.
fn group_target(rest: &str) -> Option<Target> {
    let named = |name: &str| (!name.is_empty()).then(|| name.to_string());
    if let Some(name) = rest.strip_suffix(".jobs") {
        return named(name).map(Target::Jobs);
    }
    if let Some(name) = rest.strip_suffix(".arrival.rate") {
        return named(name).map(Target::Rate);
    }
    if let Some(name) = rest.strip_suffix(".arrival.closed") {
        return named(name).map(Target::Closed);
    }
    if let Some(name) = rest.strip_suffix(".arrival.think") {
        return named(name).map(Target::Think);
    }
    let (head, kind) = rest.rsplit_once('.')?;
    let kind = match kind {
        "cpu" => StepKind::Cpu,
        "io" => StepKind::Io,
        "native" => StepKind::Native,
        _ => return None,
    };
    let (head, index) = head.rsplit_once('.')?;
    let index = index.parse::<usize>().ok()?;
    let group = head.strip_suffix(".steps")?;
    Some(Target::Step {
        group: named(group)?,
        index,
        kind,
    })
}

/// A value of a key, as written: whole numbers and numbers stay numbers,
/// durations stay text with their unit (`"5ms"`), so the JSON and the
/// tables show what the user typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Number(f64),
    /// A duration with its unit.
    Text(String),
}

impl Value {
    /// The value as a number: itself for numbers, seconds for durations
    /// (`None` for text that is not a duration).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(n) => Some(*n as f64),
            Value::Number(x) => Some(*x),
            Value::Text(t) => config::parse_duration(t).ok().map(|d| d.as_secs_f64()),
        }
    }

    fn to_toml(&self) -> toml::Value {
        match self {
            Value::Int(n) => toml::Value::Integer(*n),
            Value::Number(x) => toml::Value::Float(*x),
            Value::Text(t) => toml::Value::String(t.clone()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Number(x) => write!(f, "{x}"),
            Value::Text(t) => f.write_str(t),
        }
    }
}

/// One `--set KEY=V1,V2,...`: the key as written and its values as written.
pub fn split_set(arg: &str) -> Result<(&str, Vec<&str>), KeyError> {
    let (key, values) = arg.split_once('=').ok_or_else(|| {
        KeyError(format!(
            "--set {arg}: expected KEY=V1,V2,... (e.g. backend.*.workers=1,2,4)"
        ))
    })?;
    let values: Vec<&str> = values.split(',').map(str::trim).collect();
    if key.trim().is_empty() {
        return Err(KeyError(format!("--set {arg}: the key is empty")));
    }
    if values.iter().any(|v| v.is_empty()) {
        return Err(KeyError(format!(
            "--set {arg}: a value is empty; write values separated by commas, e.g. {}=1,2,4",
            key.trim()
        )));
    }
    // Two points with the same set and run index would be one point
    // measured twice under one name; `--runs` is the way to repeat.
    if let Some((i, v)) = values
        .iter()
        .enumerate()
        .find(|(i, v)| values[..*i].contains(v))
    {
        return Err(KeyError(format!(
            "--set {arg}: `{v}` is given twice (value {} of {}); to measure a point again, use --runs",
            i + 1,
            values.len()
        )));
    }
    Ok((key.trim(), values))
}

/// Key = value pairs in the order the keys were given, serialized as one
/// JSON object (`{"backend.*.workers": 4, "gil.switch_interval": "5ms"}`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Assignment(pub Vec<(String, Value)>);

impl Assignment {
    /// The value given to `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// `key=value key=value`, for progress lines and messages.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Serialize for Assignment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Assignment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Assignment;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of key = value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Assignment, A::Error> {
                let mut pairs = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    pairs.push((k, v));
                }
                Ok(Assignment(pairs))
            }
        }
        d.deserialize_map(Pairs)
    }
}

/// A loaded, validated config and its document, ready to take key values.
#[derive(Debug, Clone)]
pub struct Base {
    path: PathBuf,
    doc: toml::Table,
    set: JobSet,
}

impl Base {
    /// Reads and validates the config at `path` (a bad config is the usual
    /// config error).
    pub fn load(path: &Path) -> Result<Base, Error> {
        let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Base::parse(&source, path)
    }

    /// Validates config text; `path` names it in messages.
    pub fn parse(source: &str, path: &Path) -> Result<Base, Error> {
        let set = config::parse(source, path)?;
        let doc = source.parse::<toml::Table>().map_err(|e| {
            Error::Usage(format!(
                "{}: cannot take sweep keys: {}",
                path.display(),
                e.message()
            ))
        })?;
        Ok(Base {
            path: path.to_path_buf(),
            doc,
            set,
        })
    }

    /// The hex SHA-256 of the config as parsed (its TOML tables, in a
    /// canonical order), so that comments, layout and key order do not
    /// count but any value does: shards of one sweep carry the same one
    /// (`config_sha256`), and a config edited between two shards does not.
    pub fn sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        // A table parsed from TOML always writes back; Debug is as
        // deterministic should it not.
        let canonical = toml::to_string(&self.doc).unwrap_or_else(|_| format!("{:?}", self.doc));
        Sha256::digest(canonical.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The config as validated, before any key is applied.
    pub fn config(&self) -> &JobSet {
        &self.set
    }

    /// Every key this config has, in config order.
    pub fn keys(&self) -> Vec<String> {
        let mut keys = vec![
            "seed".to_string(),
            "gil.switch_interval".to_string(),
            "gil.tick".to_string(),
        ];
        for g in &self.set.groups {
            keys.push(format!("group.{}.jobs", g.name));
            match g.arrival {
                Arrival::Batch => {}
                Arrival::Closed { .. } => {
                    keys.push(format!("group.{}.arrival.closed", g.name));
                    keys.push(format!("group.{}.arrival.think", g.name));
                }
                Arrival::Open { .. } => keys.push(format!("group.{}.arrival.rate", g.name)),
            }
            for (i, step) in g.steps.iter().enumerate() {
                if let Some(kind) = StepKind::of(step) {
                    keys.push(format!("group.{}.steps.{i}.{}", g.name, kind.as_str()));
                }
            }
        }
        if self.set.backends.iter().any(has_workers) {
            keys.push("backend.*.workers".to_string());
        }
        for b in &self.set.backends {
            keys.push(format!("backend.{}.workers", b.name));
            keys.push(format!("backend.{}.processes", b.name));
        }
        keys.push("cores".to_string());
        keys
    }

    /// Parses `text` as a key and checks this config has what it names.
    pub fn key(&self, text: &str) -> Result<Key, KeyError> {
        let unknown = |why: String| {
            KeyError(format!(
                "{why}; this config's keys: {} (cores: model engine only)",
                self.keys().join(", ")
            ))
        };
        let key =
            Key::parse(text).map_err(|_| unknown(format!("unknown key `{}`", text.trim())))?;
        match key.target() {
            Target::Seed | Target::SwitchInterval | Target::Tick | Target::Cores => {}
            Target::Jobs(g) => {
                self.group_index(g).map_err(unknown)?;
            }
            Target::Rate(g) | Target::Closed(g) | Target::Think(g) => {
                let i = self.group_index(g).map_err(unknown)?;
                let open = matches!(self.set.groups[i].arrival, Arrival::Open { .. });
                let closed = matches!(self.set.groups[i].arrival, Arrival::Closed { .. });
                let fits = match key.target() {
                    Target::Rate(_) => open,
                    _ => closed,
                };
                if !fits {
                    let has = if open {
                        "an open-loop arrival ({ rate = R })"
                    } else if closed {
                        "a closed-loop arrival ({ closed = C })"
                    } else {
                        "a batch arrival"
                    };
                    return Err(unknown(format!("key `{key}`: group `{g}` has {has}")));
                }
            }
            Target::Step { group, index, kind } => {
                let i = self.group_index(group).map_err(unknown)?;
                let steps = &self.set.groups[i].steps;
                match steps.get(*index).map(StepKind::of) {
                    None => {
                        return Err(unknown(format!(
                            "key `{key}`: group `{group}` has {} top-level steps (counted from 0)",
                            steps.len()
                        )))
                    }
                    Some(found) if found != Some(*kind) => {
                        return Err(unknown(format!(
                            "key `{key}`: step {index} of group `{group}` is not a {} step",
                            kind.as_str()
                        )))
                    }
                    Some(_) => {}
                }
            }
            Target::Workers(Backends::All) => {
                if !self.set.backends.iter().any(has_workers) {
                    return Err(unknown(format!(
                        "key `{key}`: no backend of this config has workers"
                    )));
                }
            }
            Target::Workers(Backends::Label(l)) | Target::Processes(l) => {
                self.backend_index(l).map_err(unknown)?;
            }
        }
        Ok(key)
    }

    /// Parses one `--set KEY=V1,V2,...` against this config.
    pub fn set_arg(&self, arg: &str) -> Result<(Key, Vec<Value>), KeyError> {
        let (key, values) = split_set(arg)?;
        let key = self.key(key)?;
        let values = values
            .into_iter()
            .map(|v| key.value(v))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((key, values))
    }

    /// The config and engine with every `(key, value)` applied, checked as
    /// the config would be: a value it would refuse is a [`KeyError`] with
    /// the config's own message. `cores` sets the model engine's virtual
    /// cores and is refused on the real engine.
    pub fn apply(
        &self,
        values: &[(Key, Value)],
        engine: Engine,
    ) -> Result<(JobSet, Engine), KeyError> {
        let mut doc = self.doc.clone();
        let mut engine = engine;
        for (key, value) in values {
            let at = |what: String| KeyError(format!("{key}={value}: {what}"));
            if key.target() == &Target::Cores {
                engine = cores(engine, value).map_err(at)?;
            } else {
                self.write(&mut doc, key, value).map_err(at)?;
            }
        }
        if values.iter().all(|(k, _)| k.target() == &Target::Cores) {
            return Ok((self.set.clone(), engine));
        }
        let text = toml::to_string(&doc)
            .map_err(|e| KeyError(format!("cannot write the changed config: {e}")))?;
        match config::parse(&text, &self.path) {
            Ok(set) => Ok((set, engine)),
            Err(e) => Err(KeyError(format!(
                "{}: {}",
                values
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                refusal(&e)
            ))),
        }
    }

    /// Writes one value into the document.
    fn write(&self, doc: &mut toml::Table, key: &Key, value: &Value) -> Result<(), String> {
        let v = value.to_toml();
        match key.target() {
            Target::Seed => {
                doc.insert("seed".into(), v);
            }
            Target::SwitchInterval | Target::Tick => {
                let field = if key.target() == &Target::Tick {
                    "tick"
                } else {
                    "switch_interval"
                };
                table_at(doc, "gil")?.insert(field.into(), v);
            }
            Target::Jobs(g) => {
                self.group_table(doc, g)?.insert("jobs".into(), v);
            }
            Target::Rate(g) | Target::Closed(g) | Target::Think(g) => {
                let field = match key.target() {
                    Target::Rate(_) => "rate",
                    Target::Closed(_) => "closed",
                    _ => "think",
                };
                let group = self.group_table(doc, g)?;
                table_at(group, "arrival")?.insert(field.into(), v);
            }
            Target::Step { group, index, kind } => {
                let table = self.group_table(doc, group)?;
                let step = table
                    .get_mut("steps")
                    .and_then(toml::Value::as_array_mut)
                    .and_then(|s| s.get_mut(*index))
                    .and_then(toml::Value::as_table_mut)
                    .ok_or_else(|| format!("group `{group}` has no step {index}"))?;
                step.insert(kind.as_str().into(), v);
            }
            Target::Workers(Backends::All) => {
                let targets: Vec<usize> = (0..self.set.backends.len())
                    .filter(|&i| has_workers(&self.set.backends[i]))
                    .collect();
                for i in targets {
                    self.backend_table(doc, i)?
                        .insert("workers".into(), v.clone());
                }
            }
            Target::Workers(Backends::Label(l)) => {
                let i = self.backend_index(l)?;
                self.backend_table(doc, i)?.insert("workers".into(), v);
            }
            Target::Processes(l) => {
                // The config's validator owns `processes`' rules (SPEC §2).
                let i = self.backend_index(l)?;
                self.backend_table(doc, i)?.insert("processes".into(), v);
            }
            Target::Cores => {}
        }
        Ok(())
    }

    fn group_index(&self, name: &str) -> Result<usize, String> {
        self.set
            .groups
            .iter()
            .position(|g| g.name == name)
            .ok_or_else(|| format!("no group named `{name}`"))
    }

    fn backend_index(&self, label: &str) -> Result<usize, String> {
        self.set
            .backends
            .iter()
            .position(|b| b.name == label)
            .ok_or_else(|| format!("no backend labelled `{label}`"))
    }

    /// The raw table of a group: validated groups are the `[[group]]`
    /// tables in file order.
    fn group_table<'a>(
        &self,
        doc: &'a mut toml::Table,
        name: &str,
    ) -> Result<&'a mut toml::Table, String> {
        let i = self.group_index(name)?;
        doc.get_mut("group")
            .and_then(toml::Value::as_array_mut)
            .and_then(|a| a.get_mut(i))
            .and_then(toml::Value::as_table_mut)
            .ok_or_else(|| format!("group `{name}` is not a table in the config"))
    }

    /// The raw table of backend `i`; a config without `[[backend]]` gets
    /// the default set written out first, so it can take a value.
    fn backend_table<'a>(
        &self,
        doc: &'a mut toml::Table,
        i: usize,
    ) -> Result<&'a mut toml::Table, String> {
        if !doc.contains_key("backend") {
            let defaults = BackendSpec::default_set()
                .iter()
                .map(|b| {
                    let mut t = toml::Table::new();
                    t.insert("kind".into(), b.kind.as_str().into());
                    t.insert("gil".into(), b.gil.into());
                    toml::Value::Table(t)
                })
                .collect();
            doc.insert("backend".into(), toml::Value::Array(defaults));
        }
        doc.get_mut("backend")
            .and_then(toml::Value::as_array_mut)
            .and_then(|a| a.get_mut(i))
            .and_then(toml::Value::as_table_mut)
            .ok_or_else(|| format!("backend {i} is not a table in the config"))
    }
}

/// Whether `backend.*.workers` sets this backend: every kind but a
/// one-thread tokio runtime (current_thread, asyncio), which has exactly
/// one worker.
fn has_workers(b: &BackendSpec) -> bool {
    !(b.kind == BackendKind::Tokio && b.flavor.is_some_and(Flavor::one_thread))
}

/// The sub-table `name` of `doc`, created when absent.
fn table_at<'a>(doc: &'a mut toml::Table, name: &str) -> Result<&'a mut toml::Table, String> {
    doc.entry(name)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .ok_or_else(|| format!("`{name}` is not a table in the config"))
}

fn cores(engine: Engine, value: &Value) -> Result<Engine, String> {
    let Engine::Model { .. } = engine else {
        return Err("`cores` sets the model engine's virtual cores; add --engine model".into());
    };
    match value {
        Value::Int(n) if (1..=MAX_MODEL_CORES as i64).contains(n) => {
            Ok(Engine::Model { cores: *n as usize })
        }
        _ => Err(format!("`cores` must be from 1 to {MAX_MODEL_CORES}")),
    }
}

/// The config's messages, without positions in a document the user never
/// wrote.
fn refusal(e: &ConfigError) -> String {
    match e {
        ConfigError::Invalid { problem, more, .. } => {
            let mut messages: Vec<&str> = vec![problem.message.as_str()];
            messages.extend(more.iter().map(|p| p.message.as_str()));
            messages.join("; ")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB: &str = r#"
name = "web"
seed = 7

[[backend]]
kind = "threads"
gil = true
workers = 4

[[backend]]
kind = "tokio"
flavor = "current_thread"

[[backend]]
kind = "rayon"

[[group]]
name = "requests"
jobs = 100
arrival = { rate = 200 }
steps = [{ io = "1ms" }, { cpu = "100us" }, { repeat = 2, steps = [{ io = "1ms" }] }]

[[group]]
name = "clients.v2"
jobs = 10
arrival = { closed = 2, think = "1ms" }
steps = [{ native = "1ms" }]

[[group]]
name = "batch"
steps = [{ cpu = "1ms" }]
"#;

    fn base() -> Base {
        Base::parse(WEB, Path::new("web.toml")).expect("the test config is valid")
    }

    fn apply(b: &Base, pairs: &[(&str, &str)]) -> Result<(JobSet, Engine), KeyError> {
        apply_on(b, pairs, Engine::Real)
    }

    fn apply_on(
        b: &Base,
        pairs: &[(&str, &str)],
        engine: Engine,
    ) -> Result<(JobSet, Engine), KeyError> {
        let values = pairs
            .iter()
            .map(|(k, v)| {
                let key = b.key(k)?;
                let value = key.value(v)?;
                Ok((key, value))
            })
            .collect::<Result<Vec<_>, KeyError>>()?;
        b.apply(&values, engine)
    }

    #[test]
    fn every_listed_key_parses_against_its_config() {
        let b = base();
        let keys = b.keys();
        for k in &keys {
            b.key(k).unwrap_or_else(|e| panic!("{k}: {e}"));
        }
        assert!(keys.contains(&"group.clients.v2.arrival.think".to_string()));
        assert!(keys.contains(&"group.requests.steps.1.cpu".to_string()));
        // A repeat step has no duration key; the batch group has no arrival key.
        assert!(!keys.iter().any(|k| k.starts_with("group.requests.steps.2")));
        assert!(!keys.iter().any(|k| k.starts_with("group.batch.arrival")));
    }

    #[test]
    fn values_land_where_the_key_points() {
        let b = base();
        let (set, _) = apply(
            &b,
            &[
                ("seed", "9"),
                ("gil.switch_interval", "10ms"),
                ("gil.tick", "2us"),
                ("group.requests.jobs", "50"),
                ("group.requests.arrival.rate", "350.5"),
                ("group.clients.v2.arrival.closed", "3"),
                ("group.clients.v2.arrival.think", "2ms"),
                ("group.requests.steps.0.io", "3ms"),
                ("group.clients.v2.steps.0.native", "4ms"),
                ("backend.rayon.workers", "2"),
            ],
        )
        .expect("all values are valid");
        let ms = std::time::Duration::from_millis;
        assert_eq!(set.seed, 9);
        assert_eq!(set.gil.switch_interval, ms(10));
        assert_eq!(set.gil.tick, std::time::Duration::from_micros(2));
        assert_eq!(set.groups[0].jobs, 50);
        assert!(matches!(set.groups[0].arrival, Arrival::Open { rate, .. } if rate == 350.5));
        assert!(matches!(
            &set.groups[1].arrival,
            Arrival::Closed { clients: 3, think: Some(config::DurationSpec::Fixed(d)) } if *d == ms(2)
        ));
        assert_eq!(
            set.groups[0].steps[0],
            Step::Io(config::DurationSpec::Fixed(ms(3)))
        );
        assert_eq!(
            set.groups[1].steps[0],
            Step::Native(config::DurationSpec::Fixed(ms(4)))
        );
        assert_eq!(set.backends[2].workers, 2);
        // Untouched parts stay as they were.
        assert_eq!(set.backends[0].workers, 4);
        assert_eq!(set.groups[2], b.config().groups[2]);
        assert_eq!(set.name, "web");
    }

    #[test]
    fn star_workers_skips_current_thread_and_fills_in_default_backends() {
        let (set, _) = apply(&base(), &[("backend.*.workers", "1")]).expect("valid");
        let workers: Vec<usize> = set.backends.iter().map(|b| b.workers).collect();
        assert_eq!(workers, vec![1, 0, 1]);

        let plain = Base::parse(
            "[[group]]\nsteps = [{ cpu = \"1ms\" }]\n",
            Path::new("plain.toml"),
        )
        .expect("valid");
        let (set, _) = apply(&plain, &[("backend.threads+gil.workers", "3")]).expect("valid");
        let expected: Vec<String> = BackendSpec::default_set()
            .into_iter()
            .map(|b| b.name)
            .collect();
        let names: Vec<String> = set.backends.iter().map(|b| b.name.clone()).collect();
        assert_eq!(names, expected);
        assert_eq!(set.backends[1].workers, 3);
        assert_eq!(set.backends[0].workers, 0);
    }

    #[test]
    fn unknown_keys_list_this_configs_keys() {
        let b = base();
        for bad in [
            "nope",
            "group.nope.jobs",
            "group.requests.arrival.closed",
            "group.batch.arrival.rate",
            "group.requests.steps.1.io",
            "group.requests.steps.9.cpu",
            "group.requests.steps.2.io",
            "backend.nope.workers",
            "backend.*.processes",
            "group..jobs",
        ] {
            let e = b.key(bad).expect_err(bad).0;
            assert!(e.contains("this config's keys: seed,"), "{bad}: {e}");
            assert!(e.contains("group.clients.v2.arrival.closed"), "{bad}: {e}");
        }
    }

    #[test]
    fn values_the_config_refuses_are_refused_with_its_message() {
        let b = base();
        let cases = [
            (("group.requests.jobs", "0"), "`jobs` must be at least 1"),
            (("backend.tokio.workers", "2"), "exactly one worker"),
            (
                ("gil.tick", "6ms"),
                "must not be longer than `switch_interval`",
            ),
            (("gil.switch_interval", "0ms"), "greater than 0"),
            (("group.requests.arrival.rate", "0"), "`rate` must be"),
            (
                ("group.clients.v2.arrival.closed", "0"),
                "`closed` must be at least 1",
            ),
            (
                ("backend.rayon.workers", "100000"),
                "`workers` must be at most",
            ),
        ];
        for ((k, v), want) in cases {
            let e = apply(&b, &[(k, v)]).expect_err(k).0;
            assert!(e.contains(want), "{k}={v}: {e}");
            assert!(e.starts_with(&format!("{k}={v}")), "{k}={v}: {e}");
        }
    }

    #[test]
    fn malformed_values_are_refused_before_applying() {
        let b = base();
        for (k, v) in [
            ("group.requests.jobs", "ten"),
            ("group.requests.jobs", "1.5"),
            ("group.requests.arrival.rate", "fast"),
            ("group.requests.arrival.rate", "inf"),
            ("gil.tick", "5"),
            ("gil.tick", "5 parsecs"),
            ("seed", "-"),
        ] {
            let key = b.key(k).expect("known key");
            let e = key.value(v).expect_err(v).0;
            assert!(e.starts_with(&format!("{k}={v}")), "{e}");
        }
    }

    #[test]
    fn processes_is_applied_and_checked_by_the_config() {
        let b = base();
        let (set, _) = apply(&b, &[("backend.rayon.processes", "3")]).expect("valid");
        assert_eq!(set.backends[2].processes, 3);
        assert_eq!(set.backends[0].processes, 1);
        let e = apply(&b, &[("backend.rayon.processes", "0")])
            .expect_err("refused")
            .0;
        assert!(e.contains("`processes` must be at least 1"), "{e}");
    }

    #[test]
    fn cores_needs_the_model_engine() {
        let b = base();
        let e = apply(&b, &[("cores", "4")]).expect_err("real engine").0;
        assert!(e.contains("--engine model"), "{e}");
        let (_, engine) =
            apply_on(&b, &[("cores", "4")], Engine::Model { cores: 2 }).expect("model engine");
        assert_eq!(engine, Engine::Model { cores: 4 });
        let e = apply_on(&b, &[("cores", "0")], Engine::Model { cores: 2 })
            .expect_err("zero cores")
            .0;
        assert!(e.contains("from 1"), "{e}");
    }

    #[test]
    fn set_args_split_into_values() {
        let b = base();
        let (key, values) = b.set_arg("backend.*.workers=1, 2,4").expect("valid");
        assert_eq!(key.as_str(), "backend.*.workers");
        assert!(key.is_concurrency());
        assert_eq!(values, vec![Value::Int(1), Value::Int(2), Value::Int(4)]);
        for bad in ["backend.*.workers", "=1,2", "seed=1,,2", "seed="] {
            assert!(b.set_arg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_round_trip_through_json_and_numbers() {
        let a = Assignment(vec![
            ("b".into(), Value::Int(4)),
            ("a".into(), Value::Text("5ms".into())),
            ("c".into(), Value::Number(2.5)),
        ]);
        let json = serde_json::to_string(&a).expect("serializes");
        assert_eq!(json, r#"{"b":4,"a":"5ms","c":2.5}"#);
        let back: Assignment = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, a);
        let key = Key::parse("gil.tick").expect("valid");
        let v = key.value_from_f64(0.0015);
        assert_eq!(v.as_f64(), Some(0.0015));
        assert_eq!(
            Key::parse("seed").expect("valid").value_from_f64(3.6),
            Value::Int(4)
        );
    }
}
