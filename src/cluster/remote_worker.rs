//! One of a run's workers on a worker host: started as `mphost __worker`
//! (as `--start-method spawn` starts one), with its socket's bytes carried
//! to and from the run through Redis, unread, until it ends; then its end
//! (and the item it was on, from its progress slot) is told to the run.
//!
//! Two threads carry it, each with its own connection: one reads the
//! worker's socket and its stderr (a pipe: what it writes there itself, a
//! panic or the line of a worker out of memory) and pushes `Up::Bytes`
//! and `Up::Stderr` onto the run's `up` list; the other waits on the
//! worker's `down` list and writes its bytes to the socket, or signals the
//! worker. A run that has gone (its lease lapsed or
//! released), or Redis lost, kills the worker.
//!
//! What it must not do: read the bytes it carries (the run's hub checks
//! them), or outlive its worker by more than one wait on the `down` list.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::Pid;
use redis::Connection;

use super::ClusterUrl;
use super::connect;
use super::keys::RunKeys;
use super::lease::HOST_PUSH;
use crate::shm::ProgressSlot;
use crate::wire::{
    Down, Launch, RemoteExit, RemoteStart, ScriptText, Up, UpEvent, decode_body, encode_body,
    write_frame,
};

/// How long one wait on the worker's `down` list lasts; between two, the
/// carrier checks that the run is still there.
const DOWN_WAIT_SECS: f64 = 1.0;

/// What a host knows of a run it serves.
pub struct RunOnHost {
    pub keys: RunKeys,
    pub script: ScriptText,
}

/// A worker this host started, as the host's main loop holds it.
pub struct Running(Arc<Carrier>);

impl Running {
    /// Stops the worker because the host leaves the cluster: its run is
    /// told it hands the worker's chunks back.
    pub fn hand_back(&self) {
        self.0.handing_back.store(true, Ordering::Release);
        self.0.kill(Signal::SIGKILL);
    }

    pub fn is_running(&self) -> bool {
        !self.0.ended.load(Ordering::Acquire)
    }
}

