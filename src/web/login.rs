//! Returning sources: log in with a codename, log out.
//!
//! A codename is checked only by deriving from it (argon2id behind the deriver's cap, at each
//! cost in use) and looking each result's hash up; a known and an unknown well-formed
//! codename cost the same work and the same queries. When too many logins wait already, the
//! answer is at once a calm 503 with `Retry-After`. A login always starts a new session, and
//! ends the one its request's cookie named.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{pages, AppError, AppState};
use crate::codename::Codename;

/// The login form's fields.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    csrf_token: String,
    codename: Zeroizing<String>,
}

/// The logout form's fields.
#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    csrf_token: String,
}

fn form_error(r: FormRejection) -> AppError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge
    } else {
        AppError::BadRequest
    }
}

/// `GET /login`.
pub(crate) async fn form(State(st): State<AppState>, headers: HeaderMap) -> Response {
    pages::with_csrf_cookie(&st, &headers, pages::login_page)
}

/// `POST /login`.
pub(crate) async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(form_error)?;
    let cookie = pages::csrf_cookie(&st, &headers).ok_or(AppError::Forbidden)?;
    if !bool::from(form.csrf_token.as_bytes().ct_eq(cookie.as_bytes())) {
        return Err(AppError::Forbidden);
    }
    let codename = Codename::parse(&form.codename).map_err(|_| AppError::UnknownCodename)?;
    let (source, derived) = find_source(&st, codename)
        .await?
        .ok_or(AppError::UnknownCodename)?;
    st.sessions.end_for_request(&headers).await?;
    // If the desk has moved between classical and post-quantum keys since this source last
    // came, its reply key follows, so that editors can answer it. Done after the answer, so
    // that a known codename costs no more time to log in with than an unknown one.
    let keys = (
        derived.reply_recipient_for(false),
        derived.reply_recipient_for(true),
    );
    // The login is activity too (retention), recorded after the answer for the same reason.
    let (later, sid, desk) = (st.clone(), source.id, source.desk.clone());
    tokio::spawn(async move {
        if let Err(e) = follow_desk_kind(later.meta.as_ref(), sid, &desk, keys).await {
            tracing::warn!("a reply key could not be updated: {e}");
        }
        super::activity::record(&later, sid, &desk).await;
    });
    let cookie =
        zeroize::Zeroizing::new(st.sessions.create(source.id, source.desk, derived).await?);
    let mut res = Redirect::to(&super::pages::home()).into_response();
    if let Ok(v) = HeaderValue::from_str(&st.sessions.set_cookie(&cookie)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

/// The source `codename` opens, and what it derives for it. It is derived at each argon2 cost
/// sources' codenames use (usually one) and every result is looked up, so that a known and an
/// unknown codename cost the same work; too many logins waiting already is a 503.
async fn find_source(
    st: &AppState,
    codename: Codename,
) -> Result<Option<(crate::store::SourceRow, Box<crate::codename::Derived>)>, AppError> {
    let derived = st
        .deriver
        .derive_login(codename)
        .await
        .map_err(|e| match e {
            crate::codename::Error::Busy => AppError::Busy,
            other => AppError::internal(other),
        })?;
    let mut found = None;
    for d in derived {
        if let Some(source) = st.meta.source_by_login(&d.login_hash()).await? {
            found = Some((source, d));
        }
    }
    Ok(found)
}

/// Stores the reply recipient of the desk's current kind for `source`, if it differs.
async fn follow_desk_kind(
    meta: &dyn crate::store::MetaStore,
    source: crate::ids::Id,
    desk: &str,
    (classical, pq): (String, String),
) -> Result<(), crate::store::Error> {
    let recipients = meta.desk_recipients(desk).await?;
    // A desk without editors (between removing a key and adding its successor) says nothing
    // about its kind: the stored key stays.
    if recipients.is_empty() {
        return Ok(());
    }
    let wanted = if recipients.iter().all(|r| crate::crypto::is_post_quantum(r)) {
        pq
    } else {
        classical
    };
    let Some(info) = meta.source(source).await? else {
        return Ok(());
    };
    if info.reply_recipient.is_some_and(|r| r != wanted) {
        meta.set_reply_recipient(source, &wanted).await?;
    }
    Ok(())
}

/// `POST /logout`.
pub(crate) async fn logout(
    State(st): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(form_error)?;
    let s = st
        .sessions
        .for_request(&headers)
        .await?
        .ok_or(AppError::Forbidden)?;
    if !bool::from(form.csrf_token.as_bytes().ct_eq(s.csrf.as_bytes())) {
        return Err(AppError::Forbidden);
    }
    st.sessions.remove(&s).await?;
    let mut res = Redirect::to(&super::pages::home()).into_response();
    if let Ok(v) = HeaderValue::from_str(&st.sessions.clear_cookie()) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}
