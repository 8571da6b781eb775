//! `[notify]`: how content-free notices leave the server (`crate::notify`).
//!
//! The section names an SMTP server and the period; which editors get notices, and at which
//! address or webhook URL, is set with `sanduq admin notify`. Secrets never come from
//! `sanduq.toml`, which is copied into backups and pasted into support requests: the SMTP
//! password and the webhook secret are read from files (or the environment), and the keys
//! that would hold them here are refused with a message that says where they go.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::Secret;

/// Where the SMTP password comes from when `smtp_password_file` is unset.
pub const SMTP_PASSWORD_ENV: &str = "SANDUQ_SMTP_PASSWORD";
/// Where the webhook secret comes from when `webhook_secret_file` is unset.
pub const WEBHOOK_SECRET_ENV: &str = "SANDUQ_WEBHOOK_SECRET";
/// Default period: a day, so a notice's timing says no more than its day.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(24 * 3600);
/// Longest period: four weeks.
pub const MAX_PERIOD_SECONDS: u64 = 28 * 24 * 3600;

/// `[notify]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    /// Seconds in a period: at most one notice per editor and channel in each.
    pub period_seconds: Option<u64>,
    /// The SMTP server's host name; unset means no e-mail.
    pub smtp_server: Option<String>,
    /// Its port (587 with STARTTLS, 465 with implicit TLS).
    pub smtp_port: Option<u16>,
    /// `"starttls"` (default) or `"tls"`.
    pub smtp_tls: Option<String>,
    /// The SMTP login, if the server wants one.
    pub smtp_user: Option<String>,
    /// A file holding the SMTP password.
    pub smtp_password_file: Option<String>,
    /// The sender address of notices.
    pub from: Option<String>,
    /// A PEM file of certificate authorities trusted besides the public ones, for a
    /// self-hosted mail server or webhook receiver.
    pub ca_file: Option<String>,
    /// A file holding the webhook secret, sent as `Authorization: Bearer …`.
    pub webhook_secret_file: Option<String>,
    /// Refused: passwords never go in this file.
    pub smtp_password: Option<toml::Value>,
    /// Refused: secrets never go in this file.
    pub webhook_secret: Option<toml::Value>,
}

/// How the SMTP connection is secured: always TLS, never plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which must succeed.
    StartTls,
    /// TLS from the first byte.
    Implicit,
}

/// The checked SMTP settings.
#[derive(Debug, Clone)]
pub struct Smtp {
    /// Host name, also the name its certificate must carry.
    pub server: String,
    /// Port.
    pub port: u16,
    /// STARTTLS or implicit TLS.
    pub tls: SmtpTls,
    /// Login and password, if any.
    pub login: Option<(String, Secret)>,
    /// Sender address.
    pub from: String,
}

/// The checked `[notify]`.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// The period.
    pub period: Duration,
    /// E-mail, if configured.
    pub smtp: Option<Smtp>,
    /// Extra trusted certificate authorities (PEM), for both channels.
    pub ca_file: Option<PathBuf>,
    /// The webhook secret, if any.
    pub webhook_secret: Option<Secret>,
}

