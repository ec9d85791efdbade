//! One insta snapshot per script in `scripts/`: its exit code, stdout and
//! stderr, with pids redacted. Snapshots live in `snapshots/`. Each script
//! also runs with `--start-method spawn` and must print the same.

use super::common;
use common::*;

use std::path::Path;

/// Replaces the digits after every "pid " with `[pid]`.
fn redact_pids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("pid ") {
        out.push_str(&rest[..at + 4]);
        rest = &rest[at + 4..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("[pid]");
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn redaction_keeps_everything_but_the_digits() {
    assert_eq!(
        redact_pids("Process-1 (pid 4242): x pid y pid 7"),
        "Process-1 (pid [pid]): x pid y pid [pid]"
    );
}

#[test]
fn every_script_matches_its_snapshot() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut scripts: Vec<_> = std::fs::read_dir(dir.join("scripts"))
        .expect("scripts/ exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 4, "the four tutorial examples at least");
    for path in scripts {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let run = finish(start_file(&path, &[]));
        let shown = format!(
            "exit code: {:?}\n--- stdout\n{}--- stderr\n{}",
            run.code,
            run.stdout,
            redact_pids(&run.stderr)
        );
        let spawned = finish(start_file(&path, &["--start-method", "spawn"]));
        assert_eq!(
            (spawned.code, &spawned.stdout, redact_pids(&spawned.stderr)),
            (run.code, &run.stdout, redact_pids(&run.stderr)),
            "scripts/{name}.rhai with --start-method spawn"
        );
        insta::with_settings!({
            snapshot_path => dir.join("snapshots"),
            prepend_module_to_snapshot => false,
            description => format!("mphost run scripts/{name}.rhai"),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name, shown);
        });
    }
}
