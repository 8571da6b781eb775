//! `sanduq admin restore --config NEW.toml --from FILE`: puts a backup made by
//! `sanduq admin backup` into a new, empty install.
//!
//! The pepper is checked first, against the fingerprint the backup's manifest carries: a
//! backup holds no pepper, and with another one no codename would work. An install that
//! already holds any editor, source, item or reply is refused, so a restore never mixes two
//! installs. Objects go into the blob store first (an object already there with the same
//! size is kept, so running the command again finishes an interrupted restore), the metadata
//! last, by renaming it into place: until then the install lists nothing. The restored
//! metadata is then opened as `serve` opens it — brought to this version's schema, its
//! pepper checked by the same check `serve` makes — and every object it names is checked
//! to be in the blob store with its size.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::backup::{create_private, Exact, Manifest, BLOBS, FORMAT, MANIFEST, META};
use super::{CliError, Result};
use crate::config::Config;
use crate::ids::Id;
use crate::store::{BlobKey, BlobStore};

/// What the archive held.
#[derive(Debug, Default)]
struct Restored {
    objects: u64,
    already: u64,
    /// The metadata entry was read and staged.
    meta: bool,
}

/// `sanduq admin restore`.
pub(super) async fn restore(config: &Path, from: &Path) -> Result<()> {
    let cfg = Config::load(config).map_err(CliError::new)?;
    super::backup::require_sqlite(&cfg, "restore into")?;
    let _lock = super::migrate::lock_idle(&cfg)?;
    let file = std::fs::File::open(from)
        .map_err(|e| CliError::new(format!("cannot open {}: {e}", from.display())))?;
    refuse_non_empty(&cfg, config).await?;
    let blobs = crate::store::open::blobs(&cfg)
        .await
        .map_err(|e| CliError::new(format!("cannot open the blob store: {e}")))?;
    let staged = cfg
        .data_dir
        .join(format!(".restore-{}.sqlite", Id::random()));
    let result = unpack(&cfg, file, blobs.clone(), &staged).await;
    if result.is_err() {
        let _ = std::fs::remove_file(&staged);
    }
    let restored = result?;
    if !restored.meta {
        let _ = std::fs::remove_file(&staged);
        return Err(CliError::new(format!(
            "{} ends before its metadata: the backup is incomplete",
            from.display()
        )));
    }
    put_in_place(&cfg, &staged)?;
    let (items, replies, sources, editors) = check(&cfg, blobs.as_ref()).await?;
    println!(
        "restored {editors} editors, {sources} sources, {items} items and {replies} replies \
         ({} objects written, {} already there); start it with sanduq serve --config {}",
        restored.objects,
        restored.already,
        config.display()
    );
    Ok(())
}

/// Refuses an install whose metadata holds anything.
async fn refuse_non_empty(cfg: &Config, config: &Path) -> Result<()> {
    if !cfg.data_dir.join(META).exists() {
        return Ok(());
    }
    let meta = crate::store::open::meta(cfg)
        .await
        .map_err(|e| CliError::new(format!("cannot open the metadata store: {e}")))?;
    let dump = meta.dump().await.map_err(CliError::new)?;
    let held = dump.editors.len() + dump.sources.len() + dump.items.len() + dump.replies.len();
    if held > 0 {
        return Err(CliError::new(format!(
            "the install of {} is not empty ({} editors, {} sources, {} items, {} replies): \
             restore only into a new install (sanduq init)",
            config.display(),
            dump.editors.len(),
            dump.sources.len(),
            dump.items.len(),
            dump.replies.len()
        )));
    }
    Ok(())
}

/// Reads the archive: the manifest (the pepper checked), the objects into the blob store,
/// the metadata to `staged`.
async fn unpack(
    cfg: &Config,
    file: std::fs::File,
    blobs: Arc<dyn BlobStore>,
    staged: &Path,
) -> Result<Restored> {
    let mine = hex::encode(crate::codename::install::pepper_fingerprint(&cfg.pepper));
    let rt = tokio::runtime::Handle::current();
    let staged = staged.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut archive = tar::Archive::new(std::io::BufReader::new(file));
        let mut entries = archive.entries().map_err(damaged)?;
        let first = entries
            .next()
            .ok_or_else(|| CliError::new("the backup is empty"))?
            .map_err(damaged)?;
        check_manifest(first, &mine)?;
        let mut done = Restored::default();
        for entry in entries {
            let entry = entry.map_err(damaged)?;
            if done.meta {
                return Err(CliError::new("the backup has entries after its metadata"));
            }
            let path = entry
                .path()
                .map_err(damaged)?
                .to_string_lossy()
                .into_owned();
            if path == META {
                stage_meta(entry, &staged)?;
                done.meta = true;
            } else if let Some(key) = path.strip_prefix(BLOBS).and_then(BlobKey::from_file_name) {
                put_object(&rt, blobs.as_ref(), key, entry, &mut done)?;
            } else {
                return Err(CliError::new(format!(
                    "the backup holds an unexpected entry {:?}",
                    crate::crypto::one_line(&path)
                )));
            }
        }
        Ok(done)
    })
    .await
    .map_err(CliError::new)?
}

