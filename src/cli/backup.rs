//! `sanduq admin backup --config FILE --out FILE`: one file holding an embedded install's
//! metadata and ciphertext, made while the server runs.
//!
//! The file is a tar archive of what the server already holds, nothing more: a manifest
//! (`sanduq-backup.json`: the format and the pepper's one-way fingerprint), every object the
//! metadata names (`blobs/<id>.age`, `.meta.age`, `.reply.age`: age ciphertext), and last the
//! metadata itself (`meta.sqlite`: ids, sizes, days, editors' recipients and token hashes,
//! sources' hashed logins). Nothing is decrypted on the way; no plaintext exists to write.
//!
//! Consistency. The metadata is an online snapshot (`VACUUM INTO`: one read transaction, so
//! one committed state). Every row in it names objects that were complete and durable before
//! the row was committed, and a completed object never changes, so each one is read as it
//! was at the snapshot, with two exceptions handled here:
//! - an item or reply deleted after the snapshot: its object is gone when read. Its row is
//!   then deleted from the snapshot too (delete means delete: a backup does not bring back
//!   what an editor removed), which is why the metadata comes last in the archive;
//! - an upload in progress, or completed but not yet committed: no row in the snapshot names
//!   it, so it is not in the backup; the source was not told it succeeded before the snapshot.
//!
//! Logged-in sessions are left out: a backup outlives them, and after a restore sources log
//! in again with their codenames. The archive is written beside `--out` under a temporary
//! name (mode 0600), synced, then linked to `--out`, which is never overwritten.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions as _, Connection as _, SqliteConnection};

use super::{CliError, Result};
use crate::config::Config;
use crate::ids::Id;
use crate::store::{BlobKey, BlobStore};

/// The manifest's name: the archive's first entry.
pub(super) const MANIFEST: &str = "sanduq-backup.json";
/// The metadata's name: the archive's last entry.
pub(super) const META: &str = "meta.sqlite";
/// The folder of the objects in the archive.
pub(super) const BLOBS: &str = "blobs/";
/// The archive format this sanduq writes and reads.
pub(super) const FORMAT: u32 = 1;

/// `sanduq-backup.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Manifest {
    /// [`FORMAT`].
    pub(super) format: u32,
    /// The install's pepper fingerprint (hex), as its metadata records it.
    pub(super) pepper_fingerprint: Option<String>,
}

/// The objects one row names, with the sizes the row records.
struct Row {
    /// The item or reply.
    id: Id,
    /// Its objects: an item's content and metadata, or a reply.
    objects: Vec<(BlobKey, u64)>,
    /// `items` or `replies`.
    table: &'static str,
}

