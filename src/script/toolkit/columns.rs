//! Files read as columns: `csv_columns(path)` and `json_columns(path)` give
//! a map from each field's name to an array of its values, one per row, so
//! a script hands whole columns to the toolkit (`mul`, `sum_by`,
//! `group_by`, `counter`) instead of looping over records in Rhai; with a
//! second argument, `csv_columns(path, rows)` and `json_columns(path,
//! rows)` are loops over batches of at most `rows` rows, so a file of any
//! size is read in bounded memory.
//!
//! With a list of fields first, only those are read.
//!
//! CSV cells are typed per column: integers when every non-empty cell is
//! one, floats when every non-empty cell is a finite number, strings
//! otherwise; an empty cell is `()` in any column, and a batch is never
//! typed narrower than the batches before it. JSON values keep their JSON
//! types, and a field a line lacks is `()` in that row. Repeated strings in
//! a column share one copy. Errors name the file and the line, as the
//! other readers' do. Reading only: nothing here keeps state between
//! calls.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::marker::PhantomData;

use ahash::RandomState;

use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, INT, ImmutableString, Map};
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::stream::{LineReader, Rows, checked, csv_failure, failed, open, positive};
use crate::script::script_error;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// Distinct strings a column shares; past them it stops looking (a column
/// of ids would only grow the table).
const SHARED_STRINGS: usize = 4096;

/// One copy of each repeated string of a column (or of `zip_join`'s keys).
#[derive(Default)]
pub(super) struct Strings(HashSet<ImmutableString, RandomState>);

impl Strings {
    pub(super) fn get(&mut self, s: &str) -> ImmutableString {
        if self.0.len() >= SHARED_STRINGS {
            return s.into(); // a column of ids: looking up would only cost
        }
        if let Some(shared) = self.0.get(s) {
            return shared.clone();
        }
        let made = ImmutableString::from(s);
        self.0.insert(made.clone());
        made
    }
}

// ---- CSV -------------------------------------------------------------------

/// A CSV file's records, read a batch at a time.
struct CsvBatches {
    path: ImmutableString,
    reader: csv::Reader<Box<dyn std::io::BufRead>>,
    /// The columns read: each one's place in a record, and its name.
    picked: Vec<(usize, ImmutableString)>,
    /// Each picked column's kind so far: a batch is never typed narrower
    /// than the ones before it.
    kinds: Vec<Kind>,
    records: Vec<csv::StringRecord>,
    rows: usize,
    done: bool,
}

impl Batches for CsvBatches {
    const CALL: &'static str = CSV;
    const LOOP: &'static str = "CsvColumns";

    fn open(ask: Ask) -> Result<CsvBatches> {
        let path = ask.path;
        let mut reader = csv::Reader::from_reader(open(CSV, &path)?);
        let header: Vec<ImmutableString> = match reader.headers() {
            Ok(names) => names.iter().map(Into::into).collect(),
            Err(e) => return Err(csv_failure(CSV, &path, &e)),
        };
        let picked: Vec<(usize, ImmutableString)> = match ask.fields {
            None => header.into_iter().enumerate().collect(),
            // A name the header repeats is its last column, as in the map
            // of the whole header.
            Some(fields) => {
                let place = |name: ImmutableString| match header.iter().rposition(|h| *h == name) {
                    Some(j) => Ok((j, name)),
                    None if header.is_empty() => Err(script_error(format!(
                        "{CSV}: {path}: no column '{name}' (the file has no header)"
                    ))),
                    None => Err(script_error(format!(
                        "{CSV}: {path}: no column '{name}' (the header has {})",
                        header.join(", ")
                    ))),
                };
                fields.into_iter().map(place).collect::<Result<_>>()?
            }
        };
        Ok(CsvBatches {
            path,
            reader,
            kinds: vec![Kind::Int; picked.len()],
            picked,
            records: Vec::new(),
            rows: ask.rows,
            done: false,
        })
    }

