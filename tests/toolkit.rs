//! The data toolkit (README, "Data toolkit"): counters, statistics,
//! grouping and sorting, regexes and words, in the main script and in
//! workers, and their bad inputs, each one line with its position.

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
        (
            "let re = regex(\"ab(c\");",
            "regex: \"ab(c\" does not compile at column 3: unclosed group",
        ),
        (
            "print(sorted([1, \"a\"]));",
            "sorted: cannot order a string and a i64",
        ),
        (
            "print(group_by([1], 3));",
            "group_by: the key must be a function or a field name",
        ),
        (
            "print(count_by([1, 2], \"x\"));",
            "count_by: the field 'x' of a i64, which is not a map",
        ),
        (
            "print(sum_by([#{k: 1, v: \"x\"}], \"k\", \"v\"));",
            "sum_by: a value is a string, not a number",
        ),
        (
            "print(count_by([#{k: 1.5}], \"k\"));",
            "count_by: a counter's key must be a string, an integer, a character or a boolean, not f64",
        ),
    ];
    for (source, message) in cases {
        let r = run(source);
        assert_eq!(r.code, Some(1), "{source}: {r:?}");
        let first = error_report(&r.stderr);
        assert!(first.ends_with(message), "{source}: {first}");
    }
}

#[test]
fn grouping_and_sorting_by_a_function_or_a_field() {
    let lines = run_ok(
        "let rows = [#{region: \"north\", amount: 10, name: \"b\"},
                     #{region: \"south\", amount: 2.5, name: \"a\"},
                     #{region: \"north\", amount: 5, name: \"c\"}];
         print(group_by(rows, \"region\").north.map(|r| r.name));
         print(count_by(rows, |r| r.region));
         print(sum_by(rows, \"region\", \"amount\"));
         print(sum_by(rows, |r| r.region, |r| 1));
         print(sort_by(rows, \"name\").map(|r| r.name));
         print(sort_by(rows, |r| -r.amount).map(|r| r.name));
         print([sorted([3, 1.5, 2, 10]), sorted([\"b\", \"a\", \"c\"], true), sorted([2, 1.0, 1])]);
         // Rhai's own in-place sort with a two-value comparer keeps its meaning.
         let a = [3, 1, 2]; a.sort_by(|x, y| y - x); print(a);",
    );
    assert_eq!(
        lines,
        [
            "[\"b\", \"c\"]",
            "Counter({\"north\": 2, \"south\": 1})",
            "#{\"north\": 15, \"south\": 2.5}",
            "#{\"north\": 2, \"south\": 1}",
            "[\"a\", \"b\", \"c\"]",
            "[\"b\", \"c\", \"a\"]",
            "[[1.5, 2, 3, 10], [\"c\", \"b\", \"a\"], [1.0, 1, 2]]",
            "[3, 2, 1]",
        ]
    );
}

#[test]
fn regexes_match_find_capture_replace_and_split_in_every_process() {
    let lines = run_ok(
        "let re = regex(`(\\w+)@(\\w+)\\.com`);
         print(re);
         print([re.is_match(\"x a@b.com\"), re.is_match(\"none\"), re.find(\"mail a@b.com, c@d.com\"), re.find(\"none\")]);
         print([re.find_all(\"a@b.com c@d.com\"), re.captures(\"hi a@b.com\"), re.captures(\"none\")]);
         print([re.replace_all(\"a@b.com\", \"$2 at $1\"), regex(`\\s*,\\s*`).split(\"a , b,c\")]);
         print(regex(`(a)|(b)`).captures(\"b\"));
         // A regex crosses processes: a worker's closure captured it.
         print(pool_map(|s| re.find(s), [\"x@y.com\", \"none\"], 2));
         print([words(\"It's 3 o'Clock, DÉJÀ vu\"), replaced(\"a-b-c\", \"-\", \"+\"), trimmed(\"  x \")]);",
    );
    assert_eq!(
        lines,
        [
            "regex(\"(\\\\w+)@(\\\\w+)\\\\.com\")",
            "[true, false, \"a@b.com\", ()]",
            "[[\"a@b.com\", \"c@d.com\"], [\"a@b.com\", \"a\", \"b\"], ()]",
            "[\"b at a\", [\"a\", \"b\", \"c\"]]",
            "[\"b\", (), \"b\"]",
            "[\"x@y.com\", ()]",
            "[[\"it\", \"s\", \"o\", \"clock\", \"déjà\", \"vu\"], \"a+b+c\", \"x\"]",
        ]
    );
}
