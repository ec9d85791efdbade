//! The data toolkit: per-record work in Rust, so that a data script's Rhai
//! is glue (issue 13). Each file is one family of script functions:
//! `counter` (counting), `stats` (statistics). Plain functions and plain
//! values only: nothing here talks to the hub or to another process.

pub mod counter;
mod stats;

use rhai::Engine;

pub fn register(engine: &mut Engine) {
    counter::register(engine);
    stats::register(engine);
}
