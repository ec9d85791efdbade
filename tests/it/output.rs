//! `--tag-output` and `--ordered-output`.

use super::common;
use common::*;

const SCRIPT: &str = "fn slow(tag) { print(`${tag} 1`); sleep(0.3); print(`${tag} 2`); }
     fn fast(tag) { print(`${tag} 1`); print(`${tag} 2`); }
     print(\"main starts\");
     let a = spawn(slow, [\"a\"]);
     let b = spawn(fast, [\"b\"]);
     a.join(); b.join();
     print(\"main ends\");";

#[test]
fn tag_output_names_each_workers_lines_and_not_mains() {
    let r = run_with(SCRIPT, &["--tag-output"], &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let mut lines = r.lines();
    assert_eq!(lines.first(), Some(&"main starts"));
    assert_eq!(lines.last(), Some(&"main ends"));
    lines.sort();
    assert_eq!(
        lines,
        [
            "[Process-1] a 1",
            "[Process-1] a 2",
            "[Process-2] b 1",
            "[Process-2] b 2",
            "main ends",
            "main starts"
        ]
    );
}

#[test]
fn ordered_output_writes_each_worker_whole_in_creation_order() {
    for flags in [
        &["--ordered-output"][..],
        &["--ordered-output", "--tag-output"],
    ] {
        let r = run_with(SCRIPT, flags, &[]);
        assert_eq!(r.code, Some(0), "{r:?}");
        let tag = |name: &str, line: &str| {
            if flags.len() == 2 {
                format!("[{name}] {line}")
            } else {
                line.to_string()
            }
        };
        assert_eq!(
            r.lines(),
            [
                "main starts".to_string(),
                tag("Process-1", "a 1"),
                tag("Process-1", "a 2"),
                tag("Process-2", "b 1"),
                tag("Process-2", "b 2"),
                "main ends".to_string()
            ],
            "{flags:?}"
        );
    }
}

#[test]
fn ordered_output_waits_for_an_earlier_worker_that_has_not_printed_yet() {
    let r = run_with(
        "fn late() { sleep(0.3); print(\"first made\"); }
         fn early() { print(\"second made\"); }
         let a = spawn(late); let b = spawn(early);
         b.join(); a.join();",
        &["--ordered-output"],
        &[],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.lines(), ["first made", "second made"]);
}
