//! The `MetaStore` conformance suite: [`run`] takes a fresh, empty store and checks every
//! method of the trait; [`dump_restore`] copies one store into another. Each check panics
//! with a sentence naming the promise that broke.
#![allow(clippy::expect_used, clippy::panic)]

use crate::codename::Cost;
use crate::ids::Id;
use crate::store::{
    Dump, Editor, Error, ItemRow, MetaStore, ReplyRow, SessionRow, SourceLogin, SourceRow,
};

/// Every check on one fresh, empty store. Each part uses desks of its own, so they do not
/// see each other's rows.
pub async fn run(store: &dyn MetaStore) {
    editors(store).await;
    submissions(store).await;
    deletes(store).await;
    replies(store).await;
    address_book(store).await;
    install(store).await;
    sessions(store).await;
    lease(store).await;
    // Editor keys over time, and items seen by the desk (issue 19).
    super::keys::run(store).await;
    // Content-free notifications.
    super::notify::run(store).await;
    // Retention (its own file, `conformance::retention`).
    super::retention::retention(store).await;
}

pub(super) fn editor(name: &str, desk: &str, tag: u8) -> Editor {
    Editor {
        name: name.to_owned(),
        desk: desk.to_owned(),
        recipient: format!("age1recipient{name}"),
        token_hash: [tag; 32],
    }
}

pub(super) fn source(desk: &str, day: &str) -> SourceRow {
    SourceRow {
        id: Id::random(),
        desk: desk.to_owned(),
        day: day.to_owned(),
    }
}

pub(super) fn login(tag: u8, cost: Cost) -> SourceLogin {
    SourceLogin {
        login_hash: [tag; 32],
        reply_recipient: format!("age1reply{tag}"),
        cost,
    }
}

pub(super) fn item(source: &SourceRow, day: &str, size: u64) -> ItemRow {
    ItemRow {
        id: Id::random(),
        source: source.id,
        desk: source.desk.clone(),
        day: day.to_owned(),
        size,
        meta_size: size + 1,
    }
}

pub(super) fn reply(source: &SourceRow, day: &str) -> ReplyRow {
    ReplyRow {
        id: Id::random(),
        source: source.id,
        desk: source.desk.clone(),
        day: day.to_owned(),
        size: 99,
    }
}

pub(super) fn cost(memory_kib: u32) -> Cost {
    Cost {
        memory_kib,
        time: 2,
        lanes: 1,
    }
}

/// Editors: add, a taken name, list, token rotation, removal, desk recipients.
pub async fn editors(store: &dyn MetaStore) {
    let ana = editor("ana", "ed-desk", 1);
    let bo = editor("bo", "ed-desk", 2);
    let cy = editor("cy", "ed-other", 3);
    for e in [&bo, &ana, &cy] {
        store.add_editor(e).await.expect("add an editor");
    }
    let taken = store.add_editor(&editor("ana", "ed-other", 9)).await;
    assert!(
        matches!(taken, Err(Error::Exists(_))),
        "a second editor named ana is refused with Exists, got {taken:?}"
    );
    let listed = store.editors().await.expect("list editors");
    assert_eq!(
        listed,
        vec![ana.clone(), bo.clone(), cy.clone()],
        "every editor, by name"
    );
    assert_eq!(
        store.desk_recipients("ed-desk").await.expect("recipients"),
        vec![ana.recipient.clone(), bo.recipient.clone()],
        "a desk's recipients are its editors' only"
    );
    assert!(store
        .desk_recipients("ed-none")
        .await
        .expect("recipients")
        .is_empty());

    assert!(store.set_token_hash("bo", &[7; 32]).await.expect("rotate"));
    assert!(!store
        .set_token_hash("nobody", &[7; 32])
        .await
        .expect("rotate"));
    let bo_now = store.editors().await.expect("list editors");
    let bo_now = bo_now.iter().find(|e| e.name == "bo").expect("bo listed");
    assert_eq!(bo_now.token_hash, [7; 32], "the new token hash is stored");

    assert!(store.remove_editor("cy").await.expect("remove"));
    assert!(
        !store.remove_editor("cy").await.expect("remove again"),
        "cy is gone"
    );
    let names: Vec<String> = store
        .editors()
        .await
        .expect("list editors")
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["ana", "bo"], "a removed editor is no longer listed");
}