/// Starts `start` for `run` on this host (named `host`); `ended` is called,
/// from a carrier thread, once the worker has ended and the run was told.
/// `fenced` is set when the run refuses the host's messages (it declared
/// the host lost). Call it from the host's main thread: the worker dies
/// with the thread that started it (`PR_SET_PDEATHSIG`).
pub fn start(
    url: &ClusterUrl,
    host: &str,
    run: &RunOnHost,
    start: RemoteStart,
    fenced: Arc<AtomicBool>,
    ended: impl FnOnce() + Send + 'static,
) -> Result<Running, String> {
    let open = || connect::open(url).map_err(|e| e.to_string());
    let (mut up, mut down) = (open()?, open()?);
    connect::name_host_client(&mut up, host);
    connect::name_host_client(&mut down, host);
    let (host_end, worker_end) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| format!("cannot make a worker's socket: {e}"))?;
    let progress = ProgressSlot::new().map_err(|e| format!("cannot make a progress slot: {e}"))?;
    let launch = Launch {
        id: start.id,
        name: start.name,
        parent_pid: start.parent_pid,
        arena: false,
        role: start.role,
        script: run.script.clone(),
        modules: start.modules,
        max_memory: start.max_memory,
    };
    let launch = launch_memfd(&launch)?;
    let descriptors = [
        worker_end.as_raw_fd(),
        launch.as_raw_fd(),
        progress.writer().fd(),
    ];
    // Its own stderr (a panic, out of memory) goes to the run's, as a local
    // worker's does: read here, carried up.
    // Its end blocks (a worker never loses what it writes); ours does not.
    let (stderr, stderr_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .and_then(|ends| {
            nix::fcntl::fcntl(&ends.0, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
                .map(|_| ends)
        })
        .map_err(|e| format!("cannot make a worker's stderr: {e}"))?;
    let pid = crate::hub::fork_exec_worker(&descriptors, stderr_end.as_raw_fd())
        .map_err(|e| format!("cannot start a worker: {e}"))?;
    drop((worker_end, launch, stderr_end));
    let carrier = Carrier {
        id: start.id,
        host: host.to_string(),
        keys: run.keys.clone(),
        pid,
        reaped: Mutex::new(false),
        ended: AtomicBool::new(false),
        handing_back: AtomicBool::new(false),
        fenced,
    };
    let carrier = Arc::new(carrier);
    if carrier.push(&mut up, UpEvent::Started { pid: pid.as_raw() }) != Pushed::Taken {
        // Nobody to work for: the worker goes, and the carriers after it.
        carrier.kill(Signal::SIGKILL);
    }
    let socket = UnixStream::from(host_end);
    let reader = socket
        .try_clone()
        .map_err(|e| format!("cannot share a worker's socket: {e}"));
    let reader = match reader {
        Ok(reader) => reader,
        Err(e) => {
            carrier.kill(Signal::SIGKILL);
            let _ = waitpid(pid, None);
            return Err(e);
        }
    };
    let (down_carrier, up_carrier) = (carrier.clone(), carrier.clone());
    std::thread::spawn(move || down_carrier.carry_down(down, socket));
    std::thread::spawn(move || {
        up_carrier.carry_up(up, reader, std::fs::File::from(stderr), &progress);
        ended();
    });
    Ok(Running(carrier))
}

/// The worker's `Launch`, in a memfd read from its start.
fn launch_memfd(launch: &Launch) -> Result<OwnedFd, String> {
    let failed = |e: &dyn std::fmt::Display| format!("cannot write a worker's launch: {e}");
    let memfd =
        nix::sys::memfd::memfd_create(c"mphost-launch", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .map_err(|e| failed(&e))?;
    let mut file = std::fs::File::from(memfd);
    write_frame(&mut file, launch).map_err(|e| failed(&e))?;
    nix::unistd::lseek(&file, 0, nix::unistd::Whence::SeekSet).map_err(|e| failed(&e))?;
    Ok(OwnedFd::from(file))
}

#[derive(Debug, PartialEq, Eq)]
enum Pushed {
    Taken,
    /// The run is gone: its lease lapsed or was released.
    RunGone,
    /// The run declared this host lost: it takes nothing from it.
    Fenced,
    /// Redis is lost.
    Lost,
}

struct Carrier {
    id: u64,
    host: String,
    keys: RunKeys,
    pid: Pid,
    /// Set once the worker is reaped: its pid is no longer its own.
    reaped: Mutex<bool>,
    /// The worker ended and the run was told: the `down` carrier stops.
    ended: AtomicBool,
    /// The host leaves the cluster: the worker's chunks are handed back.
    handing_back: AtomicBool,
    /// Set for the whole host when a run fences it.
    fenced: Arc<AtomicBool>,
}

impl Carrier {
    /// Sends the worker a signal, unless it was reaped.
    fn kill(&self, signal: Signal) {
        if let Ok(reaped) = self.reaped.lock()
            && !*reaped
        {
            let _ = kill(self.pid, signal);
        }
    }

    fn push(&self, redis: &mut Connection, event: UpEvent) -> Pushed {
        let message = Up {
            id: self.id,
            host: self.host.clone(),
            event,
        };
        let Ok(message) = encode_body(&message) else {
            return Pushed::Lost;
        };
        let pushed: Result<i64, _> = redis::Script::new(HOST_PUSH)
            .key(self.keys.up())
            .key(self.keys.index())
            .key(self.keys.lease())
            .key(self.keys.fenced())
            .arg(message)
            .arg(&self.host)
            .invoke(redis);
        match pushed {
            Ok(0) => Pushed::RunGone,
            Ok(-1) => {
                self.fenced.store(true, Ordering::Release);
                Pushed::Fenced
            }
            Ok(_) => Pushed::Taken,
            Err(_) => Pushed::Lost,
        }
    }

    /// Carries the worker's bytes, and what it writes to its stderr, to the
    /// run until its socket closes; then reaps it, carries the rest of its
    /// stderr and tells the run how it ended.
    fn carry_up(
        &self,
        mut redis: Connection,
        mut socket: UnixStream,
        mut stderr: std::fs::File,
        progress: &ProgressSlot,
    ) {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut pushing = true;
        let mut stderr_open = true;
        loop {
            let (socket_ready, stderr_ready) = wait_for_either(Some(&socket), &stderr, stderr_open);
            if stderr_ready {
                match self.carry_stderr(&mut redis, &mut stderr, &mut buffer, pushing) {
                    Carried::Some | Carried::Nothing => {}
                    Carried::Closed => stderr_open = false,
                    Carried::RunGone => {
                        pushing = false;
                        self.kill(Signal::SIGKILL);
                    }
                }
            }
            if !socket_ready {
                continue;
            }
            let n = match socket.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // Closed with replies it never read: its end, as EOF is.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(_) => {
                    // A socket that failed rather than closed: the worker
                    // may live on, unheard; it goes.
                    self.kill(Signal::SIGKILL);
                    break;
                }
            };
            if pushing
                && self.push(&mut redis, UpEvent::Bytes(buffer[..n].to_vec())) != Pushed::Taken
            {
                // Nobody to work for: the worker goes, and its socket closes.
                pushing = false;
                self.kill(Signal::SIGKILL);
            }
        }
        // Whatever it writes to its stderr until it ends (it may write more
        // than a pipe holds as it goes: read, it cannot block on it).
        while stderr_open {
            let (_, ready) = wait_for_either(None, &stderr, true);
            if !ready {
                continue;
            }
            match self.carry_stderr(&mut redis, &mut stderr, &mut buffer, pushing) {
                Carried::Some | Carried::Nothing => {}
                Carried::Closed => stderr_open = false,
                Carried::RunGone => pushing = false,
            }
        }
        // Waited for without the lock (a kill from another thread must not
        // wait on it), then reaped under it, so a kill never reaches a pid
        // the kernel has given to another process.
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        while let Err(nix::errno::Errno::EINTR) = waitid(Id::Pid(self.pid), flags) {}
        let status = {
            let mut reaped = self.reaped.lock().unwrap_or_else(|e| e.into_inner());
            let status = match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => RemoteExit::Code(code),
                Ok(WaitStatus::Signaled(_, signal, _)) => RemoteExit::Signal(signal as i32),
                _ => RemoteExit::Signal(libc::SIGKILL),
            };
            *reaped = true;
            status
        };
        let started = progress.read();
        if pushing {
            let event = match self.handing_back.load(Ordering::Acquire) {
                true => UpEvent::HandedBack,
                false => UpEvent::Exited { status, started },
            };
            let _ = self.push(&mut redis, event);
        }
        self.ended.store(true, Ordering::Release);
    }

    /// Reads what the worker wrote to its stderr and, while `pushing`,
    /// carries it to the run.
    fn carry_stderr(
        &self,
        redis: &mut Connection,
        stderr: &mut std::fs::File,
        buffer: &mut [u8],
        pushing: bool,
    ) -> Carried {
        match stderr.read(buffer) {
            Ok(0) => Carried::Closed,
            Ok(n) if pushing => match self.push(redis, UpEvent::Stderr(buffer[..n].to_vec())) {
                Pushed::Taken => Carried::Some,
                _ => Carried::RunGone,
            },
            Ok(_) => Carried::Some,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Carried::Some,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Carried::Nothing,
            // A pipe that failed: nothing more comes.
            Err(_) => Carried::Closed,
        }
    }

    /// Carries the run's messages to the worker until it has ended.
    fn carry_down(&self, mut redis: Connection, mut socket: UnixStream) {
        let down = self.keys.down(self.id);
        while !self.ended.load(Ordering::Acquire) {
            let got: Result<Option<(String, Vec<u8>)>, _> = redis::cmd("BLPOP")
                .arg(&down)
                .arg(DOWN_WAIT_SECS)
                .query(&mut redis);
            match got {
                Ok(Some((_, message))) => match decode_body::<Down>(&message) {
                    Ok(Down::Bytes(bytes)) => {
                        // A worker that died reads nothing: its end comes up.
                        let _ = socket.write_all(&bytes);
                    }
                    Ok(Down::Signal(signal)) => {
                        if let Ok(signal) = Signal::try_from(signal) {
                            self.kill(signal);
                        }
                    }
                    // Whoever can write this Redis can run code here anyway;
                    // a message that does not decode is no message.
                    Err(_) => {}
                },
                Ok(None) => {
                    let wanted: Result<i64, _> = redis::Script::new(STILL_WANTED)
                        .key(self.keys.lease())
                        .key(self.keys.fenced())
                        .arg(&self.host)
                        .invoke(&mut redis);
                    match wanted {
                        Ok(1) => {}
                        Ok(-1) => {
                            self.fenced.store(true, Ordering::Release);
                            self.kill(Signal::SIGKILL);
                        }
                        _ => self.kill(Signal::SIGKILL),
                    }
                }
                Err(_) => {
                    self.kill(Signal::SIGKILL);
                    return;
                }
            }
        }
    }
}

