//! A cluster URL: `redis://[user:password@]host[:port][/db]`, `rediss://...`
//! (TLS) or `unix:///path/to/socket[?db=N&user=U&pass=P]`. It is shown
//! everywhere with its password replaced, and a URL that does not parse is
//! refused without repeating it (it may hold a password).

use std::fmt;

/// A Redis URL that parsed, with a form fit to print.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterUrl {
    url: url::Url,
}

/// Why a cluster URL was refused: never the URL itself.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum UrlError {
    #[error("not a URL ({0})")]
    Syntax(String),
    #[error("the scheme must be redis://, rediss:// or unix://, not {0}://")]
    Scheme(String),
    #[error("a redis:// or rediss:// URL needs a host")]
    NoHost,
    #[error("a unix:// URL needs the socket's absolute path (unix:///path/to/socket)")]
    NoPath,
    #[error("the database must be a number, not '{0}'")]
    Database(String),
}

impl ClusterUrl {
    pub fn parse(text: &str) -> Result<ClusterUrl, UrlError> {
        let url = url::Url::parse(text).map_err(|e| UrlError::Syntax(e.to_string()))?;
        match url.scheme() {
            "redis" | "rediss" => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(UrlError::NoHost);
                }
                let db = url.path().trim_start_matches('/');
                if !db.is_empty() && db.parse::<u32>().is_err() {
                    return Err(UrlError::Database(db.to_string()));
                }
            }
            "unix" => {
                if url.path().len() <= 1 || url.host_str().is_some_and(|h| !h.is_empty()) {
                    return Err(UrlError::NoPath);
                }
                let db = url.query_pairs().find(|(key, _)| key == "db");
                if let Some((_, db)) = db.filter(|(_, db)| db.parse::<u32>().is_err()) {
                    return Err(UrlError::Database(db.into_owned()));
                }
            }
            other => return Err(UrlError::Scheme(other.to_string())),
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

/// The URL with any password shown as `***`.
impl fmt::Display for ClusterUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.url.clone();
        if shown.password().is_some() {
            // Only a URL with a host has a password part, and it takes one.
            let _ = shown.set_password(Some("***"));
        }
        if shown
            .query_pairs()
            .any(|(key, _)| key == "pass" || key == "password")
        {
            let pairs: Vec<(String, String)> = shown
                .query_pairs()
                .map(|(key, value)| match key.as_ref() {
                    "pass" | "password" => (key.into_owned(), "***".to_string()),
                    _ => (key.into_owned(), value.into_owned()),
                })
                .collect();
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
        f.write_str(shown.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_schemes_parse_and_print_without_their_password() {
        let tcp = ClusterUrl::parse("redis://ann:s3cret@db.example:6380/2").expect("parses");
        assert_eq!(tcp.to_string(), "redis://ann:***@db.example:6380/2");
        assert!(!tcp.is_tls());
        assert!(tcp.secret_form().contains("s3cret"));
        let tls = ClusterUrl::parse("rediss://:pw@10.0.0.5:6379").expect("parses");
        assert_eq!(tls.to_string(), "rediss://:***@10.0.0.5:6379");
        assert!(tls.is_tls());
        let unix = ClusterUrl::parse("unix:///run/redis.sock?db=1&pass=pw").expect("parses");
        assert_eq!(unix.to_string(), "unix:///run/redis.sock?db=1&pass=***");
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
            ("http://x:1", UrlError::Scheme("http".into())),
            ("redis:///0", UrlError::NoHost),
            ("unix://", UrlError::NoPath),
            ("unix://host/sock", UrlError::NoPath),
            ("redis://h:1/zero", UrlError::Database("zero".into())),
            ("unix:///s?db=x", UrlError::Database("x".into())),
        ] {
            assert_eq!(ClusterUrl::parse(text), Err(error), "{text}");
        }
        let syntax = ClusterUrl::parse("redis://ann:s3cret@[::1").expect_err("refused");
        assert!(!syntax.to_string().contains("s3cret"), "{syntax}");
    }
}
