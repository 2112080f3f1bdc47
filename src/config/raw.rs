//! The config as written: serde mirrors of the TOML tables.
//!
//! These types check shape only — which keys exist, and the type of each
//! value — so that serde and toml report those problems with exact
//! positions. Every value a later rule may complain about is kept in a
//! [`Spanned`], so that `validate` can point at it too. Meaning (ranges,
//! cross-field rules, defaults) is `validate`'s job.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use toml::Spanned;

use super::duration::{FixedDuration, RawDuration};
use super::keyword::{Keyword, Kw};
use super::model::{ArrivalProcess, BackendKind, CpuMode, Dispatch, Flavor, Guard};

/// The whole file.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a config table")]
pub(crate) struct RawConfig {
    pub name: Option<Spanned<String>>,
    pub description: Option<String>,
    pub seed: Option<Spanned<RawInt>>,
    pub gil: Option<RawGil>,
    pub model: Option<RawModel>,
    #[serde(default)]
    pub backend: Vec<Spanned<RawBackend>>,
    #[serde(default)]
    pub group: Vec<Spanned<RawGroup>>,
}

/// `[gil]`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [gil] table")]
pub(crate) struct RawGil {
    pub switch_interval: Option<Spanned<FixedDuration>>,
    pub tick: Option<Spanned<FixedDuration>>,
    pub counter_inside_share: Option<Spanned<RawNumber>>,
    pub timer_slack: Option<Spanned<FixedDuration>>,
    pub cost: Option<RawGilCost>,
}

/// `[gil.cost]`: the interpreter's own cost per operation.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [gil.cost] table")]
pub(crate) struct RawGilCost {
    pub task: Option<Spanned<FixedDuration>>,
    pub resume: Option<Spanned<FixedDuration>>,
    pub io_call: Option<Spanned<FixedDuration>>,
    pub submit: Option<Spanned<FixedDuration>>,
    pub complete: Option<Spanned<FixedDuration>>,
}

/// `[model]`: settings of the model engine (SPEC §6).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [model] table")]
pub(crate) struct RawModel {
    pub cores: Option<Spanned<RawInt>>,
}

/// One `[[backend]]`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[backend]] table")]
pub(crate) struct RawBackend {
    pub kind: Spanned<Kw<BackendKind>>,
    pub gil: Option<bool>,
    pub name: Option<Spanned<String>>,
    pub workers: Option<Spanned<RawInt>>,
    pub flavor: Option<Spanned<Kw<Flavor>>>,
    pub cpu_mode: Option<Spanned<Kw<CpuMode>>>,
    pub processes: Option<Spanned<RawInt>>,
    pub dispatch: Option<Spanned<Kw<Dispatch>>>,
}

/// One `[[group]]`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[group]] table")]
pub(crate) struct RawGroup {
    pub name: Option<Spanned<String>>,
    pub jobs: Option<Spanned<RawInt>>,
    pub arrival: Option<Spanned<RawArrival>>,
    pub steps: Spanned<Vec<Spanned<RawStep>>>,
}

/// A step table with every key any step kind may use. Which kind it is,
/// and whether its keys fit that kind, is decided in `step.rs`, where the
/// spans are at hand (an untagged enum would only say "data did not match
/// any variant").
#[derive(Debug, serde::Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a step table such as { cpu = \"1ms\" }"
)]
pub(crate) struct RawStep {
    pub cpu: Option<Spanned<RawDuration>>,
    pub native: Option<Spanned<RawDuration>>,
    pub io: Option<Spanned<RawDuration>>,
    pub lock: Option<Spanned<String>>,
    pub counter: Option<Spanned<String>>,
    pub add: Option<Spanned<RawInt>>,
    pub guard: Option<Spanned<Kw<Guard>>>,
    pub switch_inside: Option<Spanned<bool>>,
    pub repeat: Option<Spanned<RawInt>>,
    pub steps: Option<Spanned<Vec<Spanned<RawStep>>>>,
}

/// `arrival = ...`: the string `"batch"` or a table.
#[derive(Debug)]
pub(crate) enum RawArrival {
    Batch,
    Table(Box<RawArrivalTable>),
}

