//! The embedded blob store: one directory of age files.
//!
//! Layout under the data directory: `blobs/tmp/<name>.part` while an object is written,
//! `blobs/items/<id>.age`, `<id>.meta.age` and `<id>.reply.age` once completed. A temporary
//! object is fsynced before it is renamed, and the directory is fsynced after the rename, so
//! a completed object survives a crash whole or is absent.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::io::AsyncSeekExt;

use std::time::Duration;

use super::{BlobKey, BlobReader, BlobStore, BlobWriter, Listed, Result, Upload};

/// A [`BlobStore`] in a local directory.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    tmp: PathBuf,
    items: PathBuf,
}

impl FsBlobStore {
    /// Opens (creating if needed) the store under `root`.
    pub fn open(root: &Path) -> Result<Self> {
        let tmp = root.join("tmp");
        let items = root.join("items");
        for d in [root, &tmp, &items] {
            std::fs::create_dir_all(d)?;
            restrict(d)?;
        }
        Ok(FsBlobStore { tmp, items })
    }

    fn temp_path(&self, key: BlobKey) -> PathBuf {
        self.tmp.join(format!("{}.part", key.file_name()))
    }

    fn path(&self, key: BlobKey) -> PathBuf {
        self.items.join(key.file_name())
    }
}

#[cfg(unix)]
fn restrict(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn restrict(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Midnight UTC of today.
fn day_start() -> std::time::SystemTime {
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs - secs % 86_400)
}

/// Bytes written between two nudges of the kernel to start writing a blob to disk.
const WRITEBACK_STEP: u64 = 8 << 20;

/// A blob file that asks the kernel to start writing it to disk every [`WRITEBACK_STEP`]
/// bytes, instead of leaving all of a large upload dirty in the page cache until `complete`'s
/// fsync. The disk then works while the upload still arrives: the fsync waits for the last
/// few MiB, not the whole file (a 1 GiB upload's fsync took ~0.55 s here), and the server
/// does not hold gigabytes of dirty ciphertext.
///
/// `POSIX_FADV_DONTNEED` starts writeback of the range without waiting for it (Linux) and
/// drops the range's pages that are already clean: ciphertext is read again only when an
/// editor fetches it. Pages under writeback are left alone; a page still dirty after the
/// writeback was started makes Linux drain every CPU's page lists once (rare: the range's
/// dirty pages have just been submitted). It is advice; a kernel that ignores it loses no
/// data, since `complete` still fsyncs the file before it is published.
struct EarlyWriteback {
    file: std::fs::File,
    written: u64,
    nudged: u64,
}

impl EarlyWriteback {
    fn new(file: std::fs::File) -> EarlyWriteback {
        EarlyWriteback {
            file,
            written: 0,
            nudged: 0,
        }
    }
}

impl std::io::Write for EarlyWriteback {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.nudged >= WRITEBACK_STEP {
            // From one step back: that step's pages are likely written by now and are
            // dropped; this step's start their way to disk.
            let from = self.nudged.saturating_sub(WRITEBACK_STEP);
            let len = std::num::NonZeroU64::new(self.written - from);
            // Advice only: a failure changes nothing that complete's fsync does not cover.
            let _ = rustix::fs::fadvise(&self.file, from, len, rustix::fs::Advice::DontNeed);
            self.nudged = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Fsyncs a directory so that renames and unlinks in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// An object being written to `tmp/`, moved into `items/` when completed.
struct FsUpload {
    temp: PathBuf,
    dest: PathBuf,
    items: PathBuf,
    done: bool,
}

impl FsUpload {
    fn remove_temp(&mut self) {
        self.done = true;
        // Best effort: what is left behind is the janitor's after its grace period.
        let _ = std::fs::remove_file(&self.temp);
    }
}

impl Drop for FsUpload {
    fn drop(&mut self) {
        if !self.done {
            self.remove_temp();
        }
    }
}

#[async_trait]
impl Upload for FsUpload {
    async fn complete(mut self: Box<Self>) -> Result<u64> {
        let (temp, dest, items) = (self.temp.clone(), self.dest.clone(), self.items.clone());
        let size = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            let f = std::fs::OpenOptions::new().write(true).open(&temp)?;
            // The file's times would tell when it arrived; keep only the day, as the
            // metadata does. (The inode's change time cannot be set; see the threat model.)
            let day = day_start();
            f.set_times(
                std::fs::FileTimes::new()
                    .set_accessed(day)
                    .set_modified(day),
            )?;
            f.sync_all()?;
            let size = f.metadata()?.len();
            std::fs::rename(&temp, &dest)?;
            sync_dir(&items)?;
            Ok(size)
        })
        .await
        .map_err(std::io::Error::other)?;
        match size {
            Ok(size) => {
                self.done = true;
                Ok(size)
            }
            Err(e) => {
                self.remove_temp();
                Err(e.into())
            }
        }
    }

    async fn abort(mut self: Box<Self>) {
        self.remove_temp();
    }
}

/// How long ago a file's inode last changed (its last write, or its rename into `items/`):
/// the modification time holds only the day.
fn changed_ago(meta: &std::fs::Metadata) -> Duration {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Duration::from_secs(now.saturating_sub(u64::try_from(meta.ctime()).unwrap_or(0)))
    }
    #[cfg(not(unix))]
    {
        meta.modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .unwrap_or_default()
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn begin(&self, key: BlobKey) -> Result<(BlobWriter, Box<dyn Upload>)> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let temp = self.temp_path(key);
        let f = opts.open(&temp)?;
        let upload = FsUpload {
            temp,
            dest: self.path(key),
            items: self.items.clone(),
            done: false,
        };
        Ok((Box::new(EarlyWriteback::new(f)), Box::new(upload)))
    }

    async fn open(&self, key: BlobKey, offset: u64) -> Result<Option<(u64, BlobReader)>> {
        let mut f = match tokio::fs::File::open(self.path(key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let len = f.metadata().await?.len();
        if offset > 0 {
            f.seek(SeekFrom::Start(offset.min(len))).await?;
        }
        Ok(Some((len, Box::pin(f))))
    }

    async fn delete(&self, key: BlobKey) -> Result<()> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let items = self.items.clone();
        tokio::task::spawn_blocking(move || sync_dir(&items))
            .await
            .map_err(std::io::Error::other)??;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        let mut rd = tokio::fs::read_dir(&self.items).await?;
        while let Some(e) = rd.next_entry().await? {
            let Some(key) = e.file_name().to_str().and_then(BlobKey::from_file_name) else {
                continue;
            };
            let meta = match e.metadata().await {
                Ok(m) => m,
                // Deleted since the directory was read.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            out.push(Listed {
                key,
                size: meta.len(),
                age: changed_ago(&meta),
            });
        }
        Ok(out)
    }

    async fn sweep_stale_uploads(&self, grace: Duration) -> Result<usize> {
        let mut n = 0;
        let mut rd = tokio::fs::read_dir(&self.tmp).await?;
        while let Some(e) = rd.next_entry().await? {
            let stale = match e.metadata().await {
                Ok(m) => changed_ago(&m) > grace,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => return Err(e.into()),
            };
            if stale {
                match tokio::fs::remove_file(e.path()).await {
                    Ok(()) => n += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Id;
    use tokio::io::AsyncReadExt;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        crate::store::conformance::blobs::run(&FsBlobStore::open(dir.path()).unwrap()).await;
    }

    #[tokio::test]
    async fn begin_write_complete_read_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsBlobStore::open(dir.path()).unwrap();
        let key = BlobKey::content(Id::random());
        let (mut w, up) = s.begin(key).await.unwrap();
        std::io::Write::write_all(&mut w, b"age-encryption.org/v1 test").unwrap();
        drop(w);
        assert!(
            s.list().await.unwrap().is_empty(),
            "not listed before completion"
        );
        assert_eq!(up.complete().await.unwrap(), 26);
        let listed = s.list().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].key, listed[0].size), (key, 26));
        let (len, mut r) = s.open(key, 4).await.unwrap().unwrap();
        assert_eq!(len, 26);
        let mut rest = String::new();
        r.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "encryption.org/v1 test");
        s.delete(key).await.unwrap();
        assert!(s.open(key, 0).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn aborted_and_dropped_uploads_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsBlobStore::open(dir.path()).unwrap();
        let (_w, up) = s.begin(BlobKey::content(Id::random())).await.unwrap();
        up.abort().await;
        let (_w, up) = s.begin(BlobKey::meta(Id::random())).await.unwrap();
        drop(up);
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
        // One left by a crash is swept only once older than the grace period.
        let (_w, up) = s.begin(BlobKey::content(Id::random())).await.unwrap();
        std::mem::forget(up);
        assert_eq!(
            s.sweep_stale_uploads(Duration::from_secs(60))
                .await
                .unwrap(),
            0
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(s.sweep_stale_uploads(Duration::ZERO).await.unwrap(), 1);
    }
}
