//! `sanduq fetch` and `sanduq delete`: the editor's online half, over the editor API.
//!
//! Fetch is incremental (items already complete in the bundle are skipped) and resumable (a
//! download goes to `<name>.part`, continues with `Range` after an interruption, is checked
//! against the listed size, made durable, and only then renamed and entered in the
//! manifest). Eight objects are downloaded at once; finished items are made durable, renamed
//! and entered in the manifest in batches (every 2 s or 1,000 items).

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::header::{AUTHORIZATION, RANGE};
use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;

use super::api::{root_cause, Api};
use super::bundle::Bundle;
use super::{trust, CliError, Result, ServerArgs};
use crate::ids::Id;
use crate::store::{BlobKey, ItemRow};

/// Objects downloaded at once: enough to hide each request's round trip (long over Tor).
const CONCURRENT_DOWNLOADS: usize = 8;
/// Finished items are entered in the manifest at least this often...
const MANIFEST_INTERVAL: Duration = Duration::from_secs(2);
/// ...or after this many, whichever comes first.
const MANIFEST_BATCH: usize = 1000;

/// `sanduq fetch`.
pub(super) async fn fetch(args: &ServerArgs, bundle_dir: &Path) -> Result<()> {
    let api = Api::new(args)?;
    let bundle = Bundle::open(bundle_dir, true)?;
    let mut manifest = bundle.manifest()?;
    let listing = api.listing().await?;
    // An item whose files went missing or were damaged in the bundle is fetched again.
    let items_dir = bundle.items_dir();
    let intact = |i: &ItemRow| {
        [
            (BlobKey::meta(i.id), i.meta_size),
            (BlobKey::content(i.id), i.size),
        ]
        .iter()
        .all(|(k, n)| {
            std::fs::metadata(items_dir.join(k.file_name()))
                .map(|m| m.len())
                .ok()
                == Some(*n)
        })
    };
    manifest.items.retain(|i| intact(i));
    // What the server says about recipients is held to what this bundle trusts.
    let mut notes = trust::merge_editors(&mut manifest, &listing.editors, bundle_dir);
    let desk_pq = trust::desk_is_post_quantum(&manifest.editors);
    notes.extend(trust::merge_sources(
        &mut manifest.sources,
        listing.sources,
        desk_pq,
    ));
    bundle.save(&manifest)?;
    // Said before the downloads, so that a fetch that fails later still says it.
    for note in &notes {
        eprintln!("sanduq: {note}");
    }
    let listed = listing.items.len();
    let have: HashSet<Id> = manifest.items.iter().map(|i| i.id).collect();
    let new: Vec<ItemRow> = listing
        .items
        .into_iter()
        .filter(|i| !have.contains(&i.id))
        .collect();
    drop(have);
    // Saturating: the sizes are the server's word, and checked only by the downloads.
    let total_bytes = new.iter().fold(0u64, |n, i| {
        n.saturating_add(i.size).saturating_add(i.meta_size)
    });
    // Shared by the downloads in flight; they run on this task, one at a time between awaits.
    let fresh = new.len();
    let progress = RefCell::new(Progress::new(fresh, total_bytes));
    let api = &api;
    let items_dir = &items_dir;
    let progress_ref = &progress;
    // Each row moves from the queue into the manifest: a large listing is held once.
    let mut downloads = futures_util::stream::iter(new.into_iter().map(|item| async move {
        let mut staged = Vec::with_capacity(2);
        for (key, size) in [
            (BlobKey::meta(item.id), item.meta_size),
            (BlobKey::content(item.id), item.size),
        ] {
            staged.extend(download(api, items_dir, key, size, progress_ref).await?);
        }
        Ok::<_, CliError>((item, staged))
    }))
    .buffer_unordered(CONCURRENT_DOWNLOADS);
    // Finished items enter the manifest in batches. A batch's `.part` files are made durable
    // together (one `syncfs` on Linux, a fsync per file elsewhere), then renamed, the folder
    // fsynced, and the manifest replaced. An interruption loses at most one batch's work; its
    // complete `.part` files are not downloaded again.
    let mut batch: Vec<ItemRow> = Vec::new();
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut saved = Instant::now();
    let commit = |batch: &mut Vec<ItemRow>,
                  staged: &mut Vec<(PathBuf, PathBuf)>,
                  manifest: &mut super::bundle::Manifest| {
        if batch.is_empty() {
            return Ok(());
        }
        make_durable(items_dir, staged).map_err(CliError::new)?;
        for (part, done) in staged.drain(..) {
            std::fs::rename(&part, &done).map_err(CliError::new)?;
        }
        crate::store::fs::sync_dir(items_dir).map_err(CliError::new)?;
        manifest.items.append(batch);
        bundle.save(manifest)
    };
    while let Some(done) = downloads.next().await {
        match done {
            Ok((item, files)) => {
                batch.push(item);
                staged.extend(files);
                progress.borrow_mut().item_done();
                if batch.len() >= MANIFEST_BATCH || saved.elapsed() >= MANIFEST_INTERVAL {
                    commit(&mut batch, &mut staged, &mut manifest)?;
                    saved = Instant::now();
                }
            }
            Err(e) => {
                // Keep what is complete, then report.
                drop(downloads);
                commit(&mut batch, &mut staged, &mut manifest)?;
                progress.borrow().finish();
                return Err(e);
            }
        }
    }
    commit(&mut batch, &mut staged, &mut manifest)?;
    drop(downloads);
    let progress = progress.into_inner();
    progress.finish();
    eprintln!(
        "fetched {} new item{} ({}); {} already in the bundle",
        fresh,
        if fresh == 1 { "" } else { "s" },
        human(total_bytes),
        listed - fresh
    );
    Ok(())
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
    progress: &RefCell<Progress>,
) -> Result<Option<(PathBuf, PathBuf)>> {
    let name = key.file_name();
    let final_path = dir.join(&name);
    let part: PathBuf = dir.join(format!("{name}.part"));
    if let Ok(m) = std::fs::metadata(&final_path) {
        if m.len() == size {
            progress.borrow_mut().add(size);
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
        progress.borrow_mut().add(have);
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&part)
            .await
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", part.display())))?;
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
                .map_err(|e| CliError::new(format!("cannot write {}: {e}", part.display())))?;
            progress.borrow_mut().add(chunk.len() as u64);
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
    let mut failed = 0;
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
            Ok(()) => println!("deleted {id}"),
            Err(e) if res.status() == StatusCode::UNAUTHORIZED => return Err(e),
            Err(e) => {
                eprintln!("sanduq: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(CliError::new(format!(
            "{failed} of {} items not deleted",
            ids.len()
        )));
    }
    Ok(())
}

