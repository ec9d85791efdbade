//! The command line: exit codes, ARGS, and how bad input is reported.

use super::common;
use common::*;
use std::process::Command;

fn mphost(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().expect("run mphost")
}

fn one_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr).to_string();
    assert_eq!(
        text.trim_end().lines().count(),
        1,
        "expected one line, got: {text}"
    );
    assert!(
        !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
        "{text}"
    );
    text
}

#[test]
fn a_script_that_finishes_exits_zero_and_sees_its_args() {
    let r = run_with(
        "print(ARGS); print(type_of(ARGS));",
        &[],
        &["a", "--b", "3"],
    );
    assert_eq!(r.code, Some(0));
    assert_eq!(r.lines(), ["[\"a\", \"--b\", \"3\"]", "array"]);
}

#[test]
fn everything_after_the_script_is_the_scripts_flags_included() {
    let r = run_with(
        "print(ARGS);",
        &["--workers", "2"],
        &["--workers", "3", "-x"],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.lines(), ["[\"--workers\", \"3\", \"-x\"]"]);
}

#[test]
fn args_is_a_constant() {
    let r = run("ARGS = [];");
    assert_eq!(r.code, Some(1));
}

#[test]
fn exit_sets_the_status() {
    assert_eq!(run("print(1); exit(7); print(2);").code, Some(7));
    assert_eq!(run("exit();").code, Some(0));
    assert_eq!(run("fn f() { exit(5) } f();").code, Some(5));
}

