//! `mphost test`: snapshot tests of a user's own scripts.
//!
//! Each script runs as a child `mphost run` (`child`); its stdout and exit
//! code, redacted (`redact`), are compared with `snapshots/NAME.snap` beside
//! it (`snapfile`, insta's format); a difference is shown as a diff (`diff`);
//! every line shown is made by `report`. This file finds the scripts, decides
//! each verdict and the exit status.
//!
//! It never runs script code in this process and never touches the hub or
//! the interpreter: a script is tested exactly as `mphost run` runs it. It
//! writes only `.snap` files (and their temporary files) in `snapshots/`
//! folders beside the scripts it was given.

mod child;
mod diff;
mod redact;
mod report;
mod snapfile;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use child::Ending;
use redact::Redactor;
use report::{Style, Tally, Verdict};

/// Exit status when every script passed (a new snapshot passes).
pub const EXIT_PASSED: u8 = 0;
/// Exit status when a script failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status for bad paths and bad `--redact` patterns: nothing ran.
pub const EXIT_USAGE: u8 = crate::exit_status::USAGE;

/// When diffs and status words are coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    /// When stdout is a terminal and `NO_COLOR` is not set.
    Auto,
    Always,
    Never,
}

/// What `mphost test` was asked to do.
pub struct Settings {
    /// Scripts and folders; empty means the current folder.
    pub paths: Vec<PathBuf>,
    /// Rewrite snapshots that differ instead of failing.
    pub update: bool,
    /// `--redact` patterns, in order.
    pub redact: Vec<String>,
    /// How long one script may run.
    pub timeout: Duration,
    pub colour: Colour,
    /// Compare (and store) stderr too.
    pub stderr: bool,
}

/// What stops `mphost test` before any script runs.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("{}: no such file or folder", .0.display())]
    Missing(PathBuf),
    #[error("{}: no *.rhai scripts in this folder", .0.display())]
    NoScripts(PathBuf),
    #[error("cannot read {}: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    #[error(transparent)]
    BadRegex(#[from] redact::BadRegex),
}

/// Runs the scripts; the exit status.
pub fn run(settings: &Settings) -> u8 {
    match prepare(settings) {
        Ok((scripts, redactor)) => {
            let style = style_for(settings.colour);
            let mut tally = Tally::default();
            let mut stdout = io::stdout().lock();
            for script in &scripts {
                let verdict = test_one(script, settings, &redactor, style);
                let text = report::verdict(script, &verdict, style, &mut tally);
                // A closed stdout does not stop the tests; the status still tells.
                let _ = stdout.write_all(text.as_bytes());
                let _ = stdout.flush();
            }
            let _ = writeln!(stdout, "{}", tally.summary());
            if tally.any_failed() {
                EXIT_FAILED
            } else {
                EXIT_PASSED
            }
        }
        Err(e) => {
            eprintln!("mphost test: {e}");
            EXIT_USAGE
        }
    }
}

fn prepare(settings: &Settings) -> Result<(Vec<PathBuf>, Redactor), UsageError> {
    let redactor = Redactor::new(&settings.redact)?;
    let scripts = find_scripts(&settings.paths)?;
    Ok((scripts, redactor))
}

fn style_for(colour: Colour) -> Style {
    use std::io::IsTerminal;
    let on = match colour {
        Colour::Always => true,
        Colour::Never => false,
        Colour::Auto => {
            io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    if on {
        Style::coloured()
    } else {
        Style::plain()
    }
}

/// Each file given, and each folder's `*.rhai` files, sorted; the current
/// folder's when none is given. A script named twice runs once.
fn find_scripts(paths: &[PathBuf]) -> Result<Vec<PathBuf>, UsageError> {
    let current = [PathBuf::from(".")];
    let paths = if paths.is_empty() {
        &current[..]
    } else {
        paths
    };
    let mut scripts: Vec<PathBuf> = Vec::new();
    for path in paths {
        let found = match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => scripts_in(path)?,
            Ok(_) => vec![path.clone()],
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(UsageError::Missing(path.clone()));
            }
            Err(source) => {
                return Err(UsageError::Unreadable {
                    path: path.clone(),
                    source,
                });
            }
        };
        for script in found {
            if !scripts.contains(&script) {
                scripts.push(script);
            }
        }
    }
    Ok(scripts)
}

