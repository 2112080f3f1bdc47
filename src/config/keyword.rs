//! Keywords: the closed sets of words a key accepts (`kind`, `flavor`,
//! `guard`, a distribution's `dist`), read from TOML with a message that
//! lists the accepted words and catches the usual slips.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A closed set of words a key accepts (`kind`, `flavor`, `guard`, ...).
/// Implemented for the model's enums so the spelling lives in one place
/// (their `as_str`).
pub(crate) trait Keyword: Sized + Copy + 'static {
    /// What the word names, for messages: "backend kind".
    const WHAT: &'static str;
    /// Every accepted value, in the order the docs list them.
    const ALL: &'static [Self];
    /// The spelling users write.
    fn keyword(self) -> &'static str;
}

/// A [`Keyword`] deserialized from a string, with a message that lists the
/// accepted words.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Kw<T>(pub T);

impl<'de, T: Keyword> Deserialize<'de> for Kw<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KwVisitor(PhantomData))
    }
}

struct KwVisitor<T>(PhantomData<T>);

impl<'de, T: Keyword> Visitor<'de> for KwVisitor<T> {
    type Value = Kw<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} (one of {})", T::WHAT, keyword_list::<T>())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Kw<T>, E> {
        match T::ALL.iter().find(|k| k.keyword() == v) {
            Some(k) => Ok(Kw(*k)),
            None => Err(E::custom(unknown_keyword::<T>(v))),
        }
    }
}

fn keyword_list<T: Keyword>() -> String {
    let quoted: Vec<String> = T::ALL
        .iter()
        .map(|k| format!("{:?}", k.keyword()))
        .collect();
    quoted.join(", ")
}

/// "unknown backend kind "async_std", expected one of ... (did you mean
/// "async-std"?)" — the hint catches the usual `-`/`_`/case slips.
fn unknown_keyword<T: Keyword>(v: &str) -> String {
    let fold = |s: &str| s.to_lowercase().replace('-', "_");
    let hint = T::ALL
        .iter()
        .find(|k| fold(k.keyword()) == fold(v))
        .map(|k| format!(" (did you mean {:?}?)", k.keyword()))
        .unwrap_or_default();
    format!(
        "unknown {} {v:?}, expected one of {}{hint}",
        T::WHAT,
        keyword_list::<T>()
    )
}
