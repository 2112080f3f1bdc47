//! `NAME.html`: one self-contained page per config, and the page builder
//! other results (sweep, plan) reuse.
//!
//! A page is assembled from [`Section`]s of [`Block`]s (text, lists,
//! tables, inline SVG charts, preformatted text) and rendered by
//! [`render_page`] into one HTML document with inline CSS and no script:
//! nothing is fetched from the network (a Content-Security-Policy says so,
//! and makes any accidental fetch a console error), so the file can be
//! attached to a review or opened offline. Tables and charts scroll
//! sideways on a phone instead of shrinking their text (charts keep at
//! least 800 px, where their 13 px text shows at 11 px).

use std::fmt::Write as _;
use std::io::Write;

use super::charts::{self, esc};
use super::{shares, Exporter, Report};

/// An HTML page: a title, an optional line under it, and sections.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The `<title>` and the top heading.
    pub title: String,
    /// A line under the heading (machine, seed, version …).
    pub subtitle: Option<String>,
    /// The sections, top to bottom.
    pub sections: Vec<Section>,
}

/// A titled part of a page.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// The section heading; also its anchor (`id`), made URL-safe.
    pub title: String,
    /// The content, top to bottom.
    pub blocks: Vec<Block>,
}

/// One piece of content. Text is escaped when rendered; SVG is inserted
/// as given, so it must come from a trusted renderer (gilsim's charts).
#[derive(Debug, Clone)]
pub enum Block {
    /// A paragraph.
    Text(String),
    /// A bulleted list.
    List(Vec<String>),
    /// A table.
    Table(Table),
    /// An inline SVG chart with a caption. `id` names the chart
    /// (`data-chart` attribute), so tests and readers can find it.
    Chart {
        /// The chart's name, e.g. `latency`, `breakdown`, `gil-timeline`.
        id: String,
        /// The SVG document (an `<svg …>…</svg>` string).
        svg: String,
        /// What the chart shows and how to read it.
        caption: String,
    },
    /// Preformatted text (monospace, kept as is).
    Pre(String),
}

/// A table: header cells, rows, and which columns are numbers (those are
/// right-aligned).
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Column headings.
    pub header: Vec<String>,
    /// Rows; a row may be shorter than the header.
    pub rows: Vec<Vec<String>>,
    /// `numeric[i]`: column `i` holds numbers.
    pub numeric: Vec<bool>,
}

