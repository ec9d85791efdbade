//! `Dynamic` to `Value` and back: what a script value becomes when it leaves
//! its process. Captured variables (shared cells) travel as copies; a value
//! that means nothing elsewhere (a timestamp, a native function) is refused
//! with its type name at the call that tried to send it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use rhai::{AST, Array, Blob, Dynamic, FLOAT, FnPtr, INT, ImmutableString, Map};

use super::barrier::BarrierHandle;
use super::condition::ConditionHandle;
use super::dict::DictHandle;
use super::event::EventHandle;
use super::list::ListHandle;
use super::lock::LockHandle;
use super::pipe::PipeEnd;
use super::process::ProcessHandle;
use super::queue::QueueHandle;
use super::refs::Holder;
use super::semaphore::SemaphoreHandle;
use super::shared_value::ValueHandle;
use super::toolkit::counter::Counter;
use super::toolkit::text::Regex;
use crate::wire::{FnRef, Handle, Item, MAX_DEPTH, ObjectId, ObjectKind, Packed, Value};

thread_local! {
    /// Closures by their hidden `anon$…` names: `FnPtr::new` refuses those
    /// names, so a closure arriving from another process is rebuilt from its
    /// definition instead.
    static CLOSURES: RefCell<HashMap<String, FnPtr>> = RefCell::new(HashMap::new());
    /// Where the value being converted goes, so what its handles mean to
    /// the hub's count (`hub::core::refs`).
    static BOUND_FOR: Cell<BoundFor> = const { Cell::new(BoundFor::Unfollowed) };
    /// While `keeping` runs: the holders of the handles converted.
    static KEPT: RefCell<Option<Vec<Holder>>> = const { RefCell::new(None) };
}

/// Runs `convert` and returns, beside what it returns, the holders of every
/// object handle it converted: a value sent in a later message (a pool
/// worker's results go in its report once the chunk is done) must keep its
/// objects held until then, or this process's releases could reach the hub
/// first.
pub fn keeping<T>(convert: impl FnOnce() -> T) -> (T, Vec<Holder>) {
    let before = KEPT.replace(Some(Vec::new()));
    let converted = convert();
    let kept = KEPT.replace(before).unwrap_or_default();
    (converted, kept)
}

/// Where a value leaving this process goes, as far as its object handles
/// are concerned.
#[derive(Clone, Copy, PartialEq)]
enum BoundFor {
    /// Not said: each handle pins its object for the rest of the run. The
    /// safe default (an object is never freed early), which no binding
    /// uses today: each says where its values go.
    Unfollowed,
    /// A spawn's function and arguments: the hub counts each handle in
    /// them (captured ones too) as the child's.
    Child,
    /// Somewhere the hub follows the handles, captured ones too: an
    /// object's store (a queue, list, dict, value or pipe, a barrier's
    /// action), a pool's job (its function, items and results, a pool's
    /// initializer, its arguments and inherited constants), a process's
    /// result.
    Followed,
}

pub fn index_closures(ast: &AST) {
    CLOSURES.with(|c| {
        let mut c = c.borrow_mut();
        for def in ast.iter_fn_def() {
            if def.name.starts_with("anon$") {
                c.insert(def.name.to_string(), FnPtr::from(def.clone()));
            }
        }
    });
}

#[derive(Debug, thiserror::Error)]
pub enum Unsendable {
    #[error("a value of type '{0}' cannot be sent to another process")]
    Type(String),
    #[error(
        "a value nested more than {MAX_DEPTH} arrays or maps deep cannot be sent to another process"
    )]
    TooDeep,
}

pub fn to_wire(value: &Dynamic) -> Result<Value, Unsendable> {
    to_wire_at(value, 0)
}

