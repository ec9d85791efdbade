//! The docs' examples run as written: each ```` ```rhai tested ```` block of
//! README.md and docs/src/*.md, run from the repository's root, prints
//! exactly what the ```` ```text ```` block right after it shows (stdout;
//! the exit status must be 0). A block without its output, or an output
//! that changed, fails here, so the docs cannot drift from what mphost does.

use super::common::*;

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// One tested example: where it is, its script, the output it shows.
struct Example {
    at: String,
    script: String,
    shown: String,
}

/// The body of the fenced block that starts at `lines[*i]`, moving `*i`
/// past its closing fence.
fn fenced(lines: &[&str], i: &mut usize, at: &str) -> String {
    let mut body = String::new();
    *i += 1;
    while *i < lines.len() && lines[*i] != "```" {
        body.push_str(lines[*i]);
        body.push('\n');
        *i += 1;
    }
    assert!(*i < lines.len(), "{at}: the block never ends");
    *i += 1;
    body
}

fn examples_in(path: &Path) -> Vec<Example> {
    let text = std::fs::read_to_string(path).expect("read a doc");
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i] != "```rhai tested" {
            i += 1;
            continue;
        }
        let at = format!("{}:{}", path.display(), i + 1);
        let script = fenced(&lines, &mut i, &at);
        while i < lines.len() && lines[i].trim().is_empty() {
            i += 1;
        }
        assert!(
            i < lines.len() && lines[i] == "```text",
            "{at}: a tested example must be followed by a ```text block of its output"
        );
        let shown = fenced(&lines, &mut i, &at);
        found.push(Example { at, script, shown });
    }
    found
}

fn docs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs/src"))
        .expect("docs/src exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    pages.insert(0, root.join("README.md"));
    pages
}

#[test]
fn every_tested_example_in_the_docs_prints_what_the_docs_show() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples: Vec<Example> = docs().iter().flat_map(|p| examples_in(p)).collect();
    assert!(
        examples.len() >= 5,
        "only {} tested examples found in the docs",
        examples.len()
    );
    for example in examples {
        let s = script(&example.script);
        let child = mphost_run()
            .arg("--no-progress")
            .arg(&s.path)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mphost");
        let run = finish(child);
        assert_eq!(run.code, Some(0), "{}: {run:?}", example.at);
        assert_eq!(
            run.stdout, example.shown,
            "{}: the output differs",
            example.at
        );
    }
}
