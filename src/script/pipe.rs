//! `PipeEnd`: `pipe()` / `pipe(true)` returns two connected ends, `pipe(false)`
//! a receive-only end and a send-only end (as Python's `Pipe(duplex=False)`).
//! `send`, `recv`, `recv(timeout)`, `poll`, `poll(timeout)`, `close`.

use super::refs::Holder;
use rhai::{Array, Dynamic, Engine, EvalAltResult};

use super::convert::storable;
use super::objects::{call, call_bool, call_dynamic, create, register_show, register_timed};
use super::script_error;
use crate::trace_recorder::blocking;
use crate::wire::{Handle, NewObject, ObjectId, ObjectKind, Op};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct PipeEnd {
    pub id: ObjectId,
    /// This process's share in the hub's count on the object.
    pub held: Holder,
    pub end: u8,
    pub can_send: bool,
    pub can_recv: bool,
}

impl PipeEnd {
    pub fn handle(&self) -> Handle {
        let kind = ObjectKind::PipeEnd {
            end: self.end,
            can_send: self.can_send,
            can_recv: self.can_recv,
        };
        Handle::Object {
            id: self.id,
            kind,
            direct: None,
        }
    }

    /// As the script prints it, and a trace names what a wait was on.
    fn label(&self) -> String {
        format!("PipeEnd(#{}, end {})", self.id, self.end)
    }

    fn check(&self, call: &str, allowed: bool) -> Result<()> {
        if allowed {
            Ok(())
        } else {
            let can = if self.can_send { "sends" } else { "receives" };
            Err(script_error(format!(
                "{call}: this end of a one-way pipe only {can}"
            )))
        }
    }
}

fn new_pipe(duplex: bool) -> Result<Array> {
    let (id, _) = create(NewObject::Pipe { duplex })?;
    let held = Holder::delivered(id);
    let first = PipeEnd {
        held: held.clone(),
        id,
        end: 0,
        can_send: duplex,
        can_recv: true,
    };
    let second = PipeEnd {
        held,
        id,
        end: 1,
        can_send: true,
        can_recv: duplex,
    };
    Ok(vec![Dynamic::from(first), Dynamic::from(second)])
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<PipeEnd>("PipeEnd");
    engine.register_fn("pipe", || new_pipe(true));
    engine.register_fn("pipe", new_pipe);
    engine.register_fn("send", |p: &mut PipeEnd, v: Dynamic| -> Result<()> {
        p.check("send", p.can_send)?;
        call(
            p.id,
            Op::Send {
                end: p.end,
                value: storable("send", &v)?,
            },
            None,
        )
        .map(|_| ())
    });
    register_timed!(engine, "recv", PipeEnd, |p: &mut PipeEnd, t| {
        p.check("recv", p.can_recv)?;
        blocking(
            "pipe recv",
            || p.label(),
            || call_dynamic(p.id, Op::Recv { end: p.end }, t),
        )
    });
    register_timed!(
        engine,
        "poll",
        PipeEnd,
        |p: &mut PipeEnd, t: Option<f64>| {
            p.check("poll", p.can_recv)?;
            blocking(
                "pipe poll",
                || p.label(),
                || call_bool(p.id, Op::Poll { end: p.end }, Some(t.unwrap_or(0.0))),
            )
        }
    );
    engine.register_fn("close", |p: &mut PipeEnd| -> Result<()> {
        call(p.id, Op::CloseEnd { end: p.end }, None).map(|_| ())
    });
    register_show!(engine, PipeEnd, |p: &mut PipeEnd| p.label());
}
