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

mod codename;
mod desks;
mod limits;
mod listen;
pub mod node;
pub mod notify;
pub mod store;

/// Default size limit of one source request: 2 GiB.
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Default size limit of the message field: 1 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 1024 * 1024;
/// Default number of files in one submission.
pub const DEFAULT_MAX_FILES: usize = 100;
/// The longest `[[desk]] retention_days` accepted (a hundred years): anything longer is
/// surely a typo, and 0 is how to keep items until an editor deletes them.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

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
    /// Content-free notifications; absent means none are sent.
    pub notify: Option<notify::RawNotify>,
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
    /// Days items and silent sources are kept; 0 or absent keeps them until an editor deletes.
    pub retention_days: Option<u32>,
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
    /// Days an item is kept after its day of receipt, and a source after its last activity;
    /// 0 keeps them until an editor deletes (`store::retention`).
    pub retention_days: u32,
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
    /// Content-free notifications, if `[notify]` is present.
    pub notify: Option<notify::NotifyConfig>,
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

    /// Checks every key of `raw`, section by section (each in a file of its own).
    pub fn validate(path: &Path, raw: RawConfig) -> Result<Config, Error> {
        let invalid = |(key, message): Invalid| Error::Invalid {
            path: path.to_owned(),
            key,
            message,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let listen = listen::validate(raw.listen, base).map_err(invalid)?;
        let limits = limits::validate(&raw.limits).map_err(invalid)?;
        let default_locale = default_locale(raw.default_locale.as_deref()).map_err(invalid)?;
        let pepper = pepper(&raw.secrets).map_err(invalid)?;
        let (desks, forms) =
            desks::validate(raw.desks, raw.forms_dir.as_deref(), base).map_err(invalid)?;
        let codename = codename::validate(&raw.codename).map_err(invalid)?;
        let store = raw
            .store
            .validate()
            .map_err(|(key, message)| invalid((format!("store.{key}"), message)))?;
        let node = raw
            .node
            .validate([listen.source_addr, listen.api_addr])
            .map_err(|(key, message)| invalid((format!("node.{key}"), message)))?;
        let notify = raw
            .notify
            .map(|n| n.validate(base))
            .transpose()
            .map_err(|(key, message)| invalid((format!("notify.{key}"), message)))?;
        Ok(Config {
            path: path.to_owned(),
            data_dir: base.join(raw.data_dir.as_deref().unwrap_or(".")),
            source_addr: listen.source_addr,
            api_addr: listen.api_addr,
            secure_cookies: listen.secure_cookies,
            session_idle: listen.session_idle,
            max_request_bytes: limits.max_request_bytes,
            max_message_bytes: limits.max_message_bytes,
            max_files: limits.max_files,
            net: limits.net,
            default_locale,
            onion_address: listen.onion_address,
            tls: listen.tls,
            pepper,
            desks,
            forms,
            codename_cost: codename.cost,
            codename_concurrency: codename.concurrency,
            codename_login_queue: codename.login_queue,
            store,
            node,
            notify,
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

/// A key that failed its check, and what to do about it.
type Invalid = (String, String);

/// `default_locale`: one of the site's languages (English when unset).
fn default_locale(code: Option<&str>) -> Result<crate::i18n::Locale, Invalid> {
    let Some(code) = code else {
        return Ok(crate::i18n::Locale::english());
    };
    crate::i18n::Locale::from_code(code).ok_or_else(|| {
        let codes: Vec<_> = crate::i18n::Locale::all().map(|l| l.code()).collect();
        (
            "default_locale".to_owned(),
            format!("{code:?} is not one of {}", codes.join(", ")),
        )
    })
}

/// `secrets.pepper`: at least 32 random bytes in base64, decoded into memory wiped on drop.
fn pepper(raw: &RawSecrets) -> Result<Secret, Invalid> {
    let fresh = "`sanduq init` writes a fresh one";
    let mut pepper = base64::engine::general_purpose::STANDARD
        .decode(raw.pepper.trim())
        .map(zeroize::Zeroizing::new)
        .map_err(|_| {
            (
                "secrets.pepper".to_owned(),
                format!("is not base64; {fresh}"),
            )
        })?;
    if pepper.len() < 32 {
        return Err((
            "secrets.pepper".to_owned(),
            format!("must be at least 32 random bytes; {fresh}"),
        ));
    }
    Ok(Secret::new(std::mem::take(&mut *pepper)))
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
    fn each_section_names_its_own_key() {
        let p = Path::new("x.toml");
        let base = format!(
            "[secrets]\npepper = \"{}\"\n[[desk]]\nname = \"a\"\n",
            pepper()
        );
        let cases = [
            ("[listen]\napi = \"127.0.0.1:8080\"\n", "listen.api"),
            (
                "[listen]\nsession_idle_seconds = 0\n",
                "listen.session_idle_seconds",
            ),
            (
                "[listen]\nonion_address = \"example.com\"\n",
                "listen.onion_address",
            ),
            ("[listen]\ntls_cert = \"c.pem\"\n", "listen.tls_cert"),
            (
                "[limits]\nmax_request_bytes = 100\n",
                "limits.max_request_bytes",
            ),
            (
                "[limits]\nmax_message_bytes = 0\n",
                "limits.max_message_bytes",
            ),
            ("[limits]\nmax_files = 0\n", "limits.max_files"),
            ("[limits]\nmax_connections = 0\n", "limits.max_connections"),
            (
                "[limits]\nheader_read_timeout_seconds = 0\n",
                "limits.header_read_timeout_seconds",
            ),
            (
                "[limits]\nmax_header_bytes = 100\n",
                "limits.max_header_bytes",
            ),
            (
                "[limits]\nstall_window_seconds = 0\n",
                "limits.stall_window_seconds",
            ),
            ("[codename]\ntime = 0\n", "codename.time"),
            ("[codename]\nlanes = 9\n", "codename.lanes"),
            (
                "[codename]\nmax_concurrent = 0\n",
                "codename.max_concurrent",
            ),
            ("[codename]\nlogin_queue = 0\n", "codename.login_queue"),
            ("default_locale = \"xx\"\n", "default_locale"),
        ];
        for (section, key) in cases {
            // Top-level keys go before the first table.
            let text = if section.starts_with('[') {
                format!("{base}{section}")
            } else {
                format!("{section}{base}")
            };
            let err = Config::parse(p, &text).unwrap_err();
            assert!(
                err.to_string().contains(&format!("`{key}`")),
                "{key}: {err}"
            );
        }
        let onion = format!("{}.onion", "a".repeat(56));
        let c = Config::parse(
            p,
            &format!(
                "{base}[listen]\nonion_address = \"http://{}/\"\n",
                onion.to_uppercase()
            ),
        )
        .unwrap();
        assert_eq!(c.onion_address.as_deref(), Some(onion.as_str()));
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
