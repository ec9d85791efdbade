//! A real `redis-server` for the cluster tests: each test starts its own on
//! a Unix socket in a temporary folder (no TCP port, no file on disk) and
//! stops it when dropped. `.ci/run` installs the server when it is missing.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Child,
    dir: tempfile::TempDir,
    options: Vec<String>,
}

impl RedisServer {
    /// A server with its defaults (no password, `noeviction`).
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// A server started with these extra `redis-server` options.
    pub fn start_with(options: &[&str]) -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let options: Vec<String> = options.iter().map(|o| o.to_string()).collect();
        let child = spawn_server(&dir, &options);
        let mut server = RedisServer {
            child,
            dir,
            options,
        };
        server.wait_for_socket();
        server
    }

    /// Stops the server and starts a new one on the same socket, as a
    /// restarted Redis is: same address, none of its connections.
    pub fn restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(self.socket());
        self.child = spawn_server(&self.dir, &self.options);
        self.wait_for_socket();
    }

    fn wait_for_socket(&mut self) {
        let started = Instant::now();
        while !self.socket().exists() {
            let log = || std::fs::read_to_string(self.dir.path().join("redis.log"));
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("redis-server ended ({status}): {:?}", log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "redis-server made no socket in 20 s: {:?}",
                log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// Runs `redis-cli` on the server; its stdout's lines.
    pub fn cli(&self, args: &[&str]) -> Vec<String> {
        let out = Command::new("redis-cli")
            .arg("-s")
            .arg(self.socket())
            .args(args)
            .output()
            .expect("redis-cli (Debian's redis-tools, which redis-server brings)");
        assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The keys of every run (`mph:{RUN}:...`); hosts' keys and the
    /// shared ones are not a run's.
    pub fn run_keys(&self) -> Vec<String> {
        self.cli(&["--scan", "--pattern", "mph:{*"])
    }

    /// Stops the server now, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's URL, with `query` (such as `pass=secret`) if not empty.
    pub fn url(&self, query: &str) -> String {
        let mut url = format!("unix://{}", self.socket().display());
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        url
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `redis-server` on `dir`'s socket with `options`.
fn spawn_server(dir: &tempfile::TempDir, options: &[String]) -> Child {
    Command::new("redis-server")
        .args(["--port", "0", "--save", "", "--appendonly", "no"])
        .arg("--unixsocket")
        .arg(dir.path().join("redis.sock"))
        .arg("--dir")
        .arg(dir.path())
        .arg("--logfile")
        .arg(dir.path().join("redis.log"))
        .args(options)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start redis-server ({e}): .ci/run installs it (Debian's redis-server)")
        })
}

/// A run that lost the Redis at `url` ended with 69 and one line on
/// stderr: `mphost: lost Redis at URL during the run`, then `reason`'s
/// start.
pub fn assert_lost_redis(run: &mut crate::common::Streaming, url: &str, reason: &str) {
    assert_eq!(run.wait(), Some(69), "{}", run.stderr());
    let lines: Vec<&str> = run.stderr().lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let expected = format!("mphost: lost Redis at {url} during the run{reason}");
    assert!(lines[0].starts_with(&expected), "{lines:?}");
}
