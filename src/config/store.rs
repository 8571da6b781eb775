//! `[store]`: which engines hold metadata and ciphertext, and the janitor's timing.
//!
//! The embedded defaults (`metadata = "sqlite"`, `blobs = "fs"`) need no set-up. Secrets of
//! the other engines never come from `sanduq.toml`: PostgreSQL's password from `PGPASSWORD`
//! (or `~/.pgpass`), S3's keys from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.

use std::time::Duration;

use serde::Deserialize;

/// `[store]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// `"sqlite"` or `"postgres://USER@HOST:PORT/DATABASE"`.
    pub metadata: Option<String>,
    /// `"fs"` or `"s3://BUCKET"`.
    pub blobs: Option<String>,
    /// The S3-compatible store's endpoint; unset means AWS.
    pub s3_endpoint: Option<String>,
    /// The S3 region.
    pub s3_region: Option<String>,
    /// Seconds an object without a committed row is left alone before the janitor removes it.
    pub janitor_grace_seconds: Option<u64>,
    /// Seconds between two janitor passes.
    pub janitor_every_seconds: Option<u64>,
}

/// Where metadata lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metadata {
    /// `meta.sqlite` in the data directory.
    Sqlite,
    /// A PostgreSQL database, by URL (without a password).
    Postgres(String),
}

/// Where ciphertext lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blobs {
    /// `blobs/` in the data directory.
    Fs,
    /// An S3 bucket.
    S3 {
        /// The bucket.
        bucket: String,
        /// The endpoint of an S3-compatible store; `None` for AWS.
        endpoint: Option<String>,
        /// The region (`us-east-1` if unset).
        region: String,
    },
}

/// The checked `[store]`.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Metadata engine.
    pub metadata: Metadata,
    /// Ciphertext engine.
    pub blobs: Blobs,
    /// The janitor's grace period: longer than any upload may take.
    pub janitor_grace: Duration,
    /// Time between janitor passes.
    pub janitor_every: Duration,
}

/// Default grace period: a day. Intake cuts a request at half of it.
pub const DEFAULT_JANITOR_GRACE: Duration = Duration::from_secs(24 * 3600);
/// Default time between passes: an hour.
pub const DEFAULT_JANITOR_EVERY: Duration = Duration::from_secs(3600);

impl RawStore {
    /// Checks `[store]`; the error names the key (without `store.`) and says what to write.
    pub fn validate(self) -> Result<StoreConfig, (&'static str, String)> {
        let metadata = match self.metadata.as_deref() {
            None | Some("sqlite") => Metadata::Sqlite,
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                if url_has_password(url) {
                    return Err((
                        "metadata",
                        "must not hold a password: put it in PGPASSWORD or ~/.pgpass".into(),
                    ));
                }
                Metadata::Postgres(url.to_owned())
            }
            Some(_) => {
                return Err((
                    "metadata",
                    "must be \"sqlite\" or \"postgres://USER@HOST:PORT/DATABASE\"".into(),
                ))
            }
        };
        let blobs = match self.blobs.as_deref() {
            None | Some("fs") => {
                if self.s3_endpoint.is_some() || self.s3_region.is_some() {
                    return Err(("s3_endpoint", "is set but blobs is not \"s3://…\"".into()));
                }
                Blobs::Fs
            }
            Some(b) => {
                let bucket = b.strip_prefix("s3://").filter(|n| valid_bucket(n));
                let Some(bucket) = bucket else {
                    return Err((
                        "blobs",
                        "must be \"fs\" or \"s3://BUCKET\" (3-63 characters: a-z, 0-9, '.', '-')"
                            .into(),
                    ));
                };
                if let Some(e) = &self.s3_endpoint {
                    if !(e.starts_with("http://") || e.starts_with("https://")) {
                        return Err(("s3_endpoint", "must start with http:// or https://".into()));
                    }
                }
                Blobs::S3 {
                    bucket: bucket.to_owned(),
                    endpoint: self.s3_endpoint,
                    region: self.s3_region.unwrap_or_else(|| "us-east-1".into()),
                }
            }
        };
        let grace = self
            .janitor_grace_seconds
            .map_or(DEFAULT_JANITOR_GRACE, Duration::from_secs);
        if !(Duration::from_secs(2)..=Duration::from_secs(30 * 86_400)).contains(&grace) {
            return Err((
                "janitor_grace_seconds",
                "must be between 2 and 2592000".into(),
            ));
        }
        let every = self
            .janitor_every_seconds
            .map_or(DEFAULT_JANITOR_EVERY, Duration::from_secs);
        if !(Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&every) {
            return Err((
                "janitor_every_seconds",
                "must be between 1 and 86400".into(),
            ));
        }
        Ok(StoreConfig {
            metadata,
            blobs,
            janitor_grace: grace,
            janitor_every: every,
        })
    }
}

/// Whether a `postgres://` URL carries a password (`user:password@host`).
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(metadata: Option<&str>, blobs: Option<&str>) -> RawStore {
        RawStore {
            metadata: metadata.map(str::to_owned),
            blobs: blobs.map(str::to_owned),
            ..RawStore::default()
        }
    }

    #[test]
    fn the_embedded_defaults_need_nothing() {
        let s = RawStore::default().validate().unwrap();
        assert_eq!((s.metadata, s.blobs), (Metadata::Sqlite, Blobs::Fs));
        assert_eq!(s.janitor_grace, DEFAULT_JANITOR_GRACE);
    }

    #[test]
    fn engines_are_named_by_url_and_passwords_refused() {
        let s = raw(
            Some("postgres://sanduq@127.0.0.1:5432/sanduq"),
            Some("s3://sanduq-items"),
        )
        .validate()
        .unwrap();
        assert_eq!(
            s.metadata,
            Metadata::Postgres("postgres://sanduq@127.0.0.1:5432/sanduq".into())
        );
        assert!(matches!(s.blobs, Blobs::S3 { ref bucket, .. } if bucket == "sanduq-items"));
        let e = raw(Some("postgres://u:secret@h/db"), None)
            .validate()
            .unwrap_err();
        assert_eq!(e.0, "metadata");
        assert!(!e.1.contains("secret"));
        assert_eq!(
            raw(Some("mysql://h/db"), None).validate().unwrap_err().0,
            "metadata"
        );
        assert_eq!(raw(None, Some("s3://A")).validate().unwrap_err().0, "blobs");
        assert_eq!(
            raw(None, Some("gcs://b")).validate().unwrap_err().0,
            "blobs"
        );
    }
}
