//! The hub's end of one interpreter's socket: non-blocking reads into a frame
//! decoder, and replies queued until the socket takes them, so a slow or
//! stopped reader can never block the hub.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::wire::{FrameDecoder, FrameError, Request};

pub struct Conn {
    fd: OwnedFd,
    decoder: FrameDecoder,
    outgoing: Vec<u8>,
    sent: usize,
    /// The peer closed its end (it exited, or is about to).
    pub closed: bool,
}

/// What one round of reading produced.
pub enum ReadOutcome {
    /// Everything available was read; the peer is still there.
    Open,
    /// The peer closed its end; every byte before that was read.
    Closed,
}

impl Conn {
    pub fn new(fd: OwnedFd) -> Self {
        Conn {
            fd,
            decoder: FrameDecoder::default(),
            outgoing: Vec::new(),
            sent: 0,
            closed: false,
        }
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads what is available now into the decoder. A read that does not
    /// fill the chunk has emptied the socket: the hub stops there instead of
    /// paying for a read that would only say "nothing more" (epoll is
    /// level-triggered, so anything that arrives later is still announced).
    pub fn fill(&mut self) -> io::Result<ReadOutcome> {
        const CHUNK: usize = 64 * 1024;
        loop {
            let n = self.decoder.read_from(self.fd.as_raw_fd(), CHUNK);
            if n > 0 {
                if (n as usize) < CHUNK {
                    return Ok(ReadOutcome::Open);
                }
                continue;
            }
            if n == 0 {
                self.closed = true;
                return Ok(ReadOutcome::Closed);
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(ReadOutcome::Open),
                _ if err.raw_os_error() == Some(libc::ECONNRESET) => {
                    self.closed = true;
                    return Ok(ReadOutcome::Closed);
                }
                _ => return Err(err),
            }
        }
    }

    pub fn next_request(&mut self) -> Result<Option<Request>, FrameError> {
        self.decoder.next()
    }

    /// The next whole message of another kind than a `Request` (the relay's).
    pub fn next_message<T: serde::de::DeserializeOwned>(
        &mut self,
    ) -> Result<Option<T>, FrameError> {
        self.decoder.next()
    }

    /// The socket, to close it.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Queues one encoded frame and writes what the socket takes now. A
    /// peer that closed its end gets nothing.
    pub fn queue_frame(&mut self, frame: &[u8]) {
        if self.closed {
            return;
        }
        self.outgoing.extend_from_slice(frame);
        self.flush();
    }

    /// Writes queued bytes until done or the socket is full. A peer that is
    /// gone drops its replies: nobody is left to read them.
    pub fn flush(&mut self) {
        while self.sent < self.outgoing.len() {
            let rest = &self.outgoing[self.sent..];
            // SAFETY: writes from a live slice to an fd we own.
            let n = unsafe { libc::write(self.fd.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
            if n >= 0 {
                self.sent += n as usize;
                continue;
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return,
                _ => break,
            }
        }
        self.outgoing.clear();
        self.sent = 0;
    }

    pub fn wants_write(&self) -> bool {
        self.sent < self.outgoing.len()
    }
}
