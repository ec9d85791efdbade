//! Deaths and signals: nothing hangs, nothing is left behind, output survives.

use super::common;
use common::*;

use std::io::Read;
use std::process::{Command, Stdio};

#[test]
fn a_pool_worker_killed_by_sigkill_fails_pool_map_naming_item_and_signal() {
    let mut run = Streaming::start(
        "fn f(x) { if x == 4 { print(getpid()); sleep(60); } x }
         try { pool_map(f, [0, 1, 2, 3, 4, 5, 6, 7], #{workers: 2, chunksize: 3}); } catch (e) { print(e); }
         print(pool_map(f, [0, 2], 2));",
    );
    let pid: i32 = run.line().parse().expect("worker pid");
    kill(pid, 9);
    let message = run.line();
    assert!(
        message.starts_with("pool_map: worker PoolWorker-"),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(
            "(pid {pid}) was killed by signal 9 (SIGKILL) while computing item 4"
        )),
        "{message}"
    );
    assert_eq!(run.line(), "[0, 2]");
    assert_eq!(run.wait(), Some(0));
}

#[test]
fn workers_die_when_the_supervisor_is_killed() {
    let mut run = Streaming::start(
        "fn w() { print(getpid()); sleep(60); }
         let a = spawn(w); let b = spawn(w);
         a.join(); b.join();",
    );
    let pids: Vec<i32> = (0..2).map(|_| run.line().parse().unwrap()).collect();
    let hub = run.pid();
    let mut everyone = children_of(hub);
    assert!(everyone.len() >= 3, "main and two workers: {everyone:?}");
    everyone.extend(&pids);
    kill(hub, 9);
    run.wait();
    eventually("every worker of a killed supervisor exits", || {
        everyone.iter().all(|&p| !alive(p))
    });
}

#[test]
fn sigterm_and_sigint_stop_everything_and_exit_143_and_130() {
    for (signal, code, name) in [(15, 143, "SIGTERM"), (2, 130, "SIGINT")] {
        let mut run = Streaming::start(
            "fn w() { print(getpid()); sleep(60); }
             let p = spawn(w); p.join();",
        );
        let worker: i32 = run.line().parse().unwrap();
        let hub = run.pid();
        let everyone = children_of(hub);
        kill(hub, signal);
        assert_eq!(run.wait(), Some(code), "{name}");
        let stderr = run.stderr();
        assert!(
            stderr.contains(&format!("interrupted by {name}")),
            "{stderr}"
        );
        assert!(
            stderr.contains("MainProcess") && stderr.contains("Process-1"),
            "{stderr}"
        );
        assert!(!alive(worker));
        assert!(everyone.iter().all(|&p| !alive(p)), "{everyone:?}");
    }
}

#[test]
fn many_processes_printing_at_once_never_cut_or_lose_a_line() {
    let lines = run_ok(
        "fn chatter(id) { for i in 0..10000 { print(`worker ${id} line ${i} ----------------------------------------`); } }
         let ps = []; for id in 0..4 { ps.push(spawn(chatter, [id])); }
         for p in ps { p.join(); }",
    );
    assert_eq!(lines.len(), 40_000);
    let mut next = [0usize; 4];
    for line in &lines {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 5, "cut line: {line:?}");
        let id: usize = parts[1].parse().unwrap();
        let i: usize = parts[3].parse().unwrap();
        assert_eq!(i, next[id], "worker {id}'s lines out of order or lost");
        next[id] += 1;
    }
}

