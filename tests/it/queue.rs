//! `queue()` and `queue(maxsize)`.

use super::common;
use common::*;

#[test]
fn items_come_out_in_order_across_processes() {
    let lines = run_ok(
        "fn produce(q, n) { for i in 0..n { q.put(i); } q.put(()); }
         let q = queue();
         let p = spawn(produce, [q, 1000]);
         let sum = 0; let count = 0; let last = -1; let ordered = true;
         loop { let v = q.get(); if v == () { break; } if v != last + 1 { ordered = false; } last = v; sum += v; count += 1; }
         p.join();
         print(count); print(sum); print(ordered);",
    );
    assert_eq!(lines, ["1000", "499500", "true"]);
}

#[test]
fn a_child_that_puts_much_before_join_does_not_deadlock() {
    // Python deadlocks here: its child waits for a feeder thread to flush a pipe nobody reads.
    let lines = run_ok(
        "fn produce(q) { for i in 0..200000 { q.put(i); } }
         let q = queue();
         let p = spawn(produce, [q]);
         p.join();
         print(q.len());
         let sum = 0;
         for i in 0..200000 { sum += q.get(); }
         print(sum); print(q.is_empty());",
    );
    assert_eq!(lines, ["200000", "19999900000", "true"]);
}

#[test]
fn timed_get_and_put_raise_empty_and_full() {
    let lines = run_ok(
        "let q = queue(2);
         print(q.is_full());
         q.put(1); q.put(2, 1);
         print(q.is_full()); print(q.len());
         try { q.put(3, 0.05); } catch (e) { print(e.sub_string(0, 4)); }
         try { q.put(3, 0); } catch (e) { print(e.sub_string(0, 4)); }
         print(q.get()); print(q.get(0.5));
         try { q.get(0.05); } catch (e) { print(e.sub_string(0, 5)); }
         try { q.get(0); } catch (e) { print(e.sub_string(0, 5)); }
         print(q.is_empty());",
    );
    assert_eq!(
        lines,
        [
            "false", "true", "2", "Full", "Full", "1", "2", "Empty", "Empty", "true"
        ]
    );
}

