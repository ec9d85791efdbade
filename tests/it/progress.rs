//! The progress bar of long pool maps, as a person sees it in a terminal:
//! each test runs `mphost` in a tmux pane (a private tmux server, killed at
//! the end even when the test fails) and reads the screen. The maps are held
//! half-way by a file the test creates, so nothing depends on how fast the
//! machine is; only the checks that a bar does *not* appear wait a fixed
//! while (several times the bar's half-second delay).
//!
//! tmux is required: without it these tests fail, loudly, rather than pass
//! having checked nothing.

use super::common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How long a run must show no bar before its absence counts.
const QUIET: Duration = Duration::from_secs(3);

/// Items from 5 on wait for the file `ARGS[0]` (the gate), so a map of 20
/// items on 2 workers stands at 5/20 until the test creates it. Each item
/// prints a line on stdout and one on stderr.
const HOLD: &str = r#"
let gate = ARGS[0];
fn hold(x, gate) {
    if x >= 5 { if x == 5 { print("holding"); } while !exists(gate) { sleep(0.02); } }
    print(`line from item ${x} on stdout`); debug(`note from item ${x}`); x
}
"#;

/// `pool_map` held at 5/20, with `options` added to its options map.
fn held_pool_map(options: &str) -> String {
    format!(
        "{HOLD}let r = pool_map(|x| hold(x, gate), 0..20, #{{ workers: 2, chunksize: 1{options} }});\nprint(`done ${{r.len()}}`);\n"
    )
}

/// A tmux server of this test's own (its socket in a temporary folder),
/// with one 120x30 pane running `sh`, everything it receives logged; killed
/// when dropped.
struct Pane {
    socket: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn tmux(socket: &Path, args: &[&str]) -> Output {
    Command::new("tmux")
        .arg("-S")
        .arg(socket)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("tests/it/progress.rs needs tmux on PATH (apt-get install tmux): {e}")
        })
}

impl Pane {
    fn new() -> Pane {
        let dir = tempfile::tempdir().expect("temp dir");
        let (socket, log) = (dir.path().join("tmux"), dir.path().join("pane.log"));
        let made = tmux(
            &socket,
            &[
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "30",
                "-s",
                "t",
                "env",
                "PS1=$ ",
                "sh",
            ],
        );
        let pane = Pane {
            socket,
            log,
            _dir: dir,
        };
        assert!(made.status.success(), "tmux new-session: {made:?}");
        let piped = format!("cat >> '{}'", pane.log.display());
        let out = tmux(&pane.socket, &["pipe-pane", "-t", "t", "-o", &piped]);
        assert!(out.status.success(), "tmux pipe-pane: {out:?}");
        // Typed before the shell is ready, a line would be echoed before
        // its prompt, and the prompt land on the run's first line.
        pane.wait_for("the shell's prompt", |screen| screen.starts_with('$'));
        pane
    }

    /// Types `line` and Enter.
    fn type_line(&self, line: &str) {
        let out = tmux(&self.socket, &["send-keys", "-t", "t", "-l", line]);
        assert!(out.status.success(), "tmux send-keys: {out:?}");
        tmux(&self.socket, &["send-keys", "-t", "t", "Enter"]);
    }

    /// Presses a key, named as tmux names it (`C-c`).
    fn press(&self, key: &str) {
        let out = tmux(&self.socket, &["send-keys", "-t", "t", key]);
        assert!(out.status.success(), "tmux send-keys: {out:?}");
    }

    /// Runs `mphost run FLAGS script GATE` in the pane, then prints
    /// `RUN-END` and its status (typed so that the line typed does not show it).
    fn run(&self, script: &Path, flags: &str, gate: &Path, redirect: &str) {
        self.type_line(&format!(
            "{BIN} run {flags} '{}' '{}' {redirect}; echo \"RUN\"\"-END $?\"",
            script.display(),
            gate.display()
        ));
    }

