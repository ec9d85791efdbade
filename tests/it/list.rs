//! `manager_list()`.

use super::common;
use common::*;

#[test]
fn every_list_call() {
    let lines = run_ok(
        "let l = manager_list([1, 2]);
         l.push(3); l.insert(0, 0); l.append([4, 5]);
         print(l); print(l.len()); print(l.is_empty());
         print(l[0]); print(l[-1]); l[1] = \"one\"; print(l[1]);
         print(l.contains(3)); print(l.contains(99));
         print(l.pop()); print(l.remove(0)); print(l.to_array());
         let seen = []; for x in l { seen.push(x); } print(seen);
         print(type_of(l.to_array()));
         l.clear(); print(l.is_empty()); print(l.pop());
         print(manager_list());",
    );
    assert_eq!(
        lines,
        [
            "[0, 1, 2, 3, 4, 5]",
            "6",
            "false",
            "0",
            "5",
            "one",
            "true",
            "false",
            "5",
            "0",
            "[\"one\", 2, 3, 4]",
            "[\"one\", 2, 3, 4]",
            "array",
            "true",
            "",
            "[]",
        ]
    );
}

#[test]
fn out_of_range_indices_are_errors() {
    let lines = run_ok(
        "let l = manager_list([1]);
         try { l[5]; } catch (e) { print(e); }
         try { l.remove(-3); } catch (e) { print(e); }
         try { l[1] = 2; } catch (e) { print(e); }",
    );
    assert_eq!(
        lines,
        [
            "list index 5 out of range for a list of length 1",
            "list index -3 out of range for a list of length 1",
            "list index 1 out of range for a list of length 1",
        ]
    );
}

#[test]
fn two_processes_appending_lose_nothing() {
    let lines = run_ok(
        "fn add(l) { for i in 0..500 { l.push(i); } }
         let l = manager_list();
         let a = spawn(add, [l]); let b = spawn(add, [l]);
         a.join(); b.join();
         let items = l.to_array(); items.sort();
         let ok = true; for i in 0..1000 { if items[i] != i / 2 { ok = false; } }
         print(l.len()); print(ok);",
    );
    assert_eq!(lines, ["1000", "true"]);
}

#[test]
fn pushes_keep_their_order_with_appends_clears_and_a_full_ring() {
    // Pushes go through shared memory, appends and clears as messages; a
    // worker's 20,000 pushes overfill the ring and go on as messages.
    let lines = run_ok(
        "fn fill(l, n) { for i in 0..n { l.push(i); } }
         fn mixed(l) { l.push(1); l.append([2, 3]); l.push(4); l.clear(); l.push(5); l.append([6]); l.push(7); }
         let a = manager_list();
         spawn(mixed, [a]).join();
         print(a.to_array());
         let b = manager_list();
         spawn(fill, [b, 20000]).join();
         let bad = 0; let i = 0;
         for x in b.to_array() { if x != i { bad += 1; } i += 1; }
         print(`${b.len()} ${bad}`);
         b.push(\"mine\"); print(b[-1]);",
    );
    assert_eq!(lines, ["[5, 6, 7]", "20000 0", "mine"]);
}
