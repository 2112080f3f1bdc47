//! `NAME/BACKEND/GROUP.hgrm`: a group's latency distribution in
//! HdrHistogram's percentile-distribution text, as Java HdrHistogram's
//! `outputPercentileDistribution(out, 5, 1000.0)` writes it: values in
//! milliseconds (the histograms hold µs), five percentile ticks per half
//! distance to 100%, the header line, the `Value Percentile TotalCount
//! 1/(1-Percentile)` columns, and the `#[Mean …]`, `#[Max …]`,
//! `#[Buckets …]` footer. HdrHistogram's plotter
//! (hdrhistogram.github.io/HdrHistogram/plotFiles.html) reads it.
//!
//! Numbers are rounded like C's printf (the exact binary value, to
//! nearest); Java's formatter can differ in the last digit on the rare
//! value that sits exactly half-way.

use std::io::{self, Write};

use hdrhistogram::Histogram;

use super::detail::decode_histogram;
use super::Report;
use crate::config::limits::MAX_NAME_CHARS;

/// Percentile ticks per half distance to 100% (HdrHistogram's usual 5).
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;
/// µs in the histogram per ms in the file.
const SCALE: f64 = 1000.0;

/// Writes `h` (µs) as percentile-distribution text in ms.
pub fn write_distribution(h: &Histogram<u64>, out: &mut dyn Write) -> io::Result<()> {
    let digits = usize::from(h.sigfig());
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    if !h.is_empty() {
        let mut total = 0u64;
        for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / SCALE;
            let q = v.quantile_iterated_to();
            if q != 1.0 {
                writeln!(
                    out,
                    "{value:>12.digits$} {q:>2.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - q)
                )?;
            } else {
                writeln!(out, "{value:>12.digits$} {q:>2.12} {total:>10}")?;
            }
        }
    }
    let (mean, stdev) = if h.is_empty() {
        (0.0, 0.0)
    } else {
        (h.mean() / SCALE, h.stdev() / SCALE)
    };
    let max = if h.is_empty() { 0 } else { h.max() };
    writeln!(
        out,
        "#[Mean    = {mean:>12.digits$}, StdDeviation   = {stdev:>12.digits$}]"
    )?;
    writeln!(
        out,
        "#[Max     = {:>12.digits$}, Total count    = {:>12}]",
        max as f64 / SCALE,
        h.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_bucket_count(h.sigfig())
    )
}

/// HdrHistogram's sub-bucket count for `sigfig` significant digits: the
/// power of two that holds 2 × 10^sigfig values at unit resolution.
fn sub_bucket_count(sigfig: u8) -> u64 {
    let largest = 2 * 10u64.pow(u32::from(sigfig));
    largest.next_power_of_two()
}

/// One `.hgrm` file: its path under `--out` and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct HgrmFile {
    /// `NAME/BACKEND/GROUP.hgrm`, each part made safe for a file name.
    pub path: std::path::PathBuf,
    /// The percentile distribution.
    pub text: String,
}

/// The `.hgrm` files of `report`: one per backend × group that completed
/// jobs and carries its histogram. Reports saved before histograms were
/// kept have none; the error names the first group whose histogram does
/// not decode. Two backends (or two groups of a backend) whose names
/// make the same file name ([`file_part`]: `a b` and `a/b`) get distinct
/// ones, the later one `-2`, `-3`…, so neither file overwrites the other.
pub fn files(report: &Report) -> Result<Vec<HgrmFile>, String> {
    let mut out = Vec::new();
    let mut backends = Vec::new();
    for run in &report.runs {
        let backend = unique(file_part(&run.backend), &mut backends);
        let mut groups = Vec::new();
        for g in &run.groups {
            let group = unique(file_part(&g.name), &mut groups);
            let Some(encoded) = &g.latency_histogram else {
                continue;
            };
            let h = decode_histogram(encoded).map_err(|e| {
                format!("the latency histogram of {} / {}: {e}", run.backend, g.name)
            })?;
            let mut text = Vec::new();
            write_distribution(&h, &mut text).map_err(|e| e.to_string())?;
            out.push(HgrmFile {
                path: [
                    file_part(&report.config),
                    backend.clone(),
                    format!("{group}.hgrm"),
                ]
                .iter()
                .collect(),
                text: String::from_utf8_lossy(&text).into_owned(),
            });
        }
    }
    Ok(out)
}

/// `part`, or `part-2`, `part-3`… when `taken` already holds it; the
/// result is added to `taken`.
fn unique(part: String, taken: &mut Vec<String>) -> String {
    let mut name = part.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{part}-{n}");
        n += 1;
    }
    taken.push(name.clone());
    name
}