#[test]
fn an_uncaught_error_is_file_line_col_and_exit_one() {
    let s = script("let x = 1;\nlet y = 2;\n  throw \"it broke\";\n");
    let r = finish(start_file(&s.path, &[]));
    assert_eq!(r.code, Some(1));
    let line = error_report(&r.stderr);
    assert_eq!(line, format!("{}:3:3: it broke", s.path.display()));
    assert!(
        r.stderr.contains("\n   3 |   throw \"it broke\";\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_error_inside_a_function_names_where_it_happened() {
    let s = script("fn inner() {\n    1 / 0\n}\nfn outer() { inner() }\nouter();\n");
    let r = finish(start_file(&s.path, &[]));
    assert_eq!(r.code, Some(1));
    let line = error_report(&r.stderr);
    assert!(
        line.starts_with(&format!("{}:2:", s.path.display())),
        "{line}"
    );
    assert!(r.stderr.contains("\n   2 |     1 / 0\n"), "{}", r.stderr);
    assert!(line.contains("Division by zero"), "{line}");
}

#[test]
fn a_parse_error_has_line_and_column_and_exit_two() {
    let s = script("let a = 1;\nlet b = ;\n");
    for cmd in ["run", "check"] {
        let out = mphost(&[cmd, s.path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let line = error_report(&String::from_utf8_lossy(&out.stderr));
        assert!(
            line.starts_with(&format!("{}:2:9: ", s.path.display())),
            "{cmd}: {line}"
        );
    }
}

#[test]
fn check_accepts_a_good_script_without_running_it() {
    let s = script("print(\"ran\");");
    let out = mphost(&["check", s.path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn unreadable_inputs_are_one_line_exit_two() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.rhai");
    std::fs::write(&garbage, [0xff, 0xfe, 0x00, 0x81, 0x92]).unwrap();
    let missing = dir.path().join("missing.rhai");
    let cases = [
        (missing.to_str().unwrap().to_string(), "no such file"),
        (dir.path().to_str().unwrap().to_string(), "is a directory"),
        (garbage.to_str().unwrap().to_string(), "not UTF-8"),
    ];
    for (path, reason) in cases {
        let out = mphost(&["run", &path]);
        assert_eq!(out.status.code(), Some(2), "{path}");
        let line = one_line(&out.stderr);
        assert!(line.contains(&path) && line.contains(reason), "{line}");
    }
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(mphost(&["run"]).status.code(), Some(2));
    assert_eq!(mphost(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        mphost(&["run", "--workers", "0", "x.rhai"]).status.code(),
        Some(2)
    );
}

#[test]
fn help_and_version() {
    let out = mphost(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("mphost "));
    let out = mphost(&["-h"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("run"));
}

#[test]
fn workers_flag_sets_the_pool_map_default() {
    let source = "fn f(x) { getpid() } let items = []; for i in 0..40 { items.push(i); } \
                  let pids = pool_map(f, items); \
                  let seen = #{}; for p in pids { seen[p.to_string()] = true; } print(seen.len());";
    let r = run_with(source, &["--workers", "1"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.lines(), ["1"]);
}

#[test]
fn cpu_count_getpid_and_sleep() {
    let lines = run_ok(
        "print(cpu_count() >= 1); print(getpid() > 1); sleep(0); sleep(0.01); print(\"ok\");",
    );
    assert_eq!(lines, ["true", "true", "ok"]);
    let r = run("sleep(-1);");
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("non-negative"), "{}", r.stderr);
}

/// The command line of a running process, its arguments joined by spaces.
fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

#[test]
fn start_method_spawn_runs_each_worker_in_a_fresh_executable() {
    for (method, exec) in [("spawn", true), ("fork", false)] {
        // The workers stay until the test has read their command lines and
        // made the file `checked`.
        let dir = tempfile::tempdir().expect("a temporary directory");
        let checked = dir.path().join("checked");
        let mut run = Streaming::start_with(
            &format!(
                "const K = 5;
                 let q = queue();
                 let p = spawn(|| {{ q.put(getpid()); sleep(30); }});
                 print(q.get());
                 let w = pool(1);
                 w.map(|x| x, [1]);
                 print(w.pids()[0]);
                 while glob(\"{checked}\").len() == 0 {{ sleep(0.01); }}
                 print(pool_map(|x| x + global::K, [1, 2]));
                 p.kill(); w.terminate();",
                checked = checked.display()
            ),
            &["--start-method", method],
        );
        for who in ["spawned process", "pool worker"] {
            let pid: i32 = run.line().parse().expect("a worker's pid");
            let line = cmdline(pid);
            assert_eq!(line.contains("__worker"), exec, "{method} {who}: {line}");
        }
        std::fs::write(&checked, "").expect("write the handshake file");
        assert_eq!(run.line(), "[6, 7]", "{method}");
        assert_eq!(run.wait(), Some(0), "{method}: {}", run.stderr());
    }
}

#[test]
fn an_unknown_start_method_is_a_usage_error() {
    let r = run_with("print(1);", &["--start-method", "forkserver"], &[]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("forkserver"), "{}", r.stderr);
}

#[test]
fn the_committed_man_pages_are_what_mphost_man_writes_now() {
    // docs/man is rendered from the clap definitions: a flag added, renamed
    // or reworded without `mphost man docs/man` fails here.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("pages");
    let r = finish(
        Command::new(BIN)
            .args(["man", out.to_str().expect("a UTF-8 path")])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start mphost man"),
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/man");
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("the pages were written")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "mphost-check.1",
            "mphost-man.1",
            "mphost-run.1",
            "mphost-test.1",
            "mphost-worker.1",
            "mphost.1"
        ]
    );
    for name in names {
        let now = std::fs::read_to_string(out.join(&name)).expect("read a page");
        let kept = std::fs::read_to_string(committed.join(&name)).unwrap_or_default();
        assert!(
            now == kept,
            "docs/man/{name} is out of date: run `mphost man docs/man` and commit it"
        );
    }
    let bad = finish(
        Command::new(BIN)
            .args(["man", "/proc/no-such-folder/pages"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start mphost man"),
    );
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(
        bad.stderr
            .starts_with("mphost man: cannot write the pages into /proc/no-such-folder/pages: "),
        "{}",
        bad.stderr
    );
}
