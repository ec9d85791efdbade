//! The command line: `mphost run`, `mphost check`, `mphost test`,
//! `mphost worker` and `mphost man`, as clap sees them.
//! Parsing only; what each command does is in `main.rs`.

use std::path::PathBuf;
use std::time::Duration;

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
    /// Run scripts and compare their stdout and exit code with stored snapshots.
    Test(TestArgs),
    /// Write the man pages (mphost.1, mphost-run.1, mphost-check.1,
    /// mphost-test.1, mphost-man.1) into DIR.
    Man {
        /// The folder to write the pages into (made if missing).
        dir: PathBuf,
    },
    /// Internal: a worker started by the hub with `--start-method spawn`.
    #[command(name = "__worker", hide = true)]
    Worker,
    /// Serve the pool work of every run on a cluster's Redis until stopped
    /// (SIGINT or SIGTERM: its chunks are handed back, then it exits 0).
    #[command(name = "worker")]
    ClusterWorker(WorkerArgs),
}

/// `mphost worker URL`: a host that serves pool work through Redis.
#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// The cluster's Redis: redis://[user:password@]host:port[/db],
    /// rediss://... (TLS) or unix:///path/to/socket (MPHOST_CLUSTER gives
    /// it when absent).
    #[arg(value_name = "URL", env = "MPHOST_CLUSTER", hide_env_values = true)]
    pub url: String,
    /// Worker processes on this host (default: the number of CPUs).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub workers: Option<u32>,
    /// This host's name in messages and keys: letters, digits, `.`, `-`
    /// and `_` (default: its hostname and pid).
    #[arg(long, value_name = "NAME", value_parser = parse_host_name)]
    pub name: Option<String>,
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
    /// Limit each script process's memory (address space) to SIZE bytes,
    /// with an optional K, M or G suffix: a runaway process then fails alone.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<u64>,
    /// Prefix each line a worker prints with its name: `[Process-1] ...`.
    #[arg(long)]
    pub tag_output: bool,
    /// Hold each worker's output until it ends, then write it in one piece,
    /// in the order the workers were made: the same output on every run.
    #[arg(long)]
    pub ordered_output: bool,
    /// Write a trace of the run to FILE (Chrome trace-event JSON, for
    /// Perfetto or chrome://tracing): one track per process, its pool tasks
    /// and the time it waited.
    #[arg(long, value_name = "FILE.json")]
    pub trace: Option<PathBuf>,
    /// Never show a progress bar for long pool maps (shown on stderr only
    /// when it is a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// Cluster mode: run pool work on the hosts serving the Redis at URL
    /// (`mphost worker`) and keep the shared objects there:
    /// redis://[user:password@]host:port[/db], rediss://... (TLS) or
    /// unix:///path/to/socket (MPHOST_CLUSTER gives it when the flag is
    /// absent).
    #[arg(
        long,
        value_name = "URL",
        env = "MPHOST_CLUSTER",
        hide_env_values = true
    )]
    pub cluster: Option<String>,
    /// Cluster mode: at most N of a pool's workers run on this machine, the
    /// rest on the hosts (default: as without a cluster; 0 sends all out).
    #[arg(long, value_name = "N", requires = "cluster")]
    pub local_workers: Option<u32>,
    /// Cluster mode: how long a host may go silent before it is declared
    /// lost, and the run's keys outlive a run killed (default 10).
    #[arg(long, value_name = "SECONDS", requires = "cluster", value_parser = parse_lease)]
    pub lease: Option<Duration>,
    /// Cluster mode: how often a chunk lost with its host is run again
    /// before its job fails (default 3; 0 fails at once).
    #[arg(long, value_name = "N", requires = "cluster")]
    pub max_redeliveries: Option<u32>,
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

/// When `mphost test` colours its output.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// When stdout is a terminal and NO_COLOR is not set.
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    /// Scripts, or folders whose *.rhai scripts are tested (default: the current folder).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Accept this run's output: write every snapshot that differs.
    #[arg(long)]
    pub update: bool,
    /// Replace each match of REGEX (or only its capture groups) with
    /// [redacted] before comparing; repeatable. Pids (digits after the word
    /// "pid") are always redacted.
    #[arg(long, value_name = "REGEX")]
    pub redact: Vec<String>,
    /// Stop a script (and all its processes) that runs longer than SECS and
    /// count it as failed.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_seconds)]
    pub timeout: Duration,
    /// Colour the diffs and status words.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Compare (and store) stderr too, redacted like stdout.
    #[arg(long)]
    pub stderr: bool,
}

/// A positive number of seconds, fractions allowed.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("'{text}' is not a positive number of seconds"))
}

/// A host's name: it goes into key names and messages.
fn parse_host_name(text: &str) -> Result<String, String> {
    let fair = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    match text.len() {
        1..=64 if text.chars().all(fair) => Ok(text.to_string()),
        _ => Err("a host's name is 1 to 64 letters, digits, '.', '-' or '_'".to_string()),
    }
}

/// A lease: seconds, from half a second (renewals are a third of it
/// apart) to an hour (Redis closes idle connections, by default never, but
/// a lease of days would only hide a lost host).
fn parse_lease(text: &str) -> Result<Duration, String> {
    let lease = parse_seconds(text)?;
    if !(Duration::from_millis(500)..=Duration::from_secs(3600)).contains(&lease) {
        return Err(format!("a lease is 0.5 to 3600 seconds, not {text}"));
    }
    Ok(lease)
}

/// `512M`, `2G`, `65536K` or a plain number of bytes; at least 16M.
fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&text[..at], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    let scale: u64 = match unit {
        'B' => 1,
        'K' => 1 << 10,
        'M' => 1 << 20,
        'G' => 1 << 30,
        _ => return Err(format!("unknown unit '{unit}' (use K, M or G)")),
    };
    let bytes = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("'{text}' is not a size like 512M or 2G"))?;
    if bytes < 16 << 20 {
        return Err(format!(
            "{text} is too small to run a script (at least 16M)"
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::{parse_lease, parse_seconds, parse_size};
    use std::time::Duration;

    #[test]
    fn sizes_take_a_unit_and_refuse_nonsense() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("33554432"), Ok(32 << 20));
        assert!(parse_size("1K").is_err());
        assert!(parse_size("12X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn leases_are_half_a_second_to_an_hour() {
        assert_eq!(parse_lease("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_lease("3600"), Ok(Duration::from_secs(3600)));
        for bad in ["0.4", "3601", "1e30", "0", "soon"] {
            assert!(parse_lease(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timeouts_are_positive_seconds() {
        assert_eq!(parse_seconds("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["0", "-1", "NaN", "inf", "1e300", "soon"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}
