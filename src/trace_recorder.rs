//! The recording half of `mphost run --trace`: the clock every process of a
//! run shares, and what an interpreter process measures about itself (each
//! pool task it runs, each call in which it waited) before sending it to the
//! hub, which keeps the trace and writes the file (`hub::core::trace_collector`).
//!
//! Costs nothing unless tracing is on: every entry point first reads one
//! flag, set only in interpreter processes of a traced run (`enable`). The
//! recorder never talks to the hub in a way that changes what it measures:
//! its spans go one-way through `client::send_hint` or ride in front of the
//! next call (`client::queue_hint`), so a lock release or a queue put after
//! them still takes its shared-memory fast path. They leave in batches: when
//! `FLUSH_EVERY` wait, when `FLUSH_AFTER` has passed since the last batch,
//! before a pool worker asks for its next task, and when the process ends.
//!
//! Never used in the hub itself, except `now_ns`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::client;
use crate::wire::{PoolTask, Request, TraceEvent, TraceSpan};

/// A call that took less than this did not wait (a fast path, or one round
/// trip to the hub): no span, so a million uncontended acquires stay out.
const BLOCKED_MIN_NS: u64 = 50_000;
/// Spans held before they are sent.
const FLUSH_EVERY: usize = 1024;
/// The longest spans wait to be sent while the process keeps recording.
const FLUSH_AFTER_NS: u64 = 100_000_000;

static ENABLED: AtomicBool = AtomicBool::new(false);

struct Pending {
    events: Vec<TraceEvent>,
    last_flush_ns: u64,
}

thread_local! {
    static PENDING: RefCell<Pending> = const {
        RefCell::new(Pending { events: Vec::new(), last_flush_ns: 0 })
    };
}

/// `CLOCK_MONOTONIC` in nanoseconds: one clock for the hub and every
/// worker, forked or exec'd.
pub fn now_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec we own; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    (now.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(now.tv_nsec as u64)
}

/// Turns recording on in this interpreter process (a traced run).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
    PENDING.with(|p| p.borrow_mut().last_flush_ns = now_ns());
}

/// Whether this process records spans.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Runs `op`, a call that may wait; under `--trace`, one that took
/// `BLOCKED_MIN_NS` or more becomes a `blocked: {what}` span, `on` naming
/// what it waited for (made only then).
pub fn blocking<T>(what: &'static str, on: impl FnOnce() -> String, op: impl FnOnce() -> T) -> T {
    if !enabled() {
        return op();
    }
    let start_ns = now_ns();
    let result = op();
    let end_ns = now_ns();
    if end_ns.saturating_sub(start_ns) >= BLOCKED_MIN_NS {
        record(TraceEvent {
            start_ns,
            end_ns,
            span: TraceSpan::Blocked {
                what: what.to_string(),
                on: on(),
            },
        });
    }
    result
}

/// Keeps a span to send; sends the batch when it is full or old.
fn record(event: TraceEvent) {
    let end_ns = event.end_ns;
    let due = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.events.push(event);
        p.events.len() >= FLUSH_EVERY || end_ns.saturating_sub(p.last_flush_ns) >= FLUSH_AFTER_NS
    });
    if due {
        flush();
    }
}

/// A pool task being run: what its span will say, and when it began.
pub struct TaskTimer {
    start_ns: u64,
    call: String,
    function: String,
    first: usize,
    count: usize,
}

impl TaskTimer {
    /// Starts timing `task` under `--trace`; `None` otherwise.
    pub fn start(task: &mut PoolTask) -> Option<TaskTimer> {
        if !enabled() {
            return None;
        }
        let function = match &task.target.name {
            name if name.starts_with("anon$") => "<closure>".to_string(),
            name => name.clone(),
        };
        Some(TaskTimer {
            start_ns: now_ns(),
            call: task.call.take().unwrap_or_else(|| "task".into()),
            function,
            first: task.first,
            count: task.items.len(),
        })
    }

    /// Records the task's span; `failed` is the item that raised, if any.
    pub fn end(self, failed: Option<usize>) {
        record(TraceEvent {
            start_ns: self.start_ns,
            end_ns: now_ns(),
            span: TraceSpan::Task {
                call: self.call,
                function: self.function,
                first: self.first,
                count: self.count,
                failed,
            },
        });
    }
}

/// Takes the spans not yet sent, if any.
fn take() -> Option<Request> {
    if !enabled() {
        return None;
    }
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.last_flush_ns = now_ns();
        (!p.events.is_empty()).then(|| Request::Trace(std::mem::take(&mut p.events)))
    })
}

/// Sends the spans not yet sent (at the end of a process, or a full batch).
pub fn flush() {
    if let Some(batch) = take() {
        // A lost hub ends this process anyway (see `client`).
        let _ = client::send_hint(&batch);
    }
}

/// Puts the spans not yet sent in front of the next call, so both leave in
/// one write (a pool worker's, before it asks for its next task).
pub fn flush_with_next_call() {
    if let Some(batch) = take() {
        let _ = client::queue_hint(&batch);
    }
}
