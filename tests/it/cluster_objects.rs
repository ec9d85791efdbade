//! A cluster run's shared objects live in its Redis: each collection's
//! contents under a key of its own, the rest in the run's objects hash, all
//! under the run's lease. The primitives' semantics in cluster mode are
//! `cluster_mode`'s tests; these check where the objects are, and that
//! losing them is the end of the run.

use crate::common::{Streaming, eventually, kill};
use crate::redis_server::{RedisServer, assert_lost_redis};

/// The run's keys whose names end with `:{kind}:...`, sorted.
fn keys_of(keys: &[String], kind: &str) -> Vec<String> {
    let mut found: Vec<String> = keys
        .iter()
        .filter(|key| key.contains(&format!("}}:{kind}:")))
        .cloned()
        .collect();
    found.sort();
    found
}

fn number(lines: &[String]) -> i64 {
    lines[0].parse().expect("a number")
}

#[test]
fn a_runs_objects_and_their_contents_are_in_redis_under_its_lease() {
    let server = RedisServer::start();
    let url = server.url("");
    let mut run = Streaming::start_with(
        r#"let q = queue(); q.put(1); q.put("two");
           let d = manager_dict(); d.set("a", 1); d.set("b", [1, 2]);
           let l = manager_list(); l.push(1); l.push(2); l.push(3); l.pop();
           let v = value(5);
           let k = lock(); k.acquire();
           print("ready");
           sleep(30);"#,
        &["--cluster", &url, "--lease", "0.6"],
    );
    assert_eq!(run.line(), "ready");
    let keys = server.run_keys();
    // The queue's two items and the list's two are lists of their own.
    let items = keys_of(&keys, "items");
    assert_eq!(items.len(), 2, "{keys:?}");
    let mut lengths: Vec<i64> = items
        .iter()
        .map(|key| number(&server.cli(&["llen", key])))
        .collect();
    lengths.sort();
    assert_eq!(lengths, [2, 2], "{items:?}");
    // The dict's entries are a hash, one field per key.
    let entries = keys_of(&keys, "entries");
    assert_eq!(entries.len(), 1, "{keys:?}");
    let mut fields = server.cli(&["hkeys", &entries[0]]);
    fields.sort();
    assert_eq!(fields, ["a", "b"]);
    // The queue's head, the value and the lock are the objects hash's.
    let objects: Vec<&String> = keys.iter().filter(|k| k.ends_with("}:objects")).collect();
    assert_eq!(objects.len(), 1, "{keys:?}");
    assert_eq!(number(&server.cli(&["hlen", objects[0]])), 3);
    for key in &keys {
        let left = number(&server.cli(&["pttl", key]));
        assert!(left > 0, "{key} lives under the lease ({left})");
    }
    // SIGKILLed, the run leaves them to expire with its lease.
    kill(run.pid(), 9);
    run.wait();
    eventually("the killed run's objects expire", || {
        server.run_keys().is_empty()
    });
}

#[test]
fn a_run_that_ends_deletes_its_objects() {
    let server = RedisServer::start();
    let url = server.url("");
    let mut run = Streaming::start_with(
        r#"let q = queue(); q.put(1);
           let d = manager_dict(); d.set("a", 1);
           let p = pipe(); p[0].send(1);
           print("ready");
           print(q.get() + d.get("a") + p[1].recv());"#,
        &["--cluster", &url],
    );
    assert_eq!(run.line(), "ready");
    assert_eq!(run.line(), "3");
    assert_eq!(run.wait(), Some(0), "{}", run.stderr());
    assert_eq!(server.run_keys(), Vec::<String>::new());
}

#[test]
fn two_runs_on_one_redis_do_not_see_each_others_objects() {
    let server = RedisServer::start();
    let url = server.url("");
    // Each run's first queue has the same id; the first run fills its
    // queue before the second takes from its own.
    let fill_then_take = |name: &str, nap: f64| {
        format!(
            r#"let q = queue();
               for i in 1..=3 {{ q.put(`{name}${{i}}`); }}
               print("ready");
               sleep({nap});
               let got = [];
               for i in 1..=3 {{ got.push(q.get()); }}
               print(got);
               print(q.len());"#
        )
    };
    let mut first = Streaming::start_with(&fill_then_take("a", 1.0), &["--cluster", &url]);
    assert_eq!(first.line(), "ready");
    let mut second = Streaming::start_with(&fill_then_take("b", 0.0), &["--cluster", &url]);
    assert_eq!(second.line(), "ready");
    assert_eq!(second.line(), r#"["b1", "b2", "b3"]"#);
    assert_eq!(second.line(), "0");
    assert_eq!(first.line(), r#"["a1", "a2", "a3"]"#);
    assert_eq!(first.line(), "0");
    assert_eq!(first.wait(), Some(0), "{}", first.stderr());
    assert_eq!(second.wait(), Some(0), "{}", second.stderr());
}

#[test]
fn losing_redis_while_using_objects_ends_the_run_with_69_and_one_line() {
    let mut server = RedisServer::start();
    let url = server.url("");
    let mut run = Streaming::start_with(
        r#"let v = value(0); let q = queue();
           print("started");
           loop { v.add(1); q.put(1); q.get(); }"#,
        &["--cluster", &url],
    );
    assert_eq!(run.line(), "started");
    server.kill();
    assert_lost_redis(&mut run, &url, "");
}

#[test]
fn a_write_redis_refuses_ends_the_run_with_69_and_one_line() {
    // Full, and not allowed to evict: Redis refuses the queue's next items.
    let server = RedisServer::start_with(&["--maxmemory", "4mb"]);
    let url = server.url("");
    let mut run = Streaming::start_with(
        r#"let q = queue();
           let big = "x"; big.pad(100000, "x");
           print("started");
           for i in 0..1000 { q.put(big); }"#,
        &["--cluster", &url],
    );
    assert_eq!(run.line(), "started");
    assert_lost_redis(&mut run, &url, ": OOM");
}

#[test]
fn a_hub_stopped_past_its_lease_serves_nothing_from_the_expired_objects() {
    let server = RedisServer::start();
    let url = server.url("");
    // The main script asks for the queue's length while its hub is
    // stopped; the queue's item has expired with the lease by the time the
    // hub reads the request.
    let mut run = Streaming::start_with(
        r#"let q = queue(); q.put(1);
           print("ready");
           sleep(3.0);
           print(q.len());"#,
        &["--cluster", &url, "--lease", "0.6"],
    );
    assert_eq!(run.line(), "ready");
    kill(run.pid(), SIGSTOP);
    eventually("the stopped run's keys expire", || {
        server.run_keys().is_empty()
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    kill(run.pid(), SIGCONT);
    assert_eq!(run.wait(), Some(69), "{}", run.stderr());
    assert!(
        run.stderr().contains("the run's lease had lapsed"),
        "{}",
        run.stderr()
    );
    assert_eq!(run.line(), "", "no length was answered");
}

const SIGCONT: i32 = 18;
const SIGSTOP: i32 = 19;
