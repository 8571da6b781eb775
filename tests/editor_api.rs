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
async fn bad_tokens_get_the_same_bare_401() {
    let server = Server::start_default();
    let ana = server.add_editor("ana", None);
    let bob = server.add_editor("bob", None);
    let list = format!("{}/api/v1/items", server.api_url());
    let (s, _) = get(&list, Some(&token(&ana))).await;
    assert_eq!(s, 200);
    let none = get(&list, None).await;
    let wrong = get(
        &list,
        Some("sanduq-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    )
    .await;
    assert_eq!(none.0, 401);
    assert_eq!(none, wrong, "the answer reveals nothing about why");

    // A removed editor's token stops working at once, on a running server.
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
    // Downloads and deletes are guarded the same way.
    let id = "0123456789abcdef0123456789abcdef";
    assert_eq!(
        get(
            &format!("{}/api/v1/items/{id}/content", server.api_url()),
            None
        )
        .await,
        none
    );
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let res = c
        .delete(format!("{}/api/v1/items/{id}", server.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_editor_sees_only_its_own_desk() {
    let mut server =
        Server::init(|t| t + "\n[[desk]]\nname = \"lawyers\"\ntitle = \"Lawyers' collective\"\n");
    server.start();
    let ana = server.add_editor("ana", Some("default"));
    let lev = server.add_editor("lev", Some("lawyers"));
    let v = Visitor::new(&server).await;
    let page = v
        .client
        .get(server.source_url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Lawyers&#x27; collective") || page.contains("Lawyers' collective"),
        "desks are offered"
    );
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
    let (s, _) = v
        .submit(&server, &[Part::text("message", b"for the default desk")])
        .await;
    assert_eq!(s, 200);
    let (s, _) = v
        .submit(
            &server,
            &[
                Part::text("desk", b"nosuchdesk"),
                Part::text("message", b"x"),
            ],
        )
        .await;
    assert_eq!(s, 400);

    let list = format!("{}/api/v1/items", server.api_url());
    let (_, a) = get(&list, Some(&token(&ana))).await;
    let (_, l) = get(&list, Some(&token(&lev))).await;
    let a: serde_json::Value = serde_json::from_str(&a).unwrap();
    let l: serde_json::Value = serde_json::from_str(&l).unwrap();
    assert_eq!(a["items"].as_array().unwrap().len(), 1);
    assert_eq!(l["items"].as_array().unwrap().len(), 1);
    assert_eq!(l["items"][0]["desk"], "lawyers");
    let lev_item = l["items"][0]["id"].as_str().unwrap();
    // Ana asking for Lev's item is answered as if it did not exist.
    let (s, _) = get(
        &format!("{}/api/v1/items/{lev_item}/content", server.api_url()),
        Some(&token(&ana)),
    )
    .await;
    assert_eq!(s, 404);
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let res = c
        .delete(format!("{}/api/v1/items/{lev_item}", server.api_url()))
        .header("authorization", format!("Bearer {}", token(&ana)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // Each editor decrypts only its own desk's items; the other desk's key cannot.
    let b_lev = server.dir.path().join("b-lev");
    assert!(fetch(&server, &lev, &b_lev).status.success());
    let out = server.dir.path().join("out-wrong");
    let o = decrypt(&ana.identity, &b_lev, &out);
    assert_eq!(o.status.code(), Some(1));
    assert!(files_under(&out)
        .iter()
        .all(|p| p.file_name().unwrap() == ".sanduq-decrypted"));
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_resume_from_an_offset() {
    let server = Server::start_default();
    let ana = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        v.submit(&server, &[Part::file(b"d.bin", &data)]).await.0,
        200
    );
    let list = format!("{}/api/v1/items", server.api_url());
    let (_, l) = get(&list, Some(&token(&ana))).await;
    let l: serde_json::Value = serde_json::from_str(&l).unwrap();
    let id = l["items"][0]["id"].as_str().unwrap();
    let size = l["items"][0]["size"].as_u64().unwrap();
    let url = format!("{}/api/v1/items/{id}/content", server.api_url());
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let full = c
        .get(&url)
        .header("authorization", format!("Bearer {}", token(&ana)))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(full.len() as u64, size);
    let res = c
        .get(&url)
        .header("authorization", format!("Bearer {}", token(&ana)))
        .header("range", "bytes=1000-")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes 1000-{}/{size}", size - 1).as_str()
    );
    assert_eq!(res.bytes().await.unwrap(), full.slice(1000..));
    let res = c
        .get(&url)
        .header("authorization", format!("Bearer {}", token(&ana)))
        .header("range", format!("bytes={}-", size + 5))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 416);
}
