//! Objects are freed when no process can reach them, and not before: a
//! handle that went to a child, into a queue, list, dict or shared value,
//! or into a closure given to a pool stays usable after its maker let go.
//!
//! Each script first makes its object, lets go of its own handle, and then
//! makes 200 throwaway events (`flush`): releases go out in batches of 64
//! behind later requests, so by the end the hub has read the maker's
//! release; before those, 100 queues passed through a queue and dropped
//! make sure the hub has run a collection. Only then is the object used,
//! through operations that go to the hub (a queue's `len`), which fail on
//! an object the hub freed.

use super::common;
use common::*;

/// Makes sure this process's releases so far have reached the hub, and
/// that the hub has collected since: 100 queues passed through a queue and
/// dropped make a collection due.
const FLUSH: &str = "fn flush() {
    let box = queue(); for i in 0..100 { box.put(queue()); box.get(); }
    for i in 0..200 { event(); }
}\n";

fn run_flushed(source: &str) -> Vec<String> {
    run_ok(&format!("{FLUSH}{source}"))
}

#[test]
fn a_queue_passed_to_a_child_and_dropped_by_its_maker_still_works_there() {
    let lines = run_flushed(
        "fn child(q, start, r) { start.wait(); q.put(41); r.put(q.len() + q.get()); }
         let r = queue(); let start = event();
         let p = spawn(child, [queue(), start, r]);
         flush();
         start.set();
         print(r.get(120));
         p.join();",
    );
    assert_eq!(lines, ["42"]);
}

