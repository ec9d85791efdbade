//! The command line: `mphost run` and `mphost check`, as clap sees them.
//! Parsing only; what each command does is in `main.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "mphost",
    version,
    about = "Run Rhai scripts whose functions run in parallel in their own processes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a script; its extra arguments are the array constant ARGS.
    Run(RunArgs),
    /// Parse a script without running it and report syntax errors.
    Check {
        /// The script to check.
        file: PathBuf,
    },
    /// Internal: a worker started by the hub with `--start-method spawn`.
    #[command(name = "__worker", hide = true)]
    Worker,
}

/// How worker processes start.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartMethod {
    /// Forked from the supervisor: fast, inherits the compiled script.
    #[default]
    Fork,
    /// A fresh mphost executable per worker that compiles the script again.
    Spawn,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Default number of worker processes for pool_map (default: the number of CPUs).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub workers: Option<u32>,
    /// How worker processes start.
    #[arg(long, value_enum, default_value_t = StartMethod::Fork)]
    pub start_method: StartMethod,
    /// The script to run, then the arguments it sees as ARGS. Everything after
    /// the script's name is the script's, flags included (as with `python3 script.py --x`).
    #[arg(
        required = true,
        value_name = "FILE [ARGS]",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    script: Vec<String>,
}

impl RunArgs {
    /// The script's path.
    pub fn file(&self) -> PathBuf {
        PathBuf::from(&self.script[0])
    }

    /// The arguments after the script's path.
    pub fn script_args(&self) -> Vec<String> {
        self.script[1..].to_vec()
    }
}
