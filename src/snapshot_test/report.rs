//! What `mphost test` prints: one line per script, the details under a
//! failure, the summary line, and the colours. Every line the command shows
//! a user is made here (errors that stop it before any script runs are
//! the callers' one line on stderr). It decides nothing: it is told each
//! verdict and formats it.

use std::path::Path;
use std::time::Duration;

use super::snapfile::Exit;

/// ANSI colours, or none.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    colour: bool,
}

impl Style {
    pub fn plain() -> Style {
        Style { colour: false }
    }

    pub fn coloured() -> Style {
        Style { colour: true }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn red(self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn green(self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn yellow(self, text: &str) -> String {
        self.paint("33", text)
    }

    pub fn cyan(self, text: &str) -> String {
        self.paint("36", text)
    }
}

/// Lines of a run's stderr shown under a failure, at most.
const STDERR_LINES: usize = 10;

/// What happened to one script.
pub enum Verdict {
    Ok,
    Recorded { snapshot: String, exit: Exit },
    Updated { snapshot: String },
    Failed { reason: String, details: String },
}

#[derive(Default)]
pub struct Tally {
    ok: usize,
    recorded: usize,
    updated: usize,
    failed: usize,
}

impl Tally {
    pub fn any_failed(&self) -> bool {
        self.failed > 0
    }

    /// `3 scripts: 1 ok, 1 recorded, 0 updated, 1 failed`.
    pub fn summary(&self) -> String {
        let total = self.ok + self.recorded + self.updated + self.failed;
        let noun = if total == 1 { "script" } else { "scripts" };
        format!(
            "{total} {noun}: {} ok, {} recorded, {} updated, {} failed",
            self.ok, self.recorded, self.updated, self.failed
        )
    }
}

/// The status word, padded so the names line up.
fn status(word: &str, paint: impl Fn(&str) -> String) -> String {
    format!(
        "{}{}",
        paint(word),
        " ".repeat(9usize.saturating_sub(word.len()))
    )
}

/// The line for `script` (and, under a failure, what follows it); counts it.
pub fn verdict(script: &Path, verdict: &Verdict, style: Style, tally: &mut Tally) -> String {
    let name = script.display();
    match verdict {
        Verdict::Ok => {
            tally.ok += 1;
            format!("{}{name}\n", status("ok", |w| style.green(w)))
        }
        Verdict::Recorded { snapshot, exit } => {
            tally.recorded += 1;
            let exit = match exit {
                Exit::Code(0) => String::new(),
                other => format!(" ({other})"),
            };
            format!(
                "{}{name}: new snapshot {snapshot}{exit}\n",
                status("recorded", |w| style.yellow(w))
            )
        }
        Verdict::Updated { snapshot } => {
            tally.updated += 1;
            format!(
                "{}{name}: rewrote {snapshot}\n",
                status("updated", |w| style.yellow(w))
            )
        }
        Verdict::Failed { reason, details } => {
            tally.failed += 1;
            format!(
                "{}{name}: {reason}\n{details}",
                status("FAILED", |w| style.red(w))
            )
        }
    }
}

/// The last lines of a run's stderr, indented, for the details of a failure.
pub fn stderr_tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let skip = lines.len().saturating_sub(STDERR_LINES);
    let mut out = String::new();
    if skip > 0 {
        out.push_str(&format!("  stderr ({skip} earlier lines not shown):\n"));
    } else if !lines.is_empty() {
        out.push_str("  stderr:\n");
    }
    for line in &lines[skip..] {
        out.push_str("    ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `60 s`, `0.5 s`.
pub fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_summary() {
        let mut tally = Tally::default();
        let s = Style::plain();
        let path = Path::new("a.rhai");
        assert_eq!(
            verdict(path, &Verdict::Ok, s, &mut tally),
            "ok       a.rhai\n"
        );
        let recorded = Verdict::Recorded {
            snapshot: "snapshots/a.snap".into(),
            exit: Exit::Code(3),
        };
        assert_eq!(
            verdict(path, &recorded, s, &mut tally),
            "recorded a.rhai: new snapshot snapshots/a.snap (exit code: 3)\n"
        );
        let failed = Verdict::Failed {
            reason: "why".into(),
            details: "  more\n".into(),
        };
        assert_eq!(
            verdict(path, &failed, s, &mut tally),
            "FAILED   a.rhai: why\n  more\n"
        );
        assert!(tally.any_failed());
        assert_eq!(
            tally.summary(),
            "3 scripts: 1 ok, 1 recorded, 0 updated, 1 failed"
        );
    }

    #[test]
    fn only_the_last_stderr_lines_are_shown() {
        let many: String = (1..=12).map(|i| format!("line {i}\n")).collect();
        let shown = stderr_tail(&many);
        assert!(shown.starts_with("  stderr (2 earlier lines not shown):\n    line 3\n"));
        assert!(shown.ends_with("    line 12\n"));
        assert_eq!(stderr_tail(""), "");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(seconds(Duration::from_secs(60)), "60 s");
    }
}
