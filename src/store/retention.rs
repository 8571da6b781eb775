//! Retention: what a desk's `retention_days` removes, on whichever node holds the janitor's
//! lease.
//!
//! An item is kept for `retention_days` whole UTC days after its day of receipt; from the day
//! after, a pass deletes its row and both its objects — whether an editor fetched it or not.
//! A source that has not been active (sent, logged in, read its replies) for as long loses
//! its row, its login with it, and its replies (rows and objects), once it has no item left.
//! Rows go before objects: an object whose delete fails is an orphan, which the janitor
//! removes after its grace period. Days are compared, never times: the server keeps no time
//! finer than the day.

use time::{Date, Duration};

use super::{BlobKey, BlobStore, MetaStore, Result};
use crate::config::Desk;
use crate::ids::format_day;

/// How many rows one query hands over at a time: bounds a pass's memory, however much expires.
const BATCH: u32 = 500;

/// What one pass removed: counts only, never which.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    /// Items (content, metadata and row).
    pub items: u64,
    /// Sources (row and login).
    pub sources: u64,
    /// Replies to those sources (object and row).
    pub replies: u64,
}

/// The first day an item received on `day` is no longer kept under a retention of `days`
/// (not 0): the day a pass may delete it. `None` past the calendar's end.
pub fn expires_on(day: Date, days: u32) -> Option<Date> {
    day.checked_add(Duration::days(i64::from(days) + 1))
}

/// Items received, and sources last active, before the day this returns are gone on `today`.
fn kept_since(today: Date, days: u32) -> Option<Date> {
    today.checked_sub(Duration::days(i64::from(days)))
}

/// One pass over every desk with a retention, if this node gets the lease; `None` if another
/// node holds it.
pub async fn pass(
    blobs: &dyn BlobStore,
    meta: &dyn MetaStore,
    desks: &[Desk],
    today: Date,
) -> Result<Option<Expired>> {
    let Some(_lease) = meta.janitor_lease().await? else {
        return Ok(None);
    };
    let mut expired = Expired::default();
    for desk in desks.iter().filter(|d| d.retention_days > 0) {
        let Some(since) = kept_since(today, desk.retention_days) else {
            continue;
        };
        let since = format_day(since);
        expired.items += expire_items(blobs, meta, &desk.name, &since).await?;
        let (sources, replies) =
            expire_sources(blobs, meta, &desk.name, &since, &format_day(today)).await?;
        expired.sources += sources;
        expired.replies += replies;
    }
    Ok(Some(expired))
}

/// Deletes every item of `desk` received before `since`, a batch at a time: rows, then
/// objects; returns how many.
async fn expire_items(
    blobs: &dyn BlobStore,
    meta: &dyn MetaStore,
    desk: &str,
    since: &str,
) -> Result<u64> {
    let mut n = 0;
    loop {
        let ids = meta.expire_items(desk, since, BATCH).await?;
        for &id in &ids {
            blobs.delete(BlobKey::content(id)).await?;
            blobs.delete(BlobKey::meta(id)).await?;
        }
        n += ids.len() as u64;
        if ids.len() < BATCH as usize {
            return Ok(n);
        }
    }
}

/// Deletes every source of `desk` last active before `since` (with no item left) and its
/// replies, a batch at a time; returns how many of each.
async fn expire_sources(
    blobs: &dyn BlobStore,
    meta: &dyn MetaStore,
    desk: &str,
    since: &str,
    today: &str,
) -> Result<(u64, u64)> {
    let (mut sources, mut replies) = (0, 0);
    loop {
        let (gone, their_replies) = meta.expire_sources(desk, since, today, BATCH).await?;
        for &r in &their_replies {
            blobs.delete(BlobKey::reply(r)).await?;
        }
        sources += gone;
        replies += their_replies.len() as u64;
        if gone < u64::from(BATCH) {
            return Ok((sources, replies));
        }
    }
}

/// One pass on today's date, as the server runs it beside the janitor: what it removed is
/// logged as counts, a failure by its kind only; the next tick tries again.
pub async fn logged_pass(blobs: &dyn BlobStore, meta: &dyn MetaStore, desks: &[Desk]) {
    match pass(blobs, meta, desks, crate::ids::utc_date()).await {
        Ok(Some(e)) if e != Expired::default() => tracing::info!(
            items = e.items,
            sources = e.sources,
            replies = e.replies,
            "retention pass"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "retention pass failed; trying again later"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::parse_day;

    #[test]
    fn an_item_is_kept_for_whole_days_after_its_day() {
        let day = parse_day("2026-01-01").expect("a day");
        let gone = expires_on(day, 30).expect("in range");
        assert_eq!(format_day(gone), "2026-02-01");
        // On the day before, the item is still kept; on that day it is not.
        let kept = kept_since(gone.previous_day().expect("a day"), 30).expect("in range");
        assert!(format_day(day) >= format_day(kept));
        let kept = kept_since(gone, 30).expect("in range");
        assert!(format_day(day) < format_day(kept));
    }
}
