//! Pool work on a cluster's worker hosts: each test starts its own
//! `redis-server` and `mphost worker` hosts, and runs scripts with
//! `--cluster URL --local-workers 0`, so every pool worker runs on a host
//! and speaks to the run only through Redis.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{
    BIN, Run, Streaming, alive, children_of, eventually, finish, kill, run_file, script, start_file,
};
use crate::redis_server::RedisServer;

const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;
const SIGCONT: i32 = 18;
const SIGSTOP: i32 = 19;

/// Starts `mphost worker URL --name NAME --workers N` with `env` added,
/// and waits until it has registered on `server`.
fn start_host(
    server: &RedisServer,
    url: &str,
    name: &str,
    workers: usize,
    env: &[(&str, &str)],
) -> Child {
    let host = Command::new(BIN)
        .args(["worker", url, "--name", name])
        .args(["--workers", &workers.to_string()])
        .envs(env.iter().copied())
        .env_remove("MPHOST_CLUSTER")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mphost worker");
    let key = format!("mph:host:{name}");
    eventually("the host registers", || {
        server.cli(&["hget", &key, "pid"]).concat() == host.id().to_string()
    });
    host
}

/// A Redis and worker hosts on it; the hosts are stopped (SIGTERM) and
/// waited for when it is dropped.
struct Cluster {
    server: RedisServer,
    hosts: Vec<Child>,
}

impl Cluster {
    /// A Redis and hosts named `h1`, `h2`... with `workers` workers each.
    fn start(hosts: usize, workers: usize) -> Cluster {
        let server = RedisServer::start();
        let mut cluster = Cluster {
            server,
            hosts: Vec::new(),
        };
        for n in 1..=hosts {
            cluster.add_host(&format!("h{n}"), workers);
        }
        cluster
    }

    fn add_host(&mut self, name: &str, workers: usize) {
        let host = start_host(&self.server, &self.url(), name, workers, &[]);
        self.hosts.push(host);
    }

    fn url(&self) -> String {
        self.server.url("")
    }

    /// `--cluster URL` and `flags`, for `mphost run`.
    fn flags(&self, flags: &[&str]) -> Vec<String> {
        let mut all = vec!["--cluster".to_string(), self.url()];
        all.extend(flags.iter().map(|f| f.to_string()));
        all
    }

    /// Runs `source` with every pool worker on the hosts.
    fn run(&self, source: &str) -> Run {
        self.run_with(source, &["--local-workers", "0"])
    }

    fn run_with(&self, source: &str, flags: &[&str]) -> Run {
        let all = self.flags(flags);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run_file(&script(source), &all, &[], &[])
    }

    /// Starts `source` with `flags` after `--cluster URL`; the script's
    /// file lives as long as the run's `Script`.
    fn start_run(&self, source: &str, flags: &[&str]) -> (crate::common::Script, Child) {
        let script = script(source);
        let all = self.flags(flags);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let child = start_file(&script.path, &all);
        (script, child)
    }

    /// Streams `source` with `flags` after `--cluster URL`.
    fn stream(&self, source: &str, flags: &[&str]) -> Streaming {
        let all = self.flags(flags);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        Streaming::start_with(source, &all)
    }

    /// Host `n` (from 0)'s pid.
    fn host_pid(&self, n: usize) -> i32 {
        self.hosts[n].id() as i32
    }

    /// Waits until host `n` runs `count` workers; their pids.
    fn busy(&self, n: usize, count: usize) -> Vec<i32> {
        let pid = self.host_pid(n);
        let mut workers = Vec::new();
        eventually("the host runs its workers", || {
            workers = children_of(pid).into_iter().filter(|&p| alive(p)).collect();
            workers.len() >= count
        });
        workers
    }

    /// The processes the hosts run now (their workers).
    fn workers(&self) -> Vec<i32> {
        self.hosts
            .iter()
            .flat_map(|h| children_of(h.id() as i32))
            .filter(|&p| alive(p))
            .collect()
    }
}

