//! Writing the hub's buffered output (`core::Output`) to stdout and stderr.
//!
//! A write can block (a reader that does not read, a full pipe). The hub must
//! still hear SIGINT/SIGTERM and children's deaths meanwhile, so each write
//! waits in `poll` on the stream *and* the signalfd, and returns to the event
//! loop when a signal comes. A stdout whose reader went away (`| head`) ends
//! the run, as SIGPIPE ends other tools.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::core::Output;

#[derive(Debug, PartialEq)]
pub enum FlushError {
    /// A signal is waiting on the signalfd; what is left is still buffered.
    Interrupted,
    /// The time the loop must act by came (a cluster run's lease renewal);
    /// what is left is still buffered.
    Due,
    /// Nobody reads stdout any more.
    StdoutClosed,
    /// A write failed for another reason (a full disk, an I/O error): the
    /// run's output is being lost, so the run ends (`EXIT_OUTPUT_FAILED`).
    Failed(WriteFailed),
}

/// The exit status of a run whose stdout or stderr could not be written.
pub const EXIT_OUTPUT_FAILED: i32 = crate::exit_status::IO_FAILED;

/// Which stream failed, and how.
#[derive(Debug, PartialEq, Clone, Copy, thiserror::Error)]
#[error("mphost: cannot write to {stream}: {errno}")]
pub struct WriteFailed {
    pub stream: &'static str,
    pub errno: nix::errno::Errno,
}

/// Writes everything `output` buffered. With `limit`, gives up (dropping
/// what is left) once it has waited that long: for the last words at
/// shutdown. With `due`, returns `Due` at that time, keeping what is left.
pub fn flush(
    output: &mut Output,
    signals: BorrowedFd<'_>,
    limit: Option<Duration>,
    due: Option<Instant>,
) -> Result<(), FlushError> {
    let deadline = limit.map(|l| Instant::now() + l);
    let [bars_before, stdout, stderr] = output.lines_to_write();
    // The bars' clear must reach the terminal before any line does.
    write_all(2, bars_before, signals, deadline, due)?;
    let out = write_all(1, stdout, signals, deadline, due);
    if out == Err(FlushError::Due) {
        return out;
    }
    let err = write_all(2, stderr, signals, deadline, due);
    if let Some(bars_after) = output.bars_to_write_after() {
        write_all(2, bars_after, signals, deadline, due).ok();
    }
    match (out, err) {
        (Err(failed @ FlushError::Failed(_)), _) | (_, Err(failed @ FlushError::Failed(_))) => {
            Err(failed)
        }
        (out, _) => out,
    }
}

/// Queues the one line that says an output stream failed.
pub fn report_failure(output: &mut Output, failed: &WriteFailed) {
    output
        .stderr
        .extend_from_slice(format!("{failed}\n").as_bytes());
}

fn write_all(
    fd: i32,
    buffer: &mut Vec<u8>,
    signals: BorrowedFd<'_>,
    deadline: Option<Instant>,
    due: Option<Instant>,
) -> Result<(), FlushError> {
    let mut written = 0;
    let result = loop {
        if written == buffer.len() {
            break Ok(());
        }
        // SAFETY: fds 1 and 2 stay open for the hub's whole life.
        let stream = unsafe { BorrowedFd::borrow_raw(fd) };
        let timeout = match (deadline, due) {
            (None, None) => PollTimeout::NONE,
            (Some(at), _) => match at.checked_duration_since(Instant::now()) {
                Some(left) => PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX),
                None => break Ok(()),
            },
            (None, Some(at)) => match at.checked_duration_since(Instant::now()) {
                Some(left) => PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX),
                None => break Err(FlushError::Due),
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
        Err(FlushError::Interrupted | FlushError::Due) => {
            buffer.drain(..written);
        }
        _ => buffer.clear(),
    }
    result
}