fn scripts_in(dir: &Path) -> Result<Vec<PathBuf>, UsageError> {
    let unreadable = |source| UsageError::Unreadable {
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "rhai") && path.is_file() {
            names.push(entry.file_name());
        }
    }
    if names.is_empty() {
        return Err(UsageError::NoScripts(dir.to_path_buf()));
    }
    names.sort();
    // Scripts of the current folder are shown by name alone.
    let here = dir == Path::new(".");
    Ok(names
        .into_iter()
        .map(|name| {
            if here {
                PathBuf::from(name)
            } else {
                dir.join(name)
            }
        })
        .collect())
}

fn test_one(script: &Path, settings: &Settings, redactor: &Redactor, style: Style) -> Verdict {
    let failed = |reason: String, details: String| Verdict::Failed { reason, details };
    let args = match snapfile::args_for(script) {
        Ok(args) => args,
        Err(e) => return failed(e.to_string(), String::new()),
    };
    let output = match child::run(script, &args, settings.timeout) {
        Ok(Ending::Finished(output)) => output,
        Ok(Ending::TimedOut { stderr }) => {
            return failed(
                format!(
                    "timed out after {}; the script and all its processes were stopped",
                    report::seconds(settings.timeout)
                ),
                report::stderr_tail(&stderr),
            );
        }
        Err(e) => return failed(e.to_string(), String::new()),
    };
    let stderr = settings.stderr.then(|| redactor.apply(&output.stderr));
    let content = snapfile::render(
        output.exit,
        &redactor.apply(&output.stdout),
        stderr.as_deref(),
    );
    let snapshot = snapfile::path_for(script);
    let shown = snapshot.display().to_string();
    let script_name = script
        .file_name()
        .unwrap_or(script.as_os_str())
        .to_string_lossy();
    let write = || snapfile::write(&snapshot, &script_name, &args, &content);
    let stored = match snapfile::read(&snapshot) {
        Ok(stored) => stored,
        Err(_) if settings.update => {
            return match write() {
                Ok(()) => Verdict::Updated { snapshot: shown },
                Err(e) => failed(e.to_string(), String::new()),
            };
        }
        Err(e) => return failed(e.to_string(), String::new()),
    };
    match stored {
        None => match write() {
            Ok(()) => Verdict::Recorded {
                snapshot: shown,
                exit: output.exit,
            },
            Err(e) => failed(e.to_string(), String::new()),
        },
        Some(stored) if stored == content => Verdict::Ok,
        Some(_) if settings.update => match write() {
            Ok(()) => Verdict::Updated { snapshot: shown },
            Err(e) => failed(e.to_string(), String::new()),
        },
        Some(stored) => {
            let mut details = diff::render(&stored, &content, "  ", style);
            if !output.exit.is_success() && !settings.stderr {
                details.push_str(&report::stderr_tail(&output.stderr));
            }
            failed(
                format!("differs from {shown} (-snapshot, +this run; --update accepts it)"),
                details,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_gives_its_rhai_files_sorted_and_a_script_named_twice_runs_once() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.rhai", "a.rhai", "notes.txt", "c.rhai.bak"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("d.rhai")).unwrap();
        let a = dir.path().join("a.rhai");
        let found = find_scripts(&[a.clone(), dir.path().to_path_buf()]).unwrap();
        assert_eq!(found, [a, dir.path().join("b.rhai")]);
    }

    #[test]
    fn missing_paths_and_empty_folders_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.rhai");
        assert!(matches!(
            find_scripts(&[missing]),
            Err(UsageError::Missing(_))
        ));
        assert!(matches!(
            find_scripts(&[dir.path().to_path_buf()]),
            Err(UsageError::NoScripts(_))
        ));
    }
}