/// `to_wire` for a value inside `depth` arrays or maps.
fn to_wire_at(value: &Dynamic, depth: usize) -> Result<Value, Unsendable> {
    if value.is_unit() {
        return Ok(Value::Unit);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::Int(i));
    }
    if let Ok(f) = value.as_float() {
        return Ok(Value::Float(f));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::Char(c));
    }
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return Ok(Value::Str(s.to_string()));
    }
    if depth >= MAX_DEPTH && (value.is_array() || value.is_map()) {
        return Err(Unsendable::TooDeep);
    }
    if let Some(a) = value.read_lock::<Array>() {
        return a
            .iter()
            .map(|v| to_wire_at(v, depth + 1))
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if let Some(m) = value.read_lock::<Map>() {
        return m
            .iter()
            .map(|(k, v)| Ok((k.to_string(), to_wire_at(v, depth + 1)?)))
            .collect::<Result<_, _>>()
            .map(Value::Map);
    }
    if let Some(b) = value.read_lock::<Blob>() {
        return Ok(Value::Blob(b.clone()));
    }
    if let Some(c) = value.read_lock::<Counter>() {
        return Ok(Value::Counter(c.to_counts()));
    }
    if let Some(re) = value.read_lock::<Regex>() {
        return Ok(Value::Regex(re.pattern().to_string()));
    }
    if let Some(f) = value.read_lock::<FnPtr>() {
        return fn_ref_at(&f, depth + 1).map(Value::Fn);
    }
    if let Some(h) = value.read_lock::<ProcessHandle>() {
        return Ok(Value::Handle(h.handle()));
    }
    macro_rules! handles {
        ($($ty:ty),*) => {$(
            if let Some(h) = value.read_lock::<$ty>() {
                // The value may reach anyone now: the hub must keep the
                // object, unless it counts where this value goes.
                if BOUND_FOR.get() == BoundFor::Unfollowed {
                    h.held.escaped();
                }
                KEPT.with_borrow_mut(|kept| {
                    if let Some(kept) = kept {
                        kept.push(h.held.clone());
                    }
                });
                return Ok(Value::Handle(h.handle()));
            }
        )*};
    }
    handles!(
        QueueHandle,
        LockHandle,
        SemaphoreHandle,
        EventHandle,
        ConditionHandle,
        BarrierHandle,
        ValueHandle,
        DictHandle,
        ListHandle,
        PipeEnd
    );
    Err(Unsendable::Type(script_type_name(value)))
}

/// A value's type as scripts know it: `type_of`'s name for mphost's own
/// types, not the Rust path.
pub fn script_type_name(value: &Dynamic) -> String {
    /// Each mphost type's Rust name and the name it is registered under.
    const NAMES: &[(&str, &str)] = &[
        ("DictHandle", "ManagerDict"),
        ("LockHandle", "Lock"),
        ("ConditionHandle", "Condition"),
        ("ImapIter", "ImapIterator"),
        ("SemaphoreHandle", "Semaphore"),
        ("ProcessHandle", "Process"),
        ("PoolHandle", "Pool"),
        ("QueueHandle", "Queue"),
        ("EventHandle", "Event"),
        ("ListHandle", "ManagerList"),
        ("BarrierHandle", "Barrier"),
        ("ValueHandle", "SharedValue"),
    ];
    let name = value.type_name();
    let Some(rust_path) = name.strip_prefix("mphost::") else {
        return name.to_string();
    };
    let short = rust_path.rsplit("::").next().unwrap_or(rust_path);
    NAMES
        .iter()
        .find(|(rust, _)| *rust == short)
        .map_or(short, |(_, script)| script)
        .to_string()
}

/// `sendable` for a spawn's argument: the hub counts each object handle in
/// it, captured ones too, as handed to the new process (`hub::core::refs`), so
/// the object is not pinned.
pub fn handed(call: &str, value: &Dynamic) -> Result<Value, Box<rhai::EvalAltResult>> {
    bound_for(BoundFor::Child, || sendable(call, value))
}

/// `target` for a spawn's function: its captured handles are handed to the
/// new process, as its arguments' are.
pub fn handed_target(
    call: &str,
    f: &FnPtr,
    args: usize,
) -> Result<FnRef, Box<rhai::EvalAltResult>> {
    bound_for(BoundFor::Child, || target(call, f, args))
}

/// `sendable` for a value going into an object's store: the hub follows
/// the handles in it (`hub::core::refs`), so none is pinned. Such a value must
/// go to the hub, never through shared memory (`Value::carries_objects`).
pub fn storable(call: &str, value: &Dynamic) -> Result<Value, Box<rhai::EvalAltResult>> {
    followed(|| sendable(call, value))
}

/// Runs `convert`, whose values go where the hub follows their handles (a
/// pool's job, a result): none is pinned.
pub fn followed<T>(convert: impl FnOnce() -> T) -> T {
    bound_for(BoundFor::Followed, convert)
}

/// Runs `convert` with values bound for `place`.
fn bound_for<T>(place: BoundFor, convert: impl FnOnce() -> T) -> T {
    let before = BOUND_FOR.replace(place);
    let converted = convert();
    BOUND_FOR.set(before);
    converted
}

/// `to_wire` for a binding's argument: the error names the call.
pub fn sendable(call: &str, value: &Dynamic) -> Result<Value, Box<rhai::EvalAltResult>> {
    to_wire(value).map_err(|e| super::script_error(format!("{call}: {e}")))
}

