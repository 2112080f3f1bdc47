//! Tests of bounded, hostile and odd input: size and count limits, control
//! characters, wide characters, runaway values, every problem in one pass.

use std::path::Path;

use super::*;

fn err(source: &str) -> ConfigError {
    match parse(source, Path::new("x.toml")) {
        Ok(_) => panic!("should be refused:\n{source}"),
        Err(e) => e,
    }
}

fn messages(e: &ConfigError) -> Vec<String> {
    e.problems().iter().map(|p| p.message.clone()).collect()
}

const STEP: &str = "steps = [{ cpu = \"1ms\" }]";

#[test]
fn control_characters_in_names_are_refused_where_they_are() {
    let cases = [
        format!("name = \"a\\nb\\u001b[2J\"\n[[group]]\n{STEP}\n"),
        format!("[[group]]\nname = \"g\\u0000\"\n{STEP}\n"),
        format!("[[backend]]\nkind = \"threads\"\nname = \"b\\tc\"\n[[group]]\n{STEP}\n"),
        "[[group]]\nsteps = [{ lock = \"l\\u009b\", cpu = \"1ms\" }]\n".to_string(),
        "[[group]]\nsteps = [{ counter = \"\\u007f\", add = 1 }]\n".to_string(),
        // A right-to-left override (raw, as an editor would paste it) and
        // an isolate: they reorder what a terminal shows.
        format!(
            "[[backend]]\nkind = \"threads\"\nname = \"threads\u{202e}lig+\"\n[[group]]\n{STEP}\n"
        ),
        format!("[[group]]\nname = \"g\\u2066\"\n{STEP}\n"),
    ];
    for source in cases {
        let e = err(&source);
        let m = e.message();
        assert!(m.contains("control character U+"), "{source}: {m}");
        assert!(m.contains("not allowed"), "{m}");
        // The quoted name is where the caret points.
        let p = e.problems()[0];
        assert!(p.snippet[p.column - 1..].starts_with('"'), "{p:?}");
        // Rendering never hands a control character to the terminal.
        let shown = e.to_string();
        assert!(
            !shown
                .chars()
                .any(|c| crate::config::first_control(&c.to_string()).is_some() && c != '\n'),
            "{shown:?}"
        );
    }
}

#[test]
fn long_names_are_refused() {
    let name = "n".repeat(limits::MAX_NAME_CHARS + 1);
    let e = err(&format!("[[group]]\nname = \"{name}\"\n{STEP}\n"));
    assert!(
        e.message().contains("129 characters long; at most 128"),
        "{e}"
    );
    // Exactly at the limit is fine.
    let ok = "n".repeat(limits::MAX_NAME_CHARS);
    assert!(parse(
        &format!("[[group]]\nname = \"{ok}\"\n{STEP}\n"),
        Path::new("x.toml")
    )
    .is_ok());
}

#[test]
fn snippets_escape_nul_and_escape_sequences() {
    // TOML refuses raw control characters; the snippet shows them escaped.
    for source in [
        "a = 1 # \u{1b}[2J\n",
        "[[group]]\u{0}\nsteps = []\n",
        "x = \"\u{0}\"\n",
    ] {
        let shown = err(source).to_string();
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\0'),
            "{shown:?}"
        );
        assert!(
            shown.contains("\\u{1b}") || shown.contains("\\0"),
            "{shown}"
        );
    }
}

/// The column (in terminal cells) of the caret under the snippet.
fn caret_cell(shown: &str) -> usize {
    let lines: Vec<&str> = shown.lines().collect();
    let caret = lines[3];
    let gutter = caret.find('|').expect("gutter") + 2;
    caret.find('^').expect("caret") - gutter
}

#[test]
fn the_caret_stays_under_the_culprit_after_wide_characters() {
    use unicode_width::UnicodeWidthStr;
    let prefix = "group = [{ name = \"名前名前\", jobs = ";
    let source = format!("{prefix}0, {STEP} }}]\n");
    let e = err(&source);
    assert!(e.message().contains("`jobs` must be at least 1"), "{e}");
    assert_eq!(e.column().unwrap(), prefix.chars().count() + 1);
    assert_eq!(caret_cell(&e.to_string()), prefix.width(), "{e}");
    // After an escaped control character too (here inside a comment, which
    // TOML refuses: the caret is under the character, after its escape).
    let e = err("a = 1 # \u{1}\u{1b}\n");
    let shown = e.to_string();
    let line = shown.lines().nth(2).unwrap();
    let cell = caret_cell(&shown);
    assert_eq!(
        &line[line.find('|').unwrap() + 2..][cell..cell + 2],
        "\\u",
        "{shown}"
    );
}

