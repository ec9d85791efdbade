//! Cluster mode's door: the URL, and the checks made on the cluster's Redis
//! before anything runs (exit 69 and one line naming the URL, its password
//! hidden), against a real `redis-server` each test starts.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use crate::common::{BIN, Run, Streaming, eventually, finish, kill, run_file, script};
use crate::redis_server::{RedisServer, assert_lost_redis};

const UNAVAILABLE: Option<i32> = Some(69);

fn worker(url: &str) -> Run {
    let child = Command::new(BIN)
        .args(["worker", url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mphost worker");
    finish(child)
}

fn run_on(url: &str) -> Run {
    run_file(&script("print(1);"), &["--cluster", url], &[], &[])
}

/// The one line a failed check prints.
fn one_line(run: &Run) -> &str {
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {run:#?}");
    lines[0]
}

#[test]
fn a_redis_that_takes_the_run_passes_the_checks() {
    let server = RedisServer::start();
    let run = run_on(&server.url(""));
    assert_eq!((run.code, run.lines()), (Some(0), vec!["1"]), "{run:#?}");
}

/// Starts `mphost worker URL` with `flags`.
fn start_worker(url: &str, flags: &[&str]) -> std::process::Child {
    Command::new(BIN)
        .args(["worker", url])
        .args(flags)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mphost worker")
}

/// A field of host `name`'s key.
fn host_field(server: &RedisServer, name: &str, field: &str) -> String {
    let key = format!("mph:host:{name}");
    server.cli(&["hget", &key, field]).concat()
}

#[test]
fn a_worker_host_beats_under_its_name_until_stopped() {
    let server = RedisServer::start();
    for signal in [SIGTERM, SIGINT] {
        let host = start_worker(&server.url(""), &["--name", "h1", "--workers", "3"]);
        eventually("the host registers", || {
            host_field(&server, "h1", "pid") == host.id().to_string()
        });
        assert_eq!(host_field(&server, "h1", "workers"), "3");
        assert_eq!(
            host_field(&server, "h1", "version"),
            env!("CARGO_PKG_VERSION")
        );
        let first: u64 = host_field(&server, "h1", "beat").parse().expect("ms");
        eventually("the host beats again", || {
            host_field(&server, "h1", "beat")
                .parse::<u64>()
                .expect("ms")
                > first
        });
        kill(host.id() as i32, signal);
        let stopped = finish(host);
        assert_eq!(stopped.code, Some(0), "{stopped:#?}");
        assert_eq!(
            server.cli(&["exists", "mph:host:h1"]),
            ["0"],
            "deregistered"
        );
    }
}

#[test]
fn two_live_workers_cannot_share_a_name_and_by_default_do_not() {
    let server = RedisServer::start();
    let url = server.url("");
    let first = start_worker(&url, &["--name", "same"]);
    eventually("the first registers", || {
        !host_field(&server, "same", "pid").is_empty()
    });
    let second = finish(start_worker(&url, &["--name", "same"]));
    assert_eq!(second.code, Some(2), "{second:#?}");
    assert!(
        one_line(&second).contains("another worker is serving as same"),
        "{second:#?}"
    );
    let (a, b) = (start_worker(&url, &[]), start_worker(&url, &[]));
    eventually("both default names register", || {
        server.cli(&["--scan", "--pattern", "mph:host:*"]).len() == 3
    });
    for host in [first, a, b] {
        kill(host.id() as i32, SIGTERM);
        assert_eq!(finish(host).code, Some(0));
    }
}

#[test]
fn a_worker_that_loses_redis_connects_again_and_serves_the_runs_after() {
    let mut server = RedisServer::start();
    let url = server.url("");
    let host = start_worker(&url, &["--name", "h2"]);
    eventually("the host registers", || {
        !host_field(&server, "h2", "pid").is_empty()
    });
    // A Redis restarted has none of the host's keys: it registers again.
    server.restart();
    eventually("the host registers again", || {
        !host_field(&server, "h2", "pid").is_empty()
    });
    let run = run_file(
        &script("print(pool_map(|x| x + 1, [1, 2], 1));"),
        &["--cluster", &url, "--local-workers", "0"],
        &[],
        &[],
    );
    assert_eq!(
        (run.code, run.lines()),
        (Some(0), vec!["[2, 3]"]),
        "{run:#?}"
    );
    kill(host.id() as i32, SIGTERM);
    let stopped = finish(host);
    assert_eq!(stopped.code, Some(0), "{stopped:#?}");
    let lines: Vec<&str> = stopped.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("mphost worker: lost Redis at {url}: "))
            && lines[0].ends_with("; its workers are stopped, and it connects again"),
        "{lines:?}"
    );
    assert_eq!(
        lines[1],
        format!("mphost worker: connected to Redis at {url} again")
    );
}

#[test]
fn a_worker_waiting_to_connect_again_stops_on_sigterm() {
    let mut server = RedisServer::start();
    let url = server.url("");
    let mut host = start_worker(&url, &["--name", "h3"]);
    eventually("the host registers", || {
        !host_field(&server, "h3", "pid").is_empty()
    });
    let mut stderr = BufReader::new(host.stderr.take().expect("piped stderr"));
    server.kill();
    // Lost (it says so), it waits to connect again; a stop signal ends the wait.
    let mut lost = String::new();
    stderr.read_line(&mut lost).expect("read the host's stderr");
    assert!(
        lost.starts_with(&format!("mphost worker: lost Redis at {url}")),
        "{lost:?}"
    );
    kill(host.id() as i32, SIGTERM);
    let status = host.wait().expect("wait for the host");
    assert_eq!(status.code(), Some(0));
    let mut rest = String::new();
    stderr
        .read_to_string(&mut rest)
        .expect("read the host's stderr");
    assert_eq!(rest, "");
}

/// A run that prints, naps `secs`, and prints again.
fn napping(secs: f64) -> String {
    format!(r#"print("started"); sleep({secs}); print("done");"#)
}

#[test]
fn a_runs_keys_live_under_its_lease_and_go_when_it_ends() {
    let server = RedisServer::start();
    let url = server.url("");
    let mut run = Streaming::start_with(&napping(30.0), &["--cluster", &url]);
    assert_eq!(run.line(), "started");
    let mut keys = server.run_keys();
    keys.sort();
    assert_eq!(keys.len(), 3, "the index, the lease, the script: {keys:?}");
    let run_prefix = keys[0].strip_suffix("keys").expect("the index");
    assert!(
        run_prefix.starts_with("mph:{") && run_prefix.ends_with("}:"),
        "{keys:?}"
    );
    assert_eq!(keys[1], format!("{run_prefix}lease"));
    assert_eq!(keys[2], format!("{run_prefix}script"));
    for key in &keys {
        assert!(lease_left(&server, key) > 0, "{key} expires with the lease");
    }
    // The script is published for worker hosts, listed in the run's index.
    assert_eq!(server.cli(&["smembers", &keys[0]]), [keys[2].clone()]);
    let published = server.cli(&["--raw", "get", &keys[2]]).concat();
    assert!(published.contains(r#"print("started")"#), "{published:?}");
    assert!(
        published.contains(env!("CARGO_PKG_VERSION")),
        "{published:?}"
    );
    // Stopped by SIGTERM, the run still deletes its keys.
    kill(run.pid(), SIGTERM);
    assert_eq!(run.wait(), Some(128 + SIGTERM), "{}", run.stderr());
    assert_eq!(server.run_keys(), Vec::<String>::new());
}

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;
const SIGCONT: i32 = 18;
const SIGSTOP: i32 = 19;

/// The milliseconds left on `key` (-2 when it is gone).
fn lease_left(server: &RedisServer, key: &str) -> i64 {
    server.cli(&["pttl", key])[0].parse().expect("a number")
}

#[test]
fn a_lapsed_lease_is_lost_not_taken_again() {
    let server = RedisServer::start();
    let url = server.url("");
    let mut run = Streaming::start_with(&napping(30.0), &["--cluster", &url, "--lease", "0.6"]);
    assert_eq!(run.line(), "started");
    kill(run.pid(), SIGSTOP);
    eventually("the stopped run's lease lapses", || {
        server.run_keys().is_empty()
    });
    kill(run.pid(), SIGCONT);
    assert_eq!(run.wait(), UNAVAILABLE, "{}", run.stderr());
    assert!(
        run.stderr().contains("the run's lease had lapsed"),
        "{}",
        run.stderr()
    );
    assert_eq!(server.run_keys(), Vec::<String>::new(), "not taken again");
}

#[test]
fn a_reader_slow_on_stdout_does_not_starve_the_lease() {
    let server = RedisServer::start();
    let url = server.url("");
    // Far more than a pipe holds: the hub's writes wait for this test.
    let source = r#"print("started"); for i in 0..20000 { print("a line of output, one of many") } print("done");"#;
    let mut run = Streaming::start_with(source, &["--cluster", &url, "--lease", "1.5"]);
    assert_eq!(run.line(), "started");
    // Long past the lease: renewals go on however full stdout is (a lease
    // of 1.5 s leaves a second of slack to a loaded machine).
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let keys = server.run_keys();
    assert_eq!(
        keys.len(),
        3,
        "the lease held while stdout was full: {keys:?}"
    );
    let mut last = run.line();
    while !last.is_empty() && last != "done" {
        last = run.line();
    }
    assert_eq!(last, "done", "{}", run.stderr());
    assert_eq!(run.wait(), Some(0), "{}", run.stderr());
}

#[test]
fn a_killed_runs_keys_expire_with_its_lease() {
    let server = RedisServer::start();
    let url = server.url("");
    let mut run = Streaming::start_with(&napping(30.0), &["--cluster", &url, "--lease", "0.6"]);
    assert_eq!(run.line(), "started");
    assert_eq!(server.run_keys().len(), 3);
    kill(run.pid(), 9);
    run.wait();
    eventually("the killed run's keys expire", || {
        server.run_keys().is_empty()
    });
}

#[test]
fn losing_redis_during_a_run_ends_it_with_69_and_one_line() {
    check_redis_lost(RedisServer::kill);
}

#[test]
fn a_redis_restarted_during_a_run_is_lost_too_not_reconnected() {
    check_redis_lost(RedisServer::restart);
}

/// A run loses Redis to `fault` while it naps: it ends with 69 and one
/// line naming the URL, long before its nap would have.
fn check_redis_lost(fault: fn(&mut RedisServer)) {
    let mut server = RedisServer::start();
    let url = server.url("");
    let mut run = Streaming::start_with(&napping(30.0), &["--cluster", &url, "--lease", "0.6"]);
    assert_eq!(run.line(), "started");
    fault(&mut server);
    assert_lost_redis(&mut run, &url, "");
}

#[test]
fn an_unreachable_redis_is_exit_69_naming_the_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("unix://{}/none.sock", dir.path().display());
    for run in [run_on(&url), worker(&url)] {
        assert_eq!(run.code, UNAVAILABLE, "{run:#?}");
        let line = one_line(&run);
        assert!(line.starts_with("mphost: cannot reach Redis at "), "{line}");
        assert!(line.contains(&url), "{line}");
    }
    let tcp = run_on("redis://ann:s3cret@127.0.0.1:1/0");
    assert_eq!(tcp.code, UNAVAILABLE, "{tcp:#?}");
    let line = one_line(&tcp);
    assert!(line.contains("redis://ann:***@127.0.0.1:1/0"), "{line}");
    assert!(!tcp.stderr.contains("s3cret"), "{line}");
}

#[test]
fn a_refused_login_is_exit_69_and_the_password_is_never_shown() {
    let server = RedisServer::start_with(&["--requirepass", "right-one"]);
    for query in ["", "pass=wrong-one"] {
        let run = run_on(&server.url(query));
        assert_eq!(run.code, UNAVAILABLE, "{run:#?}");
        let line = one_line(&run);
        assert!(line.contains("refused the login"), "{line}");
        assert!(
            !line.contains("wrong-one") && !line.contains("right-one"),
            "{line}"
        );
    }
    let run = run_on(&server.url("pass=right-one"));
    assert_ne!(run.code, UNAVAILABLE, "{run:#?}");
}

#[test]
fn a_redis_that_may_evict_keys_is_refused() {
    let server = RedisServer::start_with(&["--maxmemory-policy", "allkeys-lru"]);
    let run = worker(&server.url(""));
    assert_eq!(run.code, UNAVAILABLE, "{run:#?}");
    let line = one_line(&run);
    assert!(
        line.contains("maxmemory-policy allkeys-lru") && line.contains("noeviction"),
        "{line}"
    );
}

#[test]
fn a_redis_cluster_node_is_refused() {
    let server = RedisServer::start_with(&["--cluster-enabled", "yes"]);
    let run = worker(&server.url(""));
    assert_eq!(run.code, UNAVAILABLE, "{run:#?}");
    assert!(
        one_line(&run).contains("is a Redis Cluster node"),
        "{run:#?}"
    );
}

#[test]
fn the_url_may_come_from_mphost_cluster() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("unix://{}/none.sock", dir.path().display());
    let run = run_file(&script("print(1);"), &[], &[], &[("MPHOST_CLUSTER", &url)]);
    assert_eq!(run.code, UNAVAILABLE, "{run:#?}");
    assert!(one_line(&run).contains(&url), "{run:#?}");
    let host = Command::new(BIN)
        .arg("worker")
        .env("MPHOST_CLUSTER", &url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mphost worker");
    let host = finish(host);
    assert_eq!(host.code, UNAVAILABLE, "{host:#?}");
    assert!(one_line(&host).contains(&url), "{host:#?}");
    let empty = run_file(&script("print(1);"), &[], &[], &[("MPHOST_CLUSTER", "")]);
    assert_eq!(
        (empty.code, empty.lines()),
        (Some(0), vec!["1"]),
        "{empty:#?}"
    );
}

#[test]
fn a_url_that_does_not_parse_is_a_usage_error_that_does_not_repeat_it() {
    for (url, says) in [
        (
            "http://ann:s3cret@host:1",
            "must be redis://, rediss:// or unix://",
        ),
        (
            "redis://ann:s3cret@host:1/zero",
            "database must be a number",
        ),
        ("unix://", "absolute path"),
    ] {
        let run = run_on(url);
        assert_eq!(run.code, Some(2), "{run:#?}");
        let line = one_line(&run);
        assert!(line.contains(says), "{url}: {line}");
        assert!(!line.contains("s3cret"), "{line}");
    }
}

#[test]
fn cluster_options_need_a_cluster() {
    let run = run_file(&script("print(1);"), &["--local-workers", "2"], &[], &[]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("--cluster"), "{run:#?}");
}
