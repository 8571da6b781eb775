//! The editor API as operators change it under a running server: a removed editor or a
//! rotated token stops working at once, and another desk's key decrypts nothing the CLI
//! fetched. The API's answers to tokens, desks and ranges need no process: they are in
//! tests/inprocess/api.rs.

use crate::common::*;

async fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut req = c.get(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn token(ed: &EditorKeys) -> String {
    std::fs::read_to_string(&ed.token_file)
        .unwrap()
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn removed_editors_and_rotated_tokens_stop_at_once_on_a_running_server() {
    let server = Server::start_default();
    let ana = server.add_editor("ana", None);
    let bob = server.add_editor("bob", None);
    let list = format!("{}/api/v1/items", server.api_url());
    assert_eq!(get(&list, Some(&token(&bob))).await.0, 200);
    let none = get(&list, None).await;
    assert_eq!(none.0, 401);

    sanduq_ok(&[
        "admin",
        "editor",
        "remove",
        "--config",
        server.config.to_str().unwrap(),
        "--name",
        "bob",
    ]);
    assert_eq!(get(&list, Some(&token(&bob))).await, none);
    // A rotated token replaces the old one.
    let old = token(&ana);
    let new = sanduq_ok(&[
        "admin",
        "token",
        "rotate",
        "--config",
        server.config.to_str().unwrap(),
        "--name",
        "ana",
    ]);
    assert_eq!(get(&list, Some(&old)).await, none);
    assert_eq!(get(&list, Some(new.trim())).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_desks_key_decrypts_nothing_fetched() {
    let mut server = Server::configured(|c| {
        c.desk("lawyers", Some("Lawyers' collective"));
    });
    server.start();
    let ana = server.add_editor("ana", Some("default"));
    let lev = server.add_editor("lev", Some("lawyers"));
    let v = Visitor::new(&server).await;
    let (s, _) = v
        .submit(
            &server,
            &[
                Part::text("desk", b"lawyers"),
                Part::text("message", b"for the lawyers"),
            ],
        )
        .await;
    assert_eq!(s, 200);
    let b_lev = server.dir.path().join("b-lev");
    assert!(fetch(&server, &lev, &b_lev).status.success());
    let out = server.dir.path().join("out-wrong");
    let o = decrypt(&ana.identity, &b_lev, &out);
    assert_eq!(o.status.code(), Some(1));
    assert!(files_under(&out)
        .iter()
        .all(|p| p.file_name().unwrap() == ".sanduq-decrypted"));
}