#[test]
fn long_lines_are_shown_as_a_window_around_the_culprit() {
    let source = format!("[[group]]\n{} = 1\n{STEP}\n", "k".repeat(5_000));
    let e = err(&source);
    let shown = e.to_string();
    assert!(shown.len() < 1_000, "{} bytes", shown.len());
    let source = format!(
        "[[group]]\nsteps = [{{ cpu = \"{}s\" }}]\n",
        "9".repeat(10_000)
    );
    let shown = err(&source).to_string();
    assert!(shown.len() < 1_000, "{} bytes:\n{shown}", shown.len());
    assert!(shown.contains("(10001 characters)"), "{shown}");
}

#[test]
fn every_bad_step_of_one_array_is_reported() {
    let source = "[[group]]\nsteps = [{ cpu = \"1ms\", io = \"2ms\" }, { counter = \"c\" }, \
                  { repeat = 0, steps = [{ io = \"1ms\" }, { native = \"1ms\", add = 3 }] }, { lock = \"\" , cpu = \"1ms\" }]\n";
    let m = messages(&err(source));
    assert_eq!(m.len(), 5, "{m:#?}");
    assert!(m[0].contains("found cpu and io"));
    assert!(m[1].contains("a counter step needs `add`"));
    assert!(m[2].contains("`repeat` must be at least 1"));
    assert!(m[3].contains("`add` is not a key of native steps"));
    assert!(m[4].contains("a lock name cannot be empty"));
}

#[test]
fn deep_repeat_nesting_says_what_was_expected_and_where() {
    let nest = |d: usize| {
        format!(
            "[[group]]\nsteps = [{}{{ cpu = \"1ms\" }}{}]\n",
            "{ repeat = 2, steps = [".repeat(d),
            "] }".repeat(d)
        )
    };
    for d in [9, 30, 100] {
        let e = err(&nest(d));
        let m = e.message();
        assert!(m.contains("at most 8"), "{d}: {m}");
        assert_eq!(e.line(), Some(2), "{d}");
        assert!(e.column().unwrap() > 1, "{d}");
    }
    assert!(parse(&nest(8), Path::new("x.toml")).is_ok());
}

#[test]
fn counts_of_groups_backends_and_steps_are_bounded() {
    let groups = format!("[[group]]\n{STEP}\n").repeat(limits::MAX_GROUPS + 1);
    let e = err(&groups);
    assert!(
        e.message().contains("1001 [[group]] tables; at most 1000"),
        "{e}"
    );
    assert_eq!(e.line(), Some(2 * limits::MAX_GROUPS + 1));
    let ok = format!("[[group]]\n{STEP}\n").repeat(limits::MAX_GROUPS);
    assert!(parse(&ok, Path::new("x.toml")).is_ok());

    let backends = (0..=limits::MAX_BACKENDS)
        .map(|i| format!("[[backend]]\nkind = \"rayon\"\nname = \"b{i}\"\n"))
        .collect::<String>();
    let e = err(&format!("{backends}[[group]]\n{STEP}\n"));
    assert!(
        e.message().contains("65 [[backend]] tables; at most 64"),
        "{e}"
    );

    let steps = vec!["{ io = \"1ms\" }"; limits::MAX_STEPS_WRITTEN + 1].join(", ");
    let e = err(&format!("[[group]]\nsteps = [{steps}]\n"));
    assert!(e.message().contains("10001 step tables"), "{e}");
}

#[test]
fn durations_in_exponent_notation_say_so() {
    let e = err("[[group]]\nsteps = [{ cpu = \"1e30s\" }]\n");
    assert!(
        e.message().contains("exponent notation is not accepted"),
        "{e}"
    );
    assert!(!e.message().contains("unknown unit"), "{e}");
}

#[test]
fn load_reads_at_most_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    let mut text = format!("[[group]]\n{STEP}\n");
    text += &"#".repeat(MAX_CONFIG_BYTES as usize);
    std::fs::write(&big, &text).unwrap();
    let e = load(&big).unwrap_err();
    assert!(
        e.to_string().contains("larger than 1048576 bytes (1 MiB)"),
        "{e}"
    );

    let exact = dir.path().join("exact.toml");
    text.truncate(MAX_CONFIG_BYTES as usize);
    std::fs::write(&exact, &text).unwrap();
    assert!(load(&exact).is_ok());

    let bin = dir.path().join("bin.toml");
    std::fs::write(&bin, b"name = \"\xff\"\n").unwrap();
    assert!(load(&bin).unwrap_err().to_string().contains("not UTF-8"));

    // An endless file: refused after reading the cap, not after memory runs out.
    let t = std::time::Instant::now();
    let e = load(Path::new("/dev/zero")).unwrap_err();
    assert!(e.to_string().contains("larger than"), "{e}");
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn a_date_where_a_number_goes_is_called_a_date() {
    let e = err(&format!("seed = 1979-05-27\n[[group]]\n{STEP}\n"));
    assert_eq!(e.message(), "expected an integer, found a date-time");
}
