//! `[listen]` checked: the two listeners' addresses, the onion address that tells the real
//! site from a Tor2web gateway, TLS files, cookies and the session's idle time.

use std::net::SocketAddr;
use std::path::Path;

use super::{Invalid, RawListen, TlsFiles};

/// The checked `[listen]`.
pub(super) struct Listen {
    pub(super) source_addr: SocketAddr,
    pub(super) api_addr: SocketAddr,
    pub(super) secure_cookies: bool,
    pub(super) session_idle: std::time::Duration,
    pub(super) onion_address: Option<String>,
    pub(super) tls: Option<TlsFiles>,
}

/// Checks `[listen]`; relative TLS paths are taken from `base`, the configuration's folder.
pub(super) fn validate(raw: RawListen, base: &Path) -> Result<Listen, Invalid> {
    let source_addr = addr("listen.source", raw.source, "127.0.0.1:8080")?;
    let api_addr = addr("listen.api", raw.api, "127.0.0.1:8081")?;
    if source_addr == api_addr {
        return Err((
            "listen.api".into(),
            "the editor API needs its own listener, apart from the source site".into(),
        ));
    }
    let idle = raw.session_idle_seconds.unwrap_or(30 * 60);
    if !(1..=24 * 3600).contains(&idle) {
        return Err((
            "listen.session_idle_seconds".into(),
            "must be between 1 and 86400".into(),
        ));
    }
    let tls = match (raw.tls_cert, raw.tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: base.join(cert),
            key: base.join(key),
        }),
        _ => {
            return Err((
                "listen.tls_cert".into(),
                "set both listen.tls_cert and listen.tls_key, or neither".into(),
            ))
        }
    };
    Ok(Listen {
        source_addr,
        api_addr,
        secure_cookies: raw.secure_cookies.unwrap_or(false),
        session_idle: std::time::Duration::from_secs(idle),
        onion_address: raw.onion_address.map(onion).transpose()?,
        tls,
    })
}

fn addr(key: &str, value: Option<String>, default: &str) -> Result<SocketAddr, Invalid> {
    let v = value.unwrap_or_else(|| default.to_owned());
    v.parse::<SocketAddr>().map_err(|_| {
        (
            key.to_owned(),
            format!("{v:?} is not an address; write it as \"127.0.0.1:8080\""),
        )
    })
}

/// A v3 onion address, lower case, without scheme or trailing slash.
fn onion(a: String) -> Result<String, Invalid> {
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
        return Err((
            "listen.onion_address".into(),
            format!("{a:?} is not a v3 onion address (56 characters, then .onion)"),
        ));
    }
    Ok(host.to_owned())
}