fn damaged(e: std::io::Error) -> CliError {
    CliError::new(format!("cannot read the backup: {e}"))
}

/// The manifest is the first entry; its pepper fingerprint must be this install's.
fn check_manifest(entry: impl Read, mine: &str) -> Result<()> {
    use subtle::ConstantTimeEq as _;
    let mut text = Vec::new();
    entry
        .take(64 * 1024)
        .read_to_end(&mut text)
        .map_err(damaged)?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|_| {
        CliError::new(format!(
            "the backup does not start with a readable {MANIFEST}: not a sanduq backup"
        ))
    })?;
    if manifest.format != FORMAT {
        return Err(CliError::new(format!(
            "the backup is in format {}, this sanduq reads format {FORMAT}: restore it with the \
             sanduq that made it",
            manifest.format
        )));
    }
    match manifest.pepper_fingerprint {
        Some(theirs) if !bool::from(theirs.as_bytes().ct_eq(mine.as_bytes())) => {
            Err(CliError::new(
                "secrets.pepper in --config is not the pepper of the backed-up install, so no \
                 codename would work: put the install's pepper in [secrets] (docs/operator.md, \
                 \"The pepper\")",
            ))
        }
        _ => Ok(()),
    }
}

/// Streams one object into the blob store, unless it is there already with its size.
fn put_object<R: Read>(
    rt: &tokio::runtime::Handle,
    blobs: &dyn BlobStore,
    key: BlobKey,
    entry: tar::Entry<'_, R>,
    done: &mut Restored,
) -> Result<()> {
    let name = key.file_name();
    let fail = |what: String| CliError::new(format!("{name}: {what}"));
    let size = entry.size();
    let there = rt
        .block_on(blobs.open(key, 0))
        .map_err(|e| fail(format!("cannot read the blob store: {e}")))?;
    if there.is_some_and(|(n, _)| n == size) {
        done.already += 1;
        return Ok(());
    }
    let (mut writer, upload) = rt
        .block_on(blobs.begin(key))
        .map_err(|e| fail(format!("cannot write it: {e}")))?;
    let copied = std::io::copy(&mut Exact::new(entry, size), &mut writer)
        .and_then(|n| std::io::Write::flush(&mut writer).map(|()| n));
    drop(writer);
    if let Err(e) = copied {
        rt.block_on(upload.abort());
        return Err(fail(format!("cannot copy it: {e}")));
    }
    let stored = rt
        .block_on(upload.complete())
        .map_err(|e| fail(format!("cannot complete it: {e}")))?;
    if stored != size {
        return Err(fail(format!("stored {stored} bytes of {size}")));
    }
    done.objects += 1;
    Ok(())
}

/// Writes the metadata entry to `staged`, owner-only, synced.
fn stage_meta(mut entry: impl Read, staged: &Path) -> Result<()> {
    let mut file = create_private(staged)?;
    std::io::copy(&mut entry, &mut file)
        .and_then(|_| file.sync_all())
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", staged.display())))
}

/// Replaces the new install's empty database by the restored one. The old database's WAL
/// and shared-memory files go first: SQLite would otherwise replay them into the new file.
fn put_in_place(cfg: &Config, staged: &Path) -> Result<()> {
    let live = cfg.data_dir.join(META);
    for suffix in ["-wal", "-shm"] {
        let mut side = live.as_os_str().to_owned();
        side.push(suffix);
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CliError::new(format!("cannot remove {side:?}: {e}"))),
        }
    }
    std::fs::rename(staged, &live)
        .and_then(|()| crate::store::fs::sync_dir(&cfg.data_dir))
        .map_err(|e| CliError::new(format!("cannot put {} in place: {e}", live.display())))
}

/// Opens the restored metadata as `serve` would (migrated, pepper checked) and checks that
/// every object it names is in the blob store with its size. Returns the counts of items,
/// replies, sources and editors.
async fn check(cfg: &Config, blobs: &dyn BlobStore) -> Result<(usize, usize, usize, usize)> {
    let meta = crate::store::open::meta(cfg)
        .await
        .map_err(|e| CliError::new(format!("cannot open the restored metadata: {e}")))?;
    crate::codename::install::check_pepper(meta.as_ref(), &cfg.pepper)
        .await
        .map_err(CliError::new)?;
    let dump = meta.dump().await.map_err(CliError::new)?;
    let there: std::collections::HashMap<BlobKey, u64> = blobs
        .list()
        .await
        .map_err(|e| CliError::new(format!("cannot list the blob store: {e}")))?
        .into_iter()
        .map(|l| (l.key, l.size))
        .collect();
    let wanted = super::migrate::objects_of(&dump);
    let missing = wanted
        .iter()
        .filter(|(k, s)| there.get(k) != Some(s))
        .count();
    if missing > 0 {
        return Err(CliError::new(format!(
            "{missing} objects the restored metadata names are not in the blob store with their \
             size: the backup is damaged"
        )));
    }
    Ok((
        dump.items.len(),
        dump.replies.len(),
        dump.sources.len(),
        dump.editors.len(),
    ))
}
