//! Files and data formats for scripts, in the main process and in workers:
//! `read_text`, `write_text`, `append_text`, `read_lines`, `glob`,
//! `list_dir`, `file_info`, `exists`, `make_dir`, `remove_file`,
//! `parse_json`, `to_json`, `to_json_pretty`, `read_csv`, `write_csv`.
//!
//! A file whose name ends in `.gz` is read as its text (`toolkit::stream`).
//!
//! Every error names the call, the path and the reason in words
//! (`read_text: cannot read data/a.txt: no such file`). JSON goes through
//! `serde_json` and Rhai's serde support; CSV through `csv`; patterns
//! through `glob`.

use std::io;
use std::path::Path;

use rhai::{Array, Dynamic, Engine, EvalAltResult, Map};

use super::script_error;
use super::toolkit::stream;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// The reason an I/O operation failed, in words.
pub(super) fn reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::IsADirectory => "is a directory".into(),
        io::ErrorKind::InvalidData => "not UTF-8 text".into(),
        io::ErrorKind::AlreadyExists => "already exists".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(at) => text[..at].to_lowercase(),
                None => text,
            }
        }
    }
}

pub(super) fn io_error(call: &str, verb: &str, path: &str, e: &io::Error) -> Box<EvalAltResult> {
    script_error(format!("{call}: cannot {verb} {path}: {}", reason(e)))
}

fn read_text(path: &str) -> Result<String> {
    stream::read_to_string("read_text", path)
}

fn write_text(path: &str, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| io_error("write_text", "write", path, &e))
}

fn append_text(path: &str, text: &str) -> Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| io_error("append_text", "write", path, &e))
}

fn read_lines(path: &str) -> Result<Array> {
    let text = stream::read_to_string("read_lines", path)?;
    Ok(text.lines().map(|l| Dynamic::from(l.to_string())).collect())
}

fn glob(pattern: &str) -> Result<Array> {
    let paths = glob::glob(pattern)
        .map_err(|e| script_error(format!("glob: bad pattern {pattern:?}: {}", e.msg)))?;
    let mut found = Vec::new();
    for entry in paths {
        match entry {
            Ok(path) => found.push(path.to_string_lossy().into_owned()),
            Err(e) => {
                let path = e.path().display().to_string();
                return Err(io_error("glob", "read", &path, e.error()));
            }
        }
    }
    found.sort();
    Ok(found.into_iter().map(Dynamic::from).collect())
}

fn list_dir(path: &str) -> Result<Array> {
    let entries = std::fs::read_dir(path).map_err(|e| io_error("list_dir", "list", path, &e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error("list_dir", "list", path, &e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names.into_iter().map(Dynamic::from).collect())
}

fn file_info(path: &str) -> Result<Map> {
    let meta = std::fs::metadata(path).map_err(|e| io_error("file_info", "read", path, &e))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    let mut info = Map::new();
    info.insert("size".into(), Dynamic::from_int(meta.len() as i64));
    info.insert("is_file".into(), Dynamic::from_bool(meta.is_file()));
    info.insert("is_dir".into(), Dynamic::from_bool(meta.is_dir()));
    info.insert("modified".into(), Dynamic::from_float(modified));
    Ok(info)
}

fn make_dir(path: &str) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| io_error("make_dir", "create", path, &e))
}

fn remove_file(path: &str) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| io_error("remove_file", "remove", path, &e))
}

/// Straight into a script value, with no JSON tree in between.
fn parse_json(text: &str) -> Result<Dynamic> {
    serde_json::from_str(text).map_err(|e| {
        script_error(format!(
            "parse_json: {} at line {}, column {}",
            json_reason(&e),
            e.line(),
            e.column()
        ))
    })
}

/// serde_json's message without its own "at line L column C" suffix.
pub(super) fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// `value` as JSON data: unit, bools, numbers, chars and strings, blobs (as
/// arrays of bytes), arrays and maps of these. Anything else (a queue, a
/// function, NaN) is an error naming it.
fn json_of(value: &Dynamic) -> std::result::Result<serde_json::Value, String> {
    use serde_json::Value as Json;
    if value.is_unit() {
        return Ok(Json::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Json::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Json::from(i));
    }
    if let Ok(f) = value.as_float() {
        return serde_json::Number::from_f64(f)
            .map(Json::Number)
            .ok_or_else(|| format!("the number {f} has no JSON form"));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Json::String(c.to_string()));
    }
    if let Some(s) = value.read_lock::<rhai::ImmutableString>() {
        return Ok(Json::String(s.to_string()));
    }
    if let Some(blob) = value.read_lock::<rhai::Blob>() {
        return Ok(Json::Array(blob.iter().map(|&b| Json::from(b)).collect()));
    }
    if let Some(items) = value.read_lock::<Array>() {
        return items
            .iter()
            .map(json_of)
            .collect::<std::result::Result<_, _>>()
            .map(Json::Array);
    }
    if let Some(map) = value.read_lock::<Map>() {
        return map
            .iter()
            .map(|(k, v)| Ok((k.to_string(), json_of(v)?)))
            .collect::<std::result::Result<_, String>>()
            .map(Json::Object);
    }
    Err(format!(
        "a value of type '{}' has no JSON form",
        super::convert::script_type_name(value)
    ))
}