/// Submissions: one transaction per submission, a source written once, logins, listings.
pub async fn submissions(store: &dyn MetaStore) {
    let desk = "sub-desk";
    store
        .add_editor(&editor("sub-ed", desk, 4))
        .await
        .expect("add an editor");
    let s = source(desk, "2026-11-02");
    let first = [item(&s, "2026-11-02", 10), item(&s, "2026-11-02", 20)];
    assert!(
        store.items_for_desk(desk).await.expect("items").is_empty(),
        "nothing is listed before a commit"
    );
    store
        .commit_submission(&s, Some(&login(40, cost(1024))), &first)
        .await
        .expect("first submission");
    // The same source writes again, later: its row stays as it was first written.
    let again = SourceRow {
        day: "2026-11-05".into(),
        ..s.clone()
    };
    let second = [item(&s, "2026-11-05", 30)];
    store
        .commit_submission(&again, None, &second)
        .await
        .expect("second submission of the same source");
    // An item whose id is taken fails the whole submission: none of its items is listed.
    let broken = [item(&s, "2026-11-06", 1), first[0].clone()];
    assert!(
        store.commit_submission(&s, None, &broken).await.is_err(),
        "a submission with a taken item id fails"
    );
    assert_eq!(
        store.item(broken[0].id).await.expect("item"),
        None,
        "a failed submission leaves none of its items"
    );

    let by_login = store.source_by_login(&[40; 32]).await.expect("by login");
    assert_eq!(
        by_login,
        Some(s.clone()),
        "the source as first written, found by login"
    );
    assert_eq!(
        store.source_by_login(&[41; 32]).await.expect("by login"),
        None
    );

    // A second source of the same desk, with items on an earlier and a later day.
    let t = source(desk, "2026-11-01");
    let third = [item(&t, "2026-11-03", 5), item(&t, "2026-11-01", 6)];
    store
        .commit_submission(&t, None, &third)
        .await
        .expect("another source");
    let mut want: Vec<ItemRow> = first.iter().chain(&second).chain(&third).cloned().collect();
    want.sort_by_key(|i| (i.day.clone(), i.id.to_string()));
    assert_eq!(
        store.items_for_desk(desk).await.expect("items"),
        want,
        "every item of the desk, by day then id"
    );
    assert!(store
        .items_for_desk("sub-other")
        .await
        .expect("items")
        .is_empty());
    assert_eq!(
        store.item(second[0].id).await.expect("item"),
        Some(second[0].clone())
    );
    assert_eq!(store.item(Id::random()).await.expect("item"), None);

    sources_and_editors(store, desk, &s, &t, &third, &want).await;
}

/// After [`submissions`]: a source's row and reply recipient, an item with its desk's
/// editors, the item ids, the sources with items. `s` logged in, `t` did not; `third` is
/// `t`'s items, `all` every item of `desk`.
async fn sources_and_editors(
    store: &dyn MetaStore,
    desk: &str,
    s: &SourceRow,
    t: &SourceRow,
    third: &[ItemRow],
    all: &[ItemRow],
) {
    let info = store.source(s.id).await.expect("source").expect("s exists");
    assert_eq!((info.id, info.day.as_str()), (s.id, "2026-11-02"));
    assert_eq!(info.reply_recipient.as_deref(), Some("age1reply40"));
    let t_info = store.source(t.id).await.expect("source").expect("t exists");
    assert_eq!(
        t_info.reply_recipient, None,
        "a source without a login has no recipient"
    );
    assert_eq!(store.source(Id::random()).await.expect("source"), None);
    store
        .set_reply_recipient(s.id, "age1moved")
        .await
        .expect("set the reply recipient");
    let moved = store.source(s.id).await.expect("source").expect("s exists");
    assert_eq!(moved.reply_recipient.as_deref(), Some("age1moved"));

    let (it, eds) = store
        .item_with_editors(third[0].id)
        .await
        .expect("item with editors")
        .expect("an item of a desk with an editor");
    assert_eq!(it, third[0]);
    assert_eq!(
        eds,
        vec![editor("sub-ed", desk, 4)],
        "the desk's editors with the item"
    );

    // A desk without editors: the item is there, but item_with_editors gives nothing.
    let lone = source("sub-lonely", "2026-11-02");
    let lone_item = item(&lone, "2026-11-02", 1);
    store
        .commit_submission(&lone, None, std::slice::from_ref(&lone_item))
        .await
        .expect("submission to a desk without editors");
    assert_eq!(
        store
            .item_with_editors(lone_item.id)
            .await
            .expect("item with editors"),
        None,
        "no item with editors when its desk has no editor"
    );
    assert_eq!(
        store.item_with_editors(Id::random()).await.expect("absent"),
        None
    );

    let ids = store.item_ids().await.expect("item ids");
    for i in all {
        assert!(ids.contains(&i.id), "item_ids lists every item");
    }
    let with: Vec<Id> = store
        .sources_with_items(desk)
        .await
        .expect("sources with items")
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(with, vec![t.id, s.id], "sources with items, by first day");
}

