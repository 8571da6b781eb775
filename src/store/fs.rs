//! The embedded blob store: one directory of age files.
//!
//! Layout under the data directory: `blobs/tmp/<temp>.part` while an object is written,
//! `blobs/items/<id>.age` and `blobs/items/<id>.meta.age` once published. A temporary object
//! is fsynced before it is renamed, and the directory is fsynced after the rename, so a
//! published object survives a crash whole or is absent.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::io::AsyncSeekExt;

use super::{BlobKey, BlobReader, BlobStore, BlobWriter, Result};
use crate::ids::Id;

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

    fn temp_path(&self, temp: Id) -> PathBuf {
        self.tmp.join(format!("{temp}.part"))
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
/// bytes, instead of leaving all of a large upload dirty in the page cache until `seal`'s
/// fsync. The disk then works while the upload still arrives: the fsync waits for the last
/// few MiB, not the whole file (a 1 GiB upload's fsync took ~0.55 s here), and the server
/// does not hold gigabytes of dirty ciphertext.
///
/// `POSIX_FADV_DONTNEED` starts writeback of the range without waiting for it (Linux) and
/// drops the range's pages that are already clean: ciphertext is read again only when an
/// editor fetches it. Pages under writeback are left alone; a page still dirty after the
/// writeback was started makes Linux drain every CPU's page lists once (rare: the range's
/// dirty pages have just been submitted). It is advice; a kernel that ignores it loses no
/// data, since `seal` still fsyncs the file before it is published.
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
            // Advice only: a failure changes nothing that seal's fsync does not cover.
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

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn create(&self, temp: Id) -> Result<BlobWriter> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let f = opts.open(self.temp_path(temp))?;
        Ok(Box::new(EarlyWriteback::new(f)))
    }

    async fn seal(&self, temp: Id) -> Result<u64> {
        let path = self.temp_path(temp);
        let size = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            let f = std::fs::OpenOptions::new().write(true).open(&path)?;
            // The file's times would tell when it arrived; keep only the day, as the
            // metadata does. (The inode's change time cannot be set; see the threat model.)
            let day = day_start();
            f.set_times(
                std::fs::FileTimes::new()
                    .set_accessed(day)
                    .set_modified(day),
            )?;
            f.sync_all()?;
            Ok(f.metadata()?.len())
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(size)
    }

    async fn publish(&self, staged: &[(Id, BlobKey)]) -> Result<()> {
        let moves: Vec<(PathBuf, PathBuf)> = staged
            .iter()
            .map(|(t, k)| (self.temp_path(*t), self.path(*k)))
            .collect();
        let items = self.items.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for (from, to) in &moves {
                std::fs::rename(from, to)?;
            }
            sync_dir(&items)
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(())
    }

    fn discard(&self, temp: Id) {
        // Best effort: what is left behind is removed at the next start.
        let _ = std::fs::remove_file(self.temp_path(temp));
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

    async fn list(&self) -> Result<Vec<BlobKey>> {
        let mut out = Vec::new();
        let mut rd = tokio::fs::read_dir(&self.items).await?;
        while let Some(e) = rd.next_entry().await? {
            if let Some(k) = e.file_name().to_str().and_then(BlobKey::from_file_name) {
                out.push(k);
            }
        }
        Ok(out)
    }

    async fn sweep_temporaries(&self) -> Result<usize> {
        let mut n = 0;
        let mut rd = tokio::fs::read_dir(&self.tmp).await?;
        while let Some(e) = rd.next_entry().await? {
            tokio::fs::remove_file(e.path()).await?;
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn write_seal_publish_read_delete() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsBlobStore::open(dir.path()).unwrap();
        let t = Id::random();
        let mut w = s.create(t).await.unwrap();
        std::io::Write::write_all(&mut w, b"age-encryption.org/v1 test").unwrap();
        drop(w);
        assert_eq!(s.seal(t).await.unwrap(), 26);
        assert!(
            s.list().await.unwrap().is_empty(),
            "not visible before publish"
        );
        let key = BlobKey::content(Id::random());
        s.publish(&[(t, key)]).await.unwrap();
        assert_eq!(s.list().await.unwrap(), vec![key]);
        let (len, mut r) = s.open(key, 4).await.unwrap().unwrap();
        assert_eq!(len, 26);
        let mut rest = String::new();
        r.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "encryption.org/v1 test");
        s.delete(key).await.unwrap();
        assert!(s.open(key, 0).await.unwrap().is_none());

        let t2 = Id::random();
        drop(s.create(t2).await.unwrap());
        s.discard(t2);
        let t3 = Id::random();
        drop(s.create(t3).await.unwrap());
        assert_eq!(s.sweep_temporaries().await.unwrap(), 1);
    }
}
