//! `Queue`: `queue()`, `queue(maxsize)`, `joinable_queue()`,
//! `joinable_queue(maxsize)` and their methods.
//!
//! A plain queue with a ring (`shm::ring`) puts and gets there, in this
//! process, when it can: a put when there is room and the hub holds no items
//! of its own, a get when the ring has an item (an empty ring is watched for
//! up to 50 µs first). Everything else, and every wait, goes to the hub as
//! before. Whoever changes the ring while the hub has waiters sends it a
//! one-way `Wake`. A put after an unanswered one-way message (a line, a list
//! `push`) goes through the hub, behind that message, so the getter of the
//! item cannot see the world before it.

use super::refs::Holder;
use rhai::{Dynamic, Engine, EvalAltResult, INT};

use std::time::Instant;

use super::convert::{from_wire, storable};
use super::objects::{call, call_dynamic, call_int, create, register_show, register_timed};
use super::script_error;
use crate::client;
use crate::shm::ring::{
    CLOSED, GETTERS_WAITING, HUB_FIRST, HUB_ITEMS, MAX_RECORD, POISONED, PUTTERS_WAITING, ProcRing,
};
use crate::shm::{self, Arena, Try};
use crate::test_fault;
use crate::trace_recorder::blocking;
use crate::wire::{
    Handle, NewObject, ObjectId, ObjectKind, Op, Request, Value, decode_body, encode_body,
};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct QueueHandle {
    pub id: ObjectId,
    /// This process's share in the hub's count on the object.
    pub held: Holder,
    pub maxsize: Option<u64>,
    pub joinable: bool,
    /// The queue's ring in the arena, if it has one.
    pub ring: Option<u32>,
}

impl QueueHandle {
    pub fn handle(&self) -> Handle {
        Handle::Object {
            id: self.id,
            kind: ObjectKind::Queue {
                maxsize: self.maxsize,
                joinable: self.joinable,
            },
            direct: self.ring,
        }
    }

    fn ring(&self) -> Option<ProcRing> {
        Arena::get()?.ring(self.ring?)
    }

    fn wake(&self) {
        // Losing the hub ends this process anyway (see `client`).
        let _ = client::send_hint(&Request::Object {
            id: self.id,
            op: Op::Wake,
            timeout: None,
            reply: false,
        });
    }

    /// A put; only one on a bounded queue can wait, so only that one may
    /// be a `blocked:` span in a trace.
    fn put(&self, value: Value, timeout: Option<f64>) -> Result<()> {
        match self.maxsize {
            Some(_) => blocking(
                "queue put",
                || self.label(),
                || self.put_now(value, timeout),
            ),
            None => self.put_now(value, timeout),
        }
    }

    fn put_now(&self, value: Value, timeout: Option<f64>) -> Result<()> {
        // A value holding a handle goes through the hub, which follows
        // where the handle goes (`hub::core::refs`).
        if let Some(ring) = self.ring()
            && !client::has_unconfirmed()
            && !value.carries_objects()
            && let Ok(bytes) = encode_body(&value)
            && bytes.len() <= MAX_RECORD
        {
            let dies_before_wake = test_fault::enabled(test_fault::DIE_BETWEEN_PUT_AND_WAKE);
            if dies_before_wake {
                wait_for_a_parked_getter(&ring);
            }
            // Held past the bound (its holder may be dead): the hub decides.
            if let Some(inside) = ring.enter_within(client::self_id(), shm::SPIN) {
                if test_fault::enabled(test_fault::STOP_INSIDE_RING)
                    && matches!(&value, Value::Str(s) if s == "stop here")
                {
                    test_fault::stop();
                }
                let flags = inside.flags();
                let has_room = inside
                    .len()
                    .is_ok_and(|n| self.maxsize.is_none_or(|max| u64::from(n) < max));
                if flags & (CLOSED | HUB_ITEMS | PUTTERS_WAITING | POISONED | HUB_FIRST) == 0
                    && has_room
                    && inside.push(&bytes) == Ok(true)
                {
                    drop(inside);
                    if test_fault::enabled(test_fault::DAMAGE_RING_AFTER_PUT) {
                        damage_once(&ring);
                    }
                    if flags & GETTERS_WAITING != 0 {
                        if dies_before_wake {
                            test_fault::die();
                        }
                        self.wake();
                    }
                    return Ok(());
                }
            }
        }
        call(self.id, Op::Put(value), timeout).map(|_| ())
    }

