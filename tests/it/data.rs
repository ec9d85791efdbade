//! Files, JSON and CSV from scripts, in the main process and in workers.

use super::common;
use common::*;

/// Runs `source` as `script.rhai` from inside its own folder, which also holds `files`.
fn run_here(source: &str, files: &[(&str, &str)]) -> Run {
    let s = script(source);
    for (name, text) in files {
        let path = s.dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("folder");
        std::fs::write(path, text).expect("write a data file");
    }
    let child = mphost_run()
        .arg(&s.path)
        .current_dir(s.dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start mphost");
    finish(child)
}

#[test]
fn text_files_lines_globs_and_listings() {
    let r = run_here("write_text(\"out/a.txt\", \"one\\ntwo\\n\");", &[]);
    assert_eq!(r.code, Some(1), "the first write has no folder yet: {r:?}");
    assert!(
        r.stderr
            .contains(":1:1: write_text: cannot write out/a.txt: no such file or directory"),
        "{}",
        r.stderr
    );
    let r = run_here(
        "make_dir(\"out\");
         write_text(\"out/a.txt\", \"one\\ntwo\\n\");
         append_text(\"out/a.txt\", \"three\\n\");
         print(read_text(\"out/a.txt\").len());
         print(read_lines(\"out/a.txt\"));
         print(glob(\"in/*.txt\"));
         print(list_dir(\"in\"));
         let info = file_info(\"in/b.txt\");
         print([info.size, info.is_file, info.is_dir, info.modified > 0.0]);
         print([exists(\"in\"), exists(\"nope\")]);
         remove_file(\"out/a.txt\");
         print(exists(\"out/a.txt\"));
         print(pool_map(|p| read_text(p).len(), glob(\"in/*.txt\"), 2));",
        &[("in/b.txt", "bb"), ("in/a.txt", "a"), ("in/c.csv", "x")],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        r.lines(),
        [
            "14",
            "[\"one\", \"two\", \"three\"]",
            "[\"in/a.txt\", \"in/b.txt\"]",
            "[\"a.txt\", \"b.txt\", \"c.csv\"]",
            "[2, true, false, true]",
            "[true, false]",
            "false",
            "[1, 2]"
        ]
    );
}

#[test]
fn json_round_trips_maps_and_arrays() {
    let lines = run_ok(
        "let v = parse_json(`{\"name\": \"x\", \"n\": 3, \"f\": 1.5, \"ok\": true, \"none\": null, \"list\": [1, [2]]}`);
         print(v.name); print(v.n + 1); print(v.f); print(v.ok); print(v.none == ()); print(v.list[1][0]);
         print(to_json(#{b: [1, 2.5, \"s\"], a: ()}));
         print(parse_json(to_json(v)) == v);
         print(to_json_pretty([1]));",
    );
    assert_eq!(
        lines,
        [
            "x",
            "4",
            "1.5",
            "true",
            "true",
            "2",
            "{\"a\":null,\"b\":[1,2.5,\"s\"]}",
            "true",
            "[",
            "  1",
            "]"
        ]
    );
}

#[test]
fn csv_reads_into_maps_by_header_and_writes_back() {
    let r = run_here(
        "let rows = read_csv(\"in.csv\");
         print(rows.len()); print(rows[0].city); print(rows[1].count);
         write_csv(\"out.csv\", rows, [\"count\", \"city\"]);
         print(read_text(\"out.csv\"));
         write_csv(\"plain.csv\", [[\"a\", 1], [\"b, c\", 2.5]]);
         print(read_text(\"plain.csv\"));",
        &[("in.csv", "city,count\nOslo,3\n\"Rio, BR\",5\n")],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        r.stdout,
        "2\nOslo\n5\ncount,city\n3,Oslo\n5,\"Rio, BR\"\n\na,1\n\"b, c\",2.5\n\n"
    );
}

#[test]
fn data_errors_name_the_call_the_path_and_the_reason() {
    for (source, wanted) in [
        (
            "read_text(\"missing.txt\");",
            "read_text: cannot read missing.txt: no such file or directory",
        ),
        (
            "read_lines(\".\");",
            "read_lines: cannot read .: is a directory",
        ),
        (
            "read_csv(\"missing.csv\");",
            "read_csv: cannot read missing.csv: no such file or directory",
        ),
        (
            "parse_json(\"{\\\"a\\\": }\");",
            "parse_json: expected value at line 1, column 7",
        ),
        (
            "to_json(queue());",
            "to_json: a value of type 'Queue' has no JSON form",
        ),
        (
            "to_json([0.0 / 0.0]);",
            "to_json: the number NaN has no JSON form",
        ),
        (
            "list_dir(\"nowhere\");",
            "list_dir: cannot list nowhere: no such file or directory",
        ),
        ("glob(\"[\");", "glob: bad pattern"),
    ] {
        let r = run_here(source, &[]);
        assert_eq!(r.code, Some(1), "{source}: {r:?}");
        assert!(
            error_report(&r.stderr).contains(wanted),
            "{source}: {}",
            r.stderr
        );
    }
}

#[test]
fn the_files_module_maps_over_a_folder_in_workers() {
    let r = run_here(
        "import \"files\" as files;
         print(files::map_files(\"in/*.csv\", |path| read_csv(path).len()));
         print(files::map_files_to_map(\"in/*.csv\", |path| getpid() != 0));
         print(files::read_csvs(\"in/*.csv\").map(|row| row.n));
         print(files::total_lines(\"in/*.csv\"));",
        &[("in/a.csv", "n\n1\n2\n"), ("in/b.csv", "n\n3\n")],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        r.lines(),
        [
            "[#{\"path\": \"in/a.csv\", \"result\": 2}, #{\"path\": \"in/b.csv\", \"result\": 1}]",
            "#{\"in/a.csv\": true, \"in/b.csv\": true}",
            "[\"1\", \"2\", \"3\"]",
            "5"
        ]
    );
}

#[test]
fn a_bad_row_leaves_the_csv_file_as_it_was() {
    let r = run_here(
        "try { write_csv(\"out.csv\", [[\"a\", 1], 5]); } catch (e) { print(e); }
         print(read_text(\"out.csv\"));",
        &[("out.csv", "old,file\n")],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        r.lines(),
        [
            "write_csv: row 1 must be a map or an array, not i64",
            "old,file",
            ""
        ]
    );
}
