//! A source's last-activity day, recorded for retention: a source silent for longer than its
//! desk's `retention_days` loses its login and replies (`store::retention`).
//!
//! Activity is what a source does with its codename: sending (a first or a later
//! submission), logging in, and opening the page that shows its replies. Only the UTC day is
//! kept, and only on desks that have a retention: a desk that keeps everything has no use for
//! it, and each recorded day says a little more about when someone came.

use super::AppState;
use crate::ids::{utc_day, Id};

/// Records today as `source`'s last active day, if its desk has a retention. A failure is
/// logged by kind and otherwise ignored: what the source did has succeeded already.
pub(crate) async fn record(st: &AppState, source: Id, desk: &str) {
    let retains = st
        .config
        .desks
        .iter()
        .any(|d| d.name == desk && d.retention_days > 0);
    if !retains {
        return;
    }
    if let Err(e) = st.meta.touch_source(source, &utc_day()).await {
        tracing::warn!("a source's activity day could not be recorded: {e}");
    }
}
