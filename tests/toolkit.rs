//! The data toolkit (README, "Data toolkit"): counters and statistics, in
//! the main script and in workers, and their bad inputs, each one line with
//! its position.

mod common;
use common::*;

#[test]
fn a_counter_counts_ranks_and_reads_like_pythons() {
    let lines = run_ok(
        "let c = counter([\"a\", \"b\", \"a\", 1, 'x', true]);
         c.add(\"b\", 5); c.add_all([\"z\", \"z\"]); c.add(1);
         print(c);
         print(c.most_common(3));
         print([c[\"a\"], c.get(\"absent\"), c[\"absent\"], c.len(), c.total()]);
         c[\"q\"] = 4;
         print([c.contains(\"q\"), c.contains(2), c.to_map()]);",
    );
    assert_eq!(
        lines,
        [
            "Counter({\"b\": 6, 1: 2, \"a\": 2, \"z\": 2, true: 1, 'x': 1})",
            "[[\"b\", 6], [1, 2], [\"a\", 2]]",
            "[2, 0, 0, 6, 14]",
            "[true, false, #{\"1\": 2, \"a\": 2, \"b\": 6, \"q\": 4, \"true\": 1, \"x\": 1, \"z\": 2}]",
        ]
    );
}

#[test]
fn workers_return_counters_and_the_main_script_merges_them() {
    let lines = run_ok(
        "fn count(text) { let c = counter(); for w in text.split(\" \") { c.add(w); } c }
         let parts = pool_map(count, [\"to be or\", \"not to be\", \"to go\"], 2);
         let all = counter();
         for part in parts { all.merge(part); }
         print(all.most_common(2));
         print(all.total());
         // Through a queue, to another process and back.
         fn twice(q, r) { let c = q.get(); c.merge(c); r.put(c); }
         let q = queue(); let r = queue();
         let p = spawn(twice, [q, r]);
         q.put(all); p.join();
         print(r.get()[\"to\"]);",
    );
    assert_eq!(lines, ["[[\"to\", 3], [\"be\", 2]]", "8", "6"]);
}

#[test]
fn statistics_match_pythons_statistics_and_numpys_percentile() {
    let lines = run_ok(
        "print([sum([1, 2, 3]), sum([1, 2.5]), mean([1, 2, 3, 4]), median([3, 1, 2]), median([4, 1, 3, 2])]);
         print([percentile([15, 20, 35, 40, 50], 40), percentile([1, 2], 50), percentile([7], 90)]);
         print([stdev([2, 4, 4, 4, 5, 5, 7, 9]), min_of([3, 1.5, 2]), max_of([3, 1.5, 7]), min_of([2, 2.0])]);",
    );
    assert_eq!(
        lines,
        [
            "[6, 3.5, 2.5, 2, 2.5]",
            "[29.0, 1.5, 7.0]",
            "[2.138089935299395, 1.5, 7, 2]",
        ]
    );
}

#[test]
fn bad_toolkit_input_is_one_line_with_its_position() {
    let cases = [
        (
            "let c = counter(); c.add(1.5);",
            "add: a counter's key must be a string, an integer, a character or a boolean, not f64",
        ),
        (
            "let c = counter([[1]]);",
            "counter: a counter's key must be a string, an integer, a character or a boolean, not array",
        ),
        ("print(mean([]));", "mean: the array is empty"),
        ("print(sum([]));", "sum: the array is empty"),
        (
            "print(median([1, \"x\"]));",
            "median: item 1 is a string, not a number",
        ),
        ("print(stdev([1]));", "stdev: needs at least two numbers"),
        (
            "print(percentile([1, 2], 101));",
            "percentile: p must be from 0 to 100, not 101",
        ),
        (
            "print(percentile([1, 2], \"x\"));",
            "percentile: p must be a number, not string",
        ),
        (
            "print(sum([9223372036854775807, 1]));",
            "sum: the sum overflows an integer",
        ),
        ("print(max_of([]));", "max_of: the array is empty"),
    ];
    for (source, message) in cases {
        let r = run(source);
        assert_eq!(r.code, Some(1), "{source}: {r:?}");
        let first = error_report(&r.stderr);
        assert!(first.ends_with(message), "{source}: {first}");
    }
}
