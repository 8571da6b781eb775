//! Source sessions, shared by every node and kept across restarts, readable by none of them
//! without the source's cookie.
//!
//! A session is a row of the `MetaStore`, sealed (`super::sealed`) under a key that only the
//! source's `HttpOnly`, `SameSite=Strict` cookie gives: any node the source reaches opens it,
//! a copy of the database opens nothing. It is opened for each request and its reply secrets
//! are wiped when the request is done. A new cookie is issued at every login, so a cookie
//! planted before login is worthless.
//!
//! Expiry, without the time of any request in plaintext: the sealed session holds when it
//! ends, rounded up to a window of a quarter of the idle timeout; the row's one plaintext
//! time, for the sweep that deletes it, is that same rounded end. A session is written again
//! only when a request moves its end into a later window. So a session ends between the idle
//! timeout and 1¼ times it after its last request, and a copy of the database tells at best
//! in which quarter-timeout window a live session was last used.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap};
use base64::Engine as _;

use super::sealed::{self, Contents, CookieKeys, ReplySecrets};
use super::AppError;
use crate::ids::Id;
use crate::store::{MetaStore, SessionRow};

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

/// A logged-in source's session, opened for one request.
#[derive(Clone)]
pub(crate) struct SessionView {
    /// The row's id.
    row: [u8; 32],
    pub(crate) source: Id,
    pub(crate) desk: String,
    pub(crate) csrf: String,
    /// Wiped when the last clone of this request's view is dropped.
    pub(crate) reply_keys: Arc<ReplySecrets>,
}

/// The longest an expired session's row stays after the end of its window: without a
/// periodic sweep, rows of sessions no one came back to would stay for ever.
pub(crate) const SWEEP_AT_MOST: Duration = Duration::from_secs(15);

/// The widest window a session's end is rounded to, whatever the idle timeout.
const WIDEST_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Every node's view of the sessions in the shared store.
pub struct Sessions {
    meta: Arc<dyn MetaStore>,
    secure: bool,
    idle: Duration,
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    crate::ids::fill_random(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Milliseconds since the Unix epoch, by this node's clock.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Sessions {
    /// Sessions in `meta`; `secure` selects `__Host-` cookies with the `Secure` flag; a
    /// session unused for `idle` (rounded up to its window) is gone.
    pub(crate) fn new(secure: bool, idle: Duration, meta: Arc<dyn MetaStore>) -> Sessions {
        Sessions { meta, secure, idle }
    }

    /// `Set-Cookie` for a new session.
    pub(crate) fn set_cookie(&self, value: &str) -> String {
        set_cookie_header(COOKIE, value, self.secure, false)
    }

    /// `Set-Cookie` that ends the session cookie.
    pub(crate) fn clear_cookie(&self) -> String {
        set_cookie_header(COOKIE, "", self.secure, true)
    }

    /// The window a session's end is rounded up to: a quarter of the idle timeout, at least
    /// a millisecond, at most [`WIDEST_WINDOW`].
    fn window_ms(&self) -> u64 {
        millis((self.idle / 4).min(WIDEST_WINDOW)).max(1)
    }

    /// The end of a session used at `now`: `now + idle`, rounded up to its window.
    fn ends(&self, now: u64) -> u64 {
        let w = self.window_ms();
        now.saturating_add(millis(self.idle))
            .div_ceil(w)
            .saturating_mul(w)
    }

    /// Starts a session for `source` with the keys its codename derived; returns the value
    /// of its cookie.
    pub(crate) async fn create(
        &self,
        source: Id,
        desk: String,
        derived: Box<crate::codename::Derived>,
    ) -> Result<String, AppError> {
        let secrets = ReplySecrets::of(&derived);
        drop(derived);
        let (cookie, keys) = CookieKeys::generate();
        let contents = Contents {
            source,
            desk,
            csrf: random_token(),
            expires_ms: self.ends(now_ms()),
            secrets,
        };
        self.meta.put_session(&row_of(&keys, &contents)?).await?;
        Ok(cookie)
    }

    /// The live session named by the request's cookie, opened; written again if this
    /// request moves its end into a later window. An expired one is deleted.
    pub(crate) async fn for_request(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<SessionView>, AppError> {
        let Some(keys) = self.cookie_keys(headers) else {
            return Ok(None);
        };
        let Some(row) = self.meta.session(&keys.row).await? else {
            return Ok(None);
        };
        // A row this cookie does not open (damaged, or written by someone else) is left to
        // the sweep.
        let Some(mut contents) = sealed::open(&keys, &row.sealed) else {
            return Ok(None);
        };
        let now = now_ms();
        if now >= contents.expires_ms {
            self.meta.delete_session(&keys.row).await?;
            return Ok(None);
        }
        let ends = self.ends(now);
        if ends > contents.expires_ms {
            contents.expires_ms = ends;
            // Ended meanwhile on another node: it stays ended.
            if !self.meta.update_session(&row_of(&keys, &contents)?).await? {
                return Ok(None);
            }
        }
        Ok(Some(SessionView {
            row: keys.row,
            source: contents.source,
            desk: std::mem::take(&mut contents.desk),
            csrf: std::mem::take(&mut contents.csrf),
            reply_keys: Arc::new(contents.secrets),
        }))
    }

    /// What the request's session cookie names, if it has one.
    fn cookie_keys(&self, headers: &HeaderMap) -> Option<CookieKeys> {
        let value = zeroize::Zeroizing::new(cookie(headers, &cookie_name(COOKIE, self.secure))?);
        CookieKeys::from_cookie(&value)
    }

    /// Ends the session the request's cookie names, if any, without opening it (at login,
    /// so that a new session never sits beside an old one).
    pub(crate) async fn end_for_request(&self, headers: &HeaderMap) -> Result<(), AppError> {
        if let Some(keys) = self.cookie_keys(headers) {
            self.meta.delete_session(&keys.row).await?;
        }
        Ok(())
    }

    /// Ends a session: its row is deleted, on every node at once.
    pub(crate) async fn remove(&self, session: &SessionView) -> Result<(), AppError> {
        self.meta.delete_session(&session.row).await?;
        Ok(())
    }

    /// Deletes the rows of every session whose window has ended.
    pub(crate) async fn sweep(&self) -> Result<u64, crate::store::Error> {
        self.meta.sweep_sessions(now_ms()).await
    }

    /// How often [`Sessions::sweep`] runs: an expired session's row is deleted within
    /// [`SWEEP_AT_MOST`] of its window's end, and sooner for short timeouts.
    pub(crate) fn sweep_period(&self) -> Duration {
        (self.idle / 4).clamp(Duration::from_millis(250), SWEEP_AT_MOST)
    }
}

/// The stored row of `contents`, sealed under `keys`.
fn row_of(keys: &CookieKeys, contents: &Contents) -> Result<SessionRow, AppError> {
    let sealed =
        sealed::seal(keys, contents).map_err(|_| AppError::internal("sealing a session"))?;
    Ok(SessionRow {
        id: keys.row,
        sealed,
        sweep_after_ms: contents.expires_ms,
    })
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

    async fn sessions(idle: Duration) -> (tempfile::TempDir, Arc<Sessions>, Arc<dyn MetaStore>) {
        let dir = tempfile::tempdir().unwrap();
        let meta: Arc<dyn MetaStore> = Arc::new(
            crate::store::sqlite::SqliteMetaStore::open(&dir.path().join("m.sqlite"))
                .await
                .unwrap(),
        );
        (
            dir,
            Arc::new(Sessions::new(false, idle, meta.clone())),
            meta,
        )
    }

    fn derived() -> Box<crate::codename::Derived> {
        let cost = crate::codename::Cost {
            memory_kib: 8,
            time: 1,
            lanes: 1,
        };
        let c = crate::codename::Codename::generate();
        Box::new(crate::codename::derive(&c, &[7; 32], cost).unwrap())
    }

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("{COOKIE}={value}").parse().unwrap());
        headers
    }

