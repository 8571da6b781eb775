//! `sanduq fetch` and `sanduq delete`: the editor's online half, over the editor API.
//!
//! Fetch is incremental (items already complete in the bundle are skipped) and resumable.
//! The listing is asked for with the tag of the last complete fetch, so that a fetch with
//! nothing new costs one round trip. Small items come in batches, many per response
//! ([`fetch_batch`]); large ones, and every item from a server without the batch route, one
//! object per request, to `<name>.part`, continued with `Range` after an interruption and
//! checked against the listed size (eight objects at once). Either way an item's files are
//! made durable, renamed and entered in the manifest in groups (every 2 s or 1,000 items),
//! and only once both are complete.

use std::cell::Cell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::header::{AUTHORIZATION, RANGE};
use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;

use super::api::{root_cause, Api};
use super::bundle::{Bundle, Manifest};
use super::delete_queue::{self, Deletions};
use super::fetch_batch::{self, Done};
use super::progress::{duration, human, Progress};
use super::{conversations, trust, CliError, Result, ServerArgs};
use crate::ids::Id;
use crate::store::{BlobKey, ItemRow};

/// Objects downloaded at once: enough to hide each request's round trip (long over Tor).
const CONCURRENT_DOWNLOADS: usize = 8;
/// Batches asked for at once: one receiving while the next is asked for.
const CONCURRENT_BATCHES: usize = 3;
/// Finished items are entered in the manifest at least this often...
const MANIFEST_INTERVAL: Duration = Duration::from_secs(2);
/// ...or after this many, whichever comes first.
const MANIFEST_BATCH: usize = 1000;
/// The bundle file holding the tag of the listing the last complete fetch brought.
const LISTING_TAG_FILE: &str = "listing.tag";
/// Set (to anything), fetch works as before batches: one request per object, and the whole
/// listing every time. For scripts/bench-editor.sh, which compares the two.
const PER_OBJECT_ENV: &str = "SANDUQ_FETCH_PER_OBJECT";

/// What one fetch brought, for `sync`'s news: sources and replies, not bytes.
#[derive(Debug, Default)]
pub(super) struct Fetched {
    /// Sources the bundle did not know before this fetch that sent the new items.
    pub(super) new_sources: Vec<Id>,
    /// Sources the bundle knew before that sent new items.
    pub(super) follow_ups: Vec<Id>,
    /// What the desk's replies brought.
    pub(super) replies: conversations::RepliesNews,
}