    fn get(&self, timeout: Option<f64>) -> Result<Dynamic> {
        let started = Instant::now();
        if let Some(ring) = self.ring() {
            let me = client::self_id();
            let mut first = true;
            let taken = shm::spin(shm::spin_limit(timeout), || {
                if !std::mem::take(&mut first) && ring.looks_empty() {
                    return Try::Again;
                }
                let Some(inside) = ring.try_enter(me) else {
                    return Try::Again;
                };
                let flags = inside.flags();
                if flags & POISONED != 0 {
                    return Try::GiveUp;
                }
                let taken = inside.pop();
                drop(inside);
                match taken {
                    Ok(Some(bytes)) => Try::Done((bytes, flags)),
                    // The hub holds the next item, or the answer (Closed),
                    // or sorts out a damaged ring.
                    Ok(None) if flags & (HUB_ITEMS | CLOSED) != 0 => Try::GiveUp,
                    Err(_) => Try::GiveUp,
                    Ok(None) => Try::Again,
                }
            });
            if let Some((bytes, flags)) = taken {
                if flags & (PUTTERS_WAITING | HUB_ITEMS) != 0 {
                    self.wake();
                }
                return match decode_body::<Value>(&bytes) {
                    Ok(value) => Ok(from_wire(value)),
                    Err(e) => Err(script_error(format!("get: a damaged item: {e}"))),
                };
            }
        }
        let remaining = timeout.map(|t| (t - started.elapsed().as_secs_f64()).max(0.0));
        call_dynamic(self.id, Op::Get, remaining)
    }

    fn len(&self) -> Result<INT> {
        call_int(self.id, Op::Len)
    }

    /// As the script prints it, and a trace names what a wait was on.
    fn label(&self) -> String {
        let kind = if self.joinable {
            "JoinableQueue"
        } else {
            "Queue"
        };
        match self.maxsize {
            Some(max) => format!("{kind}(#{}, maxsize {max})", self.id),
            None => format!("{kind}(#{})", self.id),
        }
    }
}

/// For the fault point: damages the ring the first time only.
fn damage_once(ring: &ProcRing) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static DONE: AtomicBool = AtomicBool::new(false);
    if !DONE.swap(true, Ordering::Relaxed) {
        ring.scribble_on_tail();
    }
}

/// For the fault point: waits (a generous bound) until the hub has marked a
/// parked getter, so that the put that follows must send a `Wake`.
fn wait_for_a_parked_getter(ring: &ProcRing) {
    let started = Instant::now();
    while ring.flags_hint() & GETTERS_WAITING == 0 && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

fn new_queue(call: &str, maxsize: Option<INT>, joinable: bool) -> Result<QueueHandle> {
    if let Some(n) = maxsize.filter(|&n| n < 1) {
        return Err(script_error(format!(
            "{call}: maxsize must be at least 1 ({call}() makes an unbounded queue), not {n}"
        )));
    }
    let maxsize = maxsize.map(|n| n as u64);
    let (id, ring) = create(NewObject::Queue { maxsize, joinable })?;
    Ok(QueueHandle {
        held: Holder::delivered(id),
        id,
        maxsize,
        joinable,
        ring,
    })
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<QueueHandle>("Queue");
    engine.register_fn("queue", || new_queue("queue", None, false));
    engine.register_fn("queue", |maxsize: INT| {
        new_queue("queue", Some(maxsize), false)
    });
    engine.register_fn("joinable_queue", || new_queue("joinable_queue", None, true));
    engine.register_fn("joinable_queue", |maxsize: INT| {
        new_queue("joinable_queue", Some(maxsize), true)
    });
    engine.register_fn("put", |q: &mut QueueHandle, v: Dynamic| -> Result<()> {
        q.put(storable("put", &v)?, None)
    });
    engine.register_fn(
        "put",
        |q: &mut QueueHandle, v: Dynamic, t: Dynamic| -> Result<()> {
            let secs = super::timeout_arg("put", &t)?;
            q.put(storable("put", &v)?, Some(secs))
        },
    );
    register_timed!(engine, "get", QueueHandle, |q: &mut QueueHandle, t| {
        blocking("queue get", || q.label(), || q.get(t))
    });
    engine.register_fn("len", |q: &mut QueueHandle| q.len());
    engine.register_fn("is_empty", |q: &mut QueueHandle| q.len().map(|n| n == 0));
    engine.register_fn("is_full", |q: &mut QueueHandle| -> Result<bool> {
        match q.maxsize {
            Some(max) => Ok(q.len()? as u64 >= max),
            None => Ok(false),
        }
    });
    engine.register_fn("close", |q: &mut QueueHandle| {
        call(q.id, Op::Close, None).map(|_| ())
    });
    engine.register_fn("task_done", |q: &mut QueueHandle| {
        call(q.id, Op::TaskDone, None).map(|_| ())
    });
    engine.register_fn("join", |q: &mut QueueHandle| {
        blocking(
            "queue join",
            || q.label(),
            || call(q.id, Op::JoinQueue, None),
        )
        .map(|_| ())
    });
    register_show!(engine, QueueHandle, |q: &mut QueueHandle| q.label());
}
