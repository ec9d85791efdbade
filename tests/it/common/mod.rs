//! Runs `mphost` the way a user does, with a generous "does not hang" bound.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// `mphost run`, with `--start-method spawn` in the copy of this module
/// that `spawn_method` includes (it runs other modules' tests with exec'd
/// workers).
pub fn mphost_run() -> Command {
    let mut command = Command::new(BIN);
    // A cluster URL in the caller's environment would send every run to it.
    command.arg("run").env_remove("MPHOST_CLUSTER");
    if module_path!().contains("::spawn_method::") {
        command.args(["--start-method", "spawn"]);
    }
    if module_path!().contains("::cluster_mode::") {
        let url = shared_cluster::url();
        command.args(["--cluster", url, "--local-workers", "0"]);
    }
    command
}

/// The cluster the copy of this module in `cluster_mode` sends every run
/// to: one `redis-server` and two `mphost worker` hosts for the whole test
/// binary, started on first use by a thread that lives as long as the
/// binary, each with `PR_SET_PDEATHSIG`, so they end when the binary does.
mod shared_cluster {
    use std::os::unix::process::CommandExt;
    use std::path::PathBuf;
    use std::process::{Command, Stdio};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    static URL: OnceLock<String> = OnceLock::new();

    /// Workers on each of the two hosts: room for the tests that run at
    /// once, each pool at most this.
    const WORKERS: &str = "8";