/// `sanduq fetch`.
pub(super) async fn fetch(args: &ServerArgs, bundle_dir: &Path) -> Result<Fetched> {
    let api = Api::new(args)?;
    let per_object = std::env::var_os(PER_OBJECT_ENV).is_some();
    let bundle = Bundle::open(bundle_dir, true)?;
    let mut manifest = bundle.manifest()?;
    // An item whose files went missing or were damaged in the bundle is fetched again.
    let items_dir = bundle.items_dir();
    let before = manifest.items.len();
    let held_before: HashSet<Id> = manifest.items.iter().map(|i| i.id).collect();
    manifest.items.retain(|i| intact(&items_dir, i));
    let tag_path = bundle_dir.join(LISTING_TAG_FILE);
    let tag =
        saved_tag(&tag_path, bundle_dir).filter(|_| !per_object && manifest.items.len() == before);
    let Some((listing, new_tag)) = api.listing(tag.as_deref()).await? else {
        eprintln!(
            "fetched 0 new items; {} already in the bundle (the server's listing has not changed)",
            manifest.items.len()
        );
        return Ok(Fetched::default());
    };
    // Until this fetch is complete, the next one needs the whole listing.
    let _ = std::fs::remove_file(&tag_path);
    let known: HashSet<Id> = manifest
        .items
        .iter()
        .map(|i| i.source)
        .chain(manifest.sources.iter().map(|s| s.id))
        .collect();
    // What the server says about recipients is held to what this bundle trusts.
    let mut notes = trust::merge_editors(&mut manifest, &listing.editors, bundle_dir);
    let desk_pq = trust::desk_is_post_quantum(&manifest.editors);
    notes.extend(trust::merge_sources(
        &mut manifest.sources,
        listing.sources,
        desk_pq,
    ));
    // The address book and the desk's replies are best effort: a damaged reply or page must
    // not keep the items (which retention may delete) from coming down. Said, and the exit
    // code is 1, after the items.
    let mut later_error = None;
    conversations::address_book(&api, &mut manifest, &listing.desk, desk_pq)
        .await
        .map_or_else(|e| later_error = Some(e), |n| notes.extend(n));
    bundle.save(&manifest)?;
    // Said before the downloads, so that a fetch that fails later still says it.
    for note in &notes {
        eprintln!("sanduq: {note}");
    }
    let replies = conversations::replies(&api, &bundle, &mut manifest, listing.replies)
        .await
        .unwrap_or_else(|e| {
            later_error.get_or_insert(e);
            conversations::RepliesNews::default()
        });
    let listed = listing.items.len();
    let seen = super::seen::Seen::of(&listing.items, &listing.fetched, &held_before);
    drop(held_before);
    let listing_retention = listing.retention_days;
    let have: HashSet<Id> = manifest.items.iter().map(|i| i.id).collect();
    let new: Vec<ItemRow> = listing
        .items
        .into_iter()
        .filter(|i| !have.contains(&i.id))
        .collect();
    drop(have);
    // Before the downloads, like the notes: a fetch that fails later has still said it.
    if let Some(w) = listing_retention
        .and_then(|days| super::expiry::warning(&new, days, crate::ids::utc_date()))
    {
        eprintln!("sanduq: {w}");
    }
    let got = fetch_items(&api, &bundle, manifest, new, per_object, &seen).await?;
    if got.fresh > 0 {
        eprintln!("{}", seen.summary(got.fresh));
    }
    eprintln!(
        "fetched {}; {} already in the bundle{}{}",
        got.summary,
        listed - got.fresh,
        if got.gone > 0 {
            format!(
                "; {} listed item(s) were deleted from the server meanwhile",
                got.gone
            )
        } else {
            String::new()
        },
        replies_summary(&replies),
    );
    // The next fetch may skip the listing only if this one left nothing to say or to fetch.
    if let Some(tag) =
        new_tag.filter(|_| notes.is_empty() && got.gone == 0 && got.told && !per_object)
    {
        if let Some(m) = manifest_hash(bundle_dir) {
            let _ = std::fs::write(&tag_path, format!("{tag} {m}\n"));
        }
    }
    if let Some(e) = later_error {
        return Err(e);
    }
    let (new_sources, follow_ups) = got.sources.into_iter().partition(|s| !known.contains(s));
    Ok(Fetched {
        new_sources,
        follow_ups,
        replies,
    })
}

/// The end of fetch's summary line about replies, if there is news.
fn replies_summary(r: &conversations::RepliesNews) -> String {
    let mut out = String::new();
    if r.fetched > 0 {
        out.push_str(&format!(
            "; {} repl{} of the desk fetched",
            r.fetched,
            if r.fetched == 1 { "y" } else { "ies" }
        ));
    }
    if !r.deleted.is_empty() {
        out.push_str(&format!(
            "; {} repl{} deleted by {} source{} ({})",
            r.deleted.len(),
            if r.deleted.len() == 1 { "y" } else { "ies" },
            if r.deleted.len() == 1 { "its" } else { "their" },
            if r.deleted.len() == 1 { "" } else { "s" },
            super::sync::names(&r.deleted)
        ));
    }
    out
}

/// What the item downloads brought.
struct GotItems {
    /// "N new items from M sources (size) in T".
    summary: String,
    /// Items listed that the bundle lacked.
    fresh: usize,
    /// Of those, items the server deleted meanwhile.
    gone: usize,
    /// The sources of the items fetched, in the order first seen.
    sources: Vec<Id>,
    /// Whether the server was told which items the bundle holds (`seen`).
    told: bool,
}

