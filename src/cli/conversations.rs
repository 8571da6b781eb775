//! Whole conversations and an address book that survives: what `fetch` brings besides items.
//!
//! Replies: the listing names every reply of the desk (by any of its editors, each encrypted
//! to the source and to the desk's editors). Those the bundle lacks come down in batches
//! (`POST /api/v1/replies/batch`) into `replies/<id>.age`; those the bundle holds and the
//! server no longer lists are marked gone (their source deleted them, which means it read them
//! or wanted them gone, or retention did) and kept. Every frame is hostile: it must name the
//! id asked, announce the listed size, and begin with the age header.
//!
//! Address book: `GET /api/v1/sources` pages through every source of the desk, with items or
//! without, so that a fresh bundle (a lost USB stick) can still answer every source the server
//! knows. A bundle that walked the whole book asks next time from the last day it saw. Pages
//! are bounded, must move strictly forward, and their number is capped.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;

use super::api::{read_capped, root_cause, Api, MAX_LISTED_REPLY};
use super::bundle::{Bundle, BundleReply, Manifest};
use super::fetch_batch::{refused, Body, Stop};
use super::{trust, CliError, Result};
use crate::ids::Id;
use crate::store::ReplyRow;
use crate::web::{SourcesPage, REPLIES_MAGIC, SOURCES_PAGE as PAGE};

/// The most ids one replies batch asks for (the server's limit too).
const MAX_BATCH_IDS: usize = 1000;
/// The listed bytes one batch asks for at most.
const BATCH_BYTES: u64 = 2 << 20;
/// How every stored file begins.
const AGE_HEADER: &[u8] = b"age-encryption.org/v1\n";
/// The largest page of the address book read: 1,000 post-quantum reply keys are about 2 MB.
const MAX_PAGE_BYTES: usize = 4 << 20;
/// The most pages one fetch reads: as many sources as a listing may hold (100,000), so that
/// the walk is bounded as the listing is.
const MAX_PAGES: usize = crate::web::Listing::MAX_SOURCES / PAGE;

/// What the replies brought.
#[derive(Debug, Default)]
pub(super) struct RepliesNews {
    /// Replies of the desk downloaded now.
    pub(super) fetched: usize,
    /// The sources of the replies the server no longer has, one entry per reply.
    pub(super) deleted: Vec<Id>,
}

/// Brings the bundle's replies up to date with `listed` (`None`: a server that does not say).
pub(super) async fn replies(
    api: &Api,
    bundle: &Bundle,
    manifest: &mut Manifest,
    listed: Option<Vec<ReplyRow>>,
) -> Result<RepliesNews> {
    let mut news = RepliesNews::default();
    let Some(listed) = listed else {
        return Ok(news);
    };
    let dir = bundle.replies_dir();
    std::fs::create_dir_all(&dir).map_err(CliError::new)?;
    let on_server: HashSet<Id> = listed.iter().map(|r| r.id).collect();
    for r in manifest.replies.iter_mut() {
        if !r.gone && !on_server.contains(&r.id) {
            r.gone = true;
            news.deleted.push(r.source);
        }
    }
    // A reply whose file went missing is fetched again.
    manifest.replies.retain(|r| r.gone || intact(&dir, r));
    if !news.deleted.is_empty() {
        bundle.save(manifest)?;
    }
    let have: HashSet<Id> = manifest.replies.iter().map(|r| r.id).collect();
    let new: Vec<ReplyRow> = listed
        .into_iter()
        .filter(|r| !have.contains(&r.id))
        .collect();
    for batch in plan(new) {
        let got = fetch_batch(api, &dir, &batch).await?;
        news.fetched += got.len();
        manifest.replies.extend(got);
        bundle.save(manifest)?;
    }
    Ok(news)
}

fn file(dir: &Path, id: Id) -> PathBuf {
    dir.join(format!("{id}.age"))
}

fn intact(dir: &Path, r: &BundleReply) -> bool {
    std::fs::metadata(file(dir, r.id)).is_ok_and(|m| m.len() == r.size)
}

/// Batches of at most [`MAX_BATCH_IDS`] replies and about [`BATCH_BYTES`].
fn plan(replies: Vec<ReplyRow>) -> Vec<Vec<ReplyRow>> {
    let mut batches: Vec<Vec<ReplyRow>> = Vec::new();
    let mut bytes = 0u64;
    for r in replies {
        let full = batches
            .last()
            .is_none_or(|b| b.len() == MAX_BATCH_IDS || bytes.saturating_add(r.size) > BATCH_BYTES);
        if full {
            batches.push(Vec::new());
            bytes = 0;
        }
        bytes = bytes.saturating_add(r.size);
        if let Some(b) = batches.last_mut() {
            b.push(r);
        }
    }
    batches
}