    /// An expired session's row is deleted by the periodic sweep, with no other login and no
    /// request bearing its cookie.
    #[tokio::test]
    async fn the_sweep_deletes_an_expired_sessions_row_on_its_own() {
        let (_dir, sessions, meta) = sessions(Duration::from_millis(200)).await;
        let cookie = sessions
            .create(Id::random(), "desk".into(), derived())
            .await
            .unwrap();
        let row = CookieKeys::from_cookie(&cookie).unwrap().row;
        assert!(sessions
            .for_request(&with_cookie(&cookie))
            .await
            .unwrap()
            .is_some());
        assert!(meta.session(&row).await.unwrap().is_some());
        let sweeper = tokio::spawn(super::super::sweep_sessions(sessions.clone()));
        // Idle time, its window (a quarter), then at most two sweep periods.
        tokio::time::sleep(Duration::from_millis(250) + 2 * sessions.sweep_period()).await;
        sweeper.abort();
        assert!(
            meta.session(&row).await.unwrap().is_none(),
            "the expired session's row is still stored"
        );
    }

    /// A session ends between its idle timeout and a quarter more; a request within it
    /// keeps it alive; the store holds only the rounded end.
    #[tokio::test]
    async fn a_session_ends_after_its_idle_time_rounded_to_its_window() {
        let (_dir, sessions, meta) = sessions(Duration::from_millis(400)).await;
        let cookie = sessions
            .create(Id::random(), "desk".into(), derived())
            .await
            .unwrap();
        let row = CookieKeys::from_cookie(&cookie).unwrap().row;
        let stored = meta.session(&row).await.unwrap().unwrap();
        assert_eq!(stored.sweep_after_ms % 100, 0, "rounded to a 100 ms window");
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(sessions
                .for_request(&with_cookie(&cookie))
                .await
                .unwrap()
                .is_some());
        }
        assert!(meta.session(&row).await.unwrap().unwrap().sweep_after_ms > stored.sweep_after_ms);
        tokio::time::sleep(Duration::from_millis(550)).await;
        assert!(sessions
            .for_request(&with_cookie(&cookie))
            .await
            .unwrap()
            .is_none());
        assert!(
            meta.session(&row).await.unwrap().is_none(),
            "refused but kept"
        );
    }
}