/// What reading a worker's stderr gave.
enum Carried {
    Some,
    /// Nothing to read now.
    Nothing,
    /// Its end: the worker and everything it started have ended.
    Closed,
    /// The run takes nothing more from this worker.
    RunGone,
}

/// Waits until the worker's socket (if given) or (while `stderr_open`) its
/// stderr has something to read, or was closed: which.
fn wait_for_either(
    socket: Option<&UnixStream>,
    stderr: &std::fs::File,
    stderr_open: bool,
) -> (bool, bool) {
    let ready = |fd: Option<&PollFd<'_>>| {
        fd.and_then(PollFd::revents).is_some_and(|r| {
            r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
        })
    };
    let mut fds = Vec::with_capacity(2);
    if let Some(socket) = socket {
        fds.push(PollFd::new(socket.as_fd(), PollFlags::POLLIN));
    }
    if stderr_open {
        fds.push(PollFd::new(stderr.as_fd(), PollFlags::POLLIN));
    }
    let at_stderr = usize::from(socket.is_some());
    match poll(&mut fds, PollTimeout::NONE) {
        Ok(_) => (
            socket.is_some() && ready(fds.first()),
            stderr_open && ready(fds.get(at_stderr)),
        ),
        Err(nix::errno::Errno::EINTR) => (false, false),
        // A poll that failed: the socket's read (blocking) goes on.
        Err(_) => (socket.is_some(), false),
    }
}

/// Whether the run (its lease KEYS[1]) still wants host ARGV[1]'s work: 1,
/// or 0 when the run is gone, or -1 when it fenced the host (KEYS[2]).
const STILL_WANTED: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return -1 end
return 1
";
