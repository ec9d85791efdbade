//! Nothing hangs on the dead: processes killed over and over in the middle
//! of shared-memory work (a ring's push or put, a lock's acquire) while
//! others use the same objects. Every run ends within the hang limit, and
//! what a killed process's returned pushes put in is there exactly once, in
//! order.

use super::common;

use common::{Run, Script, run, run_file, script};

/// Checks, in the script, that each round's items are 0, 1, 2, ... with no
/// gap and no repeat (a push that returned is there once, in order; the
/// one cut short by the kill is there or not), and prints a summary.
const CHECK_ROUNDS: &str = r#"
fn check_rounds(items, rounds) {
    let next = [];
    for r in 0..rounds { next.push(0); }
    let last_round = 0;
    for item in items {
        let r = item[0];
        let i = item[1];
        if r < last_round { return `round ${r} after round ${last_round}`; }
        last_round = r;
        if i != next[r] { return `round ${r}: item ${i} where ${next[r]} was due`; }
        next[r] += 1;
    }
    for r in 0..rounds {
        if next[r] == 0 { return `round ${r} pushed nothing`; }
    }
    "ok"
}
"#;

/// A writer killed 200 times while another process, `reader(o, stop)`,
/// keeps using the object `o` (made by `make`, written with `write`); the
/// reader's result (`read`), or `o` drained by `drain`, is every item in
/// the order it went in. Items carry `pad` bytes of padding, so that a good
/// share of a writer's time is spent copying inside the ring, where a kill
/// once hung the hub. Every run ends, and the rounds check out
/// (`CHECK_ROUNDS`).
fn killed_writer_rounds(make: &str, write: &str, pad: usize, reader: &str, drain: &str) {
    let r = run(&format!(
        "{CHECK_ROUNDS}
         fn writer(o, round, started) {{
             let pad = \"\"; pad.pad({pad}, \"x\");
             o.{write}([round, 0, pad]);
             started.set();
             let i = 1;
             loop {{ o.{write}([round, i, pad]); i += 1; }}
         }}
         fn reader(o, stop) {{ {reader} }}
         let o = {make};
         let stop = event();
         let r = spawn(reader, [o, stop]);
         for round in 0..200 {{
             let started = event();
             let p = spawn(writer, [o, round, started]);
             started.wait();
             p.kill();
             p.join();
         }}
         stop.set();
         let read = r.join();
         print(check_rounds({drain}, 200));
         print(r.exitcode);"
    ));
    assert_eq!(r.code, Some(0), "{make}: {r:#?}");
    assert_eq!(r.lines(), ["ok", "0"], "{make}: {r:#?}");
}

#[test]
fn a_list_pusher_killed_200_times_while_another_process_reads_loses_and_repeats_nothing() {
    killed_writer_rounds(
        "manager_list()",
        "push",
        8192,
        "while !stop.is_set() { o.len(); }",
        "o.to_array()",
    );
}

#[test]
fn a_queue_putter_killed_200_times_while_another_process_reads_loses_and_repeats_nothing() {
    killed_writer_rounds(
        "queue()",
        "put",
        // `len` makes the hub enter the ring; `get` keeps room in it, so
        // that the writer goes on copying there.
        8192,
        "let items = [];
         while !stop.is_set() {
             o.len();
             try { items.push(o.get(0.0)); } catch (e) { }
         }
         while o.len() > 0 { items.push(o.get()); }
         items",
        "read",
    );
}

