//! Files read as they are iterated: `lines(path)` (or `lines(path, n)`, in
//! arrays of at most `n` lines), `csv_rows(path)` (a map per row, by the
//! header) and `json_lines(path)`, whatever the file's size;
//! and `open`, through which every reader of a file (these, `read_text`,
//! `read_lines`, `read_csv`) reads a `.gz` file as its text (flate2).
//!
//! A reader opens its file when the loop starts, and only keeps a buffer:
//! a worker counting the lines of a file of any size holds one line at a
//! time. A line or row that cannot be read is an error that names the file
//! and the line, and ends the loop.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use flate2::read::MultiGzDecoder;
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map};

use crate::script::data::{io_error, json_reason, reason};
use crate::script::script_error;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// How much of a file is read at a time.
const BUFFER: usize = 64 * 1024;

/// `path` opened for reading as text, through gzip when its name ends in
/// `.gz`. `call` names the function in errors.
pub fn open(call: &str, path: &str) -> Result<Box<dyn BufRead>> {
    let file = File::open(path).map_err(|e| io_error(call, "read", path, &e))?;
    // An empty file is empty text, gzipped or not (as Python's gzip reads it).
    let empty = file.metadata().is_ok_and(|m| m.is_file() && m.len() == 0);
    let gzipped = path.to_ascii_lowercase().ends_with(".gz") && !empty;
    let raw: Box<dyn Read> = match gzipped {
        true => Box::new(MultiGzDecoder::new(BufReader::with_capacity(BUFFER, file))),
        false => Box::new(file),
    };
    Ok(Box::new(BufReader::with_capacity(BUFFER, raw)))
}

/// The whole text of `path` (decompressed when it is a `.gz` file).
pub fn read_to_string(call: &str, path: &str) -> Result<String> {
    let mut text = String::new();
    open(call, path)?
        .read_to_string(&mut text)
        .map_err(|e| io_error(call, "read", path, &e))?;
    Ok(text)
}

pub(super) type Rows = Box<dyn Iterator<Item = Result<Dynamic>>>;

/// A loop that ends at once with `e` (its file could not be read).
pub(super) fn failed(e: Box<EvalAltResult>) -> Rows {
    Box::new(std::iter::once(Err(e)))
}

/// One line at a time, without its line ending.
pub(super) struct LineReader {
    call: &'static str,
    path: ImmutableString,
    reader: Box<dyn BufRead>,
    buffer: Vec<u8>,
    line: usize,
    done: bool,
}

impl LineReader {
    pub(super) fn open(call: &'static str, path: ImmutableString) -> Result<LineReader> {
        Ok(LineReader {
            call,
            reader: open(call, &path)?,
            path,
            buffer: Vec::new(),
            line: 0,
            done: false,
        })
    }

    /// The next line, or `None` at the end; the line's number is `self.line`.
    pub(super) fn next_line(&mut self) -> Option<Result<String>> {
        if self.done {
            return None;
        }
        self.buffer.clear();
        match self.reader.read_until(b'\n', &mut self.buffer) {
            Ok(0) => {
                self.done = true;
                None
            }
            Ok(_) => {
                self.line += 1;
                if self.buffer.ends_with(b"\n") {
                    self.buffer.pop();
                    if self.buffer.ends_with(b"\r") {
                        self.buffer.pop();
                    }
                }
                let text = std::str::from_utf8(&self.buffer)
                    .map(str::to_string)
                    .map_err(|_| self.fail("not UTF-8 text"));
                Some(text)
            }
            Err(e) => Some(Err(self.fail_io(&e))),
        }
    }

    /// The next line that is not blank (JSON lines skip them), or `None`
    /// at the end.
    pub(super) fn next_filled_line(&mut self) -> Option<Result<String>> {
        loop {
            match self.next_line()? {
                Ok(line) if line.trim().is_empty() => continue,
                read => return Some(read),
            }
        }
    }

    /// A line that is not the JSON it should be; the loop ends with it.
    pub(super) fn fail_json(&mut self, e: &serde_json::Error) -> Box<EvalAltResult> {
        self.fail(format!("{} at column {}", json_reason(e), e.column()))
    }

    /// An error at the current line; the loop ends with it.
    pub(super) fn fail(&mut self, why: impl std::fmt::Display) -> Box<EvalAltResult> {
        self.done = true;
        script_error(format!(
            "{}: {} line {}: {why}",
            self.call, self.path, self.line
        ))
    }

    /// A read that failed after line `self.line` (a damaged gzip stream).
    fn fail_io(&mut self, e: &std::io::Error) -> Box<EvalAltResult> {
        self.line += 1;
        self.fail(reason(e))
    }
}

/// What `lines(path)` returns: the loop reads the file.
#[derive(Clone)]
pub struct Lines(ImmutableString);

impl IntoIterator for Lines {
    type Item = Result<Dynamic>;
    type IntoIter = Rows;

    fn into_iter(self) -> Rows {
        match LineReader::open("lines", self.0) {
            Ok(mut reader) => Box::new(std::iter::from_fn(move || {
                reader.next_line().map(|l| l.map(Dynamic::from))
            })),
            Err(e) => failed(e),
        }
    }
}

