//! Content-free notifications: an editor who opted in is told that *something* arrived on
//! their desk — nothing more.
//!
//! A notice carries no content, count, source, filename or time finer than the day, and its
//! timing must not tell when a source wrote. So a submission only marks its desk's
//! subscriptions pending; each period (a day unless the operator shortens it) every
//! subscription gets a moment drawn at random inside the period, and only at that moment is
//! "pending" turned into "a notice is owed". Whatever arrives after the moment waits for the
//! next period's moment. At most one notice per subscription is delivered in a period; a
//! failed delivery is tried again at the next tick and logged without the address.
//!
//! The work runs on whichever node holds the janitor's lease, so that several nodes send one
//! notice, not one each. The state (pending, owed, the period's moment, the last period a
//! notice went out) is in the `MetaStore`.

mod send;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;

use crate::config::notify::NotifyConfig;
use crate::store::{MetaStore, NotifyRow};

pub use send::{check_address, Error, Sender, BODY, SUBJECT};

/// What one pass did, for tests and logs (counts only).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Notices delivered.
    pub sent: usize,
    /// Deliveries that failed and will be tried again.
    pub failed: usize,
}

/// The period a moment falls in, and how far into it: whole periods since the Unix epoch.
fn period_of(now: Duration, period: Duration) -> (u64, u64) {
    let (now, len) = (now.as_secs(), period.as_secs().max(1));
    (now / len, now % len)
}

/// One pass over every subscription, if this node gets the lease; `None` if another node
/// holds it.
pub async fn pass(
    meta: &dyn MetaStore,
    sender: &Sender,
    period: Duration,
    now: Duration,
) -> crate::store::Result<Option<Pass>> {
    let Some(_lease) = meta.janitor_lease().await? else {
        return Ok(None);
    };
    let mut done = Pass::default();
    for row in meta.notify_rows().await? {
        if let Some(delivered) = step(meta, sender, &row, period, now).await? {
            if delivered {
                done.sent += 1;
            } else {
                done.failed += 1;
            }
        }
    }
    Ok(Some(done))
}

/// Moves one subscription along: plans this period's moment, turns pending into owed when
/// the moment has come, delivers what is owed if nothing went out this period. Returns
/// whether a delivery was tried and worked.
async fn step(
    meta: &dyn MetaStore,
    sender: &Sender,
    row: &NotifyRow,
    period: Duration,
    now: Duration,
) -> crate::store::Result<Option<bool>> {
    let (current, into) = period_of(now, period);
    let mut moment = row.moment;
    if moment.is_none_or(|(p, _)| p < current) {
        let offset = rand::rngs::OsRng.gen_range(0..period.as_secs().max(1));
        meta.notify_plan(&row.editor, row.channel, current, offset)
            .await?;
        moment = Some((current, Some(offset)));
    }
    let mut owed = row.owed;
    if let Some((p, Some(offset))) = moment {
        if p == current && into >= offset {
            owed = meta.notify_due(&row.editor, row.channel).await?;
        }
    }
    if !owed || row.sent_period.is_some_and(|s| s >= current) {
        return Ok(None);
    }
    match sender.send(row.channel, &row.address).await {
        Ok(()) => {
            meta.notify_sent(&row.editor, row.channel, current).await?;
            Ok(Some(true))
        }
        Err(e) => {
            // The address and any answer that could quote it stay out of the log.
            tracing::warn!(
                channel = row.channel.as_str(),
                "a notice could not be delivered ({}); trying again later",
                e.kind()
            );
            Ok(Some(false))
        }
    }
}

/// How often the pass runs: often enough to meet a moment within a thirtieth of the period,
/// never more than once every 200 ms nor less than once a minute.
pub fn tick(period: Duration) -> Duration {
    (period / 30).clamp(Duration::from_millis(200), Duration::from_secs(60))
}

/// Runs passes for as long as the server runs. A failed pass (a store down) is tried again
/// at the next tick.
pub async fn run(meta: Arc<dyn MetaStore>, config: NotifyConfig) {
    let sender = match Sender::new(&config) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("notifications are off: {}", e.kind());
            return;
        }
    };
    if config.period < crate::config::notify::DEFAULT_PERIOD {
        tracing::warn!(
            "notify.period_seconds is under a day: a notice's timing narrows down when \
             something arrived (docs/threat-model.md)"
        );
    }
    let mut tick = tokio::time::interval(tick(config.period));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        if let Err(e) = pass(meta.as_ref(), &sender, config.period, now).await {
            tracing::warn!(error = %e, "notification pass failed; trying again later");
        }
    }
}

/// Marks `desk`'s subscriptions pending after a commit. A failure is logged, not returned:
/// the source's submission is stored, and a missed notice is no reason to tell them
/// otherwise.
pub async fn arrived(meta: &dyn MetaStore, desk: &str) {
    if let Err(e) = meta.notify_arrived(desk).await {
        tracing::warn!(error = %e, "could not mark the desk's notices pending");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_whole_periods_since_the_epoch() {
        let day = Duration::from_secs(86400);
        assert_eq!(period_of(Duration::from_secs(86400 * 3 + 5), day), (3, 5));
        assert_eq!(
            period_of(Duration::from_secs(7), Duration::from_secs(3)),
            (2, 1)
        );
    }

    #[test]
    fn the_tick_is_bounded() {
        assert_eq!(tick(Duration::from_secs(86400)), Duration::from_secs(60));
        assert_eq!(tick(Duration::from_secs(1)), Duration::from_millis(200));
        assert_eq!(tick(Duration::from_secs(60)), Duration::from_secs(2));
    }
}
