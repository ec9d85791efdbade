//! `rlock`, `semaphore`, `bounded_semaphore`, `event`, `condition`, `barrier`.

use super::common;
use common::*;

#[test]
fn an_rlock_is_reentrant_and_owned() {
    let lines = run_ok(
        "let r = rlock();
         print(r.acquire()); print(r.acquire()); print(r.is_locked());
         fn other(r) { let got = r.acquire(0.05); let err = \"\"; try { r.release(); } catch (e) { err = e; } [got, err] }
         print(spawn(other, [r]).join());
         r.release(); print(r.is_locked()); r.release(); print(r.is_locked());
         try { r.release(); } catch (e) { print(e); }",
    );
    assert_eq!(
        lines,
        [
            "true",
            "true",
            "true",
            "[false, \"release: this rlock is held by another process\"]",
            "true",
            "false",
            "release: the rlock is not held",
        ]
    );
}

#[test]
fn a_semaphore_lets_n_in_at_once() {
    let lines = run_ok(
        "let s = semaphore(2);
         print(s.value()); print(s.acquire()); print(s.acquire()); print(s.acquire(0.05)); print(s.value());
         s.release(); print(s.value()); s.release(); s.release(); print(s.value());
         let b = bounded_semaphore(1);
         b.acquire(); b.release();
         try { b.release(); } catch (e) { print(e); }
         try { semaphore(-1); } catch (e) { print(e); }",
    );
    assert_eq!(
        lines,
        [
            "2",
            "true",
            "true",
            "false",
            "0",
            "1",
            "3",
            "release: a bounded semaphore cannot go above its initial value 1",
            "semaphore: the initial value must not be negative, not -1",
        ]
    );
}

#[test]
fn a_semaphore_bounds_concurrency_across_processes() {
    let lines = run_ok(
        "fn work(s, inside, peak) { s.acquire(); let n = inside.add(1); let p = peak.get(); if n > p { peak.set(n); } sleep(0.02); inside.add(-1); s.release(); }
         let s = semaphore(2); let inside = value(0); let peak = value(0);
         let ps = []; for i in 0..6 { ps.push(spawn(work, [s, inside, peak])); }
         for p in ps { p.join(); }
         print(peak.get() <= 2); print(inside.get()); print(s.value());",
    );
    assert_eq!(lines, ["true", "0", "2"]);
}

#[test]
fn held_rlocks_and_semaphore_units_of_a_dead_process_come_back() {
    let r = run(
        "fn hold(r, s, ready) { r.acquire(); r.acquire(); s.acquire(); s.acquire(); ready.put(1); sleep(60); }
         let r = rlock(); let s = semaphore(3); let ready = queue();
         let p = spawn(hold, [r, s, ready]);
         ready.get();
         print(s.value()); print(r.acquire(0.01));
         p.kill();
         print(r.acquire(20)); print(s.acquire(20)); print(s.value());",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.lines(), ["1", "false", "true", "true", "2"]);
    assert!(r.stderr.contains("while holding rlock #"), "{}", r.stderr);
    assert!(
        r.stderr.contains("while holding 2 unit(s) of semaphore #"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_event_wakes_every_waiter() {
    let lines = run_ok(
        "fn waiter(e, out) { out.put(e.wait()); }
         let e = event(); let out = queue();
         print(e.is_set()); print(e.wait(0.05)); print(e.wait(0));
         let ps = []; for i in 0..3 { ps.push(spawn(waiter, [e, out])); }
         sleep(0.05);
         e.set();
         for p in ps { p.join(); }
         print([out.get(), out.get(), out.get()]);
         print(e.is_set()); e.clear(); print(e.is_set());",
    );
    assert_eq!(
        lines,
        [
            "false",
            "false",
            "false",
            "[true, true, true]",
            "true",
            "false"
        ]
    );
}

#[test]
fn a_condition_passes_items_from_producer_to_consumer() {
    let lines = run_ok(
        "fn consumer(c, items, out) {
             for i in 0..5 {
                 c.acquire();
                 c.wait_for(|| items.len() > 0);
                 out.push(items.remove(0));
                 c.release();
             }
         }
         let c = condition(); let items = manager_list(); let out = manager_list();
         let p = spawn(consumer, [c, items, out]);
         for i in 0..5 { c.acquire(); items.push(i); c.notify(); c.release(); sleep(0.01); }
         p.join();
         print(out);",
    );
    assert_eq!(lines, ["[0, 1, 2, 3, 4]"]);
}

#[test]
fn condition_wait_times_out_and_needs_its_lock() {
    let lines = run_ok(
        "let l = lock(); let c = condition(l);
         try { c.wait(0.01); } catch (e) { print(e); }
         try { c.notify(); } catch (e) { print(e); }
         c.acquire();
         print(c.wait(0.05));
         print(l.is_locked());
         print(c.wait_for(|| false, 0.05));
         c.notify_all(); c.notify(2);
         c.release();
         print(l.is_locked());",
    );
    assert_eq!(
        lines,
        [
            "wait: the condition's lock is not held by this process",
            "notify: the condition's lock is not held by this process",
            "false",
            "true",
            "false",
            "false",
        ]
    );
}

#[test]
fn notify_all_wakes_every_waiter_and_notify_one() {
    let lines = run_ok(
        "fn waiter(c, ready, out) { c.acquire(); ready.put(1); let got = c.wait(20); out.push(got); c.release(); }
         let c = condition(); let ready = queue(); let out = manager_list();
         let ps = []; for i in 0..3 { ps.push(spawn(waiter, [c, ready, out])); }
         for i in 0..3 { ready.get(); }
         c.acquire(); c.notify(); c.release();
         sleep(0.1);
         print(out.len());
         c.acquire(); c.notify_all(); c.release();
         for p in ps { p.join(); }
         print(out);",
    );
    assert_eq!(lines, ["1", "[true, true, true]"]);
}

#[test]
fn a_barrier_releases_each_round_with_one_zero_index() {
    let lines = run_ok(
        "fn party(b, out) { for round in 0..3 { out.push(b.wait()); } }
         let b = barrier(3); let out = manager_list();
         print(b.parties()); print(b.n_waiting()); print(b.is_broken());
         let ps = []; for i in 0..3 { ps.push(spawn(party, [b, out])); }
         for p in ps { p.join(); }
         let got = out.to_array();
         print(got.len());
         print(got.filter(|i| i == 0).len());
         got.sort(); print(got);",
    );
    assert_eq!(
        lines,
        ["3", "0", "false", "9", "3", "[0, 0, 0, 1, 1, 1, 2, 2, 2]"]
    );
}

#[test]
fn a_barrier_action_runs_once_per_round_in_the_last_arrival() {
    let lines = run_ok(
        "fn party(b) { b.wait(); b.wait(); }
         let count = value(0);
         let b = barrier(2, || count.add(1));
         let p = spawn(party, [b]);
         b.wait(); b.wait(); p.join();
         print(count.get());",
    );
    assert_eq!(lines, ["2"]);
}

#[test]
fn a_broken_barrier_raises_broken_barrier() {
    let lines = run_ok(
        "let b = barrier(2);
         try { b.wait(0.05); } catch (e) { print(e.sub_string(0, 13)); }
         print(b.is_broken());
         try { b.wait(); } catch (e) { print(e.sub_string(0, 13)); }
         b.reset(); print(b.is_broken());
         b.abort();
         try { b.wait(); } catch (e) { print(e.sub_string(0, 13)); }
         let bad = barrier(1, || throw \"action failed\");
         try { bad.wait(); } catch (e) { print(e); }
         print(bad.is_broken());
         try { barrier(0); } catch (e) { print(e); }",
    );
    assert_eq!(
        lines,
        [
            "BrokenBarrier",
            "true",
            "BrokenBarrier",
            "false",
            "BrokenBarrier",
            "action failed",
            "true",
            "barrier: parties must be at least 1, not 0",
        ]
    );
}

#[test]
fn a_waiter_that_dies_breaks_the_barrier_for_the_others() {
    let r = run("fn waits(b) { b.wait() }
         let b = barrier(3);
         let w = spawn(waits, [b]);
         let d = spawn(waits, [b]);
         while b.n_waiting() < 2 { sleep(0.01); }
         d.kill(); d.join();
         w.join();
         print(w.exitcode); print(b.is_broken());");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.lines(), ["1", "true"]);
    assert!(r.stderr.contains("BrokenBarrier"), "{}", r.stderr);
}

#[test]
fn a_condition_wait_ended_by_the_deadlock_check_takes_its_lock_back() {
    let r = run("let l = rlock(); let c = condition(l);
         c.acquire();
         try { c.wait(); } catch (e) { print(e.sub_string(0, 8)); }
         print(l.is_locked());
         c.release();
         let d = condition();
         try { d.notify_all(); } catch (e) { print(e); }");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        r.lines(),
        [
            "Deadlock",
            "true",
            "notify_all: the condition's lock is not held by this process"
        ]
    );
}