/// What `lines(path, n)` returns: a loop over arrays of at most `size` lines.
#[derive(Clone)]
pub struct LineBatches {
    path: ImmutableString,
    size: usize,
}

impl IntoIterator for LineBatches {
    type Item = Result<Dynamic>;
    type IntoIter = Rows;

    fn into_iter(self) -> Rows {
        let size = self.size;
        let mut reader = match LineReader::open("lines", self.path) {
            Ok(reader) => reader,
            Err(e) => return failed(e),
        };
        Box::new(std::iter::from_fn(move || {
            let mut batch = Array::new();
            while batch.len() < size {
                match reader.next_line() {
                    Some(Ok(line)) => batch.push(Dynamic::from(line)),
                    Some(Err(e)) => return Some(Err(e)),
                    None => break,
                }
            }
            (!batch.is_empty()).then(|| Ok(Dynamic::from_array(batch)))
        }))
    }
}

/// What `json_lines(path)` returns: one value a line, empty lines skipped.
#[derive(Clone)]
pub struct JsonLines(ImmutableString);

impl IntoIterator for JsonLines {
    type Item = Result<Dynamic>;
    type IntoIter = Rows;

    fn into_iter(self) -> Rows {
        let mut reader = match LineReader::open("json_lines", self.0) {
            Ok(reader) => reader,
            Err(e) => return failed(e),
        };
        Box::new(std::iter::from_fn(move || {
            let line = match reader.next_filled_line()? {
                Ok(line) => line,
                Err(e) => return Some(Err(e)),
            };
            // Straight into a script value: no JSON tree in between.
            Some(serde_json::from_str::<Dynamic>(&line).map_err(|e| reader.fail_json(&e)))
        }))
    }
}

/// What `csv_rows(path)` returns: a map per row, by the header's names.
#[derive(Clone)]
pub struct CsvRows(ImmutableString);

impl IntoIterator for CsvRows {
    type Item = Result<Dynamic>;
    type IntoIter = Rows;

    fn into_iter(self) -> Rows {
        let path = self.0;
        let fail = {
            let path = path.clone();
            move |e: &csv::Error| csv_failure("csv_rows", &path, e)
        };
        let mut reader = match open("csv_rows", &path) {
            Ok(file) => csv::Reader::from_reader(file),
            Err(e) => return failed(e),
        };
        let header: Vec<ImmutableString> = match reader.headers() {
            Ok(names) => names.iter().map(Into::into).collect(),
            Err(e) => return failed(fail(&e)),
        };
        let mut record = csv::StringRecord::new();
        let mut done = false;
        Box::new(std::iter::from_fn(move || {
            if done {
                return None;
            }
            match reader.read_record(&mut record) {
                Ok(true) => {
                    let row: Map = header
                        .iter()
                        .zip(record.iter())
                        .map(|(k, v)| (k.as_str().into(), Dynamic::from(v.to_string())))
                        .collect();
                    Some(Ok(Dynamic::from_map(row)))
                }
                Ok(false) => None,
                Err(e) => {
                    done = true;
                    Some(Err(fail(&e)))
                }
            }
        }))
    }
}

/// A CSV record that could not be read, as an error naming the file and
/// the line.
pub(super) fn csv_failure(call: &str, path: &str, e: &csv::Error) -> Box<EvalAltResult> {
    if let csv::ErrorKind::Io(io) = e.kind() {
        return io_error(call, "read", path, io);
    }
    let line = e.position().map_or(0, csv::Position::line);
    let why = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".to_string(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} field(s) where the header has {expected_len}"),
        _ => e.to_string(),
    };
    script_error(format!("{call}: {path} line {line}: {why}"))
}

/// A count a script gave that must be positive (`what` names it).
pub(super) fn positive(call: &str, what: &str, n: rhai::INT) -> Result<usize> {
    usize::try_from(n)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| script_error(format!("{call}: {what} must be positive, not {n}")))
}

/// Checks that `path` can be opened, so that a missing file is an error
/// at the call rather than when the loop starts.
pub(super) fn checked(call: &str, path: ImmutableString) -> Result<ImmutableString> {
    File::open(path.as_str()).map_err(|e| io_error(call, "read", &path, &e))?;
    Ok(path)
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Lines>("Lines");
    engine.register_iterator_result::<Lines, Dynamic>();
    engine.register_fn("lines", |path: ImmutableString| {
        checked("lines", path).map(Lines)
    });
    engine.register_type_with_name::<LineBatches>("LineBatches");
    engine.register_iterator_result::<LineBatches, Dynamic>();
    engine.register_fn("lines", |path: ImmutableString, n: rhai::INT| {
        let size = positive("lines", "n", n)?;
        checked("lines", path).map(|path| LineBatches { path, size })
    });
    engine.register_type_with_name::<CsvRows>("CsvRows");
    engine.register_iterator_result::<CsvRows, Dynamic>();
    engine.register_fn("csv_rows", |path: ImmutableString| {
        checked("csv_rows", path).map(CsvRows)
    });
    engine.register_type_with_name::<JsonLines>("JsonLines");
    engine.register_iterator_result::<JsonLines, Dynamic>();
    engine.register_fn("json_lines", |path: ImmutableString| {
        checked("json_lines", path).map(JsonLines)
    });
}
