//! `sanduq admin migrate-store --from OLD.toml --to NEW.toml`: moves an install to other
//! stores without decrypting anything.
//!
//! Objects are copied first, each checked against the size its row records, then every row
//! is written in one transaction, so the new stores never list an item whose objects are not
//! all there. An object already in the new store with the right size is not copied again
//! and a row already there is kept: re-running the command after an interruption finishes
//! the job. Objects that no row names (garbage the janitor has not removed yet) are left
//! behind. The old install is not changed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::{CliError, Result};
use crate::config::Config;
use crate::store::{BlobKey, BlobStore, Dump};

/// What one run did.
#[derive(Debug, Default)]
struct Copied {
    objects: u64,
    bytes: u64,
    already: u64,
}

/// `sanduq admin migrate-store`.
pub(super) async fn migrate_store(from: &Path, to: &Path) -> Result<()> {
    let old = Config::load(from).map_err(CliError::new)?;
    let new = Config::load(to).map_err(CliError::new)?;
    check_pair(&old, &new)?;
    // A running server would change the old install under our feet.
    let _lock = lock_idle(&old)?;
    let open_err = |which: &str, e: crate::store::Error| {
        CliError::context(format!("cannot open the {which} stores"), e)
    };
    let old_blobs = crate::store::open::blobs(&old)
        .await
        .map_err(|e| open_err("old", e))?;
    let old_meta = crate::store::open::meta(&old)
        .await
        .map_err(|e| open_err("old", e))?;
    let new_blobs = crate::store::open::blobs(&new)
        .await
        .map_err(|e| open_err("new", e))?;
    let new_meta = crate::store::open::meta(&new)
        .await
        .map_err(|e| open_err("new", e))?;
    let dump = old_meta
        .dump()
        .await
        .map_err(|e| CliError::context("cannot read the old metadata", e))?;
    let wanted = objects_of(&dump);
    let copied = copy_objects(old_blobs.as_ref(), &new_blobs, &wanted).await?;
    new_meta
        .restore(&dump)
        .await
        .map_err(|e| CliError::context("cannot write the new metadata", e))?;
    verify(new_blobs.as_ref(), new_meta.as_ref(), &dump, &wanted).await?;
    println!(
        "copied {} objects ({} bytes), {} already there; {} editors, {} sources, {} items, \
         {} replies in the new metadata store; every object's size checked",
        copied.objects,
        copied.bytes,
        copied.already,
        dump.editors.len(),
        dump.sources.len(),
        dump.items.len(),
        dump.replies.len()
    );
    Ok(())
}

/// The two installs must be one install on two sets of stores: the same pepper (or sources
/// could no longer log in), and not the very same stores.
fn check_pair(old: &Config, new: &Config) -> Result<()> {
    use subtle::ConstantTimeEq as _;
    let fp = crate::codename::install::pepper_fingerprint;
    if !bool::from(fp(&old.pepper).ct_eq(&fp(&new.pepper))) {
        return Err(CliError::new(
            "the two configurations have different peppers: copy [secrets] pepper from the old \
             one, or no source could log in afterwards",
        ));
    }
    use crate::config::store::{Blobs, Metadata};
    let same_dir = old.data_dir.canonicalize().ok() == new.data_dir.canonicalize().ok();
    let same_meta = match (&old.store.metadata, &new.store.metadata) {
        (Metadata::Sqlite, Metadata::Sqlite) => same_dir,
        (a, b) => a == b && !matches!(a, Metadata::Sqlite),
    };
    let same_blobs = match (&old.store.blobs, &new.store.blobs) {
        (Blobs::Fs, Blobs::Fs) => same_dir,
        (a, b) => a == b && !matches!(a, Blobs::Fs),
    };
    if same_meta && same_blobs {
        return Err(CliError::new(
            "the two configurations name the same stores: nothing to migrate",
        ));
    }
    Ok(())
}

/// Takes the old install's data-directory lock, which `serve` holds while it runs.
pub(super) fn lock_idle(cfg: &Config) -> Result<std::fs::File> {
    let path = cfg.data_dir.join("sanduq.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| CliError::context(format!("cannot open {}", path.display()), e))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(CliError::new(format!(
            "a sanduq serve is using {}; stop it before migrating",
            cfg.data_dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(CliError::context(
            format!("cannot lock {}", path.display()),
            e,
        )),
    }
}

