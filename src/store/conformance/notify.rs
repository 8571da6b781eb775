//! The notification state of the `MetaStore` (`crate::notify`): subscriptions, pending after
//! an arrival, one moment per period, owed at the moment, sent once per period.
#![allow(clippy::expect_used, clippy::panic)]

use crate::store::{Channel, Editor, MetaStore, NotifyRow};

fn editor(name: &str, desk: &str) -> Editor {
    Editor {
        name: name.to_owned(),
        desk: desk.to_owned(),
        recipient: format!("age1recipient{name}"),
        token_hash: [7; 32],
    }
}

async fn row(store: &dyn MetaStore, name: &str, channel: Channel) -> Option<NotifyRow> {
    store
        .notify_rows()
        .await
        .expect("notify_rows")
        .into_iter()
        .find(|r| r.editor == name && r.channel == channel)
}

/// Subscriptions, pending, planning, due and sent, on desks of its own.
pub async fn run(store: &dyn MetaStore) {
    for (name, desk) in [("nia", "nt-desk"), ("nur", "nt-desk"), ("nod", "nt-other")] {
        store.add_editor(&editor(name, desk)).await.expect("add");
    }
    assert!(
        !store
            .notify_subscribe("nobody", Channel::Email, Some("x@example.org"))
            .await
            .expect("subscribe"),
        "a subscription needs an editor"
    );
    for name in ["nia", "nod"] {
        assert!(store
            .notify_subscribe(name, Channel::Email, Some("old@example.org"))
            .await
            .expect("subscribe"));
    }
    store
        .notify_subscribe("nia", Channel::Email, Some("nia@example.org"))
        .await
        .expect("again");
    store
        .notify_subscribe("nia", Channel::Webhook, Some("https://h.example.org/n"))
        .await
        .expect("webhook");
    let r = row(store, "nia", Channel::Email)
        .await
        .expect("nia by email");
    assert_eq!(
        (r.address.as_str(), r.desk.as_str()),
        ("nia@example.org", "nt-desk")
    );
    assert!(!r.pending && !r.owed && r.moment.is_none() && r.sent_period.is_none());
    assert!(
        row(store, "nur", Channel::Email).await.is_none(),
        "nur never opted in"
    );

    store.notify_arrived("nt-desk").await.expect("arrived");
    assert!(
        row(store, "nia", Channel::Email)
            .await
            .expect("nia")
            .pending
    );
    assert!(
        row(store, "nia", Channel::Webhook)
            .await
            .expect("nia")
            .pending
    );
    assert!(
        !row(store, "nod", Channel::Email)
            .await
            .expect("nod")
            .pending,
        "another desk's arrival leaves nod alone"
    );

    store
        .notify_plan("nia", Channel::Email, 10, 300)
        .await
        .expect("plan");
    store
        .notify_plan("nia", Channel::Email, 9, 5)
        .await
        .expect("plan");
    let r = row(store, "nia", Channel::Email).await.expect("nia");
    assert_eq!(
        r.moment,
        Some((10, Some(300))),
        "an older period does not replace a plan"
    );

    assert!(store.notify_due("nia", Channel::Email).await.expect("due"));
    let r = row(store, "nia", Channel::Email).await.expect("nia");
    assert!(r.owed && !r.pending, "at the moment pending becomes owed");
    assert_eq!(r.moment, Some((10, None)), "the moment is handled");
    store.notify_arrived("nt-desk").await.expect("again");
    store
        .notify_sent("nia", Channel::Email, 10)
        .await
        .expect("sent");
    let r = row(store, "nia", Channel::Email).await.expect("nia");
    assert!(!r.owed && r.pending, "what arrived after the moment waits");
    assert_eq!(r.sent_period, Some(10));
    assert!(
        !store.notify_due("nod", Channel::Email).await.expect("due"),
        "nothing pending, nothing owed"
    );

    assert!(store
        .notify_subscribe("nia", Channel::Webhook, None)
        .await
        .expect("off"));
    assert!(row(store, "nia", Channel::Webhook).await.is_none());
    assert!(store.remove_editor("nia").await.expect("remove"));
    assert!(
        row(store, "nia", Channel::Email).await.is_none(),
        "a removed editor's subscriptions go with it"
    );
}
