//! `sanduq.toml`: read raw, then validated.
//!
//! [`RawConfig`] is exactly what the operator typed (unknown keys are refused, so a typo never
//! silently falls back to a default). [`Config::validate`] turns it into a checked [`Config`]
//! or fails with a message that names the key and says how to fix it.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use zeroize::Zeroize;

pub mod node;
pub mod store;

/// Default size limit of one source request: 2 GiB.
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Default size limit of the message field: 1 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 1024 * 1024;
/// Default number of files in one submission.
pub const DEFAULT_MAX_FILES: usize = 100;

/// What can go wrong reading a configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("{path}: {message}")]
    Parse {
        /// The configuration file.
        path: PathBuf,
        /// The parser's message, which names the key.
        message: String,
    },
    /// A key has a value sanduq cannot use.
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        /// The configuration file.
        path: PathBuf,
        /// The offending key.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// The configuration as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Where the stores live, relative to the configuration file.
    pub data_dir: Option<String>,
    /// Language of the source site at paths without a locale.
    pub default_locale: Option<String>,
    /// Listening addresses.
    #[serde(default)]
    pub listen: RawListen,
    /// Size limits.
    #[serde(default)]
    pub limits: RawLimits,
    /// Install secrets.
    pub secrets: RawSecrets,
    /// Codename derivation cost.
    #[serde(default)]
    pub codename: RawCodename,
    /// Desks: named groups of editors.
    #[serde(default, rename = "desk")]
    pub desks: Vec<RawDesk>,
    /// A folder of form definitions (`*.toml`), relative to the configuration file.
    pub forms_dir: Option<String>,
    /// Storage engines.
    #[serde(default)]
    pub store: store::RawStore,
    /// This process as one node of several: health listener, drain on shutdown.
    #[serde(default)]
    pub node: node::RawNode,
}

/// `[listen]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListen {
    /// Source site address.
    pub source: Option<String>,
    /// Editor API address.
    pub api: Option<String>,
    /// Whether sources arrive over TLS or an onion address.
    pub secure_cookies: Option<bool>,
    /// Seconds after which an unused source session ends.
    pub session_idle_seconds: Option<u64>,
    /// The source site's onion address; other hosts get the Tor2web warning.
    pub onion_address: Option<String>,
    /// PEM certificate chain for TLS on both listeners.
    pub tls_cert: Option<String>,
    /// PEM private key for TLS.
    pub tls_key: Option<String>,
}

/// `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Largest source request in bytes.
    pub max_request_bytes: Option<u64>,
    /// Largest message in bytes.
    pub max_message_bytes: Option<u64>,
    /// Most files in one submission.
    pub max_files: Option<usize>,
    /// Open connections per listener.
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a request's headers.
    pub header_read_timeout_seconds: Option<u64>,
    /// Largest request head (request line and headers) in bytes.
    pub max_header_bytes: Option<usize>,
    /// Length of the window of the minimum-progress rule for bodies, in seconds.
    pub stall_window_seconds: Option<u64>,
    /// Bytes a body must bring in each window.
    pub stall_min_bytes: Option<u64>,
}

/// `[codename]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCodename {
    /// argon2id memory in KiB.
    pub memory_kib: Option<u32>,
    /// argon2id passes.
    pub time: Option<u32>,
    /// argon2id lanes.
    pub lanes: Option<u32>,
    /// Derivations running at once.
    pub max_concurrent: Option<usize>,
    /// Logins waiting for a derivation; more are answered 503 at once.
    pub login_queue: Option<usize>,
    /// Allows a memory cost under the floor. For test suites only.
    pub weak_cost_for_tests: Option<bool>,
}

/// `[secrets]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecrets {
    /// The install pepper, base64; wiped when dropped.
    pub pepper: zeroize::Zeroizing<String>,
}

impl fmt::Debug for RawSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawSecrets { *** }")
    }
}