/// Every object a row names, with the size the row records.
pub(super) fn objects_of(dump: &Dump) -> Vec<(BlobKey, u64)> {
    let items = dump.items.iter().flat_map(|i| {
        [
            (BlobKey::content(i.id), i.size),
            (BlobKey::meta(i.id), i.meta_size),
        ]
    });
    let replies = dump.replies.iter().map(|r| (BlobKey::reply(r.id), r.size));
    items.chain(replies).collect()
}

async fn copy_objects(
    old: &dyn BlobStore,
    new: &Arc<dyn BlobStore>,
    wanted: &[(BlobKey, u64)],
) -> Result<Copied> {
    let there = listed(new.as_ref()).await?;
    let mut done = Copied::default();
    for &(key, size) in wanted {
        if there.get(&key) == Some(&size) {
            done.already += 1;
            continue;
        }
        copy_one(old, new, key, size).await?;
        done.objects += 1;
        done.bytes += size;
    }
    Ok(done)
}

/// Streams one object from `old` into `new` and checks its size on both sides.
async fn copy_one(
    old: &dyn BlobStore,
    new: &Arc<dyn BlobStore>,
    key: BlobKey,
    size: u64,
) -> Result<()> {
    let name = key.file_name();
    let fail = |what: String| CliError::new(format!("{name}: {what}"));
    let (old_size, reader) = old
        .open(key, 0)
        .await
        .map_err(|e| fail(format!("cannot read it from the old store: {e}")))?
        .ok_or_else(|| fail("listed by a row but missing from the old store".into()))?;
    if old_size != size {
        return Err(fail(format!(
            "the old store holds {old_size} bytes, its row says {size}"
        )));
    }
    let (mut writer, upload) = new
        .begin(key)
        .await
        .map_err(|e| fail(format!("cannot write it to the new store: {e}")))?;
    let rt = tokio::runtime::Handle::current();
    let written = tokio::task::spawn_blocking(move || {
        let _enter = rt.enter();
        let mut from = tokio_util::io::SyncIoBridge::new(reader);
        let n = std::io::copy(&mut from, &mut writer)?;
        std::io::Write::flush(&mut writer)?;
        Ok::<u64, std::io::Error>(n)
    })
    .await
    .map_err(|e| fail(e.to_string()))?;
    let written = match written {
        Ok(n) => n,
        Err(e) => {
            upload.abort().await;
            return Err(fail(format!("copy failed: {e}")));
        }
    };
    let stored = upload
        .complete()
        .await
        .map_err(|e| fail(format!("cannot complete it in the new store: {e}")))?;
    if written != size || stored != size {
        let _ = new.delete(key).await;
        return Err(fail(format!(
            "copied {written} bytes, stored {stored}, expected {size}"
        )));
    }
    Ok(())
}

async fn listed(blobs: &dyn BlobStore) -> Result<HashMap<BlobKey, u64>> {
    Ok(blobs
        .list()
        .await
        .map_err(|e| CliError::context("cannot list the new store", e))?
        .into_iter()
        .map(|l| (l.key, l.size))
        .collect())
}

/// Every row is in the new metadata store and every object in the new blob store, with its
/// size.
async fn verify(
    blobs: &dyn BlobStore,
    meta: &dyn crate::store::MetaStore,
    dump: &Dump,
    wanted: &[(BlobKey, u64)],
) -> Result<()> {
    let there = listed(blobs).await?;
    if let Some((key, size)) = wanted.iter().find(|(k, s)| there.get(k) != Some(s)) {
        return Err(CliError::new(format!(
            "{}: not in the new store with its {size} bytes after copying",
            key.file_name()
        )));
    }
    let now = meta
        .dump()
        .await
        .map_err(|e| CliError::context("cannot read the new metadata", e))?;
    let ids = |d: &Dump| -> std::collections::HashSet<crate::ids::Id> {
        d.items
            .iter()
            .map(|i| i.id)
            .chain(d.replies.iter().map(|r| r.id))
            .collect()
    };
    let sources = |d: &Dump| -> std::collections::HashSet<crate::ids::Id> {
        d.sources.iter().map(|(s, _)| s.id).collect()
    };
    let missing =
        ids(dump).difference(&ids(&now)).count() + sources(dump).difference(&sources(&now)).count();
    if missing > 0 {
        return Err(CliError::new(format!(
            "{missing} rows are missing from the new metadata store after writing them"
        )));
    }
    Ok(())
}
