//! mphost: runs a Rhai script whose functions run in parallel, each in its
//! own OS process. This file only wires the command line to the parts:
//! `cli` (flags), `script` (engine and bindings), `hub` (the supervisor),
//! `interpreter` (what each forked process runs; the hub is given its entry
//! here), `child` (a child's role, identity and descriptors, which the hub
//! makes and the interpreter reads), `client` (a process's link
//! to the hub), `wire` (what crosses between them), `store` (shared objects), `shm`
//! (shared-memory words between the hub and its children), `oom` (the
//! allocator's one-line out-of-memory report), `snapshot_test` (`mphost
//! test`: scripts run as child `mphost run`s against stored snapshots),
//! `trace_recorder` (the clock and what a process records for `--trace`).

mod child;
mod cli;
mod client;
mod cluster;
mod diagnostics;
mod exit_status;
mod hub;
mod interpreter;
mod oom;
mod script;
mod shm;
mod snapshot_test;
mod store;
mod test_fault;
mod trace_recorder;
mod wire;

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: oom::Allocator = oom::Allocator;

use exit_status::USAGE as EXIT_USAGE;

/// Rhai's hashing seed, fixed so that a script compiled in two processes
/// (`--start-method spawn`) gives its closures the same names in both.
const HASHING_SEED: [u64; 4] = [0x6d70_686f_7374, 0x5268_6169, 0x7365_6564, 0x0001];

fn main() -> ExitCode {
    // Before any Engine exists; only fails if already set.
    let _ = rhai::config::hashing::set_hashing_seed(Some(HASHING_SEED));
    let cli = cli::Cli::parse();
    // The cluster's URL, password and all, is read: the processes a run or
    // a host starts do not inherit it.
    // SAFETY: nothing else runs yet (one thread, no other reader).
    unsafe { std::env::remove_var("MPHOST_CLUSTER") };
    match cli.command {
        cli::Command::Check { file } => check(&file),
        cli::Command::Run(args) => run(args),
        cli::Command::Test(args) => test(args),
        cli::Command::Man { dir } => man(&dir),
        cli::Command::Worker => ExitCode::from(status_byte(interpreter::run_launched())),
        cli::Command::ClusterWorker(args) => cluster_worker(&args),
    }
}

/// Connects to a cluster's Redis and checks it can serve (exit 69 and one
/// line when not), or refuses a URL that does not parse (exit 2).
fn open_cluster(text: &str) -> Result<(cluster::ClusterUrl, redis::Connection), ExitCode> {
    let url = cluster::ClusterUrl::parse(text).map_err(|e| {
        fail(
            &format!("mphost: the cluster URL is refused: {e}"),
            EXIT_USAGE,
        )
    })?;
    match cluster::connect(&url) {
        Ok(connection) => Ok((url, connection)),
        Err(e) => Err(fail(&e.to_string(), exit_status::UNAVAILABLE)),
    }
}

/// `--cluster`: the run's lease on its keys in the cluster's Redis, with
/// the script published for worker hosts (`mph:{RUN}:script`).
fn take_lease(
    args: &cli::RunArgs,
    program: &script::Program,
) -> Result<Option<cluster::RunLease>, ExitCode> {
    // An empty MPHOST_CLUSTER is no cluster.
    let Some(text) = args.cluster.as_ref().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let (url, connection) = open_cluster(text)?;
    let lease = args.lease.unwrap_or(cluster::DEFAULT_LEASE);
    let unavailable = |e: cluster::LostRedis| fail(&e.to_string(), exit_status::UNAVAILABLE);
    let mut lease = cluster::RunLease::take(connection, &url, lease, std::time::Instant::now())
        .map_err(unavailable)?;
    let published = wire::RunScript {
        version: env!("CARGO_PKG_VERSION").to_string(),
        script: program.info.script_text(),
    };
    let bytes = wire::encode_body(&published).map_err(|e| {
        fail(
            &format!("mphost: cannot publish the script: {e}"),
            EXIT_USAGE,
        )
    })?;
    match lease.put("script", &bytes) {
        Ok(()) => Ok(Some(lease)),
        Err(e) => {
            let _ = lease.release();
            Err(unavailable(e))
        }
    }
}

/// A cluster run: `--local-workers` of each pool on this machine (by
/// default the pool default, `workers`), the rest on the hosts; without
/// `--workers`, a pool's default size is those local workers and every
/// live host's.
fn cluster_run(
    args: &cli::RunArgs,
    mut lease: cluster::RunLease,
    workers: usize,
    program: &mut script::Program,
) -> Result<hub::ClusterRun, ExitCode> {
    let local_workers = args.local_workers.map_or(workers, |n| n as usize);
    let (hosts, others) = match lease.hosts_capacity() {
        Ok(capacity) => capacity,
        Err(e) => {
            let _ = lease.release();
            return Err(fail(&e.to_string(), exit_status::UNAVAILABLE));
        }
    };
    // Said here, once: a host never sees another version's runs.
    for (host, version) in others {
        eprintln!(
            "mphost: worker host {host} is mphost {version}, and takes no work of this run (mphost {})",
            env!("CARGO_PKG_VERSION")
        );
    }
    if args.workers.is_none() {
        script::set_default_workers(program, (local_workers + hosts).max(1));
    }
    Ok(hub::ClusterRun {
        lease,
        local_workers,
        max_redeliveries: args
            .max_redeliveries
            .unwrap_or(cluster::DEFAULT_MAX_REDELIVERIES),
    })
}