/// `[[desk]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDesk {
    /// Short name used in commands and forms.
    pub name: String,
    /// The title sources see.
    pub title: Option<String>,
    /// The ids of the forms this desk offers (default: the built-in `detention` form).
    pub forms: Option<Vec<String>>,
}

/// A secret byte string whose `Debug` never shows it and which is wiped on drop.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }
    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A desk: sources choose one, and only its editors can read what is sent to it.
#[derive(Debug, Clone)]
pub struct Desk {
    /// Short name (`[a-z0-9-]`, 1–32 characters).
    pub name: String,
    /// Title shown to sources.
    pub title: String,
    /// The ids of the forms it offers, in the order sources see them.
    pub forms: Vec<String>,
}

/// Threads the server may use for blocking work. Every upload in flight holds one (it
/// encrypts and writes while the request is parsed), so this must exceed the connections of
/// both listeners together, with room for the rest (opening files, codename checks).
pub const BLOCKING_THREADS: usize = 4096;

/// The most `limits.max_connections` may be: two listeners' uploads and 256 threads spare.
pub const MAX_CONNECTIONS: usize = (BLOCKING_THREADS - 256) / 2;

/// Limits on connections, request heads and slow bodies.
#[derive(Debug, Clone, Copy)]
pub struct NetLimits {
    /// Open connections per listener; more are closed at once.
    pub max_connections: usize,
    /// Time to send a request's headers.
    pub header_read_timeout: std::time::Duration,
    /// Largest request head in bytes.
    pub max_header_bytes: usize,
    /// The minimum-progress window for request bodies.
    pub stall_window: std::time::Duration,
    /// Bytes a body must bring in each window, or the request is cut.
    pub stall_min_bytes: u64,
}

impl NetLimits {
    /// How long a connection may move no bytes either way before it is closed.
    pub fn idle_timeout(&self) -> std::time::Duration {
        self.stall_window * 2
    }
}

impl Default for NetLimits {
    fn default() -> Self {
        NetLimits {
            max_connections: 1024,
            header_read_timeout: std::time::Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            stall_window: std::time::Duration::from_secs(60),
            stall_min_bytes: 1024,
        }
    }
}

