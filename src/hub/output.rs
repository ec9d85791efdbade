//! The hub's stdout and stderr: every interpreter's lines are buffered here
//! and written between events, so lines from many processes never mix.
//! With `--tag-output` a worker's lines are prefixed with its name; with
//! `--ordered-output` a worker's lines are held until it ends, then written
//! together, in the order the workers were made.
//!
//! A write can block (a reader that does not read, a full pipe). The hub must
//! still hear SIGINT/SIGTERM and children's deaths meanwhile, so each write
//! waits in `poll` on the stream *and* the signalfd, and returns to the event
//! loop when a signal comes. A stdout whose reader went away (`| head`) ends
//! the run, as SIGPIPE ends other tools.
//!
//! The progress bars (`progress`) reach stderr through here too, as bytes
//! kept apart from the lines: those that clear the bars are written before
//! the lines, those that draw them again after, so a bar never lands in the
//! middle of a line nor a line in a bar.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::wire::{ProcId, Stream};

#[derive(Debug, PartialEq)]
pub enum FlushError {
    /// A signal is waiting on the signalfd; what is left is still buffered.
    Interrupted,
    /// Nobody reads stdout any more.
    StdoutClosed,
    /// A write failed for another reason (a full disk, an I/O error): the
    /// run's output is being lost, so the run ends (`EXIT_OUTPUT_FAILED`).
    Failed(WriteFailed),
}

/// The exit status of a run whose stdout or stderr could not be written
/// (sysexits' `EX_IOERR`).
pub const EXIT_OUTPUT_FAILED: i32 = 74;

/// Which stream failed, and how.
#[derive(Debug, PartialEq, Clone, Copy, thiserror::Error)]
#[error("mphost: cannot write to {stream}: {errno}")]
pub struct WriteFailed {
    pub stream: &'static str,
    pub errno: nix::errno::Errno,
}

#[derive(Default)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    tag: bool,
    ordered: bool,
    /// `--ordered-output`: each worker's lines until it ends, by creation order.
    held: BTreeMap<ProcId, Held>,
    /// Progress-bar bytes written before the lines (they end with the bars
    /// cleared whenever lines are waiting) ...
    bars_before: Vec<u8>,
    /// ... and after them: the bars drawn again.
    bars_after: Vec<u8>,
    /// stdout is the bars' terminal too: its lines also wait for a clear.
    bars_share_stdout: bool,
}

#[derive(Default)]
struct Held {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    ended: bool,
}

impl Output {
    pub fn new(tag: bool, ordered: bool) -> Output {
        Output {
            tag,
            ordered,
            ..Output::default()
        }
    }

    /// Lines from an interpreter: `worker` names it unless it is the main
    /// script, whose lines are never tagged or held.
    pub fn write(&mut self, who: ProcId, worker: Option<&str>, stream: Stream, text: &str) {
        let tagged;
        let text = match worker {
            Some(name) if self.tag => {
                tagged = tag_lines(name, text);
                tagged.as_str()
            }
            _ => text,
        };
        let (stdout, stderr) = match worker {
            Some(_) if self.ordered => {
                let held = self.held.entry(who).or_default();
                (&mut held.stdout, &mut held.stderr)
            }
            _ => (&mut self.stdout, &mut self.stderr),
        };
        match stream {
            Stream::Stdout => stdout.extend_from_slice(text.as_bytes()),
            Stream::Stderr => stderr.extend_from_slice(text.as_bytes()),
        }
    }

    /// A worker started: with `--ordered-output`, the workers made after it
    /// wait for it to end, whether or not it has printed anything yet.
    pub fn worker_started(&mut self, who: ProcId) {
        if self.ordered {
            self.held.entry(who).or_default();
        }
    }

    /// A worker ended: its held lines, and those of every ended worker made
    /// after it up to the first still running, are written.
    pub fn process_ended(&mut self, who: ProcId) {
        if let Some(held) = self.held.get_mut(&who) {
            held.ended = true;
        }
        while let Some(entry) = self.held.first_entry() {
            if !entry.get().ended {
                break;
            }
            let held = entry.remove();
            self.stdout.extend_from_slice(&held.stdout);
            self.stderr.extend_from_slice(&held.stderr);
        }
    }

    /// The run is ending: whatever is held is written, in order.
    pub fn release_all(&mut self) {
        for (_, held) in std::mem::take(&mut self.held) {
            self.stdout.extend_from_slice(&held.stdout);
            self.stderr.extend_from_slice(&held.stderr);
        }
    }

    /// stdout is the terminal the bars are drawn on (stderr's).
    pub fn share_bars_with_stdout(&mut self) {
        self.bars_share_stdout = true;
    }

    /// Whether lines wait to be written where the bars are: stderr's, and
    /// stdout's when it is the same terminal.
    fn lines_pending(&self) -> bool {
        !self.stderr.is_empty() || (self.bars_share_stdout && !self.stdout.is_empty())
    }

    /// Lines wait to be written and nothing queued clears the bars before
    /// them yet: `queue_bars_around_lines` must.
    pub fn lines_need_clear(&self) -> bool {
        self.lines_pending() && self.bars_after.is_empty()
    }

    /// Bar bytes are queued and not yet written.
    pub fn bars_pending(&self) -> bool {
        !self.bars_before.is_empty() || !self.bars_after.is_empty()
    }

    /// Bar bytes that clear the bars (`before`, written ahead of the waiting
    /// lines) and draw them again (`after`, written once the lines are).
    pub fn queue_bars_around_lines(&mut self, before: Vec<u8>, after: Vec<u8>) {
        self.bars_before.extend_from_slice(&before);
        self.bars_after.extend_from_slice(&after);
    }

