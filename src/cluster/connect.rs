//! Opening the connection to a cluster's Redis, and the checks made before
//! anything runs: it answers, it takes the login, it is 6.2 or newer (the
//! commands mphost relies on), and it never evicts keys (an evicted key
//! would be a shared object or a chunk of pool work silently lost).

use std::time::Duration;

use redis::{Connection, ErrorKind, RedisError};

use super::ClusterUrl;

/// How long connecting, or any one reply, may take before Redis counts as
/// unreachable (a frozen server must not freeze the run).
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// The oldest Redis mphost works with.
const OLDEST: (u32, u32) = (6, 2);

/// Why a cluster's Redis cannot be used: one line, naming the URL without
/// its password; `mphost` exits with `exit_status::UNAVAILABLE`.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("mphost: cannot reach Redis at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("mphost: Redis at {url} refused the login: {reason}")]
    Login { url: String, reason: String },
    #[error("mphost: Redis at {url} is version {version}; mphost needs 6.2 or newer")]
    TooOld { url: String, version: String },
    #[error(
        "mphost: Redis at {url} may evict keys (maxmemory-policy {policy}); mphost needs noeviction, or shared objects could vanish"
    )]
    Evicts { url: String, policy: String },
    #[error(
        "mphost: Redis at {url}: cannot read the CA certificates in MPHOST_CLUSTER_CA ({path}): {reason}"
    )]
    NoCa {
        url: String,
        path: String,
        reason: String,
    },
    #[error("mphost: Redis at {url} is a Redis Cluster node; mphost needs a single Redis")]
    RedisCluster { url: String },
    #[error("mphost: Redis at {url} refused a command mphost needs: {reason}")]
    NoRights { url: String, reason: String },
}

/// Connects to `url`'s Redis, logged in, each reply awaited at most
/// `ANSWER_WITHIN`; no other check (for a further connection to a Redis
/// that `connect` has checked).
pub fn open(url: &ClusterUrl) -> Result<Connection, ClusterError> {
    let shown = url.to_string();
    let failed = |e: RedisError| refusal(&shown, e);
    let client = match url.is_tls() {
        true => {
            let root_cert = trusted_roots(&shown)?;
            // The process's one provider; installed once, whoever is first.
            // ring needs no system library nor cmake (aws-lc-rs would); its
            // lack of post-quantum key exchange is why rustls deprecates it.
            #[allow(deprecated)]
            let _ = rustls::crypto::ring::default_provider().install_default();
            let certificates = redis::TlsCertificates {
                client_tls: None,
                root_cert,
            };
            redis::Client::build_with_tls(url.secret_form(), certificates)
        }
        false => redis::Client::open(url.secret_form()),
    }
    .map_err(failed)?;
    let mut connection = client
        .get_connection_with_timeout(ANSWER_WITHIN)
        .map_err(failed)?;
    connection
        .set_read_timeout(Some(ANSWER_WITHIN))
        .and_then(|()| connection.set_write_timeout(Some(ANSWER_WITHIN)))
        .map_err(failed)?;
    // A server that wants a password refuses the first command without one.
    redis::cmd("PING")
        .query::<String>(&mut connection)
        .map_err(failed)?;
    Ok(connection)
}

/// Names a host's connection in Redis's `CLIENT LIST`
/// (`mph-host:NAME#PID.SESSION`), so that an operator (or a test) can tell
/// them apart. A Redis that refuses the name only leaves it unnamed.
pub fn name_host_client(connection: &mut Connection, host: &str) {
    let _ = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(format!("mph-host:{host}"))
        .query::<()>(connection);
}

/// Connects to `url`'s Redis and checks it can serve a run.
pub fn connect(url: &ClusterUrl) -> Result<Connection, ClusterError> {
    let mut connection = open(url)?;
    let shown = url.to_string();
    let failed = |e: RedisError| refusal(&shown, e);
    let server: String = redis::cmd("INFO")
        .arg("server")
        .query(&mut connection)
        .map_err(failed)?;
    let version = info_field(&server, "redis_version").unwrap_or("unknown");
    if !at_least(version, OLDEST) {
        return Err(ClusterError::TooOld {
            url: shown,
            version: version.to_string(),
        });
    }
    let cluster: String = redis::cmd("INFO")
        .arg("cluster")
        .query(&mut connection)
        .map_err(failed)?;
    if info_field(&cluster, "cluster_enabled") == Some("1") {
        return Err(ClusterError::RedisCluster { url: shown });
    }
    let policy = eviction_policy(&mut connection).map_err(failed)?;
    if policy != "noeviction" {
        return Err(ClusterError::Evicts { url: shown, policy });
    }
    Ok(connection)
}

/// The certificates a `rediss://` server's must chain to: those of the
/// PEM file `MPHOST_CLUSTER_CA` names, else the system's.
fn trusted_roots(url: &str) -> Result<Option<Vec<u8>>, ClusterError> {
    let Some(path) = std::env::var_os("MPHOST_CLUSTER_CA").filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    std::fs::read(&path)
        .map(Some)
        .map_err(|e| ClusterError::NoCa {
            url: url.to_string(),
            path: std::path::Path::new(&path).display().to_string(),
            reason: e.to_string(),
        })
}

/// The server's `maxmemory-policy`: from `CONFIG GET`, or from `INFO
/// memory` for a user whose rights do not reach `CONFIG`.
fn eviction_policy(connection: &mut Connection) -> Result<String, RedisError> {
    let config: Result<Vec<String>, RedisError> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy")
        .query(connection);
    if let Ok(pair) = config
        && let [_, policy] = pair.as_slice()
    {
        return Ok(policy.clone());
    }
    let memory: String = redis::cmd("INFO").arg("memory").query(connection)?;
    Ok(info_field(&memory, "maxmemory_policy")
        .unwrap_or("unknown")
        .to_string())
}

/// The value of `field` in an `INFO` reply (`field:value` lines).
fn info_field<'i>(info: &'i str, field: &str) -> Option<&'i str> {
    info.lines()
        .filter_map(|line| line.trim_end().split_once(':'))
        .find(|(key, _)| *key == field)
        .map(|(_, value)| value)
}

/// Whether a version like `7.0.15` is at least `oldest` (major, minor).
fn at_least(version: &str, oldest: (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= oldest,
        _ => false,
    }
}

/// A failed connection or command as the one line a user reads.
fn refusal(url: &str, e: RedisError) -> ClusterError {
    let reason = first_line(&e.to_string());
    let url = url.to_string();
    if e.kind() == ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
    {
        ClusterError::Login { url, reason }
    } else if e.code() == Some("NOPERM") {
        ClusterError::NoRights { url, reason }
    } else {
        ClusterError::Unreachable { url, reason }
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_major_then_minor() {
        assert!(at_least("7.0.15", OLDEST));
        assert!(at_least("6.2.0", OLDEST));
        assert!(at_least("10.0", OLDEST));
        assert!(!at_least("6.0.16", OLDEST));
        assert!(!at_least("5.9", OLDEST));
        assert!(!at_least("unknown", OLDEST));
    }

    #[test]
    fn info_fields_are_found_by_their_whole_name() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_version_x:1\r\n";
        assert_eq!(info_field(info, "redis_version"), Some("7.0.15"));
        assert_eq!(info_field(info, "maxmemory_policy"), None);
    }
}
