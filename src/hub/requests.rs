//! The request dispatcher, and the handlers of the shared objects (queues,
//! locks, lists) on top of the `ObjectStore`.

use super::waits::WaitKey;
use super::{Hub, HubResult};
use crate::wire::{ErrorKind, Handle, HubError, ListOp, ProcId, Reply, Request, Stream, Value};

impl Hub<'_> {
    // ----- requests -------------------------------------------------------

    pub(super) fn dispatch(&mut self, from: ProcId, request: Request) {
        let wants_reply = request.expects_reply();
        let result = match request {
            Request::Output { stream, text } => {
                match stream {
                    Stream::Stdout => self.stdout.extend_from_slice(text.as_bytes()),
                    Stream::Stderr => self.stderr.extend_from_slice(text.as_bytes()),
                }
                return;
            }
            Request::Finished { outcome } => {
                if let Some(proc) = self.procs.get_mut(&from) {
                    proc.outcome = Some(outcome);
                }
                return;
            }
            Request::Spawn {
                target,
                args,
                start,
            } => self.spawn(target, args, start),
            Request::Start { id } => self.start_spawned(id).map(|_| Reply::Unit),
            Request::Join { id, timeout } => return self.join(from, id, timeout),
            Request::Status { id } => self.proc(id).map(|p| Reply::Process(p.info())),
            Request::Signal { id, signal } => self.signal(id, signal),
            Request::QueueNew { maxsize } => {
                let id = self.store.new_queue(maxsize);
                Ok(Reply::Handle(Handle::Queue {
                    id,
                    maxsize: maxsize.map(|m| m as u64),
                }))
            }
            Request::QueuePut {
                id, value, timeout, ..
            } => return self.queue_put(from, id, value, timeout, wants_reply),
            Request::QueueGet { id, timeout } => return self.queue_get(from, id, timeout),
            Request::QueueLen { id } => self
                .store
                .queue_len(id)
                .map(|n| Reply::Int(n as i64))
                .map_err(Into::into),
            Request::LockNew => Ok(Reply::Handle(Handle::Lock {
                id: self.store.new_lock(),
            })),
            Request::LockAcquire { id, timeout } => return self.lock_acquire(from, id, timeout),
            Request::LockRelease { id } => self.lock_release(id),
            Request::LockIsLocked { id } => self
                .store
                .lock_holder(id)
                .map(|h| Reply::Bool(h.is_some()))
                .map_err(Into::into),
            Request::ListNew { items } => Ok(Reply::Handle(Handle::List {
                id: self.store.new_list(items),
            })),
            Request::List { id, op, .. } => self.list_op(from, id, op),
            Request::PoolMap {
                target,
                items,
                workers,
                chunksize,
            } => {
                return self.pool_map(from, target, items, workers, chunksize);
            }
            Request::PoolNext { report } => return self.pool_next(from, report),
        };
        if wants_reply {
            self.answer(from, result);
        } else if let Err(e) = result {
            self.warn(e.message);
        }
    }

    // ----- queues ---------------------------------------------------------

    pub(super) fn queue_put(
        &mut self,
        from: ProcId,
        id: u64,
        value: Value,
        timeout: Option<f64>,
        wants_reply: bool,
    ) {
        match self.store.queue_push(id, value) {
            Ok(Ok(())) => {
                if wants_reply {
                    self.reply(from, Reply::Unit);
                }
                self.serve_queue(id);
            }
            Ok(Err(_)) if timeout == Some(0.0) => {
                self.reply(
                    from,
                    Reply::Error(HubError::new(ErrorKind::Full, "Full: the queue is full")),
                );
            }
            Ok(Err(value)) => self.park(from, WaitKey::QueuePut(id), Some(value), timeout),
            Err(e) if wants_reply => self.reply(from, Reply::Error(e.into())),
            Err(e) => self.warn(e.to_string()),
        }
    }

    pub(super) fn queue_get(&mut self, from: ProcId, id: u64, timeout: Option<f64>) {
        match self.store.queue_pop(id) {
            Ok(Some(value)) => {
                self.reply(from, Reply::Value(value));
                self.serve_queue(id);
            }
            Ok(None) if timeout == Some(0.0) => {
                self.reply(
                    from,
                    Reply::Error(HubError::new(ErrorKind::Empty, "Empty: the queue is empty")),
                );
            }
            Ok(None) => self.park(from, WaitKey::QueueGet(id), None, timeout),
            Err(e) => self.reply(from, Reply::Error(e.into())),
        }
    }

    /// Moves items to parked getters and parked puts into freed room, in arrival order.
    pub(super) fn serve_queue(&mut self, id: u64) {
        loop {
            let mut moved = false;
            let mut getters = self.waits.take_list(WaitKey::QueueGet(id));
            while let Some(&getter) = getters.front() {
                if !self.is_parked_on(getter, WaitKey::QueueGet(id)) {
                    getters.pop_front();
                    continue;
                }
                match self.store.queue_pop(id) {
                    Ok(Some(value)) => {
                        getters.pop_front();
                        self.unpark(getter);
                        self.reply(getter, Reply::Value(value));
                        moved = true;
                    }
                    _ => break,
                }
            }
            self.waits.restore_list(WaitKey::QueueGet(id), getters);

            let mut putters = self.waits.take_list(WaitKey::QueuePut(id));
            while let Some(&putter) = putters.front() {
                if !self.is_parked_on(putter, WaitKey::QueuePut(id)) {
                    putters.pop_front();
                    continue;
                }
                if !matches!(self.store.queue_is_full(id), Ok(false)) {
                    break;
                }
                putters.pop_front();
                let value = self
                    .unpark(putter)
                    .and_then(|p| p.value)
                    .unwrap_or(Value::Unit);
                let _ = self.store.queue_push(id, value);
                self.reply(putter, Reply::Unit);
                moved = true;
            }
            self.waits.restore_list(WaitKey::QueuePut(id), putters);
            if !moved {
                return;
            }
        }
    }

    // ----- locks ----------------------------------------------------------

    pub(super) fn lock_acquire(&mut self, from: ProcId, id: u64, timeout: Option<f64>) {
        match self.store.lock_try_acquire(id, from) {
            Ok(true) => self.reply(from, Reply::Bool(true)),
            Ok(false) if timeout == Some(0.0) => self.reply(from, Reply::Bool(false)),
            Ok(false) => self.park(from, WaitKey::Lock(id), None, timeout),
            Err(e) => self.reply(from, Reply::Error(e.into())),
        }
    }

    pub(super) fn lock_release(&mut self, id: u64) -> HubResult<Reply> {
        self.store.lock_release(id)?;
        let _ = self.serve_lock(id);
        Ok(Reply::Unit)
    }

    /// Hands a free lock to the longest-waiting live process; true if one got it.
    pub(super) fn serve_lock(&mut self, id: u64) -> bool {
        let mut waiters = self.waits.take_list(WaitKey::Lock(id));
        let mut handed = false;
        while let Some(waiter) = waiters.pop_front() {
            if !self.is_parked_on(waiter, WaitKey::Lock(id)) {
                continue;
            }
            if let Ok(true) = self.store.lock_try_acquire(id, waiter) {
                self.unpark(waiter);
                self.reply(waiter, Reply::Bool(true));
                handed = true;
            } else {
                waiters.push_front(waiter);
            }
            break;
        }
        self.waits.restore_list(WaitKey::Lock(id), waiters);
        handed
    }

    // ----- lists ----------------------------------------------------------

    pub(super) fn list_op(&mut self, _from: ProcId, id: u64, op: ListOp) -> HubResult<Reply> {
        Ok(Reply::Value(self.store.list_op(id, op)?))
    }
}