/// Deleting items: true once, false after, and a source without items is left out.
pub async fn deletes(store: &dyn MetaStore) {
    let desk = "del-desk";
    let s = source(desk, "2026-10-01");
    let kept = source(desk, "2026-10-02");
    let gone = item(&s, "2026-10-01", 1);
    let stays = item(&kept, "2026-10-02", 2);
    store
        .commit_submission(&s, None, std::slice::from_ref(&gone))
        .await
        .expect("commit");
    store
        .commit_submission(&kept, None, std::slice::from_ref(&stays))
        .await
        .expect("commit");
    assert!(
        store.delete_item(gone.id).await.expect("delete"),
        "a present item is deleted"
    );
    assert!(
        !store.delete_item(gone.id).await.expect("delete again"),
        "then it is absent"
    );
    assert_eq!(store.item(gone.id).await.expect("item"), None);
    assert!(!store.item_ids().await.expect("ids").contains(&gone.id));
    let with: Vec<Id> = store
        .sources_with_items(desk)
        .await
        .expect("sources with items")
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(
        with,
        vec![kept.id],
        "a source whose items are all deleted is left out"
    );
    assert!(
        store.source(s.id).await.expect("source").is_some(),
        "the source row stays"
    );
}

/// Replies: added, listed by day, deleted only by their own source.
pub async fn replies(store: &dyn MetaStore) {
    let s = source("rep-desk", "2026-09-01");
    let other = source("rep-desk", "2026-09-01");
    store
        .commit_submission(&s, None, &[])
        .await
        .expect("source");
    store
        .commit_submission(&other, None, &[])
        .await
        .expect("source");
    let later = reply(&s, "2026-09-03");
    let earlier = reply(&s, "2026-09-02");
    store.add_reply(&later).await.expect("add a reply");
    store.add_reply(&earlier).await.expect("add a reply");
    assert_eq!(
        store.replies_for_source(s.id).await.expect("replies"),
        vec![earlier.clone(), later.clone()],
        "a source's replies, oldest day first"
    );
    assert!(store
        .replies_for_source(other.id)
        .await
        .expect("replies")
        .is_empty());
    assert!(
        store.item_ids().await.expect("ids").contains(&later.id),
        "item_ids lists replies too"
    );
    assert!(
        !store
            .delete_reply(other.id, later.id)
            .await
            .expect("delete"),
        "another source cannot delete the reply"
    );
    assert!(store.delete_reply(s.id, later.id).await.expect("delete"));
    assert!(!store
        .delete_reply(s.id, later.id)
        .await
        .expect("delete again"));
    assert_eq!(
        store.replies_for_source(s.id).await.expect("replies"),
        vec![earlier]
    );
}

/// Sync (issue 20): a desk's replies, and its address book paged by (day, id) whether or
/// not its sources still have items.
pub async fn address_book(store: &dyn MetaStore) {
    let mut sources: Vec<SourceRow> = ["2026-10-02", "2026-10-01", "2026-10-02", "2026-10-03"]
        .iter()
        .map(|d| source("book-desk", d))
        .collect();
    let elsewhere = source("book-other", "2026-10-01");
    for s in sources.iter().chain([&elsewhere]) {
        let items = [item(s, &s.day, 3)];
        store
            .commit_submission(s, None, &items)
            .await
            .expect("source");
    }
    // One source's items all deleted: it stays in the address book.
    let gone = store.items_for_desk("book-desk").await.expect("items")[0].clone();
    assert!(store.delete_item(gone.id).await.expect("delete"));
    sources.sort_by(|a, b| (&a.day, a.id).cmp(&(&b.day, b.id)));
    let ids = |page: Vec<crate::store::SourceInfo>| page.iter().map(|s| s.id).collect::<Vec<_>>();
    let all = store
        .sources_after("book-desk", ("", None), 10)
        .await
        .expect("page");
    assert_eq!(
        ids(all),
        sources.iter().map(|s| s.id).collect::<Vec<_>>(),
        "every source of the desk, by day then id, with items or without"
    );
    let first = store
        .sources_after("book-desk", ("", None), 2)
        .await
        .expect("page");
    assert_eq!(
        ids(first),
        vec![sources[0].id, sources[1].id],
        "a page is bounded"
    );
    let next = store
        .sources_after("book-desk", ("2026-10-02", Some(sources[1].id)), 2)
        .await
        .expect("page");
    assert_eq!(
        ids(next),
        vec![sources[2].id, sources[3].id],
        "the next page"
    );
    let since = store
        .sources_after("book-desk", ("2026-10-02", None), 10)
        .await
        .expect("page");
    assert_eq!(ids(since).len(), 3, "a whole day and after");
    let r1 = reply(&sources[1], "2026-10-05");
    let r0 = reply(&sources[0], "2026-10-04");
    let other = reply(&elsewhere, "2026-10-04");
    for r in [&r1, &r0, &other] {
        store.add_reply(r).await.expect("add a reply");
    }
    assert_eq!(
        store.replies_for_desk("book-desk").await.expect("replies"),
        vec![r0, r1],
        "a desk's replies, by day, and no other desk's"
    );
}

