//! `spawn`, `process` and the `Process` handle.

use super::common;
use common::*;

#[test]
fn spawn_runs_the_function_in_another_process_and_join_returns_its_value() {
    let lines = run_ok(
        "fn work(a, b) { [getpid(), a + b] }
         let p = spawn(work, [2, 3]);
         let r = p.join();
         print(r[1]);
         print(r[0] != getpid());
         print(r[0] == p.pid);
         print(p.exitcode);",
    );
    assert_eq!(lines, ["5", "true", "true", "0"]);
}

#[test]
fn function_values_can_be_names_fn_strings_or_closures() {
    let lines = run_ok(
        "fn hello() { \"named\" }
         fn twice(x) { x * 2 }
         let k = 10;
         print(spawn(hello).join());
         print(spawn(Fn(\"twice\"), [4]).join());
         print(spawn(|x| x + k, [5]).join());
         let f = |x, y| x * y + k;
         print(spawn(f, [2, 3]).join());",
    );
    assert_eq!(lines, ["named", "8", "15", "16"]);
}

#[test]
fn captured_variables_travel_as_copies() {
    let lines = run_ok(
        "let count = 1;
         let bump = || { count += 1; count };
         print(spawn(bump).join());
         print(count);",
    );
    assert_eq!(lines, ["2", "1"]);
}

#[test]
fn processes_are_named_in_creation_order() {
    let lines = run_ok(
        "fn f() {}
         let a = spawn(f); let b = process(f, []); let c = spawn(f, []);
         print(a.name); print(b.name); print(c.name);
         b.start(); a.join(); b.join(); c.join();",
    );
    assert_eq!(lines, ["Process-1", "Process-2", "Process-3"]);
}

#[test]
fn process_is_not_started_until_start() {
    let lines = run_ok(
        "fn f(q) { q.put(\"ran\"); }
         let q = queue();
         let p = process(f, [q]);
         print(p.pid); print(p.exitcode); print(p.is_alive());
         print(q.len());
         p.start();
         print(type_of(p.pid));
         p.join();
         print(q.get()); print(p.exitcode); print(p.is_alive());",
    );
    assert_eq!(lines, ["", "", "false", "0", "i64", "ran", "0", "false"]);
}

#[test]
fn starting_twice_or_joining_unstarted_is_an_error() {
    let lines = run_ok(
        "fn f() {}
         let p = process(f);
         try { p.join(); } catch (e) { print(e); }
         p.start();
         try { p.start(); } catch (e) { print(e); }
         p.join();",
    );
    assert_eq!(
        lines,
        [
            "join: Process-1 was not started",
            "start: Process-1 was already started"
        ]
    );
}

#[test]
fn a_worker_error_names_the_process_and_position_and_the_script_goes_on() {
    let r = run(
        "fn work() {\n    let x = 1;\n    throw \"boom\";\n}\nlet p = spawn(work);\nprint(p.join());\nprint(p.exitcode);\nprint(\"still here\");",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.lines(), ["", "1", "still here"]);
    let expected = regex_like_worker_error(&r.stderr);
    assert!(expected, "stderr: {}", r.stderr);
}

fn regex_like_worker_error(stderr: &str) -> bool {
    // Process-1 (pid N): boom (line 3, position 5)
    stderr.lines().any(|l| {
        l.starts_with("Process-1 (pid ")
            && l.ends_with("): boom (line 3, position 5)")
            && l["Process-1 (pid ".len()..l.len() - "): boom (line 3, position 5)".len()]
                .parse::<u32>()
                .is_ok()
    })
}

#[test]
fn exitcode_reports_exit_and_signals() {
    let lines = run_ok(
        "fn quits(n) { exit(n); }
         fn sleeps() { sleep(30); }
         let a = spawn(quits, [3]); a.join(); print(a.exitcode);
         let b = spawn(sleeps); b.terminate(); b.join(); print(b.exitcode);
         let c = spawn(sleeps); c.kill(); c.join(); print(c.exitcode);",
    );
    assert_eq!(lines, ["3", "-15", "-9"]);
}

#[test]
fn exit_codes_wrap_modulo_256_in_spawned_processes_and_pool_workers() {
    let lines = run_ok(
        "fn quits(n) { exit(n); }
         for n in [-1, 300, 256, -255] { let p = spawn(quits, [n]); p.join(); print(p.exitcode); }
         for n in [-1, 300] {
             try { pool_map(|x| quits(x), [n], #{ workers: 1 }); } catch (e) { print(e); }
         }",
    );
    assert_eq!(lines[..4], ["255", "44", "0", "1"]);
    assert!(lines[4].contains("exited with code 255"), "{lines:?}");
    assert!(lines[5].contains("exited with code 44"), "{lines:?}");
}

#[test]
fn join_with_a_timeout_returns_while_the_process_runs() {
    let lines = run_ok(
        "fn sleeps() { sleep(30); }
         let p = spawn(sleeps);
         print(p.join(0.05)); print(p.exitcode); print(p.is_alive());
         p.join(0); p.join(0.01);
         p.kill(); p.join(); print(p.is_alive());",
    );
    assert_eq!(lines, ["", "", "true", "false"]);
}

#[test]
fn bad_arguments_to_spawn_are_errors_at_the_call() {
    let lines = run_ok(
        "fn one(x) { x }
         try { spawn(Fn(\"missing\"), [1]); } catch (e) { print(e); }
         try { spawn(one, [1, 2]); } catch (e) { print(e); }
         try { spawn(one, 5); } catch (e) { print(e); }
         try { spawn(42, [1]); } catch (e) { print(e); }
         try { spawn(one, [timestamp()]); } catch (e) { print(e); }
         let p = spawn(one, [1]);
         try { p.join(-1); } catch (e) { print(e); }
         try { p.join(\"soon\"); } catch (e) { print(e); }
         p.join();",
    );
    assert_eq!(
        lines,
        [
            "spawn: no function named 'missing' in the script",
            "spawn: function 'one' takes 1 argument(s), but would be called with 2",
            "spawn: the arguments must be an array, not i64",
            "spawn: the first argument must be a function, not i64",
            "spawn: a value of type 'timestamp' cannot be sent to another process",
            "join: the timeout must be a non-negative number of seconds, not -1",
            "join: the timeout must be a number of seconds, not string",
        ]
    );
}

#[test]
fn an_unsendable_return_value_fails_the_worker_clearly() {
    let r = run("fn f() { timestamp() } let p = spawn(f); p.join(); print(p.exitcode);");
    assert_eq!(r.lines(), ["1"]);
    assert!(
        r.stderr.contains("Process-1 (pid ") && r.stderr.contains("'timestamp' cannot be sent"),
        "{}",
        r.stderr
    );
}

#[test]
fn top_level_code_runs_once() {
    let lines = run_ok(
        "print(\"top\"); fn f(x) { x } print(pool_map(f, [1, 2, 3], 3)); spawn(f, [1]).join();",
    );
    assert_eq!(lines, ["top", "[1, 2, 3]"]);
}

#[test]
fn the_script_waits_for_unjoined_processes_at_the_end() {
    let lines =
        run_ok("fn late() { sleep(0.2); print(\"late\"); } spawn(late); print(\"main done\");");
    assert_eq!(lines, ["main done", "late"]);
}

#[test]
fn workers_can_spawn_workers() {
    let lines = run_ok(
        "fn leaf(x) { x * 10 }
         fn middle(x) { spawn(leaf, [x]).join() + pool_map(leaf, [1, 2], 2)[1] }
         print(spawn(middle, [4]).join());",
    );
    assert_eq!(lines, ["60"]);
}

#[test]
fn deep_recursion_behaves_like_release_builds() {
    let lines = run_ok(
        "fn fib(n) { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } } print(fib(20)); print(spawn(fib, [15]).join());",
    );
    assert_eq!(lines, ["6765", "610"]);
}

#[test]
fn current_process_parent_pid_and_active_children() {
    let lines = run_ok(
        "fn who() { let me = current_process(); [me.name, me.pid == getpid(), parent_pid()] }
         fn sleeper(q) { q.get(); }
         fn nested() { spawn(who).join()[2] == getpid() }
         let me = current_process();
         print(me.name); print(me.pid == getpid()); print(parent_pid() != getpid());
         let r = spawn(who).join();
         print(r[0]); print(r[1]); print(r[2] == getpid());
         print(pool_map(|x| current_process().name.sub_string(0, 11), [1], 1));
         print(spawn(nested).join());
         let q = queue();
         let a = spawn(sleeper, [q]); let b = spawn(sleeper, [q]);
         let kids = active_children();
         print(kids.len()); print(kids.map(|k| k.name));
         print(kids[0].pid == a.pid);
         q.put(1); q.put(2); a.join(); b.join();
         print(active_children().len());",
    );
    assert_eq!(
        lines,
        [
            "MainProcess",
            "true",
            "true",
            "Process-1",
            "true",
            "true",
            "[\"PoolWorker-\"]",
            "true",
            "2",
            "[\"Process-4\", \"Process-5\"]",
            "true",
            "0",
        ]
    );
}