/// `mphost worker URL`: a host of the cluster, until SIGINT or SIGTERM.
fn cluster_worker(args: &cli::WorkerArgs) -> ExitCode {
    let (url, connection) = match open_cluster(&args.url) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let workers = args.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let name = args.name.clone().unwrap_or_else(cluster::default_name);
    match cluster::serve(connection, &url, &name, workers) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ cluster::HostError::NameTaken { .. }) => fail(&e.to_string(), EXIT_USAGE),
        Err(e @ cluster::HostError::Fenced) => fail(&e.to_string(), 1),
        Err(e) => fail(&e.to_string(), exit_status::UNAVAILABLE),
    }
}

fn read_script(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ if path.is_dir() => "is a directory".to_string(),
            _ => e.to_string(),
        };
        format!("mphost: cannot read {}: {reason}", path.display())
    })?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "mphost: cannot read {}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

fn check(path: &Path) -> ExitCode {
    let source = match read_script(path) {
        Ok(s) => s,
        Err(message) => return fail(&message, EXIT_USAGE),
    };
    match script::check(&source) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&diagnostics::parse_error(path, &source, &e), EXIT_USAGE),
    }
}

fn run(args: cli::RunArgs) -> ExitCode {
    let file = args.file();
    let source = match read_script(&file) {
        Ok(s) => s,
        Err(message) => return fail(&message, EXIT_USAGE),
    };
    let workers = args.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let settings = script::RunSettings {
        args: args.script_args(),
        workers,
        start_method: match args.start_method {
            cli::StartMethod::Fork => script::StartMethod::Fork,
            cli::StartMethod::Spawn => script::StartMethod::Spawn,
        },
        max_memory: args.max_memory,
        tag_output: args.tag_output,
        ordered_output: args.ordered_output,
        trace: args.trace.is_some(),
        progress: !args.no_progress,
    };
    let mut program = match script::load(&source, file.clone(), settings, interpreter::register) {
        Ok(p) => p,
        Err(e) => return fail(&diagnostics::parse_error(&file, &source, &e), EXIT_USAGE),
    };
    // Made before the run, so a path that cannot be written costs no run.
    let trace = match args
        .trace
        .as_deref()
        .map(hub::TraceFile::create)
        .transpose()
    {
        Ok(trace) => trace,
        Err(e) => return fail(&format!("mphost: {e}"), EXIT_USAGE),
    };
    // Last, after every check that costs no Redis.
    let lease = match take_lease(&args, &program) {
        Ok(lease) => lease,
        Err(code) => return code,
    };
    let cluster = match lease.map(|lease| cluster_run(&args, lease, workers, &mut program)) {
        Some(Err(code)) => return code,
        Some(Ok(cluster)) => Some(cluster),
        None => None,
    };
    match hub::run(&program, trace, cluster, interpreter::run) {
        Ok(code) => ExitCode::from(status_byte(code)),
        Err(e) => fail(&format!("mphost: {e}"), 1),
    }
}

fn test(args: cli::TestArgs) -> ExitCode {
    let settings = snapshot_test::Settings {
        paths: args.paths,
        update: args.update,
        redact: args.redact,
        timeout: args.timeout,
        colour: match args.color {
            cli::ColorChoice::Auto => snapshot_test::Colour::Auto,
            cli::ColorChoice::Always => snapshot_test::Colour::Always,
            cli::ColorChoice::Never => snapshot_test::Colour::Never,
        },
        stderr: args.stderr,
    };
    ExitCode::from(snapshot_test::run(&settings))
}

/// The byte an exit code `code` leaves as a process's status, as the
/// kernel keeps it for `_exit` (a forked worker): modulo 256, so `exit(-1)`
/// is 255 and `exit(300)` is 44 under both start methods.
fn status_byte(code: i32) -> u8 {
    code.rem_euclid(256) as u8
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(code)
}

/// `mphost man DIR`: a page for `mphost` and one for each command, rendered
/// from the clap definitions (the hidden `__worker` has none).
fn man(dir: &Path) -> ExitCode {
    use clap::CommandFactory;
    let root = cli::Cli::command();
    let mut pages = vec![("mphost".to_string(), root.clone())];
    for sub in root.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = format!("mphost-{}", sub.get_name());
        let page = sub
            .clone()
            .display_name(name.clone())
            .bin_name(format!("mphost {}", sub.get_name()));
        pages.push((name, page));
    }
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        for (name, command) in pages {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .title(name.to_uppercase())
                .render(&mut page)?;
            std::fs::write(dir.join(format!("{name}.1")), page)?;
        }
        Ok(())
    });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(
            &format!(
                "mphost man: cannot write the pages into {}: {e}",
                dir.display()
            ),
            EXIT_USAGE,
        ),
    }
}