/// `name` as one path component: letters, digits and `.+-_` are kept,
/// anything else (a `/`, a space) becomes `_`, and a name of dots only
/// gets a leading `_` so it can never mean `.` or `..`. At most
/// [`MAX_NAME_CHARS`] characters are kept: a config's names are no longer,
/// but a saved report given to `gilsim report` may hold any name, and a
/// file system refuses a component past 255 bytes.
pub fn file_part(name: &str) -> String {
    let mut s: String = name
        .chars()
        .take(MAX_NAME_CHARS)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        s.insert(0, '_');
    }
    s
}

/// Parses percentile-distribution text back into `(value_ms, quantile)`
/// rows, for tests and tools: the inverse of the table part of
/// [`write_distribution`].
pub fn parse_rows(text: &str) -> Vec<(f64, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let value = cols.next()?.parse().ok()?;
            let q = cols.next()?.parse().ok()?;
            Some((value, q))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: &[u64]) -> Histogram<u64> {
        let mut h = crate::metrics::new_histogram();
        for v in values {
            h.record(*v).unwrap();
        }
        h
    }

    fn text_of(h: &Histogram<u64>) -> String {
        let mut out = Vec::new();
        write_distribution(h, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn matches_hdrhistograms_layout_line_for_line() {
        // Below 2048 µs the histogram resolves single µs, so values print exactly.
        let h = histogram(&[500, 1_000, 1_500, 2_000]);
        let text = text_of(&h);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        assert_eq!(
            lines[2],
            "       0.500 0.000000000000          1           1.00"
        );
        let last_row = lines[lines.len() - 4];
        assert_eq!(last_row, "       2.000 1.000000000000          4");
        assert_eq!(
            lines[lines.len() - 3],
            "#[Mean    =        1.250, StdDeviation   =        0.559]"
        );
        assert_eq!(
            lines[lines.len() - 2],
            "#[Max     =        2.000, Total count    =            4]"
        );
        assert_eq!(
            lines[lines.len() - 1],
            format!(
                "#[Buckets = {:>12}, SubBuckets     =         2048]",
                h.buckets()
            )
        );
    }

    #[test]
    fn rows_parse_back_to_the_histograms_percentiles() {
        let values: Vec<u64> = (1..=1000).map(|i| i * 37).collect();
        let h = histogram(&values);
        let rows = parse_rows(&text_of(&h));
        assert!(rows.len() > 20);
        // The row for p50 carries the histogram's p50 (to the µs, in ms).
        let at = |q: f64| {
            rows.iter()
                .find(|(_, rq)| *rq >= q)
                .map(|(v, _)| *v)
                .unwrap()
        };
        assert_eq!(at(0.5), h.value_at_quantile(0.5) as f64 / 1000.0);
        assert!(rows
            .windows(2)
            .all(|w| w[0].1 <= w[1].1 && w[0].0 <= w[1].0));
        assert_eq!(rows.last().unwrap().1, 1.0);
    }

    #[test]
    fn names_that_make_one_file_name_get_distinct_files() {
        let encoded = crate::report::encode_histogram(&histogram(&[100, 200]));
        let g = |name: &str| {
            let mut g = crate::report::fixtures::group(
                name,
                2,
                crate::report::fixtures::quantiles(100),
                Default::default(),
            );
            g.latency_histogram = encoded.clone();
            g
        };
        let run = |label: &str| {
            crate::report::fixtures::run(label, 1.0, vec![g("x y"), g("x/y"), g("x_y-2")])
        };
        let report = crate::report::fixtures::report("c", vec![run("a b"), run("a/b")], vec![]);
        let paths: Vec<String> = files(&report)
            .unwrap()
            .iter()
            .map(|f| f.path.display().to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "c/a_b/x_y.hgrm",
                "c/a_b/x_y-2.hgrm",
                "c/a_b/x_y-2-2.hgrm",
                "c/a_b-2/x_y.hgrm",
                "c/a_b-2/x_y-2.hgrm",
                "c/a_b-2/x_y-2-2.hgrm"
            ]
        );
    }

    #[test]
    fn file_parts_cannot_climb_out_of_the_directory() {
        assert_eq!(file_part("threads+gil"), "threads+gil");
        assert_eq!(file_part("a/b c"), "a_b_c");
        assert_eq!(file_part(".."), "_..");
        assert_eq!(file_part(""), "_");
        // A name longer than a config allows, from a saved report.
        assert_eq!(file_part(&"x".repeat(300)), "x".repeat(MAX_NAME_CHARS));
    }
}
