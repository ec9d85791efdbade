//! Running one script as a child `mphost run`, with a deadline, leaving no
//! process behind.
//!
//! Owns the child's process group, its deadline and its output. It must not
//! know about snapshots or what the output means: it hands back the exit
//! status, stdout and stderr, or says the run timed out.
//!
//! The problem: a script under test may hang (a lost `join`, a deadlock in
//! its own logic), and its workers are separate processes that must not
//! outlive the test. The steps:
//! 1. the child is `current_exe() run NAME`, started in the script's folder
//!    as the leader of a new process group; `mphost run` never moves its
//!    workers to another group, so the group is the whole run;
//! 2. before `exec`, the child sets `PR_SET_PDEATHSIG` (SIGKILL): if
//!    `mphost test` dies (Ctrl-C reaches only its own group), the hub dies,
//!    and its workers follow through their own death signal. The death signal
//!    follows the thread that forked, so children are started from the
//!    calling thread, one at a time;
//! 3. the parent polls with `waitid(WNOWAIT)`, which sees the child end
//!    without reaping it. At the deadline it sends SIGTERM to the hub, which
//!    stops every process and says on stderr what each was doing; after a
//!    grace period it stops waiting;
//! 4. in every case, before the child is reaped (so its pid, which names the
//!    group, cannot be reused), SIGKILL goes to the whole group: whatever is
//!    left of the run is gone;
//! 5. stdout and stderr are read by two threads to their end, which comes
//!    once every process of the group is gone.

use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;

use super::snapfile::Exit;

/// How long the hub gets to stop its processes after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How long the output may stay open after the whole group was killed.
const OUTPUT_GRACE: Duration = Duration::from_secs(5);

/// How often the child is checked on.
const POLL: Duration = Duration::from_millis(10);

/// What a finished run printed, and how it ended.
pub struct Output {
    pub exit: Exit,
    pub stdout: String,
    pub stderr: String,
}

pub enum Ending {
    Finished(Output),
    /// The deadline passed; the run was stopped. What it wrote on stderr.
    TimedOut {
        stderr: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("cannot find the mphost executable to run the script with: {0}")]
    Exe(io::Error),
    #[error("cannot start mphost run: {0}")]
    Start(io::Error),
    #[error("lost track of the mphost run process: {0}")]
    Wait(io::Error),
    #[error("its output stayed open after every process of the run was killed")]
    OutputOpen,
}

/// Runs `script` under `mphost run` with `args` (its `ARGS`), in the
/// script's folder.
pub fn run(script: &Path, args: &[String], timeout: Duration) -> Result<Ending, ChildError> {
    let exe = std::env::current_exe().map_err(ChildError::Exe)?;
    let mut child = start(&exe, script, args).map_err(ChildError::Start)?;
    let pid = Pid::from_raw(child.id() as i32);
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());

    let ended = wait_until(pid, Instant::now() + timeout);
    let timed_out = match ended {
        Ok(true) => false,
        Ok(false) => {
            let _ = kill(pid, Signal::SIGTERM);
            let _ = wait_until(pid, Instant::now() + STOP_GRACE);
            true
        }
        Err(_) => true,
    };
    // The group leader is not reaped yet, so the group's id is still its own.
    let _ = killpg(pid, Signal::SIGKILL);
    let status = child.wait().map_err(ChildError::Wait)?;
    ended.map_err(|e| ChildError::Wait(e.into()))?;

    let stdout = stdout
        .recv_timeout(OUTPUT_GRACE)
        .map_err(|_| ChildError::OutputOpen)?;
    let stderr = stderr
        .recv_timeout(OUTPUT_GRACE)
        .map_err(|_| ChildError::OutputOpen)?;
    if timed_out {
        return Ok(Ending::TimedOut { stderr });
    }
    let exit = match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Code(-1),
    };
    Ok(Ending::Finished(Output {
        exit,
        stdout,
        stderr,
    }))
}

fn start(exe: &Path, script: &Path, args: &[String]) -> io::Result<Child> {
    let dir = match script.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = script.file_name().unwrap_or(script.as_os_str());
    // A name starting with '-' would read as a flag.
    let name = if name.to_string_lossy().starts_with('-') {
        Path::new(".").join(name)
    } else {
        PathBuf::from(name)
    };
    let parent = std::process::id();
    let mut command = Command::new(exe);
    command
        .arg("run")
        .arg(name)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: prctl and getppid are async-signal-safe system calls; the
    // closure allocates nothing and touches no lock.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent died before the death signal was set.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::other("mphost test is gone"));
            }
            Ok(())
        });
    }
    command.spawn()
}

/// Whether the child ended before `deadline`; it is left unreaped.
fn wait_until(pid: Pid, deadline: Instant) -> nix::Result<bool> {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    loop {
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(_) => return Ok(true),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
}

/// Reads a pipe to its end on a thread; the text arrives on the channel.
fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = send.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    receive
}
