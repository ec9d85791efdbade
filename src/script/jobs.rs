//! `AsyncResult` (`apply_async`, `map_async`: `get`, `get(timeout)`,
//! `wait(timeout)`, `ready`, `successful`) and the iterator `imap` returns.

use std::rc::Rc;

use rhai::{Dynamic, Engine, EvalAltResult};

use super::convert::{from_wire, unpack};
use super::objects::{register_show, register_timed};
use super::script_error;
use crate::client::{self, unexpected};
use crate::trace_recorder::blocking;
use crate::wire::{JobAsk, Reply, Request, Value};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// Held by every handle on a job; the last one dropped tells the hub the
/// job's results are no longer wanted.
#[derive(Debug)]
struct JobToken(u64);

impl Drop for JobToken {
    fn drop(&mut self) {
        client::send_quietly(&Request::JobForget { job: self.0 });
    }
}

#[derive(Clone, Debug)]
pub struct AsyncResult {
    pub job: u64,
    _token: Rc<JobToken>,
}

impl AsyncResult {
    pub fn new(job: u64) -> AsyncResult {
        AsyncResult {
            job,
            _token: Rc::new(JobToken(job)),
        }
    }

    fn ask(&self, ask: JobAsk, timeout: Option<f64>) -> Result<Reply> {
        Ok(client::call(&Request::Job {
            job: self.job,
            ask,
            timeout,
        })?)
    }

    pub fn get(&self, timeout: Option<f64>) -> Result<Dynamic> {
        match self.ask(JobAsk::Get, timeout)? {
            Reply::Items(results) => Ok(Dynamic::from_array(unpack("get", &results)?)),
            Reply::Value(v) => Ok(from_wire(v)),
            other => Ok(unexpected(other)?),
        }
    }

    /// As the script prints it, and a trace names what a wait was on.
    fn label(&self) -> String {
        format!("AsyncResult(#{})", self.job)
    }

    fn status(&self) -> Result<(bool, bool)> {
        match client::call(&Request::JobStatus { job: self.job })? {
            Reply::Value(Value::Array(parts)) => Ok((
                parts.first() == Some(&Value::Bool(true)),
                parts.get(1) == Some(&Value::Bool(true)),
            )),
            other => Ok(unexpected(other)?),
        }
    }
}

/// The results of `imap` / `imap_unordered`, for a `for` loop.
#[derive(Clone, Debug)]
pub struct ImapIter {
    pub job: u64,
    _token: Rc<JobToken>,
}

impl ImapIter {
    pub fn new(job: u64) -> ImapIter {
        ImapIter {
            job,
            _token: Rc::new(JobToken(job)),
        }
    }
}

impl IntoIterator for ImapIter {
    type Item = Result<Dynamic>;
    type IntoIter = Box<dyn Iterator<Item = Result<Dynamic>>>;

    fn into_iter(self) -> Self::IntoIter {
        let (job, token) = (self.job, self._token);
        Box::new(std::iter::from_fn(move || {
            let _alive = &token;
            let request = Request::Job {
                job,
                ask: JobAsk::Next,
                timeout: None,
            };
            let on = || format!("ImapIterator(#{job})");
            match blocking("imap next", on, || client::call(&request)) {
                Ok(Reply::Value(v)) => Some(Ok(from_wire(v))),
                Ok(Reply::Stop) => None,
                Ok(other) => Some(unexpected(other).map_err(Into::into)),
                Err(e) => Some(Err(e.into())),
            }
        }))
    }
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<AsyncResult>("AsyncResult");
    register_timed!(engine, "get", AsyncResult, |r: &mut AsyncResult, t| {
        blocking("AsyncResult.get", || r.label(), || r.get(t))
    });
    register_timed!(engine, "wait", AsyncResult, |r: &mut AsyncResult,
                                                  t|
     -> Result<bool> {
        let reply = blocking("AsyncResult.wait", || r.label(), || r.ask(JobAsk::Wait, t))?;
        Ok(matches!(reply, Reply::Value(Value::Bool(true))))
    });
    engine.register_fn("ready", |r: &mut AsyncResult| {
        r.status().map(|(ready, _)| ready)
    });
    engine.register_fn("successful", |r: &mut AsyncResult| -> Result<bool> {
        match r.status()? {
            (true, ok) => Ok(ok),
            (false, _) => Err(script_error("successful: the result is not ready yet")),
        }
    });
    register_show!(engine, AsyncResult, |r: &mut AsyncResult| r.label());
    engine.register_type_with_name::<ImapIter>("ImapIterator");
    engine.register_iterator_result::<ImapIter, Dynamic>();
    register_show!(engine, ImapIter, |r: &mut ImapIter| format!(
        "ImapIterator(#{})",
        r.job
    ));
}