/// Downloads `new` into the bundle, entering them in `manifest` as they complete.
async fn fetch_items(
    api: &Api,
    bundle: &Bundle,
    manifest: Manifest,
    new: Vec<ItemRow>,
    per_object: bool,
    seen: &super::seen::Seen,
) -> Result<GotItems> {
    let items_dir = bundle.items_dir();
    // Saturating: the sizes are the server's word, and checked only by the downloads.
    let total_bytes = new.iter().fold(0u64, |n, i| {
        n.saturating_add(i.size).saturating_add(i.meta_size)
    });
    let fresh = new.len();
    let sources = new.iter().map(|i| i.source).collect::<HashSet<_>>().len();
    let progress = Progress::new("fetch", fresh as u64, total_bytes);
    let mut done = Committer {
        bundle,
        dir: &items_dir,
        manifest,
        batch: Vec::new(),
        staged: Vec::new(),
        saved: Instant::now(),
        sources: Vec::new(),
        seen: HashSet::new(),
    };
    let got = download_all(api, &items_dir, new, &progress, &mut done, per_object).await;
    // Keep what is complete, then report.
    done.commit()?;
    let told = record_seen(api, &mut done, seen).await?;
    let gone = match got {
        Ok(gone) => gone,
        Err(e) => {
            progress.abandon();
            return Err(e);
        }
    };
    progress.finish();
    let summary = format!(
        "{} new item{} from {sources} source{} ({}) in {}",
        fresh - gone,
        if fresh - gone == 1 { "" } else { "s" },
        if sources == 1 { "" } else { "s" },
        human(total_bytes),
        duration(progress.elapsed().as_secs_f64()),
    );
    Ok(GotItems {
        summary,
        fresh,
        gone,
        sources: done.sources,
        told,
    })
}

/// Items seen by the desk: notes in the manifest which of the items now held another editor
/// had taken first, and tells the server which items the bundle holds; `false` if the
/// server could not be told.
async fn record_seen(
    api: &Api,
    done: &mut Committer<'_>,
    seen: &super::seen::Seen,
) -> Result<bool> {
    let held: HashSet<Id> = done.manifest.items.iter().map(|i| i.id).collect();
    if seen.note(&mut done.manifest.fetched_elsewhere, &held) {
        done.bundle.save(&done.manifest)?;
    }
    Ok(seen.tell(api, &held).await)
}

/// The listing tag the last complete fetch saved, if the manifest is still as that fetch
/// left it (an older sanduq, `accept` or a hand edit may have changed what the listing is
/// merged into: then the whole listing is needed again).
fn saved_tag(tag_path: &Path, bundle_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(tag_path).ok()?;
    let (tag, manifest) = text.trim().split_once(' ')?;
    (Some(manifest) == manifest_hash(bundle_dir).as_deref()).then(|| tag.to_owned())
}

/// SHA-256 of `manifest.json`, in hex.
fn manifest_hash(bundle_dir: &Path) -> Option<String> {
    use sha2::Digest;
    let bytes = std::fs::read(bundle_dir.join("manifest.json")).ok()?;
    Some(hex::encode(sha2::Sha256::digest(bytes)))
}

/// Whether both files of `item` are in `dir` with their listed sizes.
fn intact(dir: &Path, i: &ItemRow) -> bool {
    [
        (BlobKey::meta(i.id), i.meta_size),
        (BlobKey::content(i.id), i.size),
    ]
    .iter()
    .all(|(k, n)| {
        std::fs::metadata(dir.join(k.file_name()))
            .map(|m| m.len())
            .ok()
            == Some(*n)
    })
}

