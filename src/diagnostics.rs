//! How errors read to a user: every message that names a script position is
//! made here, so the main script's `FILE:LINE:COL: message` and a worker's
//! `Process-1 (pid 4242): message (line 3, position 5)` stay consistent.

use std::path::Path;

use rhai::{EvalAltResult, ParseError, Position};

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

pub fn runtime_error(path: &Path, error: &EvalAltResult) -> String {
    let (message, position) = root_cause(error);
    at_file(path, position, &message)
}

pub fn parse_error(path: &Path, error: &ParseError) -> String {
    let mut message = error.err_type().to_string();
    if message.is_empty() {
        message = error.to_string();
    }
    at_file(path, error.position(), &message)
}
