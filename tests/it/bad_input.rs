//! Bad input to the primitives: each is one message line on stderr,
//! `FILE:LINE:COL: message`, then the source line and a caret under the
//! column; exit status 1, never a panic, a backtrace or a hang.

use super::common;
use common::*;

/// Each script, the column its error is reported at, and what it says.
const CASES: &[(&str, usize, &str)] = &[
    (
        "spawn(Fn(\"nope\"), [1]);",
        7,
        "spawn: no function named 'nope' in the script",
    ),
    (
        "pool_map(Fn(\"nope\"), [1]);",
        1,
        "pool_map: no function named 'nope' in the script",
    ),
    (
        "spawn(42);",
        7,
        "spawn: the first argument must be a function, not i64",
    ),
    (
        "fn f(a, b) { a } spawn(f, [1]);",
        24,
        "spawn: function 'f' takes 2 argument(s), but would be called with 1",
    ),
    (
        "fn f(a, b) { a } pool_map(f, [1]);",
        18,
        "pool_map: function 'f' takes 2 argument(s), but would be called with 1",
    ),
    (
        "fn f(a, b) { a } let p = pool(1); p.map(f, [1]);",
        37,
        "map: function 'f' takes 2 argument(s), but would be called with 1",
    ),
    (
        "let q = queue(); q.get(-1);",
        20,
        "get: the timeout must be a non-negative number of seconds, not -1",
    ),
    (
        "let q = queue(); q.get(0.0/0.0);",
        20,
        "get: the timeout must be a non-negative number of seconds, not NaN",
    ),
    (
        "let l = lock(); l.acquire(-0.5);",
        19,
        "acquire: the timeout must be a non-negative number of seconds, not -0.5",
    ),
    (
        "let e = event(); e.wait(0.0/0.0);",
        20,
        "wait: the timeout must be a non-negative number of seconds, not NaN",
    ),
    (
        "fn w() {} let p = spawn(w); p.join(-1);",
        31,
        "join: the timeout must be a non-negative number of seconds, not -1",
    ),
    (
        "sleep(-1);",
        1,
        "sleep: the timeout must be a non-negative number of seconds, not -1",
    ),
    ("let q = queue(-1);", 9, "queue: maxsize must be at least 1"),
    (
        "let p = pool(0);",
        9,
        "pool: workers must be at least 1, not 0",
    ),
    (
        "let p = pool(#{workers: \"two\"});",
        9,
        "pool: workers must be an integer, not string",
    ),
    (
        "let b = barrier(0);",
        9,
        "barrier: parties must be at least 1, not 0",
    ),
    (
        "let s = semaphore(-1);",
        9,
        "semaphore: the initial value must not be negative, not -1",
    ),
    (
        "let q = queue(); q.close(); q.put(1);",
        31,
        "Closed: the queue is closed",
    ),
    (
        "let q = queue(); q.close(); q.get();",
        31,
        "Closed: the queue is closed and empty",
    ),
    (
        "let ends = pipe(); ends[0].close(); ends[0].send(1);",
        45,
        "Closed: this end of the pipe is closed",
    ),
    (
        "let ends = pipe(); ends[0].close(); ends[1].recv();",
        45,
        "EOF: the other end of the pipe is closed and nothing is left",
    ),
    (
        "let ends = pipe(false); ends[0].send(1);",
        33,
        "send: this end of a one-way pipe only receives",
    ),
    (
        "let p = pool(1); p.close(); p.map(|x| x, [1]);",
        31,
        "map: the pool is closed",
    ),
    (
        "let p = pool(1); p.terminate(); p.apply(|x| x, [1]);",
        35,
        "apply: the pool was terminated",
    ),
    (
        "let b = bounded_semaphore(1); b.release();",
        33,
        "release: a bounded semaphore cannot go above its initial value 1",
    ),
    (
        "let l = lock(); l.release();",
        19,
        "release: the lock is not held",
    ),
    (
        "let q = joinable_queue(); q.task_done();",
        29,
        "task_done: called more times than items were put",
    ),
    (
        "let c = condition(); c.notify();",
        24,
        "notify: the condition's lock is not held by this process",
    ),
    (
        "let l = manager_list(); l.remove(-9);",
        27,
        "list index -9 out of range for a list of length 0",
    ),
    (
        "let v = value(1); v.add(\"x\");",
        21,
        "add: the value and the amount must both be numbers",
    ),
];

#[test]
fn each_bad_call_is_one_message_line_then_its_source_and_exit_one() {
    for (source, column, message) in CASES {
        let r = run(source);
        assert_eq!(r.code, Some(1), "{source}: {r:?}");
        let prefix = format!("script.rhai:1:{column}: {message}");
        let first = error_report(&r.stderr);
        assert!(first.contains(&prefix), "{source}:\n{}", r.stderr);
        assert!(
            r.stderr.contains(&format!("   1 | {source}\n")),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("backtrace"));
    }
}