/// Downloads `new` into `dir`, handing each complete item to `done`; returns how many of
/// them the server no longer had.
async fn download_all(
    api: &Api,
    dir: &Path,
    new: Vec<ItemRow>,
    progress: &Progress,
    done: &mut Committer<'_>,
    per_object: bool,
) -> Result<usize> {
    let (small, mut single): (Vec<ItemRow>, Vec<ItemRow>) = if per_object {
        (Vec::new(), new)
    } else {
        new.into_iter().partition(fetch_batch::fits)
    };
    let mut gone = 0;
    let no_route = Cell::new(false);
    let no_route = &no_route;
    let mut batches = futures_util::stream::iter(
        fetch_batch::plan(small)
            .into_iter()
            .map(|b| fetch_batch::fetch(api, dir, b, progress, no_route)),
    )
    .buffer_unordered(CONCURRENT_BATCHES);
    while let Some(got) = batches.next().await {
        gone += got.gone;
        single.extend(got.fallback);
        for item in got.done {
            done.add(item)?;
        }
        if let Some(e) = got.error {
            return Err(e);
        }
    }
    drop(batches);
    // Each row moves from the queue into the manifest: a large listing is held once.
    let mut downloads = futures_util::stream::iter(single.into_iter().map(|item| async move {
        let mut staged = Vec::with_capacity(2);
        for (key, size) in [
            (BlobKey::meta(item.id), item.meta_size),
            (BlobKey::content(item.id), item.size),
        ] {
            staged.extend(download(api, dir, key, size, progress).await?);
        }
        Ok::<_, CliError>((item, staged))
    }))
    .buffer_unordered(CONCURRENT_DOWNLOADS);
    while let Some(item) = downloads.next().await {
        let item = item?;
        progress.item_done();
        done.add(item)?;
    }
    Ok(gone)
}

/// Enters finished items in the manifest in groups. A group's `.part` files are made durable
/// together (one `syncfs` on Linux, a fsync per file elsewhere), then renamed, the folder
/// fsynced, and the manifest replaced. An interruption loses at most one group's work.
struct Committer<'a> {
    bundle: &'a Bundle,
    dir: &'a Path,
    manifest: Manifest,
    batch: Vec<ItemRow>,
    staged: Vec<(PathBuf, PathBuf)>,
    saved: Instant,
    /// The sources of the items added, each once, in the order first seen.
    sources: Vec<Id>,
    seen: HashSet<Id>,
}

impl Committer<'_> {
    fn add(&mut self, (item, files): Done) -> Result<()> {
        if self.seen.insert(item.source) {
            self.sources.push(item.source);
        }
        self.batch.push(item);
        self.staged.extend(files);
        if self.batch.len() >= MANIFEST_BATCH || self.saved.elapsed() >= MANIFEST_INTERVAL {
            self.commit()?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.saved = Instant::now();
        if self.batch.is_empty() {
            return Ok(());
        }
        make_durable(self.dir, &self.staged).map_err(CliError::new)?;
        for (part, done) in self.staged.drain(..) {
            std::fs::rename(&part, &done).map_err(CliError::new)?;
        }
        crate::store::fs::sync_dir(self.dir).map_err(CliError::new)?;
        self.manifest.items.append(&mut self.batch);
        self.bundle.save(&self.manifest)
    }
}

/// Makes the files of a batch durable before they are renamed into place.
fn make_durable(dir: &Path, staged: &[(PathBuf, PathBuf)]) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = staged;
        rustix::fs::syncfs(std::fs::File::open(dir)?)?;
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        staged
            .iter()
            .try_for_each(|(part, _)| std::fs::File::open(part)?.sync_all())
    }
}

