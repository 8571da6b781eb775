//! Items seen by the desk: `sanduq fetch` tells the server which items its bundle now holds,
//! and tells the editor how many of the new ones another editor of the desk had already
//! fetched, so that the desk's editors do not all process the same testimony.
//!
//! The server keeps one boolean per item and names no editor (`web::api::fetched`). A set
//! boolean on an item this bundle had not yet taken therefore means another editor of the
//! desk took it, or the same editor into another bundle.

use std::collections::HashSet;

use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;

use super::api::{root_cause, Api};
use super::Result;
use crate::ids::Id;
use crate::store::ItemRow;
use crate::web::MAX_FETCHED_IDS as MAX_IDS;

/// What a listing says about items seen by the desk, against what the bundle held.
pub(super) struct Seen {
    /// Listed items no editor has fetched yet, by the server's word.
    unmarked: HashSet<Id>,
    /// Listed items the bundle did not hold that another editor had already fetched.
    elsewhere: HashSet<Id>,
}

impl Seen {
    /// Reads a listing's `items` and `fetched`; `held_before` is what the bundle held before
    /// this fetch (an item it fetches again because its files were damaged was taken by this
    /// bundle, not another).
    pub(super) fn of(items: &[ItemRow], fetched: &[Id], held_before: &HashSet<Id>) -> Seen {
        let taken: HashSet<Id> = fetched.iter().copied().collect();
        let (mut unmarked, mut elsewhere) = (HashSet::new(), HashSet::new());
        for id in items.iter().map(|i| i.id) {
            if !taken.contains(&id) {
                unmarked.insert(id);
            } else if !held_before.contains(&id) {
                elsewhere.insert(id);
            }
        }
        Seen {
            unmarked,
            elsewhere,
        }
    }

    /// Brings the manifest's `fetched_elsewhere` up to date with the items it now `held`;
    /// `true` if it changed.
    pub(super) fn note(&self, noted: &mut Vec<Id>, held: &HashSet<Id>) -> bool {
        let old = noted.clone();
        noted.retain(|id| held.contains(id));
        let mut new: Vec<Id> = self
            .elsewhere
            .iter()
            .filter(|id| held.contains(id) && !old.contains(id))
            .copied()
            .collect();
        new.sort_by_key(Id::to_string);
        noted.extend(new);
        *noted != old
    }

    /// Tells the server which listed items, not yet marked, the bundle now holds; `false`
    /// if it could not be told.
    pub(super) async fn tell(&self, api: &Api, held: &HashSet<Id>) -> bool {
        let ids: Vec<Id> = held
            .iter()
            .filter(|id| self.unmarked.contains(id))
            .copied()
            .collect();
        tell(api, &ids).await
    }

    /// The summary line about the `fresh` new items of this fetch.
    pub(super) fn summary(&self, fresh: usize) -> String {
        format!(
            "{} of the {fresh} new item{} had already been fetched by another editor of the desk",
            self.elsewhere.len(),
            if fresh == 1 { "" } else { "s" }
        )
    }
}

/// Tells the server that this bundle holds `ids` (items the listing did not show as taken).
/// Best effort: a failure is said on stderr and the next fetch tries again, as the listing
/// still shows them untaken. A server without the route (404) is left alone.
/// Returns whether the server was told (or has no such route).
async fn tell(api: &Api, ids: &[Id]) -> bool {
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
