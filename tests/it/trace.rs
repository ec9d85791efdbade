//! `mphost run --trace FILE.json`: a Chrome trace-event file with one named
//! track per process, its life, its pool tasks and the time it waited;
//! written however the run ends; a path that cannot be written is one line.

use super::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Run, Streaming, run_with, script};
use serde_json::Value;

const SIGTERM: i32 = 15;

/// A parsed trace file.
struct Trace {
    events: Vec<Value>,
}

impl Trace {
    /// Reads `path`, checking the shape every trace-event viewer needs.
    fn read(path: &Path) -> Trace {
        let text = std::fs::read_to_string(path).expect("the trace file exists");
        let json: Value = serde_json::from_str(&text).expect("the trace is valid JSON");
        assert_eq!(json["displayTimeUnit"], "ms", "{text}");
        let events = json["traceEvents"]
            .as_array()
            .expect("a traceEvents array")
            .clone();
        for e in &events {
            assert!(e["name"].is_string(), "an event without a name: {e}");
            assert!(
                e["pid"].is_i64() && e["tid"] == e["pid"],
                "one track per pid: {e}"
            );
            assert!(e["ts"].as_f64().is_some_and(|ts| ts >= 0.0), "{e}");
            match e["ph"].as_str() {
                Some("M") => assert!(e["args"].is_object(), "{e}"),
                Some("X") => assert!(e["dur"].as_f64().is_some_and(|d| d >= 0.0), "{e}"),
                other => panic!("unexpected phase {other:?} in {e}"),
            }
        }
        Trace { events }
    }

    /// Track names by pid, from the `process_name` metadata events.
    fn tracks(&self) -> BTreeMap<i64, String> {
        let mut tracks = BTreeMap::new();
        for e in self.events.iter().filter(|e| e["name"] == "process_name") {
            let name = e["args"]["name"].as_str().expect("a name").to_string();
            let before = tracks.insert(e["pid"].as_i64().expect("pid"), name);
            assert!(before.is_none(), "one process_name per track: {e}");
        }
        tracks
    }

    /// The complete (`X`) events named `name`.
    fn spans(&self, name: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["ph"] == "X" && e["name"] == name)
            .collect()
    }

    /// The one lifetime span of the process named `name`.
    fn life(&self, name: &str) -> &Value {
        let lives = self.spans(name);
        assert_eq!(lives.len(), 1, "one lifetime span for {name}: {lives:?}");
        assert_eq!(lives[0]["cat"], "process");
        lives[0]
    }

    fn pid_of(&self, name: &str) -> i64 {
        self.life(name)["pid"].as_i64().expect("pid")
    }
}

fn dur(e: &Value) -> f64 {
    e["dur"].as_f64().expect("dur")
}

fn ts(e: &Value) -> f64 {
    e["ts"].as_f64().expect("ts")
}

/// Runs `source` with `--trace` (and `flags`) into a fresh file.
fn traced(source: &str, flags: &[&str]) -> (Run, tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("run.json");
    let mut all = vec!["--trace", path.to_str().expect("utf-8 path")];
    all.extend(flags);
    let run = run_with(source, &all, &[]);
    (run, dir, path)
}