#[test]
fn output_written_just_before_exit_is_not_lost() {
    let r = run("fn last_words(n) { print(`bye ${n}`); exit(n); }
         fn dies_by_error(n) { print(`oops ${n}`); throw \"fail\"; }
         for n in 1..=20 { spawn(last_words, [n]); spawn(dies_by_error, [n]); }");
    assert_eq!(r.code, Some(0));
    for n in 1..=20 {
        assert!(
            r.lines().contains(&format!("bye {n}").as_str()),
            "bye {n} lost"
        );
        assert!(
            r.lines().contains(&format!("oops {n}").as_str()),
            "oops {n} lost"
        );
    }
    assert_eq!(
        r.stderr.matches(": fail (line 2, position").count(),
        20,
        "{}",
        r.stderr
    );
}

#[test]
fn the_main_script_ending_stops_processes_that_would_wait_forever() {
    let r = run("fn waits(q) { q.get() }
         spawn(waits, [queue()]);
         print(\"main done\");");
    assert_eq!(r.code, Some(0));
    assert_eq!(r.lines(), ["main done"]);
    assert!(r.stderr.contains("wait forever"), "{}", r.stderr);
}

#[test]
fn the_main_interpreter_killed_by_a_signal_ends_the_run_with_128_plus_n() {
    let mut run =
        Streaming::start("print(getpid()); fn w() { sleep(60); } let p = spawn(w); p.join();");
    let main: i32 = run.line().parse().unwrap();
    let hub = run.pid();
    let everyone = children_of(hub);
    kill(main, 9);
    assert_eq!(run.wait(), Some(137));
    let stderr = run.stderr();
    assert!(
        stderr.contains("the main script MainProcess (pid") && stderr.contains("SIGKILL"),
        "{stderr}"
    );
    assert!(everyone.iter().all(|&p| !alive(p)), "{everyone:?}");
}

#[test]
fn runaway_recursion_fails_the_worker_alone() {
    let r = run("fn r(n) { if n == 0 { 0 } else { 1 + r(n - 1) } }
         let p = spawn(r, [1000000]); p.join();
         print(p.exitcode); print(spawn(r, [100]).join());");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.lines(), ["1", "100"]);
    assert!(
        r.stderr.contains("Process-1 (pid ") && r.stderr.contains("Stack overflow"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_closed_stdout_ends_the_run_instead_of_printing_forever() {
    let s = script("let i = 0; loop { print(`line ${i}`); i += 1; }");
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(&s.path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut out, &mut first).unwrap();
    assert_eq!(first, "line 0\n");
    let hub = child.id() as i32;
    let everyone = children_of(hub);
    drop(out);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(141));
    assert!(everyone.iter().all(|&p| !alive(p)), "{everyone:?}");
}

/// The live processes whose command line names `path` (the hub and the
/// interpreters it forked share it).
fn running_with_arg(path: &std::path::Path) -> Vec<i32> {
    let wanted = path.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&wanted))
                && alive(pid)
        })
        .collect()
}

/// Runs `source` with stdout or stderr (`stream`) on `/dev/full`.
fn run_into_a_full_disk(source: &str, stream: &str) -> (Option<i32>, String, Vec<i32>) {
    let s = script(source);
    let full = || Stdio::from(std::fs::File::create("/dev/full").expect("/dev/full"));
    let mut command = Command::new(BIN);
    command.arg("run").arg(&s.path).stdin(Stdio::null());
    match stream {
        "stdout" => command.stdout(full()).stderr(Stdio::piped()),
        _ => command.stdout(Stdio::piped()).stderr(full()),
    };
    let mut child = command.spawn().unwrap();
    let mut piped = match stream {
        "stdout" => Box::new(child.stderr.take().unwrap()) as Box<dyn Read + Send>,
        _ => Box::new(child.stdout.take().unwrap()),
    };
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = piped.read_to_string(&mut text);
        text
    });
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the run did not end");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let text = reader.join().unwrap();
    (status.code(), text, running_with_arg(&s.path))
}

