//! Redaction: the run-to-run values (pids, times, temporary names) replaced
//! in a script's output before it is compared with or stored in a snapshot.
//!
//! Owns the default pid rule and the user's `--redact REGEX` rules, and turns
//! a regex the `regex` crate refuses into one line naming the reason. It only
//! rewrites text: it never reads or writes files and never sees the exit code.
//!
//! A rule replaces each match, or, when its regex has capture groups, only
//! what the groups matched (so `took (\d+) ms` keeps `took` and `ms`). Empty
//! matches are left alone: `x*` matches the empty string everywhere.

use regex::Regex;

/// The default rule: the digits after the word `pid` (any case), which may
/// be followed by spaces, `=` or `:` (`pid 4242`, `pid=4242`, `PID: 4242`).
pub const PID_PATTERN: &str = r"(?i)\bpid[ =:]*(\d+)";

/// What the default rule puts in place of a pid.
pub const PID_LABEL: &str = "[pid]";

/// What a `--redact` rule puts in place of what it matched.
pub const USER_LABEL: &str = "[redacted]";

/// A `--redact` pattern the regex crate refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid --redact regex '{pattern}': {reason}")]
pub struct BadRegex {
    pub pattern: String,
    pub reason: String,
}

struct Rule {
    regex: Regex,
    label: &'static str,
}

/// The rules, in the order they apply: the pid rule, then each `--redact`
/// in the order given.
pub struct Redactor {
    rules: Vec<Rule>,
}

impl Redactor {
    pub fn new(patterns: &[String]) -> Result<Redactor, BadRegex> {
        let mut rules = vec![Rule {
            regex: Regex::new(PID_PATTERN).expect("the pid pattern is a valid regex"),
            label: PID_LABEL,
        }];
        for pattern in patterns {
            let regex = Regex::new(pattern).map_err(|e| BadRegex {
                pattern: pattern.clone(),
                reason: one_line_reason(&e),
            })?;
            rules.push(Rule {
                regex,
                label: USER_LABEL,
            });
        }
        Ok(Redactor { rules })
    }

    /// `text` with every rule applied in turn.
    pub fn apply(&self, text: &str) -> String {
        let mut text = text.to_string();
        for rule in &self.rules {
            text = rule.apply(&text);
        }
        text
    }
}

impl Rule {
    fn apply(&self, text: &str) -> String {
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let grouped = self.regex.captures_len() > 1;
        for caps in self.regex.captures_iter(text) {
            let parts: Vec<_> = if grouped {
                caps.iter().skip(1).flatten().collect()
            } else {
                caps.get(0).into_iter().collect()
            };
            for part in parts {
                // A group nested in an earlier one is already covered.
                let after_last = spans.last().is_none_or(|&(_, end)| part.start() >= end);
                if !part.is_empty() && after_last {
                    spans.push((part.start(), part.end()));
                }
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end) in spans {
            out.push_str(&text[at..start]);
            out.push_str(self.label);
            at = end;
        }
        out.push_str(&text[at..]);
        out
    }
}

/// The regex crate's syntax errors span several lines (the pattern, a caret,
/// then `error: REASON`); the reason is the line that matters.
fn one_line_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(patterns: &[&str], text: &str) -> String {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        Redactor::new(&patterns).expect("valid").apply(text)
    }

    #[test]
    fn pids_are_the_digits_after_the_word_pid() {
        assert_eq!(
            redact(&[], "Process-1 (pid 4242) pid=7 PID: 12 pid y rapid 5 pid9"),
            "Process-1 (pid [pid]) pid=[pid] PID: [pid] pid y rapid 5 pid[pid]"
        );
        assert_eq!(redact(&[], "no pids here: 4242"), "no pids here: 4242");
    }

    #[test]
    fn a_rule_replaces_its_groups_or_else_the_whole_match() {
        assert_eq!(
            redact(&[r"took (\d+) ms"], "took 15 ms"),
            "took [redacted] ms"
        );
        assert_eq!(redact(&[r"\d+ ms"], "took 15 ms."), "took [redacted].");
        assert_eq!(
            redact(&[r"(\d+)-(\d+)"], "12-34 5"),
            "[redacted]-[redacted] 5"
        );
        assert_eq!(redact(&[r"((\d)+)x"], "123x"), "[redacted]x");
        assert_eq!(redact(&[r"x*"], "abc"), "abc");
        assert_eq!(redact(&[r"(a)|(b)"], "ab"), "[redacted][redacted]");
    }

    #[test]
    fn rules_apply_in_order_after_the_pid_rule() {
        assert_eq!(
            redact(&[r"\[pid\]", "redacted"], "pid 4"),
            "pid [[redacted]]"
        );
    }

    #[test]
    fn a_bad_regex_is_one_line_with_its_reason() {
        let e = Redactor::new(&["(ab".to_string()]).err().expect("refused");
        let text = e.to_string();
        assert_eq!(text, "invalid --redact regex '(ab': unclosed group");
        let e = Redactor::new(&[r"\p{Nope}".to_string()])
            .err()
            .expect("refused");
        assert!(!e.to_string().contains('\n'), "{e}");
    }
}