    fn next_batch(&mut self) -> Option<Result<Map>> {
        let mut filled = 0;
        while !self.done && filled < self.rows {
            if self.records.len() == filled {
                self.records.push(csv::StringRecord::new());
            }
            match self.reader.read_record(&mut self.records[filled]) {
                Ok(true) => filled += 1,
                Ok(false) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(csv_failure(CSV, &self.path, &e)));
                }
            }
        }
        if filled == 0 && self.done {
            return None;
        }
        let rows = &self.records[..filled];
        let columns = self
            .picked
            .iter()
            .zip(&mut self.kinds)
            .map(|((j, name), kind)| {
                let cells = rows.iter().map(|r| r.get(*j).unwrap_or(""));
                let (cells, typed_as) = typed(cells, *kind);
                *kind = typed_as;
                (name.as_str().into(), Dynamic::from_array(cells))
            });
        Some(Ok(columns.collect()))
    }

    fn empty(&mut self) -> Map {
        let columns = self.picked.iter();
        columns
            .map(|(_, name)| (name.as_str().into(), Dynamic::from_array(Array::new())))
            .collect()
    }
}

/// What a CSV column's cells are read as, narrowest first.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Kind {
    Int,
    Float,
    Str,
}

/// Some text that is a finite number: a digit in it, and Rust reads it as
/// one (so `inf`, `nan` and `1e999` stay text).
fn float_of(cell: &str) -> Option<FLOAT> {
    let number = cell.bytes().any(|b| b.is_ascii_digit());
    number
        .then(|| cell.parse().ok())
        .flatten()
        .filter(|f: &FLOAT| f.is_finite())
}

/// A column's cells as integers, floats or strings, the narrowest that
/// every non-empty cell fits, and no narrower than `at_least`; an empty
/// cell is `()` whatever the column's kind. Returns the kind it took.
fn typed<'a>(cells: impl Iterator<Item = &'a str> + Clone, at_least: Kind) -> (Array, Kind) {
    let read = |parse: &dyn Fn(&str) -> Option<Dynamic>| -> Option<Array> {
        let cell = |c: &str| match c {
            "" => Some(Dynamic::UNIT),
            _ => parse(c),
        };
        cells.clone().map(cell).collect()
    };
    if at_least == Kind::Int
        && let Some(ints) = read(&|c| c.parse::<INT>().ok().map(Dynamic::from_int))
    {
        return (ints, Kind::Int);
    }
    if at_least <= Kind::Float
        && let Some(floats) = read(&|c| float_of(c).map(Dynamic::from_float))
    {
        return (floats, Kind::Float);
    }
    let mut strings = Strings::default();
    let cell = |c: &str| match c {
        "" => Dynamic::UNIT,
        _ => Dynamic::from(strings.get(c)),
    };
    (cells.map(cell).collect(), Kind::Str)
}

// ---- JSON lines ----------------------------------------------------------------

/// Columns being filled from JSON lines, one object a line.
#[derive(Default)]
struct JsonTable {
    /// Only the fields asked for are read; others are skipped unparsed.
    only: bool,
    index: HashMap<Box<str>, usize, RandomState>,
    /// The field last seen at each place in a line, and its column: lines
    /// usually list their fields in one order, so most names are found
    /// without hashing.
    places: Vec<(ImmutableString, Option<usize>)>,
    names: Vec<ImmutableString>,
    columns: Vec<Array>,
    strings: Vec<Strings>,
    rows: usize,
}

impl JsonTable {
    /// A table of every field (`None`), or of only `fields`.
    fn new(fields: Option<&[ImmutableString]>) -> JsonTable {
        let mut table = JsonTable {
            only: fields.is_some(),
            ..JsonTable::default()
        };
        for name in fields.unwrap_or_default() {
            table.column_of(name);
        }
        table
    }

    /// The column of `name`, made (with `()` for the rows before) when new.
    fn column_of(&mut self, name: &str) -> usize {
        if let Some(&j) = self.index.get(name) {
            return j;
        }
        let j = self.names.len();
        self.index.insert(name.into(), j);
        self.names.push(name.into());
        self.columns.push(vec![Dynamic::UNIT; self.rows]);
        self.strings.push(Strings::default());
        j
    }

    /// The column of the line's field number `place`, named `name`; `None`
    /// when it is not read.
    fn column(&mut self, place: usize, name: &str) -> Option<usize> {
        if let Some((_, column)) = self.places.get(place).filter(|(seen, _)| seen == name) {
            return *column;
        }
        let column = match self.only {
            true => self.index.get(name).copied(),
            false => Some(self.column_of(name)),
        };
        if self.places.len() <= place {
            self.places
                .resize(place + 1, (ImmutableString::new(), None));
        }
        self.places[place] = (name.into(), column);
        column
    }