/// The install's pepper fingerprint, and argon2 costs: assumed, then listed newest first.
pub async fn install(store: &dyn MetaStore) {
    assert_eq!(
        store.pepper_fingerprint(&[1; 32]).await.expect("record"),
        [1; 32]
    );
    assert_eq!(
        store.pepper_fingerprint(&[2; 32]).await.expect("check"),
        [1; 32],
        "the first fingerprint recorded stays"
    );

    let a = cost(2048);
    let b = cost(4096);
    // Three sources with logins, given costs a, b, then a again: a is the newest.
    for (tag, c) in [(60, a), (61, b), (62, a)] {
        let s = source("cost-desk", "2026-08-01");
        store
            .commit_submission(&s, Some(&login(tag, c)), &[])
            .await
            .expect("a source with a login");
    }
    let costs = store.source_costs().await.expect("costs");
    assert!(
        costs.starts_with(&[a, b]),
        "distinct costs, the most recently given first: {costs:?}"
    );
    assert_eq!(
        costs.iter().filter(|c| **c == a).count(),
        1,
        "each cost once"
    );
    assert_eq!(
        store.assume_cost(cost(512)).await.expect("assume"),
        0,
        "every login here has a recorded cost"
    );
}

/// Sessions: stored and read back byte for byte, updated only while they exist, deleted,
/// and swept by their sweep time only.
pub async fn sessions(store: &dyn MetaStore) {
    let session = |tag: u8, after: u64| SessionRow {
        id: [tag; 32],
        sealed: vec![tag; 100 + usize::from(tag)],
        sweep_after_ms: after,
    };
    let (a, b, c) = (session(1, 1_000), session(2, 2_000), session(3, 3_000));
    for s in [&a, &b, &c] {
        store.put_session(s).await.expect("put a session");
    }
    assert!(
        matches!(
            store.put_session(&session(1, 9)).await,
            Err(Error::Exists(_))
        ),
        "a session id is taken twice"
    );
    assert_eq!(store.session(&a.id).await.expect("read"), Some(a.clone()));
    assert_eq!(store.session(&[9; 32]).await.expect("read"), None);

    let moved = SessionRow {
        sealed: vec![7; 80],
        sweep_after_ms: 4_000,
        ..b.clone()
    };
    assert!(store.update_session(&moved).await.expect("update"));
    assert_eq!(store.session(&b.id).await.expect("read"), Some(moved));
    assert!(
        !store.update_session(&session(9, 1)).await.expect("update"),
        "an update made a session that was not there"
    );
    assert_eq!(store.session(&[9; 32]).await.expect("read"), None);

    assert!(store.delete_session(&c.id).await.expect("delete"));
    assert!(!store.delete_session(&c.id).await.expect("delete"));
    assert!(
        !store.update_session(&c).await.expect("update"),
        "a deleted session came back"
    );
    assert_eq!(store.session(&c.id).await.expect("read"), None);

    // Swept at its sweep time exactly, not before.
    assert_eq!(store.sweep_sessions(999).await.expect("sweep"), 0);
    assert_eq!(store.sweep_sessions(1_000).await.expect("sweep"), 1);
    assert_eq!(store.session(&a.id).await.expect("read"), None);
    assert!(store.session(&b.id).await.expect("read").is_some());
    assert_eq!(store.sweep_sessions(u64::MAX >> 1).await.expect("sweep"), 1);
    assert_eq!(store.session(&b.id).await.expect("read"), None);
}

