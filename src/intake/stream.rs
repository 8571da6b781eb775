//! One part streamed through age into a blob writer.

use std::io::Write as _;
use std::sync::Arc;

use age::Encryptor;
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use zeroize::Zeroizing;

use super::{Error, Result};
use crate::store::BlobWriter;

/// Plaintext handed from the request parser to the encrypting thread at a time.
const BATCH_BYTES: usize = 256 * 1024;
/// Batches in flight between the two: with the full one being sent, the next one being
/// filled and the one being encrypted, at most `CHANNEL_BATCHES + 3` buffers (1.75 MiB) per
/// part.
const CHANNEL_BATCHES: usize = 4;

/// An encryptor to `recipients`, made on a blocking thread (parsing post-quantum keys is
/// not free).
pub(super) async fn encryptor(recipients: Arc<Vec<String>>) -> Result<Encryptor> {
    tokio::task::spawn_blocking(move || crate::crypto::encryptor(&recipients))
        .await
        .map_err(Error::Task)?
        .map_err(Error::from)
}

/// Streams `chunks` through age into `writer`; returns the plaintext size.
///
/// The chunks are read on the async runtime while a blocking thread encrypts and writes, so
/// the two overlap. Each chunk's bytes are copied into one of a few reused [`BATCH_BYTES`]
/// buffers and full ones are handed over; the encrypting thread hands them back. Sending the
/// parser's own chunks instead kept its buffer shared, so it allocated fresh memory for
/// every chunk: ~58,000 page faults per GiB (measured with `perf`). Memory stays bounded
/// whatever the part's size, and the buffers are wiped when the part ends. If this future
/// is dropped (the client went away), the channel closes without its end mark and the age
/// file is never finished.
pub(super) async fn encrypt<S>(
    mut chunks: S,
    enc: Encryptor,
    writer: BlobWriter,
    limit: u64,
) -> Result<u64>
where
    S: Stream<Item = Result<Bytes>> + Unpin + Send,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<Zeroizing<Vec<u8>>>>(CHANNEL_BATCHES);
    let (give_back, mut returned) = tokio::sync::mpsc::unbounded_channel::<Zeroizing<Vec<u8>>>();
    let worker = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        // age writes whole 64 KiB chunks: a BufWriter here only added a copy (measured).
        let mut out = enc.wrap_output(writer)?;
        loop {
            match rx.blocking_recv() {
                Some(Some(mut batch)) => {
                    out.write_all(&batch)?;
                    batch.clear();
                    // The parser may have finished meanwhile; the buffer is then wiped here.
                    let _ = give_back.send(batch);
                }
                Some(None) => {
                    // Without finish() the age stream's last chunk is never written.
                    out.finish()?.flush()?;
                    return Ok(());
                }
                None => return Err(std::io::Error::other("part abandoned")),
            }
        }
    });
    let mut total = 0u64;
    let fed = async {
        let mut batch = Zeroizing::new(Vec::with_capacity(BATCH_BYTES));
        while let Some(chunk) = chunks.next().await.transpose()? {
            total += chunk.len() as u64;
            if total > limit {
                return Err(Error::TooLarge);
            }
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                let take = rest.len().min(BATCH_BYTES - batch.len());
                batch.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if batch.len() == BATCH_BYTES {
                    let next = returned
                        .try_recv()
                        .unwrap_or_else(|_| Zeroizing::new(Vec::with_capacity(BATCH_BYTES)));
                    if tx
                        .send(Some(std::mem::replace(&mut batch, next)))
                        .await
                        .is_err()
                    {
                        // The writer stopped early: its own error says why.
                        return Ok(());
                    }
                }
            }
        }
        if !batch.is_empty() && tx.send(Some(batch)).await.is_err() {
            return Ok(());
        }
        let _ = tx.send(None).await;
        Ok(())
    }
    .await;
    drop(tx);
    let written = worker.await.map_err(Error::Task)?;
    fed?;
    written.map_err(crate::store::Error::from)?;
    Ok(total)
}
