//! `value`, `manager_dict`, `pipe`, and closing and joining queues.

use super::common;
use common::*;

#[test]
fn a_shared_value_adds_atomically() {
    let lines = run_ok(
        "fn bump(v) { for i in 0..200 { v.add(1); } }
         let v = value(0);
         let ps = []; for i in 0..3 { ps.push(spawn(bump, [v])); }
         for p in ps { p.join(); }
         print(v.get()); print(v.add(0.5)); v.set(\"a\"); print(v.add(\"b\")); print(v);
         try { v.add(1); } catch (e) { print(e); }",
    );
    assert_eq!(
        lines,
        [
            "600",
            "600.5",
            "ab",
            "\"ab\"",
            "add: the value and the amount must both be numbers (or both strings)"
        ]
    );
}

#[test]
fn every_dict_call() {
    let lines = run_ok(
        "fn fill(d, who) { for i in 0..3 { d[`${who}${i}`] = i; } }
         let d = manager_dict(#{start: true});
         let a = spawn(fill, [d, \"a\"]); let b = spawn(fill, [d, \"b\"]); a.join(); b.join();
         print(d.len()); print(d[\"a2\"]); print(d.get(\"b1\")); print(d.get(\"zz\", 9)); print(d[\"missing\"]);
         print(d.contains(\"start\")); print(d.remove(\"start\")); print(d.contains(\"start\"));
         print(d.keys()); print(d.values());
         let m = d.to_map(); print(type_of(m)); print(m.a0);
         for k in d.keys() { if k.starts_with(\"b\") { d.remove(k); } }
         print(d);
         d.clear(); print(d.len());",
    );
    assert_eq!(
        lines,
        [
            "7",
            "2",
            "1",
            "9",
            "",
            "true",
            "true",
            "false",
            "[\"a0\", \"a1\", \"a2\", \"b0\", \"b1\", \"b2\"]",
            "[0, 1, 2, 0, 1, 2]",
            "map",
            "0",
            "#{\"a0\": 0, \"a1\": 1, \"a2\": 2}",
            "0",
        ]
    );
}

#[test]
fn a_pipe_carries_messages_both_ways_with_boundaries() {
    let lines = run_ok(
        "fn echo(end) { loop { let m = end.recv(); if m == () { break; } end.send([m, m]); } end.close(); }
         let ends = pipe(); let a = ends[0]; let b = ends[1];
         let p = spawn(echo, [b]);
         a.send(1); a.send(\"two\"); print(a.recv()); print(a.recv());
         print(a.poll()); print(a.poll(0.05));
         a.send(());
         p.join();
         print(a.poll());
         try { a.recv(); } catch (e) { print(e.sub_string(0, 4)); }
         try { a.send(1); } catch (e) { print(e.sub_string(0, 10)); }",
    );
    assert_eq!(
        lines,
        [
            "[1, 1]",
            "[\"two\", \"two\"]",
            "false",
            "false",
            "true",
            "EOF:",
            "BrokenPipe"
        ]
    );
}

#[test]
fn a_one_way_pipe_and_a_large_blob() {
    let lines = run_ok(
        "fn send_big(w) { let b = blob(16 * 1024 * 1024, 7); b[0] = 1; w.send(b); w.close(); }
         let ends = pipe(false); let r = ends[0]; let w = ends[1];
         try { r.send(1); } catch (e) { print(e); }
         try { w.recv(); } catch (e) { print(e); }
         let p = spawn(send_big, [w]);
         let got = r.recv();
         print(got.len()); print(got[0]); print(got[got.len() - 1]);
         p.join();
         try { r.recv(0.05); } catch (e) { print(e.sub_string(0, 4)); }
         let t = pipe();
         try { t[0].recv(0.05); } catch (e) { print(e.sub_string(0, 7)); }",
    );
    assert_eq!(
        lines,
        [
            "send: this end of a one-way pipe only receives",
            "recv: this end of a one-way pipe only sends",
            "16777216",
            "1",
            "7",
            "EOF:",
            "Timeout",
        ]
    );
}

#[test]
fn a_closed_queue_refuses_puts_and_drains_then_raises() {
    let lines = run_ok(
        "fn consume(q, out) { loop { try { out.push(q.get()); } catch (e) { out.push(e.sub_string(0, 6)); break; } } }
         let q = queue(); let out = manager_list();
         q.put(1); q.put(2);
         let p = spawn(consume, [q, out]);
         sleep(0.05);
         q.close();
         p.join();
         print(out);
         try { q.put(3); } catch (e) { print(e); }
         try { q.get(); } catch (e) { print(e); }",
    );
    assert_eq!(
        lines,
        [
            "[1, 2, \"Closed\"]",
            "Closed: the queue is closed",
            "Closed: the queue is closed and empty"
        ]
    );
}

#[test]
fn a_joinable_queue_joins_when_every_item_is_done() {
    let lines = run_ok(
        "fn worker(q, done) { loop { let v = q.get(); if v == () { q.task_done(); break; } done.add(v); q.task_done(); } }
         let q = joinable_queue(); let done = value(0);
         let ps = [spawn(worker, [q, done]), spawn(worker, [q, done])];
         for i in 1..=10 { q.put(i); }
         q.join();
         print(done.get());
         q.put(()); q.put(());
         q.join();
         for p in ps { p.join(); }
         try { q.task_done(); } catch (e) { print(e); }
         try { queue().task_done(); } catch (e) { print(e); }
         print(q);",
    );
    assert_eq!(
        lines,
        [
            "55",
            "task_done: called more times than items were put",
            "task_done: only a joinable queue counts tasks",
            "JoinableQueue(#1)",
        ]
    );
}
