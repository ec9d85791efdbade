//! An interpreter's connection to the hub: the one socket on fd 3, spoken in
//! strict request/reply order. Lives in every interpreter process, never in
//! the hub. If the hub is gone the process has nothing left to do and exits
//! (the kernel would kill it anyway, through PR_SET_PDEATHSIG).
//!
//! It also remembers whether a one-way message has gone out since the last
//! answer: until the hub answers something, it may not have read it, so a
//! shared-memory fast path that others could observe (releasing a lock)
//! must go through the hub instead, behind that message.
//!
//! And it carries this process's side of the hub's reference counts
//! (`hub::core::refs`): object ids that left in a value (`note_pin`) go out in a
//! `Pin` ahead of the next frame, so the hub knows before the value can
//! reach anyone; ids whose last local handle is gone (`note_release`) go
//! out in a `Release` behind a later frame, in batches. A release is never
//! urgent (holding an object longer only delays its freeing), and one that
//! is never sent is no loss: the hub drops an ended process's references.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::os::fd::FromRawFd;

use crate::wire::{
    FrameError, HubError, ObjectId, ProcId, Reply, Request, read_frame, write_frame,
};

/// Releases wait until this many have gathered, so a
/// loop that makes and drops objects sends one extra frame per batch.
const RELEASE_BATCH: usize = 64;

struct Connection {
    reader: BufReader<File>,
    writer: BufWriter<File>,
    /// A one-way message went out after the last answer.
    unconfirmed: bool,
    /// Requests sent with `send_ahead` whose answers are not read yet: they
    /// come before the answer to any later `call`.
    ahead: usize,
    /// Answers to `send_ahead` requests, read early by a `call`.
    early: VecDeque<Reply>,
}

/// What this process has to tell the hub about its references.
#[derive(Default)]
struct Notices {
    /// Objects whose handles went into a value that is leaving.
    pins: Vec<ObjectId>,
    /// Objects this process holds no handle to any more, each with how many
    /// times the hub had handed it over (what the release covers).
    releases: Vec<(ObjectId, u64)>,
}

thread_local! {
    static NOTICES: RefCell<Notices> = RefCell::new(Notices::default());
    static CONNECTION: RefCell<Option<Connection>> = const { RefCell::new(None) };
    static SELF_ID: Cell<ProcId> = const { Cell::new(0) };
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{}", .0.message)]
    Hub(HubError),
    #[error("cannot send this request: {0}")]
    Encode(FrameError),
    #[error("the hub answered out of turn: {0:?}")]
    Unexpected(Box<Reply>),
}

/// Takes ownership of `fd` as this process's link to the hub, which knows
/// this process as `id`.
pub fn connect(fd: i32, id: ProcId) {
    SELF_ID.with(|s| s.set(id));
    // SAFETY: `launch` put the socket on `fd` and closed every other copy.
    let file = unsafe { File::from_raw_fd(fd) };
    let Ok(second) = file.try_clone() else {
        hub_lost()
    };
    // Small buffers: a larger frame bypasses them, and in a freshly forked
    // child, two 64 KiB ones made `malloc` grow the heap and walk its free
    // lists, faulting in copies of the hub's pages (11 of a spawned
    // process's 69 page faults).
    let connection = Connection {
        reader: BufReader::with_capacity(8 * 1024, file),
        writer: BufWriter::with_capacity(8 * 1024, second),
        unconfirmed: false,
        ahead: 0,
        early: VecDeque::new(),
    };
    CONNECTION.with(|c| *c.borrow_mut() = Some(connection));
}

/// This process's id in the hub's numbering (what a lock word records).
pub fn self_id() -> ProcId {
    SELF_ID.with(Cell::get)
}

/// True when a one-way message may not have been read by the hub yet.
pub fn has_unconfirmed() -> bool {
    CONNECTION.with(|c| {
        c.try_borrow()
            .map_or(true, |c| c.as_ref().is_none_or(|c| c.unconfirmed))
    })
}

/// A handle on `id` is going into a value that leaves this process: the
/// hub must not free the object while that value may be anywhere.
pub fn note_pin(id: ObjectId) {
    let _ = NOTICES.try_with(|n| n.borrow_mut().pins.push(id));
}

/// The last handle on `id` in this process is gone; the hub had handed it
/// over `deliveries` times.
pub fn note_release(id: ObjectId, deliveries: u64) {
    // During thread-local teardown (the process ending) there is nobody
    // to tell, and no need: the hub drops an ended process's references.
    let _ = NOTICES.try_with(|n| n.borrow_mut().releases.push((id, deliveries)));
}

/// Writes the pending pins, ahead of the frame that may carry them.
fn write_pins(writer: &mut BufWriter<File>) -> Result<(), FrameError> {
    let ids = NOTICES
        .try_with(|n| std::mem::take(&mut n.borrow_mut().pins))
        .unwrap_or_default();
    if ids.is_empty() {
        return Ok(());
    }
    write_frame(writer, &Request::Pin { ids })
}

