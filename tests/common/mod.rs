//! Runs `mphost` the way a user does, with a generous "does not hang" bound.
#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mphost");

/// Long enough for a loaded 2-core machine; only a hang gets near it.
pub const HANG_LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Waits for `child`, killing it and failing the test if it hangs.
pub fn finish(mut child: Child) -> Run {
    let started = Instant::now();
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for mphost") {
            break status;
        }
        if started.elapsed() > HANG_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mphost hung for more than {HANG_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code(),
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    }
}

pub fn start_file(path: &Path, extra: &[&str]) -> Child {
    Command::new(BIN)
        .arg("run")
        .args(extra)
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mphost")
}

/// A script written to a temporary file; the file lives as long as this.
pub struct Script {
    pub dir: tempfile::TempDir,
    pub path: std::path::PathBuf,
}

pub fn script(source: &str) -> Script {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("script.rhai");
    std::fs::write(&path, source).expect("write script");
    Script { dir, path }
}

/// Runs `source` as a script with `mphost run [flags] FILE [args]`.
pub fn run_with(source: &str, flags: &[&str], args: &[&str]) -> Run {
    let s = script(source);
    let child = Command::new(BIN)
        .arg("run")
        .args(flags)
        .arg(&s.path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mphost");
    finish(child)
}

pub fn run(source: &str) -> Run {
    run_with(source, &[], &[])
}

/// Runs a script that must succeed and returns its stdout lines.
pub fn run_ok(source: &str) -> Vec<String> {
    let r = run(source);
    assert_eq!(r.code, Some(0), "script failed: {r:#?}");
    r.lines().into_iter().map(str::to_string).collect()
}

/// Whether a process with this pid still exists (a zombie counts as gone).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Polls `cond` until it holds or the hang limit passes.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < HANG_LIMIT, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