    /// Reads one line's object into the next row.
    fn add_line(&mut self, line: &str) -> std::result::Result<(), serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(line);
        let known = self.names.len();
        let read = RowSeed(self).deserialize(&mut de).and_then(|()| de.end());
        let row = self.rows;
        if read.is_err() {
            // A failed line leaves no trace in the table: no new column,
            // no cell.
            for name in self.names.drain(known..) {
                self.index.remove(name.as_str());
            }
            self.columns.truncate(known);
            self.strings.truncate(known);
            self.places.clear();
        }
        for column in &mut self.columns {
            match read {
                Err(_) => column.truncate(row),
                Ok(()) if column.len() == row => column.push(Dynamic::UNIT),
                Ok(()) => {}
            }
        }
        read.map(|()| self.rows += 1)
    }

    /// The rows so far as columns; the table starts again empty, with the
    /// same columns.
    fn take(&mut self) -> Map {
        self.rows = 0;
        let columns = self.names.iter().zip(&mut self.columns);
        columns
            .map(|(name, cells)| {
                (
                    name.as_str().into(),
                    Dynamic::from_array(std::mem::take(cells)),
                )
            })
            .collect()
    }
}

/// Reads an object's fields into the table's next row.
struct RowSeed<'t>(&'t mut JsonTable);

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> std::result::Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let table = self.0;
        let row = table.rows;
        let mut place = 0;
        while let Some(read) = map.next_key_seed(KeySeed {
            table: &mut *table,
            place,
        })? {
            place += 1;
            let Some(j) = read else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let value = map.next_value_seed(CellSeed(&mut table.strings[j]))?;
            let column = &mut table.columns[j];
            match column.len() > row {
                true => column[row] = value, // a repeated field: the last one
                false => column.push(value),
            }
        }
        Ok(())
    }
}

/// The name of a line's field number `place`, as its column's number (no
/// string made per line), or `None` for a field not read.
struct KeySeed<'t> {
    table: &'t mut JsonTable,
    place: usize,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        de: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        de.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, name: &str) -> std::result::Result<Self::Value, E> {
        Ok(self.table.column(self.place, name))
    }
}

/// A field's value as a script value; strings shared within the column.
struct CellSeed<'s>(&'s mut Strings);