/// PEM files for TLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// The checked configuration.
#[derive(Debug)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// Absolute or config-relative data directory, resolved.
    pub data_dir: PathBuf,
    /// Source site listener.
    pub source_addr: SocketAddr,
    /// Editor API listener.
    pub api_addr: SocketAddr,
    /// Cookies with `__Host-` and `Secure` (sources arrive over TLS or an onion address).
    pub secure_cookies: bool,
    /// How long an unused source session lives.
    pub session_idle: std::time::Duration,
    /// Largest source request in bytes.
    pub max_request_bytes: u64,
    /// Largest message in bytes.
    pub max_message_bytes: u64,
    /// Most files in one submission.
    pub max_files: usize,
    /// Connection and body limits of both listeners.
    pub net: NetLimits,
    /// Language of the source site at paths without a locale (`/`, `/login`).
    pub default_locale: crate::i18n::Locale,
    /// The source site's onion address (lower case, no scheme or port), if set.
    pub onion_address: Option<String>,
    /// TLS certificate and key files, if both listeners speak HTTPS.
    pub tls: Option<TlsFiles>,
    /// Install pepper (≥ 32 bytes).
    pub pepper: Secret,
    /// Desks, the first being the default.
    pub desks: Vec<Desk>,
    /// Every form some desk offers.
    pub forms: Vec<std::sync::Arc<crate::forms::Form>>,
    /// argon2id cost of codename derivation.
    pub codename_cost: crate::codename::Cost,
    /// Codename derivations running at once.
    pub codename_concurrency: usize,
    /// Logins waiting for a derivation (unset: a default from the permits and the costs in
    /// use, see [`crate::codename::install::deriver`]).
    pub codename_login_queue: Option<usize>,
    /// Storage engines and the janitor.
    pub store: store::StoreConfig,
    /// Health listener and drain on shutdown.
    pub node: node::NodeConfig,
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, Error> {
        // The file holds the pepper: wiped when dropped, as the parsed pepper is.
        let text = std::fs::read_to_string(path)
            .map(zeroize::Zeroizing::new)
            .map_err(|source| Error::Read {
                path: path.to_owned(),
                source,
            })?;
        Self::parse(path, &text)
    }

    /// Parses and validates `text`, read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, Error> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| Error::Parse {
            path: path.to_owned(),
            message: e.message().to_owned()
                + &e.span()
                    .map(|s| format!(" (at line {})", text[..s.start].lines().count().max(1)))
                    .unwrap_or_default(),
        })?;
        Self::validate(path, raw)
    }

    /// Checks every key of `raw`.
    pub fn validate(path: &Path, raw: RawConfig) -> Result<Config, Error> {
        let invalid = |key: &str, message: String| Error::Invalid {
            path: path.to_owned(),
            key: key.to_owned(),
            message,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let data_dir = base.join(raw.data_dir.as_deref().unwrap_or("."));

        let addr = |key: &str, value: Option<String>, default: &str| {
            let v = value.unwrap_or_else(|| default.to_owned());
            v.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    key,
                    format!("{v:?} is not an address; write it as \"127.0.0.1:8080\""),
                )
            })
        };
        let source_addr = addr("listen.source", raw.listen.source, "127.0.0.1:8080")?;
        let api_addr = addr("listen.api", raw.listen.api, "127.0.0.1:8081")?;
        if source_addr == api_addr {
            return Err(invalid(
                "listen.api",
                "the editor API needs its own listener, apart from the source site".into(),
            ));
        }

        let max_request_bytes = raw
            .limits
            .max_request_bytes
            .unwrap_or(DEFAULT_MAX_REQUEST_BYTES);
        if max_request_bytes < 4096 {
            return Err(invalid(
                "limits.max_request_bytes",
                "must be at least 4096 bytes".into(),
            ));
        }
        let max_message_bytes = raw
            .limits
            .max_message_bytes
            .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
        if max_message_bytes == 0 || max_message_bytes > max_request_bytes {
            return Err(invalid(
                "limits.max_message_bytes",
                "must be above 0 and at most limits.max_request_bytes".into(),
            ));
        }
        let max_files = raw.limits.max_files.unwrap_or(DEFAULT_MAX_FILES);
        if max_files == 0 || max_files > 10_000 {
            return Err(invalid(
                "limits.max_files",
                "must be between 1 and 10000".into(),
            ));
        }

        let d = NetLimits::default();
        let net = NetLimits {
            max_connections: raw.limits.max_connections.unwrap_or(d.max_connections),
            header_read_timeout: std::time::Duration::from_secs(
                raw.limits
                    .header_read_timeout_seconds
                    .unwrap_or(d.header_read_timeout.as_secs()),
            ),
            max_header_bytes: raw.limits.max_header_bytes.unwrap_or(d.max_header_bytes),
            stall_window: std::time::Duration::from_secs(
                raw.limits
                    .stall_window_seconds
                    .unwrap_or(d.stall_window.as_secs()),
            ),
            stall_min_bytes: raw.limits.stall_min_bytes.unwrap_or(d.stall_min_bytes),
        };
        if net.max_connections == 0 || net.max_connections > MAX_CONNECTIONS {
            return Err(invalid(
                "limits.max_connections",
                format!("must be between 1 and {MAX_CONNECTIONS}"),
            ));
        }
        if net.header_read_timeout.is_zero() || net.header_read_timeout.as_secs() > 3600 {
            return Err(invalid(
                "limits.header_read_timeout_seconds",
                "must be between 1 and 3600".into(),
            ));
        }
        if !(8192..=1024 * 1024).contains(&net.max_header_bytes) {
            return Err(invalid(
                "limits.max_header_bytes",
                "must be between 8192 and 1048576".into(),
            ));
        }
        if net.stall_window.is_zero() || net.stall_window.as_secs() > 3600 {
            return Err(invalid(
                "limits.stall_window_seconds",
                "must be between 1 and 3600".into(),
            ));
        }

        let default_locale = match raw.default_locale.as_deref() {
            None => crate::i18n::Locale::english(),
            Some(code) => crate::i18n::Locale::from_code(code).ok_or_else(|| {
                let codes: Vec<_> = crate::i18n::Locale::all().map(|l| l.code()).collect();
                invalid(
                    "default_locale",
                    format!("{code:?} is not one of {}", codes.join(", ")),
                )
            })?,
        };

        let onion_address = match raw.listen.onion_address {
            None => None,
            Some(a) => {
                let a = a.trim().to_ascii_lowercase();
                let host = a
                    .strip_prefix("http://")
                    .unwrap_or(&a)
                    .trim_end_matches('/');
                let valid = host.strip_suffix(".onion").is_some_and(|name| {
                    name.len() == 56
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
                });
                if !valid {
                    return Err(invalid(
                        "listen.onion_address",
                        format!("{a:?} is not a v3 onion address (56 characters, then .onion)"),
                    ));
                }
                Some(host.to_owned())
            }
        };
        let tls = match (raw.listen.tls_cert, raw.listen.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: base.join(cert),
                key: base.join(key),
            }),
            _ => {
                return Err(invalid(
                    "listen.tls_cert",
                    "set both listen.tls_cert and listen.tls_key, or neither".into(),
                ))
            }
        };

        let mut pepper = base64::engine::general_purpose::STANDARD
            .decode(raw.secrets.pepper.trim())
            .map(zeroize::Zeroizing::new)
            .map_err(|_| {
                invalid(
                    "secrets.pepper",
                    "is not base64; `sanduq init` writes a fresh one".into(),
                )
            })?;
        if pepper.len() < 32 {
            return Err(invalid(
                "secrets.pepper",
                "must be at least 32 random bytes; `sanduq init` writes a fresh one".into(),
            ));
        }

        if raw.desks.is_empty() {
            return Err(invalid(
                "desk",
                "at least one [[desk]] is needed, e.g. [[desk]] name = \"default\"".into(),
            ));
        }
        // The built-in form, replaced by a file in forms_dir with the same id.
        let mut known = vec![crate::forms::Form::detention()];
        if let Some(dir) = &raw.forms_dir {
            let mut from_dir = std::collections::HashSet::new();
            for f in crate::forms::load_dir(&base.join(dir)).map_err(|e| invalid("forms_dir", e))? {
                if !from_dir.insert(f.id.clone()) {
                    return Err(invalid(
                        "forms_dir",
                        format!("two forms have the id {:?}", f.id),
                    ));
                }
                known.retain(|k| k.id != f.id);
                known.push(f);
            }
        }
        let mut forms: Vec<std::sync::Arc<crate::forms::Form>> = Vec::new();
        let mut desks: Vec<Desk> = Vec::new();
        for d in raw.desks {
            if !valid_desk_name(&d.name) {
                return Err(invalid(
                    "desk.name",
                    format!("{:?}: use 1 to 32 characters of a-z, 0-9 and '-'", d.name),
                ));
            }
            if desks.iter().any(|x| x.name == d.name) {
                return Err(invalid(
                    "desk.name",
                    format!("{:?} is used by two desks; names must be unique", d.name),
                ));
            }
            let title = d.title.unwrap_or_else(|| d.name.clone());
            let offered = d.forms.unwrap_or_else(|| vec!["detention".to_owned()]);
            for (i, id) in offered.iter().enumerate() {
                if offered[..i].contains(id) {
                    return Err(invalid(
                        "desk.forms",
                        format!("desk {:?} lists {id:?} twice", d.name),
                    ));
                }
                let Some(form) = known.iter().find(|k| &k.id == id) else {
                    return Err(invalid(
                        "desk.forms",
                        format!("desk {:?} offers {id:?}, but no form has that id", d.name),
                    ));
                };
                if !forms.iter().any(|f| &f.id == id) {
                    forms.push(std::sync::Arc::new(form.clone()));
                }
            }
            desks.push(Desk {
                name: d.name,
                title,
                forms: offered,
            });
        }

        let default_cost = crate::codename::Cost::default();
        let codename_cost = crate::codename::Cost {
            memory_kib: raw.codename.memory_kib.unwrap_or(default_cost.memory_kib),
            time: raw.codename.time.unwrap_or(default_cost.time),
            lanes: raw.codename.lanes.unwrap_or(default_cost.lanes),
        };
        if codename_cost.memory_kib < crate::codename::MIN_MEMORY_KIB
            && raw.codename.weak_cost_for_tests != Some(true)
        {
            return Err(invalid(
                "codename.memory_kib",
                format!(
                    "must be at least {} (19 MiB); lower values are for test suites only",
                    crate::codename::MIN_MEMORY_KIB
                ),
            ));
        }
        if codename_cost.memory_kib > 4 * 1024 * 1024 {
            return Err(invalid(
                "codename.memory_kib",
                "must be at most 4194304 (4 GiB)".into(),
            ));
        }
        if !(1..=16).contains(&codename_cost.time) {
            return Err(invalid("codename.time", "must be between 1 and 16".into()));
        }
        if !(1..=8).contains(&codename_cost.lanes)
            || codename_cost.memory_kib < 8 * codename_cost.lanes
        {
            return Err(invalid("codename.lanes", "must be between 1 and 8".into()));
        }
        let codename_concurrency = raw.codename.max_concurrent.unwrap_or(2);
        if !(1..=64).contains(&codename_concurrency) {
            return Err(invalid(
                "codename.max_concurrent",
                "must be between 1 and 64".into(),
            ));
        }
        let codename_login_queue = raw.codename.login_queue;
        if codename_login_queue.is_some_and(|q| !(1..=4096).contains(&q)) {
            return Err(invalid(
                "codename.login_queue",
                "must be between 1 and 4096".into(),
            ));
        }

        let idle = raw.listen.session_idle_seconds.unwrap_or(30 * 60);
        if !(1..=24 * 3600).contains(&idle) {
            return Err(invalid(
                "listen.session_idle_seconds",
                "must be between 1 and 86400".into(),
            ));
        }
        let session_idle = std::time::Duration::from_secs(idle);
        let store = raw
            .store
            .validate()
            .map_err(|(key, message)| invalid(&format!("store.{key}"), message))?;
        let node = raw
            .node
            .validate([source_addr, api_addr])
            .map_err(|(key, message)| invalid(&format!("node.{key}"), message))?;

        Ok(Config {
            path: path.to_owned(),
            data_dir,
            source_addr,
            api_addr,
            secure_cookies: raw.listen.secure_cookies.unwrap_or(false),
            session_idle,
            max_request_bytes,
            max_message_bytes,
            max_files,
            net,
            default_locale,
            onion_address,
            tls,
            pepper: Secret::new(std::mem::take(&mut *pepper)),
            desks,
            forms,
            codename_cost,
            codename_concurrency,
            codename_login_queue,
            store,
            node,
        })
    }

    /// The desk called `name`.
    pub fn desk(&self, name: &str) -> Option<&Desk> {
        self.desks.iter().find(|d| d.name == name)
    }

    /// The form called `id`, if some desk offers it.
    pub fn form(&self, id: &str) -> Option<&std::sync::Arc<crate::forms::Form>> {
        self.forms.iter().find(|f| f.id == id)
    }

    /// The desk sources get when they do not choose.
    pub fn default_desk(&self) -> &Desk {
        &self.desks[0]
    }
}