#[test]
fn a_blocked_put_resumes_when_a_consumer_takes_an_item() {
    // The handshake is the hub's own: main waits on an event nobody sets,
    // so the run is stuck exactly when the producer's put is parked, and
    // main hears `Deadlock` naming it; only then does it take an item.
    let lines = run_ok(
        "fn produce(q) { q.put(\"b\"); }
         let q = queue(1);
         q.put(\"a\");
         let p = spawn(produce, [q]);
         try { event().wait(); } catch (e) { print(e); }
         print(q.get()); print(q.get());
         p.join();
         print(p.exitcode);",
    );
    assert!(
        lines[0].starts_with("Deadlock:") && lines[0].contains("Process-1 (pid "),
        "{lines:?}"
    );
    assert!(lines[0].contains("waiting in queue put (#1)"), "{lines:?}");
    assert_eq!(lines[1..], ["a", "b", "0"]);
}

#[test]
fn a_blocked_get_resumes_when_a_producer_puts() {
    let lines = run_ok(
        "fn consume(q) { q.get() }
         let q = queue();
         let p = spawn(consume, [q]);
         // Stuck only once the consumer's get is parked (see above).
         try { event().wait(); } catch (e) { print(e.contains(\"waiting in queue get (#1)\")); }
         q.put(42);
         print(p.join());",
    );
    assert_eq!(lines, ["true", "42"]);
}

#[test]
fn several_consumers_share_the_items_without_loss_or_duplicates() {
    let lines = run_ok(
        "fn consume(q, out) { let n = 0; loop { let v = q.get(); if v == () { break; } out.put(v); n += 1; } n }
         let q = queue(10); let out = queue();
         let ps = []; for i in 0..3 { ps.push(spawn(consume, [q, out])); }
         for i in 0..300 { q.put(i); }
         for i in 0..3 { q.put(()); }
         let total = 0; for p in ps { total += p.join(); }
         let seen = []; for i in 0..300 { seen.push(out.get()); }
         seen.sort();
         let ok = true; for i in 0..300 { if seen[i] != i { ok = false; } }
         print(total); print(ok);",
    );
    assert_eq!(lines, ["300", "true"]);
}

#[test]
fn bad_queue_arguments_are_errors() {
    let lines = run_ok(
        "try { queue(-1); } catch (e) { print(e); }
         try { queue(0); } catch (e) { print(e); }
         let q = queue();
         try { q.get(-0.5); } catch (e) { print(e); }
         try { q.put(1, 0.0 / 0.0); } catch (e) { print(e); }",
    );
    assert_eq!(
        lines,
        [
            "queue: maxsize must be at least 1 (queue() makes an unbounded queue), not -1",
            "queue: maxsize must be at least 1 (queue() makes an unbounded queue), not 0",
            "get: the timeout must be a non-negative number of seconds, not -0.5",
            "put: the timeout must be a non-negative number of seconds, not NaN",
        ]
    );
}

#[test]
fn waiting_forever_with_nobody_to_wake_is_a_deadlock_error_not_a_hang() {
    let lines = run_ok(
        "let q = queue();
         try { q.get(); } catch (e) { print(e.sub_string(0, 8)); }
         fn waits(q) { q.get() }
         let p = spawn(waits, [q]);
         try { p.join(); } catch (e) { print(e.sub_string(0, 8)); }
         q.put(5);
         print(p.join());",
    );
    assert_eq!(lines, ["Deadlock", "Deadlock", "5"]);
}

#[test]
fn order_holds_across_the_ring_and_the_items_the_hub_keeps() {
    // 30,000 items overfill a queue's shared ring, and every 500th is too big
    // for it: those wait in the hub, and later puts queue behind them.
    let lines = run_ok(
        "fn item(i) { if i % 500 == 0 { let big = []; big.pad(20000, i * 1000000); big } else { i } }
         fn produce(q, n) { for i in 0..n { q.put(item(i)); } }
         let q = queue();
         let p = spawn(produce, [q, 30000]);
         p.join();
         print(q.len());
         let bad = 0;
         for i in 0..30000 {
             let x = q.get();
             if i % 500 == 0 { if x.len() != 20000 || x[19999] != i * 1000000 { bad += 1; } }
             else if x != i { bad += 1; }
         }
         print(bad);
         try { q.get(0.01); } catch (e) { print(e); }",
    );
    assert_eq!(lines, ["30000", "0", "Empty: queue get timed out"]);
}

#[test]
fn a_closed_queue_refuses_puts_and_drains_what_it_holds() {
    let lines = run_ok(
        "fn put_then_close(q) { q.put(1); q.put(2); q.close(); try { q.put(3); } catch (e) { print(e); } }
         let q = queue();
         spawn(put_then_close, [q]).join();
         print(q.get()); print(q.get());
         try { q.get(); } catch (e) { print(e); }
         try { q.put(4); } catch (e) { print(e); }",
    );
    assert_eq!(
        lines,
        [
            "Closed: the queue is closed",
            "1",
            "2",
            "Closed: the queue is closed and empty",
            "Closed: the queue is closed"
        ]
    );
}

#[test]
fn producers_and_consumers_racing_on_a_small_bounded_queue_lose_nothing() {
    let lines = run_ok(
        "fn produce(q, from, n) { for i in from..from + n { q.put(i); } }
         fn consume(q, n, out) { let s = 0; for i in 0..n { s += q.get(); } out.put(s); }
         let q = queue(3); let out = queue();
         let ps = [spawn(produce, [q, 0, 3000]), spawn(produce, [q, 3000, 3000]),
                   spawn(consume, [q, 2000, out]), spawn(consume, [q, 4000, out])];
         for p in ps { p.join(); }
         print(out.get() + out.get());
         print(q.len());",
    );
    assert_eq!(lines, [(0..6000).sum::<i64>().to_string(), "0".into()]);
}