/// The janitor's lease: one holder at a time, free again once dropped.
pub async fn lease(store: &dyn MetaStore) {
    let held = store.janitor_lease().await.expect("lease");
    assert!(held.is_some(), "a free lease is taken");
    assert!(
        store.janitor_lease().await.expect("lease").is_none(),
        "a held lease is not given twice"
    );
    drop(held);
    // The engine may take a moment to see the holder go (PostgreSQL: its session end).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if store.janitor_lease().await.expect("lease").is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a dropped lease is free again within 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Fills `a` (fresh), dumps it, restores into `b` (fresh, maybe another engine) twice, and
/// checks that `b` then answers as `a` does.
pub async fn dump_restore(a: &dyn MetaStore, b: &dyn MetaStore) {
    let desk = "dr-desk";
    a.add_editor(&editor("dr-ed", desk, 5))
        .await
        .expect("editor");
    a.pepper_fingerprint(&[8; 32]).await.expect("pepper");
    let mut sources = Vec::new();
    // Costs given in the order x, y, x: after the copy x must still be the newest.
    let (x, y) = (cost(3000), cost(5000));
    for (tag, c) in [(70, x), (71, y), (72, x)] {
        let s = source(desk, "2026-07-01");
        let items = [item(&s, "2026-07-02", u64::from(tag))];
        a.commit_submission(&s, Some(&login(tag, c)), &items)
            .await
            .expect("commit");
        if tag == 71 {
            // Items seen by the desk (issue 19): the flag travels too.
            a.mark_fetched(desk, &[items[0].id]).await.expect("mark");
        }
        sources.push(s);
    }
    let quiet = source(desk, "2026-07-03");
    a.commit_submission(&quiet, None, &[])
        .await
        .expect("a source without items");
    a.add_reply(&reply(&sources[0], "2026-07-04"))
        .await
        .expect("reply");

    let dump = a.dump().await.expect("dump");
    assert_eq!(dump.editors.len(), 1);
    assert_eq!(dump.sources.len(), 4, "every source, with or without items");
    let order: Vec<Id> = dump.sources.iter().map(|(s, _)| s.id).collect();
    let mut want: Vec<Id> = sources.iter().map(|s| s.id).collect();
    want.push(quiet.id);
    assert_eq!(order, want, "sources in the order they were first written");
    assert_eq!(
        dump.sources[0].1,
        Some(login(70, x)),
        "logins travel with their cost"
    );
    assert_eq!(dump.sources[3].1, None);
    assert_eq!(dump.items.len(), 3);
    assert_eq!(dump.replies.len(), 1);
    assert_eq!(dump.fetched.len(), 1, "the fetched flag is dumped");
    assert_eq!(dump.pepper_fingerprint, Some([8; 32]));

    b.restore(&dump).await.expect("restore");
    assert_eq!(
        b.dump().await.expect("dump the copy"),
        dump,
        "the copy holds every row"
    );
    // Re-running after an interruption: rows already there are kept, nothing doubles.
    b.restore(&dump).await.expect("restore again");
    assert_eq!(
        b.dump().await.expect("dump the copy"),
        dump,
        "a second restore adds nothing"
    );
    assert_eq!(
        b.source_costs().await.expect("costs"),
        vec![x, y],
        "newest cost first"
    );
    assert_eq!(
        b.source_by_login(&[71; 32])
            .await
            .expect("login")
            .map(|s| s.id),
        Some(sources[1].id)
    );
    assert_eq!(
        b.items_for_desk(desk).await.expect("items"),
        a.items_for_desk(desk).await.expect("items")
    );
    assert_eq!(
        b.pepper_fingerprint(&[9; 32]).await.expect("pepper"),
        [8; 32]
    );

    // A restore into a store of another install (another pepper) is refused, whole.
    let other = Dump {
        pepper_fingerprint: Some([9; 32]),
        editors: vec![editor("dr-intruder", desk, 6)],
        ..Dump::default()
    };
    assert!(
        matches!(b.restore(&other).await, Err(Error::Exists(_))),
        "a dump of another pepper is refused"
    );
    assert_eq!(
        b.editors().await.expect("editors").len(),
        1,
        "and writes nothing"
    );
}

#[cfg(test)]
mod tests {
    use crate::store::sqlite::SqliteMetaStore;

    #[tokio::test]
    async fn sqlite_keeps_every_promise() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteMetaStore::open(&dir.path().join("meta.sqlite"))
            .await
            .expect("open");
        super::run(&store).await;
    }

    #[tokio::test]
    async fn sqlite_dumps_and_restores() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = SqliteMetaStore::open(&dir.path().join("a.sqlite"))
            .await
            .expect("open");
        let b = SqliteMetaStore::open(&dir.path().join("b.sqlite"))
            .await
            .expect("open");
        super::dump_restore(&a, &b).await;
    }
}
