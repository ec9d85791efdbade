//! How errors read to a user: every message that names a script position is
//! made here, so the main script's `FILE:LINE:COL: message` and a worker's
//! `Process-1 (pid 4242): message (line 3, position 5)` stay consistent.
//!
//! That first line is the whole message (what `catch` sees, what tests and
//! tools match); a report printed for an uncaught error adds, below it, the
//! source line with a caret under the column, when the position is in the
//! script's own text:
//!
//! ```text
//! script.rhai:3:13: Syntax error: Expecting ')'
//!    3 | let x = foo(;
//!      |             ^
//! ```
//!
//! A pool task's error crosses to the process that waits for it as one line;
//! the worker's own report of it (which process, which item, its source line)
//! travels beside it (`HubError::detail`) and is kept here, in the waiting
//! process, until its error is printed uncaught, so a `try`/`catch` sees only
//! the line. Pure text: nothing here writes anywhere.

use std::path::Path;

use rhai::{EvalAltResult, ParseError, Position};

use crate::wire::Value;

/// The longest string item an error report quotes.
const ITEM_QUOTE_LIMIT: usize = 40;

/// The innermost error of a chain of function calls, and its position: the
/// place where things went wrong, not where the outermost call was made.
pub fn root_cause(error: &EvalAltResult) -> (String, Position) {
    let mut error = error;
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _) = error {
        error = inner;
    }
    if let EvalAltResult::ErrorInModule(module, inner, position) = error {
        let (message, at) = root_cause(inner);
        let message = with_position(&message, at);
        return (format!("in module '{module}': {message}"), *position);
    }
    let message = match error {
        EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
        other => {
            let text = other.to_string();
            let suffix = format!(" ({})", other.position());
            text.strip_suffix(&suffix)
                .map(str::to_string)
                .unwrap_or(text)
        }
    };
    (message, error.position())
}

/// The innermost script function `root_cause` stops in: its name and the
/// module it comes from (empty for the running script's own, and for every
/// function of a worker, which runs them all merged).
fn innermost_function(error: &EvalAltResult) -> Option<(&str, &str)> {
    let mut error = error;
    let mut function = None;
    while let EvalAltResult::ErrorInFunctionCall(name, source, inner, _) = error {
        function = Some((name.as_str(), source.as_str()));
        error = inner;
    }
    function
}

/// `FILE:LINE:COL: message`.
pub fn at_file(path: &Path, position: Position, message: &str) -> String {
    match (position.line(), position.position()) {
        (Some(line), Some(col)) => format!("{}:{line}:{col}: {message}", path.display()),
        (Some(line), None) => format!("{}:{line}: {message}", path.display()),
        _ => format!("{}: {message}", path.display()),
    }
}

/// `message (line 3, position 5)`, Rhai's own way of naming a position.
pub fn with_position(message: &str, position: Position) -> String {
    match (position.line(), position.position()) {
        (Some(line), Some(col)) => format!("{message} (line {line}, position {col})"),
        _ => message.to_string(),
    }
}

/// The main script's uncaught error: `FILE:LINE:COL: message`, then where.
pub fn runtime_error(path: &Path, error: &EvalAltResult) -> String {
    let (message, position) = root_cause(error);
    explained(at_file(path, position, &message), error, Code::Script)
}

/// A script that does not compile: `FILE:LINE:COL: message`, then where.
pub fn parse_error(path: &Path, source: &str, error: &ParseError) -> String {
    let mut message = error.err_type().to_string();
    if message.is_empty() {
        message = error.to_string();
    }
    let mut report = at_file(path, error.position(), &message);
    append(&mut report, snippet(source, error.position()));
    report
}

/// What runs outside any function where an error happened: the script's
/// top level (the main process), or a worker's generated prelude.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Script,
    Prelude,
}

/// `line`, the first line of an uncaught error's report, then the source
/// line and caret of where `error` happened, and the report of the worker
/// it came from, if it came from one.
pub fn explained(line: String, error: &EvalAltResult, top_level: Code) -> String {
    let mut report = line;
    append(&mut report, script_snippet(error, top_level));
    append(
        &mut report,
        crate::script::remote_report(&root_cause(error).0),
    );
    report
}

