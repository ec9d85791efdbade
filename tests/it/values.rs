//! Every value a script moves crosses processes unchanged.

use super::common;
use common::*;

const SAMPLES: &str = "
    fn samples() {
        [(), true, false, 42, -9223372036854775807, 0.1 + 0.2, 1.0e300, -0.0, 'x', '€',
         \"text with ünïcode\", [1, [2, [3]]], #{a: 1, b: #{c: [true, ()]}}, blob(3, 0xab), \"\"]
    }
    fn echo(v) { v }
    fn same(a, b) { type_of(a) == type_of(b) && a.to_debug() == b.to_debug() }
    fn all_same(xs, ys) { if xs.len() != ys.len() { return false; } for i in 0..xs.len() { if !same(xs[i], ys[i]) { print(`differs: ${xs[i]} ${ys[i]}`); return false; } } true }
";

#[test]
fn values_survive_arguments_and_return_values() {
    let lines = run_ok(&format!(
        "{SAMPLES}
         let xs = samples();
         let back = xs.map(|v| spawn(echo, [v]).join());
         print(all_same(xs, back));
         print(all_same(xs, pool_map(echo, xs, 3)));
         let p = pool(2);
         print(all_same(xs, p.map(echo, xs)));
         let it = [];
         for v in p.imap(echo, xs) {{ it.push(v); }}
         print(all_same(xs, it));
         print(all_same(xs, xs.map(|v| p.apply(echo, [v]))));
         print(all_same(xs, p.starmap(echo, xs.map(|v| [v]))));
         print(all_same(xs, p.map_async(echo, xs, 4).get()));"
    ));
    assert_eq!(
        lines,
        ["true", "true", "true", "true", "true", "true", "true"]
    );
}

#[test]
fn values_survive_queues_and_lists() {
    let lines = run_ok(&format!(
        "{SAMPLES}
         fn relay(inq, outq, l) {{ for i in 0..15 {{ let v = inq.get(); outq.put(v); l.push(v); }} }}
         let xs = samples();
         let inq = queue(); let outq = queue(); let l = manager_list();
         let p = spawn(relay, [inq, outq, l]);
         for v in xs {{ inq.put(v); }}
         let got = []; for i in 0..15 {{ got.push(outq.get()); }}
         p.join();
         print(all_same(xs, got)); print(all_same(xs, l.to_array()));"
    ));
    assert_eq!(lines, ["true", "true"]);
}

#[test]
fn floats_cross_bit_exact() {
    let lines = run_ok(
        "fn echo(v) { v }
         let x = 0.1 + 0.2; let tiny = 5e-324;
         print(spawn(echo, [x]).join().to_debug() == x.to_debug());
         print(spawn(echo, [tiny]).join().to_debug() == tiny.to_debug());
         print(spawn(echo, [x]).join().to_debug() == 0.3.to_debug());",
    );
    assert_eq!(lines, ["true", "true", "false"]);
}

#[test]
fn handles_travel_through_queues_lists_and_arguments() {
    let lines = run_ok(
        "fn use_it(outer) { let inner = outer.get(); inner.put(\"through a queue in a queue\"); }
         fn from_list(l) { l[0].put(\"through a list\"); l[1].acquire(); let held = l[1].is_locked(); l[1].release(); held }
         fn sub() { 7 }
         fn joiner(p) { p.join() }
         let outer = queue(); let inner = queue();
         outer.put(inner);
         spawn(use_it, [outer]).join();
         print(inner.get());
         let lk = lock();
         let l = manager_list([inner, lk]);
         let held = spawn(from_list, [l]).join();
         print(inner.get());
         print(held); print(lk.is_locked());
         let p = spawn(sub);
         print(spawn(joiner, [p]).join());",
    );
    assert_eq!(
        lines,
        [
            "through a queue in a queue",
            "through a list",
            "true",
            "false",
            "7"
        ]
    );
}

#[test]
fn functions_travel_and_are_called_elsewhere() {
    let lines = run_ok(
        "fn call_it(f, x) { f.call(x) }
         fn double(x) { x * 2 }
         let k = 100;
         let q = queue();
         q.put(|x| x + k);
         print(spawn(call_it, [q.get(), 1]).join());
         print(spawn(call_it, [Fn(\"double\"), 4]).join());
         print(spawn(call_it, [double, 5]).join());",
    );
    assert_eq!(lines, ["101", "8", "10"]);
}

#[test]
fn an_unsendable_value_is_refused_at_the_call_that_tried() {
    let lines = run_ok(
        "let q = queue(); let l = manager_list();
         try { q.put(timestamp()); } catch (e) { print(e); }
         try { l.push([1, timestamp()]); } catch (e) { print(e); }
         fn f(x) { x }
         try { pool_map(f, [1, #{t: timestamp()}]); } catch (e) { print(e); }
         print(q.len()); print(l.len());",
    );
    assert_eq!(
        lines,
        [
            "put: a value of type 'timestamp' cannot be sent to another process",
            "push: a value of type 'timestamp' cannot be sent to another process",
            "pool_map: a value of type 'timestamp' cannot be sent to another process",
            "0",
            "0",
        ]
    );
}

#[test]
fn a_chain_of_closures_past_the_depth_limit_is_refused_not_a_crash() {
    let lines = run_ok(
        "fn id(x) { x }
         let f = Fn(\"id\");
         for i in 0..600 { f = Fn(\"id\").curry(f); }
         try { queue().put(f); } catch (e) { print(e); }",
    );
    assert_eq!(
        lines,
        ["put: a value nested more than 512 arrays or maps deep cannot be sent to another process"]
    );
}
