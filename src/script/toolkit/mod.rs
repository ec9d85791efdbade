//! The data toolkit: per-record work in Rust, so that a data script's Rhai
//! is glue (issue 13). Each file is one family of script functions:
//! `columns` (CSV and JSON-lines files read as one array per field),
//! `counter` (counting), `group` (grouping and sorting by key), `numbers`
//! (rounding, fixed decimals, times), `stats`
//! (statistics), `stream` (files read as they are iterated, gzip), `text`
//! (regexes, words, strings returned new), `vector` (whole-column
//! arithmetic, masks, joins). Plain functions and plain
//! values only: nothing here talks to the hub or to another process.

mod columns;
pub mod counter;
mod group;
mod numbers;
mod order;
mod stats;
pub mod stream;
pub mod text;
mod vector;

use rhai::Engine;

pub fn register(engine: &mut Engine) {
    columns::register(engine);
    counter::register(engine);
    group::register(engine);
    numbers::register(engine);
    stats::register(engine);
    stream::register(engine);
    text::register(engine);
    vector::register(engine);
}
