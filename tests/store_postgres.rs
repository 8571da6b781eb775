//! The PostgreSQL metadata store against a real PostgreSQL: the conformance suite, copies
//! between engines, an outage, and no time of day in the schema.

use std::time::{Duration, Instant};

use sanduq::store::conformance::meta;
use sanduq::store::postgres::PgMetaStore;
use sanduq::store::sqlite::SqliteMetaStore;
use sanduq::store::{Error, MetaStore};

use crate::common::pg::PgCluster;
use crate::common::{fetch, manifest, Part, Server, Visitor};

async fn store(url: &str) -> PgMetaStore {
    PgMetaStore::connect(url)
        .await
        .expect("connect to PostgreSQL")
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_keeps_every_promise() {
    let pg = PgCluster::start();
    let url = pg.database("conformance").await;
    let a = store(&url).await;
    meta::run(&a).await;
    // A second node on the same database: the schema is already there, and the lease is
    // one for both.
    let b = store(&url).await;
    assert_eq!(a.editors().await.unwrap(), b.editors().await.unwrap());
    let held = a.janitor_lease().await.unwrap();
    assert!(held.is_some());
    assert!(
        b.janitor_lease().await.unwrap().is_none(),
        "another node does not get a held lease"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_move_between_sqlite_and_postgres() {
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteMetaStore::open(&dir.path().join("a.sqlite"))
        .await
        .unwrap();
    let to_pg = store(&pg.database("from_sqlite").await).await;
    meta::dump_restore(&sqlite, &to_pg).await;
    // And back: a PostgreSQL install moved to SQLite.
    let from_pg = store(&pg.database("to_sqlite").await).await;
    let back = SqliteMetaStore::open(&dir.path().join("b.sqlite"))
        .await
        .unwrap();
    meta::dump_restore(&from_pg, &back).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_postgres_is_unavailable_then_the_same_store_recovers() {
    let pg = PgCluster::start();
    let s = store(&pg.url()).await;
    s.pepper_fingerprint(&[3; 32])
        .await
        .expect("a call while up");
    pg.stop();
    for what in ["editors", "lease"] {
        let started = Instant::now();
        let res = match what {
            "editors" => s.editors().await.map(|_| ()),
            _ => s.janitor_lease().await.map(|_| ()),
        };
        assert!(
            matches!(res, Err(Error::Unavailable(_))),
            "{what} while PostgreSQL is stopped: Unavailable, got {res:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what} failed in {:?}, not within 10 s",
            started.elapsed()
        );
    }
    pg.start_again();
    assert_eq!(
        s.pepper_fingerprint(&[4; 32])
            .await
            .expect("the same store works again"),
        [3; 32]
    );
    assert!(s.editors().await.expect("and again").is_empty());
    assert!(s.janitor_lease().await.expect("lease").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_column_holds_a_time_of_day() {
    let pg = PgCluster::start();
    let s = store(&pg.url()).await;
    let pool = s.pool();
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text \
         FROM information_schema.columns WHERE table_schema = current_schema() \
         AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let tables: std::collections::BTreeSet<&str> =
        columns.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(
        tables.into_iter().collect::<Vec<_>>(),
        ["editors", "install", "items", "notify", "replies", "sessions", "sources"],
        "the schema's tables"
    );
    for (table, column, ty) in &columns {
        let ty = ty.to_lowercase();
        assert!(
            !ty.contains("time") && !ty.contains("date") && !ty.contains("interval"),
            "{table}.{column} is of type {ty}: no time in any column"
        );
    }
    let (applied, with_time): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(*) FILTER \
         (WHERE installed_on <> date_trunc('day', installed_on, 'UTC')) FROM _sqlx_migrations",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(applied > 0, "the migrations are recorded");
    assert_eq!(with_time, 0, "installed_on keeps the day only");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_keeps_its_metadata_in_postgres() {
    let pg = PgCluster::start();
    let url = pg.database("install").await;
    let mut server = Server::configured(|c| {
        c.set("store.metadata", url.as_str());
    });
    let ed = server.add_editor("ana", None);
    server.start();
    let v = Visitor::new(&server).await;
    let (status, _) = v
        .submit(&server, &[Part::text("message", b"held in postgres")])
        .await;
    assert_eq!(status, 200);
    let bundle = server.dir.path().join("b");
    let o = fetch(&server, &ed, &bundle);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fetched = manifest(&bundle)["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The rows are in PostgreSQL: the editor `admin` registered, the item serve committed.
    let s = store(&url).await;
    let names: Vec<String> = s
        .editors()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["ana"]);
    let items = s.items_for_desk("default").await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].id.to_string(), fetched);
}
