//! `gilsim plan` output: the SPEC §5 JSON object, a table per backend with
//! the verdict, and CSV. Formats only; runs nothing. A plan stopped early
//! is written the same way: its cut backend has the status `interrupted`,
//! and each backend it never searched a row of status `not_run`.

use std::io::Write;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ContentArrangement};
use serde::{Deserialize, Serialize};

use crate::report::{fmt_us, saved, RunReport, VERSION};

use super::plan_verdict::{confirmation, find_word, fmt_value, value_cell};
use super::search::{BackendResult, PlanResult};
use super::slo::{Objective, Slo};

/// The JSON document: `{"gilsim": VERSION, "plan": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanDocument {
    /// gilsim's version.
    pub gilsim: String,
    /// The plan.
    pub plan: PlanResult,
}

impl PlanDocument {
    /// Wraps `plan` with the version.
    pub fn new(plan: PlanResult) -> Self {
        Self {
            gilsim: VERSION.to_string(),
            plan,
        }
    }

    /// Checks a plan read back from JSON before it is rendered, as
    /// [`super::merge::check`] does a sweep: its names (config, every
    /// backend searched or not run) hold no control characters, and the
    /// run report each result carries passes [`saved::check_run`].
    pub fn check(&self) -> Result<(), String> {
        let plan = &self.plan;
        saved::name("config", &plan.config)?;
        for b in &plan.not_run {
            saved::name("backend", b)?;
        }
        for r in &plan.results {
            saved::name("backend", &r.backend)?;
            if let Some(run) = &r.report {
                saved::check_run(run)?;
            }
        }
        Ok(())
    }
}

/// One compact JSON line.
pub fn write_json(plan: &PlanResult, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, &PlanDocument::new(plan.clone()))?;
    writeln!(out)
}

/// The p99 at the value found of the groups the SLOs look at: the
/// largest, µs.
pub fn p99_at_value(plan: &PlanResult, r: &BackendResult) -> Option<u64> {
    let report = r.report.as_ref()?;
    let named: Vec<String> = plan
        .slo
        .iter()
        .filter_map(|s| Slo::parse(s).ok())
        .filter_map(|s| match s.objective() {
            Objective::Latency { group: Some(g), .. } => Some(g.clone()),
            _ => None,
        })
        .collect();
    slo_groups(report, &named).map(|g| g.latency_us.p99).max()
}

fn slo_groups<'a>(
    report: &'a RunReport,
    named: &'a [String],
) -> impl Iterator<Item = &'a crate::report::GroupReport> + 'a {
    report
        .groups
        .iter()
        .filter(move |g| named.is_empty() || named.contains(&g.name))
}

/// The status of a backend a plan stopped before searching, in the table
/// and CSV rows that stand for it.
pub const NOT_RUN: &str = "not_run";

/// The results-table row (backend, status, value, p99 there, probes,
/// limit) of `backend`, which the plan stopped before searching: the
/// terminal table and the page's show it alike.
pub fn not_run_row(backend: &str) -> Vec<String> {
    [backend, NOT_RUN, "-", "-", "0", "-"]
        .map(String::from)
        .to_vec()
}

/// The table: a heading with the search and the probe rule, one row per
/// backend, and the verdict.
pub fn write_table(plan: &PlanResult, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{}: {} {} in {}..{} where {} (precision {}%, {} engine)",
        plan.config,
        find_word(plan.find),
        plan.vary,
        fmt_value(plan.range[0]),
        fmt_value(plan.range[1]),
        plan.slo.join(" and "),
        fmt_value((plan.precision * 1000.0).round() / 10.0),
        plan.engine
    )?;
    let l = &plan.probe_length;
    writeln!(
        out,
        "each probe: at least {} measured jobs per open- or closed-loop group, after {} warm-up jobs left out \
         (p{} needs 100/(1-q) jobs){}",
        l.measured_jobs,
        l.warmup_jobs,
        fmt_value((l.quantile * 1000.0).round() / 10.0),
        confirmation(&plan.probe_length, plan.confirm)
    )?;
    let name = plan.find.as_str();
    let mut t = comfy_table::Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "backend".to_string(),
            "status".into(),
            name.into(),
            format!("p99 at {name}"),
            "probes".into(),
            "limit".into(),
        ]);
    for r in &plan.results {
        t.add_row(vec![
            r.backend.clone(),
            r.status.as_str().to_string(),
            value_cell(r),
            p99_at_value(plan, r).map_or("-".into(), fmt_us),
            r.probes.len().to_string(),
            r.limit.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    for b in &plan.not_run {
        t.add_row(not_run_row(b));
    }
    for col in 2..5 {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    if t.width().is_some_and(|w| w < 40) {
        t.set_width(120);
    }
    writeln!(out, "{t}")?;
    for line in &plan.verdict {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// CSV: one row per backend, searched or not run.
pub fn write_csv(plan: &PlanResult, out: &mut dyn Write) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    // `max` and `p99_us_at_max`, or with --least `min` and `p99_us_at_min`.
    let name = plan.find.as_str();
    let header = [
        "config".to_string(),
        "vary".into(),
        "backend".into(),
        "status".into(),
        name.into(),
        format!("p99_us_at_{name}"),
        "probes".into(),
        "limit".into(),
    ];
    w.write_record(&header)?;
    for r in &plan.results {
        w.write_record([
            plan.config.clone(),
            plan.vary.clone(),
            r.backend.clone(),
            r.status.as_str().to_string(),
            r.value().map(|m| m.to_string()).unwrap_or_default(),
            p99_at_value(plan, r)
                .map(|p| p.to_string())
                .unwrap_or_default(),
            r.probes.len().to_string(),
            r.limit.clone().unwrap_or_default(),
        ])?;
    }
    for b in &plan.not_run {
        w.write_record([&plan.config, &plan.vary, b, NOT_RUN, "", "", "0", ""])?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::plan_chart::tests::{interrupted, plan};

    /// A saved plan's names are held to a config's rule, including the
    /// backends an interrupted plan never searched.
    #[test]
    fn a_saved_plan_with_a_control_character_in_a_name_is_refused() {
        assert_eq!(
            PlanDocument::new(interrupted(2, &["tokio"])).check(),
            Ok(())
        );
        let mut doc = PlanDocument::new(interrupted(2, &["to\u{1b}[2Jkio"]));
        assert!(doc.check().unwrap_err().contains("U+001B"));
        doc = PlanDocument::new(plan());
        doc.plan.results[1].backend = "ray\u{202e}on".into();
        assert!(doc.check().unwrap_err().contains("U+202E"));
    }
}