/// What went into the archive.
#[derive(Debug, Default)]
struct Written {
    objects: u64,
    bytes: u64,
    /// Rows whose objects were deleted after the snapshot: left out.
    gone: Vec<(&'static str, Id)>,
}

/// `sanduq admin backup`.
pub(super) async fn backup(config: &Path, out: &Path) -> Result<()> {
    let cfg = Config::load(config).map_err(CliError::new)?;
    require_sqlite(&cfg, "back up")?;
    if out.symlink_metadata().is_ok() {
        return Err(CliError::new(format!(
            "{} already exists; a backup never replaces a file: choose another --out",
            out.display()
        )));
    }
    let blobs = crate::store::open::blobs(&cfg)
        .await
        .map_err(|e| CliError::new(format!("cannot open the blob store: {e}")))?;
    let snapshot = TempFile(
        cfg.data_dir
            .join(format!(".backup-{}.sqlite", Id::random())),
    );
    let partial = TempFile(partial_name(out)?);
    let written = write_backup(&cfg, blobs, &snapshot.0, &partial.0).await?;
    publish(&partial.0, out)?;
    println!(
        "backed up {} objects ({} bytes) and the metadata to {}; {} deleted since the snapshot \
         left out. It holds ciphertext and metadata only: keep the pepper apart from it",
        written.objects,
        written.bytes,
        out.display(),
        written.gone.len()
    );
    Ok(())
}

/// Backup and restore copy SQLite's file: they are for the embedded metadata store.
pub(super) fn require_sqlite(cfg: &Config, what: &str) -> Result<()> {
    if matches!(cfg.store.metadata, crate::config::store::Metadata::Sqlite) {
        return Ok(());
    }
    Err(CliError::new(format!(
        "sanduq can {what} only an install whose metadata is in SQLite; for PostgreSQL and S3 \
         use their own tools (docs/operator.md, \"Backups\")"
    )))
}

/// A file removed when dropped, unless it was moved away.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        // Best effort: both names are private to this run.
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `.NAME.<random>.partial` beside `out`.
fn partial_name(out: &Path) -> Result<PathBuf> {
    let name = out
        .file_name()
        .ok_or_else(|| CliError::new("--out must name a file"))?;
    let mut partial = std::ffi::OsString::from(".");
    partial.push(name);
    partial.push(format!(".{}.partial", Id::random()));
    Ok(out.with_file_name(partial))
}

/// Snapshot, objects, then the snapshot's final form into the archive at `partial`.
async fn write_backup(
    cfg: &Config,
    blobs: Arc<dyn BlobStore>,
    snapshot: &Path,
    partial: &Path,
) -> Result<Written> {
    snapshot_metadata(&cfg.data_dir.join(META), snapshot).await?;
    let mut snap = open_snapshot(snapshot).await?;
    let rows = rows(&mut snap).await?;
    let manifest = Manifest {
        format: FORMAT,
        pepper_fingerprint: fingerprint(&mut snap).await?,
    };
    let file = create_private(partial)?;
    let rt = tokio::runtime::Handle::current();
    let (archive, written) = tokio::task::spawn_blocking(move || {
        let mut archive = tar::Builder::new(std::io::BufWriter::new(file));
        let manifest = serde_json::to_vec(&manifest).map_err(CliError::new)?;
        append(&mut archive, MANIFEST, manifest.len() as u64, &manifest[..])?;
        let written = append_objects(&rt, blobs.as_ref(), &mut archive, &rows)?;
        Ok::<_, CliError>((archive, written))
    })
    .await
    .map_err(CliError::new)??;
    forget(&mut snap, &written.gone).await?;
    snap.close().await.map_err(sql_err)?;
    let snapshot = snapshot.to_owned();
    tokio::task::spawn_blocking(move || finish(archive, &snapshot))
        .await
        .map_err(CliError::new)??;
    Ok(written)
}

fn sql_err(e: sqlx::Error) -> CliError {
    CliError::new(format!("cannot snapshot the metadata: {e}"))
}

/// `VACUUM INTO`: a consistent copy of the live database, taken in one read transaction
/// while the server goes on writing.
async fn snapshot_metadata(live: &Path, snapshot: &Path) -> Result<()> {
    if !live.exists() {
        return Err(CliError::new(format!(
            "{} does not exist: is --config the install's configuration?",
            live.display()
        )));
    }
    // SQLite writes into an empty file it is given: made owner-only first.
    drop(create_private(snapshot)?);
    let mut live = SqliteConnectOptions::new()
        .filename(live)
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await
        .map_err(sql_err)?;
    let path = snapshot
        .to_str()
        .ok_or_else(|| CliError::new("the data directory's path is not UTF-8"))?;
    sqlx::query("VACUUM INTO ?")
        .bind(path)
        .execute(&mut live)
        .await
        .map_err(sql_err)?;
    live.close().await.map_err(sql_err)
}

/// The snapshot, to read and trim: its journal in memory, so that rows deleted from it
/// leave no copy in a journal file, and `secure_delete` so that they leave none in it.
async fn open_snapshot(snapshot: &Path) -> Result<SqliteConnection> {
    let mut snap = SqliteConnectOptions::new()
        .filename(snapshot)
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Memory)
        .pragma("secure_delete", "ON")
        .connect()
        .await
        .map_err(sql_err)?;
    // Sessions outlive no backup: after a restore, sources log in again.
    sqlx::query("DELETE FROM sessions")
        .execute(&mut snap)
        .await
        .map_err(sql_err)?;
    Ok(snap)
}