/// One batch: every reply received whole is made durable in `dir` and returned.
async fn fetch_batch(api: &Api, dir: &Path, batch: &[ReplyRow]) -> Result<Vec<BundleReply>> {
    let ids: Vec<String> = batch.iter().map(|r| r.id.to_string()).collect();
    let res = api
        .client
        .post(api.url("/api/v1/replies/batch"))
        .header(AUTHORIZATION, api.auth.as_str())
        .json(&serde_json::json!({ "ids": ids }))
        .send()
        .await
        .map_err(|e| CliError::new(format!("cannot reach {}: {}", api.base, root_cause(&e))))?;
    api.check(res.status(), "the desk's replies")?;
    let mut body = Body::new(res);
    let staged = read_frames(&mut body, dir, batch)
        .await
        .map_err(Stop::into_error)?;
    let mut done = Vec::with_capacity(staged.len());
    for (r, part) in staged {
        std::fs::File::open(&part)
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(&part, file(dir, r.id)))
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", part.display())))?;
        done.push(BundleReply {
            id: r.id,
            source: r.source,
            day: r.day.clone(),
            size: r.size,
            gone: false,
        });
    }
    crate::store::fs::sync_dir(dir).map_err(CliError::new)?;
    Ok(done)
}

/// Reads a replies batch into `.part` files; a reply the server lost meanwhile is left out.
async fn read_frames<'a>(
    body: &mut Body,
    dir: &Path,
    batch: &'a [ReplyRow],
) -> std::result::Result<Vec<(&'a ReplyRow, PathBuf)>, Stop> {
    if body.exact(REPLIES_MAGIC.len()).await? != REPLIES_MAGIC {
        return Err(refused("it is not in sanduq's replies format"));
    }
    let mut staged = Vec::with_capacity(batch.len());
    for r in batch {
        let head = body.exact(24).await?;
        if head[..16] != r.id.as_bytes()[..] {
            return Err(refused(format!(
                "it sent a reply it was not asked for where reply {} was due",
                r.id
            )));
        }
        let len = u64::from_be_bytes(head[16..24].try_into().unwrap_or_default());
        if len == 0 {
            continue;
        }
        if len != r.size || len > MAX_LISTED_REPLY {
            return Err(refused(format!(
                "it announced reply {} as {len} bytes, its listing said {}",
                r.id, r.size
            )));
        }
        let bytes = body.exact(len as usize).await?;
        if !bytes.starts_with(AGE_HEADER) {
            return Err(refused(format!("reply {} is not an age file", r.id)));
        }
        let part = dir.join(format!("{}.age.part", r.id));
        std::fs::write(&part, &bytes).map_err(|e| {
            Stop::Refused(CliError::new(format!(
                "cannot write {}: {e}",
                part.display()
            )))
        })?;
        staged.push((r, part));
    }
    if body.more().await? {
        return Err(refused("it sent more than it was asked for"));
    }
    Ok(staged)
}

/// Walks the server's address book from where the last whole walk ended, merging every
/// source into the bundle (reply keys as `trust` rules). Returns the lines to print about
/// keys. A server without the route leaves the book as it is.
pub(super) async fn address_book(
    api: &Api,
    manifest: &mut Manifest,
    desk: &str,
    desk_pq: bool,
) -> Result<Vec<String>> {
    let from = manifest.address_book_from.clone().unwrap_or_default();
    let mut after: (String, Option<Id>) = (from.clone(), None);
    let mut notes = Vec::new();
    for _ in 0..MAX_PAGES {
        let Some(page) = page(api, &after).await? else {
            return Ok(notes);
        };
        let full = page.sources.len() == PAGE;
        after = check_page(after, desk, &page.sources).map_err(book_refused)?;
        notes.extend(trust::merge_sources(
            &mut manifest.sources,
            page.sources,
            desk_pq,
        ));
        if !full {
            if after.0 > from {
                manifest.address_book_from = Some(after.0);
            }
            return Ok(notes);
        }
    }
    Err(book_refused("it has more pages than sanduq reads"))
}

/// Checks one page of the address book against where it should start (`after`) and the
/// desk; returns where the next page starts.
fn check_page(
    mut after: (String, Option<Id>),
    desk: &str,
    sources: &[crate::store::SourceInfo],
) -> std::result::Result<(String, Option<Id>), &'static str> {
    for s in sources {
        let forward = match after.1 {
            None => s.day >= after.0,
            Some(id) => (&s.day, s.id) > (&after.0, id),
        };
        if !forward || s.desk != desk {
            return Err("its pages do not move forward in one desk");
        }
        if crate::ids::parse_day(&s.day).is_none() {
            return Err("it lists a source with a day that is not a date");
        }
        if s.reply_recipient
            .as_deref()
            .is_some_and(|r| !super::api::plausible_recipient(r))
        {
            return Err("it lists a recipient that is not an age recipient");
        }
        after = (s.day.clone(), Some(s.id));
    }
    Ok(after)
}

fn book_refused(why: &str) -> CliError {
    CliError::new(format!(
        "the server's address book is refused: {why} (a damaged or hostile server: tell the desk's operator)"
    ))
}