#[test]
fn a_handle_stored_in_a_queue_list_dict_or_value_outlives_its_maker() {
    let lines = run_flushed(
        "fn check(q) { q.put(5); q.len() + q.get() }
         fn taker(box, l, d, v) { [check(box.get()), check(l[0]), check(d[\"q\"]), check(v.get())] }
         let box = queue(); let l = manager_list(); let d = manager_dict(); let v = value(0);
         box.put(queue()); l.push(queue()); d[\"q\"] = queue(); v.set(queue());
         flush();
         print(spawn(taker, [box, l, d, v]).join());
         // And in this process, through the same handles.
         print(check(l[0]));",
    );
    assert_eq!(lines, ["[6, 6, 6, 6]", "6"]);
}

#[test]
fn a_handle_captured_in_a_closure_given_to_a_pool_works_in_its_workers() {
    let lines = run_flushed(
        "fn make(start) { let d = manager_dict(); |x| { start.wait(); d[`${x}`] = x * 2; d[`${x}`] } }
         let start = event();
         let p = pool(2);
         let job = p.map_async(make(start), [1, 2, 3, 4]);
         flush();
         start.set();
         print(job.get(120));",
    );
    assert_eq!(lines, ["[2, 4, 6, 8]"]);
}

#[test]
fn an_object_a_process_waits_on_is_kept_while_it_waits() {
    let lines = run_flushed(
        "fn waiter(e, ready) { ready.set(); e.wait() }
         let l = manager_list(); let ready = event();
         let e = event(); l.push(e);
         let p = spawn(waiter, [e, ready]);
         e = ();
         ready.wait();
         flush();
         l.pop().set();
         print(p.join());",
    );
    assert_eq!(lines, ["true"]);
}

#[test]
fn a_lock_dropped_while_held_comes_back_free_for_a_new_lock() {
    // Its word in shared memory is handed out again: zeroed, not held.
    let lines = run_flushed(
        "for i in 0..300 { let l = lock(); l.acquire(); }
         flush();
         let fresh = lock();
         print(fresh.acquire(0));
         let c = condition();
         for i in 0..300 { let l = lock(); l.acquire(); }
         flush();
         c.acquire(); c.notify(); c.release();
         print(\"ok\");",
    );
    assert_eq!(lines, ["true", "ok"]);
}

#[test]
fn a_release_for_an_object_never_held_is_ignored() {
    // A handle that arrived in a value and one made here: the hub hands out
    // no count for the first, and its release must not free the second.
    let lines = run_flushed(
        "fn child(box, r) { let q = box.get(); q = (); flush(); r.put(\"child done\"); }
         let box = queue(); let r = queue();
         let mine = queue(); box.put(mine);
         spawn(child, [box, r]).join();
         print(r.get());
         mine.put(1); print(mine.len());",
    );
    assert_eq!(lines, ["child done", "1"]);
}

#[test]
fn stored_handles_survive_collections_at_any_depth() {
    // Objects reachable only through values (a dict holding a list holding
    // a queue, a queue holding a closure that captured a lock) outlive the
    // collections that 2,000 dropped stored queues set off around them.
    let lines = run_flushed(
        "let d = manager_dict();
         let inner = queue(); inner.put(40);
         let l = manager_list(); l.push(inner);
         d[\"list\"] = l;
         let box = queue(); let fns = queue();
         let lk = lock();
         fns.put(|| lk.acquire(0));
         inner = (); l = (); lk = ();
         for i in 0..2000 { let q = queue(); q.put(i); box.put(q); box.get(); }
         flush();
         let q = d[\"list\"][0];
         q.put(2);
         print(q.get() + q.get());
         let f = fns.get();
         print([f.call(), f.call()]);",
    );
    assert_eq!(lines, ["42", "[true, false]"]);
}

#[test]
fn handles_captured_by_a_spawns_closures_stay_usable_in_the_child() {
    // The closure the child runs and one among its arguments each capture
    // a queue whose maker lets go before the child uses it.
    let lines = run_flushed(
        "fn child(f, start, r) { start.wait(); r.put(f.call()); }
         fn make(start, r) {
             let a = queue(); a.put(0);
             let b = queue(); b.put(0);
             spawn(|f, start, r| { child(f, start, r); r.put(a.len() + 39); }, [|| b.len() + 1, start, r])
         }
         let r = queue(); let start = event();
         let p = make(start, r);
         flush();
         start.set();
         print(r.get(120) + r.get(120));
         p.join();",
    );
    assert_eq!(lines, ["42"]);
}

#[test]
fn handles_in_a_pools_items_and_results_outlive_their_makers() {
    // Items whose maker let go before a worker takes them, and queues made
    // in the workers and returned, after the job and the workers are gone:
    // each is used afterwards through the hub.
    let lines = run_flushed(
        "fn made(start, x) { start.wait(); let q = queue(); q.put(x); q }
         fn items() { let a = queue(); a.put(0); let b = queue(); b.put(0); [a, b] }
         let start = event();
         let p = pool(2);
         let job = p.map_async(|q| made(start, q.len() + 20), items());
         flush();
         start.set();
         let made = job.get(120);
         job = ();
         p.close(); p.join(); // the workers and what they held are gone
         flush();
         print(made[0].get() + made[1].get() + made[1].len());",
    );
    assert_eq!(lines, ["42"]);
}

#[test]
fn a_handle_captured_by_a_barriers_action_is_kept_while_the_barrier_is() {
    let lines = run_flushed(
        "fn make(r) { let q = queue(); q.put(41); barrier(2, || r.put(q.len() + q.get())) }
         fn waiter(b) { b.wait(); }
         let r = queue();
         let b = make(r);
         flush();
         let p = spawn(waiter, [b]);
         b.wait();
         p.join();
         print(r.get(120));",
    );
    assert_eq!(lines, ["42"]);
}

#[test]
fn results_made_in_a_worker_are_held_until_its_report_arrives() {
    // One chunk of 100 items, each making a queue: the worker's releases of
    // the results it let go of must not reach the hub before its report.
    let lines = run_flushed(
        "fn make(i) { let q = queue(); q.put(i); q }
         let items = []; for i in 0..100 { items.push(i); }
         let qs = pool(1).map(make, items, #{ chunksize: 100 });
         flush();
         print([qs[0].len(), qs[99].len(), qs[99].get()]);",
    );
    assert_eq!(lines, ["[1, 1, 99]"]);
}

#[test]
fn a_processs_result_is_held_until_it_reaches_the_hub_even_under_trace() {
    // Under --trace the child flushes its spans (and with them its pending
    // releases) just before it reports what it returned.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let trace = dir.path().join("trace.json");
    let source = format!(
        "{FLUSH}
         fn child() {{
             let es = []; for i in 0..70 {{ es.push(event()); }}
             let w = event(); w.wait(0.01); w.wait(0.01);
             let q = queue(); q.put(5); q
         }}
         let q = spawn(child, []).join();
         flush();
         print(q.len());"
    );
    let run = run_with(
        &source,
        &["--trace", trace.to_str().expect("utf-8 path")],
        &[],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.lines(), ["1"]);
}
