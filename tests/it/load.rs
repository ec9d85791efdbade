//! Long runs: ten thousand spawns and a million queue items leave no zombie,
//! no extra descriptor and no growth in the hub's memory; 100 MiB values
//! cross queues and pipes intact.

use super::common;
use common::*;

use std::time::Duration;

fn descriptors(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Resident memory in KiB.
fn resident_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn zombies_of(pid: i32) -> Vec<i32> {
    children_of(pid)
        .into_iter()
        .filter(|&p| !alive(p))
        .collect()
}

#[test]
fn ten_thousand_spawns_and_a_million_queue_items_leave_nothing_behind() {
    // About a minute on a quiet 2-core machine: each item is two round
    // trips through the hub. Only a hang gets near the limit.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let step = |name: &str| dir.path().join(name);
    let mut run = Streaming::start_limited(
        &format!(
            "{AWAIT_FILE}
         fn f(x) {{ x }}
         fn produce(q, n) {{ for i in 0..n {{ q.put(i); }} }}
         let sum = 0;
         for i in 0..500 {{ sum += spawn(f, [i]).join(); }}
         print(\"warm\");
         await_file(\"{measured}\");
         for i in 500..10000 {{ sum += spawn(f, [i]).join(); }}
         print(sum);
         await_file(\"{checked}\");
         let q = queue(10000);
         let n = 1000000;
         let producers = [spawn(produce, [q, n / 2]), spawn(produce, [q, n / 2])];
         let total = 0;
         for i in 0..n {{ total += q.get(); }}
         for p in producers {{ p.join(); }}
         print(total);
         print(q.len());
         await_file(\"{end}\");",
            measured = step("measured").display(),
            checked = step("checked").display(),
            end = step("end").display(),
        ),
        &[],
        Duration::from_secs(300),
    );
    assert_eq!(run.line(), "warm");
    let hub = run.pid();
    let (fds, rss) = (descriptors(hub), resident_kib(hub));
    touch(&step("measured"));
    assert_eq!(run.line(), "49995000");
    assert_eq!(zombies_of(hub), Vec::<i32>::new());
    assert_eq!(descriptors(hub), fds, "descriptors after 10,000 spawns");
    touch(&step("checked"));
    assert_eq!(run.line(), "249999500000");
    assert_eq!(run.line(), "0");
    assert_eq!(zombies_of(hub), Vec::<i32>::new());
    assert_eq!(descriptors(hub), fds, "descriptors after a million items");
    let grown = resident_kib(hub).saturating_sub(rss);
    assert!(grown < 16 * 1024, "the hub grew by {grown} KiB");
    let kids = children_of(hub);
    assert_eq!(kids.len(), 1, "only the main interpreter is left: {kids:?}");
    assert!(
        descriptors(kids[0]) <= 5,
        "the main interpreter's descriptors"
    );
    kill(hub, 15);
    run.wait();
}

#[test]
fn hundred_mib_strings_and_blobs_cross_queues_and_pipes_intact() {
    let lines = run_ok(
        "fn check(v) { if type_of(v) == \"string\" { [v.len(), v.sub_string(0, 4), v.sub_string(v.len() - 4, 4)] } else { [v.len(), v[0], v[v.len() - 1]] } }
         fn echo_queue(inbox, outbox) { let v = inbox.get(); outbox.put(v); }
         fn echo_pipe(end) { let v = end.recv(); end.send(v); }
         let big = \"\"; let chunk = \"0123456789abcdef\";
         for i in 0..16 { chunk += chunk; }
         for i in 0..100 { big += chunk; }
         big = \"head\" + big + \"tail\";
         let blob = blob(100 * 1024 * 1024, 7); blob[0] = 1; blob[blob.len() - 1] = 2;
         for v in [big, blob] {
             let inbox = queue(); let outbox = queue();
             let p = spawn(echo_queue, [inbox, outbox]);
             inbox.put(v); let back = outbox.get(); p.join();
             print(check(back)); print(back == v);
             let ends = pipe();
             let p = spawn(echo_pipe, [ends[1]]);
             ends[0].send(v); let back = ends[0].recv(); p.join();
             print(back == v);
         }",
    );
    assert_eq!(
        lines,
        [
            "[104857608, \"head\", \"tail\"]",
            "true",
            "true",
            "[104857600, 1, 2]",
            "true",
            "true"
        ]
    );
}

#[test]
fn finished_pool_maps_and_dropped_pools_leave_nothing_in_the_hub() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let measured = dir.path().join("measured");
    let mut run = Streaming::start(&format!(
        "{AWAIT_FILE}
         fn pad(x) {{ let s = \"x\"; s.pad(1000, \"y\"); s }}
         fn use_a_pool() {{ let p = pool(2); p.map(|x| x, [1, 2]) }}
         let items = []; for i in 0..500 {{ items.push(i); }}
         for round in 0..5 {{ pool_map(pad, items, 2); use_a_pool(); }}
         print(\"warm\");
         await_file(\"{measured}\");
         for round in 0..100 {{ pool_map(pad, items, 2); use_a_pool(); }}
         print(\"done\");
         await_file(\"{measured}.end\");",
        measured = measured.display()
    ));
    assert_eq!(run.line(), "warm");
    let hub = run.pid();
    let rss = resident_kib(hub);
    touch(&measured);
    assert_eq!(run.line(), "done");
    let grown = resident_kib(hub).saturating_sub(rss);
    assert!(
        grown < 8 * 1024,
        "the hub grew by {grown} KiB over 100 pool_maps"
    );
    eventually("the dropped pools' workers have left", || {
        children_of(hub).len() == 1
    });
    kill(hub, 15);
    run.wait();
}

/// A script function that waits for the test to make a file: the test's
/// side of a handshake, so a measurement never races the script.
const AWAIT_FILE: &str = "fn await_file(path) { while glob(path).len() == 0 { sleep(0.01); } }\n";

/// Makes `path`, which the script's `await_file` waits for.
fn touch(path: &std::path::Path) {
    std::fs::write(path, "").expect("write the handshake file");
}

/// Runs `warm_up` (which prints `ready` last), measures the hub, runs
/// `work` (which prints `done` last), and returns how much the hub grew,
/// in KiB. The script waits for the test's files between the steps, so the
/// measurements never race it.
fn hub_growth(warm_up: &str, ready: &str, work: &str, done: &str) -> u64 {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (go, end) = (dir.path().join("go"), dir.path().join("end"));
    let mut run = Streaming::start_limited(
        &format!(
            "{AWAIT_FILE}
             {warm_up}
             await_file(\"{go}\");
             {work}
             await_file(\"{end}\");",
            go = go.display(),
            end = end.display(),
        ),
        &[],
        Duration::from_secs(300),
    );
    assert_eq!(run.line(), ready);
    let hub = run.pid();
    let rss = resident_kib(hub);
    touch(&go);
    assert_eq!(run.line(), done);
    let grown = resident_kib(hub).saturating_sub(rss);
    touch(&end);
    assert_eq!(run.wait(), Some(0), "{}", run.stderr());
    grown
}

#[test]
fn three_hundred_thousand_dropped_queues_are_freed_and_their_rings_reused() {
    let grown = hub_growth(
        "for i in 0..1000 { let q = queue(); q.put(\"x\"); }
         print(\"warm\");",
        "warm",
        "for i in 0..300000 { let q = queue(); q.put(\"x\"); }
         // Made after 64 dropped ones: it still gets a ring (see the
         // store's unit test), and works.
         let q = queue(); q.put(1); q.put(2); print([q.get(), q.get(), q.len()]);",
        "[1, 2, 0]",
    );
    assert!(
        grown < 16 * 1024,
        "the hub grew by {grown} KiB over 300,000 dropped queues"
    );
}

#[test]
fn a_killed_processs_objects_are_freed() {
    // The child holds 200,000 queues when it is killed; the 200,000 the main
    // script then holds fit in the memory the hub got back from them.
    let grown = hub_growth(
        "fn hoard(n, ready, never) {
             let held = []; for i in 0..n { held.push(queue()); }
             ready.set(); never.wait();
         }
         let ready = event(); let never = event();
         let p = spawn(hoard, [200000, ready, never]);
         ready.wait(); p.kill(); p.join();
         print(\"killed\");",
        "killed",
        "let held = []; for i in 0..200000 { held.push(queue()); }
         print(held.len());",
        "200000",
    );
    assert!(
        grown < 16 * 1024,
        "the hub grew by {grown} KiB: the killed process's queues were kept"
    );
}

#[test]
fn queues_given_to_children_are_freed_once_both_sides_let_go() {
    // Each queue holds a 20 KB item. Queues kept would keep their rings
    // (64 in the arena), and the items of all the others would stay in the
    // hub's memory: 2,000 rounds of three kept would be 120 MB. One is an
    // argument, one is captured by a closure among the arguments, one by
    // the closure the child runs.
    let grown = hub_growth(
        "fn child(q, f) { q.len() + f.call() - 1 }
         let big = \"x\"; big.pad(20000, \"y\");
         fn filled(big) { let q = queue(); q.put(big); q }
         fn round(big) {
             let q = filled(big); let c = filled(big); let t = filled(big);
             spawn(|q, f| child(q, f) + t.len() - 1, [q, || c.len()]).join()
         }
         for i in 0..100 { round(big); }
         print(\"warm\");",
        "warm",
        "let total = 0;
         for i in 0..2000 { total += round(big); }
         print(total);",
        "2000",
    );
    assert!(
        grown < 16 * 1024,
        "the hub grew by {grown} KiB over 2,000 queues given to children"
    );
}

#[test]
fn objects_kept_only_in_stored_values_are_freed_once_nothing_reaches_them() {
    // Each round leaves seven queues, each holding a 20 KB item (past the
    // arena's 64 rings, in the hub's memory), reachable only through values
    // that are then overwritten, taken and dropped, or never reached from
    // a process again: 2,000 rounds kept would be 280 MB.
    let grown = hub_growth(
        "let big = \"x\"; big.pad(20000, \"y\");
         fn filled(big) { let q = queue(); q.put(big); q }
         fn round(big, d, l, v, box, ends) {
             d[\"k\"] = filled(big);                     // overwritten next round
             l.push(filled(big)); l.pop();              // taken, then dropped
             v.set(filled(big));                        // overwritten next round
             box.put(filled(big)); box.get();           // taken, then dropped
             ends[0].send(filled(big)); ends[1].recv(); // received, then dropped
             let a = filled(big); let b = filled(big);
             a.put(b); b.put(a);                        // a cycle nobody reaches
             let outer = manager_list(); outer.push(filled(big)); // a list dropped whole
         }
         let d = manager_dict(); let l = manager_list(); let v = value(0);
         let box = queue(); let ends = pipe();
         for i in 0..100 { round(big, d, l, v, box, ends); }
         print(\"warm\");",
        "warm",
        "for i in 0..2000 { round(big, d, l, v, box, ends); }
         print([d[\"k\"].len(), v.get().len(), box.len(), l.len()]);",
        "[1, 1, 0, 0]",
    );
    assert!(
        grown < 16 * 1024,
        "the hub grew by {grown} KiB over 2,000 rounds of queues kept only in values"
    );
}

#[test]
fn objects_that_went_through_a_pool_are_freed_once_nothing_reaches_them() {
    // Each round sends a pool two queues as items, one captured by the
    // function and one as a result made in the worker, each holding a 20 KB
    // item (past the arena's 64 rings, in the hub's memory): 400 rounds
    // kept would be 40 MB. The pool's initializer argument
    // lives as long as the pool, and works in every worker.
    let grown = hub_growth(
        "let big = \"x\"; big.pad(20000, \"y\");
         fn filled(big) { let q = queue(); q.put(big); q }
         fn setup(q) { q.put(1); }
         fn work(q, c, big) { [q.len() + c.len(), filled(big)] }
         let init = queue();
         let p = pool(#{ workers: 2, initializer: setup, initargs: [init] });
         init = ();
         fn round(p, big) {
             let c = filled(big);
             let out = p.map(|q| work(q, c, big), [filled(big), filled(big)]);
             out[0][0] + out[1][0] + out[0][1].len() + out[1][1].len()
         }
         for i in 0..40 { round(p, big); }
         print(\"warm\");",
        "warm",
        "let total = 0;
         for i in 0..400 { total += round(p, big); }
         print(total);",
        "2400",
    );
    assert!(
        grown < 16 * 1024,
        "the hub grew by {grown} KiB over 400 rounds of queues sent through a pool"
    );
}

#[test]
fn the_items_of_a_chunk_that_failed_are_freed_with_the_job() {
    // Each round's chunk fails at its first item, so the worker never
    // unpacks the three after it, each a queue holding a 20 KB item (past
    // the arena's 64 rings, in the hub's memory): 600 rounds kept until the
    // pool ends would be 36 MB.
    let grown = hub_growth(
        "let big = \"x\"; big.pad(20000, \"y\");
         fn filled(big) { let q = queue(); q.put(big); q }
         fn picky(q) { if q.len() == 0 { throw \"empty\"; } q.len() }
         let p = pool(1);
         fn round(p, big) {
             let items = [queue(), filled(big), filled(big), filled(big)];
             let failed = 0;
             try { p.map(picky, items, #{ chunksize: 4 }); } catch (e) { failed = 1; }
             failed
         }
         for i in 0..40 { round(p, big); }
         print(\"warm\");",
        "warm",
        "let failed = 0;
         for i in 0..600 { failed += round(p, big); }
         print(failed);",
        "600",
    );
    assert!(
        grown < 16 * 1024,
        "the hub grew by {grown} KiB over 600 failed chunks"
    );
}
