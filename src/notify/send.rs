//! Delivering one notice: an e-mail over SMTP (STARTTLS or implicit TLS, never plain text)
//! or an HTTP POST to a webhook. Every notice is the same fixed text; the e-mail's `Date` is
//! the start of its UTC day, so that nothing in it is finer than the day.

use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::notify::{NotifyConfig, SmtpTls};
use crate::config::Secret;
use crate::store::Channel;

/// The subject of every notice e-mail.
pub const SUBJECT: &str = "sanduq: something new";
/// The body of every notice, e-mail and webhook alike.
pub const BODY: &str = "There is something new on your sanduq desk. Fetch it as usual.\n";
/// How long one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a notice was not delivered. The variants keep their causes for the caller to match
/// on, but only [`Error::kind`] is fit for a log: a mail server's answer or a URL in a
/// cause may quote the address.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `[notify] ca_file` cannot be read or holds no certificate.
    #[error("notify.ca_file: {0}")]
    CaFile(String),
    /// An e-mail is due but `[notify]` names no SMTP server.
    #[error("no SMTP server is configured")]
    NoSmtp,
    /// A stored address is not one (the store was edited by hand).
    #[error("a stored address is not valid")]
    Address,
    /// The SMTP client could not be set up (TLS parameters, the password).
    #[error("SMTP set-up failed")]
    SmtpSetup(#[source] Option<lettre::transport::smtp::Error>),
    /// The mail server refused or could not be reached.
    #[error("SMTP delivery failed")]
    Smtp(#[source] lettre::transport::smtp::Error),
    /// The webhook secret cannot be an HTTP header (a control character in it).
    #[error("the webhook secret is not a valid HTTP header value")]
    Secret,
    /// The webhook could not be reached.
    #[error("webhook delivery failed")]
    Webhook(#[source] reqwest::Error),
    /// The webhook answered with a status other than 2xx.
    #[error("webhook answered {0}")]
    Status(u16),
}

impl Error {
    /// A description with no address, URL or server text in it: what a log may show.
    pub fn kind(&self) -> String {
        match self {
            Error::Smtp(e) => {
                let what = if e.is_tls() {
                    "TLS"
                } else if e.is_timeout() {
                    "timeout"
                } else if e.is_permanent() {
                    "refused"
                } else if e.is_transient() {
                    "deferred"
                } else {
                    "connection"
                };
                match e.status() {
                    Some(code) => format!("SMTP {what}, code {code}"),
                    None => format!("SMTP {what}"),
                }
            }
            Error::Webhook(e) if e.is_timeout() => "webhook timeout".into(),
            Error::Webhook(e) if e.is_connect() => "webhook connection".into(),
            Error::Webhook(_) => "webhook request".into(),
            Error::CaFile(_) => "notify.ca_file is not usable".into(),
            other => other.to_string(),
        }
    }
}

/// Delivers notices on both channels.
pub struct Sender {
    mail: Option<(AsyncSmtpTransport<Tokio1Executor>, Address)>,
    http: reqwest::Client,
    secret: Option<Secret>,
}

impl Sender {
    /// The senders `config` describes; reads the CA file.
    pub fn new(config: &NotifyConfig) -> Result<Sender, Error> {
        let ca = match &config.ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| Error::CaFile(format!("{}: {e}", path.display())))?,
            ),
            None => None,
        };
        let mut http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &ca {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|_| Error::CaFile("no PEM certificate in it".into()))?
            {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http.build().map_err(Error::Webhook)?;
        let mail = match &config.smtp {
            None => None,
            Some(smtp) => Some((
                mailer(smtp, ca.as_deref())?,
                smtp.from.parse().map_err(|_| Error::Address)?,
            )),
        };
        Ok(Sender {
            mail,
            http,
            secret: config.webhook_secret.clone(),
        })
    }

    /// Delivers one notice on `channel` to `address`.
    pub async fn send(&self, channel: Channel, address: &str) -> Result<(), Error> {
        match channel {
            Channel::Email => self.mail(address).await,
            Channel::Webhook => self.webhook(address).await,
        }
    }

    async fn mail(&self, to: &str) -> Result<(), Error> {
        let Some((transport, from)) = &self.mail else {
            return Err(Error::NoSmtp);
        };
        let to: Address = to.parse().map_err(|_| Error::Address)?;
        let envelope = lettre::address::Envelope::new(Some(from.clone()), vec![to.clone()])
            .map_err(|_| Error::Address)?;
        transport
            .send_raw(&envelope, message(from, &to).as_bytes())
            .await
            .map_err(Error::Smtp)?;
        Ok(())
    }

    async fn webhook(&self, url: &str) -> Result<(), Error> {
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(BODY);
        if let Some(secret) = &self.secret {
            let mut value = reqwest::header::HeaderValue::from_bytes(
                &[b"Bearer ".as_slice(), secret.expose()].concat(),
            )
            .map_err(|_| Error::Secret)?;
            value.set_sensitive(true);
            req = req.header(reqwest::header::AUTHORIZATION, value);
        }
        let res = req
            .send()
            .await
            .map_err(|e| Error::Webhook(e.without_url()))?;
        if !res.status().is_success() {
            return Err(Error::Status(res.status().as_u16()));
        }
        Ok(())
    }
}