/// Downloads one object to `<name>.part` in `dir` (resumed with `Range`) and checks it
/// against the listed size. Returns the `.part` file and its final name, or `None` if the
/// object is already in place; the caller makes it durable and renames it.
async fn download(
    api: &Api,
    dir: &Path,
    key: BlobKey,
    size: u64,
    progress: &Progress,
) -> Result<Option<(PathBuf, PathBuf)>> {
    let name = key.file_name();
    let final_path = dir.join(&name);
    let part: PathBuf = dir.join(format!("{name}.part"));
    if let Ok(m) = std::fs::metadata(&final_path) {
        if m.len() == size {
            progress.add_bytes(size);
            return Ok(None);
        }
    }
    let mut have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    if have > size {
        std::fs::remove_file(&part).map_err(CliError::new)?;
        have = 0;
    }
    let what = format!("item {}", key.id);
    if have < size {
        let path = match key.kind {
            crate::store::BlobKind::Content => "content",
            crate::store::BlobKind::Meta => "meta",
            crate::store::BlobKind::Reply => {
                return Err(CliError::new("replies are written offline, not fetched"))
            }
        };
        let mut req = api
            .client
            .get(api.url(&format!("/api/v1/items/{}/{path}", key.id)))
            .header(AUTHORIZATION, api.auth.as_str());
        if have > 0 {
            req = req.header(RANGE, format!("bytes={have}-"));
        }
        let res = req
            .send()
            .await
            .map_err(|e| CliError::new(format!("{what}: {}", root_cause(&e))))?;
        api.check(res.status(), &what)?;
        let append = res.status() == StatusCode::PARTIAL_CONTENT;
        if !append {
            have = 0;
        }
        progress.add_bytes(have);
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&part)
            .await
            .map_err(|e| CliError::context(format!("cannot write {}", part.display()), e))?;
        let mut stream = res.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                CliError::new(format!(
                    "{what}: download interrupted ({}); run fetch again to resume",
                    root_cause(&e)
                ))
            })?;
            have += chunk.len() as u64;
            if have > size {
                break;
            }
            f.write_all(&chunk)
                .await
                .map_err(|e| CliError::context(format!("cannot write {}", part.display()), e))?;
            progress.add_bytes(chunk.len() as u64);
        }
        f.flush().await.map_err(CliError::new)?;
    }
    if have != size {
        let _ = std::fs::remove_file(&part);
        return Err(CliError::new(format!(
            "{what}: received {have} bytes, the server listed {size}; run fetch again"
        )));
    }
    Ok(Some((part, final_path)))
}

/// `sanduq delete`.
pub(super) async fn delete(args: &ServerArgs, ids: &[String]) -> Result<()> {
    let api = Api::new(args)?;
    let (mut failed, mut deleted, mut gone) = (0usize, 0usize, 0usize);
    for (n, id) in ids.iter().enumerate() {
        // Not echoed: a token or a codename pasted here by mistake must not be shown.
        if id.parse::<crate::ids::Id>().is_err() {
            eprintln!(
                "sanduq: argument {} is not an item id (32 hex digits)",
                n + 1
            );
            failed += 1;
            continue;
        }
        let res = api
            .client
            .delete(api.url(&format!("/api/v1/items/{id}")))
            .header(AUTHORIZATION, api.auth.as_str())
            .send()
            .await
            .map_err(|e| CliError::new(format!("cannot reach {}: {}", api.base, root_cause(&e))))?;
        match api.check(res.status(), &format!("item {id}")) {
            Ok(()) => {
                println!("deleted {id}");
                deleted += 1;
            }
            // Deleted before (by this editor, another, or the retention janitor): the wish
            // is fulfilled, and one line below says how many.
            Err(_) if res.status() == StatusCode::NOT_FOUND => gone += 1,
            Err(e) if res.status() == StatusCode::UNAUTHORIZED => return Err(e),
            Err(e) => {
                eprintln!("sanduq: {e}");
                failed += 1;
            }
        }
    }
    eprintln!("{}", delete_summary(deleted, gone, failed));
    if failed > 0 {
        return Err(CliError::new(format!(
            "{failed} of {} items not deleted",
            ids.len()
        )));
    }
    Ok(())
}

/// "deleted 3 items; 40 already gone (deleted before, or past retention)".
fn delete_summary(deleted: usize, gone: usize, failed: usize) -> String {
    let items = |n: usize| format!("{n} item{}", if n == 1 { "" } else { "s" });
    let mut line = format!("deleted {}", items(deleted));
    if gone > 0 {
        line += &format!("; {gone} already gone (deleted before, or past retention)");
    }
    if failed > 0 {
        line += &format!("; {} not deleted (reasons above)", items(failed));
    }
    line
}

/// What `push` did, for its summary line (and for a command that pushes among other things).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PushOutcome {
    /// Replies the server accepted (moved to `outbox/sent/`).
    pub replies_sent: usize,
    /// Replies the server refused; they stay in the outbox.
    pub replies_failed: usize,
    /// What became of the deletions queued in `outbox/delete.queue`.
    pub deletions: Deletions,
}

