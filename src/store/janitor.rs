//! The janitor: removes what no committed row owns, on whichever node holds its lease.
//!
//! An upload writes its objects under their final keys and the metadata commit makes them
//! items. What a crash, a refused request or a lost connection leaves behind — a completed
//! object that no row names, a temporary file, an S3 incomplete multipart upload — is garbage.
//! The janitor removes it, but only once it is older than the grace period, which is longer
//! than any upload may take (intake cuts a request at half of it): an object younger than
//! that may belong to a submission still arriving at some node. Nothing is removed at
//! start-up, when other nodes may be in the middle of uploads.

use std::sync::Arc;
use std::time::Duration;

use super::{retention, BlobStore, MetaStore, Result};
use crate::config::Desk;

/// What one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Uploads begun and never completed nor aborted.
    pub stale_uploads: usize,
    /// Completed objects that no committed row names.
    pub orphans: usize,
}

/// One pass, if this node gets the lease; `None` if another node holds it.
pub async fn pass(
    blobs: &dyn BlobStore,
    meta: &dyn MetaStore,
    grace: Duration,
) -> Result<Option<Swept>> {
    let Some(_lease) = meta.janitor_lease().await? else {
        return Ok(None);
    };
    let stale_uploads = blobs.sweep_stale_uploads(grace).await?;
    // Listed before the rows are read: an object completed since is younger than the grace
    // period anyway, and one committed since is among the rows.
    let old: Vec<_> = blobs
        .list()
        .await?
        .into_iter()
        .filter(|l| l.age > grace)
        .collect();
    let mut orphans = 0;
    if !old.is_empty() {
        let live = meta.item_ids().await?;
        for l in old.iter().filter(|l| !live.contains(&l.key.id)) {
            blobs.delete(l.key).await?;
            orphans += 1;
        }
    }
    Ok(Some(Swept {
        stale_uploads,
        orphans,
    }))
}

/// Runs a pass every `every`, for as long as the server runs, followed by a retention pass
/// ([`super::retention`]) if some desk has a retention. A failed pass (a store down) is tried
/// again at the next tick; it says nothing about any source, so it is not logged beyond its
/// kind.
pub async fn run(
    blobs: Arc<dyn BlobStore>,
    meta: Arc<dyn MetaStore>,
    grace: Duration,
    every: Duration,
    desks: Vec<Desk>,
) {
    let retains = desks.iter().any(|d| d.retention_days > 0);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = pass(blobs.as_ref(), meta.as_ref(), grace).await {
            tracing::warn!(error = %e, "janitor pass failed; trying again later");
        }
        if retains {
            retention::logged_pass(blobs.as_ref(), meta.as_ref(), &desks).await;
        }
    }
}