/// The SMTP transport: TLS always (STARTTLS required, or implicit), the public roots plus
/// the operator's CA file, a login if configured.
fn mailer(
    smtp: &crate::config::notify::Smtp,
    ca: Option<&[u8]>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, Error> {
    let mut tls = TlsParameters::builder(smtp.server.clone());
    if let Some(pem) = ca {
        tls = tls.add_root_certificate(
            Certificate::from_pem(pem)
                .map_err(|_| Error::CaFile("no PEM certificate in it".into()))?,
        );
    }
    let tls = tls.build_rustls().map_err(|e| Error::SmtpSetup(Some(e)))?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.server.clone())
        .port(smtp.port)
        .tls(match smtp.tls {
            SmtpTls::StartTls => Tls::Required(tls),
            SmtpTls::Implicit => Tls::Wrapper(tls),
        })
        // An address literal rather than this machine's host name.
        .hello_name(ClientId::Ipv4(std::net::Ipv4Addr::LOCALHOST))
        .timeout(Some(TIMEOUT));
    if let Some((user, password)) = &smtp.login {
        let password =
            String::from_utf8(password.expose().to_vec()).map_err(|_| Error::SmtpSetup(None))?;
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

/// The whole e-mail: fixed headers and body, dated to the start of the UTC day, with a
/// random Message-ID.
fn message(from: &Address, to: &Address) -> String {
    let today = time::OffsetDateTime::now_utc()
        .date()
        .midnight()
        .assume_utc();
    let date = today
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {SUBJECT}\r\nDate: {date}\r\n\
         Message-ID: <{}@{}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{}",
        crate::ids::Id::random(),
        from.domain(),
        BODY.replace('\n', "\r\n"),
    )
}

/// Checks an address before it is stored: an e-mail address, or a webhook URL that is
/// `https`, or `http` to this machine, with no login in it.
pub fn check_address(channel: Channel, address: &str) -> Result<(), String> {
    match channel {
        Channel::Email => address
            .parse::<Address>()
            .map(|_| ())
            .map_err(|_| format!("{address:?} is not an e-mail address")),
        Channel::Webhook => {
            let url = reqwest::Url::parse(address).map_err(|_| {
                "the webhook is not a URL; write it as https://host/path".to_owned()
            })?;
            if !url.username().is_empty() || url.password().is_some() {
                return Err(
                    "no login in the webhook URL: put the secret in the file named by \
                            notify.webhook_secret_file"
                        .into(),
                );
            }
            let local = url.host_str().is_some_and(|h| {
                h == "localhost"
                    || h.trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|a| a.is_loopback())
            });
            match url.scheme() {
                "https" => Ok(()),
                "http" if local => Ok(()),
                _ => Err("the webhook must be https (http only to this machine)".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_fixed_and_dated_to_the_day() {
        let from: Address = "sanduq@example.org".parse().unwrap();
        let to: Address = "ed@example.net".parse().unwrap();
        let m = message(&from, &to);
        assert!(m.contains("00:00:00 +0000\r\n"), "{m}");
        assert!(m.contains(&format!("Subject: {SUBJECT}\r\n")), "{m}");
        assert!(m.ends_with("Fetch it as usual.\r\n"), "{m}");
    }

    #[test]
    fn addresses_are_checked() {
        assert!(check_address(Channel::Email, "ed@example.org").is_ok());
        assert!(check_address(Channel::Email, "ed@example.org\r\nBcc: x@y").is_err());
        assert!(check_address(Channel::Webhook, "https://ntfy.example.org/t").is_ok());
        assert!(check_address(Channel::Webhook, "http://127.0.0.1:9/h").is_ok());
        for bad in [
            "http://example.org/h",
            "https://u:p@example.org/",
            "ftp://x/",
            "nope",
        ] {
            assert!(check_address(Channel::Webhook, bad).is_err(), "{bad}");
        }
    }
}