/// A pool job's items, each made sendable and encoded once, here.
pub fn pack(call: &str, items: &Array) -> Result<Packed, Box<rhai::EvalAltResult>> {
    let mut packed = Packed::with_capacity(items.len());
    for item in items {
        pack_one(&mut packed, item).map_err(|e| super::script_error(format!("{call}: {e}")))?;
    }
    Ok(packed)
}

/// Appends `value` to `packed`: plain values straight from the script
/// value, anything else through `to_wire`.
pub fn pack_one(packed: &mut Packed, value: &Dynamic) -> Result<(), PackError> {
    let pushed = if let Ok(i) = value.as_int() {
        packed.push_int(i)
    } else if let Ok(f) = value.as_float() {
        packed.push_float(f)
    } else if let Some(s) = value.read_lock::<ImmutableString>() {
        packed.push_str(&s)
    } else if let Ok(b) = value.as_bool() {
        packed.push_bool(b)
    } else if value.is_unit() {
        packed.push_unit()
    } else {
        packed.push(&to_wire(value)?)
    };
    Ok(pushed?)
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error(transparent)]
    Unsendable(#[from] Unsendable),
    #[error(transparent)]
    Frame(#[from] crate::wire::FrameError),
}

/// Item `index` of `packed` as a script value.
pub fn unpack_one(packed: &Packed, index: usize) -> Result<Dynamic, crate::wire::FrameError> {
    Ok(match packed.item(index)? {
        Item::Unit => Dynamic::UNIT,
        Item::Bool(b) => Dynamic::from_bool(b),
        Item::Int(i) => Dynamic::from_int(i as INT),
        Item::Float(f) => Dynamic::from_float(f as FLOAT),
        Item::Str(s) => Dynamic::from(ImmutableString::from(s)),
        Item::Other(value) => from_wire(value),
    })
}

/// A pool job's results as script values.
pub fn unpack(call: &str, items: &Packed) -> Result<Array, Box<rhai::EvalAltResult>> {
    let mut array = Array::with_capacity(items.len());
    for index in 0..items.len() {
        let value = unpack_one(items, index).map_err(|e| {
            take_packed_handles(items, index..items.len());
            super::script_error(format!("{call}: a result came back torn: {e}"))
        })?;
        array.push(value);
    }
    Ok(array)
}

/// The hub handed over the handles in `items[range]`, which this process
/// will not unpack (one came torn, or an item before them failed): count
/// them all the same, so that its releases say so.
pub fn take_packed_handles(items: &Packed, range: std::ops::Range<usize>) {
    take_ids(items.objects_in(range).iter().map(|&(_, id)| id));
}

/// Counts a delivery of each of `ids` and lets it go at once: the release
/// then tells the hub this process took them.
fn take_ids(ids: impl IntoIterator<Item = ObjectId>) {
    for id in ids {
        drop(Holder::delivered(id));
    }
}

/// A function argument that another process will call with `args` more values.
pub fn target(call: &str, f: &FnPtr, args: usize) -> Result<FnRef, Box<rhai::EvalAltResult>> {
    let target = fn_ref(f).map_err(|e| super::script_error(format!("{call}: {e}")))?;
    super::script().check_target(call, &target, args)?;
    Ok(target)
}

pub fn fn_ref(f: &FnPtr) -> Result<FnRef, Unsendable> {
    fn_ref_at(f, 0)
}

/// `fn_ref` for a function value inside `depth` levels: its curried values
/// count as one level more, so nesting through closures is bounded too.
fn fn_ref_at(f: &FnPtr, depth: usize) -> Result<FnRef, Unsendable> {
    if depth >= MAX_DEPTH {
        return Err(Unsendable::TooDeep);
    }
    // Captured values go where the function goes, and count the same.
    let curry = f
        .curry()
        .iter()
        .map(|v| to_wire_at(v, depth + 1))
        .collect::<Result<_, _>>()?;
    Ok(FnRef {
        name: f.fn_name().to_string(),
        curry,
    })
}

pub fn from_wire(value: Value) -> Dynamic {
    match value {
        Value::Unit => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(b),
        Value::Int(i) => Dynamic::from_int(i as INT),
        Value::Float(f) => Dynamic::from_float(f as FLOAT),
        Value::Char(c) => Dynamic::from_char(c),
        Value::Str(s) => Dynamic::from(s),
        Value::Array(items) => Dynamic::from_array(items.into_iter().map(from_wire).collect()),
        Value::Map(entries) => Dynamic::from_map(
            entries
                .into_iter()
                .map(|(k, v)| (k.into(), from_wire(v)))
                .collect(),
        ),
        Value::Blob(bytes) => Dynamic::from_blob(bytes),
        Value::Counter(counts) => Dynamic::from(Counter::from_counts(counts)),
        // It compiled where it was made: only a damaged one fails here.
        Value::Regex(pattern) => Regex::new(&pattern).map_or(Dynamic::UNIT, Dynamic::from),
        Value::Fn(f) => match fn_ptr(&f) {
            Some(ptr) => Dynamic::from(ptr),
            None => Dynamic::from(f.name),
        },
        Value::Handle(Handle::Process { id, name }) => {
            Dynamic::from(ProcessHandle::new(id, name, None))
        }
        Value::Handle(Handle::Object { id, kind, direct }) => object_handle(id, kind, direct),
    }
}

/// The script-visible handle for a shared object of `kind`, reached
/// directly at `direct` if the store gave it a place there.
fn object_handle(id: ObjectId, kind: ObjectKind, direct: Option<u32>) -> Dynamic {
    let held = Holder::delivered(id);
    match kind {
        ObjectKind::Queue { maxsize, joinable } => Dynamic::from(QueueHandle {
            held,
            id,
            maxsize,
            joinable,
            ring: direct,
        }),
        ObjectKind::Lock => Dynamic::from(LockHandle {
            held,
            id,
            reentrant: false,
            slot: direct,
        }),
        ObjectKind::RLock => Dynamic::from(LockHandle {
            held,
            id,
            reentrant: true,
            slot: direct,
        }),
        ObjectKind::Semaphore { bounded } => Dynamic::from(SemaphoreHandle { held, id, bounded }),
        ObjectKind::Event => Dynamic::from(EventHandle { held, id }),
        ObjectKind::Condition { lock } => Dynamic::from(ConditionHandle { held, id, lock }),
        ObjectKind::Barrier { parties } => Dynamic::from(BarrierHandle { held, id, parties }),
        ObjectKind::Value => Dynamic::from(ValueHandle { held, id }),
        ObjectKind::Dict => Dynamic::from(DictHandle { held, id }),
        ObjectKind::List => Dynamic::from(ListHandle {
            held,
            id,
            ring: direct,
        }),
        ObjectKind::PipeEnd {
            end,
            can_send,
            can_recv,
        } => Dynamic::from(PipeEnd {
            held,
            id,
            end,
            can_send,
            can_recv,
        }),
    }
}

/// The hub handed over the handles in `f`'s captured values, but this
/// process will not rebuild them: it already holds the function (a pool
/// worker's next chunk of the same job), or cannot rebuild it. Count them
/// all the same, so that its releases say so.
pub fn take_handles(f: &FnRef) {
    let mut ids = Vec::new();
    f.object_ids(&mut ids);
    take_ids(ids);
}

/// Rebuilds a function pointer in this process.
pub fn fn_ptr(f: &FnRef) -> Option<FnPtr> {
    let found = match FnPtr::new(f.name.as_str()) {
        Ok(ptr) => Some(ptr),
        Err(_) => CLOSURES
            .with(|c| c.borrow().get(&f.name).cloned())
            .or_else(|| super::modules::module_closure(&f.name)),
    };
    let Some(mut ptr) = found else {
        take_handles(f);
        return None;
    };
    ptr.set_curry(f.curry.iter().cloned().map(from_wire));
    Some(ptr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plain_value_round_trips() {
        let mut map = Map::new();
        map.insert(
            "k".into(),
            Dynamic::from_array(vec![Dynamic::from_char('é'), Dynamic::UNIT]),
        );
        let values = [
            Dynamic::from_bool(true),
            Dynamic::from_int(-7),
            Dynamic::from_float(0.1 + 0.2),
            Dynamic::from("text"),
            Dynamic::from_map(map),
            Dynamic::from_blob(vec![0, 255]),
        ];
        for v in values {
            let back = from_wire(to_wire(&v).unwrap());
            assert_eq!(back.to_string(), v.to_string());
            assert_eq!(back.type_name(), v.type_name());
        }
        let bits = from_wire(to_wire(&Dynamic::from_float(0.1 + 0.2)).unwrap())
            .as_float()
            .unwrap();
        assert_eq!(bits.to_bits(), (0.1f64 + 0.2).to_bits());
    }

    #[test]
    fn a_timestamp_is_refused_by_name() {
        let err = to_wire(&Dynamic::from(std::time::Instant::now())).unwrap_err();
        assert!(err.to_string().contains("cannot be sent"), "{err}");
    }
}
