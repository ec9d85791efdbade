//! What workers inherit: top-level constants through `global::`, the modules
//! the script imported (its own, beside it, and the shipped `stdlib/`).

use super::common;
use common::*;

/// Runs `source` as `script.rhai` in a folder that also holds `files`.
fn run_in_folder(source: &str, files: &[(&str, &str)]) -> Run {
    let s = script(source);
    for (name, text) in files {
        let path = s.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("module folder");
        }
        std::fs::write(path, text).expect("write module");
    }
    finish(start_file(&s.path, &[]))
}

#[test]
fn workers_see_top_level_constants_through_global() {
    let lines = run_ok(
        "const LIMIT = 10;
         const NAMES = [\"a\", \"b\"];
         const Q = queue();
         fn plus_limit(x) { x + global::LIMIT }
         fn names() { global::NAMES }
         fn send(x) { global::Q.put(x * global::LIMIT); }
         fn nested() { spawn(plus_limit, [5]).join() }
         print(spawn(plus_limit, [1]).join());
         print(spawn(names).join());
         print(pool_map(plus_limit, [1, 2, 3], 2));
         let p = pool(2);
         print(p.map(plus_limit, [7]));
         spawn(send, [3]).join();
         print(Q.get());
         print(spawn(nested).join());",
    );
    assert_eq!(
        lines,
        ["11", "[\"a\", \"b\"]", "[11, 12, 13]", "[17]", "30", "15"]
    );
}

#[test]
fn constants_are_those_declared_when_the_worker_started_and_nothing_reruns() {
    let lines = run_ok(
        "fn late() { global::LATE }
         let counter = value(0);
         counter.add(1);
         let early = process(late);
         const LATE = 99;
         let p = spawn(late); p.join();
         print(p.exitcode);
         print(spawn(late).join());
         early.start(); early.join();
         print(early.exitcode);
         print(counter.get());",
    );
    // `early` was made before LATE existed; the top level's `counter.add`
    // ran once, in the main process only.
    assert_eq!(lines, ["0", "99", "1", "1"]);
}

#[test]
fn the_stdlib_is_importable_by_name_in_the_script_and_in_workers() {
    let lines = run_ok(
        "import \"parallel\" as par;
         fn sq(x) { x * x }
         fn uses_module(x) { par::sum([x, x, x]) }
         print(par::chunks([1, 2, 3, 4, 5], 2));
         print(par::split([1, 2, 3, 4, 5], 2));
         print(par::flatten([[1], [2, 3]]));
         print(par::sum(par::map(sq, [1, 2, 3])));
         print(par::reduce(|a, b| a + b, [1, 2, 3, 4, 5, 6, 7], 0));
         print(par::map_reduce(sq, |a, b| a + b, [1, 2, 3, 4], 0));
         print(par::filter(|x| x % 2 == 0, [1, 2, 3, 4]));
         print(spawn(uses_module, [5]).join());
         print(pool_map(uses_module, [1, 2]));",
    );
    assert_eq!(
        lines,
        [
            "[[1, 2], [3, 4], [5]]",
            "[[1, 2], [3, 4, 5]]",
            "[1, 2, 3]",
            "14",
            "28",
            "30",
            "[2, 4]",
            "15",
            "[3, 6]"
        ]
    );
}

#[test]
fn the_scripts_own_modules_resolve_beside_it_and_their_closures_reach_workers() {
    let r = run_in_folder(
        "import \"lib/helpers\" as h;
         fn inc(x) { x + 1 }
         fn uses_module(x) { h::triple(x) }
         print(h::triple(2));
         print(spawn(uses_module, [5]).join());
         print(h::scaled(inc, [1, 2]));",
        &[(
            "lib/helpers.rhai",
            "fn triple(x) { x * 3 }
             fn scaled(f, xs) { pool_map(|x| f.call(x) * 3, xs) }",
        )],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.lines(), ["6", "15", "[6, 9]"]);
}

#[test]
fn the_scripts_module_wins_over_a_stdlib_module_of_the_same_name() {
    let r = run_in_folder(
        "import \"parallel\" as par;\nprint(par::who());",
        &[("parallel.rhai", "fn who() { \"mine\" }")],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.lines(), ["mine"]);
}

#[test]
fn a_missing_or_broken_module_is_a_one_line_error_with_the_position() {
    let r = run_in_folder("let x = 1;\nimport \"nowhere\" as n;", &[]);
    assert_eq!(r.code, Some(1));
    let first = error_report(&r.stderr);
    assert!(
        first.ends_with(":2:8: Module not found: nowhere"),
        "{}",
        r.stderr
    );
    let r = run_in_folder("import \"broken\" as b;", &[("broken.rhai", "fn x( {")]);
    assert_eq!(r.code, Some(1));
    let first = error_report(&r.stderr);
    assert!(
        first.contains(":1:8: in module 'broken': Syntax error"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_modules_closure_stays_a_function_when_sent_as_a_value() {
    let r = run_in_folder(
        "import \"lib/helpers\" as h;
         let p = pool(1);
         print(p.apply(|f| type_of(f), [h::adder(7)]));
         print(p.apply(|f| f.call(1), [h::adder(7)]));
         let q = queue(); q.put(h::adder(7)); print(type_of(q.get()));",
        &[("lib/helpers.rhai", "fn adder(n) { |x| x + n }")],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.lines(), ["Fn", "8", "Fn"]);
}

#[test]
fn an_import_without_a_name_does_not_stop_workers() {
    let lines = run_ok(
        "import \"parallel\";
         fn f(x) { x * 2 }
         print(pool_map(f, [1, 2, 3]));
         print(spawn(f, [4]).join());",
    );
    assert_eq!(lines, ["[2, 4, 6]", "8"]);
}

#[test]
fn an_import_cycle_is_an_error_at_the_import_not_a_stack_overflow() {
    // `a` and `b` import each other: the second import of `a` is refused.
    let r = run_in_folder(
        "import \"a\" as a;\nprint(a::f());",
        &[
            ("a.rhai", "import \"b\" as b;\nfn f() { 1 }"),
            ("b.rhai", "import \"a\" as a;\nfn g() { 2 }"),
        ],
    );
    assert_eq!(r.code, Some(1), "{r:?}");
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains("import \"a\": ")
            && first.contains("is already being loaded (an import cycle)"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("overflow"), "{}", r.stderr);
}

#[test]
fn a_script_named_like_a_stdlib_module_cannot_import_itself() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("parallel.rhai");
    std::fs::write(
        &script,
        "print(\"top\");\nimport \"parallel\" as par;\nprint(par::sum([1, 2]));\n",
    )
    .expect("write the script");
    let r = finish(start_file(&script, &[]));
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(r.lines(), ["top"], "the top level runs once");
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(
        first.ends_with("is the script itself (rename the script to import the standard module)"),
        "{}",
        r.stderr
    );
}
