//! `pool_map`.

use super::common;
use common::*;

#[test]
fn results_are_in_input_order_from_several_processes() {
    let lines = run_ok(
        "fn f(x) { sleep(if x % 3 == 0 { 0.02 } else { 0 }); [x * x, getpid()] }
         let items = []; for i in 0..30 { items.push(i); }
         let out = pool_map(f, items, #{workers: 3, chunksize: 1});
         let squares = out.map(|r| r[0]);
         let pids = #{}; for r in out { pids[r[1].to_string()] = true; }
         print(squares == items.map(|x| x * x));
         print(pids.len() > 1 && pids.len() <= 3);
         print(!pids.contains(getpid().to_string()));",
    );
    assert_eq!(lines, ["true", "true", "true"]);
}

#[test]
fn every_form_of_the_call() {
    let lines = run_ok(
        "fn cube(x) { x * x * x }
         let k = 1;
         print(pool_map(cube, [1, 2, 3]));
         print(pool_map(cube, [1, 2, 3], 2));
         print(pool_map(cube, [1, 2, 3], #{workers: 2}));
         print(pool_map(cube, [1, 2, 3], #{chunksize: 2}));
         print(pool_map(|x| x + k, [1, 2], 5));
         print(pool_map(Fn(\"cube\"), [], 2));
         print(pool_map(cube, [1, 2, 3], 2, #{chunksize: 1, progress: false}));
         print(pool_map(cube, 1..=3, #{progress: false}));
         let p = pool(#{workers: 2, progress: false});
         print(p.map(cube, [1, 2, 3], #{chunksize: 2, progress: true}));
         print(p.starmap(|a, b| a + b, [[1, 2]], #{progress: false}));
         for x in p.imap_unordered(cube, 1..2, #{chunksize: 1}) { print(x); }",
    );
    assert_eq!(
        lines,
        [
            "[1, 8, 27]",
            "[1, 8, 27]",
            "[1, 8, 27]",
            "[1, 8, 27]",
            "[2, 3]",
            "[]",
            "[1, 8, 27]",
            "[1, 8, 27]",
            "[1, 8, 27]",
            "[3]",
            "1"
        ]
    );
}

#[test]
fn an_error_names_the_item_and_carries_the_message_and_position() {
    let lines = run_ok(
        "fn f(x) {\n    if x == 7 {\n        throw \"bad item\";\n    }\n    x\n}\n\
         let items = []; for i in 0..20 { items.push(i); }\n\
         try { pool_map(f, items, 2); } catch (e) { print(e); }",
    );
    assert_eq!(lines.len(), 1);
    let e = &lines[0];
    assert!(
        e.starts_with("pool_map: item 7 failed in PoolWorker-"),
        "{e}"
    );
    assert!(e.ends_with(": bad item (line 3, position 9)"), "{e}");
}

#[test]
fn a_worker_that_exits_mid_task_fails_the_call_naming_item_and_how() {
    let lines = run_ok(
        "fn f(x) { if x == 2 { exit(0); } if x == 7 { exit(5); } x }
         try { pool_map(f, [0, 1, 2, 3], #{workers: 2, chunksize: 1}); } catch (e) { print(e); }
         try { pool_map(f, [5, 6, 7, 8, 9], #{workers: 1, chunksize: 5}); } catch (e) { print(e); }",
    );
    assert_eq!(lines.len(), 2);
    // Inside a chunk too, the item is the exact one (input index 2 holds the value 7).
    assert!(
        lines[1].ends_with("exited with code 5 while computing item 2"),
        "{}",
        lines[1]
    );
    assert!(
        lines[0].starts_with("pool_map: worker PoolWorker-"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with("exited with code 0 while computing item 2"),
        "{}",
        lines[0]
    );
}

#[test]
fn bad_pool_map_arguments_are_errors() {
    let lines = run_ok(
        "fn f(x) { x } fn two(a, b) { a }
         try { pool_map(f, [1], 0); } catch (e) { print(e); }
         try { pool_map(f, [1], #{workers: -2}); } catch (e) { print(e); }
         try { pool_map(f, [1], #{chunksize: 0}); } catch (e) { print(e); }
         try { pool_map(f, [1], #{speed: 9}); } catch (e) { print(e); }
         try { pool_map(two, [1]); } catch (e) { print(e); }
         try { pool_map(Fn(\"nope\"), [1]); } catch (e) { print(e); }
         try { pool_map(f, [1], #{progress: 1}); } catch (e) { print(e); }
         try { pool_map(f, [1], 2, #{progress: \"no\"}); } catch (e) { print(e); }
         let p = pool(1);
         try { p.map(f, [1], #{workers: 2}); } catch (e) { print(e); }
         try { p.imap(f, [1], #{progress: ()}); } catch (e) { print(e); }
         try { pool(#{progress: 0}); } catch (e) { print(e); }",
    );
    assert_eq!(
        lines,
        [
            "pool_map: workers must be at least 1, not 0",
            "pool_map: workers must be at least 1, not -2",
            "pool_map: chunksize must be at least 1, not 0",
            "pool_map: unknown option 'speed' (known: workers, chunksize, progress)",
            "pool_map: function 'two' takes 2 argument(s), but would be called with 1",
            "pool_map: no function named 'nope' in the script",
            "pool_map: progress must be true or false, not i64",
            "pool_map: progress must be true or false, not string",
            "map: unknown option 'workers' (known: chunksize, progress)",
            "imap: progress must be true or false, not ()",
            "pool: progress must be true or false, not i64",
        ]
    );
}