    /// The screen as it is now, and the lines scrolled off it.
    fn screen(&self) -> String {
        let out = tmux(
            &self.socket,
            &["capture-pane", "-p", "-S", "-200", "-t", "t"],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Everything the pane was sent so far, bars that came and went included.
    fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// Waits until the run has ended (`RUN-END` shows); the screen then.
    fn ended(&self) -> String {
        self.wait_for("the run's end", |screen| screen.contains("RUN-END"))
    }

    /// Waits until the screen shows `what` (or the hang limit passes).
    fn wait_for(&self, what: &str, shows: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if shows(&screen) {
                return screen;
            }
            assert!(
                started.elapsed() < HANG_LIMIT,
                "the pane never showed {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        // Ends the shell and the mphost run in it (SIGHUP) with the server.
        let _ = tmux(&self.socket, &["kill-server"]);
    }
}

/// A bar line, as `progress.rs` draws it: `pool_map [===>   ] 5/20 items, ...`.
fn bar_line(screen: &str) -> Option<&str> {
    screen
        .lines()
        .find(|l| l.contains(" items, ") && l.contains("/20 items"))
}

/// A held map running in a pane of its own.
struct Held {
    pane: Pane,
    gate: PathBuf,
    _script: Script,
}

impl Held {
    /// Runs `source` (a held map) with `flags`, its output going through
    /// `redirect`, and waits until it holds.
    fn start(source: &str, flags: &str, redirect: &str) -> Held {
        let script = script(source);
        let gate = script.dir.path().join("gate");
        let pane = Pane::new();
        pane.run(&script.path, flags, &gate, redirect);
        pane.wait_for("the map holding", |screen| screen.contains("holding"));
        Held {
            pane,
            gate,
            _script: script,
        }
    }

    /// Lets the map finish; the screen once the run has ended, checked to
    /// show the whole result and no bar left over.
    fn release(&self) -> String {
        std::fs::write(&self.gate, "").expect("write the gate file");
        let screen = self.pane.ended();
        assert!(
            screen.contains("done 20\n") && screen.contains("RUN-END 0"),
            "{screen}"
        );
        // Gone when the map is done: nothing of it is left on the screen.
        assert!(!screen.contains(" items, "), "the bar stayed:\n{screen}");
        screen
    }

    /// Checks that no bar appears while it holds (for several times the
    /// bar's delay), nor after: not even briefly, in the pane's whole log.
    fn assert_no_bar(&self) {
        std::thread::sleep(QUIET);
        self.release();
        let log = self.pane.log();
        assert!(!log.contains(" items, "), "{log}");
    }
}

#[test]
fn tmux_is_installed() {
    let out = Command::new("tmux").arg("-V").output();
    assert!(
        out.as_ref().is_ok_and(|o| o.status.success()),
        "tests/it/progress.rs needs tmux (apt-get install tmux): {out:?}"
    );
}

#[test]
fn a_long_map_shows_a_bar_on_a_terminal_and_clears_it_when_done() {
    let held = Held::start(&held_pool_map(""), "", "");
    let screen = held
        .pane
        .wait_for("a progress bar", |screen| bar_line(screen).is_some());
    let bar = bar_line(&screen).unwrap_or_default();
    assert!(
        bar.trim_start().starts_with("pool_map [") && bar.contains(" 5/20 items, "),
        "{screen}"
    );
    assert!(bar.contains("/s, ") && bar.ends_with(" left"), "{screen}");
    held.release();
}

#[test]
fn no_bar_when_stderr_is_a_pipe() {
    Held::start(&held_pool_map(""), "", "2>&1 | cat").assert_no_bar();
}

#[test]
fn no_bar_with_no_progress() {
    Held::start(&held_pool_map(""), "--no-progress", "").assert_no_bar();
}

#[test]
fn no_bar_for_a_call_with_progress_false() {
    Held::start(&held_pool_map(", progress: false"), "", "").assert_no_bar();
}

#[test]
fn a_pool_made_with_progress_false_shows_no_bar_and_a_call_cannot_turn_it_on() {
    let source = format!(
        "{HOLD}let p = pool(#{{ workers: 2, progress: false }});
let r = p.map(|x| hold(x, gate), 0..20, #{{ chunksize: 1, progress: true }});
print(`done ${{r.len()}}`);"
    );
    Held::start(&source, "", "").assert_no_bar();
}

#[test]
fn lines_printed_while_a_bar_shows_stay_whole() {
    let held = Held::start(&held_pool_map(""), "", "");
    held.pane
        .wait_for("a progress bar", |screen| bar_line(screen).is_some());
    let screen = held.release();
    for x in 0..20 {
        // Whole lines: neither a bar nor another line got into them.
        let line = format!("line from item {x} on stdout");
        assert!(screen.lines().any(|l| l == line), "{line}:\n{screen}");
    }
}

#[test]
fn two_maps_at_once_get_a_bar_each_on_lines_of_their_own() {
    let source = format!(
        "{HOLD}fn other(gate) {{ pool_map(|x| hold(x, gate), 0..20, #{{ workers: 1, chunksize: 1 }}).len() }}
let a = spawn(other, [gate]);
let p = pool(2);
let n = 0;
for x in p.imap(|x| hold(x, gate), 0..20) {{ n += 1; }}
a.join();
print(`done ${{n}}`);"
    );
    let held = Held::start(&source, "", "");
    let bars = |screen: &str| -> Vec<String> {
        screen
            .lines()
            .filter(|l| l.contains(" 5/20 items, "))
            .map(|l| l.trim_start().to_string())
            .collect()
    };
    let screen = held
        .pane
        .wait_for("two bars", |screen| bars(screen).len() == 2);
    let mut shown = bars(&screen);
    shown.sort();
    assert!(
        shown[0].starts_with("imap [") && shown[1].starts_with("pool_map ["),
        "{screen}"
    );
    held.release();
}

#[test]
fn ctrl_c_clears_the_bar_before_the_last_words() {
    let held = Held::start(&held_pool_map(""), "", "");
    held.pane
        .wait_for("a progress bar", |screen| bar_line(screen).is_some());
    held.pane.press("C-c");
    let screen = held.pane.ended();
    assert!(
        screen.contains("mphost: interrupted by SIGINT") && screen.contains("RUN-END 130"),
        "{screen}"
    );
    // Neither the bar nor the `^C` the terminal echoed is left.
    assert!(
        !screen.contains(" items, ") && !screen.contains("^C"),
        "{screen}"
    );
}