const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1a1a1a; background: #fff; }
main { max-width: 1200px; margin: 0 auto; }
h1 { font-size: 1.6em; margin: 0.2em 0; overflow-wrap: anywhere; }
h2 { font-size: 1.25em; margin: 1.6em 0 0.5em; padding-bottom: 0.2em; border-bottom: 1px solid #ccc; }
.sub { color: #555; margin: 0 0 1em; }
p, li { overflow-wrap: anywhere; }
nav { font-size: 0.95em; margin-bottom: 1em; }
nav a { margin-right: 1em; color: #1d4f91; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; max-width: 100%; }
table { border-collapse: collapse; margin: 0.5em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #bbb; padding: 4px 8px; text-align: left; vertical-align: top; white-space: nowrap; }
td.long { white-space: normal; min-width: 16em; }
th { background: #eee; }
td.num, th.num { text-align: right; white-space: nowrap; }
tbody tr:nth-child(even) { background: #f7f7f7; }
figure { margin: 1em 0 1.5em; }
figure svg { display: block; width: 100%; min-width: 800px; height: auto; }
figcaption { color: #444; font-size: 0.95em; margin-top: 0.4em; }
pre { background: #f4f4f4; padding: 8px; overflow-x: auto; }
@media print { body { padding: 0; } .scroll { overflow: visible; } }
"#;

/// Renders `page` as one self-contained HTML document.
///
/// This is the function sweep and plan results use for their pages too:
/// build a [`Page`] from sections (title, [`Block::Text`],
/// [`Block::Table`], [`Block::Chart`] with an SVG string …) and write what
/// this returns to a `.html` file (with [`crate::fsout::write_atomic`]).
pub fn render_page(page: &Page) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
        esc(&page.title),
        esc(&page.title)
    );
    if let Some(sub) = &page.subtitle {
        let _ = writeln!(h, "<p class=\"sub\">{}</p>", esc(sub));
    }
    if page.sections.len() > 1 {
        h.push_str("<nav>");
        for s in &page.sections {
            let _ = write!(h, "<a href=\"#{}\">{}</a>", anchor(&s.title), esc(&s.title));
        }
        h.push_str("</nav>\n");
    }
    for s in &page.sections {
        let _ = writeln!(
            h,
            "<section id=\"{}\">\n<h2>{}</h2>",
            anchor(&s.title),
            esc(&s.title)
        );
        for b in &s.blocks {
            block(&mut h, b);
        }
        h.push_str("</section>\n");
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

fn block(h: &mut String, b: &Block) {
    match b {
        Block::Text(t) => {
            let _ = writeln!(h, "<p>{}</p>", esc(t));
        }
        Block::List(items) => {
            h.push_str("<ul>\n");
            for i in items {
                let _ = writeln!(h, "<li>{}</li>", esc(i));
            }
            h.push_str("</ul>\n");
        }
        Block::Table(t) => table(h, t),
        Block::Chart { id, svg, caption } => {
            let _ = writeln!(
                h,
                "<figure class=\"chart\" data-chart=\"{}\">\n<div class=\"scroll\">\n{}</div>\n<figcaption>{}</figcaption>\n</figure>",
                esc(id),
                strip_prolog(svg),
                esc(caption)
            );
        }
        Block::Pre(t) => {
            let _ = writeln!(h, "<pre>{}</pre>", esc(t));
        }
    }
}

fn table(h: &mut String, t: &Table) {
    let num = |i: usize| t.numeric.get(i).copied().unwrap_or(false);
    let class = |i: usize| if num(i) { " class=\"num\"" } else { "" };
    // Short cells stay on one line (the table scrolls on a phone); long
    // prose cells wrap.
    let cell_class = |i: usize, text: &str| {
        if num(i) {
            " class=\"num\""
        } else if text.chars().count() > LONG_CELL {
            " class=\"long\""
        } else {
            ""
        }
    };
    h.push_str("<div class=\"scroll\"><table>\n<thead><tr>");
    for (i, c) in t.header.iter().enumerate() {
        let _ = write!(h, "<th{}>{}</th>", class(i), esc(c));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for row in &t.rows {
        h.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let _ = write!(h, "<td{}>{}</td>", cell_class(i, c), esc(c));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div>\n");
}

/// Cells longer than this (in characters) may wrap.
const LONG_CELL: usize = 32;

/// An `<?xml …?>` prolog is not allowed inside HTML.
fn strip_prolog(svg: &str) -> &str {
    let s = svg.trim_start();
    if s.starts_with("<?xml") {
        s.find("?>").map_or(s, |i| &s[i + 2..])
    } else {
        s
    }
}

/// A section title as an `id`: lowercase letters and digits, dashes
/// between words.
fn anchor(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "section".into()
    } else {
        out
    }
}

/// The HTML exporter (`--out` only): each report as a page; several
/// reports give several pages one after the other, so `--out` calls it
/// with one report per file.
pub struct Html;

impl Exporter for Html {
    fn export(&self, reports: &[Report], out: &mut dyn Write) -> std::io::Result<()> {
        for r in reports {
            out.write_all(render_page(&report_page(r)?).as_bytes())?;
        }
        Ok(())
    }

    fn extension(&self) -> &'static str {
        "html"
    }
}

/// The page of one config's report: the config, the results table, the
/// verdict, then the charts.
pub fn report_page(r: &Report) -> std::io::Result<Page> {
    let mut sections = vec![config_section(r), results_section(r)];
    if !r.verdict.is_empty() {
        sections.push(Section {
            title: "Verdict".into(),
            blocks: vec![Block::List(r.verdict.clone())],
        });
    }
    sections.push(charts_section(r)?);
    Ok(Page {
        title: format!("gilsim: {}", r.config),
        subtitle: Some(format!(
            "seed {} · {} cores · {} · gilsim {}",
            r.seed,
            r.machine.cores,
            r.machine.kernel_words(false),
            r.gilsim
        )),
        sections,
    })
}

fn config_section(r: &Report) -> Section {
    let mut blocks = Vec::new();
    let plan = r.plan.as_ref();
    blocks.push(Block::Text(
        match plan.and_then(|p| p.description.as_deref()) {
            Some(d) => format!("{}: {d}", r.config),
            None => r.config.clone(),
        },
    ));
    if let Some(p) = plan {
        blocks.push(Block::Text(format!(
            "{} jobs in {} group{}; GIL switch interval {} ms. Work is the plan's expected total over each group's jobs.",
            p.total_jobs,
            p.groups.len(),
            if p.groups.len() == 1 { "" } else { "s" },
            p.switch_interval_us as f64 / 1000.0
        )));
        blocks.push(Block::Table(Table {
            header: [
                "group",
                "jobs",
                "arrival",
                "cpu [s]",
                "native [s]",
                "io [s]",
                "steps",
            ]
            .map(String::from)
            .to_vec(),
            rows: p
                .groups
                .iter()
                .map(|g| {
                    vec![
                        g.name.clone(),
                        g.jobs.to_string(),
                        g.arrival.clone(),
                        format!("{:.3}", g.cpu_s),
                        format!("{:.3}", g.native_s),
                        format!("{:.3}", g.io_s),
                        g.steps.to_string(),
                    ]
                })
                .collect(),
            numeric: vec![false, true, false, true, true, true, true],
        }));
    }
    blocks.push(Block::Table(Table {
        header: ["backend", "kind", "workers", "GIL", "details"]
            .map(String::from)
            .to_vec(),
        rows: r
            .runs
            .iter()
            .map(|run| {
                let mut details = Vec::new();
                if let Some(f) = &run.flavor {
                    details.push(f.clone());
                }
                if let Some(m) = &run.cpu_mode {
                    details.push(format!("cpu_mode {m}"));
                }
                vec![
                    run.backend.clone(),
                    run.kind.clone(),
                    if run.workers == 0 {
                        "one thread per job".into()
                    } else {
                        run.workers.to_string()
                    },
                    if run.gil_enabled { "yes" } else { "no" }.into(),
                    details.join(", "),
                ]
            })
            .collect(),
        numeric: vec![false; 5],
    }));
    Section {
        title: "Config".into(),
        blocks,
    }
}

fn results_section(r: &Report) -> Section {
    let ms = |us: u64| format!("{:.3}", us as f64 / 1000.0);
    let mut rows = Vec::new();
    for run in &r.runs {
        for (gi, g) in run.groups.iter().enumerate() {
            let first = gi == 0;
            rows.push(vec![
                if first {
                    run.backend.clone()
                } else {
                    String::new()
                },
                g.name.clone(),
                g.jobs.to_string(),
                ms(g.latency_us.p50),
                ms(g.latency_us.p90),
                ms(g.latency_us.p99),
                ms(g.latency_us.p999),
                ms(g.latency_us.max),
                if first {
                    super::fmt_rate(run.throughput_per_s)
                } else {
                    String::new()
                },
                if first {
                    format!("{:.3}", run.wall_s)
                } else {
                    String::new()
                },
                shares(&g.shares),
            ]);
        }
    }
    let mut blocks = vec![Block::Table(Table {
        header: [
            "backend",
            "group",
            "jobs",
            "p50 [ms]",
            "p90 [ms]",
            "p99 [ms]",
            "p99.9 [ms]",
            "max [ms]",
            "jobs/s",
            "wall [s]",
            "where job time went",
        ]
        .map(String::from)
        .to_vec(),
        rows,
        numeric: vec![
            false, false, true, true, true, true, true, true, true, true, false,
        ],
    })];
    let mut notes = Vec::new();
    for run in &r.runs {
        if let Some(g) = &run.gil_stats {
            notes.push(format!(
                "{}: GIL taken {} times, {} forced switches, {:.3} s waiting in total; holds p50 {} µs, p99 {} µs, max {} µs",
                run.backend, g.acquisitions, g.forced_switches, g.wait_s, g.hold_us.p50, g.hold_us.p99, g.hold_us.max
            ));
        }
        for c in &run.counters {
            notes.push(format!(
                "{}: counter {}: expected {}, observed {}, lost {}",
                run.backend, c.name, c.expected, c.observed, c.lost
            ));
        }
    }
    if !notes.is_empty() {
        blocks.push(Block::List(notes));
    }
    Section {
        title: "Results".into(),
        blocks,
    }
}

fn charts_section(r: &Report) -> std::io::Result<Section> {
    let mut blocks = vec![
        Block::Chart {
            id: "latency".into(),
            svg: super::svg::latency_chart(std::slice::from_ref(r))?,
            caption: "Latency by percentile, one panel per group: each line is a backend through min, p50, p90, p99, p99.9 and max. Each step right is ten times rarer; lower is better.".into(),
        },
        Block::Chart {
            id: "breakdown".into(),
            svg: charts::breakdown::render(r),
            caption: "Where job time went: per group, one bar per backend, the mean time per job split into its parts. The bar's length is the mean latency; \"unaccounted\" is what no timer covered.".into(),
        },
    ];
    for (index, run) in r.runs.iter().enumerate() {
        if let Some(svg) = charts::timeline::render(run, index) {
            blocks.push(Block::Chart {
                id: "gil-timeline".into(),
                svg,
                caption: format!(
                    "GIL timeline of {}: one lane per thread, a bar while that thread held the GIL, from the run's first holds. Long bars with other threads waiting are switch intervals; bars that alternate quickly are threads handing the GIL over after IO.",
                    run.backend
                ),
            });
        }
    }
    Ok(Section {
        title: "Charts".into(),
        blocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_escapes_text_and_keeps_svg() {
        let page = Page {
            title: "a <b> & c".into(),
            subtitle: None,
            sections: vec![
                Section {
                    title: "First part".into(),
                    blocks: vec![
                        Block::Text("x < y".into()),
                        Block::Chart {
                            id: "demo".into(),
                            svg: "<?xml version=\"1.0\"?><svg viewBox=\"0 0 1 1\"><rect/></svg>"
                                .into(),
                            caption: "c".into(),
                        },
                    ],
                },
                Section {
                    title: "Second".into(),
                    blocks: vec![Block::Table(Table {
                        header: vec!["n".into()],
                        rows: vec![vec!["1".into()]],
                        numeric: vec![true],
                    })],
                },
            ],
        };
        let html = render_page(&page);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>a &lt;b&gt; &amp; c</title>"));
        assert!(html.contains("<p>x &lt; y</p>"));
        assert!(html.contains("data-chart=\"demo\""));
        assert!(html.contains("<svg viewBox") && !html.contains("<?xml"));
        assert!(html.contains("id=\"first-part\"") && html.contains("href=\"#second\""));
        assert!(html.contains("<td class=\"num\">1</td>"));
        assert!(
            !html.contains("<script") && !html.contains("http://") && !html.contains("https://")
        );
    }
}
