//! The data toolkit: per-record work in Rust, so that a data script's Rhai
//! is glue (issue 13). Each file is one family of script functions:
//! `counter` (counting), `group` (grouping and sorting by key), `numbers`
//! (rounding, fixed decimals, times), `stats`
//! (statistics), `stream` (files read as they are iterated, gzip), `text`
//! (regexes, words, strings returned new). Plain functions and plain
//! values only: nothing here talks to the hub or to another process.

pub mod counter;
mod group;
mod numbers;
mod order;
mod stats;
pub mod stream;
pub mod text;

use rhai::Engine;

pub fn register(engine: &mut Engine) {
    counter::register(engine);
    group::register(engine);
    numbers::register(engine);
    stats::register(engine);
    stream::register(engine);
    text::register(engine);
}
