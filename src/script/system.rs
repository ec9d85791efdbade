//! Process-level calls: `print`/`debug` routing, `getpid`, `cpu_count`,
//! `sleep`, and `exit`, which records its code because Rhai's run functions
//! turn an exit into a plain return value.

use std::cell::Cell;
use std::time::Duration;

use rhai::{Dynamic, Engine, EvalAltResult, INT, Position};

use super::timeout_arg;
use crate::client;
use crate::wire::{Request, Stream};

thread_local! {
    static EXIT_REQUEST: Cell<Option<i32>> = const { Cell::new(None) };
    static IDENTITY: std::cell::RefCell<(String, i32)> = const { std::cell::RefCell::new((String::new(), 0)) };
}

/// This interpreter's name ("MainProcess", "Process-3", "PoolWorker-1").
pub fn process_name() -> String {
    IDENTITY.with(|i| i.borrow().0.clone())
}

/// Records who this interpreter is: its name and the pid of its parent.
pub fn set_identity(name: String, parent_pid: i32) {
    IDENTITY.with(|i| *i.borrow_mut() = (name, parent_pid));
}

/// The code given to `exit`, if the script called it.
pub fn take_exit_request() -> Option<i32> {
    EXIT_REQUEST.with(Cell::take)
}

pub fn write_output(stream: Stream, text: String) {
    // Output of a process whose hub is gone has nowhere to go.
    let _ = client::send(&Request::Output { stream, text });
}

fn exit_with(value: Dynamic) -> Result<(), Box<EvalAltResult>> {
    let code = if value.is_unit() {
        0
    } else if let Ok(n) = value.as_int() {
        n.clamp(i32::MIN as INT, i32::MAX as INT) as i32
    } else {
        write_output(Stream::Stderr, format!("{value}\n"));
        1
    };
    EXIT_REQUEST.with(|e| e.set(Some(code)));
    Err(Box::new(EvalAltResult::Exit(value, Position::NONE)))
}

fn sleep(secs: Dynamic) -> Result<(), Box<EvalAltResult>> {
    std::thread::sleep(Duration::from_secs_f64(timeout_arg("sleep", &secs)?));
    Ok(())
}

pub fn register(engine: &mut Engine) {
    engine.on_print(|text| write_output(Stream::Stdout, format!("{text}\n")));
    engine.on_debug(|text, source, position| {
        let at = match (source, position.line()) {
            (Some(src), Some(line)) => format!("{src}:{line}: "),
            (None, Some(line)) => format!("line {line}: "),
            _ => String::new(),
        };
        write_output(Stream::Stderr, format!("{at}{text}\n"));
    });
    engine.register_fn("getpid", || std::process::id() as INT);
    engine.register_fn("parent_pid", || IDENTITY.with(|i| i.borrow().1 as INT));
    engine.register_fn("current_process", || {
        let mut map = rhai::Map::new();
        map.insert(
            "name".into(),
            IDENTITY.with(|i| i.borrow().0.clone()).into(),
        );
        map.insert("pid".into(), Dynamic::from_int(std::process::id() as INT));
        map
    });
    engine.register_fn("cpu_count", || {
        std::thread::available_parallelism().map_or(1, |n| n.get()) as INT
    });
    // Typed, not `Dynamic`: Rhai's own `sleep(INT)` / `sleep(FLOAT)` would
    // otherwise be preferred, and they accept negative times.
    engine.register_fn("sleep", |secs: INT| sleep(Dynamic::from_int(secs)));
    engine.register_fn("sleep", |secs: rhai::FLOAT| {
        sleep(Dynamic::from_float(secs))
    });
    engine.register_fn("exit", || exit_with(Dynamic::UNIT));
    engine.register_fn("exit", exit_with);
}
