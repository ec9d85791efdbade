//! `lock()`.

use super::common;
use common::*;

#[test]
fn acquire_release_and_timeouts() {
    let lines = run_ok(
        "let l = lock();
         print(l.is_locked()); print(l.acquire()); print(l.is_locked());
         print(l.acquire(0.05)); print(l.acquire(0));
         l.release(); print(l.is_locked());
         try { l.release(); } catch (e) { print(e); }",
    );
    assert_eq!(
        lines,
        [
            "false",
            "true",
            "true",
            "false",
            "false",
            "false",
            "release: the lock is not held"
        ]
    );
}

/// What three processes counting to 300 each print, each increment (a
/// read, then a write of a shared list's item) written as `increment`
/// with the lock `l`.
fn count_to_900(increment: &str) -> Vec<String> {
    run_ok(&format!(
        "fn add(l, counter, n) {{ for i in 0..n {{ {increment} }} }}
         let l = lock(); let counter = manager_list([0]);
         let ps = []; for i in 0..3 {{ ps.push(spawn(add, [l, counter, 300])); }}
         for p in ps {{ p.join(); }}
         print(counter[0]);"
    ))
}

#[test]
fn a_lock_makes_read_modify_write_atomic_across_processes() {
    let lines = count_to_900("l.acquire(); let v = counter[0]; counter[0] = v + 1; l.release();");
    assert_eq!(lines, ["900"]);
}

#[test]
fn a_lock_held_by_a_dead_process_passes_on_with_a_warning() {
    let r = run(
        "fn hold(l, ready) { l.acquire(); ready.put(true); sleep(30); }
         let l = lock(); let ready = queue();
         let p = spawn(hold, [l, ready]);
         ready.get();
         print(l.acquire(0.01));
         p.kill();
         print(l.acquire(20));
         print(l.is_locked());",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.lines(), ["false", "true", "true"]);
    assert!(
        r.stderr.contains("Process-1 (pid ")
            && r.stderr
                .contains("killed by signal 9 (SIGKILL) while holding lock"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_waiting_acquire_gets_the_lock_when_the_holder_dies_mid_wait() {
    let r = run(
        "fn hold(l, ready) { l.acquire(); ready.put(true); sleep(0.2); exit(4); }
         let l = lock(); let ready = queue();
         let p = spawn(hold, [l, ready]);
         ready.get();
         print(l.acquire());
         p.join(); print(p.exitcode);",
    );
    assert_eq!(r.lines(), ["true", "4"]);
    assert!(
        r.stderr.contains("exited with code 4 while holding lock"),
        "{}",
        r.stderr
    );
}

#[test]
fn what_a_holder_did_one_way_is_seen_by_the_next_holder() {
    // `push` is one-way; a release after it goes through the hub, behind
    // the push, so the next holder's `len` cannot overtake it.
    let lines = run_ok(
        "fn count(l, xs) { for i in 0..400 { l.acquire(); xs.push(xs.len()); l.release(); } }
         let l = lock(); let xs = manager_list();
         let ps = [spawn(count, [l, xs]), spawn(count, [l, xs])];
         for p in ps { p.join(); }
         let bad = 0; let i = 0;
         for x in xs.to_array() { if x != i { bad += 1; } i += 1; }
         print(`${xs.len()} ${bad}`);",
    );
    assert_eq!(lines, ["800 0"]);
}

#[test]
fn an_rlock_counts_its_owners_entries_and_others_wait() {
    let lines = run_ok(
        "fn try_it(r) { r.acquire(0.05) }
         fn take_it(r) { r.acquire(20) }
         let r = rlock();
         print(r.acquire()); print(r.acquire()); print(r.acquire());
         print(spawn(try_it, [r]).join());
         r.release(); r.release();
         print(r.is_locked());
         print(spawn(try_it, [r]).join());
         let waiter = spawn(take_it, [r]);
         sleep(0.1);
         r.release();
         print(waiter.join());
         try { r.release(); } catch (e) { print(e); }",
    );
    assert_eq!(
        lines,
        [
            "true",
            "true",
            "true",
            "false",
            "true",
            "false",
            "true",
            "release: the rlock is not held"
        ]
    );
}

#[test]
fn with_holds_the_lock_for_its_block_and_releases_it_however_the_block_ends() {
    let lines = run_ok(
        "let l = lock();
         let v = with l { print(l.is_locked()); 40 + 2 };
         print(`${v} ${l.is_locked()}`);
         try { with l { throw \"boom\"; } } catch (e) { print(`${e} ${l.is_locked()}`); }
         fn early(l) { with l { return 7; } }
         print(`${early(l)} ${l.is_locked()}`);
         for i in 0..3 { with l { if i == 1 { break; } } }
         print(l.is_locked());
         let x = 1;
         with l { let x = 5; }
         print(x);",
    );
    assert_eq!(
        lines,
        ["true", "42 false", "boom false", "7 false", "false", "1"]
    );
}

#[test]
fn with_takes_rlocks_semaphores_and_conditions_and_refuses_the_rest() {
    let run = run("let r = rlock();
         with r { with r { print(r.is_locked()); } }
         print(r.is_locked());
         let s = semaphore(2);
         with s { print(s.value()); }
         print(s.value());
         let c = condition(lock());
         with c { c.notify_all(); print(\"notified\"); }
         with queue() { }");
    assert_eq!(run.lines(), ["true", "false", "1", "2", "notified"]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("9:15: with: needs a Lock, RLock, Semaphore or Condition, not Queue"),
        "{}",
        run.stderr
    );
}

#[test]
fn with_makes_read_modify_write_atomic_across_processes() {
    let lines = count_to_900("with l { let v = counter[0]; counter[0] = v + 1; }");
    assert_eq!(lines, ["900"]);
}

#[test]
fn with_releases_what_it_acquired_and_reports_a_failed_release_however_the_block_leaves() {
    let lines = run_ok(
        "let s = semaphore(1);
         let orig = s;
         let peek = || s.value();
         with s { s = semaphore(5); }
         print(`${orig.value()} ${s.value()}`);
         let l = lock();
         fn by_value(l) { with l { l.release(); 5 } }
         fn by_return(l) { with l { l.release(); return 5; } }
         fn by_break(l) { for i in 0..2 { with l { l.release(); break; } } 5 }
         for f in [by_value, by_return, by_break] {
             try { print(f.call(l)); } catch (e) { print(e); }
         }",
    );
    assert_eq!(
        lines,
        [
            "1 5",
            "release: the lock is not held",
            "release: the lock is not held",
            "release: the lock is not held"
        ]
    );
}