/// One page of the address book; `None` from a server without the route.
async fn page(api: &Api, after: &(String, Option<Id>)) -> Result<Option<SourcesPage>> {
    let mut query = Vec::new();
    if !after.0.is_empty() {
        query.push(("after_day", after.0.clone()));
    }
    if let Some(id) = after.1 {
        query.push(("after_id", id.to_string()));
    }
    let res = api
        .client
        .get(api.url("/api/v1/sources"))
        .query(&query)
        .header(AUTHORIZATION, api.auth.as_str())
        .send()
        .await
        .map_err(|e| CliError::new(format!("cannot reach {}: {}", api.base, root_cause(&e))))?;
    if res.status() == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    api.check(res.status(), "the desk's address book")?;
    let body = read_capped(res, MAX_PAGE_BYTES).await?;
    let page: SourcesPage = serde_json::from_slice(&body)
        .map_err(|_| book_refused("a page is not one sanduq reads"))?;
    Ok(Some(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(size: u64) -> ReplyRow {
        ReplyRow {
            id: Id::random(),
            source: Id::random(),
            desk: "d".into(),
            day: "2026-12-07".into(),
            size,
        }
    }

    /// A replies batch answer: the magic, then `(id, bytes)` frames, then `extra`.
    fn answer(frames: &[(Id, &[u8])], extra: &[u8]) -> Body {
        let mut b = REPLIES_MAGIC.to_vec();
        for (id, bytes) in frames {
            b.extend_from_slice(id.as_bytes());
            b.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            b.extend_from_slice(bytes);
        }
        b.extend_from_slice(extra);
        Body::new(reqwest::Response::from(axum::http::Response::new(b)))
    }

    async fn read(batch: &[ReplyRow], mut body: Body) -> std::result::Result<usize, String> {
        let dir = tempfile::tempdir().unwrap();
        read_frames(&mut body, dir.path(), batch)
            .await
            .map(|staged| staged.len())
            .map_err(|s| s.into_error().to_string())
    }

    #[tokio::test]
    async fn a_hostile_replies_batch_is_refused() {
        let age = b"age-encryption.org/v1\n-> X25519 x\n";
        let (a, b) = (reply(age.len() as u64), reply(age.len() as u64));
        let both = [a.clone(), b.clone()];
        let ok = answer(&[(a.id, age), (b.id, age)], b"");
        assert_eq!(read(&both, ok).await, Ok(2));
        let one_gone = answer(&[(a.id, age), (b.id, b"")], b"");
        assert_eq!(
            read(&both, one_gone).await,
            Ok(1),
            "a reply deleted meanwhile"
        );
        let cases: [(Body, &str); 5] = [
            (answer(&[(b.id, age), (a.id, age)], b""), "not asked for"),
            (
                answer(&[(a.id, b"age-encryption.org/v1\n-> X25519 xy\n")], b""),
                "bytes",
            ),
            (
                answer(&[(a.id, &[b'x'; 34]), (b.id, age)], b""),
                "not an age file",
            ),
            (answer(&[(a.id, age), (b.id, age)], b"more"), "more than"),
            (answer(&[(a.id, age)], b""), "ended before"),
        ];
        for (body, why) in cases {
            let e = read(&both, body).await.unwrap_err();
            assert!(e.contains(why) && e.contains("refused"), "{e}");
        }
    }

    #[test]
    fn address_book_pages_must_move_forward_in_the_desk() {
        let s = |day: &str, id: &str, desk: &str| crate::store::SourceInfo {
            id: id.parse().unwrap(),
            desk: desk.into(),
            day: day.into(),
            reply_recipient: Some("age1x".into()),
        };
        let (a, b) = ("0".repeat(32), "f".repeat(32));
        let start = ("2026-12-01".to_owned(), None);
        let page = [s("2026-12-01", &a, "d"), s("2026-12-02", &a, "d")];
        let next = check_page(start.clone(), "d", &page).unwrap();
        assert_eq!(next, ("2026-12-02".to_owned(), Some(a.parse().unwrap())));
        // The same page again would loop forever: refused.
        assert!(check_page(next.clone(), "d", &page).is_err());
        assert!(check_page(next, "d", &[s("2026-12-02", &b, "d")]).is_ok());
        assert!(check_page(start.clone(), "d", &[s("2026-11-30", &b, "d")]).is_err());
        assert!(check_page(start.clone(), "d", &[s("2026-12-03", &b, "other")]).is_err());
        let mut hostile = s("2026-12-03", &b, "d");
        hostile.reply_recipient = Some("age1\x1b[2J".into());
        assert!(check_page(start, "d", &[hostile]).is_err());
    }

    #[test]
    fn replies_are_planned_in_bounded_batches() {
        let r = reply;
        let batches = plan((0..2500).map(|_| r(100)).collect());
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![1000, 1000, 500]
        );
        let batches = plan(vec![r(1 << 20), r(1 << 20), r(1 << 20)]);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 1]);
        assert!(plan(Vec::new()).is_empty());
    }
}