    pub fn url() -> &'static str {
        URL.get_or_init(|| {
            let (sender, receiver) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut processes = Vec::new();
                let _ = sender.send(start(&mut processes));
                // The cluster's processes die with the thread that started
                // them (and are reaped by init): it lives as long as the
                // binary, holding them.
                loop {
                    std::thread::park();
                }
            });
            receiver.recv().expect("the cluster's thread answers")
        })
    }

    fn dying_with_this_thread(command: &mut Command) -> &mut Command {
        // SAFETY: prctl is async-signal-safe; it runs in the child before exec.
        unsafe {
            command.pre_exec(|| {
                libc_prctl(PR_SET_PDEATHSIG, 9);
                Ok(())
            })
        }
    }

    const PR_SET_PDEATHSIG: i32 = 1;

    unsafe extern "C" {
        #[link_name = "prctl"]
        fn libc_prctl(option: i32, arg: u64) -> i32;
    }

    fn start(processes: &mut Vec<std::process::Child>) -> String {
        let dir = folder();
        let socket = dir.join("redis.sock");
        let server = dying_with_this_thread(
            Command::new("redis-server")
                .args(["--port", "0", "--save", "", "--appendonly", "no"])
                .arg("--unixsocket")
                .arg(&socket)
                .arg("--dir")
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .spawn()
        .expect("redis-server (.ci/run installs it)");
        processes.push(server);
        let started = Instant::now();
        while !socket.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no Redis socket"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let url = format!("unix://{}", socket.display());
        for name in ["c1", "c2"] {
            let host = dying_with_this_thread(
                Command::new(super::BIN)
                    .args(["worker", &url, "--name", name, "--workers", WORKERS])
                    .env_remove("MPHOST_CLUSTER")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit()),
            )
            .spawn()
            .expect("start mphost worker");
            processes.push(host);
        }
        let started = Instant::now();
        let registered = || {
            Command::new("redis-cli")
                .arg("-s")
                .arg(&socket)
                .args(["zcard", "mph:hosts"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "2")
        };
        while !registered() {
            assert!(started.elapsed() < Duration::from_secs(20), "no hosts");
            std::thread::sleep(Duration::from_millis(10));
        }
        url
    }

    /// A folder for this binary's Redis socket; those of binaries that
    /// have ended are removed.
    fn folder() -> PathBuf {
        let tmp = std::env::temp_dir();
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("mphost-cluster-tests-")
                    && let Ok(pid) = pid.parse::<i32>()
                    && !super::alive(pid)
                {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = tmp.join(format!("mphost-cluster-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a folder for the test cluster");
        dir
    }
}

pub fn start_file(path: &Path, extra: &[&str]) -> Child {
    mphost_run()
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
    run_file(&script(source), flags, args, &[])
}

/// Runs script `s` with `mphost run [flags] FILE [args]`, with `env` added
/// to its environment.
pub fn run_file(s: &Script, flags: &[&str], args: &[&str], env: &[(&str, &str)]) -> Run {
    let child = mphost_run()
        .args(flags)
        .arg(&s.path)
        .args(args)
        .envs(env.iter().copied())
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

/// Whether `message` names process `pid` as every message does: "(pid
/// 42)", or "(pid 42 on HOST)" for a worker on a cluster's host.
pub fn names_pid(message: &str, pid: i32) -> bool {
    message.contains(&format!("(pid {pid})")) || message.contains(&format!("(pid {pid} on "))
}

/// Polls `cond` until it holds or the hang limit passes.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < HANG_LIMIT, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn kill(pid: i32, signal: i32) {
    // SAFETY: sends a signal to a pid this test started or read from its child.
    unsafe { libc_kill(pid, signal) };
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// A script whose stdout is read line by line while it runs. A watchdog
/// kills it after the hang limit, so a hung run fails the test (its stdout
/// ends) instead of hanging it; stderr is drained so it never blocks.
pub struct Streaming {
    pub script: Script,
    pub child: Child,
    out: BufReader<ChildStdout>,
    stderr_reader: Option<std::thread::JoinHandle<String>>,
    stderr: String,
    finished: Arc<AtomicBool>,
}

impl Streaming {
    pub fn start(source: &str) -> Streaming {
        Streaming::start_with(source, &[])
    }

    /// As `start`, with `mphost run` flags.
    pub fn start_with(source: &str, flags: &[&str]) -> Streaming {
        Streaming::start_limited(source, flags, HANG_LIMIT)
    }

    /// As `start_with`, for a run that may take up to `limit`.
    pub fn start_limited(source: &str, flags: &[&str], limit: Duration) -> Streaming {
        let script = script(source);
        let mut child = start_file(&script.path, flags);
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let finished = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&finished);
        let pid = child.id() as i32;
        std::thread::spawn(move || {
            let started = Instant::now();
            while !done.load(Ordering::SeqCst) {
                if started.elapsed() > limit {
                    kill(pid, 9);
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Streaming {
            script,
            child,
            out,
            stderr_reader: Some(stderr_reader),
            stderr: String::new(),
            finished,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The next line of stdout, without its newline; empty at the end.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).expect("read a line");
        line.trim_end().to_string()
    }

    /// Waits for the run to end; its exit code.
    pub fn wait(&mut self) -> Option<i32> {
        let status = self.child.wait().expect("wait for mphost");
        self.finished.store(true, Ordering::SeqCst);
        if let Some(reader) = self.stderr_reader.take() {
            self.stderr = reader.join().unwrap_or_default();
        }
        status.code()
    }

    /// What the run wrote to stderr (whole once `wait` returned).
    pub fn stderr(&self) -> &str {
        &self.stderr
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        if !self.finished.swap(true, Ordering::SeqCst) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The pids whose parent is `pid`.
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut kids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return kids;
    };
    for entry in entries.flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if fields.get(1).and_then(|f| f.parse::<i32>().ok()) == Some(pid) {
            kids.push(p);
        }
    }
    kids
}

/// The report of an uncaught error in the main script, as on stderr: its
/// first line is the whole message, `FILE:LINE:COL: message`, then come the
/// source line (`   3 | let x = foo(;`) and a caret under the column
/// (`     |             ^`). Checks that shape, that the source line is the
/// one named and the caret is under the column named (for a source line
/// without tabs), and that nothing else follows; returns the first line.
pub fn error_report(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "a message, a source line, a caret:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
    let (line, column) =
        file_position(lines[0]).unwrap_or_else(|| panic!("no FILE:LINE:COL: in {:?}", lines[0]));
    assert_caret(&lines[1..], line, column, stderr);
    lines[0].to_string()
}

/// The `LINE:COL` of a `FILE:LINE:COL: message` line.
pub fn file_position(first: &str) -> Option<(usize, usize)> {
    let mut parts = first.split(':');
    while let Some(part) = parts.next() {
        if let Ok(line) = part.parse::<usize>() {
            let column = parts.next()?.parse::<usize>().ok()?;
            return Some((line, column));
        }
    }
    None
}

/// Checks a source line and caret pair: `{line:>4} | text` over
/// `     | ` and the caret under `column` (1-based, in characters).
pub fn assert_caret(pair: &[&str], line: usize, column: usize, whole: &str) {
    let [source, caret] = pair else {
        panic!("no source line and caret in:\n{whole}");
    };
    let gutter = format!("{line:>4} | ");
    assert!(source.starts_with(&gutter), "source line {line}:\n{whole}");
    let bar = caret.find("| ").expect("a caret line starts with a gutter");
    assert_eq!(bar, gutter.len() - 2, "the gutters line up:\n{whole}");
    let under = caret[bar + 2..].chars().count();
    assert!(caret.ends_with('^'), "a caret:\n{whole}");
    assert_eq!(
        under, column,
        "the caret is under column {column}:\n{whole}"
    );
}
