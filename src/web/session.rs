//! Source sessions: in memory only, keyed by a random id in an `HttpOnly`, `SameSite=Strict`
//! cookie. A session holds the source's derived reply identity, which exists nowhere else
//! and is dropped (and wiped by age) at logout or after the idle timeout. A new id is issued
//! at every login, so an id planted before login is worthless.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use base64::Engine as _;

use crate::ids::Id;

/// Name of the session cookie.
pub(crate) const COOKIE: &str = "sanduq_session";

/// A cookie's name and attributes: with `secure` (TLS or an onion address), the `__Host-`
/// prefix and the `Secure` flag, so the cookie is bound to this host and never sent in clear.
pub(crate) fn cookie_name(name: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}

/// `Set-Cookie` value for `name=value`.
pub(crate) fn set_cookie_header(name: &str, value: &str, secure: bool, clear: bool) -> String {
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict{}{}",
        cookie_name(name, secure),
        if secure { "; Secure" } else { "" },
        if clear { "; Max-Age=0" } else { "" }
    )
}

/// A logged-in source's reply keys, as the deriver boxed them: never moved, so wiped where
/// they lie when the session ends. The post-quantum identity is held as its 32-byte seed and
/// expanded only when replies are read (expanded, a session took about 2.2 KiB).
pub(crate) struct ReplyKeys(Box<crate::codename::Derived>);

impl ReplyKeys {
    /// The classical identity.
    pub(crate) fn classical(&self) -> &age::x25519::Identity {
        &self.0.reply_identity
    }

    /// The post-quantum identity, expanded from its seed (wiped when dropped). Expand it on a
    /// blocking thread that scrubs its stack after use.
    pub(crate) fn post_quantum(&self) -> crate::pq::Identity {
        self.0.pq_reply_identity()
    }
}

/// One logged-in source.
pub(crate) struct Session {
    pub(crate) source: Id,
    pub(crate) desk: String,
    pub(crate) csrf: String,
    pub(crate) reply_keys: Arc<ReplyKeys>,
    last_seen: Instant,
}

/// What a handler needs of a session.
#[derive(Clone)]
pub(crate) struct SessionView {
    pub(crate) id: String,
    pub(crate) source: Id,
    pub(crate) desk: String,
    pub(crate) csrf: String,
    pub(crate) reply_keys: Arc<ReplyKeys>,
}

/// The longest an expired session's reply keys stay in memory: without a periodic sweep, they
/// stayed until the next login or the next request with that cookie.
pub(crate) const SWEEP_AT_MOST: Duration = Duration::from_secs(15);

/// Every live session.
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    secure: bool,
    idle: Duration,
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    crate::ids::fill_random(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl Sessions {
    /// No sessions yet; `secure` selects `__Host-` cookies with the `Secure` flag; a session
    /// unused for `idle` is gone.
    pub(crate) fn new(secure: bool, idle: Duration) -> Sessions {
        Sessions {
            map: Mutex::default(),
            secure,
            idle,
        }
    }

    /// `Set-Cookie` for a new session.
    pub(crate) fn set_cookie(&self, id: &str) -> String {
        set_cookie_header(COOKIE, id, self.secure, false)
    }

    /// `Set-Cookie` that ends the session cookie.
    pub(crate) fn clear_cookie(&self) -> String {
        set_cookie_header(COOKIE, "", self.secure, true)
    }

    /// Starts a session for `source` with the keys its codename derived; returns its id.
    pub(crate) fn create(
        &self,
        source: Id,
        desk: String,
        mut derived: Box<crate::codename::Derived>,
    ) -> String {
        derived.keep_only_reply_keys();
        let id = random_token();
        let s = Session {
            source,
            desk,
            csrf: random_token(),
            reply_keys: Arc::new(ReplyKeys(derived)),
            last_seen: Instant::now(),
        };
        self.sweep();
        if let Ok(mut m) = self.map.lock() {
            m.insert(id.clone(), s);
        }
        id
    }

    /// The live session named by the request's cookie, touched.
    pub(crate) fn for_request(&self, headers: &HeaderMap) -> Option<SessionView> {
        let id = cookie(headers, &cookie_name(COOKIE, self.secure))?;
        let mut m = self.map.lock().ok()?;
        let s = m.get_mut(&id)?;
        if s.last_seen.elapsed() >= self.idle {
            m.remove(&id);
            return None;
        }
        s.last_seen = Instant::now();
        Some(SessionView {
            id,
            source: s.source,
            desk: s.desk.clone(),
            csrf: s.csrf.clone(),
            reply_keys: s.reply_keys.clone(),
        })
    }

    /// Drops every session idle for longer than the timeout, and with it its reply keys.
    pub(crate) fn sweep(&self) {
        if let Ok(mut m) = self.map.lock() {
            let idle = self.idle;
            m.retain(|_, s| s.last_seen.elapsed() < idle);
        }
    }

    /// How often [`Sessions::sweep`] must run so that an expired session's reply keys leave
    /// memory within [`SWEEP_AT_MOST`] of its expiry, and sooner for short timeouts.
    pub(crate) fn sweep_period(&self) -> Duration {
        (self.idle / 4).clamp(Duration::from_millis(250), SWEEP_AT_MOST)
    }

    /// Ends a session; its reply identity is dropped.
    pub(crate) fn remove(&self, id: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(id);
        }
    }
}

/// The value of cookie `name`, if present and shaped like our tokens.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().strip_prefix(name)?.strip_prefix('='))
        .find(|t| {
            t.len() == 43
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An expired session's reply keys are dropped by the periodic sweep, with no other
    /// login and no request bearing its cookie.
    #[tokio::test]
    async fn the_sweep_drops_an_expired_sessions_keys_on_its_own() {
        let sessions = Arc::new(Sessions::new(false, Duration::from_millis(200)));
        let cost = crate::codename::Cost {
            memory_kib: 8,
            time: 1,
            lanes: 1,
        };
        let derived =
            crate::codename::derive(&crate::codename::Codename::generate(), &[7; 32], cost);
        let id = sessions.create(Id::random(), "desk".into(), Box::new(derived.unwrap()));
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("{COOKIE}={id}").parse().unwrap());
        let keys = Arc::downgrade(&sessions.for_request(&headers).unwrap().reply_keys);
        assert!(keys.upgrade().is_some());
        let sweeper = tokio::spawn(super::super::sweep_sessions(sessions.clone()));
        tokio::time::sleep(Duration::from_millis(200) + 2 * sessions.sweep_period()).await;
        sweeper.abort();
        assert!(
            keys.upgrade().is_none(),
            "the expired session's keys are still held"
        );
    }
}
