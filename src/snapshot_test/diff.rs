//! The diff shown when a run differs from its snapshot: a unified diff by
//! lines (the `similar` crate, as insta uses), three lines of context, the
//! snapshot's lines as `-` and this run's as `+`, red and green when colour
//! is on. Owns only the text of the diff; the caller prints it.

use similar::{ChangeTag, TextDiff};

use super::report::Style;

/// The diff from `old` (the snapshot) to `new` (this run), each line
/// indented by `indent`, ending with a newline.
pub fn render(old: &str, new: &str, indent: &str, style: Style) -> String {
    let diff = TextDiff::from_lines(old, new);
    let mut out = String::new();
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        out.push_str(indent);
        out.push_str(&style.cyan(&hunk.header().to_string()));
        out.push('\n');
        for change in hunk.iter_changes() {
            let line = change.value().strip_suffix('\n').unwrap_or(change.value());
            let shown = match change.tag() {
                ChangeTag::Delete => style.red(&format!("-{line}")),
                ChangeTag::Insert => style.green(&format!("+{line}")),
                ChangeTag::Equal => format!(" {line}"),
            };
            out.push_str(indent);
            out.push_str(&shown);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_are_minus_then_plus_with_context() {
        let old = "exit code: 0\n--- stdout\nhello\nsame\n";
        let new = "exit code: 0\n--- stdout\nhullo\nsame\n";
        assert_eq!(
            render(old, new, "  ", Style::plain()),
            "  @@ -1,4 +1,4 @@\n   exit code: 0\n   --- stdout\n  -hello\n  +hullo\n   same\n"
        );
    }

    #[test]
    fn colour_wraps_only_the_changed_lines() {
        let shown = render("a\n", "b\n", "", Style::coloured());
        assert!(shown.contains("\x1b[31m-a\x1b[0m"), "{shown:?}");
        assert!(shown.contains("\x1b[32m+b\x1b[0m"), "{shown:?}");
    }
}
