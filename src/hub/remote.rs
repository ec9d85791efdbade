//! The driver's side of a cluster run's remote workers: its socket to the
//! run's relay process (`cluster::Relay`), the stand-in pid that names
//! each remote worker in the core, and what each has sent so far.
//!
//! A remote worker's bytes arrive in `Up` messages, cut anywhere; they are
//! decoded here exactly as a local worker's socket is, and are as little
//! trusted. A message about a worker counts only from the host that
//! started it (or, before any host did, from the relay taking it back or
//! a host failing to start it).
//!
//! What it must not do: decide anything about the run (the core does), or
//! wait: writes to the relay are queued, like a process's replies.

use std::collections::{HashMap, HashSet};
use std::os::fd::OwnedFd;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::conn::{Conn, ReadOutcome};
use crate::cluster::Relay;
use crate::wire::{
    FrameDecoder, FromRelay, ProcId, RemoteStart, Request, ToRelay, Up, UpEvent, decode_body,
    encode_frame,
};

/// Stand-in pids start here, above any pid Linux gives (at most 2^22), so
/// none is a process's on this machine.
const FIRST_STAND_IN: i32 = 1 << 30;

/// What the relay said, turned into what the driver does.
pub enum Heard {
    /// A host started remote worker `id` as `pid` there.
    Started { id: ProcId, host: String, pid: i32 },
    /// Requests remote worker `id` sent, in order, and the reason its bytes
    /// stopped making sense, if they did.
    Requests {
        id: ProcId,
        requests: Vec<Request>,
        bad: Option<String>,
    },
    /// Remote worker `stand_in` ended.
    Exited {
        stand_in: Pid,
        status: crate::wire::RemoteExit,
        started: Option<(u64, usize)>,
    },
    /// Remote worker `stand_in` was stopped by its host, which is leaving
    /// the cluster and hands its chunks back.
    HandedBack { stand_in: Pid },
    /// A host is lost (and fenced): its workers, by their stand-ins, count
    /// as gone with it.
    HostLost {
        host: String,
        why: String,
        stand_ins: Vec<Pid>,
    },
    /// What a remote worker wrote to its stderr itself, for the run's.
    Stderr(Vec<u8>),
    /// A host refuses the run (said once per host).
    Refused { host: String, reason: String },
    /// Redis was lost: the one line to print.
    Lost(String),
}

/// The longest line of a remote worker's stderr kept until its end comes.
const STDERR_LINE_MAX: usize = 64 * 1024;

/// What a worker that ended left of a line on its stderr, ended.
fn unfinished_line(link: &mut RemoteLink, heard: &mut Vec<Heard>) {
    if !link.stderr.is_empty() {
        let mut line = std::mem::take(&mut link.stderr);
        line.push(b'\n');
        heard.push(Heard::Stderr(line));
    }
}

struct RemoteLink {
    stand_in: Pid,
    /// What it wrote to its stderr after its last whole line.
    stderr: Vec<u8>,
    /// The host that started it, once one has.
    host: Option<String>,
    decoder: FrameDecoder,
    /// Its bytes are still read (the core has not cut it off).
    open: bool,
}

pub struct RemoteWorkers {
    relay_pid: Pid,
    /// The relay was reaped: its pid is no longer its own.
    relay_reaped: bool,
    relay: Conn,
    next_stand_in: i32,
    links: HashMap<ProcId, RemoteLink>,
    by_stand_in: HashMap<Pid, ProcId>,
    refused_by: HashSet<String>,
    /// Hosts the run was told are lost.
    lost_hosts: HashSet<String>,
}

impl RemoteWorkers {
    pub fn new(relay: Relay) -> Self {
        RemoteWorkers {
            relay_pid: relay.pid,
            relay_reaped: false,
            relay: Conn::new(relay.socket),
            next_stand_in: FIRST_STAND_IN,
            links: HashMap::new(),
            by_stand_in: HashMap::new(),
            refused_by: HashSet::new(),
            lost_hosts: HashSet::new(),
        }
    }

