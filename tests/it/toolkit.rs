//! The data toolkit (docs/src/toolkit.md): counters, statistics,
//! grouping and sorting, regexes and words, in the main script and in
//! workers, and their bad inputs, each one line with its position.

use super::common;
use common::*;

#[test]
fn a_counter_counts_ranks_and_reads_like_pythons() {
    let lines = run_ok(
        "let c = counter([\"a\", \"b\", \"a\", 1, 'x', true]);
         c.add(\"b\", 5); c.add_all([\"z\", \"z\"]); c.add(1);
         print(c);
         print(c.most_common(3));
         print([c[\"a\"], c.get(\"absent\"), c[\"absent\"], c.len(), c.total()]);
         c[\"q\"] = 4; c[\"zero\"] = 0;
         print([c.contains(\"q\"), c.contains(\"zero\"), c.contains(2), c.to_map()]);",
    );
    assert_eq!(
        lines,
        [
            "Counter({\"b\": 6, 1: 2, \"a\": 2, \"z\": 2, true: 1, 'x': 1})",
            "[[\"b\", 6], [1, 2], [\"a\", 2]]",
            "[2, 0, 0, 6, 14]",
            "[true, true, false, #{\"1\": 2, \"a\": 2, \"b\": 6, \"q\": 4, \"true\": 1, \"x\": 1, \"z\": 2, \"zero\": 0}]",
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
            "sorted: cannot order a number and a string (item 1)",
        ),
        (
            "print(sort_by([1, 2], |x| [x]));",
            "sort_by: the key of item 0 is a array, which does not order",
        ),
        (
            "print(round(9223372036854775807, -1));",
            "round: 9223372036854775807 rounded overflows an integer",
        ),
        (
            "print(format_time(0.0 / 0.0, \"%Y\"));",
            "format_time: NaN is not a time",
        ),
        (
            "let re = regex(`\\p{Nope}`);",
            "regex: \"\\\\p{Nope}\" does not compile at column 1: Unicode property not found",
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
            "sum_by: the value of item 0 is a string, not a number",
        ),
        (
            "print(parse_time(\"yesterday\"));",
            "parse_time: \"yesterday\" is not an RFC 3339 time: failed to parse four digit integer as year: invalid digit, expected 0-9 but got y",
        ),
        (
            "print(to_fixed(1.5, -1));",
            "to_fixed: digits must be from 0 to 100, not -1",
        ),
        ("print(round(\"x\", 1));", "round: string is not a number"),
        (
            "print(mul([1, 2], [1, 2, 3]));",
            "mul: arrays of 2 and 3 items; they must be of one length",
        ),
        (
            "print(add([1, \"x\"], 1));",
            "add: item 1 is a string, not a number",
        ),
        ("print(div([1, 2], [1, 0]));", "div: item 1 divides by zero"),
        (
            "print(mul([9223372036854775807], 2));",
            "mul: item 0 overflows an integer",
        ),
        (
            "print(compare([1], \"=>\", 1));",
            "compare: the operator '=>' is not one of == != < <= > >=",
        ),
        (
            "print(compare([1, \"a\"], \"<\", 2));",
            "compare: cannot order a string and a number (item 1)",
        ),
        (
            "print(select([1, 2], [true, 1]));",
            "select: the mask's item 1 is a i64, not a boolean",
        ),
        (
            "print(select([1, 2], [true]));",
            "select: arrays of 2 and 1 items; they must be of one length",
        ),
        (
            "print(zip_join([[1], 2], \" \"));",
            "zip_join: column 1 is a i64, not an array",
        ),
        (
            "print(zip_join([[1], [2, 3]], \" \"));",
            "zip_join: arrays of 1 and 2 items; they must be of one length",
        ),
        (
            "print(group_by([\"a\"], [1, 2]));",
            "group_by: 1 keys and 2 values; they must be of one length",
        ),
        (
            "print(sum_by([\"a\", \"b\"], [1, \"x\"]));",
            "sum_by: the value of item 1 is a string, not a number",
        ),
        (
            "print(compare([[1]], \"<\", 2));",
            "compare: item 0 is a array, which does not order",
        ),
        (
            "print(compare([1], \">=\", ()));",
            "compare: cannot order by a ()",
        ),
        (
            "for b in lines(\"/\", -1) {}",
            "lines: n must be positive, not -1",
        ),
        (
            "for b in csv_columns(\"/\", 0) {}",
            "csv_columns: rows must be positive, not 0",
        ),
        (
            "print(json_columns(\"/\", [1]));",
            "json_columns: field 0 is a i64, not a name",
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
         let nan = 0.0 / 0.0;
         print([sorted([2, nan, 1]), min_of([1, nan]), max_of([1, nan]).is_nan]);
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
            "[[1, 2, NaN], 1, true]",
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

/// Writes `path` with `lines` lines of 80 bytes, gzipped when `gz`.
fn write_big(path: &std::path::Path, lines: usize, gz: bool) {
    use std::io::Write;
    let file = std::fs::File::create(path).expect("create the big file");
    let mut out: Box<dyn Write> = match gz {
        true => Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        )),
        false => Box::new(std::io::BufWriter::new(file)),
    };
    for i in 0..lines {
        writeln!(out, "{i:>10} {}", "x".repeat(68)).expect("write the big file");
    }
    out.flush().expect("flush the big file");
}

#[test]
fn a_worker_streaming_a_big_file_holds_one_line_at_a_time() {
    // 500,000 lines of 80 bytes: 40 MB as text, and gzipped. A worker that
    // counts them with `lines`, and reads them as CSV in batches with
    // `csv_columns`, peaks far below the file's size.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (text, gz) = (dir.path().join("big.txt"), dir.path().join("big.txt.gz"));
    write_big(&text, 500_000, false);
    write_big(&gz, 500_000, true);
    let lines = run_ok(&format!(
        "fn count(path) {{
             let n = 0; for line in lines(path) {{ n += 1; }}
             // One column (the first line is its header), 4,096 rows a batch.
             let rows = 0;
             for batch in csv_columns(path, 4096) {{ rows += batch.values()[0].len(); }}
             if rows != n - 1 {{ throw `csv_columns read ${{rows}} rows of ${{n - 1}}`; }}
             let peak = read_lines(\"/proc/self/status\").filter(|l| l.starts_with(\"VmHWM:\"));
             [n, parse_int(regex(`\\d+`).find(peak[0]))]
         }}
         for path in [\"{}\", \"{}\"] {{
             let got = spawn(count, [path]).join();
             print(got[0]);
             if got[1] >= 32 * 1024 {{ print(`peak ${{got[1]}} KiB`); }}
         }}",
        text.display(),
        gz.display()
    ));
    assert_eq!(lines, ["500000", "500000"]);
}

#[test]
fn readers_read_gzip_and_name_the_file_and_line_of_a_bad_row() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(path("r.csv"), "name,n\nx,1\ny,2\n").expect("write");
    std::fs::write(path("bad.csv"), "name,n\nx,1\ny\n").expect("write");
    std::fs::write(path("j.jsonl"), "{\"a\":1}\n\n{\"a\":2}\n").expect("write");
    std::fs::write(path("bad.jsonl"), "{\"a\":1}\n{oops\n").expect("write");
    std::fs::write(path("t.txt"), "a\nb\r\nc").expect("write");
    std::fs::write(path("empty.gz"), "").expect("write");
    write_big(std::path::Path::new(&path("t.gz")), 3, true);
    let lines = run_ok(&format!(
        "let dir = \"{}\";
         let all = []; for l in lines(dir + \"/t.txt\") {{ all.push(l); }} print(all);
         let all = []; for b in lines(dir + \"/t.txt\", 2) {{ all.push(b); }} print(all);
         let n = 0; for l in lines(dir + \"/t.gz\") {{ n += 1; }} print(n);
         print([read_lines(dir + \"/t.gz\").len(), read_text(dir + \"/t.gz\").len(), read_lines(dir + \"/empty.gz\")]);
         for r in csv_rows(dir + \"/r.csv\") {{ print(r); }}
         for v in json_lines(dir + \"/j.jsonl\") {{ print(v.a); }}
         try {{ for r in csv_rows(dir + \"/bad.csv\") {{ n += 1; }} }} catch (e) {{ print(e); }}
         try {{ for v in json_lines(dir + \"/bad.jsonl\") {{ n += 1; }} }} catch (e) {{ print(e); }}",
        dir.path().display()
    ));
    let dir = dir.path().display();
    assert_eq!(
        lines,
        [
            "[\"a\", \"b\", \"c\"]".to_string(),
            "[[\"a\", \"b\"], [\"c\"]]".to_string(),
            "3".to_string(),
            "[3, 240, []]".to_string(),
            "#{\"n\": \"1\", \"name\": \"x\"}".to_string(),
            "#{\"n\": \"2\", \"name\": \"y\"}".to_string(),
            "1".to_string(),
            "2".to_string(),
            format!("csv_rows: {dir}/bad.csv line 3: 1 field(s) where the header has 2"),
            format!("json_lines: {dir}/bad.jsonl line 2: key must be a string at column 2"),
        ]
    );
    let r = run(&format!("lines(\"{dir}/absent.txt\");"));
    let first = error_report(&r.stderr);
    assert!(
        first.ends_with("lines: cannot read") || first.contains("lines: cannot read"),
        "{first}"
    );
}

#[test]
fn numbers_round_and_print_as_pythons_and_times_read_and_print_in_utc() {
    let lines = run_ok(
        "print([round(2.675, 2), round(7, 1), round(1234.5, -2), to_fixed(3.14159, 2), to_fixed(2, 3)]);
         print([round(1234, -2), round(1250, -2), round(5.0, -400)]);
         let t = parse_time(\"2026-12-06T01:02:03.25+01:00\");
         print([t, format_time(t, \"%Y-%m-%d %H:%M:%S\"), parse_time(\"06/12/2026 00:02\", \"%d/%m/%Y %H:%M\")]);
         // In a worker too, and across the wire as plain floats.
         print(pool_map(|s| format_time(parse_time(s), \"%H:%M\"), [\"2026-01-01T10:30:00Z\"], 1));",
    );
    assert_eq!(
        lines,
        [
            "[2.67, 7, 1200.0, \"3.14\", \"2.000\"]",
            "[1200, 1200, 0.0]",
            "[1796515323.25, \"2026-12-06 00:02:03\", 1796515320.0]",
            "[\"10:30\"]",
        ]
    );
}

#[test]
fn columns_read_typed_from_csv_and_json_whole_or_in_batches_in_every_process() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = |name: &str| dir.path().join(name).display().to_string();
    let csv = "id,n,x,name,note\n1,10,2.5,ann,\n2,,3,bob,\n3,7,-1e2,ann,\n";
    std::fs::write(path("t.csv"), csv).expect("write");
    write_gz(&path("t.csv.gz"), csv);
    std::fs::write(path("h.csv"), "a,b\n").expect("write");
    std::fs::write(path("bad.csv"), "a,b\n1,2\n3\n").expect("write");
    // Batches of two: the first all empty in `n`, the third floats in `x`.
    std::fs::write(
        path("b.csv"),
        "n,x,k,k\n,1,a,b\n,2,c,d\n5,3,e,f\n7,4.5,g,h\n,6,i,j\n",
    )
    .expect("write");
    std::fs::write(
        path("t.jsonl"),
        "{\"s\":\"a\",\"n\":1,\"tags\":[1,{\"k\":true}]}\n\n{\"n\":2.5,\"s\":\"b\",\"extra\":null}\n{\"n\":3,\"n\":4}\n",
    )
    .expect("write");
    std::fs::write(path("bad.jsonl"), "{\"a\":1}\n[2]\n").expect("write");
    std::fs::write(path("empty.jsonl"), "").expect("write");
    let lines = run_ok(&format!(
        "let dir = \"{}\";
         print(csv_columns(dir + \"/t.csv\"));
         print(csv_columns(dir + \"/t.csv.gz\", [\"name\", \"n\"]));
         for b in csv_columns(dir + \"/t.csv\", [\"x\"], 2) {{ print(b); }}
         print(csv_columns(dir + \"/h.csv\"));
         for b in csv_columns(dir + \"/b.csv\", 2) {{ print([b.n, b.x]); }}
         print([csv_columns(dir + \"/b.csv\").k, csv_columns(dir + \"/b.csv\", [\"k\"]).k]);
         print(json_columns(dir + \"/t.jsonl\"));
         print(json_columns(dir + \"/t.jsonl\", [\"n\", \"absent\"]));
         for b in json_columns(dir + \"/t.jsonl\", 2) {{ print(b.n); }}
         print([json_columns(dir + \"/empty.jsonl\"), json_columns(dir + \"/empty.jsonl\", [\"a\"])]);
         // The same calls in a worker, and their columns back.
         fn cols(path) {{ let c = csv_columns(path); sum_by(c.name, c.id) }}
         print(pool_map(cols, [dir + \"/t.csv\", dir + \"/t.csv.gz\"], 2));
         for name in [\"bad.csv\", \"bad.jsonl\"] {{
             let read = if name.ends_with(\"csv\") {{ |p| csv_columns(p, 1) }} else {{ |p| json_columns(p, 1) }};
             let got = [];
             try {{ for b in read.call(dir + \"/\" + name) {{ got.push(b.a); }} }} catch (e) {{ got.push(e); }}
             print(got);
         }}
         try {{ csv_columns(dir + \"/t.csv\", [\"nope\"]); }} catch (e) {{ print(e); }}",
        dir.path().display()
    ));
    let dir = dir.path().display();
    assert_eq!(
        lines,
        [
            "#{\"id\": [1, 2, 3], \"n\": [10, (), 7], \"name\": [\"ann\", \"bob\", \"ann\"], \"note\": [(), (), ()], \"x\": [2.5, 3.0, -100.0]}".to_string(),
            "#{\"n\": [10, (), 7], \"name\": [\"ann\", \"bob\", \"ann\"]}".to_string(),
            "#{\"x\": [2.5, 3.0]}".to_string(),
            "#{\"x\": [-100.0]}".to_string(),
            "#{\"a\": [], \"b\": []}".to_string(),
            "[[(), ()], [1, 2]]".to_string(),
            "[[5, 7], [3.0, 4.5]]".to_string(),
            "[[()], [6.0]]".to_string(),
            "[[\"b\", \"d\", \"f\", \"h\", \"j\"], [\"b\", \"d\", \"f\", \"h\", \"j\"]]".to_string(),
            "#{\"extra\": [(), (), ()], \"n\": [1, 2.5, 4], \"s\": [\"a\", \"b\", ()], \"tags\": [[1, #{\"k\": true}], (), ()]}".to_string(),
            "#{\"absent\": [(), (), ()], \"n\": [1, 2.5, 4]}".to_string(),
            "[1, 2.5]".to_string(),
            "[4]".to_string(),
            "[#{}, #{\"a\": []}]".to_string(),
            "[#{\"ann\": 4, \"bob\": 2}, #{\"ann\": 4, \"bob\": 2}]".to_string(),
            format!("[[1], \"csv_columns: {dir}/bad.csv line 3: 1 field(s) where the header has 2\"]"),
            format!("[[1], \"json_columns: {dir}/bad.jsonl line 2: invalid type: sequence, expected an object at column 0\"]"),
            format!("csv_columns: {dir}/t.csv: no column 'nope' (the header has id, n, x, name, note)"),
        ]
    );
}

fn write_gz(path: &str, text: &str) {
    use std::io::Write;
    let file = std::fs::File::create(path).expect("create the gzip file");
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    gz.write_all(text.as_bytes()).expect("write the gzip file");
    gz.finish().expect("finish the gzip file");
}

#[test]
fn whole_column_calls_work_item_by_item_as_numpy_and_pandas_do() {
    let lines = run_ok(
        "let units = [2, 3, (), 4]; let price = [1.5, 2, 9, 0.25];
         print([mul(units, price), add(units, 1), sub(10, units), div([1, 3], 2), mul(2, 3)]);
         print([compare(units, \">=\", 3), compare([\"a\", 1], \"==\", \"a\"), compare([1, 2.5], \"!=\", 2.5), compare([(), 1], \"<\", 2)]);
         print(select([\"a\", \"b\", \"c\"], [true, false, true]));
         let nan = 0.0 / 0.0;
         print([compare([nan, 1.0], \">\", 0), compare([nan], \"==\", nan), compare([nan], \"!=\", nan), compare([1, (), [1]], \"==\", ())]);
         print(sum_by([\"a\", \"b\", \"a\"], [1, (), 2.5]));
         let region = [\"n\", \"s\", \"n\", \"n\"]; let product = [\"x\", \"y\", \"x\", \"z\"];
         let keys = zip_join([region, product, [1, 2, 3, 4]], \"/\");
         print([keys, join([\"a\", 1, (), 2.5], \",\"), join([], \",\")]);
         print(sum_by(zip_join([region, product], \" \"), [1, 2.5, 3, 4]));
         print(sum_by(region, [1, 2, 3, 4]));
         print(group_by(region, [10, 20, 30, 40]));
         print(counter(select(region, compare([1, 2, 3, 4], \">\", 1))));
         // A worker does the same.
         fn total(pair) { sum_by(pair[0], pair[1]) }
         print(pool_map(total, [[[\"a\", \"a\"], [1, 2]], [[\"b\"], [0.5]]], 2));
         let c = counter(); c.add_words(\"It's the the THE déjà-vu; ΣΑΣ\"); c.add_words(\"\");
         print(c.most_common(3)); print([c.total(), c[\"σας\"], c[\"déjà\"]]);",
    );
    assert_eq!(
        lines,
        [
            "[[3.0, 6, (), 1.0], [3, 4, (), 5], [8, 7, (), 6], [0.5, 1.5], 6]",
            "[[false, true, false, true], [true, false], [true, false], [false, true]]",
            "[\"a\", \"c\"]",
            "[[false, true], [false], [true], [false, true, false]]",
            "#{\"a\": 3.5, \"b\": 0}",
            "[[\"n/x/1\", \"s/y/2\", \"n/x/3\", \"n/z/4\"], \"a,1,,2.5\", \"\"]",
            "#{\"n x\": 4, \"n z\": 4, \"s y\": 2.5}",
            "#{\"n\": 8, \"s\": 2}",
            "#{\"n\": [10, 30, 40], \"s\": [20]}",
            "Counter({\"n\": 2, \"s\": 1})",
            "[#{\"a\": 3}, #{\"b\": 0.5}]",
            "[[\"the\", 3], [\"déjà\", 1], [\"it\", 1]]",
            "[8, 1, 1]",
        ]
    );
}
