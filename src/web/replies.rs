//! A logged-in source reads the editors' replies and deletes them.
//!
//! Replies are stored as the editors pushed them: age files encrypted offline to the source's
//! reply key and the desk. They are decrypted in memory, for this page only, with the reply
//! identities that exist only in the source's session, opened for this request. Delete means delete: the row
//! (with `secure_delete`) and the file.

use std::io::Read;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tokio::io::AsyncReadExt;

use super::session::SessionView;
use super::{AppError, AppState};
use crate::ids::Id;
use crate::store::BlobKey;

/// Largest stored reply that is read.
const MAX_REPLY: u64 = 2 * 1024 * 1024;

/// Every reply to the session's source, decrypted, oldest first.
pub(crate) async fn read_all(
    st: &AppState,
    s: &SessionView,
) -> Result<Vec<minijinja::Value>, AppError> {
    // Reading replies is activity (retention).
    super::activity::record(st, s.source, &s.desk).await;
    let mut out = Vec::new();
    for r in st.meta.replies_for_source(s.source).await? {
        let Some((_, mut reader)) = st.blobs.open(BlobKey::reply(r.id), 0).await? else {
            continue;
        };
        let mut ct = Vec::new();
        (&mut reader).take(MAX_REPLY).read_to_end(&mut ct).await?;
        let keys = s.reply_keys.clone();
        let text = tokio::task::spawn_blocking(move || -> Option<String> {
            let text = decrypt_reply(&keys, &ct);
            // The key set-up and the decryption left copies of the keys in their frames.
            crate::wipe::scrub_stack();
            text
        })
        .await
        .map_err(AppError::internal)?;
        // None is shown as "could not be opened", in the source's language; the day in its
        // digits (Persian in Farsi).
        let day = super::pages::current_locale().digits(&r.day);
        out.push(context! { id => r.id.to_string(), day, text });
    }
    Ok(out)
}

/// A reply's text, if the session's keys open it. Both identities are made from their
/// secrets here, on the blocking thread, for each reply (a fraction of a millisecond). Not inlined,
/// so that its frame lies below the caller's, where the caller's scrub reaches.
#[inline(never)]
fn decrypt_reply(keys: &super::sealed::ReplySecrets, ct: &[u8]) -> Option<String> {
    let d = age::Decryptor::new(ct).ok()?;
    let classical = keys.classical()?;
    let pq_identity = keys.post_quantum()?;
    let mut plain = zeroize::Zeroizing::new(Vec::new());
    let ids: [&dyn age::Identity; 2] = [&classical, &pq_identity];
    d.decrypt(ids.into_iter())
        .ok()?
        .read_to_end(&mut plain)
        .ok()?;
    Some(String::from_utf8_lossy(&plain).into_owned())
}

/// The delete form's fields.
#[derive(Deserialize)]
pub(crate) struct DeleteForm {
    csrf_token: String,
    reply: String,
}

/// `POST /reply/delete`.
pub(crate) async fn delete(
    State(st): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<DeleteForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(|_| AppError::BadRequest)?;
    let s = st
        .sessions
        .for_request(&headers)
        .await?
        .ok_or(AppError::Forbidden)?;
    if !bool::from(form.csrf_token.as_bytes().ct_eq(s.csrf.as_bytes())) {
        return Err(AppError::Forbidden);
    }
    let id: Id = form.reply.parse().map_err(|_| AppError::NotFound)?;
    if !st.meta.delete_reply(s.source, id).await? {
        return Err(AppError::NotFound);
    }
    st.blobs.delete(BlobKey::reply(id)).await?;
    Ok(Redirect::to(&super::pages::home()).into_response())
}
