//! Items seen by the desk: `sanduq fetch` tells the server which items its bundle now holds,
//! and tells the editor how many of the new ones another editor of the desk had already
//! fetched, so that the desk's editors do not all process the same testimony.
//!
//! The server keeps one boolean per item and names no editor (`web::api::fetched`). A set
//! boolean on an item this bundle had not yet taken therefore means another editor of the
//! desk took it, or the same editor into another bundle.

use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;

use super::api::{root_cause, Api};
use super::Result;
use crate::ids::Id;
use crate::web::MAX_FETCHED_IDS as MAX_IDS;

/// Tells the server that this bundle holds `ids` (items the listing did not show as taken).
/// Best effort: a failure is said on stderr and the next fetch tries again, as the listing
/// still shows them untaken. A server without the route (404) is left alone.
/// Returns whether the server was told (or has no such route).
pub(super) async fn tell(api: &Api, ids: &[Id]) -> bool {
    for chunk in ids.chunks(MAX_IDS) {
        match post(api, chunk).await {
            Ok(true) => {}
            Ok(false) => return true,
            Err(e) => {
                eprintln!(
                    "sanduq: could not tell the server which items this bundle holds ({e}); the next fetch tells it"
                );
                return false;
            }
        }
    }
    true
}

/// Posts one chunk; `false` if the server has no such route.
async fn post(api: &Api, ids: &[Id]) -> Result<bool> {
    let body = serde_json::json!({ "ids": ids }).to_string();
    let res = api
        .client
        .post(api.url("/api/v1/fetched"))
        .header(AUTHORIZATION, api.auth.as_str())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| super::CliError::new(root_cause(&e)))?;
    if res.status() == StatusCode::NOT_FOUND {
        return Ok(false);
    }
    api.check(res.status(), "marking items fetched")?;
    Ok(true)
}

/// The summary line about the `fresh` new items, `elsewhere` of which another editor of the
/// desk had already fetched.
pub(super) fn summary(fresh: usize, elsewhere: usize) -> String {
    format!(
        "{elsewhere} of the {fresh} new item{} had already been fetched by another editor of the desk",
        if fresh == 1 { "" } else { "s" }
    )
}
