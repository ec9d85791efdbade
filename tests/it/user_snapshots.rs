//! `mphost test`: snapshot tests of a user's own scripts, run the way a user
//! runs them, in a temporary folder.

use super::common;
use common::*;

use std::path::Path;
use std::process::{Command, Stdio};

/// `mphost test ARGS` with `dir` as the working directory.
fn mphost_test(dir: &Path, args: &[&str]) -> Run {
    let child = Command::new(BIN)
        .arg("test")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mphost test");
    finish(child)
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write a file");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Lines of stdout with their leading spaces (the diff's indent) removed.
fn trimmed_lines(run: &Run) -> Vec<&str> {
    run.stdout.lines().map(str::trim_start).collect()
}

/// Its single line of stderr, checked to be one line and no panic.
fn one_line_error(run: &Run) -> &str {
    assert_eq!(run.code, Some(2), "{run:#?}");
    let text = run.stderr.trim_end();
    assert_eq!(text.lines().count(), 1, "one line expected: {run:#?}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(text.starts_with("mphost test: "), "{text}");
    text
}

const GREET: &str = "print(\"hello\");\nprint(`sum ${1 + 2 + 3}`);\n";

#[test]
fn a_first_run_records_the_snapshot_in_insta_format_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "greet.rhai", GREET);
    let r = mphost_test(dir.path(), &["greet.rhai"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(
        r.lines(),
        [
            "recorded greet.rhai: new snapshot snapshots/greet.snap",
            "1 script: 0 ok, 1 recorded, 0 updated, 0 failed",
        ]
    );
    assert_eq!(
        read(&dir.path().join("snapshots/greet.snap")),
        "---\nsource: greet.rhai\nexpression: mphost run greet.rhai\n---\n\
         exit code: 0\n--- stdout\nhello\nsum 6\n"
    );
}

#[test]
fn a_second_run_passes_and_leaves_the_snapshot_alone() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "greet.rhai", GREET);
    assert_eq!(mphost_test(dir.path(), &["greet.rhai"]).code, Some(0));
    let snap = dir.path().join("snapshots/greet.snap");
    let recorded = read(&snap);
    let r = mphost_test(dir.path(), &["greet.rhai"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(
        r.lines(),
        [
            "ok       greet.rhai",
            "1 script: 1 ok, 0 recorded, 0 updated, 0 failed"
        ]
    );
    assert_eq!(read(&snap), recorded);
}

#[test]
fn changed_output_fails_with_a_diff_of_the_old_and_new_lines() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "greet.rhai", GREET);
    assert_eq!(mphost_test(dir.path(), &["greet.rhai"]).code, Some(0));
    let snap = dir.path().join("snapshots/greet.snap");
    let recorded = read(&snap);
    write(dir.path(), "greet.rhai", &GREET.replace("hello", "hullo"));

    let r = mphost_test(dir.path(), &["greet.rhai"]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    let lines = trimmed_lines(&r);
    assert!(
        lines[0].starts_with("FAILED   greet.rhai: differs from snapshots/greet.snap"),
        "{r:#?}"
    );
    let minus = lines.iter().position(|l| *l == "-hello").expect("old line");
    let plus = lines.iter().position(|l| *l == "+hullo").expect("new line");
    assert!(minus < plus, "{r:#?}");
    assert!(lines.contains(&"sum 6"), "unchanged context: {r:#?}");
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("+sum") || l.starts_with("-sum"))
    );
    assert!(
        !r.stdout.contains('\x1b'),
        "no colour when stdout is a pipe"
    );
    assert_eq!(
        lines.last(),
        Some(&"1 script: 0 ok, 0 recorded, 0 updated, 1 failed")
    );
    assert_eq!(
        read(&snap),
        recorded,
        "a failure does not touch the snapshot"
    );

    let coloured = mphost_test(dir.path(), &["--color", "always", "greet.rhai"]);
    assert_eq!(coloured.code, Some(1));
    assert!(
        coloured.stdout.contains("\x1b[31m-hello\x1b[0m"),
        "{coloured:#?}"
    );
    assert!(
        coloured.stdout.contains("\x1b[32m+hullo\x1b[0m"),
        "{coloured:#?}"
    );
}