/// A key that failed (without `notify.`) and what to do.
type Invalid = (&'static str, String);

impl RawNotify {
    /// Checks `[notify]`; relative paths are taken from `base`, the configuration's folder.
    /// Reads the secret files, so that a missing one stops `serve` at start.
    pub fn validate(self, base: &Path) -> Result<NotifyConfig, Invalid> {
        if self.smtp_password.is_some() {
            return Err((
                "smtp_password",
                format!(
                    "passwords never go in sanduq.toml; write it to a file (mode 0600) named by \
                     notify.smtp_password_file, or set {SMTP_PASSWORD_ENV}"
                ),
            ));
        }
        if self.webhook_secret.is_some() {
            return Err((
                "webhook_secret",
                format!(
                    "secrets never go in sanduq.toml; write it to a file (mode 0600) named by \
                     notify.webhook_secret_file, or set {WEBHOOK_SECRET_ENV}"
                ),
            ));
        }
        let period = self.period_seconds.unwrap_or(DEFAULT_PERIOD.as_secs());
        if !(1..=MAX_PERIOD_SECONDS).contains(&period) {
            return Err((
                "period_seconds",
                format!("must be between 1 and {MAX_PERIOD_SECONDS} (default 86400, a day)"),
            ));
        }
        let webhook_secret = secret(
            "webhook_secret_file",
            self.webhook_secret_file.as_deref(),
            WEBHOOK_SECRET_ENV,
            base,
        )?;
        Ok(NotifyConfig {
            period: Duration::from_secs(period),
            smtp: smtp(&self, base)?,
            ca_file: self.ca_file.as_deref().map(|f| base.join(f)),
            webhook_secret,
        })
    }
}

fn smtp(raw: &RawNotify, base: &Path) -> Result<Option<Smtp>, Invalid> {
    let Some(server) = raw.smtp_server.clone() else {
        return Ok(None);
    };
    if server.is_empty() || server.contains(['/', ':', '@', ' ']) {
        return Err((
            "smtp_server",
            format!("{server:?} is not a host name; write it as \"mail.example.org\""),
        ));
    }
    let tls = match raw.smtp_tls.as_deref() {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("tls") => SmtpTls::Implicit,
        Some(other) => {
            return Err((
                "smtp_tls",
                format!("{other:?}: write \"starttls\" or \"tls\" (plain text is not offered)"),
            ))
        }
    };
    let port = raw.smtp_port.unwrap_or(match tls {
        SmtpTls::StartTls => 587,
        SmtpTls::Implicit => 465,
    });
    let Some(from) = raw.from.clone() else {
        return Err((
            "from",
            "the sender address of notices, e.g. \"sanduq@example.org\"".into(),
        ));
    };
    if from.parse::<lettre::Address>().is_err() {
        return Err(("from", format!("{from:?} is not an e-mail address")));
    }
    let password = secret(
        "smtp_password_file",
        raw.smtp_password_file.as_deref(),
        SMTP_PASSWORD_ENV,
        base,
    )?;
    let login = match (raw.smtp_user.clone(), password) {
        (Some(user), Some(p)) => Some((user, p)),
        (None, None) => None,
        (Some(_), None) => {
            return Err((
                "smtp_password_file",
                format!(
                    "smtp_user is set: name the password's file here, or set {SMTP_PASSWORD_ENV}"
                ),
            ))
        }
        (None, Some(_)) => {
            return Err(("smtp_user", "a password is given: set the login too".into()))
        }
    };
    Ok(Some(Smtp {
        server,
        port,
        tls,
        login,
        from,
    }))
}

/// The secret in the file `file` (relative to `base`; a final line break is not part of
/// it), else in the environment variable `env`, else none.
fn secret(
    key: &'static str,
    file: Option<&str>,
    env: &str,
    base: &Path,
) -> Result<Option<Secret>, Invalid> {
    let mut bytes = match file {
        Some(f) => {
            let path = base.join(f);
            std::fs::read(&path)
                .map_err(|e| (key, format!("cannot read {}: {e}", path.display())))?
        }
        None => match std::env::var_os(env) {
            Some(v) => v.into_encoded_bytes(),
            None => return Ok(None),
        },
    };
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err((key, "the secret is empty".into()));
    }
    Ok(Some(Secret::new(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NotifyConfig, Invalid> {
        let raw: RawNotify = toml::from_str(text).unwrap();
        raw.validate(Path::new("/nonexistent"))
    }

    #[test]
    fn secrets_in_the_file_are_refused_with_where_they_go() {
        let e = parse("smtp_password = \"hunter2\"").unwrap_err();
        assert_eq!(e.0, "smtp_password");
        assert!(e.1.contains("smtp_password_file"), "{}", e.1);
        assert!(!e.1.contains("hunter2"), "{}", e.1);
        let e = parse("webhook_secret = \"s3cret\"").unwrap_err();
        assert_eq!(e.0, "webhook_secret");
        assert!(!e.1.contains("s3cret"), "{}", e.1);
    }

    #[test]
    fn defaults_and_bad_values() {
        let c = parse("").unwrap();
        assert_eq!(c.period, DEFAULT_PERIOD);
        assert!(c.smtp.is_none());
        let c = parse("smtp_server = \"mail.example.org\"\nfrom = \"s@example.org\"").unwrap();
        let smtp = c.smtp.unwrap();
        assert_eq!((smtp.port, smtp.tls), (587, SmtpTls::StartTls));
        assert_eq!(
            parse("smtp_server = \"m.example.org\"\nfrom = \"s@example.org\"\nsmtp_tls = \"tls\"")
                .unwrap()
                .smtp
                .unwrap()
                .port,
            465
        );
        for (text, key) in [
            ("period_seconds = 0", "period_seconds"),
            ("smtp_server = \"m.example.org\"", "from"),
            ("smtp_server = \"m.example.org\"\nfrom = \"nope\"", "from"),
            ("smtp_server = \"smtp://m\"\nfrom = \"s@example.org\"", "smtp_server"),
            (
                "smtp_server = \"m.example.org\"\nfrom = \"s@example.org\"\nsmtp_tls = \"none\"",
                "smtp_tls",
            ),
            (
                "smtp_server = \"m.example.org\"\nfrom = \"s@example.org\"\nsmtp_user = \"u\"\nsmtp_password_file = \"missing\"",
                "smtp_password_file",
            ),
        ] {
            assert_eq!(parse(text).unwrap_err().0, key, "{text}");
        }
    }
}