/// A pool task's error as its worker tells it, for whoever waits on the
/// job: which process, which item (and the item, if `item` kept it), and
/// the source line. `None` when there is nothing to add to the one-line
/// message.
pub fn task_report(
    worker: &str,
    index: usize,
    item: ItemNote,
    error: &EvalAltResult,
) -> Option<String> {
    let snippet = script_snippet(error, Code::Prelude);
    let remote = crate::script::remote_report(&root_cause(error).0);
    let item = item.render();
    if snippet.is_none() && remote.is_none() && item.is_none() {
        return None;
    }
    let mut report = match item {
        Some(item) => format!("{worker} was computing item {index} ({item}):"),
        None => format!("{worker} was computing item {index}:"),
    };
    append(&mut report, snippet);
    append(&mut report, remote);
    Some(report)
}

/// The source line and caret of `error`'s position, if it is in the
/// running script's text (not a module's, not a worker's prelude).
fn script_snippet(error: &EvalAltResult, top_level: Code) -> Option<String> {
    let info = crate::script::try_script()?;
    let in_script = match innermost_function(error) {
        Some((name, module)) => module.is_empty() && info.defines(name),
        None => top_level == Code::Script,
    };
    if !in_script {
        return None;
    }
    snippet(&info.source, root_cause(error).1)
}

fn append(report: &mut String, more: Option<String>) {
    if let Some(more) = more {
        report.push('\n');
        report.push_str(&more);
    }
}

/// Line `position.line()` of `source` with a caret under its column:
///
/// ```text
///    3 | let x = foo(;
///      |             ^
/// ```
///
/// The caret line repeats the line's tabs, so it lines up however wide the
/// terminal draws a tab. `None` when the position is not in `source`.
pub fn snippet(source: &str, position: Position) -> Option<String> {
    let (line_no, col) = (position.line()?, position.position().unwrap_or(1));
    let text = source.lines().nth(line_no.checked_sub(1)?)?;
    let text = text.strip_suffix('\r').unwrap_or(text);
    let pad: String = text
        .chars()
        .chain(std::iter::repeat(' '))
        .take(col.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let width = line_no.to_string().len().max(4);
    let shown = format!("{line_no:>width$} | {text}");
    Some(format!("{}\n{:width$} | {pad}^", shown.trim_end(), ""))
}

/// A pool item kept for an error report, only where that is cheap: a
/// scalar or a short string (anything else is named by its index alone).
pub struct ItemNote(Option<Value>);

impl ItemNote {
    pub fn of(item: &Value) -> ItemNote {
        ItemNote(match item {
            Value::Unit | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Char(_) => {
                Some(item.clone())
            }
            Value::Str(s) if s.len() <= ITEM_QUOTE_LIMIT => Some(item.clone()),
            _ => None,
        })
    }

    fn render(self) -> Option<String> {
        Some(match self.0? {
            Value::Unit => "()".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format!("{f:?}"),
            Value::Char(c) => format!("{c:?}"),
            Value::Str(s) => format!("{s:?}"),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caret_sits_under_the_column() {
        let source = "let a = 1;\nlet x = foo(;\n";
        assert_eq!(
            snippet(source, Position::new(2, 13)).as_deref(),
            Some("   2 | let x = foo(;\n     |             ^")
        );
        // Past the end of the line (a parse error at its end), and tabs.
        assert_eq!(
            snippet("\tf(", Position::new(1, 4)).as_deref(),
            Some("   1 | \tf(\n     | \t  ^")
        );
        assert_eq!(snippet(source, Position::new(9, 1)), None);
        assert_eq!(snippet(source, Position::NONE), None);
        assert_eq!(
            snippet(
                &format!("{}x", "\n".repeat(12_344)),
                Position::new(12_345, 1)
            )
            .as_deref(),
            Some("12345 | x\n      | ^")
        );
    }

    #[test]
    fn items_are_quoted_only_when_small() {
        assert_eq!(
            ItemNote::of(&Value::Int(-2)).render().as_deref(),
            Some("-2")
        );
        assert_eq!(
            ItemNote::of(&Value::Str("a.csv".into()))
                .render()
                .as_deref(),
            Some("\"a.csv\"")
        );
        assert_eq!(ItemNote::of(&Value::Str("x".repeat(41))).render(), None);
        assert_eq!(ItemNote::of(&Value::Array(vec![])).render(), None);
    }
}
