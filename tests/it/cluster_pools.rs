//! Pool work on a cluster's worker hosts: each test starts its own
//! `redis-server` and `mphost worker` hosts, and runs scripts with
//! `--cluster URL --local-workers 0`, so every pool worker runs on a host
//! and speaks to the run only through Redis.

use std::process::{Child, Command, Stdio};

use crate::common::{BIN, Run, alive, children_of, eventually, kill, run_file, script};
use crate::redis_server::RedisServer;

const SIGTERM: i32 = 15;

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
        let host = Command::new(BIN)
            .args(["worker", &self.url(), "--name", name])
            .args(["--workers", &workers.to_string()])
            .env_remove("MPHOST_CLUSTER")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mphost worker");
        let key = format!("mph:host:{name}");
        eventually("the host registers", || {
            self.server.cli(&["hget", &key, "pid"]).concat() == host.id().to_string()
        });
        self.hosts.push(host);
    }

    fn url(&self) -> String {
        self.server.url("")
    }

    /// Runs `source` with every pool worker on the hosts.
    fn run(&self, source: &str) -> Run {
        self.run_with(source, &["--local-workers", "0"])
    }

    fn run_with(&self, source: &str, flags: &[&str]) -> Run {
        let mut all = vec!["--cluster".to_string(), self.url()];
        all.extend(flags.iter().map(|f| f.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run_file(&script(source), &all, &[], &[])
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
    fn drop(&mut self) {
        for host in &self.hosts {
            kill(host.id() as i32, SIGTERM);
        }
        for host in &mut self.hosts {
            let _ = host.wait();
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
