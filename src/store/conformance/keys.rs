//! Conformance for editor keys over time and for items seen by the desk (issue 19): a
//! rotated key is what the desk's recipients name at once, and the one "fetched" boolean per
//! item is set only for the desk's own items and read per desk.
#![allow(clippy::expect_used, clippy::panic)]

use crate::ids::Id;
use crate::store::{Editor, ItemRow, MetaStore, SourceRow};

fn editor(name: &str, desk: &str) -> Editor {
    Editor {
        name: name.to_owned(),
        desk: desk.to_owned(),
        recipient: format!("age1old{name}"),
        token_hash: [40; 32],
    }
}

/// Commits one source of `desk` with `n` items; returns the items' ids.
async fn submit(store: &dyn MetaStore, desk: &str, n: usize) -> Vec<Id> {
    let source = SourceRow {
        id: Id::random(),
        desk: desk.to_owned(),
        day: "2026-08-01".to_owned(),
    };
    let items: Vec<ItemRow> = (0..n)
        .map(|_| ItemRow {
            id: Id::random(),
            source: source.id,
            desk: desk.to_owned(),
            day: "2026-08-01".to_owned(),
            size: 10,
            meta_size: 11,
        })
        .collect();
    store
        .commit_submission(&source, None, &items)
        .await
        .expect("commit");
    items.iter().map(|i| i.id).collect()
}

/// Both parts, each on desks of its own.
pub async fn run(store: &dyn MetaStore) {
    rotation(store).await;
    fetched(store).await;
}

/// A rotated recipient replaces the old one in every read of the desk's editors.
pub async fn rotation(store: &dyn MetaStore) {
    let desk = "rot-desk";
    for name in ["rot-a", "rot-b"] {
        store.add_editor(&editor(name, desk)).await.expect("add");
    }
    let ids = submit(store, desk, 1).await;
    assert!(store
        .set_recipient("rot-a", "age1newrot-a")
        .await
        .expect("rotate"));
    assert!(
        !store
            .set_recipient("nobody", "age1x")
            .await
            .expect("rotate"),
        "no editor of that name: false"
    );
    assert_eq!(
        store.desk_recipients(desk).await.expect("recipients"),
        vec!["age1newrot-a".to_owned(), "age1oldrot-b".to_owned()],
        "the desk's recipients name the new key, and only it, at once"
    );
    let (_, editors) = store
        .item_with_editors(ids[0])
        .await
        .expect("item")
        .expect("listed");
    let a = editors.iter().find(|e| e.name == "rot-a").expect("rot-a");
    assert_eq!(a.recipient, "age1newrot-a");
    assert_eq!(a.token_hash, [40; 32], "the token is not touched");
}

/// The fetched flag: set for the desk's own items only, read per desk, gone with the item.
pub async fn fetched(store: &dyn MetaStore) {
    let (mine, other) = ("seen-desk", "seen-other");
    let a = submit(store, mine, 3).await;
    let b = submit(store, other, 1).await;
    assert!(
        store.fetched_items(mine).await.expect("read").is_empty(),
        "a new item is not fetched"
    );
    let asked = [a[0], a[2], b[0], Id::random()];
    assert_eq!(
        store.mark_fetched(mine, &asked).await.expect("mark"),
        2,
        "only the desk's own items are marked"
    );
    let mut want = vec![a[0], a[2]];
    want.sort_by_key(Id::to_string);
    assert_eq!(store.fetched_items(mine).await.expect("read"), want);
    assert!(
        store.fetched_items(other).await.expect("read").is_empty(),
        "another desk's item is not marked by this desk's editor"
    );
    assert_eq!(
        store.mark_fetched(mine, &asked).await.expect("mark again"),
        0,
        "marking twice changes nothing"
    );
    assert_eq!(store.mark_fetched(mine, &[]).await.expect("none"), 0);
    assert!(store.delete_item(a[0]).await.expect("delete"));
    assert_eq!(
        store.fetched_items(mine).await.expect("read"),
        vec![a[2]],
        "a deleted item leaves no flag"
    );
}