/// The issue's reproducer: one item throws, the pool is terminated while
/// its other workers push, and the next read of the list must not hang.
#[test]
fn a_failed_pool_map_whose_workers_were_pushing_never_hangs_the_next_read() {
    let r = run(
        "fn work(x, l) {
             if x == 0 { sleep(0.02); throw \"boom\"; }
             let pad = \"\"; pad.pad(8192, \"x\");
             for i in 0..200000 { l.push([x - 1, i, pad]); }
             x
         }
         // Another process keeps reading, so the hub enters the ring
         // while killed workers may still be inside it.
         fn reader(l, stop) { while !stop.is_set() { l.len(); } }
         let l = manager_list();
         let stop = event();
         let r = spawn(reader, [l, stop]);
         let bad = 0;
         for round in 0..30 {
             try {
                 pool_map(|x| work(x, l), [0, 1, 2, 3], #{ workers: 4, chunksize: 1 });
                 bad += 1;
             } catch (e) { }
             // Each worker's pushes, apart: every one a prefix 0, 1, 2, ...
             let items = l.to_array();
             for x in 0..3 {
                 let due = 0;
                 for item in items.filter(|item| item[0] == x) {
                     if item[1] != due { print(`round ${round}, item ${x}: ${item[1]} where ${due} was due`); }
                     due = item[1] + 1;
                 }
             }
             l.clear();
         }
         stop.set();
         r.join();
         print(`done, ${bad} maps did not fail, reader ${r.exitcode}`);",
    );
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(r.lines(), ["done, 0 maps did not fail, reader 0"], "{r:#?}");
}

#[test]
fn lock_and_rlock_holders_killed_mid_acquire_leave_the_lock_takeable() {
    for make in ["lock()", "rlock()"] {
        let r = run(&format!(
            "fn taker(lk, started) {{
                 lk.acquire(); lk.release();
                 started.set();
                 loop {{ lk.acquire(); lk.release(); }}
             }}
             let lk = {make};
             let stuck = 0;
             for round in 0..100 {{
                 let started = event();
                 let p = spawn(taker, [lk, started]);
                 started.wait();
                 // Contend a little, so the kill may land while waiters are marked.
                 for j in 0..5 {{ lk.acquire(); lk.release(); }}
                 p.kill();
                 p.join();
                 if !lk.acquire(20.0) {{ stuck += 1; }} else {{ lk.release(); }}
             }}
             print(`stuck ${{stuck}}`);"
        ));
        assert_eq!(r.code, Some(0), "{make}: {r:#?}");
        assert_eq!(r.lines(), ["stuck 0"], "{make}: {r:#?}");
    }
}

/// Runs script `s` with fault point `point` switched on (`test_fault`).
fn run_with_fault(s: &Script, point: &str) -> Run {
    run_file(s, &[], &[], &[("MPHOST_TEST_FAULT", point)])
}

/// A putter killed after its put reached the ring but before its `Wake`
/// (a fault point stops it exactly there): the parked getter still gets
/// the item, instead of a false `Deadlock` with the item in the queue.
#[test]
fn a_putter_killed_between_its_put_and_its_wake_does_not_strand_the_getter() {
    let s = script(
        "fn putter(q) { q.put(42); print(\"the put returned\"); }
         let q = queue();
         let p = spawn(putter, [q]);
         print(q.get());
         p.join();
         print(p.exitcode);",
    );
    let r = run_with_fault(&s, "die-between-put-and-wake");
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(r.lines(), ["42", "-9"], "{r:#?}");
}

/// A process that writes nonsense into a queue's shared memory (a fault
/// point makes the main script's first put do it): the hub refuses to
/// follow the damaged position, says so in one line, and the queue goes on
/// through the hub, losing only what was in the ring.
#[test]
fn a_damaged_ring_is_given_up_with_one_warning_and_the_queue_goes_on() {
    let s = script(
        "let q = queue();
         q.put(1);
         print(q.len());
         for i in 2..5 { q.put(i); }
         print([q.get(), q.get(), q.get(), q.len()]);",
    );
    let r = run_with_fault(&s, "damage-ring-after-put");
    assert_eq!(r.code, Some(0), "{r:#?}");
    assert_eq!(r.lines(), ["0", "[2, 3, 4, 0]"], "{r:#?}");
    let warnings: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{r:#?}");
    assert!(
        warnings[0].starts_with(
            "mphost: the shared memory of queue #1 was damaged (an offset past its end"
        ),
        "{r:#?}"
    );
}

/// A process stopped (SIGSTOP) inside a queue's ring is alive, so nobody
/// takes the ring from it: a timed `get` still ends with `Empty`, the rest
/// of the run goes on, and once the stopped process is killed the queue
/// works again (what it was putting is lost with it).
#[test]
fn a_stopped_holder_holds_up_only_its_object_and_time_outs_still_end() {
    let s = script(
        "fn stopper(q) { q.put(\"stop here\"); }
         let q = queue();
         let s = spawn(stopper, [q]);
         // It stops only inside the ring: state T in its stat line.
         while !read_text(`/proc/${s.pid}/stat`).contains(\") T \") { sleep(0.01); }
         try { q.get(0.3); print(\"got\"); } catch (e) { print(e); }
         let other = queue(); other.put(7); print(other.get());
         s.kill(); s.join();
         q.put(5);
         print([q.get(), q.len(), s.exitcode]);",
    );
    let r = run_with_fault(&s, "stop-inside-ring");
    assert_eq!(r.code, Some(0), "{r:#?}");
    let lines = r.lines();
    assert!(lines[0].starts_with("Empty"), "{r:#?}");
    assert_eq!(lines[1..], ["7", "[5, 0, -9]"], "{r:#?}");
}
