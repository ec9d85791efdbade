//! The `.snap` file: what a script's run is stored as, in insta's format.
//!
//! Owns rendering a run into the compared text, and reading and writing
//! `snapshots/NAME.snap` beside the script. It touches no other file: a write
//! goes to `snapshots/.NAME.snap.tmp`, then is renamed over the snapshot, so
//! an interrupted write never leaves half a snapshot.
//!
//! A file is insta's: a `---` line, a YAML header (`source:` and
//! `expression:`), a `---` line, then the content:
//!
//! ```text
//! ---
//! source: greet.rhai
//! expression: mphost run greet.rhai
//! ---
//! exit code: 0
//! --- stdout
//! hello
//! ```
//!
//! The header is for people and is not compared; the content is compared
//! exactly. Output that does not end with a newline gets a marker line, so
//! the content always ends with one and a file round-trips exactly.

use std::io;
use std::path::{Path, PathBuf};

/// How the `mphost run` child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    pub fn is_success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exit code: {code}"),
            Exit::Signal(signal) => write!(f, "exit code: none (killed by signal {signal})"),
        }
    }
}

/// Marks output whose last line has no newline.
const NO_NEWLINE: &str = "[no newline at the end]";

/// The compared text: the exit code, stdout, and stderr when it is compared.
/// Both outputs are already redacted.
pub fn render(exit: Exit, stdout: &str, stderr: Option<&str>) -> String {
    let mut content = format!("{exit}\n");
    push_section(&mut content, "stdout", stdout);
    if let Some(stderr) = stderr {
        push_section(&mut content, "stderr", stderr);
    }
    content
}

fn push_section(content: &mut String, name: &str, text: &str) {
    content.push_str("--- ");
    content.push_str(name);
    content.push('\n');
    content.push_str(text);
    if !text.is_empty() && !text.ends_with('\n') {
        content.push('\n');
        content.push_str(NO_NEWLINE);
        content.push('\n');
    }
}

/// A snapshot file that exists but cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapFileError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is not a snapshot file: {reason} (--update rewrites it)", path.display())]
    Malformed { path: PathBuf, reason: &'static str },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// Where the snapshot of `script` lives: `snapshots/STEM.snap` beside it.
pub fn path_for(script: &Path) -> PathBuf {
    let stem = script.file_stem().unwrap_or(script.as_os_str());
    let mut name = stem.to_os_string();
    name.push(".snap");
    script
        .parent()
        .unwrap_or(Path::new(""))
        .join("snapshots")
        .join(name)
}

/// The stored content, or `None` when there is no snapshot yet.
pub fn read(path: &Path) -> Result<Option<String>, SnapFileError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SnapFileError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let malformed = |reason| SnapFileError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let text = String::from_utf8(bytes).map_err(|_| malformed("not UTF-8 text"))?;
    content_of(&text)
        .map(|c| Some(c.to_string()))
        .map_err(malformed)
}

/// What follows the header.
fn content_of(file: &str) -> Result<&str, &'static str> {
    let rest = file
        .strip_prefix("---\n")
        .ok_or("it does not begin with a '---' line")?;
    if let Some(content) = rest.strip_prefix("---\n") {
        return Ok(content);
    }
    rest.find("\n---\n")
        .map(|at| &rest[at + "\n---\n".len()..])
        .ok_or("its header has no closing '---' line")
}

/// Writes `content` as the snapshot of the script named `script_name`, run
/// with `args`: the header's `expression` is the command.
pub fn write(
    path: &Path,
    script_name: &str,
    args: &[String],
    content: &str,
) -> Result<(), SnapFileError> {
    let failed = |source| SnapFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let mut command = format!("mphost run {script_name}");
    for arg in args {
        command.push(' ');
        command.push_str(&shell_word(arg));
    }
    let file = format!(
        "---\nsource: {}\nexpression: {}\n---\n{content}",
        yaml_string(script_name),
        yaml_string(&command),
    );
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(path.file_name().unwrap_or_default());
    temp_name.push(".tmp");
    let temp = path.with_file_name(temp_name);
    std::fs::write(&temp, file).map_err(failed)?;
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        failed(e)
    })
}

