//! Text: `regex(pattern)` compiled once (the `regex` crate) with its
//! matching methods, `words(text)`, and functions that return a new string
//! where Rhai has only an in-place method (`replaced`, `trimmed`).
//!
//! A regex is a plain value: it crosses processes as its pattern
//! (`Value::Regex`) and is compiled again where it arrives, so a closure
//! that captured one works in a pool's workers.

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString};

use crate::script::objects::register_show;
use crate::script::script_error;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

#[derive(Clone, Debug)]
pub struct Regex(regex::Regex);

impl Regex {
    /// Compiles `pattern`; an error is one line naming the pattern, the
    /// column (counted in characters from 1) and the reason.
    pub fn new(pattern: &str) -> Result<Regex> {
        regex::Regex::new(pattern).map(Regex).map_err(|e| {
            let at =
                |column: usize, kind: &dyn std::fmt::Display| format!("at column {column}: {kind}");
            let why = match regex_syntax::Parser::new().parse(pattern) {
                Err(regex_syntax::Error::Parse(e)) => at(e.span().start.column, e.kind()),
                Err(regex_syntax::Error::Translate(e)) => at(e.span().start.column, e.kind()),
                // Parsed, but too big: the crate's message is one line then.
                _ => format!(
                    "({})",
                    e.to_string().lines().last().unwrap_or_default().trim()
                ),
            };
            script_error(format!("regex: {pattern:?} does not compile {why}"))
        })
    }

    pub fn pattern(&self) -> &str {
        self.0.as_str()
    }

    fn find(&self, s: &str) -> Dynamic {
        self.0
            .find(s)
            .map_or(Dynamic::UNIT, |m| Dynamic::from(m.as_str().to_string()))
    }

    fn find_all(&self, s: &str) -> Array {
        self.0
            .find_iter(s)
            .map(|m| Dynamic::from(m.as_str().to_string()))
            .collect()
    }

    /// The whole match, then each group (`()` where a group took no part).
    fn captures(&self, s: &str) -> Dynamic {
        let Some(caps) = self.0.captures(s) else {
            return Dynamic::UNIT;
        };
        let groups = caps
            .iter()
            .map(|group| group.map_or(Dynamic::UNIT, |m| Dynamic::from(m.as_str().to_string())));
        Dynamic::from_array(groups.collect())
    }

    fn split(&self, s: &str) -> Array {
        self.0
            .split(s)
            .map(|part| Dynamic::from(part.to_string()))
            .collect()
    }
}

/// The maximal runs of letters in `text`, lowercased.
fn words(text: &str) -> Array {
    let mut out = Array::new();
    for_each_word(text, |w| out.push(Dynamic::from(w.to_string())));
    out
}

/// Calls `f` with each maximal run of letters of `text`, lowercased (as
/// `str::to_lowercase` does, final sigma included); an ASCII word is
/// lowercased into one reused buffer, not a new string.
pub fn for_each_word(text: &str, mut f: impl FnMut(&str)) {
    let mut lower = String::new();
    for word in text.split(|c: char| !c.is_alphabetic()) {
        if word.is_empty() {
            continue;
        }
        if word.is_ascii() {
            lower.clear();
            lower.push_str(word);
            lower.make_ascii_lowercase();
            f(&lower);
        } else {
            f(&word.to_lowercase());
        }
    }
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Regex>("Regex");
    engine.register_fn("regex", |pattern: &str| Regex::new(pattern));
    engine.register_fn("is_match", |re: &mut Regex, s: &str| re.0.is_match(s));
    engine.register_fn("find", |re: &mut Regex, s: &str| re.find(s));
    engine.register_fn("find_all", |re: &mut Regex, s: &str| re.find_all(s));
    engine.register_fn("captures", |re: &mut Regex, s: &str| re.captures(s));
    engine.register_fn("replace_all", |re: &mut Regex, s: &str, with: &str| {
        re.0.replace_all(s, with).into_owned()
    });
    engine.register_fn("split", |re: &mut Regex, s: &str| re.split(s));
    engine.register_get("pattern", |re: &mut Regex| re.pattern().to_string());
    register_show!(engine, Regex, |re: &mut Regex| format!(
        "regex({:?})",
        re.pattern()
    ));
    engine.register_fn("words", |text: &str| words(text));
    engine.register_fn("replaced", |s: &str, from: &str, to: &str| {
        s.replace(from, to)
    });
    engine.register_fn("trimmed", |s: ImmutableString| s.trim().to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_that_does_not_compile_is_one_line_with_its_column() {
        let e = Regex::new("ab(c").unwrap_err().to_string();
        assert!(
            e.contains("regex: \"ab(c\" does not compile at column 3: "),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1, "{e}");
    }

    #[test]
    fn words_are_runs_of_letters_lowercased() {
        let w: Vec<String> = words("It's 3 o'Clock—déjà vu!")
            .into_iter()
            .map(|d| d.into_string().unwrap())
            .collect();
        assert_eq!(w, ["it", "s", "o", "clock", "déjà", "vu"]);
    }
}
