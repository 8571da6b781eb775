//! `sanduq fetch` and `sanduq delete`: the editor's online half, over the editor API.
//!
//! Fetch is incremental (items already complete in the bundle are skipped) and resumable (a
//! download goes to `<name>.part`, continues with `Range` after an interruption, is checked
//! against the listed size, fsynced, and only then renamed and entered in the manifest).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{AUTHORIZATION, RANGE};
use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;

use super::bundle::Bundle;
use super::{CliError, Result, ServerArgs};
use crate::store::{BlobKey, ItemRow};
use crate::web::Listing;

struct Api {
    client: reqwest::Client,
    base: String,
    auth: String,
}

impl Api {
    fn new(args: &ServerArgs) -> Result<Api> {
        let token = std::fs::read_to_string(&args.token_file).map_err(|e| {
            CliError::new(format!("cannot read {}: {e}", args.token_file.display()))
        })?;
        let token = token.trim();
        if token.is_empty() {
            return Err(CliError::new(format!(
                "{} is empty; it must hold the editor's API token",
                args.token_file.display()
            )));
        }
        let base = args.server.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CliError::new(
                "--server must start with http:// or https://",
            ));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(120))
            .read_timeout(Duration::from_secs(300))
            .no_proxy()
            .user_agent("sanduq");
        if let Some(p) = &args.proxy {
            if !p.starts_with("socks5h://") && !p.starts_with("socks5://") {
                return Err(CliError::new(
                    "--proxy must be socks5h://HOST:PORT (socks5h resolves .onion names through Tor)",
                ));
            }
            let proxy =
                reqwest::Proxy::all(p).map_err(|e| CliError::new(format!("--proxy: {e}")))?;
            builder = builder.proxy(proxy);
        }
        let client = builder.build().map_err(CliError::new)?;
        Ok(Api {
            client,
            base,
            auth: format!("Bearer {token}"),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn check(&self, status: StatusCode, what: &str) -> Result<()> {
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => Err(CliError::new(
                "the server refused the token (wrong, rotated, or the editor was removed)",
            )),
            StatusCode::NOT_FOUND => Err(CliError::new(format!("{what}: not found on the server"))),
            s => Err(CliError::new(format!("{what}: the server answered {s}"))),
        }
    }

    async fn listing(&self) -> Result<Listing> {
        let res = self
            .client
            .get(self.url("/api/v1/items"))
            .header(AUTHORIZATION, &self.auth)
            .send()
            .await
            .map_err(|e| {
                CliError::new(format!("cannot reach {}: {}", self.base, root_cause(&e)))
            })?;
        self.check(res.status(), "listing")?;
        res.json().await.map_err(|e| {
            CliError::new(format!("the server sent a listing sanduq cannot read: {e}"))
        })
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

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
    manifest.sources = listing.sources.clone();
    manifest.editors = listing.editors.clone();
    bundle.save(&manifest)?;
    let have: std::collections::HashSet<_> = manifest.items.iter().map(|i| i.id).collect();
    let new: Vec<&ItemRow> = listing
        .items
        .iter()
        .filter(|i| !have.contains(&i.id))
        .collect();
    let total_bytes: u64 = new.iter().map(|i| i.size + i.meta_size).sum();
    let mut progress = Progress::new(new.len(), total_bytes);
    for item in &new {
        for (key, size) in [
            (BlobKey::meta(item.id), item.meta_size),
            (BlobKey::content(item.id), item.size),
        ] {
            download(&api, &bundle.items_dir(), key, size, &mut progress).await?;
        }
        manifest.items.push((*item).clone());
        bundle.save(&manifest)?;
        progress.item_done();
    }
    progress.finish();
    eprintln!(
        "fetched {} new item{} ({}); {} already in the bundle",
        new.len(),
        if new.len() == 1 { "" } else { "s" },
        human(total_bytes),
        listing.items.len() - new.len()
    );
    Ok(())
}

async fn download(
    api: &Api,
    dir: &Path,
    key: BlobKey,
    size: u64,
    progress: &mut Progress,
) -> Result<()> {
    let name = key.file_name();
    let final_path = dir.join(&name);
    let part: PathBuf = dir.join(format!("{name}.part"));
    if let Ok(m) = std::fs::metadata(&final_path) {
        if m.len() == size {
            progress.add(size);
            return Ok(());
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
            .header(AUTHORIZATION, &api.auth);
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
        progress.add(have);
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
            progress.add(chunk.len() as u64);
        }
        f.flush().await.map_err(CliError::new)?;
        f.sync_all().await.map_err(CliError::new)?;
    }
    if have != size {
        let _ = std::fs::remove_file(&part);
        return Err(CliError::new(format!(
            "{what}: received {have} bytes, the server listed {size}; run fetch again"
        )));
    }
    std::fs::rename(&part, &final_path).map_err(CliError::new)?;
    crate::store::fs::sync_dir(dir).map_err(CliError::new)?;
    Ok(())
}

/// `sanduq delete`.
pub(super) async fn delete(args: &ServerArgs, ids: &[String]) -> Result<()> {
    let api = Api::new(args)?;
    let mut failed = 0;
    for id in ids {
        if id.parse::<crate::ids::Id>().is_err() {
            eprintln!("sanduq: {id:?} is not an item id");
            failed += 1;
            continue;
        }
        let res = api
            .client
            .delete(api.url(&format!("/api/v1/items/{id}")))
            .header(AUTHORIZATION, &api.auth)
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
            .header(AUTHORIZATION, &api.auth)
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
        if self.on {
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