impl<'de> DeserializeSeed<'de> for CellSeed<'_> {
    type Value = Dynamic;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> std::result::Result<Dynamic, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed<'_> {
    type Value = Dynamic;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> std::result::Result<Dynamic, E> {
        Ok(Dynamic::from_bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Dynamic, E> {
        Ok(Dynamic::from_int(v))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Dynamic, E> {
        Ok(INT::try_from(v).map_or_else(|_| Dynamic::from_float(v as FLOAT), Dynamic::from_int))
    }

    fn visit_f64<E>(self, v: f64) -> std::result::Result<Dynamic, E> {
        Ok(Dynamic::from_float(v))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Dynamic, E> {
        Ok(Dynamic::from(self.0.get(v)))
    }

    fn visit_unit<E>(self) -> std::result::Result<Dynamic, E> {
        Ok(Dynamic::UNIT)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<Dynamic, A::Error> {
        serde::Deserialize::deserialize(SeqAccessDeserializer::new(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Dynamic, A::Error> {
        serde::Deserialize::deserialize(MapAccessDeserializer::new(map))
    }
}

/// A JSON-lines file's lines, read a batch at a time.
struct JsonBatches {
    reader: LineReader,
    table: JsonTable,
    rows: usize,
}

impl Batches for JsonBatches {
    const CALL: &'static str = JSON;
    const LOOP: &'static str = "JsonColumns";

    fn open(ask: Ask) -> Result<JsonBatches> {
        Ok(JsonBatches {
            reader: LineReader::open(JSON, ask.path)?,
            table: JsonTable::new(ask.fields.as_deref()),
            rows: ask.rows,
        })
    }

    fn next_batch(&mut self) -> Option<Result<Map>> {
        while self.table.rows < self.rows {
            let line = match self.reader.next_filled_line() {
                None => break,
                Some(Ok(line)) => line,
                Some(Err(e)) => return Some(Err(e)),
            };
            if let Err(e) = self.table.add_line(&line) {
                return Some(Err(self.reader.fail_json(&e)));
            }
        }
        (self.table.rows > 0).then(|| Ok(self.table.take()))
    }

    /// The fields asked for, empty (or no fields at all).
    fn empty(&mut self) -> Map {
        self.table.take()
    }
}

// ---- The calls ---------------------------------------------------------------

const CSV: &str = "csv_columns";
const JSON: &str = "json_columns";

/// What a script asked to read: a file, maybe only some fields, and the
/// rows of a batch (`usize::MAX`: the whole file at once).
#[derive(Clone)]
pub struct Ask {
    path: ImmutableString,
    fields: Option<Vec<ImmutableString>>,
    rows: usize,
}

impl Ask {
    /// Checks the arguments, and that the file opens, at the call.
    fn new(
        call: &str,
        path: ImmutableString,
        fields: Option<Array>,
        rows: Option<INT>,
    ) -> Result<Ask> {
        let fields = match fields {
            None => None,
            Some(fields) => Some(field_names(call, fields)?),
        };
        let rows = match rows {
            None => usize::MAX,
            Some(rows) => positive(call, "rows", rows)?,
        };
        let path = checked(call, path)?;
        Ok(Ask { path, fields, rows })
    }
}

fn field_names(call: &str, fields: Array) -> Result<Vec<ImmutableString>> {
    let name = |(i, f): (usize, Dynamic)| {
        let kind = crate::script::convert::script_type_name(&f);
        f.into_immutable_string()
            .map_err(|_| script_error(format!("{call}: field {i} is a {kind}, not a name")))
    };
    fields.into_iter().enumerate().map(name).collect()
}

/// A file read a batch of rows at a time, as columns.
trait Batches: Sized + 'static {
    const CALL: &'static str;
    const LOOP: &'static str;

    fn open(ask: Ask) -> Result<Self>;

    /// The next batch; `None` when no row is left.
    fn next_batch(&mut self) -> Option<Result<Map>>;

    /// The columns with no rows.
    fn empty(&mut self) -> Map;

    /// `csv_columns(path)`, `json_columns(path)`: the whole file at once.
    fn whole(ask: Ask) -> Result<Map> {
        let mut batches = Self::open(ask)?;
        batches.next_batch().unwrap_or_else(|| Ok(batches.empty()))
    }
}

/// What `csv_columns(path, rows)` and `json_columns(path, rows)` return:
/// a loop over batches, which opens the file when it starts.
pub struct Columns<B> {
    ask: Ask,
    reader: PhantomData<fn() -> B>,
}

impl<B> Columns<B> {
    fn new(ask: Ask) -> Self {
        Columns {
            ask,
            reader: PhantomData,
        }
    }
}

impl<B> Clone for Columns<B> {
    fn clone(&self) -> Self {
        Columns::new(self.ask.clone())
    }
}

impl<B: Batches> IntoIterator for Columns<B> {
    type Item = Result<Dynamic>;
    type IntoIter = Rows;

    fn into_iter(self) -> Rows {
        match B::open(self.ask) {
            Ok(mut batches) => Box::new(std::iter::from_fn(move || {
                batches.next_batch().map(|b| b.map(Dynamic::from_map))
            })),
            Err(e) => failed(e),
        }
    }
}

/// `call(path)`, `call(path, fields)`, `call(path, rows)` and
/// `call(path, fields, rows)` for one kind of file.
fn register_reader<B: Batches>(engine: &mut Engine) {
    let call = B::CALL;
    engine.register_type_with_name::<Columns<B>>(B::LOOP);
    engine.register_iterator_result::<Columns<B>, Dynamic>();
    engine.register_fn(call, move |path: ImmutableString| {
        B::whole(Ask::new(call, path, None, None)?)
    });
    engine.register_fn(call, move |path: ImmutableString, fields: Array| {
        B::whole(Ask::new(call, path, Some(fields), None)?)
    });
    engine.register_fn(call, move |path: ImmutableString, rows: INT| {
        Ask::new(call, path, None, Some(rows)).map(Columns::<B>::new)
    });
    engine.register_fn(
        call,
        move |path: ImmutableString, fields: Array, rows: INT| {
            Ask::new(call, path, Some(fields), Some(rows)).map(Columns::<B>::new)
        },
    );
}

pub fn register(engine: &mut Engine) {
    register_reader::<CsvBatches>(engine);
    register_reader::<JsonBatches>(engine);
}