/// Writes the pending releases behind a frame, once a batch has gathered.
fn write_releases(writer: &mut BufWriter<File>) -> Result<(), FrameError> {
    let refs = NOTICES
        .try_with(|n| {
            let mut n = n.borrow_mut();
            if n.releases.len() < RELEASE_BATCH {
                return Vec::new();
            }
            std::mem::take(&mut n.releases)
        })
        .unwrap_or_default();
    if refs.is_empty() {
        return Ok(());
    }
    write_frame(writer, &Request::Release { refs })
}

/// Writes `request` with the notices around it: pins before, releases after.
fn write_with_notices(writer: &mut BufWriter<File>, request: &Request) -> Result<(), FrameError> {
    write_pins(writer)?;
    write_frame(writer, request)?;
    write_releases(writer)
}

fn hub_lost() -> ! {
    // SAFETY: ends this process at once; nothing is left to clean up.
    unsafe { libc::_exit(70) }
}

fn with_connection<T>(
    f: impl FnOnce(&mut Connection) -> Result<T, FrameError>,
) -> Result<T, ClientError> {
    CONNECTION.with(|c| {
        let mut c = c.borrow_mut();
        let Some(connection) = c.as_mut() else {
            hub_lost()
        };
        match f(connection) {
            Ok(v) => Ok(v),
            Err(e @ (FrameError::TooLarge(_) | FrameError::Malformed(_))) => {
                Err(ClientError::Encode(e))
            }
            Err(_) => hub_lost(),
        }
    })
}

/// Sends a one-way request.
pub fn send(request: &Request) -> Result<(), ClientError> {
    debug_assert!(!request.expects_reply());
    send_one_way(request, true)
}

/// Sends a one-way request that nobody else's view depends on (a wake-up
/// call), so it leaves `has_unconfirmed` as it was.
pub fn send_hint(request: &Request) -> Result<(), ClientError> {
    send_one_way(request, false)
}

/// Writes a one-way request now; `unconfirmed`: others may depend on it,
/// so it holds back the shared-memory fast paths until the next answer.
fn send_one_way(request: &Request, unconfirmed: bool) -> Result<(), ClientError> {
    with_connection(|c| {
        c.unconfirmed |= unconfirmed;
        write_with_notices(&mut c.writer, request)?;
        c.writer.flush()?;
        Ok(())
    })
}

/// As `send_hint`, but left in the buffer for the next `call` to send with
/// its own request, in one write.
pub fn queue_hint(request: &Request) -> Result<(), ClientError> {
    with_connection(|c| write_frame(&mut c.writer, request))
}

/// Sends a one-way request if this process is connected, ignoring failure:
/// for handles let go of while a process winds down.
pub fn send_quietly(request: &Request) {
    CONNECTION.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut()
            && let Some(connection) = c.as_mut()
        {
            connection.unconfirmed = true;
            if write_with_notices(&mut connection.writer, request).is_err() {
                return;
            }
            let _ = connection.writer.flush();
        }
    });
}

/// Sends `request` and waits for the hub's answer; a `Reply::Error` becomes `Err`.
pub fn call(request: &Request) -> Result<Reply, ClientError> {
    debug_assert!(request.expects_reply());
    let reply = with_connection(|c| {
        write_with_notices(&mut c.writer, request)?;
        c.writer.flush()?;
        // Answers to requests sent ahead come first: keep them for later.
        while c.ahead > 0 {
            let early = read_frame::<Reply>(&mut c.reader)?;
            c.early.push_back(early);
            c.ahead -= 1;
        }
        let reply = read_frame::<Reply>(&mut c.reader)?;
        c.unconfirmed = false;
        Ok(reply)
    })?;
    match reply {
        Reply::Error(e) => Err(ClientError::Hub(e)),
        other => Ok(other),
    }
}

/// Sends a request whose answer the hub gives at once (it never parks
/// it), to be read later with `take_ahead`, while this process works.
pub fn send_ahead(request: &Request) -> Result<(), ClientError> {
    debug_assert!(request.expects_reply());
    with_connection(|c| {
        write_with_notices(&mut c.writer, request)?;
        c.writer.flush()?;
        c.ahead += 1;
        Ok(())
    })
}

/// The answer to the oldest request sent with `send_ahead`.
pub fn take_ahead() -> Result<Reply, ClientError> {
    with_connection(|c| {
        if let Some(reply) = c.early.pop_front() {
            return Ok(reply);
        }
        if c.ahead == 0 {
            return Err(FrameError::Malformed("no request was sent ahead".into()));
        }
        let reply = read_frame::<Reply>(&mut c.reader)?;
        c.ahead -= 1;
        Ok(reply)
    })
}

/// For replies of a fixed shape: turns any other shape into an error.
pub fn unexpected<T>(reply: Reply) -> Result<T, ClientError> {
    Err(ClientError::Unexpected(Box::new(reply)))
}