    pub fn relay_pid(&self) -> Pid {
        self.relay_pid
    }

    /// The relay was reaped (it died): it is not killed at the end.
    pub fn relay_reaped(&mut self) {
        self.relay_reaped = true;
    }

    pub fn relay_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.relay.fd()
    }

    /// Whether writes to the relay wait for room in its socket.
    pub fn wants_write(&self) -> bool {
        self.relay.wants_write()
    }

    pub fn flush(&mut self) {
        self.relay.flush();
    }

    /// Whether `pid` is a stand-in's.
    pub fn is_stand_in(pid: Pid) -> bool {
        pid.as_raw() >= FIRST_STAND_IN
    }

    /// Queues remote worker `id` for the hosts; its stand-in pid.
    pub fn start(&mut self, start: RemoteStart) -> Result<Pid, nix::errno::Errno> {
        let id = start.id;
        self.tell(&ToRelay::Start(start))?;
        let stand_in = Pid::from_raw(self.next_stand_in);
        self.next_stand_in = self
            .next_stand_in
            .checked_add(1)
            .ok_or(nix::errno::Errno::EAGAIN)?;
        self.links.insert(
            id,
            RemoteLink {
                stand_in,
                stderr: Vec::new(),
                host: None,
                decoder: FrameDecoder::default(),
                open: true,
            },
        );
        self.by_stand_in.insert(stand_in, id);
        Ok(stand_in)
    }

    /// Whether `id` is a remote worker (still known here).
    pub fn has(&self, id: ProcId) -> bool {
        self.links.contains_key(&id)
    }

    /// Sends remote worker `id` one encoded frame.
    pub fn send(&mut self, id: ProcId, frame: Vec<u8>) {
        if self.links.get(&id).is_some_and(|l| l.open) {
            let _ = self.tell(&ToRelay::Bytes { id, bytes: frame });
        }
    }

    /// Stops reading remote worker `id`'s bytes.
    pub fn disconnect(&mut self, id: ProcId) {
        if let Some(link) = self.links.get_mut(&id) {
            link.open = false;
        }
    }

    /// Signals the remote worker `stand_in` names.
    pub fn signal(&mut self, stand_in: Pid, signal: Signal) {
        if let Some(&id) = self.by_stand_in.get(&stand_in) {
            let _ = self.tell(&ToRelay::Signal {
                id,
                signal: signal as i32,
            });
        }
    }

    fn tell(&mut self, message: &ToRelay) -> Result<(), nix::errno::Errno> {
        let frame = encode_frame(message).map_err(|_| nix::errno::Errno::EINVAL)?;
        self.relay.queue_frame(&frame);
        Ok(())
    }

    /// Reads what the relay has sent; an end of its socket is Redis lost.
    pub fn read(&mut self) -> Vec<Heard> {
        let read = self.relay.fill();
        let mut heard = Vec::new();
        loop {
            match self.relay.next_message::<FromRelay>() {
                Ok(Some(FromRelay::Up(bytes))) => {
                    if let Ok(up) = decode_body::<Up>(&bytes) {
                        self.heard(up, &mut heard);
                    }
                }
                Ok(Some(FromRelay::Lost(line))) => heard.push(Heard::Lost(line)),
                Ok(Some(FromRelay::HostLost { host, why, taken })) => {
                    let stand_ins = self.forget_host(&host, &taken);
                    // Said once a host, unless it lost workers again.
                    if stand_ins.is_empty() && !self.lost_hosts.insert(host.clone()) {
                        continue;
                    }
                    self.lost_hosts.insert(host.clone());
                    heard.push(Heard::HostLost {
                        host,
                        why,
                        stand_ins,
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    heard.push(Heard::Lost(format!("the run's relay sent garbage: {e}")));
                    break;
                }
            }
        }
        if !matches!(read, Ok(ReadOutcome::Open)) {
            heard.push(Heard::Lost("the run's relay ended".to_string()));
        }
        heard
    }

    /// Forgets every worker `host` started, and those it `took` without
    /// saying it started them (nothing it says counts any more); their
    /// stand-ins.
    fn forget_host(&mut self, host: &str, took: &[ProcId]) -> Vec<Pid> {
        let gone: Vec<ProcId> = self
            .links
            .iter()
            .filter(|(id, link)| match &link.host {
                Some(on) => on == host,
                None => took.contains(id),
            })
            .map(|(&id, _)| id)
            .collect();
        gone.into_iter().filter_map(|id| self.forget(id)).collect()
    }

    /// Forgets remote worker `id` (it ended, or its host is gone); its
    /// stand-in.
    fn forget(&mut self, id: ProcId) -> Option<Pid> {
        let link = self.links.remove(&id)?;
        self.by_stand_in.remove(&link.stand_in);
        Some(link.stand_in)
    }

    /// One host's message, checked: about a worker this run has, from the
    /// host that started it.
    fn heard(&mut self, up: Up, heard: &mut Vec<Heard>) {
        let Some(link) = self.links.get_mut(&up.id) else {
            return;
        };
        let from_its_host = link.host.as_deref() == Some(up.host.as_str());
        match up.event {
            UpEvent::Started { pid } if link.host.is_none() => {
                link.host = Some(up.host.clone());
                heard.push(Heard::Started {
                    id: up.id,
                    host: up.host,
                    pid,
                });
            }
            UpEvent::Bytes(bytes) if from_its_host && link.open => {
                link.decoder.extend(&bytes);
                let mut requests = Vec::new();
                let mut bad = None;
                loop {
                    match link.decoder.next::<Request>() {
                        Ok(Some(request)) => requests.push(request),
                        Ok(None) => break,
                        Err(e) => {
                            bad = Some(e.to_string());
                            link.open = false;
                            break;
                        }
                    }
                }
                heard.push(Heard::Requests {
                    id: up.id,
                    requests,
                    bad,
                });
            }
            UpEvent::Exited { status, started } if from_its_host || link.host.is_none() => {
                let stand_in = link.stand_in;
                unfinished_line(link, heard);
                self.forget(up.id);
                heard.push(Heard::Exited {
                    stand_in,
                    status,
                    started,
                });
            }
            UpEvent::Stderr(bytes) if from_its_host => {
                // Whole lines, so that they never mix with others'.
                link.stderr.extend_from_slice(&bytes);
                let whole = match link.stderr.iter().rposition(|&b| b == b'\n') {
                    Some(end) => end + 1,
                    // A line this long is written as it is.
                    None if link.stderr.len() > STDERR_LINE_MAX => link.stderr.len(),
                    None => 0,
                };
                if whole > 0 {
                    heard.push(Heard::Stderr(link.stderr.drain(..whole).collect()));
                }
            }
            UpEvent::HandedBack if from_its_host => {
                let stand_in = link.stand_in;
                unfinished_line(link, heard);
                self.forget(up.id);
                heard.push(Heard::HandedBack { stand_in });
            }
            UpEvent::Refused { reason } if link.host.is_none() => {
                // Taken and not started: a failed start, said once a host.
                let stand_in = link.stand_in;
                self.forget(up.id);
                if self.refused_by.insert(up.host.clone()) {
                    heard.push(Heard::Refused {
                        host: up.host,
                        reason,
                    });
                }
                heard.push(Heard::Exited {
                    stand_in,
                    status: crate::wire::RemoteExit::Code(2),
                    started: None,
                });
            }
            _ => {}
        }
    }

    /// At the run's end: the relay's socket closes, and the relay is
    /// killed and reaped.
    pub fn close(self) {
        let RemoteWorkers {
            relay_pid,
            relay_reaped,
            relay,
            ..
        } = self;
        drop::<OwnedFd>(relay.into_fd());
        if !relay_reaped {
            let _ = nix::sys::signal::kill(relay_pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(relay_pid, None);
        }
    }
}
