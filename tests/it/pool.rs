//! `pool(n)`: a pool whose workers outlive each call, its methods, its
//! `AsyncResult`s and iterators, and what happens when a worker dies.

use super::common;
use common::*;

#[test]
fn workers_stay_alive_between_calls() {
    let lines = run_ok(
        "fn who(x) { getpid() }
         let p = pool(3);
         let pids = p.pids();
         print(pids.len());
         let seen = [];
         for round in 0..4 {
             for pid in p.map(who, [1, 2, 3, 4, 5, 6], 1) {
                 if !seen.contains(pid) { seen.push(pid); }
             }
         }
         print(seen.all(|pid| pids.contains(pid)));
         print(p.pids() == pids);
         print(pids.contains(getpid()));",
    );
    assert_eq!(lines, ["3", "true", "true", "false"]);
}

#[test]
fn every_method_gives_the_results_python_gives() {
    let lines = run_ok(
        "fn sq(x) { x * x }
         fn add(a, b) { a + b }
         let p = pool(2);
         print(p.map(sq, [1, 2, 3, 4, 5]));
         print(p.map(sq, [1, 2, 3, 4, 5], 2));
         print(p.starmap(add, [[1, 2], [3, 4], [5, 6]]));
         print(p.starmap(add, [[1, 2], [3, 4], [5, 6]], 2));
         print(p.apply(add, [10, 20]));
         print(p.apply_async(add, [1, 2]).get());
         print(p.map_async(sq, [7, 8]).get());
         print(p.map_async(sq, [7, 8, 9], 2).get(30));
         print(p.starmap_async(add, [[1, 1], [2, 2]]).get());
         let ordered = [];
         for x in p.imap(|x| { sleep(if x == 1 { 0.1 } else { 0 }); x * 10 }, [1, 2, 3, 4]) { ordered.push(x); }
         print(ordered);
         let chunked = [];
         for x in p.imap(sq, [1, 2, 3, 4, 5], 2) { chunked.push(x); }
         print(chunked);
         let any = [];
         for x in p.imap_unordered(sq, [1, 2, 3, 4]) { any.push(x); }
         any.sort();
         print(any);
         print(p.map(sq, []));
         let offset = 100;
         print(p.map(|x| x + offset, [1, 2]));",
    );
    assert_eq!(
        lines,
        [
            "[1, 4, 9, 16, 25]",
            "[1, 4, 9, 16, 25]",
            "[3, 7, 11]",
            "[3, 7, 11]",
            "30",
            "3",
            "[49, 64]",
            "[49, 64, 81]",
            "[2, 4]",
            "[10, 20, 30, 40]",
            "[1, 4, 9, 16, 25]",
            "[1, 4, 9, 16]",
            "[]",
            "[101, 102]",
        ]
    );
}

#[test]
fn imap_unordered_yields_results_as_they_finish() {
    let lines = run_ok(
        "fn f(x) { if x == 0 { sleep(0.5); } x }
         let p = pool(2);
         let order = [];
         for x in p.imap_unordered(f, [0, 1, 2, 3]) { order.push(x); }
         print(order[3]);",
    );
    assert_eq!(lines, ["0"]);
}

