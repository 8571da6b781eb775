use crate::common::*;

fn codename_in(page: &str) -> String {
    page.split("id=\"codename\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the codename is shown in id=\"codename\"")
        .to_owned()
}

async fn login(server: &Server, v: &Visitor, codename: &str) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    client
        .post(server.source_url("/login"))
        .header("cookie", &v.cookie)
        .form(&[("csrf_token", v.token.as_str()), ("codename", codename)])
        .send()
        .await
        .unwrap()
}

fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("sanduq_session=") && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_codename_brings_a_source_back_to_the_same_record() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let (s, page) = v
        .submit(&server, &[Part::text("message", b"first visit")])
        .await;
    assert_eq!(s, 200);
    let codename = codename_in(&page);
    let words: Vec<&str> = codename.split(' ').collect();
    assert_eq!(words.len(), 7, "{codename}");

    // Typed back with other case and spacing, it logs in.
    let typed = format!("  {}  ", codename.to_uppercase().replace(' ', "   "));
    let res = login(&server, &v, &typed).await;
    assert_eq!(res.status(), 303);
    let session = session_cookie(&res).expect("a session cookie");
    let set = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join(" | ");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );

    // Logged in, the form carries the session's token and adds to the same source.
    let page = v
        .client
        .get(server.source_url("/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("You are logged in"));
    let token = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let body = multipart(&[
        Part::text("csrf_token", token.as_bytes()),
        Part::text("message", b"second visit"),
    ]);
    let res = v
        .client
        .post(server.source_url("/submit"))
        .header("content-type", content_type())
        .header("cookie", &session)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(
        !page.contains("id=\"codename\""),
        "a returning source is not given a new codename"
    );

    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let items = manifest(&bundle)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0]["source"], items[1]["source"],
        "both visits belong to one source"
    );

    // Nothing of the codename is at rest: not the words, not in the database.
    let db = std::fs::read(server.data().join("meta.sqlite")).unwrap();
    let wal = std::fs::read(server.data().join("meta.sqlite-wal")).unwrap_or_default();
    for w in [codename.as_str(), words[0], words[3]] {
        if w.len() < 5 {
            continue;
        }
        let hit = |b: &[u8]| b.windows(w.len()).any(|x| x == w.as_bytes());
        assert!(!hit(&db) && !hit(&wal), "{w:?} stored");
    }
    assert!(!server.logs().contains(&codename));

    // Logout needs the session's token, then the session is gone.
    let no_token = v
        .client
        .post(server.source_url("/logout"))
        .header("cookie", &session)
        .form(&[("csrf_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 403);
    let out = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(server.source_url("/logout"))
        .header("cookie", &session)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let page = v
        .client
        .get(server.source_url("/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("You are logged in"));
    let body = multipart(&[
        Part::text("csrf_token", token.as_bytes()),
        Part::text("message", b"after logout"),
    ]);
    let res = v
        .client
        .post(server.source_url("/submit"))
        .header("content-type", content_type())
        .header("cookie", &session)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "the old session's token is dead");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_malformed_and_oversized_codenames_are_refused_alike() {
    let server = Server::start_default();
    server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let unknown = login(
        &server,
        &v,
        "abacus zoom drop-down yo-yo t-shirt felt-tip abdomen",
    )
    .await;
    assert_eq!(unknown.status(), 403);
    assert!(session_cookie(&unknown).is_none());
    let unknown_page = unknown.text().await.unwrap();
    assert!(unknown_page.contains("not known"));
    let malformed = login(&server, &v, "not a codename").await;
    assert_eq!(malformed.status(), 403);
    assert_eq!(
        malformed.text().await.unwrap(),
        unknown_page,
        "one answer for every failure"
    );
    let long = "abacus ".repeat(40);
    assert_eq!(login(&server, &v, &long).await.status(), 403);
    // A megabyte is refused before it is read as a form.
    let huge = "a".repeat(1 << 20);
    assert_eq!(login(&server, &v, &huge).await.status(), 413);
    // Without the form token nothing is even derived.
    let res = v
        .client
        .post(server.source_url("/login"))
        .form(&[("csrf_token", "x"), ("codename", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_id_planted_before_login_is_not_used() {
    let server = Server::start_default();
    server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let (_, page) = v.submit(&server, &[Part::text("message", b"x")]).await;
    let codename = codename_in(&page);
    let planted = format!("sanduq_session={}", "P".repeat(43));
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .post(server.source_url("/login"))
        .header("cookie", format!("{}; {planted}", v.cookie))
        .form(&[
            ("csrf_token", v.token.as_str()),
            ("codename", codename.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let fresh = session_cookie(&res).unwrap();
    assert_ne!(fresh, planted);
    let page = v
        .client
        .get(server.source_url("/"))
        .header("cookie", &planted)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("You are logged in"),
        "the planted id opens nothing"
    );
}