/// Whether `name` is a valid desk name.
pub fn valid_desk_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The text `sanduq init` writes: every key present, every key explained.
pub fn template(pepper_b64: &str) -> String {
    include_str!("../deploy/sanduq.example.toml").replace(
        "pepper = \"REPLACE-WITH-OUTPUT-OF-sanduq-init\"",
        &format!("pepper = \"{pepper_b64}\""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pepper() -> String {
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    }

    #[test]
    fn template_parses_with_defaults() {
        let c = Config::parse(Path::new("/srv/sanduq/sanduq.toml"), &template(&pepper()))
            .expect("template must parse");
        assert_eq!(c.source_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.api_addr.to_string(), "127.0.0.1:8081");
        assert_eq!(c.max_request_bytes, DEFAULT_MAX_REQUEST_BYTES);
        assert_eq!(c.desks[0].name, "default");
        assert_eq!(c.codename_cost, crate::codename::Cost::default());
        assert_eq!(c.codename_concurrency, 2);
        assert_eq!(c.data_dir, Path::new("/srv/sanduq/."));
        assert_eq!(format!("{:?}", c.pepper), "***");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let p = Path::new("x.toml");
        let base = format!(
            "[secrets]\npepper = \"{}\"\n[[desk]]\nname = \"a\"\n",
            pepper()
        );
        let err = Config::parse(p, &format!("listn = 1\n{base}")).unwrap_err();
        assert!(err.to_string().contains("listn"), "{err}");
        let err = Config::parse(p, &format!("[listen]\nsource = \"nope\"\n{base}")).unwrap_err();
        assert!(err.to_string().contains("listen.source"), "{err}");
        let err = Config::parse(
            p,
            "[secrets]\npepper = \"c2hvcnQ=\"\n[[desk]]\nname = \"a\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("secrets.pepper"), "{err}");
        let err = Config::parse(p, &format!("{base}[[desk]]\nname = \"a\"\n")).unwrap_err();
        assert!(err.to_string().contains("unique"), "{err}");
        let err = Config::parse(p, &format!("{base}[[desk]]\nname = \"../x\"\n")).unwrap_err();
        assert!(err.to_string().contains("desk.name"), "{err}");
        let err = Config::parse(p, &format!("{base}[codename]\nmemory_kib = 1024\n")).unwrap_err();
        assert!(err.to_string().contains("codename.memory_kib"), "{err}");
        let weak = Config::parse(
            p,
            &format!("{base}[codename]\nmemory_kib = 64\nweak_cost_for_tests = true\n"),
        )
        .unwrap();
        assert_eq!(weak.codename_cost.memory_kib, 64);
        let err = Config::parse(p, &format!("[secrets]\npepper = \"{}\"\n", pepper())).unwrap_err();
        assert!(err.to_string().contains("[[desk]]"), "{err}");
    }

    #[test]
    fn forms_are_checked_with_the_desks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sanduq.toml");
        let conf = |desk_forms: &str| {
            format!(
                "forms_dir = \"forms\"\n[secrets]\npepper = \"{}\"\n[[desk]]\nname = \"a\"\n{desk_forms}",
                pepper()
            )
        };
        let forms = dir.path().join("forms");
        std::fs::create_dir(&forms).unwrap();
        let form = |id: &str, version: u32| {
            format!("id = \"{id}\"\nversion = {version}\ntitle.en = \"T\"\n[[field]]\nname = \"a\"\nkind = \"text\"\nlabel.en = \"A\"\n")
        };
        std::fs::write(forms.join("1.toml"), form("detention", 7)).unwrap();
        let c = Config::parse(&p, &conf("")).unwrap();
        assert_eq!(c.form("detention").unwrap().version, 7, "replaced");
        assert_eq!(c.desks[0].forms, ["detention"]);
        let err = Config::parse(&p, &conf("forms = [\"detention\", \"detention\"]\n")).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
        let err = Config::parse(&p, &conf("forms = [\"nope\"]\n")).unwrap_err();
        assert!(err.to_string().contains("no form has that id"), "{err}");
        std::fs::write(forms.join("2.toml"), form("detention", 8)).unwrap();
        let err = Config::parse(&p, &conf("")).unwrap_err();
        assert!(err.to_string().contains("two forms have the id"), "{err}");
        std::fs::write(forms.join("2.toml"), "id = 1").unwrap();
        let err = Config::parse(&p, &conf("")).unwrap_err();
        assert!(err.to_string().contains("2.toml"), "{err}");
    }
}