#[test]
fn an_async_result_can_be_waited_for_with_a_timeout() {
    let lines = run_ok(
        "fn slow(x) { sleep(x); x }
         let p = pool(1);
         let r = p.apply_async(slow, [0.6]);
         print(r.ready());
         try { r.get(0.05); } catch (e) { print(e.sub_string(0, 7)); }
         try { r.successful(); } catch (e) { print(\"not ready\"); }
         print(r.wait(0.05));
         print(r.wait(30));
         print(r.ready());
         print(r.successful());
         print(r.get());
         print(r.get(0));",
    );
    assert_eq!(
        lines,
        [
            "false",
            "Timeout",
            "not ready",
            "false",
            "true",
            "true",
            "true",
            "0.6",
            "0.6"
        ]
    );
}

#[test]
fn an_error_fails_its_job_with_the_item_message_and_position() {
    let r = run("fn f(x) {\n  if x == 2 { throw \"bad two\"; }\n  x\n}\n\
         let p = pool(2);\n\
         try { p.map(f, [0, 1, 2, 3]); } catch (e) { print(e); }\n\
         let a = p.apply_async(f, [2]);\n\
         try { a.get(); } catch (e) { print(e); }\n\
         print(a.ready()); print(a.successful());\n\
         let got = [];\n\
         try { for x in p.imap(f, [0, 1, 2, 3]) { got.push(x); } } catch (e) { print(e); }\n\
         print(got);\n\
         print(p.map(f, [5, 6]));");
    assert_eq!(r.code, Some(0), "{r:?}");
    let lines = r.lines();
    assert_eq!(lines.len(), 7, "{lines:?}");
    for (line, call) in [
        (lines[0], "map: item 2"),
        (lines[1], "apply_async:"),
        (lines[4], "imap: item 2"),
    ] {
        assert!(
            line.starts_with(&format!("{call} failed in PoolWorker-")),
            "{line}"
        );
        assert!(line.ends_with(": bad two (line 2, position 15)"), "{line}");
    }
    assert_eq!(lines[2..4], ["true", "false"]);
    assert_eq!(lines[5..], ["[0, 1]", "[5, 6]"]);
}

#[test]
fn a_killed_worker_fails_only_its_task_and_is_replaced() {
    let mut run = Streaming::start(
        "fn f(x) { if x == 3 { print(getpid()); sleep(60); } x * 2 }
         let p = pool(2);
         let before = p.pids();
         let side = p.apply_async(|| { sleep(0.2); \"side\" }, []);
         try { p.map(f, [0, 1, 2, 3, 4, 5, 6, 7], 1); } catch (e) { print(e); }
         print(side.get());
         print(p.map(f, [10, 11, 12, 13]));
         let after = p.pids();
         print(after.len());
         print(after.filter(|pid| before.contains(pid)).len());",
    );
    let victim: i32 = run.line().parse().expect("the worker's pid");
    kill(victim, 9);
    let message = run.line();
    assert!(message.starts_with("map: worker PoolWorker-"), "{message}");
    assert!(names_pid(&message, victim), "{message}");
    assert!(
        message.ends_with(") was killed by signal 9 (SIGKILL) while computing item 3"),
        "{message}"
    );
    assert_eq!(run.line(), "side");
    assert_eq!(run.line(), "[20, 22, 24, 26]");
    assert_eq!(run.line(), "2");
    assert_eq!(run.line(), "1", "one worker replaced, one kept");
    assert_eq!(run.wait(), Some(0), "{}", run.stderr());
}

#[test]
fn a_worker_that_exits_fails_its_task_and_the_next_job_runs() {
    let lines = run_ok(
        "fn f(x) { if x == 1 { exit(7); } x }
         let p = pool(2);
         try { p.map(f, [0, 1, 2], 1); } catch (e) { print(e.sub_string(0, 22)); print(e.contains(\"exited with code 7 while computing item 1\")); }
         print(p.map(|x| x + 1, [1, 2, 3]));
         print(p.pids().len());",
    );
    assert_eq!(lines, ["map: worker PoolWorker", "true", "[2, 3, 4]", "2"]);
}

#[test]
fn terminate_returns_promptly_with_thousands_of_tasks_pending() {
    let mut run = Streaming::start(
        "let items = []; for i in 0..5000 { items.push(i); }
         let p = pool(2);
         let pids = p.pids();
         let r = p.map_async(|x| { sleep(0.01); x }, items, 1);
         let first = p.imap(|x| { sleep(0.01); x }, items);
         p.terminate();
         print(pids[0]); print(pids[1]);
         print(r.ready());
         try { r.get(); } catch (e) { print(e.sub_string(0, 10)); }
         try { p.map(|x| x, [1]); } catch (e) { print(e); }",
    );
    let pids: Vec<i32> = (0..2).map(|_| run.line().parse().expect("pid")).collect();
    assert_eq!(run.line(), "true");
    assert_eq!(run.line(), "Terminated");
    let refused = run.line();
    assert!(refused.starts_with("map: "), "{refused}");
    assert_eq!(run.wait(), Some(0), "{}", run.stderr());
    // At once on this machine; a host hears of it through Redis.
    eventually("the terminated workers are gone", || {
        pids.iter().all(|&p| !alive(p))
    });
}

#[test]
fn close_lets_queued_work_finish_and_join_waits_for_the_workers() {
    let lines = run_ok(
        "let p = pool(2);
         let pids = p.pids();
         let r = p.map_async(|x| { sleep(0.05); x }, [1, 2, 3, 4], 1);
         p.close();
         try { p.apply(|| 1, []); } catch (e) { print(e); }
         p.join();
         print(r.ready());
         print(r.get());
         print(pids.len());",
    );
    assert_eq!(
        lines,
        ["apply: the pool is closed", "true", "[1, 2, 3, 4]", "2"]
    );
}

#[test]
fn join_before_close_or_terminate_is_an_error() {
    let r = run("let p = pool(1);\np.join();");
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains(":2:"), "{}", r.stderr);
    assert!(r.stderr.contains("join"), "{}", r.stderr);
}

#[test]
fn max_tasks_per_child_replaces_workers_and_keeps_the_size() {
    let lines = run_ok(
        "let p = pool(#{workers: 2, max_tasks_per_child: 2});
         let pids = p.map(|x| getpid(), [1, 2, 3, 4, 5, 6, 7, 8], 1);
         let distinct = [];
         for pid in pids { if !distinct.contains(pid) { distinct.push(pid); } }
         print(distinct.len() >= 4);
         print(distinct.all(|pid| pids.filter(|q| q == pid).len() <= 2));
         print(p.pids().len());",
    );
    assert_eq!(lines, ["true", "true", "2"]);
}

#[test]
fn the_initializer_runs_once_in_each_worker_with_its_args() {
    let lines = run_ok(
        "fn init(q, tag) { q.put(`${tag} ${getpid()}`); }
         let q = queue();
         let p = pool(#{workers: 3, initializer: init, initargs: [q, \"ready\"]});
         print(p.map(|x| x, [1, 2, 3, 4, 5, 6]));
         let seen = [];
         for i in 0..3 { seen.push(q.get(30)); }
         print(seen.all(|s| s.starts_with(\"ready \")));
         let pids = p.pids().map(|pid| `ready ${pid}`);
         seen.sort(); pids.sort();
         print(seen == pids);
         p.close(); p.join();
         print(q.is_empty());",
    );
    assert_eq!(lines, ["[1, 2, 3, 4, 5, 6]", "true", "true", "true"]);
}

#[test]
fn bad_arguments_are_errors_with_positions() {
    for (source, wanted) in [
        (
            "let p = pool(0);",
            "pool: workers must be at least 1, not 0",
        ),
        (
            "let p = pool(#{workers: -2});",
            "pool: workers must be at least 1, not -2",
        ),
        ("let p = pool(#{bogus: 1});", "pool: unknown option 'bogus'"),
        (
            "let p = pool(#{initializer: 5});",
            "pool: initializer must be a function",
        ),
        (
            "let p = pool(1); p.map(|x| x, [1], 0);",
            "map: chunksize must be at least 1, not 0",
        ),
        (
            "let p = pool(1); p.starmap(|a, b| a, [1, 2]);",
            "starmap: each item must be an array of arguments",
        ),
        ("let p = pool(1); p.map(nothing_here, [1]);", "nothing_here"),
    ] {
        let r = run(source);
        assert_eq!(r.code, Some(1), "{source}: {r:?}");
        assert!(r.stderr.contains(wanted), "{source}: {}", r.stderr);
        assert!(r.stderr.contains(":1:"), "{source}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
}

#[test]
fn a_worker_can_make_its_own_pool() {
    let lines = run_ok(
        "fn inner(x) { x + 1 }
         fn outer(n) { let p = pool(2); let r = p.map(inner, [n, n * 10]); p.close(); p.join(); r }
         let p = pool(2);
         print(p.map(outer, [1, 2]));",
    );
    assert_eq!(lines, ["[[2, 11], [3, 21]]"]);
}

#[test]
fn a_script_that_ends_with_a_busy_pool_leaves_no_process_behind() {
    let mut run = Streaming::start(
        "let p = pool(2);
         let pids = p.pids();
         print(pids[0]); print(pids[1]);
         let r = p.map_async(|x| { sleep(60); x }, [1, 2, 3]);
         sleep(0.1);",
    );
    let pids: Vec<i32> = (0..2).map(|_| run.line().parse().expect("pid")).collect();
    assert_eq!(run.wait(), Some(0), "{}", run.stderr());
    eventually("the pool's workers are gone", || {
        pids.iter().all(|&p| !alive(p))
    });
}

#[test]
fn a_worker_killed_during_imap_or_apply_async_fails_that_task_alone() {
    let mut run = Streaming::start(
        "fn f(x) { if x == 2 { print(getpid()); sleep(60); } x * 10 }
         let p = pool(2);
         let got = [];
         try { for x in p.imap(f, [0, 1, 2, 3]) { got.push(x); } } catch (e) { print(e); }
         print(got);
         let r = p.apply_async(f, [2]);
         let other = p.apply_async(f, [5]);
         try { r.get(); } catch (e) { print(e); }
         print(other.get());
         print(p.map(f, [1, 3]));
         print(p.pids().len());",
    );
    for call in [
        "imap: worker PoolWorker-",
        "apply_async: worker PoolWorker-",
    ] {
        let victim: i32 = run.line().parse().expect("the worker's pid");
        kill(victim, 9);
        let message = run.line();
        assert!(message.starts_with(call), "{message}");
        assert!(names_pid(&message, victim), "{message}");
        assert!(
            message.contains(") was killed by signal 9 (SIGKILL)"),
            "{message}"
        );
        if call.starts_with("imap") {
            assert!(message.ends_with("while computing item 2"), "{message}");
            assert_eq!(run.line(), "[0, 10]");
        }
    }
    assert_eq!(run.line(), "50");
    assert_eq!(run.line(), "[10, 30]");
    assert_eq!(run.line(), "2");
    assert_eq!(run.wait(), Some(0), "{}", run.stderr());
}

#[test]
fn a_worker_that_never_gets_through_its_set_up_terminates_the_pool() {
    let lines = run_ok(
        "let a = pool(#{workers: 1, initializer: || exit(0)});
         try { a.apply(|| 5, []); } catch (e) { print(e); }
         let b = pool(#{workers: 2, initializer: || { throw \"nope\"; }});
         sleep(0.5);
         try { b.map(|x| x, [1, 2]); } catch (e) { print(e); }",
    );
    assert_eq!(lines.len(), 2, "{lines:?}");
    // The pool may end before or after `apply` reaches it.
    assert!(
        (lines[0].starts_with("pool: the initializer failed in PoolWorker-1 (pid ")
            || lines[0].starts_with(
                "apply: the pool was terminated (pool: the initializer failed in PoolWorker-1 (pid "
            ))
            && lines[0].contains("): it exited with code 0"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(
            "map: the pool was terminated (pool: the initializer failed in PoolWorker-"
        ),
        "{}",
        lines[1]
    );
}

#[test]
fn ranges_empty_starmaps_and_argumentless_applies_are_accepted() {
    let lines = run_ok(
        "let p = pool(2);
         print(p.map(|x| x * 2, 0..4));
         print(p.map(|x| x * 2, 1..=3, 2));
         let s = []; for x in p.imap(|x| x, 0..3) { s.push(x); } print(s);
         print(pool_map(|x| x + 1, 0..3));
         print(p.starmap(|x, y| x, []));
         print(p.starmap_async(|x, y| x, []).get());
         print(p.apply(|| 42));
         print(p.apply_async(|| 43).get());
         try { queue().put(p); } catch (e) { print(e); }
         try { p.map(|a, b| a, [1]); } catch (e) { print(e); }",
    );
    assert_eq!(
        lines,
        [
            "[0, 2, 4, 6]",
            "[2, 4, 6]",
            "[0, 1, 2]",
            "[1, 2, 3]",
            "[]",
            "[]",
            "42",
            "43",
            "put: a value of type 'Pool' cannot be sent to another process",
            "map: the closure takes 2 argument(s), but would be called with 1"
        ]
    );
}

#[test]
fn a_worker_dying_mid_chunk_fails_imap_at_the_chunk_instead_of_hanging() {
    let r = run("fn f(x) { if x == 3 { exit(3); } x }
         let p = pool(2);
         let got = [];
         try { for v in p.imap(f, 0..10, 5) { got.push(v); } } catch (e) { print(e); }
         print(got);
         print(p.map(|x| x, [7]));");
    assert_eq!(r.code, Some(0), "{r:?}");
    let lines = r.lines();
    assert!(
        lines[0].starts_with("imap: worker PoolWorker-")
            && lines[0].contains("exited with code 3 while computing item 3")
            && lines[0].ends_with("(the result of item 0 of the same chunk was lost with it)"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1..], ["[]", "[7]"]);
}

/// Runs `jobs` on a pool `p` of 2 workers, where `slow(x, b)` waits at the
/// 2-party barrier `b` and returns its worker's pid and `quick(x)` returns
/// `x`; `jobs` maps `slow` over 8 items in chunks of 1 and leaves the
/// results in `slow_pids`. Each slow item needs a partner at the barrier,
/// which only the other worker can be, so the workers run 4 each (`[4, 4]`)
/// whatever the machine's load; a worker that held slow items ahead would
/// wait alone, and the map fail. (The 2 ms nap only makes every slow item
/// slow, past the 1 ms under which a worker fetches ahead, even when its
/// partner is already waiting: no order depends on it.) Returns what `jobs`
/// printed.
fn slow_items_per_worker(jobs: &str) -> Vec<String> {
    let lines = run_ok(&format!(
        "fn quick(x) {{ x }}
         fn slow(x, b) {{ b.wait(30); sleep(0.002); getpid() }}
         let p = pool(2);
         let b = barrier(2);
         {jobs}
         let counts = #{{}};
         for pid in slow_pids {{
             let k = `${{pid}}`;
             counts[k] = (counts[k] ?? 0) + 1;
         }}
         let done = counts.values();
         done.sort();
         print(done);"
    ));
    let done = lines.last().cloned().unwrap_or_default();
    assert_eq!(done, "[4, 4]", "items per worker: {lines:?}");
    lines
}

#[test]
fn after_a_job_of_quick_chunks_a_slow_job_is_still_shared_by_the_workers() {
    // A worker fetches chunks ahead only while those of the job it is on
    // prove quick: a worker fresh from quick chunks must not take a slow
    // job's chunks ahead and leave the other worker idle.
    slow_items_per_worker(
        "let warm = p.map(quick, 0..400);
         let slow_pids = p.map(|x| slow(x, b), 0..8, 1);",
    );
}

#[test]
fn each_job_calls_its_own_function_and_captured_values() {
    // A worker keeps what it needs to call a function from one chunk to
    // the next: another function, or the same closure with other captured
    // values, must not be called through what it kept.
    let lines = run_ok(
        "fn sq(x) { x * x }
         fn neg(x) { -x }
         let p = pool(2);
         for k in [2, 3] {
             print(p.map(|x| x * k, [1, 2, 3], 1));
         }
         print(p.map(sq, [1, 2, 3], 1));
         print(p.map(neg, [1, 2, 3], 1));
         print(p.map(sq, [4], 1));",
    );
    assert_eq!(
        lines,
        [
            "[2, 4, 6]",
            "[3, 6, 9]",
            "[1, 4, 9]",
            "[-1, -2, -3]",
            "[16]"
        ]
    );
}

#[test]
fn a_worker_on_quick_chunks_leaves_the_next_queued_jobs_slow_chunks_to_the_others() {
    // Chunks are fetched ahead only of the job that proved quick; a slow
    // job queued behind it is shared, not taken ahead by one worker.
    let lines = slow_items_per_worker(
        "let a = p.map_async(quick, 0..4000);
         let job = p.map_async(|x| slow(x, b), 0..8, 1);
         let slow_pids = job.get();
         print(a.get().len());",
    );
    assert_eq!(lines[0], "4000");
}