/// `sanduq push`: uploads `outbox/<source>.<reply>.age` files; each one accepted moves to
/// `outbox/sent/`.
pub(super) async fn push(args: &ServerArgs, bundle_dir: &Path) -> Result<()> {
    let api = Api::new(args)?;
    let bundle = Bundle::open(bundle_dir, false)?;
    let outbox = bundle.outbox();
    let sent = outbox.join("sent");
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(&outbox)
        .map_err(|e| CliError::new(format!("cannot read {}: {e}", outbox.display())))?
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            let source = name.strip_suffix(".age")?.split('.').next()?.to_owned();
            source.parse::<crate::ids::Id>().ok()?;
            Some((e.path(), source))
        })
        .collect();
    files.sort();
    let (mut ok, mut failed) = (0usize, 0usize);
    for (path, source) in &files {
        let body = std::fs::read(path).map_err(CliError::new)?;
        let res = api
            .client
            .post(api.url(&format!("/api/v1/sources/{source}/replies")))
            .header(AUTHORIZATION, api.auth.as_str())
            .body(body)
            .send()
            .await
            .map_err(|e| CliError::new(format!("cannot reach {}: {}", api.base, root_cause(&e))))?;
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
            Err(e) if res.status() == StatusCode::UNAUTHORIZED => return Err(e),
            Err(e) => {
                eprintln!("sanduq: {e}");
                failed += 1;
            }
        }
    }
    eprintln!("pushed {ok} repl{}", if ok == 1 { "y" } else { "ies" });
    if failed > 0 {
        return Err(CliError::new(format!(
            "{failed} replies not pushed; they stay in the outbox"
        )));
    }
    Ok(())
}

/// A one-line progress display, shown only when stderr is a terminal.
struct Progress {
    on: bool,
    items: usize,
    done_items: usize,
    total: u64,
    done: u64,
    last: std::time::Instant,
}

impl Progress {
    fn new(items: usize, total: u64) -> Self {
        Progress {
            on: std::io::stderr().is_terminal(),
            items,
            done_items: 0,
            total,
            done: 0,
            last: std::time::Instant::now(),
        }
    }
    fn add(&mut self, n: u64) {
        self.done += n;
        if self.on && self.last.elapsed() > Duration::from_millis(200) {
            self.draw();
        }
    }
    fn item_done(&mut self) {
        self.done_items += 1;
        if self.on
            && (self.done_items == self.items || self.last.elapsed() > Duration::from_millis(200))
        {
            self.draw();
        }
    }
    fn draw(&mut self) {
        self.last = std::time::Instant::now();
        let mut e = std::io::stderr();
        let _ = write!(
            e,
            "\r\x1b[Kitem {}/{}  {} of {}",
            self.done_items.min(self.items),
            self.items,
            human(self.done),
            human(self.total)
        );
        let _ = e.flush();
    }
    fn finish(&self) {
        if self.on && self.items > 0 {
            eprintln!();
        }
    }
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}