#[test]
fn a_failing_stdout_ends_the_run_with_74_and_one_line() {
    let (code, stderr, _) = run_into_a_full_disk("print(\"hello\");", "stdout");
    assert_eq!(code, Some(74), "{stderr}");
    assert_eq!(
        stderr,
        "mphost: cannot write to stdout: ENOSPC: No space left on device\n"
    );
    // A worker printing for ever is stopped too, not left writing.
    let (code, stderr, left) = run_into_a_full_disk(
        "fn chatter() { loop { print(\"more\"); } }
         let p = spawn(chatter); p.join();",
        "stdout",
    );
    assert_eq!(code, Some(74), "{stderr}");
    assert!(
        stderr.starts_with("mphost: cannot write to stdout: ENOSPC"),
        "{stderr}"
    );
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_failing_stderr_ends_the_run_with_74() {
    let (code, _, _) = run_into_a_full_disk(
        "fn fails() { throw \"into the void\"; }
         let p = spawn(fails); p.join();",
        "stderr",
    );
    assert_eq!(code, Some(74));
}

#[test]
fn sigterm_is_heard_while_stdout_is_blocked() {
    let s = script(
        "let i = 0; loop { print(`a long line to fill the pipe ${i} ......................................`); i += 1; }",
    );
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(&s.path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads stdout: the pipe fills and the hub's write blocks.
    let hub = child.id() as i32;
    eventually("the hub starts its main interpreter", || {
        !children_of(hub).is_empty()
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    kill(hub, 15);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
}

#[test]
fn a_deadlocked_pool_map_is_cancelled_cleanly() {
    let lines = run_ok(
        "fn waits(q) { q.get() }
         fn slow(x) { sleep(0.05); x * 10 }
         let q = queue();
         try { pool_map(waits, [q], 1); } catch (e) { print(e.sub_string(0, 8)); }
         q.put(\"stale\");
         print(pool_map(slow, [1, 2, 3], 2));
         print(q.get());",
    );
    assert_eq!(lines, ["Deadlock", "[10, 20, 30]", "stale"]);
}

#[test]
fn a_deadlocked_barrier_wait_breaks_the_barrier() {
    let r = run("fn party(b) { b.wait() }
         let b = barrier(3);
         let p = spawn(party, [b]);
         while b.n_waiting() < 1 { sleep(0.01); }
         try { b.wait(); } catch (e) { print(e.sub_string(0, 8)); }
         p.join();
         print(p.exitcode); print(b.is_broken()); print(b.n_waiting());");
    assert_eq!(r.lines(), ["Deadlock", "1", "true", "0"]);
    assert!(r.stderr.contains("BrokenBarrier"), "{}", r.stderr);
}

#[test]
fn arrivals_during_a_barrier_action_wait_for_the_next_round() {
    let lines = run_ok(
        "fn party(b) { b.wait() }
         let rounds = value(0);
         let b = barrier(2, || { sleep(0.2); rounds.add(1); });
         let ps = []; for i in 0..4 { ps.push(spawn(party, [b])); }
         let got = []; for p in ps { got.push(p.join()); }
         got.sort();
         print(got); print(rounds.get()); print(b.is_broken());",
    );
    assert_eq!(lines, ["[0, 0, 1, 1]", "2", "false"]);
}

#[test]
fn a_semaphore_released_by_another_process_does_not_come_back_twice() {
    let lines = run_ok(
        "fn take(s, taken) { s.acquire(); taken.set(); sleep(60); }
         let s = semaphore(1);
         let taken = event();
         let p = spawn(take, [s, taken]);
         taken.wait();
         s.release();
         // Killed: only the units it still holds come back, and it holds none.
         p.kill();
         p.join();
         print(s.value());",
    );
    assert_eq!(lines, ["1"]);
}

#[test]
fn absurd_arguments_are_errors_not_panics() {
    let lines = run_ok(
        "fn add(a, b) { a + b }
         try { spawn(Fn(\"add\").curry(1).curry(2).curry(3)); } catch (e) { print(e.sub_string(0, 6)); }
         try { pool_map(|x| x, [1, 2, 3], 4611686018427387904); } catch (e) { print(e); }",
    );
    assert_eq!(
        lines,
        [
            "spawn:",
            "pool_map: workers must be at most 4096, not 4611686018427387904"
        ]
    );
}

#[test]
fn a_pool_worker_that_raises_is_not_killed() {
    let r = run(
        "fn f(x) { if x == 1 { throw \"no\"; } sleep(0.05); x }
         try { pool_map(f, [0, 1, 2, 3], #{workers: 1, chunksize: 1}); } catch (e) { print(e.sub_string(0, 15)); }",
    );
    assert_eq!(r.lines(), ["pool_map: item "]);
    assert!(!r.stderr.contains("SIGKILL"), "{}", r.stderr);
}

#[test]
fn a_small_memory_limit_leaves_room_for_the_shared_arena_under_both_start_methods() {
    // An exec'd worker maps the hub's arena (locks and queue rings, 33 MiB
    // of address space): the limit is on the worker's own memory, so even
    // the guide's smallest limit starts workers that use a queue.
    let s = script(
        "fn work(q) { let a = []; for i in 0..2000 { a.push(`x${i}`); } q.put(a.len()); }
         let q = queue(); let p = spawn(work, [q]);
         print(q.get()); p.join();
         print(pool_map(|x| x * 2, [1, 2, 3], 2));",
    );
    for method in ["fork", "spawn"] {
        let child = mphost_run()
            .args(["--max-memory", "16M", "--start-method", method])
            .arg(&s.path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mphost");
        let r = finish(child);
        assert_eq!(r.code, Some(0), "{method}: {r:?}");
        assert_eq!(r.lines(), ["2000", "[2, 4, 6]"], "{method}");
    }
}

#[test]
fn a_worker_out_of_memory_fails_alone_with_one_clear_line() {
    let s = script(
        "fn grow() { let s = \"x\"; loop { s += s; } }
         let p = spawn(grow);
         p.join();
         print(p.exitcode);
         try { pool_map(|x| grow(), [1], 1); } catch (e) { print(e); }
         print(pool_map(|x| x + 1, [1, 2], 2));",
    );
    for method in ["fork", "spawn"] {
        let child = mphost_run()
            .args(["--max-memory", "256M", "--start-method", method])
            .arg(&s.path)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mphost");
        let r = finish(child);
        assert_eq!(r.code, Some(0), "{method}: {r:?}");
        let lines = r.lines();
        assert_eq!(lines[0], "-6", "{method}");
        assert!(
            lines[1].starts_with("pool_map: worker PoolWorker-1 (pid ")
                && lines[1].ends_with("was killed by signal 6 (SIGABRT) while computing item 0"),
            "{method}: {}",
            lines[1]
        );
        assert_eq!(lines[2], "[2, 3]", "{method}");
        let oom: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(oom.len(), 2, "{method}: {}", r.stderr);
        assert!(
            oom.iter()
                .all(|l| l.starts_with("mphost: pid ")
                    && l.contains(" ran out of memory allocating ")),
            "{method}: {}",
            r.stderr
        );
    }
}

#[test]
fn a_killed_pool_worker_fails_only_its_job_and_chunks_it_held_ahead_run_elsewhere() {
    // The worker fetches quick chunks ahead, so when it hangs on the last
    // item of `a` it may already hold chunks of `b`: those must run again
    // in its replacement, and `b` must not fail.
    let mut run = Streaming::start(
        "fn f(x) { if x == \"hang\" { print(getpid()); sleep(60); } x }
         let p = pool(1);
         let items = []; for i in 0..200 { items.push(i); } items.push(\"hang\");
         let a = p.map_async(f, items, 1);
         let b = p.map_async(f, range(0, 200), 1);
         try { a.get(); } catch (e) { print(e); }
         let r = b.get(); let s = 0; for x in r { s += x; }
         print(`${r.len()} ${s}`);",
    );
    let pid: i32 = run.line().parse().expect("worker pid");
    kill(pid, 9);
    let message = run.line();
    assert!(
        message.starts_with("map_async: worker PoolWorker-")
            && message.ends_with("while computing item 200"),
        "{message}"
    );
    assert_eq!(run.line(), format!("200 {}", (0..200).sum::<i64>()));
    assert_eq!(run.wait(), Some(0));
}