impl PushOutcome {
    /// One line: `pushed 2 replies in 1.5 s; 0 not pushed; 40 items deleted on the server,
    /// 3 already gone`.
    pub fn summary(&self, secs: f64) -> String {
        let d = &self.deletions;
        let mut line = format!(
            "pushed {} repl{} in {}; {} not pushed",
            self.replies_sent,
            if self.replies_sent == 1 { "y" } else { "ies" },
            duration(secs),
            self.replies_failed,
        );
        if d.deleted + d.already_gone + d.failed > 0 {
            line.push_str(&format!(
                "; {} item{} deleted on the server, {} already gone",
                d.deleted,
                if d.deleted == 1 { "" } else { "s" },
                d.already_gone
            ));
        }
        if d.failed > 0 {
            line.push_str(&format!(", {} refused and still queued", d.failed));
        }
        line
    }
}

/// `sanduq push`.
pub(super) async fn push_command(args: &ServerArgs, bundle_dir: &Path) -> Result<()> {
    push_reported(args, bundle_dir).await.map(|_| ())
}

/// [`push`] as `sanduq push` and `sanduq sync` run it: its summary line on stderr, and an
/// error if anything was refused (after the rest was done).
pub(super) async fn push_reported(args: &ServerArgs, bundle_dir: &Path) -> Result<PushOutcome> {
    let started = Instant::now();
    let outcome = push(args, bundle_dir).await?;
    eprintln!("{}", outcome.summary(started.elapsed().as_secs_f64()));
    if outcome.replies_failed > 0 {
        return Err(CliError::new(format!(
            "{} replies not pushed; they stay in the outbox",
            outcome.replies_failed
        )));
    }
    if outcome.deletions.failed > 0 {
        return Err(CliError::new(format!(
            "{} queued deletions refused; they stay in outbox/{}",
            outcome.deletions.failed,
            delete_queue::FILE
        )));
    }
    Ok(outcome)
}

/// `sanduq push`: uploads `outbox/<source>.<reply>.age` files (each one accepted moves to
/// `outbox/sent/`), then applies the deletions queued in `outbox/delete.queue`.
pub(super) async fn push(args: &ServerArgs, bundle_dir: &Path) -> Result<PushOutcome> {
    let api = Api::new(args)?;
    let bundle = Bundle::open(bundle_dir, false)?;
    let outbox = bundle.outbox();
    let sent = outbox.join("sent");
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(&outbox)
        .map_err(|e| CliError::context(format!("cannot read {}", outbox.display()), e))?
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            let source = name.strip_suffix(".age")?.split('.').next()?.to_owned();
            source.parse::<crate::ids::Id>().ok()?;
            Some((e.path(), source))
        })
        .collect();
    files.sort();
    let total = files.iter().fold(0u64, |n, (p, _)| {
        n.saturating_add(std::fs::metadata(p).map_or(0, |m| m.len()))
    });
    let progress = Progress::new("push", files.len() as u64, total);
    let (mut ok, mut failed) = (0usize, 0usize);
    for (path, source) in &files {
        let body = std::fs::read(path).map_err(CliError::new)?;
        let len = body.len() as u64;
        let res = api
            .client
            .post(api.url(&format!("/api/v1/sources/{source}/replies")))
            .header(AUTHORIZATION, api.auth.as_str())
            .body(body)
            .send()
            .await
            .map_err(|e| {
                progress.abandon();
                CliError::new(format!("cannot reach {}: {}", api.base, root_cause(&e)))
            })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match api.check(res.status(), &format!("reply {name}")) {
            Ok(()) => {
                std::fs::create_dir_all(&sent).map_err(CliError::new)?;
                std::fs::rename(path, sent.join(&name)).map_err(CliError::new)?;
                ok += 1;
            }
            Err(e) if res.status() == StatusCode::UNAUTHORIZED => {
                progress.abandon();
                return Err(e);
            }
            Err(e) => {
                progress.note(&format!("sanduq: {e}"));
                failed += 1;
            }
        }
        progress.add_bytes(len);
        progress.item_done();
    }
    progress.finish();
    let deletions = delete_queue::apply(&api, &outbox).await?;
    Ok(PushOutcome {
        replies_sent: ok,
        replies_failed: failed,
        deletions,
    })
}
