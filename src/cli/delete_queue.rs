//! Deletions decided offline, applied online: `outbox/delete.queue` in the bundle.
//!
//! The format is plain so that an editor can read and edit it: one item id (32 hex digits)
//! per line; blank lines are ignored. The inbox adds only items it has decrypted whole on the
//! offline machine (metadata and content, authenticated by age), so nothing leaves the
//! server before the desk holds a readable copy. `sanduq push` applies the queue after the
//! replies: items deleted, or already gone, leave it; items the server refused stay in it for
//! the next push.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;

use super::api::{root_cause, Api};
use super::decrypt::read_meta;
use super::{CliError, Result};
use crate::crypto::{stream_error, Identities};
use crate::ids::Id;
use crate::store::{BlobKey, ItemRow};

/// The queue's file name in the outbox.
pub(super) const FILE: &str = "delete.queue";

fn path(outbox: &Path) -> PathBuf {
    outbox.join(FILE)
}

/// The queued ids, in order, each once. A line that is not an id is refused: the file was
/// altered, and guessing what it meant could delete the wrong item.
pub(super) fn read(outbox: &Path) -> Result<Vec<Id>> {
    let p = path(outbox);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CliError::new(format!("cannot read {}: {e}", p.display()))),
    };
    let mut ids: Vec<Id> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let id: Id = line.parse().map_err(|_| {
            CliError::new(format!(
                "{} line {}: not an item id (32 hex digits); correct or remove that line",
                p.display(),
                n + 1
            ))
        })?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Replaces the queue with `ids` (durably, atomically); removes the file when empty.
pub(super) fn write(outbox: &Path, ids: &[Id]) -> Result<()> {
    let p = path(outbox);
    let fail = |e: io::Error| CliError::new(format!("cannot write {}: {e}", p.display()));
    if ids.is_empty() {
        return match std::fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(fail(e)),
            _ => Ok(()),
        };
    }
    std::fs::create_dir_all(outbox).map_err(fail)?;
    let tmp = outbox.join(format!("{FILE}.tmp"));
    let text: String = ids.iter().map(|id| format!("{id}\n")).collect();
    let mut f = File::create(&tmp).map_err(fail)?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, &p))
        .map_err(fail)
}

/// Adds `new` to the queue; returns how many it holds now.
pub(super) fn add(outbox: &Path, new: &[Id]) -> Result<usize> {
    let mut ids = read(outbox)?;
    for id in new {
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    write(outbox, &ids)?;
    Ok(ids.len())
}

/// Decrypts the whole item, metadata and content, to nowhere: age authenticates every chunk,
/// so success means the desk holds a readable copy and the server's may go.
pub(super) fn check_readable(
    ids: &Identities,
    items_dir: &Path,
    item: &ItemRow,
) -> std::result::Result<(), String> {
    let meta = read_meta(ids, items_dir, item).map_err(|e| e.to_string())?;
    let path = items_dir.join(BlobKey::content(item.id).file_name());
    let f = File::open(&path).map_err(|e| format!("cannot open its content: {e}"))?;
    let mut reader = ids
        .decrypt(BufReader::with_capacity(1 << 20, f))
        .map_err(|e| e.to_string())?;
    let n = io::copy(&mut reader, &mut io::sink()).map_err(|e| stream_error(&e))?;
    if n != meta.size {
        return Err(format!(
            "decrypted {n} bytes where its metadata says {}",
            meta.size
        ));
    }
    Ok(())
}

/// What applying the queue did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Deletions {
    /// Items deleted on the server now.
    pub deleted: usize,
    /// Items the server no longer had (deleted before, by anyone, or expired).
    pub already_gone: usize,
    /// Items the server refused to delete; they stay queued.
    pub failed: usize,
}

/// Deletes every queued item on the server; keeps in the queue only those it refused.
pub(super) async fn apply(api: &Api, outbox: &Path) -> Result<Deletions> {
    let queued = read(outbox)?;
    let mut done = Deletions::default();
    let mut kept = Vec::new();
    for (n, id) in queued.iter().enumerate() {
        let res = api
            .client
            .delete(api.url(&format!("/api/v1/items/{id}")))
            .header(AUTHORIZATION, api.auth.as_str())
            .send()
            .await;
        let status = match res {
            Ok(r) => r.status(),
            Err(e) => {
                // Unreached items stay queued for the next push.
                kept.extend_from_slice(&queued[n..]);
                write(outbox, &kept)?;
                return Err(CliError::new(format!(
                    "cannot reach {}: {}",
                    api.base,
                    root_cause(&e)
                )));
            }
        };
        match status {
            s if s.is_success() => done.deleted += 1,
            StatusCode::NOT_FOUND => done.already_gone += 1,
            StatusCode::UNAUTHORIZED => {
                kept.extend_from_slice(&queued[n..]);
                write(outbox, &kept)?;
                return api.check(status, "delete").map(|()| done);
            }
            s => {
                eprintln!("sanduq: item {id}: the server answered {s}; it stays queued");
                done.failed += 1;
                kept.push(*id);
            }
        }
    }
    write(outbox, &kept)?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_keeps_order_once_each_and_refuses_junk() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (Id::random(), Id::random());
        assert!(read(dir.path()).unwrap().is_empty());
        assert_eq!(add(dir.path(), &[a, b, a]).unwrap(), 2);
        assert_eq!(add(dir.path(), &[b]).unwrap(), 2);
        assert_eq!(read(dir.path()).unwrap(), vec![a, b]);
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert_eq!(text, format!("{a}\n{b}\n"), "one id per line");
        write(dir.path(), &[]).unwrap();
        assert!(!dir.path().join(FILE).exists(), "an empty queue is no file");
        std::fs::write(dir.path().join(FILE), format!("{a}\n\n../etc\n")).unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
    }
}