    /// Bar bytes that change what the bars show: after whatever bar bytes
    /// are already queued.
    pub fn queue_bars(&mut self, bytes: Vec<u8>) {
        if self.bars_after.is_empty() {
            self.bars_before.extend_from_slice(&bytes);
        } else {
            self.bars_after.extend_from_slice(&bytes);
        }
    }

    /// Writes everything buffered. With `limit`, gives up (dropping what is
    /// left) once it has waited that long: for the last words at shutdown.
    pub fn flush(
        &mut self,
        signals: BorrowedFd<'_>,
        limit: Option<Duration>,
    ) -> Result<(), FlushError> {
        let deadline = limit.map(|l| Instant::now() + l);
        // The bars' clear must reach the terminal before any line does.
        write_all(2, &mut self.bars_before, signals, deadline)?;
        let out = write_all(1, &mut self.stdout, signals, deadline);
        let err = write_all(2, &mut self.stderr, signals, deadline);
        if !self.lines_pending() {
            write_all(2, &mut self.bars_after, signals, deadline).ok();
        }
        match (out, err) {
            (Err(failed @ FlushError::Failed(_)), _) | (_, Err(failed @ FlushError::Failed(_))) => {
                Err(failed)
            }
            (out, _) => out,
        }
    }

    /// Queues the one line that says an output stream failed.
    pub fn report_failure(&mut self, failed: &WriteFailed) {
        self.stderr
            .extend_from_slice(format!("{failed}\n").as_bytes());
    }
}

fn write_all(
    fd: i32,
    buffer: &mut Vec<u8>,
    signals: BorrowedFd<'_>,
    deadline: Option<Instant>,
) -> Result<(), FlushError> {
    let mut written = 0;
    let result = loop {
        if written == buffer.len() {
            break Ok(());
        }
        // SAFETY: fds 1 and 2 stay open for the hub's whole life.
        let stream = unsafe { BorrowedFd::borrow_raw(fd) };
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(at) => match at.checked_duration_since(Instant::now()) {
                Some(left) => PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX),
                None => break Ok(()),
            },
        };
        // At shutdown (a deadline) signals no longer interrupt: only the
        // stream is watched, or a pending SIGCHLD would wake poll at once.
        let watched = if deadline.is_none() { 2 } else { 1 };
        let mut fds = [
            PollFd::new(stream.as_fd(), PollFlags::POLLOUT),
            PollFd::new(signals, PollFlags::POLLIN),
        ];
        match poll(&mut fds[..watched], timeout) {
            Err(nix::errno::Errno::EINTR) | Ok(0) => continue,
            Err(_) => break Ok(()),
            Ok(_) => {}
        }
        let ready = |fd: &PollFd| fd.revents().unwrap_or(PollFlags::empty());
        if watched == 2 && ready(&fds[1]).contains(PollFlags::POLLIN) {
            break Err(FlushError::Interrupted);
        }
        if ready(&fds[0]).is_empty() {
            continue;
        }
        // POLLOUT on a pipe promises room for PIPE_BUF bytes, not for all of
        // them: a longer write could block again, deaf to signals.
        let rest = &buffer[written..buffer.len().min(written + libc::PIPE_BUF)];
        // SAFETY: writes from a live slice to an fd that stays open.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n >= 0 {
            written += n as usize;
            continue;
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => continue,
            io::ErrorKind::BrokenPipe if fd == 1 => break Err(FlushError::StdoutClosed),
            // A closed stderr ends nothing, as a closed stdout would not if
            // the run printed nothing: its lines are dropped.
            io::ErrorKind::BrokenPipe => break Ok(()),
            _ => {
                break Err(FlushError::Failed(WriteFailed {
                    stream: if fd == 1 { "stdout" } else { "stderr" },
                    errno: nix::errno::Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO)),
                }));
            }
        }
    };
    match result {
        Err(FlushError::Interrupted) => {
            buffer.drain(..written);
        }
        _ => buffer.clear(),
    }
    result
}

/// `text` with `[name] ` before each of its lines.
fn tag_lines(name: &str, text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split_inclusive('\n') {
        out.push('[');
        out.push_str(name);
        out.push_str("] ");
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_go_before_every_line() {
        assert_eq!(
            tag_lines("Process-2", "a\nb\n"),
            "[Process-2] a\n[Process-2] b\n"
        );
    }

    #[test]
    fn held_lines_come_out_in_creation_order_once_ended() {
        let mut out = Output::new(false, true);
        out.write(3, Some("Process-2"), Stream::Stdout, "b1\n");
        out.write(2, Some("Process-1"), Stream::Stdout, "a1\n");
        out.write(1, None, Stream::Stdout, "main\n");
        out.write(3, Some("Process-2"), Stream::Stdout, "b2\n");
        out.process_ended(3);
        assert_eq!(out.stdout, b"main\n");
        out.write(2, Some("Process-1"), Stream::Stdout, "a2\n");
        out.process_ended(2);
        assert_eq!(out.stdout, b"main\na1\na2\nb1\nb2\n");
    }

    #[test]
    fn a_worker_that_has_not_printed_yet_still_comes_first() {
        let mut out = Output::new(false, true);
        out.worker_started(2);
        out.worker_started(3);
        out.write(3, Some("Process-2"), Stream::Stdout, "b\n");
        out.process_ended(3);
        assert_eq!(out.stdout, b"");
        out.write(2, Some("Process-1"), Stream::Stdout, "a\n");
        out.process_ended(2);
        assert_eq!(out.stdout, b"a\nb\n");
    }
}