/// The integers in a line like `spawned 12 34` or `workers [5, 6]`.
fn numbers(line: &str) -> Vec<i64> {
    line.split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

const MAIN_SPAWNS_AND_A_POOL: &str = r#"
fn cube(x) { x * x * x }
fn nap(t) { sleep(t); getpid() }
let a = spawn(nap, [0.05]);
let b = spawn(nap, [0.05]);
let p = pool(2);
let r = p.map(cube, range(0, 40), 3);
print(`main ${getpid()}`);
print(`spawned ${a.join()} ${b.join()}`);
print(`workers ${p.pids()}`);
print(r[39]);
"#;

fn check_tracks_tasks_and_lives(flags: &[&str]) {
    let (run, _dir, path) = traced(MAIN_SPAWNS_AND_A_POOL, flags);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let lines = run.lines();
    assert_eq!(lines[3], "59319");
    let trace = Trace::read(&path);

    // One named track per process, under the pid the script saw.
    let mut expected = BTreeMap::new();
    expected.insert(numbers(lines[0])[0], "MainProcess".to_string());
    for (i, pid) in numbers(lines[1]).into_iter().enumerate() {
        expected.insert(pid, format!("Process-{}", i + 1));
    }
    let workers = numbers(lines[2]);
    assert_eq!(workers.len(), 2, "{lines:?}");
    for (i, pid) in workers.iter().enumerate() {
        expected.insert(*pid, format!("PoolWorker-{}", i + 1));
    }
    assert_eq!(expected.len(), 5);
    assert_eq!(trace.tracks(), expected);
    for name in expected.values() {
        let thread = trace
            .events
            .iter()
            .find(|e| e["name"] == "thread_name" && e["args"]["name"] == *name);
        assert!(thread.is_some(), "no thread_name for {name}");
    }

    // Each spawned process's life, with its exit status, on its own track.
    for name in ["Process-1", "Process-2", "MainProcess"] {
        let life = trace.life(name);
        assert_eq!(life["args"]["exitcode"], 0, "{life}");
        assert!(
            dur(life) >= 40_000.0,
            "{name} lived at least its nap: {life}"
        );
    }
    let main = trace.life("MainProcess");
    for name in ["Process-1", "Process-2", "PoolWorker-1", "PoolWorker-2"] {
        assert!(
            ts(trace.life(name)) >= ts(main),
            "{name} started after main"
        );
    }

    // Every item of the map, in exactly one task span, on a worker's track.
    let tasks = trace.spans("map cube");
    assert!(!tasks.is_empty(), "no task spans");
    let mut covered = Vec::new();
    for task in &tasks {
        assert_eq!(task["cat"], "task");
        assert!(
            workers.contains(&task["pid"].as_i64().expect("pid")),
            "{task}"
        );
        let first = task["args"]["first"].as_u64().expect("first");
        let count = task["args"]["count"].as_u64().expect("count");
        assert!((1..=3).contains(&count), "chunks of at most 3: {task}");
        covered.extend(first..first + count);
        let life = trace.life(&expected[&task["pid"].as_i64().expect("pid")]);
        assert!(ts(task) >= ts(life), "a task inside its worker's life");
    }
    covered.sort_unstable();
    assert_eq!(covered, (0..40).collect::<Vec<u64>>());

    // Main waited for the map's results.
    let waits = trace.spans("blocked: map");
    assert!(
        waits.iter().any(|w| w["pid"] == main["pid"]),
        "main's wait for the map: {:?}",
        trace.events
    );
}

#[test]
fn each_process_is_a_named_track_with_its_life_and_its_pool_tasks() {
    check_tracks_tasks_and_lives(&[]);
}

#[test]
fn exec_d_workers_record_their_tasks_too() {
    check_tracks_tasks_and_lives(&["--start-method", "spawn"]);
}

/// A consumer blocks on `q.get()` while the producer sleeps `NAP` seconds
/// after hearing that the consumer is about to get; the consumer then
/// naps a second, so that main's `join` blocks however late it comes.
const NAP: f64 = 0.6;

fn check_a_blocked_get(flags: &[&str]) {
    let source = format!(
        r#"
fn consume(ready, q) {{ ready.put(1); let v = q.get(); sleep(1.0); v }}
let ready = queue();
let q = queue();
let c = spawn(consume, [ready, q]);
ready.get();
sleep({NAP});
q.put("late");
print(c.join());
"#
    );
    let (run, _dir, path) = traced(&source, flags);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.lines(), ["late"]);
    let trace = Trace::read(&path);
    let consumer = trace.pid_of("Process-1");
    let gets = trace.spans("blocked: queue get");
    let long: Vec<&&Value> = gets
        .iter()
        .filter(|g| g["pid"] == consumer && dur(g) >= NAP * 1e6 / 2.0)
        .collect();
    assert_eq!(long.len(), 1, "one long get in the consumer: {gets:?}");
    assert_eq!(long[0]["cat"], "blocked");
    assert_eq!(long[0]["args"]["on"], "Queue(#2)");
    let life = trace.life("Process-1");
    assert!(ts(long[0]) >= ts(life) && ts(long[0]) + dur(long[0]) <= ts(life) + dur(life));
    // Main waited for the consumer to say it was ready, then joined it.
    let main = trace.pid_of("MainProcess");
    assert!(
        trace
            .spans("blocked: join")
            .iter()
            .any(|j| j["pid"] == main && j["args"]["on"] == "Process-1")
    );
}

#[test]
fn a_process_blocked_on_get_shows_a_blocked_span_as_long_as_its_wait() {
    check_a_blocked_get(&[]);
}

#[test]
fn an_exec_d_process_records_its_blocked_get() {
    check_a_blocked_get(&["--start-method", "spawn"]);
}

