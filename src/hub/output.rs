//! The hub's stdout and stderr: every interpreter's lines are buffered here
//! and written between events, so lines from many processes never mix.
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

#[derive(Debug, PartialEq)]
pub enum FlushError {
    /// A signal is waiting on the signalfd; what is left is still buffered.
    Interrupted,
    /// Nobody reads stdout any more.
    StdoutClosed,
}

#[derive(Default)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    /// Writes everything buffered. With `limit`, gives up (dropping what is
    /// left) once it has waited that long: for the last words at shutdown.
    pub fn flush(
        &mut self,
        signals: BorrowedFd<'_>,
        limit: Option<Duration>,
    ) -> Result<(), FlushError> {
        let deadline = limit.map(|l| Instant::now() + l);
        let out = write_all(1, &mut self.stdout, signals, deadline);
        write_all(2, &mut self.stderr, signals, deadline).ok();
        out
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
            // Nowhere to report a failing stderr: its lines are dropped.
            _ => break Ok(()),
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