impl Drop for Cluster {
    /// Stops the hosts (a stopped one is continued to hear it), and kills
    /// one that does not stop within the hang limit.
    fn drop(&mut self) {
        for host in &self.hosts {
            kill(host.id() as i32, SIGTERM);
            kill(host.id() as i32, SIGCONT);
        }
        let started = Instant::now();
        for host in &mut self.hosts {
            while let Ok(None) = host.try_wait() {
                if started.elapsed() > crate::common::HANG_LIMIT {
                    let _ = host.kill();
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

#[test]
fn a_pool_map_runs_on_the_hosts_with_its_results_in_order() {
    let cluster = Cluster::start(2, 2);
    let run = cluster.run(
        r#"
        fn cube(x) { print(`cube ${x}`); x * x * x }
        let main = getpid();
        let pids = pool_map(|x| getpid(), [1, 2, 3, 4, 5, 6, 7, 8], 3);
        print(pool_map(cube, [1, 2, 3, 4, 5], 3));
        print(pids.all(|p| p != main));
        "#,
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    let mut lines = run.lines();
    assert_eq!(lines.pop(), Some("true"), "{run:#?}");
    assert_eq!(lines.pop(), Some("[1, 8, 27, 64, 125]"), "{run:#?}");
    // A remote worker's output reaches the run's stdout.
    lines.sort();
    assert_eq!(lines, ["cube 1", "cube 2", "cube 3", "cube 4", "cube 5"]);
    // Its workers end with the run: nothing is left on the hosts.
    eventually("the hosts' workers end", || cluster.workers().is_empty());
    eventually("the run's keys go", || cluster.server.run_keys().is_empty());
}

#[test]
fn a_pool_keeps_its_hosts_workers_between_jobs() {
    let cluster = Cluster::start(2, 2);
    let run = cluster.run(
        r#"
        let p = pool(3);
        let first = p.map(|x| x * 2, [1, 2, 3, 4]);
        let pending = p.apply_async(|a, b| a + b, [20, 22]);
        let next = p.imap(|x| x + 1, [1, 2, 3]);
        let collected = [];
        for v in next { collected.push(v); }
        print(first);
        print(pending.get());
        print(collected);
        print(p.starmap(|a, b| a * b, [[2, 3], [4, 5]]));
        p.close();
        p.join();
        print("joined");
        "#,
    );
    assert_eq!(
        (run.code, run.lines()),
        (
            Some(0),
            vec!["[2, 4, 6, 8]", "42", "[2, 3, 4]", "[6, 20]", "joined"]
        ),
        "{run:#?}"
    );
}

#[test]
fn a_pools_default_size_counts_the_hosts_workers() {
    let cluster = Cluster::start(2, 2);
    let run = cluster.run_with(
        "let p = pool(); print(p.pids().len()); p.terminate();",
        &["--local-workers", "1"],
    );
    assert_eq!((run.code, run.lines()), (Some(0), vec!["5"]), "{run:#?}");
}

#[test]
fn a_worker_that_dies_on_a_host_fails_the_job_naming_item_worker_and_host() {
    let cluster = Cluster::start(1, 2);
    let run = cluster.run(
        r#"
        fn f(x) { if x == 30 { exit(3) } x }
        try {
            pool_map(f, [10, 20, 30, 40], 2);
        } catch (e) {
            print(e);
        }
        print(pool_map(|x| x + 1, [1, 2], 2));
        "#,
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    let lines = run.lines();
    let failure = lines[0];
    assert!(
        failure.starts_with("pool_map: worker PoolWorker-")
            && failure.contains(" on h1) exited with code 3 while computing item 2"),
        "{run:#?}"
    );
    // The pool that failed is gone; the next one runs.
    assert_eq!(lines[1..], ["[2, 3]"], "{run:#?}");
}

#[test]
fn an_error_raised_on_a_host_is_reported_with_its_source_line() {
    let cluster = Cluster::start(1, 1);
    let run = cluster.run(
        r#"fn g(x) { if x == 4 { throw "bad four" } x }
print(pool_map(g, [1, 2, 3, 4, 5], 1));
"#,
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains("pool_map: item 3 failed in PoolWorker-")
            && first.contains(" on h1): bad four (line 1, position"),
        "{run:#?}"
    );
    assert!(run.stderr.contains(r#"throw "bad four""#), "{run:#?}");
}

#[test]
fn shared_objects_work_from_a_hosts_workers() {
    let cluster = Cluster::start(2, 1);
    let run = cluster.run(
        r#"
        let q = queue();
        let total = value(0);
        let l = lock();
        pool_map(|x| { q.put(x * 10); with l { total.set(total.get() + x); } }, [1, 2, 3, 4], 2);
        let got = [];
        for i in 0..4 { got.push(q.get()); }
        got.sort();
        print(got);
        print(total.get());
        "#,
    );
    assert_eq!(
        (run.code, run.lines()),
        (Some(0), vec!["[10, 20, 30, 40]", "10"]),
        "{run:#?}"
    );
}

#[test]
fn a_pool_larger_than_the_hosts_runs_on_what_they_have_and_ends() {
    // Two remote workers at most: the pool's other four are never started,
    // and are taken back when its work is done.
    let cluster = Cluster::start(1, 2);
    let run = cluster.run("print(pool_map(|x| x * x, [1, 2, 3, 4, 5, 6], 6));");
    assert_eq!(
        (run.code, run.lines()),
        (Some(0), vec!["[1, 4, 9, 16, 25, 36]"]),
        "{run:#?}"
    );
    eventually("the run's keys go", || cluster.server.run_keys().is_empty());
}

#[test]
fn a_host_stopped_while_idle_leaves_the_cluster_and_its_workers_go() {
    let mut cluster = Cluster::start(1, 2);
    let run = cluster.run("print(pool_map(|x| x, [1, 2, 3], 2));");
    assert_eq!(run.code, Some(0), "{run:#?}");
    let host = cluster.hosts.remove(0);
    kill(host.id() as i32, SIGTERM);
    let stopped = finish_host(host);
    assert_eq!(stopped.code, Some(0), "{stopped:#?}");
    assert_eq!(cluster.server.cli(&["exists", "mph:host:h1"]), ["0"]);
}

/// Waits for a host that was told to stop; its exit code and stderr.
fn finish_host(mut host: Child) -> Run {
    use std::io::Read;
    let status = host.wait().expect("wait for the host");
    let mut stderr = String::new();
    if let Some(mut err) = host.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    Run {
        code: status.code(),
        stdout: String::new(),
        stderr,
    }
}

/// A map of `items` slow items (0.4 s each), one per chunk, over `workers`.
fn slow_map(items: usize, workers: usize) -> String {
    format!(
        "fn slow(x) {{ sleep(0.4); x * 10 }}
        let items = [];
        for i in 0..{items} {{ items.push(i); }}
        let got = pool(#{{workers: {workers}}}).map(slow, items, 1);
        print(got == items.map(|x| x * 10));
        print(got.len());"
    )
}

#[test]
fn a_host_killed_mid_map_loses_no_item_and_none_runs_into_the_result_twice() {
    let cluster = Cluster::start(2, 2);
    let (_script, run) =
        cluster.start_run(&slow_map(12, 4), &["--local-workers", "0", "--lease", "1"]);
    let orphans = cluster.busy(0, 2);
    kill(cluster.host_pid(0), SIGKILL);
    let run = finish(run);
    assert_eq!(
        (run.code, run.lines()),
        (Some(0), vec!["true", "12"]),
        "{run:#?}"
    );
    assert!(
        run.stderr.contains("worker host h1 was lost (silent for"),
        "the main script's stderr says which host: {run:#?}"
    );
    // Its workers died with it.
    eventually("the lost host's workers end", || {
        orphans.iter().all(|&p| !alive(p))
    });
}

#[test]
fn a_host_stopped_past_its_lease_is_fenced_and_exits_when_it_resumes() {
    let mut cluster = Cluster::start(2, 2);
    let source = format!("{}\nprint(\"mapped\"); sleep(30);", slow_map(10, 4));
    let mut run = cluster.stream(&source, &["--local-workers", "0", "--lease", "1"]);
    cluster.busy(0, 2);
    kill(cluster.host_pid(0), SIGSTOP);
    // Its chunks run elsewhere: the map completes without it.
    assert_eq!(run.line(), "true");
    assert_eq!(run.line(), "10");
    assert_eq!(run.line(), "mapped");
    // Resumed while the run lives, its late results are refused, and it goes.
    let stopped = cluster.hosts.remove(0);
    kill(stopped.id() as i32, SIGCONT);
    let ended = finish_host(stopped);
    assert_eq!(ended.code, Some(1), "{ended:#?}");
    assert!(
        ended.stderr.contains("a run declared this host lost"),
        "{ended:#?}"
    );
    kill(run.pid(), SIGTERM);
    run.wait();
    assert!(
        run.stderr().contains("worker host h1 was lost"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_lock_held_by_a_lost_host_is_taken_by_the_main_script_after_about_a_lease() {
    let cluster = Cluster::start(1, 1);
    let mut run = cluster.stream(
        r#"
        let l = lock();
        let q = queue();
        let p = pool(1);
        let r = p.apply_async(|l, q| { l.acquire(); q.put(1); sleep(60); 0 }, [l, q]);
        q.get();
        print("held");
        l.acquire();
        print("taken");
        p.terminate();
        "#,
        &["--local-workers", "0", "--lease", "1"],
    );
    assert_eq!(run.line(), "held");
    let killed = Instant::now();
    kill(cluster.host_pid(0), SIGKILL);
    assert_eq!(run.line(), "taken");
    assert!(
        killed.elapsed() < Duration::from_secs(30),
        "taken after about a lease, not never"
    );
    assert_eq!(run.wait(), Some(0), "{}", run.stderr());
    assert!(
        run.stderr().contains("worker host h1 was lost"),
        "{}",
        run.stderr()
    );
}

#[test]
fn with_no_redeliveries_a_chunk_lost_with_its_host_fails_naming_item_and_host() {
    let cluster = Cluster::start(1, 1);
    let (_script, run) = cluster.start_run(
        r#"
        fn slow(x) { sleep(30); x }
        try { pool_map(slow, [7], 1); } catch (e) { print(e); }
        "#,
        &[
            "--local-workers",
            "0",
            "--lease",
            "1",
            "--max-redeliveries",
            "0",
        ],
    );
    cluster.busy(0, 1);
    kill(cluster.host_pid(0), SIGKILL);
    let run = finish(run);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let said = run.lines().concat();
    assert!(
        said.starts_with("pool_map: item 0 was lost with worker PoolWorker-1 (pid ")
            && said.contains(" on h1) and its host")
            && said.contains("--max-redeliveries is 0"),
        "{run:#?}"
    );
}

#[test]
fn a_host_stopped_mid_map_hands_its_chunks_back_and_exits_0() {
    let mut cluster = Cluster::start(2, 2);
    let (_script, run) = cluster.start_run(&slow_map(12, 4), &["--local-workers", "0"]);
    cluster.busy(0, 2);
    let leaving = cluster.hosts.remove(0);
    kill(leaving.id() as i32, SIGTERM);
    let left = finish_host(leaving);
    assert_eq!(left.code, Some(0), "{left:#?}");
    let run = finish(run);
    assert_eq!(
        (run.code, run.lines()),
        (Some(0), vec!["true", "12"]),
        "{run:#?}"
    );
    // Handed back, not lost: no failure, no host declared lost.
    assert!(!run.stderr.contains("failed"), "{run:#?}");
    assert!(!run.stderr.contains("was lost"), "{run:#?}");
}

#[test]
fn a_host_of_another_version_is_named_and_given_no_work() {
    let cluster = Cluster::start(0, 0);
    let now = cluster.server.cli(&["time"]);
    let ms = now[0].parse::<u64>().expect("seconds") * 1000;
    let ms = ms.to_string();
    cluster.server.cli(&[
        "hset",
        "mph:host:old",
        "pid",
        "1",
        "version",
        "0.0.1",
        "workers",
        "4",
        "beat",
        &ms,
    ]);
    cluster.server.cli(&["zadd", "mph:hosts", &ms, "old"]);
    let run = cluster.run_with(
        "print(pool().pids().len()); print(pool_map(|x| x + 1, [1, 2], 2));",
        &["--local-workers", "1"],
    );
    assert_eq!(
        (run.code, run.lines()),
        (Some(0), vec!["1", "[2, 3]"]),
        "{run:#?}"
    );
    assert_eq!(
        run.stderr.trim_end(),
        format!(
            "mphost: worker host old is mphost 0.0.1, and takes no work of this run (mphost {})",
            env!("CARGO_PKG_VERSION")
        ),
        "{run:#?}"
    );
}

#[test]
fn a_runs_queued_workers_outlive_its_lease_until_a_host_comes() {
    let mut cluster = Cluster::start(0, 0);
    let (_script, run) = cluster.start_run(
        "print(pool_map(|x| x * 2, [1, 2, 3], 2));",
        &["--local-workers", "0", "--lease", "0.5"],
    );
    // Several leases pass with the workers queued and no host.
    std::thread::sleep(Duration::from_secs(2));
    cluster.add_host("late", 2);
    let run = finish(run);
    assert_eq!(
        (run.code, run.lines()),
        (Some(0), vec!["[2, 4, 6]"]),
        "{run:#?}"
    );
    // The run said, once, what it waited for.
    assert_eq!(
        run.stderr,
        "mphost: 2 pool workers wait for a worker host: none has started a worker of this run \
         for 0.5 s; `mphost worker` on this run's Redis starts them (Ctrl-C stops the run)\n",
        "{run:#?}"
    );
}

/// A network namespace joined to this one by a veth pair: the outer end
/// is `outer_ip`, the inner `inner_ip`; both go when it is dropped.
struct NetNs {
    name: String,
    outer: String,
    outer_ip: String,
}

impl NetNs {
    fn create() -> NetNs {
        let pid = std::process::id();
        let (a, b) = ((pid >> 8) & 0xff, (pid & 0x3f) * 4);
        let net = NetNs {
            name: format!("mph-{pid}"),
            outer: format!("mphv{pid}a"),
            outer_ip: format!("10.{a}.{b}.1"),
        };
        let inner = format!("mphv{pid}b");
        let inner_ip = format!("10.{a}.{b}.2/30");
        let outer_ip = format!("{}/30", net.outer_ip);
        for command in [
            vec!["netns", "add", &net.name],
            vec![
                "link", "add", &net.outer, "type", "veth", "peer", "name", &inner,
            ],
            vec!["link", "set", &inner, "netns", &net.name],
            vec!["addr", "add", &outer_ip, "dev", &net.outer],
            vec!["link", "set", &net.outer, "up"],
            vec!["-n", &net.name, "addr", "add", &inner_ip, "dev", &inner],
            vec!["-n", &net.name, "link", "set", &inner, "up"],
            vec!["-n", &net.name, "link", "set", "lo", "up"],
        ] {
            let status = Command::new("ip").args(&command).status().expect("run ip");
            assert!(
                status.success(),
                "ip {command:?} (the test runs as root, as CI does)"
            );
        }
        net
    }

    /// Bytes the outer end has received from the namespace.
    fn received(&self) -> u64 {
        let path = format!("/sys/class/net/{}/statistics/rx_bytes", self.outer);
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.outer])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn a_host_in_its_own_network_namespace_serves_a_run_over_tcp() {
    let net = NetNs::create();
    // The veth is this test's alone: no password, so no protected mode.
    let server = RedisServer::start_with(&[
        "--port",
        "6379",
        "--bind",
        &net.outer_ip,
        "--protected-mode",
        "no",
    ]);
    let url = format!("redis://{}:6379", net.outer_ip);
    let mut host = Command::new("ip")
        .args(["netns", "exec", &net.name, BIN, "worker", &url])
        .args(["--name", "far", "--workers", "2"])
        .env_remove("MPHOST_CLUSTER")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a host in the namespace");
    eventually("the host registers over the veth", || {
        server.cli(&["hget", "mph:host:far", "pid"]).concat() == host.id().to_string()
    });
    let before = net.received();
    let run = run_file(
        &script("print(pool_map(|x| x * x, [1, 2, 3, 4], 2));"),
        &["--cluster", &url, "--local-workers", "0"],
        &[],
        &[],
    );
    assert_eq!(
        (run.code, run.lines()),
        (Some(0), vec!["[1, 4, 9, 16]"]),
        "{run:#?}"
    );
    assert!(
        net.received() > before,
        "the host's traffic crossed the veth"
    );
    kill(host.id() as i32, SIGTERM);
    let status = host.wait().expect("wait for the host");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_hosts_workers_are_sent_the_modules_the_script_imports() {
    let cluster = Cluster::start(1, 2);
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text);
    write(
        "helper.rhai",
        "import \"inner\" as inner; fn twice(x) { inner::add(x, x) }",
    )
    .expect("write");
    write("inner.rhai", "fn add(a, b) { a + b }").expect("write");
    write(
        "job.rhai",
        "import \"helper\" as h;\nprint(pool_map(|x| h::twice(x), [1, 2, 3], 2));",
    )
    .expect("write");
    // Run from the script's folder by a relative path: the host, elsewhere,
    // has no such files.
    let child = crate::common::mphost_run()
        .args([
            "--cluster",
            &cluster.url(),
            "--local-workers",
            "0",
            "job.rhai",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mphost");
    let run = finish(child);
    assert_eq!(
        (run.code, run.lines()),
        (Some(0), vec!["[2, 4, 6]"]),
        "{run:#?}"
    );
}

#[test]
fn the_acl_user_the_guide_documents_can_run_a_cluster_job() {
    let guide =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/src/cluster.md"))
            .expect("the guide's cluster page");
    let rule = guide
        .lines()
        .find(|l| l.starts_with("ACL SETUSER mphost "))
        .expect("the guide documents an ACL user")
        .replace(">PASSWORD", ">s3cret");
    let server = RedisServer::start();
    let words: Vec<&str> = rule.split_whitespace().collect();
    assert_eq!(server.cli(&words), ["OK"]);
    let url = server.url("user=mphost&pass=s3cret");
    let mut host = start_host(&server, &url, "least", 1, &[]);
    let run = run_file(
        &script(
            // Every kind of key the run's objects use: a queue's and a
            // list's items, a dict's entries, a lock in the objects hash.
            "let q = queue(); let d = manager_dict(); let l = manager_list([5]); let k = lock();
             print(pool_map(|x| { q.put(x); k.acquire(); d.set(`k${x}`, x); l.insert(0, x); k.release(); sleep(0.8); x * 3 }, [1, 2], 1));
             print(q.get() + q.get()); print(d.keys()); print(l.remove(2) + l.len());",
        ),
        // Long enough for the run to judge its host as this user, twice.
        &["--cluster", &url, "--local-workers", "0", "--lease", "0.5"],
        &[],
        &[],
    );
    assert_eq!(
        (run.code, run.lines()),
        (Some(0), vec!["[3, 6]", "3", r#"["k1", "k2"]"#, "7"]),
        "{run:#?}"
    );
    kill(host.id() as i32, SIGTERM);
    let status = host.wait().expect("wait for the host");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_host_that_dies_after_taking_a_worker_loses_it_to_another_host() {
    let mut cluster = Cluster::start(0, 0);
    // The first host takes the run's one worker off the queue and dies
    // before it starts it or says a word.
    let fault = [("MPHOST_TEST_FAULT", "host-dies-after-taking")];
    let doomed = start_host(&cluster.server, &cluster.url(), "doomed", 1, &fault);
    let (_script, run) = cluster.start_run(
        "print(pool_map(|x| x * 2, [1, 2, 3], 1));",
        &["--local-workers", "0", "--lease", "1"],
    );
    let doomed = finish_host(doomed);
    assert_eq!(doomed.code, None, "killed at its fault point");
    cluster.add_host("rescuer", 1);
    let run = finish(run);
    assert_eq!(
        (run.code, run.lines()),
        (Some(0), vec!["[2, 4, 6]"]),
        "{run:#?}"
    );
    assert!(
        run.stderr.contains("worker host doomed was lost"),
        "{run:#?}"
    );
}

/// A CA and a certificate it signed for 127.0.0.1, made with `openssl`
/// in `dir`: (ca.pem, server.pem, server.key).
fn certificates(dir: &std::path::Path) -> [std::path::PathBuf; 3] {
    let at = |name: &str| dir.join(name);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    std::fs::write(at("san.ext"), "subjectAltName=IP:127.0.0.1\n").expect("write");
    for args in [
        vec!["req", "-x509"]
            .into_iter()
            .chain(ec)
            .chain([
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=mphost test CA",
            ])
            .collect::<Vec<_>>(),
        vec!["req"]
            .into_iter()
            .chain(ec)
            .chain([
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ])
            .collect(),
        vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    ] {
        let made = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .output()
            .expect("openssl (Debian's openssl package)");
        assert!(made.status.success(), "openssl {args:?}: {made:?}");
    }
    [at("ca.pem"), at("server.pem"), at("server.key")]
}

#[test]
fn a_cluster_over_tls_runs_with_its_ca_and_is_refused_without() {
    let dir = tempfile::tempdir().expect("temp dir");
    let [ca, cert, key] = certificates(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
        .to_string();
    let path = |p: &std::path::Path| p.display().to_string();
    let server = RedisServer::start_with(&[
        "--tls-port",
        &port,
        "--bind",
        "127.0.0.1",
        "--tls-cert-file",
        &path(&cert),
        "--tls-key-file",
        &path(&key),
        "--tls-ca-cert-file",
        &path(&ca),
        "--tls-auth-clients",
        "no",
    ]);
    let url = format!("rediss://127.0.0.1:{port}");
    let ca_env = [("MPHOST_CLUSTER_CA", path(&ca))];
    // Without the CA, the server's certificate is nobody's: refused.
    let refused = run_file(&script("print(1);"), &["--cluster", &url], &[], &[]);
    assert_eq!(refused.code, Some(69), "{refused:#?}");
    assert_eq!(refused.stderr.lines().count(), 1, "{refused:#?}");
    assert!(
        refused
            .stderr
            .starts_with(&format!("mphost: cannot reach Redis at {url}")),
        "{refused:#?}"
    );
    let env: Vec<(&str, &str)> = ca_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut host = start_host(&server, &url, "tls", 1, &env);
    let run = run_file(
        &script("print(pool_map(|x| x + 1, [1, 2], 1));"),
        &["--cluster", &url, "--local-workers", "0"],
        &[],
        &env,
    );
    assert_eq!(
        (run.code, run.lines()),
        (Some(0), vec!["[2, 3]"]),
        "{run:#?}"
    );
    kill(host.id() as i32, SIGTERM);
    assert_eq!(host.wait().expect("wait for the host").code(), Some(0));
}

#[test]
fn max_memory_bounds_a_hosts_workers_too() {
    let cluster = Cluster::start(1, 1);
    let run = cluster.run_with(
        r#"
        fn grow() { let s = "x"; loop { s += s; } }
        try { pool_map(|x| grow(), [1], 1); } catch (e) { print(e); }
        print(pool_map(|x| x + 1, [1, 2], 1));
        "#,
        &["--local-workers", "0", "--max-memory", "256M"],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    let lines = run.lines();
    assert!(
        lines[0].starts_with("pool_map: worker PoolWorker-1 (pid ")
            && lines[0]
                .ends_with(" on h1) was killed by signal 6 (SIGABRT) while computing item 0"),
        "{run:#?}"
    );
    assert_eq!(lines[1], "[2, 3]", "{run:#?}");
    // The worker's own last line, written on its host, is the run's.
    let pid = lines[0]["pool_map: worker PoolWorker-1 (pid ".len()..]
        .split(' ')
        .next()
        .unwrap_or_default();
    assert!(
        run.stderr
            .contains(&format!("mphost: pid {pid} ran out of memory allocating ")),
        "{run:#?}"
    );
}

#[test]
fn a_hosts_workers_do_not_inherit_the_cluster_url_it_was_given() {
    let server = RedisServer::start();
    let url = server.url("");
    let host = Command::new(BIN)
        .args(["worker", "--name", "from-env", "--workers", "1"])
        .env("MPHOST_CLUSTER", &url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mphost worker");
    let host_pid = host.id() as i32;
    eventually("the host registers", || {
        server.cli(&["hget", "mph:host:from-env", "pid"]).concat() == host_pid.to_string()
    });
    let job = script("print(pool_map(|x| { sleep(30.0); x }, [1], 1));");
    let mut run = start_file(&job.path, &["--cluster", &url, "--local-workers", "0"]);
    let mut workers = Vec::new();
    eventually("the host starts the run's worker", || {
        workers = children_of(host_pid);
        !workers.is_empty()
    });
    for worker in workers {
        let environ = std::fs::read(format!("/proc/{worker}/environ")).unwrap_or_default();
        let environ = String::from_utf8_lossy(&environ);
        assert!(
            !environ.contains("MPHOST_CLUSTER="),
            "worker {worker} inherited the URL"
        );
    }
    kill(run.id() as i32, SIGTERM);
    let _ = run.wait();
    kill(host_pid, SIGTERM);
    let host = finish_host(host);
    assert_eq!(host.code, Some(0), "{host:#?}");
}

#[test]
fn a_host_cut_off_from_redis_connects_again_and_its_lost_chunks_run_again() {
    let cluster = Cluster::start(1, 2);
    // A lease far longer than the test: the run does not wait it out.
    let (_script, run) =
        cluster.start_run(&slow_map(8, 2), &["--local-workers", "0", "--lease", "60"]);
    let orphans = cluster.busy(0, 2);
    // Redis drops every connection of the host (as a network cut would):
    // it stops its workers and connects again, a new session.
    let clients = cluster.server.cli(&["client", "list"]);
    let ids: Vec<String> = clients
        .iter()
        .filter(|c| c.contains(" name=mph-host:h1#"))
        .filter_map(|c| c.strip_prefix("id=")?.split(' ').next().map(str::to_string))
        .collect();
    assert!(ids.len() >= 4, "the host's named connections: {clients:?}");
    for id in &ids {
        cluster.server.cli(&["client", "kill", "id", id]);
    }
    let run = finish(run);
    assert_eq!(
        (run.code, run.lines()),
        (Some(0), vec!["true", "8"]),
        "{run:#?}"
    );
    assert!(
        run.stderr
            .contains("worker host h1 was lost (it lost Redis and connected again)"),
        "{run:#?}"
    );
    eventually("the cut-off session's workers end", || {
        orphans.iter().all(|&p| !alive(p))
    });
}