/// `arg` as a shell would need it typed: as it is when it is plain, else in
/// single quotes.
fn shell_word(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_alphanumeric() || "_-./+=:,@%".contains(c));
    match plain {
        true => arg.to_string(),
        false => format!("'{}'", arg.replace('\'', "'\\''")),
    }
}

/// The arguments `script` is tested with: the lines of `NAME.args` beside
/// it, one argument a line (none when there is no such file).
pub fn args_for(script: &Path) -> Result<Vec<String>, SnapFileError> {
    let path = script.with_extension("args");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.lines().map(str::to_string).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(SnapFileError::Read { path, source }),
    }
}

/// A YAML scalar: plain when that is unambiguous, else double-quoted.
fn yaml_string(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || " _-./+()".contains(c))
        && !text.starts_with([' ', '-'])
        && !text.ends_with(' ');
    if plain {
        return text.to_string();
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_the_exit_code_then_stdout() {
        assert_eq!(
            render(Exit::Code(3), "a\nb\n", None),
            "exit code: 3\n--- stdout\na\nb\n"
        );
        assert_eq!(
            render(Exit::Code(0), "", None),
            "exit code: 0\n--- stdout\n"
        );
        assert_eq!(
            render(Exit::Signal(9), "x", Some("oops\n")),
            "exit code: none (killed by signal 9)\n--- stdout\nx\n[no newline at the end]\n--- stderr\noops\n"
        );
    }

    #[test]
    fn a_written_file_reads_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("my script.rhai");
        let path = path_for(&script);
        assert_eq!(path, dir.path().join("snapshots/my script.snap"));
        assert_eq!(read(&path).unwrap(), None);
        for content in [
            "exit code: 0\n--- stdout\n---\n--- x\n\n",
            "exit code: 1\n--- stdout\n",
        ] {
            write(&path, "my script.rhai", &[], content).unwrap();
            assert_eq!(read(&path).unwrap().as_deref(), Some(content));
        }
        let file = std::fs::read_to_string(&path).unwrap();
        assert!(
            file.starts_with(
                "---\nsource: my script.rhai\nexpression: mphost run my script.rhai\n---\n"
            ),
            "{file}"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path().join("snapshots"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["my script.snap"], "no temporary file is left");
    }

    #[test]
    fn a_file_without_a_header_is_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.snap");
        for bad in ["exit code: 0\n", "---\nsource: x\n", "\u{ff}"] {
            std::fs::write(&path, bad).unwrap();
            assert!(
                matches!(read(&path), Err(SnapFileError::Malformed { .. })),
                "{bad:?}"
            );
        }
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(matches!(read(&path), Err(SnapFileError::Malformed { .. })));
    }

    #[test]
    fn the_arguments_are_in_the_headers_command() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.snap");
        let args = [
            "data.csv".to_string(),
            "two words".to_string(),
            "it's".to_string(),
        ];
        write(&path, "job.rhai", &args, "exit code: 0\n").unwrap();
        let file = std::fs::read_to_string(&path).unwrap();
        assert!(
            file.contains(
                "expression: \"mphost run job.rhai data.csv 'two words' 'it'\\\\''s'\"\n"
            ),
            "{file}"
        );
    }

    #[test]
    fn odd_names_are_quoted_in_the_header() {
        assert_eq!(yaml_string("greet.rhai"), "greet.rhai");
        assert_eq!(yaml_string("a: b.rhai"), "\"a: b.rhai\"");
        assert_eq!(yaml_string("-x.rhai"), "\"-x.rhai\"");
        assert_eq!(yaml_string("say \"hi\".rhai"), "\"say \\\"hi\\\".rhai\"");
    }
}