#[test]
fn calls_that_do_not_wait_leave_no_blocked_spans() {
    let (run, _dir, path) = traced(
        r#"
let l = lock();
let q = queue();
for i in 0..20000 { l.acquire(); l.release(); q.put(i); q.get(); }
print("done");
"#,
        &[],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    let trace = Trace::read(&path);
    let blocked = trace
        .events
        .iter()
        .filter(|e| e["cat"] == "blocked")
        .count();
    // 80,000 calls on fast paths; only a preempted one may show.
    assert!(
        blocked < 500,
        "{blocked} blocked spans for calls that never waited"
    );
}

#[test]
fn a_failed_task_names_its_item() {
    let (run, _dir, path) = traced(
        r#"
fn check(x) { if x == 5 { throw "five"; } x }
let items = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
try { pool_map(check, items, #{ workers: 1, chunksize: 10 }); } catch (e) { print(e); }
"#,
        &[],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains("item 5 failed"), "{run:#?}");
    let trace = Trace::read(&path);
    let tasks = trace.spans("pool_map check");
    assert_eq!(tasks.len(), 1, "{:?}", trace.events);
    assert_eq!(tasks[0]["args"]["first"], 0);
    assert_eq!(tasks[0]["args"]["count"], 10);
    assert_eq!(tasks[0]["args"]["failed_item"], 5);
}

#[test]
fn the_trace_is_written_when_the_script_fails_or_deadlocks() {
    let (run, _dir, path) = traced(
        r#"
fn quit() { exit(3); }
let p = spawn(quit);
p.join();
let q = queue();
q.get();
"#,
        &[],
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("Deadlock"), "{run:#?}");
    let trace = Trace::read(&path);
    assert_eq!(trace.life("Process-1")["args"]["exitcode"], 3);
    assert_eq!(trace.life("MainProcess")["args"]["exitcode"], 1);
    let main = trace.pid_of("MainProcess");
    assert!(
        trace
            .spans("blocked: queue get")
            .iter()
            .any(|g| g["pid"] == main),
        "main's get that the deadlock check ended: {:?}",
        trace.events
    );
}

#[test]
fn the_trace_is_written_when_the_run_is_interrupted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("run.json");
    let mut run = Streaming::start_with(
        r#"
fn nap() { sleep(60); }
let p = spawn(nap);
print(p.pid);
p.join();
"#,
        &["--trace", path.to_str().expect("utf-8 path")],
    );
    let pid: i64 = run.line().parse().expect("the spawned pid");
    common::kill(run.pid(), SIGTERM);
    assert_eq!(run.wait(), Some(143), "{}", run.stderr());
    let trace = Trace::read(&path);
    let life = trace.life("Process-1");
    assert_eq!(life["pid"], pid);
    assert!(life["args"]["exitcode"].is_null(), "{life}");
    let exit = life["args"]["exit"].as_str().expect("exit");
    assert!(exit.contains("still running"), "{exit}");
}

#[test]
fn a_trace_path_that_cannot_be_written_is_one_line_and_runs_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-folder").join("run.json");
    let s = script("print(\"ran\");");
    for (path, reason) in [
        (missing.as_path(), "its folder does not exist"),
        (dir.path(), "is a directory"),
    ] {
        let run = common::finish(
            common::mphost_run()
                .arg("--trace")
                .arg(path)
                .arg(&s.path)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start mphost"),
        );
        assert_eq!(run.code, Some(2), "{run:#?}");
        assert_eq!(run.stdout, "", "the script did not run");
        assert_eq!(
            run.stderr,
            format!(
                "mphost: cannot write the trace {}: {reason}\n",
                path.display()
            )
        );
    }
}

#[test]
fn a_trace_that_fails_at_the_end_is_one_line_and_keeps_the_script_s_result() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    for (source, code) in [("print(\"ran\");", 74), ("print(\"ran\"); exit(3);", 3)] {
        let run = run_with(source, &["--trace", "/dev/full"], &[]);
        assert_eq!(run.code, Some(code), "{run:#?}");
        assert_eq!(run.stdout, "ran\n");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{run:#?}");
        assert!(
            lines[0].starts_with("mphost: cannot write the trace /dev/full: "),
            "{run:#?}"
        );
    }
}

#[test]
fn a_with_block_that_waits_for_its_lock_shows_a_blocked_span() {
    let source = format!(
        r#"
fn hold(l, ready) {{ with l {{ ready.put(1); sleep({NAP}); }} }}
let l = lock();
let ready = queue();
let h = spawn(hold, [l, ready]);
ready.get();
with l {{ print("got it"); }}
h.join();
"#
    );
    let (run, _dir, path) = traced(&source, &[]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.lines(), ["got it"]);
    let trace = Trace::read(&path);
    let main = trace.pid_of("MainProcess");
    let waits = trace.spans("blocked: lock acquire");
    assert!(
        waits.iter().any(|w| w["pid"] == main
            && dur(w) >= NAP * 1e6 / 2.0
            && w["args"]["on"] == "Lock(#1)"),
        "{waits:?}"
    );
}