/// Every item and reply in the snapshot, with the objects each names.
async fn rows(snap: &mut SqliteConnection) -> Result<Vec<Row>> {
    let parse = |id: &str| {
        id.parse::<Id>()
            .map_err(|_| CliError::new(format!("damaged metadata: bad id {id:?}")))
    };
    let size = |n: i64| u64::try_from(n).map_err(|_| CliError::new("damaged metadata: size"));
    let mut out = Vec::new();
    let items: Vec<(String, i64, i64)> = sqlx::query_as("SELECT id, size, meta_size FROM items")
        .fetch_all(&mut *snap)
        .await
        .map_err(sql_err)?;
    for (id, content, meta) in items {
        let id = parse(&id)?;
        out.push(Row {
            id,
            objects: vec![
                (BlobKey::content(id), size(content)?),
                (BlobKey::meta(id), size(meta)?),
            ],
            table: "items",
        });
    }
    let replies: Vec<(String, i64)> = sqlx::query_as("SELECT id, size FROM replies")
        .fetch_all(&mut *snap)
        .await
        .map_err(sql_err)?;
    for (id, n) in replies {
        let id = parse(&id)?;
        out.push(Row {
            id,
            objects: vec![(BlobKey::reply(id), size(n)?)],
            table: "replies",
        });
    }
    Ok(out)
}

/// The pepper's fingerprint on record, in hex.
async fn fingerprint(snap: &mut SqliteConnection) -> Result<Option<String>> {
    let v: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT value FROM install WHERE key = 'pepper_fingerprint'")
            .fetch_optional(&mut *snap)
            .await
            .map_err(sql_err)?;
    Ok(v.map(hex::encode))
}

type Archive = tar::Builder<std::io::BufWriter<std::fs::File>>;

/// Each row's objects into the archive. A row whose objects are gone was deleted after the
/// snapshot: it is skipped, and returned to be deleted from the snapshot as well. Every
/// object of a row is opened before any is written, so a row goes in whole or not at all (an
/// open file stays readable after its name is removed).
fn append_objects(
    rt: &tokio::runtime::Handle,
    blobs: &dyn BlobStore,
    archive: &mut Archive,
    rows: &[Row],
) -> Result<Written> {
    let mut written = Written::default();
    'rows: for row in rows {
        let mut open = Vec::with_capacity(row.objects.len());
        for &(key, size) in &row.objects {
            let name = key.file_name();
            let found = rt
                .block_on(blobs.open(key, 0))
                .map_err(|e| CliError::new(format!("{name}: cannot read it: {e}")))?;
            let Some((stored, reader)) = found else {
                written.gone.push((row.table, row.id));
                continue 'rows;
            };
            if stored != size {
                return Err(CliError::new(format!(
                    "{name}: the store holds {stored} bytes, its row says {size}: the install \
                     is damaged"
                )));
            }
            open.push((name, size, reader));
        }
        for (name, size, reader) in open {
            let _enter = rt.enter();
            let reader = tokio_util::io::SyncIoBridge::new(reader);
            append(archive, &format!("{BLOBS}{name}"), size, reader)?;
            written.objects += 1;
            written.bytes += size;
        }
    }
    Ok(written)
}