fn to_json(value: &Dynamic, pretty: bool) -> Result<String> {
    let json = json_of(value).map_err(|e| script_error(format!("to_json: {e}")))?;
    let text = if pretty {
        serde_json::to_string_pretty(&json)
    } else {
        serde_json::to_string(&json)
    };
    text.map_err(|e| script_error(format!("to_json: {e}")))
}

fn csv_error(call: &str, path: &str, e: &csv::Error) -> Box<EvalAltResult> {
    match e.kind() {
        csv::ErrorKind::Io(io) => io_error(call, "read", path, io),
        _ => script_error(format!("{call}: {path}: {e}")),
    }
}

fn read_csv(path: &str) -> Result<Array> {
    let mut reader = csv::Reader::from_reader(stream::open("read_csv", path)?);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error("read_csv", path, &e))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Array::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error("read_csv", path, &e))?;
        let row: Map = header
            .iter()
            .zip(record.iter())
            .map(|(k, v)| (k.as_str().into(), Dynamic::from(v.to_string())))
            .collect();
        rows.push(Dynamic::from_map(row));
    }
    Ok(rows)
}

/// A CSV cell: strings as they are, other values as they print.
fn cell(value: &Dynamic) -> String {
    match value.clone().into_immutable_string() {
        Ok(s) => s.to_string(),
        Err(_) if value.is_unit() => String::new(),
        Err(_) => value.to_string(),
    }
}

/// Writes `rows` (maps, or arrays of cells) under `header`; for maps without
/// a header, the first row's keys in order.
fn write_csv(path: &str, rows: &Array, header: Option<Vec<String>>) -> Result<()> {
    let first_keys = rows.first().and_then(|r| {
        r.read_lock::<Map>()
            .map(|m| m.keys().map(|k| k.to_string()).collect())
    });
    let header = header.or(first_keys);
    // Every row is checked before the file is touched: a bad row leaves
    // the old file as it was.
    let mut records = Vec::with_capacity(rows.len() + 1);
    records.extend(header.clone());
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = if let Some(map) = row.read_lock::<Map>() {
            let Some(header) = &header else {
                return Err(script_error(
                    "write_csv: rows must all be maps or all arrays",
                ));
            };
            header
                .iter()
                .map(|k| map.get(k.as_str()).map(cell).unwrap_or_default())
                .collect()
        } else if let Some(cells) = row.read_lock::<Array>() {
            cells.iter().map(cell).collect()
        } else {
            return Err(script_error(format!(
                "write_csv: row {i} must be a map or an array, not {}",
                super::convert::script_type_name(row)
            )));
        };
        records.push(cells);
    }
    let fail = |e: csv::Error| match e.kind() {
        csv::ErrorKind::Io(io) => io_error("write_csv", "write", path, io),
        _ => script_error(format!("write_csv: {path}: {e}")),
    };
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(fail)?;
    for record in &records {
        writer.write_record(record).map_err(fail)?;
    }
    writer
        .flush()
        .map_err(|e| io_error("write_csv", "write", path, &e))
}

fn strings(call: &str, values: &Array) -> Result<Vec<String>> {
    values
        .iter()
        .map(|v| {
            v.clone()
                .into_immutable_string()
                .map(|s| s.to_string())
                .map_err(|t| script_error(format!("{call}: header names must be strings, not {t}")))
        })
        .collect()
}

pub fn register(engine: &mut Engine) {
    engine.register_fn("read_text", |path: &str| read_text(path));
    engine.register_fn("write_text", |path: &str, text: &str| {
        write_text(path, text)
    });
    engine.register_fn("append_text", |path: &str, text: &str| {
        append_text(path, text)
    });
    engine.register_fn("read_lines", |path: &str| read_lines(path));
    engine.register_fn("glob", |pattern: &str| glob(pattern));
    engine.register_fn("list_dir", |path: &str| list_dir(path));
    engine.register_fn("file_info", |path: &str| file_info(path));
    engine.register_fn("exists", |path: &str| Path::new(path).exists());
    engine.register_fn("make_dir", |path: &str| make_dir(path));
    engine.register_fn("remove_file", |path: &str| remove_file(path));
    engine.register_fn("parse_json", |text: &str| parse_json(text));
    engine.register_fn("to_json", |value: Dynamic| to_json(&value, false));
    engine.register_fn("to_json_pretty", |value: Dynamic| to_json(&value, true));
    engine.register_fn("read_csv", |path: &str| read_csv(path));
    engine.register_fn("write_csv", |path: &str, rows: Array| {
        write_csv(path, &rows, None)
    });
    engine.register_fn("write_csv", |path: &str, rows: Array, header: Array| {
        write_csv(path, &rows, Some(strings("write_csv", &header)?))
    });
}
