//! How an uncaught error reads: its first line as it always was (the whole
//! message, with its position), then the source line and a caret under the
//! column that line names; for a worker's error, which process and which
//! item, and the worker's own source line and caret.

use super::common;
use common::*;

/// `(line N, position C)` at the end of a worker's message.
fn worker_position(message: &str) -> (usize, usize) {
    let at = message.rfind("(line ").expect("a worker's position");
    let (line, col) = message[at + 6..]
        .trim_end_matches(')')
        .split_once(", position ")
        .expect("line and position");
    (line.parse().unwrap(), col.parse().unwrap())
}

#[test]
fn a_parse_error_shows_its_line_with_a_caret_under_the_column() {
    let s = script("let a = 1;\nlet x = foo(;\nprint(a);\n");
    for cmd in ["run", "check"] {
        let out = std::process::Command::new(BIN)
            .args([cmd, s.path.to_str().unwrap()])
            .output()
            .expect("run mphost");
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = error_report(&stderr);
        assert!(first.ends_with(":2:13: Unexpected ';'"), "{stderr}");
        assert_eq!(stderr.lines().nth(1), Some("   2 | let x = foo(;"));
    }
}

#[test]
fn the_caret_line_keeps_the_source_lines_tabs() {
    let r = run("fn f() {\n\tlet y = 1 / 0;\n}\nf();\n");
    assert_eq!(r.code, Some(1));
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(
        lines[0].ends_with(":2:12: Division by zero: 1 / 0"),
        "{}",
        r.stderr
    );
    assert_eq!(
        lines[1..],
        ["   2 | \tlet y = 1 / 0;", "     | \t          ^"]
    );
}

#[test]
fn a_runtime_error_in_the_main_script_shows_its_line_with_a_caret() {
    let r = run(
        "fn check(n) {\n    if n > 2 { throw `too big: ${n}`; }\n}\nfor i in 0..5 { check(i); }\n",
    );
    assert_eq!(r.code, Some(1));
    let first = error_report(&r.stderr);
    assert!(first.ends_with(":2:16: too big: 3"), "{}", r.stderr);
    assert_eq!(
        r.stderr.lines().nth(1),
        Some("   2 |     if n > 2 { throw `too big: ${n}`; }")
    );
}

#[test]
fn a_pool_workers_error_shows_the_call_then_the_workers_line_process_and_item() {
    let source = "fn positive(x) {\n    if x < 0 { throw `negative: ${x}`; }\n    x\n}\nlet r = pool_map(positive, [1, -2, 3], 2);\n";
    for flags in [&[][..], &["--start-method", "spawn"]] {
        let r = run_with(source, flags, &[]);
        assert_eq!(r.code, Some(1), "{flags:?}: {r:?}");
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 6, "{flags:?}:\n{}", r.stderr);
        // The first line as before: the call's position, the item, the
        // worker, the message and where in the worker.
        let first = lines[0];
        assert!(
            first.contains(":5:9: pool_map: item 1 failed in PoolWorker-"),
            "{first}"
        );
        assert!(
            first.contains(": negative: -2 (line 2, position 16)"),
            "{first}"
        );
        assert_caret(&lines[1..3], 5, 9, &r.stderr);
        // Then the worker: which one (as the first line names it), which item.
        let worker = &first[first.find("PoolWorker-").unwrap()..first.find("): ").unwrap() + 1];
        assert_eq!(lines[3], format!("{worker} was computing item 1 (-2):"));
        let (line, column) = worker_position(first);
        assert_caret(&lines[4..6], line, column, &r.stderr);
        assert_eq!(lines[4], "   2 |     if x < 0 { throw `negative: ${x}`; }");
    }
}

#[test]
fn a_caught_pool_error_prints_nothing() {
    let r = run("fn f(x) { if x == 1 { throw \"one\"; } x }
         try { pool_map(f, [0, 1]); } catch (e) { print(`caught: ${e}`); }");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("caught: pool_map: item 1 failed in PoolWorker-")
    );
    assert_eq!(r.lines().len(), 1);
}

#[test]
fn a_spawned_process_error_shows_its_line_with_a_caret() {
    let r = run(
        "fn fails(n) {\n    let m = #{ n: n };\n    throw `cannot handle ${m.n}`;\n}\nspawn(fails, [3]).join();\n",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stderr);
    assert!(lines[0].starts_with("Process-1 (pid "), "{}", r.stderr);
    assert!(
        lines[0].ends_with("): cannot handle 3 (line 3, position 5)"),
        "{}",
        r.stderr
    );
    assert_caret(&lines[1..], 3, 5, &r.stderr);
}

#[test]
fn an_error_inside_a_modules_function_shows_no_line_of_the_wrong_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("h.rhai"),
        "fn f() {\n  throw \"from the module\";\n}\n",
    )
    .unwrap();
    let main = dir.path().join("main.rhai");
    std::fs::write(&main, "import \"h\" as h;\nlet x = 1;\nh::f();\n").unwrap();
    let r = finish(start_file(&main, &[]));
    assert_eq!(r.code, Some(1));
    // The position is the module's, so no line of main.rhai is shown for it.
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("from the module"), "{}", r.stderr);
}