/// Deletes from the snapshot the rows whose objects were deleted after it was taken.
async fn forget(snap: &mut SqliteConnection, gone: &[(&'static str, Id)]) -> Result<()> {
    for (table, id) in gone {
        let sql = match *table {
            "items" => "DELETE FROM items WHERE id = ?",
            _ => "DELETE FROM replies WHERE id = ?",
        };
        sqlx::query(sql)
            .bind(id.to_string())
            .execute(&mut *snap)
            .await
            .map_err(sql_err)?;
    }
    Ok(())
}

/// Appends the trimmed snapshot as the last entry, ends the archive and syncs it.
fn finish(mut archive: Archive, snapshot: &Path) -> Result<()> {
    let meta = std::fs::File::open(snapshot).map_err(CliError::new)?;
    let size = meta.metadata().map_err(CliError::new)?.len();
    append(&mut archive, META, size, meta)?;
    let file = archive
        .into_inner()
        .map_err(|e| CliError::new(format!("cannot write the backup: {e}")))?
        .into_inner()
        .map_err(|e| CliError::new(format!("cannot write the backup: {}", e.error())))?;
    file.sync_all()
        .map_err(|e| CliError::new(format!("cannot write the backup: {e}")))
}

/// One entry of exactly `size` bytes, with no owner, time or mode of the server's in it.
fn append(archive: &mut Archive, name: &str, size: u64, data: impl Read) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    let fail = |e: std::io::Error| CliError::new(format!("{name}: cannot write it: {e}"));
    archive
        .append_data(&mut header, name, Exact::new(data, size))
        .map_err(fail)
}

/// A reader of exactly `left` bytes: a shorter source is an error, a longer one is cut, so an
/// entry never disagrees with its header.
pub(super) struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Exact<R> {
    pub(super) fn new(inner: R, left: u64) -> Self {
        Exact { inner, left }
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the object ended before its recorded size",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A new file, owner-only; an existing one is an error.
pub(super) fn create_private(path: &Path) -> Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", path.display())))
}

/// Gives the finished archive its name: a hard link fails if `out` appeared meanwhile, so
/// nothing is ever replaced, and the directory is synced so the name survives a crash.
fn publish(partial: &Path, out: &Path) -> Result<()> {
    std::fs::hard_link(partial, out).map_err(|e| {
        CliError::new(format!(
            "cannot name the backup {}: {e}; nothing was replaced",
            out.display()
        ))
    })?;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    crate::store::fs::sync_dir(dir)
        .map_err(|e| CliError::new(format!("cannot sync {}: {e}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fs::FsBlobStore;

    /// An item deleted after the snapshot (its objects gone when read) is left out whole,
    /// and a reply still there goes in.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_row_whose_objects_are_gone_is_left_out_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let blobs: Arc<dyn BlobStore> =
            Arc::new(FsBlobStore::open(&dir.path().join("blobs")).expect("store"));
        let (kept, half_gone) = (Id::random(), Id::random());
        let reply = b"age-encryption.org/v1 a reply".to_vec();
        crate::store::put_small(blobs.as_ref(), BlobKey::reply(kept), reply.clone())
            .await
            .expect("reply");
        // Only the content is left of the deleted item: its metadata object went first.
        crate::store::put_small(blobs.as_ref(), BlobKey::content(half_gone), b"x".to_vec())
            .await
            .expect("content");
        let rows = vec![
            Row {
                id: half_gone,
                objects: vec![
                    (BlobKey::content(half_gone), 1),
                    (BlobKey::meta(half_gone), 9),
                ],
                table: "items",
            },
            Row {
                id: kept,
                objects: vec![(BlobKey::reply(kept), reply.len() as u64)],
                table: "replies",
            },
        ];
        let path = dir.path().join("out.tar");
        let file = create_private(&path).expect("file");
        let rt = tokio::runtime::Handle::current();
        let written = tokio::task::spawn_blocking(move || {
            let mut archive = tar::Builder::new(std::io::BufWriter::new(file));
            let written = append_objects(&rt, blobs.as_ref(), &mut archive, &rows);
            archive.into_inner().expect("finish");
            written
        })
        .await
        .expect("join")
        .expect("append");
        assert_eq!(written.gone, vec![("items", half_gone)]);
        assert_eq!(written.objects, 1);
        let mut names = Vec::new();
        let mut archive = tar::Archive::new(std::fs::File::open(&path).expect("open"));
        for e in archive.entries().expect("entries") {
            let e = e.expect("entry");
            names.push(e.path().expect("path").to_string_lossy().into_owned());
        }
        assert_eq!(
            names,
            vec![format!("{BLOBS}{}", BlobKey::reply(kept).file_name())]
        );
    }

    #[test]
    fn exact_cuts_a_longer_source_and_refuses_a_shorter_one() {
        let mut out = Vec::new();
        Exact::new(&b"abcdef"[..], 4)
            .read_to_end(&mut out)
            .expect("cut");
        assert_eq!(out, b"abcd");
        let err = Exact::new(&b"ab"[..], 4)
            .read_to_end(&mut Vec::new())
            .expect_err("short");
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