#[test]
fn update_accepts_the_new_output_and_the_next_run_passes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "greet.rhai", GREET);
    assert_eq!(mphost_test(dir.path(), &["greet.rhai"]).code, Some(0));
    write(dir.path(), "greet.rhai", &GREET.replace("hello", "hullo"));

    let r = mphost_test(dir.path(), &["--update", "greet.rhai"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(
        r.lines()[0],
        "updated  greet.rhai: rewrote snapshots/greet.snap"
    );
    let snap = read(&dir.path().join("snapshots/greet.snap"));
    assert!(snap.ends_with("--- stdout\nhullo\nsum 6\n"), "{snap}");

    let r = mphost_test(dir.path(), &["greet.rhai"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(r.lines()[0], "ok       greet.rhai");
}

#[test]
fn a_folder_tests_each_script_in_name_order_and_no_path_means_the_current_folder() {
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("scripts");
    std::fs::create_dir(&scripts).unwrap();
    write(&scripts, "b.rhai", "print(\"b\");");
    write(&scripts, "a.rhai", "print(\"a\");");
    write(&scripts, "c.rhai", "print(\"c\");");
    write(&scripts, "notes.txt", "not a script");

    let r = mphost_test(dir.path(), &["scripts"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(
        r.lines(),
        [
            "recorded scripts/a.rhai: new snapshot scripts/snapshots/a.snap",
            "recorded scripts/b.rhai: new snapshot scripts/snapshots/b.snap",
            "recorded scripts/c.rhai: new snapshot scripts/snapshots/c.snap",
            "3 scripts: 0 ok, 3 recorded, 0 updated, 0 failed",
        ]
    );
    for name in ["a", "b", "c"] {
        let snap = read(&scripts.join(format!("snapshots/{name}.snap")));
        assert!(snap.ends_with(&format!("--- stdout\n{name}\n")), "{snap}");
    }
    assert!(!scripts.join("snapshots/notes.snap").exists());

    write(&scripts, "b.rhai", "print(\"B\");");
    let r = mphost_test(&scripts, &[]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    let lines = r.lines();
    assert_eq!(lines[0], "ok       a.rhai");
    assert!(
        lines[1].starts_with("FAILED   b.rhai: differs from snapshots/b.snap"),
        "{r:#?}"
    );
    assert!(
        lines.contains(&"ok       c.rhai"),
        "the rest still run: {r:#?}"
    );
    assert_eq!(
        lines.last(),
        Some(&"3 scripts: 2 ok, 0 recorded, 0 updated, 1 failed")
    );
}

#[test]
fn the_exit_code_is_part_of_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "quit.rhai", "print(\"bye\");\nexit(3);\n");
    let r = mphost_test(dir.path(), &["quit.rhai"]);
    assert_eq!(r.code, Some(0), "a recorded failure still passes: {r:#?}");
    assert_eq!(
        r.lines()[0],
        "recorded quit.rhai: new snapshot snapshots/quit.snap (exit code: 3)"
    );
    let snap = read(&dir.path().join("snapshots/quit.snap"));
    assert!(
        snap.ends_with("---\nexit code: 3\n--- stdout\nbye\n"),
        "{snap}"
    );
    assert_eq!(mphost_test(dir.path(), &["quit.rhai"]).code, Some(0));

    // Same stdout, another exit code: a failure whose diff is the code.
    write(dir.path(), "quit.rhai", "print(\"bye\");\nexit(4);\n");
    let r = mphost_test(dir.path(), &["quit.rhai"]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    let lines = trimmed_lines(&r);
    assert!(lines.contains(&"-exit code: 3"), "{r:#?}");
    assert!(lines.contains(&"+exit code: 4"), "{r:#?}");
    assert!(!lines.contains(&"-bye"), "{r:#?}");

    // An uncaught error: exit code 1, and its message is shown under the failure.
    write(
        dir.path(),
        "quit.rhai",
        "print(\"bye\");\nthrow \"it broke\";\n",
    );
    let r = mphost_test(dir.path(), &["quit.rhai"]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    let lines = trimmed_lines(&r);
    assert!(lines.contains(&"+exit code: 1"), "{r:#?}");
    assert!(lines.contains(&"quit.rhai:2:1: it broke"), "{r:#?}");
}

#[test]
fn pids_are_redacted_by_default_so_a_second_run_passes() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "pids.rhai",
        "let p = spawn(|| print(`child pid ${getpid()}`));\np.join();\n\
         print(`main pid=${getpid()}`);\nprint(`PID: ${p.pid}`);\n",
    );
    assert_eq!(mphost_test(dir.path(), &["pids.rhai"]).code, Some(0));
    let snap = read(&dir.path().join("snapshots/pids.snap"));
    assert!(
        snap.ends_with("--- stdout\nchild pid [pid]\nmain pid=[pid]\nPID: [pid]\n"),
        "{snap}"
    );
    let r = mphost_test(dir.path(), &["pids.rhai"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(r.lines()[0], "ok       pids.rhai");
}

#[test]
fn redact_replaces_a_regex_or_its_groups() {
    let dir = tempfile::tempdir().unwrap();
    // getpid() differs on every run; printed without the word pid, only
    // the --redact patterns hide it.
    write(
        dir.path(),
        "token.rhai",
        "print(`token ${getpid()} end`);\nprint(`id-${getpid()}`);\n",
    );
    let flags = ["--redact", r"token (\d+)", "--redact", r"id-\d+"];
    let r = mphost_test(dir.path(), &[&flags[..], &["token.rhai"]].concat());
    assert_eq!(r.code, Some(0), "{r:#?}");
    let snap = read(&dir.path().join("snapshots/token.snap"));
    assert!(
        snap.ends_with("--- stdout\ntoken [redacted] end\n[redacted]\n"),
        "{snap}"
    );
    let r = mphost_test(dir.path(), &[&flags[..], &["token.rhai"]].concat());
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(r.lines()[0], "ok       token.rhai");
}

#[test]
fn stderr_is_compared_only_with_the_stderr_flag() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "noisy.rhai",
        "print(\"out\");\ndebug(\"first\");\n",
    );
    assert_eq!(mphost_test(dir.path(), &["noisy.rhai"]).code, Some(0));
    let snap = dir.path().join("snapshots/noisy.snap");
    assert!(!read(&snap).contains("first"));
    write(
        dir.path(),
        "noisy.rhai",
        "print(\"out\");\ndebug(\"second\");\n",
    );
    assert_eq!(mphost_test(dir.path(), &["noisy.rhai"]).code, Some(0));

    let r = mphost_test(dir.path(), &["--stderr", "--update", "noisy.rhai"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert!(
        read(&snap).ends_with("--- stdout\nout\n--- stderr\nline 2: \"second\"\n"),
        "{}",
        read(&snap)
    );
    write(
        dir.path(),
        "noisy.rhai",
        "print(\"out\");\ndebug(\"third\");\n",
    );
    let r = mphost_test(dir.path(), &["--stderr", "noisy.rhai"]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert!(trimmed_lines(&r).contains(&"+line 2: \"third\""), "{r:#?}");
}

#[test]
fn a_script_runs_in_its_own_folder() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    write(&sub, "data.txt", "beside the script\n");
    write(
        &sub,
        "reads.rhai",
        "let text = read_text(\"data.txt\");\ntext.trim();\nprint(text);\n",
    );
    let r = mphost_test(dir.path(), &["sub/reads.rhai"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    let snap = read(&sub.join("snapshots/reads.snap"));
    assert!(
        snap.ends_with("---\nexit code: 0\n--- stdout\nbeside the script\n"),
        "{snap}"
    );
}

#[test]
fn bad_paths_and_bad_regexes_are_one_line_and_exit_two() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    write(dir.path(), "ok.rhai", "print(1);");

    let cases: [(&[&str], &str); 3] = [
        (
            &["ok.rhai", "missing.rhai"],
            "mphost test: missing.rhai: no such file or folder",
        ),
        (
            &["empty"],
            "mphost test: empty: no *.rhai scripts in this folder",
        ),
        (
            &["--redact", "(ab", "ok.rhai"],
            "mphost test: invalid --redact regex '(ab': unclosed group",
        ),
    ];
    for (args, message) in cases {
        let r = mphost_test(dir.path(), args);
        assert_eq!(one_line_error(&r), message);
        assert_eq!(r.stdout, "", "nothing ran");
    }
    let r = mphost_test(dir.path(), &["--redact", "a{99999999}", "ok.rhai"]);
    let line = one_line_error(&r);
    assert!(
        line.starts_with("mphost test: invalid --redact regex 'a{99999999}': "),
        "{line}"
    );
    // ok.rhai was named each time, but nothing was recorded.
    assert!(!dir.path().join("snapshots").exists());
}

#[test]
fn a_script_that_hangs_is_stopped_with_all_its_processes() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "hang.rhai",
        "let p = spawn(|| sleep(100000));\n\
         write_text(\"pids.txt\", `${parent_pid()} ${getpid()} ${p.pid}`);\n\
         print(\"waiting\");\nsleep(100000);\n",
    );
    let r = mphost_test(dir.path(), &["--timeout", "5", "hang.rhai"]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert!(
        r.lines()[0].starts_with(
            "FAILED   hang.rhai: timed out after 5 s; the script and all its processes were stopped"
        ),
        "{r:#?}"
    );
    assert_eq!(
        r.lines().last(),
        Some(&"1 script: 0 ok, 0 recorded, 0 updated, 1 failed")
    );
    assert!(
        !dir.path().join("snapshots").exists(),
        "a timed-out run is not recorded"
    );
    let pids: Vec<i32> = read(&dir.path().join("pids.txt"))
        .split_whitespace()
        .map(|p| p.parse().expect("a pid"))
        .collect();
    assert_eq!(pids.len(), 3, "the hub, the main script and its child");
    for pid in pids {
        eventually(&format!("pid {pid} is gone"), || !alive(pid));
    }
}

/// Copies the folder `from` into `to`, recursively.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("make a folder");
    for entry in std::fs::read_dir(from).expect("read a folder").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

#[test]
fn the_guide_tutorial_passes_its_committed_snapshot_and_writes_its_summary() {
    // scripts/sales is the guide's tutorial: CSV files read in
    // parallel, a JSON summary, and the script under `mphost test`.
    let dir = tempfile::tempdir().unwrap();
    let sales = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/sales");
    copy_tree(&sales, dir.path());
    let _ = std::fs::remove_file(dir.path().join("summary.json"));
    let run = mphost_test(dir.path(), &[]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains("1 ok"), "{}", run.stdout);
    let summary: serde_json::Value = serde_json::from_str(&read(&dir.path().join("summary.json")))
        .expect("summary.json is JSON");
    assert_eq!(summary["files"], 6);
    assert_eq!(summary["rows"], 120);
    let by_region: i64 = ["north", "south", "east", "west"]
        .iter()
        .map(|r| {
            summary["units_by_region"][r]
                .as_i64()
                .expect("a count per region")
        })
        .sum();
    let by_product: i64 = ["apples", "pears", "plums"]
        .iter()
        .map(|p| {
            summary["units_by_product"][p]
                .as_i64()
                .expect("a count per product")
        })
        .sum();
    let in_files: i64 = std::fs::read_dir(sales.join("data"))
        .unwrap()
        .flatten()
        .flat_map(|f| {
            read(&f.path())
                .lines()
                .skip(1)
                .map(|l| l.rsplit(',').next().unwrap().parse::<i64>().unwrap())
                .collect::<Vec<_>>()
        })
        .sum();
    assert_eq!((by_region, by_product), (in_files, in_files));
}

#[test]
fn a_scripts_args_file_gives_it_args_and_its_snapshot_names_them() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "job.rhai", "print(ARGS);\n");
    write(dir.path(), "job.args", "data.csv\ntwo words\n");
    let r = mphost_test(dir.path(), &["job.rhai"]);
    assert_eq!(r.code, Some(0), "{r:#?}");
    let snap = read(&dir.path().join("snapshots/job.snap"));
    assert!(
        snap.contains("expression: \"mphost run job.rhai data.csv 'two words'\"\n"),
        "{snap}"
    );
    assert!(snap.ends_with("[\"data.csv\", \"two words\"]\n"), "{snap}");
    // Other arguments, other output: the snapshot no longer matches.
    write(dir.path(), "job.args", "other.csv\n");
    let r = mphost_test(dir.path(), &["job.rhai"]);
    assert_eq!(r.code, Some(1), "{r:#?}");
    assert!(r.stdout.contains("+[\"other.csv\"]"), "{}", r.stdout);
}

#[test]
fn the_data_job_examples_pass_their_snapshots_under_both_start_methods() {
    // scripts/jobs: the five jobs of the benchmark against Python, written
    // with the data toolkit, on the small data committed beside them.
    let dir = tempfile::tempdir().unwrap();
    let jobs = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/jobs");
    copy_tree(&jobs, dir.path());
    let run = mphost_test(dir.path(), &[]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout.contains("5 scripts: 5 ok, 0 recorded"),
        "{}",
        run.stdout
    );
    // Each job prints the same under --start-method spawn, and the word
    // count of the pipeline is the words job's.
    let mut printed = std::collections::HashMap::new();
    for job in ["words", "sales", "logs", "primes", "pipeline"] {
        let args: Vec<String> = std::fs::read_to_string(dir.path().join(format!("{job}.args")))
            .map(|text| text.lines().map(str::to_string).collect())
            .unwrap_or_default();
        let runs: Vec<Run> = [&[][..], &["--start-method", "spawn"][..]]
            .iter()
            .map(|flags| {
                let child = Command::new(BIN)
                    .arg("run")
                    .args(*flags)
                    .arg(format!("{job}.rhai"))
                    .args(&args)
                    .current_dir(dir.path())
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start mphost run");
                finish(child)
            })
            .collect();
        assert_eq!(runs[0].code, Some(0), "{job}: {:#?}", runs[0]);
        assert_eq!(runs[0].stdout, runs[1].stdout, "{job} under spawn");
        assert!(
            !runs[0].stdout.contains("RESULT"),
            "{job}: timed without --time"
        );
        printed.insert(job, runs[0].stdout.clone());
    }
    assert_eq!(printed["words"], printed["pipeline"]);
}
