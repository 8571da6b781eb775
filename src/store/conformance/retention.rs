//! The retention methods of `MetaStore`: a source's last-activity day, the items and sources
//! a desk's retention removes, a source deleted with its login and replies.
#![allow(clippy::expect_used, clippy::panic)]

use super::meta::{cost, item, login, reply, source};
use crate::store::{ItemRow, MetaStore, ReplyRow, SourceRow};

/// Retention on one fresh store (desks of its own).
pub async fn retention(store: &dyn MetaStore) {
    let desk = "ret-desk";
    expiry(store, desk).await;
    clock_starts_at_the_first_pass(store, desk).await;
}

/// The rows [`expiry`] starts from.
struct Rows {
    gone: SourceRow,
    back: SourceRow,
    gone_item: ItemRow,
    back_old: ItemRow,
    back_new: ItemRow,
    other_item: ItemRow,
    reply: ReplyRow,
}

/// Writes the rows: `gone` wrote on 2026-01-01 and never came back; `back` wrote then and
/// again on 2026-02-10; `other` is of another desk. `gone` has a reply.
async fn rows(store: &dyn MetaStore, desk: &str) -> Rows {
    let gone = source(desk, "2026-01-01");
    let back = source(desk, "2026-01-01");
    let other = source("ret-other", "2026-01-01");
    let gone_item = item(&gone, "2026-01-01", 1);
    let back_old = item(&back, "2026-01-01", 2);
    let back_new = item(&back, "2026-02-10", 3);
    let other_item = item(&other, "2026-01-01", 4);
    for (s, tag, items) in [
        (&gone, 201, vec![gone_item.clone()]),
        (&back, 202, vec![back_old.clone(), back_new.clone()]),
        (&other, 203, vec![other_item.clone()]),
    ] {
        store
            .commit_submission(s, Some(&login(tag, cost(1024))), &items)
            .await
            .expect("submission");
    }
    store
        .touch_source(gone.id, "2026-01-01")
        .await
        .expect("touch");
    store
        .touch_source(back.id, "2026-02-10")
        .await
        .expect("touch");
    // An earlier day never replaces a later one.
    store
        .touch_source(back.id, "2026-01-02")
        .await
        .expect("touch");
    let r = reply(&gone, "2026-01-03");
    store.add_reply(&r).await.expect("reply");
    Rows {
        gone,
        back,
        gone_item,
        back_old,
        back_new,
        other_item,
        reply: r,
    }
}

/// Items before a day, stale sources, and a source deleted with its login and replies.
async fn expiry(store: &dyn MetaStore, desk: &str) {
    let Rows {
        gone,
        back,
        gone_item,
        back_old,
        back_new,
        other_item,
        reply: r,
    } = rows(store, desk).await;
    assert_eq!(
        store
            .expire_sources(desk, "2026-02-01", "2026-02-20", 10)
            .await
            .expect("expire sources"),
        (0, vec![]),
        "a source with items left is not deleted"
    );
    let mut expired = store
        .expire_items(desk, "2026-02-01", 1)
        .await
        .expect("expire items");
    assert_eq!(expired.len(), 1, "at most `limit` items");
    expired.extend(
        store
            .expire_items(desk, "2026-02-01", 10)
            .await
            .expect("expire items"),
    );
    expired.sort();
    let mut want = vec![gone_item.id, back_old.id];
    want.sort();
    assert_eq!(
        expired, want,
        "the items of the desk received before the day"
    );
    for id in &expired {
        assert_eq!(store.item(*id).await.expect("item"), None, "expired, gone");
    }
    assert!(store.item(back_new.id).await.expect("item").is_some());
    assert_eq!(
        store
            .expire_sources(desk, "2026-02-01", "2026-02-20", 10)
            .await
            .expect("expire sources"),
        (1, vec![r.id]),
        "only the source last active before the day, with no item left, goes, with its replies"
    );
    assert_eq!(
        store.source(gone.id).await.expect("source"),
        None,
        "its row is gone"
    );
    assert_eq!(
        store.source_by_login(&[201; 32]).await.expect("login"),
        None,
        "its login is gone"
    );
    assert!(
        store
            .replies_for_source(gone.id)
            .await
            .expect("replies")
            .is_empty(),
        "its replies are gone"
    );
    assert!(store.source(back.id).await.expect("source").is_some());
    assert_eq!(
        store.item(other_item.id).await.expect("item"),
        Some(other_item.clone()),
        "another desk's item stays"
    );
}

/// A source with no recorded activity day gets the pass's day: its clock starts then. `desk`
/// has no stale source left.
async fn clock_starts_at_the_first_pass(store: &dyn MetaStore, desk: &str) {
    let quiet = source(desk, "2026-01-01");
    store
        .commit_submission(&quiet, None, &[])
        .await
        .expect("source");
    assert_eq!(
        store
            .expire_sources(desk, "2026-02-20", "2026-02-20", 10)
            .await
            .expect("expire sources"),
        (0, vec![]),
        "a source without an activity day is not stale at once"
    );
    assert_eq!(
        store
            .expire_sources(desk, "2026-02-21", "2026-04-01", 10)
            .await
            .expect("expire sources"),
        (1, vec![]),
        "its activity day is the day of the first pass that looked"
    );
    assert_eq!(store.source(quiet.id).await.expect("source"), None);
}
