//! A cluster URL: `redis://[user:password@]host[:port][/db]`, `rediss://...`
//! (TLS) or `unix:///path/to/socket[?db=N&user=U&pass=P]`. It is shown
//! everywhere built from the parts it may show, its password as `***`, and
//! a URL that does not parse is refused without repeating any of it (it
//! may hold a password; one with an unencoded `/`, `?`, `#` or `&` in its
//! password is cut up where the password would show, so such a cut is
//! refused too).

use std::fmt;

/// A Redis URL that parsed, with a form fit to print.
#[derive(Clone, PartialEq)]
pub struct ClusterUrl {
    url: url::Url,
}

/// Why a cluster URL was refused: never any part of the URL.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum UrlError {
    #[error("not a URL ({0})")]
    Syntax(String),
    #[error("the scheme must be redis://, rediss:// or unix://")]
    Scheme,
    #[error("a redis:// or rediss:// URL needs a host")]
    NoHost,
    #[error("a unix:// URL needs the socket's absolute path (unix:///path/to/socket)")]
    NoPath,
    #[error("the database must be a number")]
    Database,
    #[error("it has parts a Redis URL has not (percent-encode a / ? # & or @ in the password)")]
    Stray,
}

/// The query keys a `unix://` URL may have.
const UNIX_KEYS: [&str; 3] = ["db", "user", "pass"];

impl ClusterUrl {
    pub fn parse(text: &str) -> Result<ClusterUrl, UrlError> {
        let url = url::Url::parse(text).map_err(|e| UrlError::Syntax(e.to_string()))?;
        if url.fragment().is_some() || url.path().contains('@') {
            return Err(UrlError::Stray);
        }
        match url.scheme() {
            "redis" | "rediss" => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(UrlError::NoHost);
                }
                if url.query().is_some() {
                    return Err(UrlError::Stray);
                }
                let db = url.path().trim_start_matches('/');
                if !db.is_empty() && db.parse::<u32>().is_err() {
                    return Err(UrlError::Database);
                }
            }
            "unix" => {
                if url.path().len() <= 1 || url.host_str().is_some_and(|h| !h.is_empty()) {
                    return Err(UrlError::NoPath);
                }
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(UrlError::Stray);
                }
                for (key, value) in url.query_pairs() {
                    if !UNIX_KEYS.contains(&key.as_ref()) {
                        return Err(UrlError::Stray);
                    }
                    if key == "db" && value.parse::<u32>().is_err() {
                        return Err(UrlError::Database);
                    }
                }
            }
            _ => return Err(UrlError::Scheme),
        }
        Ok(ClusterUrl { url })
    }

    /// Whether the connection is TLS (`rediss://`).
    pub fn is_tls(&self) -> bool {
        self.url.scheme() == "rediss"
    }

    /// The URL as the Redis client reads it, password included: never print it.
    pub fn secret_form(&self) -> &str {
        self.url.as_str()
    }
}

/// The URL from the parts it may show, any password as `***`.
impl fmt::Display for ClusterUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.url;
        write!(f, "{}://", url.scheme())?;
        if url.scheme() == "unix" {
            f.write_str(url.path())?;
            let shown: Vec<String> = url
                .query_pairs()
                .map(|(key, value)| match key.as_ref() {
                    "pass" => "pass=***".to_string(),
                    _ => format!("{key}={value}"),
                })
                .collect();
            if !shown.is_empty() {
                write!(f, "?{}", shown.join("&"))?;
            }
            return Ok(());
        }
        match (url.username(), url.password().is_some()) {
            ("", false) => {}
            (user, true) => write!(f, "{user}:***@")?,
            (user, false) => write!(f, "{user}@")?,
        }
        f.write_str(url.host_str().unwrap_or_default())?;
        if let Some(port) = url.port() {
            write!(f, ":{port}")?;
        }
        match url.path() {
            "" | "/" => Ok(()),
            db => f.write_str(db),
        }
    }
}

/// As printed: never the password.
impl fmt::Debug for ClusterUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_schemes_parse_and_print_without_their_password() {
        let tcp = ClusterUrl::parse("redis://ann:s3cret@db.example:6380/2").expect("parses");
        assert_eq!(tcp.to_string(), "redis://ann:***@db.example:6380/2");
        assert!(!format!("{tcp:?}").contains("s3cret"));
        assert!(!tcp.is_tls());
        assert!(tcp.secret_form().contains("s3cret"));
        let tls = ClusterUrl::parse("rediss://:pw@10.0.0.5:6379").expect("parses");
        assert_eq!(tls.to_string(), "rediss://:***@10.0.0.5:6379");
        assert!(tls.is_tls());
        let unix = ClusterUrl::parse("unix:///run/redis.sock?db=1&pass=pw").expect("parses");
        assert_eq!(unix.to_string(), "unix:///run/redis.sock?db=1&pass=***");
        let encoded = ClusterUrl::parse("redis://u:a%2Fb%40c@h:1").expect("parses");
        assert_eq!(encoded.to_string(), "redis://u:***@h:1");
        assert_eq!(
            ClusterUrl::parse("redis://localhost")
                .expect("parses")
                .to_string(),
            "redis://localhost"
        );
    }

    #[test]
    fn bad_urls_are_refused_without_being_repeated() {
        for (text, error) in [
            ("http://x:1", UrlError::Scheme),
            ("redis:///0", UrlError::NoHost),
            ("unix://", UrlError::NoPath),
            ("unix://host/sock", UrlError::NoPath),
            ("redis://h:1/zero", UrlError::Database),
            ("unix:///s?db=x", UrlError::Database),
            // Raw passwords with / ? # & cut where they would show.
            ("redis://user:/s3cret@db:6379/0", UrlError::Stray),
            ("redis://user:?s3cret@db:6379", UrlError::Stray),
            ("redis://user:#s3cret@db", UrlError::Stray),
            ("unix:///r.sock?pass=se&cret", UrlError::Stray),
            ("unix:///r.sock?pass=se#cret", UrlError::Stray),
        ] {
            assert_eq!(ClusterUrl::parse(text), Err(error), "{text}");
        }
        let syntax = ClusterUrl::parse("redis://ann:s3cret@[::1").expect_err("refused");
        assert!(!syntax.to_string().contains("s3cret"), "{syntax}");
    }
}