/// The table form of an arrival, before deciding closed vs open.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "an arrival table")]
pub(crate) struct RawArrivalTable {
    pub closed: Option<Spanned<RawInt>>,
    pub think: Option<Spanned<RawDuration>>,
    pub rate: Option<Spanned<RawNumber>>,
    pub process: Option<Spanned<Kw<ArrivalProcess>>>,
}

const ARRIVAL_FORMS: &str =
    "\"batch\", { closed = C, think = D } or { rate = R, process = \"poisson\" }";

impl<'de> Deserialize<'de> for RawArrival {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ArrivalVisitor)
    }
}

struct ArrivalVisitor;

impl<'de> Visitor<'de> for ArrivalVisitor {
    type Value = RawArrival;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an arrival ({ARRIVAL_FORMS})")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawArrival, E> {
        if v == "batch" {
            Ok(RawArrival::Batch)
        } else {
            Err(E::custom(format!(
                "unknown arrival {v:?}, expected {ARRIVAL_FORMS}"
            )))
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawArrival, A::Error> {
        RawArrivalTable::deserialize(MapAccessDeserializer::new(map))
            .map(|t| RawArrival::Table(Box::new(t)))
    }
}

/// A TOML integer of any size toml accepts (up to `u64::MAX`), so that
/// ranges are checked — and reported — by `validate`, with the key's name,
/// instead of by serde's "expected u64".
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RawInt(pub i128);

impl<'de> Deserialize<'de> for RawInt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IntVisitor)
    }
}

struct IntVisitor;

impl<'de> Visitor<'de> for IntVisitor {
    type Value = RawInt;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawInt, E> {
        Ok(RawInt(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawInt, E> {
        Ok(RawInt(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawInt, E> {
        Ok(RawInt(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawInt, E> {
        // Anything this large is out of every range anyway.
        Ok(RawInt(i128::try_from(v).unwrap_or(i128::MAX)))
    }
}

/// A TOML integer or float, as `f64` (`rate = 100` and `rate = 0.5` both
/// make sense).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RawNumber(pub f64);

impl<'de> Deserialize<'de> for RawNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NumberVisitor)
    }
}

struct NumberVisitor;

impl<'de> Visitor<'de> for NumberVisitor {
    type Value = RawNumber;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawNumber, E> {
        Ok(RawNumber(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawNumber, E> {
        Ok(RawNumber(v as f64))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawNumber, E> {
        Ok(RawNumber(v as f64))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawNumber, E> {
        Ok(RawNumber(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawNumber, E> {
        Ok(RawNumber(v))
    }
}

impl Keyword for BackendKind {
    const WHAT: &'static str = "backend kind";
    const ALL: &'static [Self] = &[
        BackendKind::Threads,
        BackendKind::Rayon,
        BackendKind::Tokio,
        BackendKind::AsyncStd,
        BackendKind::Smol,
    ];
    fn keyword(self) -> &'static str {
        self.as_str()
    }
}

impl Keyword for Flavor {
    const WHAT: &'static str = "tokio flavor";
    const ALL: &'static [Self] = &[Flavor::MultiThread, Flavor::CurrentThread, Flavor::Asyncio];
    fn keyword(self) -> &'static str {
        self.as_str()
    }
}

impl Keyword for CpuMode {
    const WHAT: &'static str = "cpu_mode";
    const ALL: &'static [Self] = &[CpuMode::Inline, CpuMode::SpawnBlocking, CpuMode::Rayon];
    fn keyword(self) -> &'static str {
        self.as_str()
    }
}

impl Keyword for Dispatch {
    const WHAT: &'static str = "dispatch";
    const ALL: &'static [Self] = &[Dispatch::SharedQueue, Dispatch::Random];
    fn keyword(self) -> &'static str {
        self.as_str()
    }
}

impl Keyword for Guard {
    const WHAT: &'static str = "counter guard";
    const ALL: &'static [Self] = &[Guard::None, Guard::Lock, Guard::Atomic];
    fn keyword(self) -> &'static str {
        self.as_str()
    }
}

impl Keyword for ArrivalProcess {
    const WHAT: &'static str = "arrival process";
    const ALL: &'static [Self] = &[ArrivalProcess::Poisson, ArrivalProcess::Uniform];
    fn keyword(self) -> &'static str {
        match self {
            ArrivalProcess::Poisson => "poisson",
            ArrivalProcess::Uniform => "uniform",
        }
    }
}
