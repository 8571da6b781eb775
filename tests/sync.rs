//! `sanduq sync` and whole conversations, against a real server: news about people, replies
//! by any editor of the desk in every editor's bundle, replies sources deleted, follow-ups in
//! the order sent, and an address book that outlives the items.

use std::path::Path;
use std::process::Output;

use crate::common::*;

/// A source with a codename, logged in, who can write again and delete replies.
struct Source {
    client: reqwest::Client,
    session: String,
}

impl Source {
    /// A new source whose first message is `text`.
    async fn new(server: &Server, text: &str) -> Source {
        let v = Visitor::new(server).await;
        let (status, page) = v
            .submit(server, &[Part::text("message", text.as_bytes())])
            .await;
        assert_eq!(status, 200);
        let codename = codename_in(&page);
        let res = login(server, &v, &codename).await;
        let session = session_cookie(&res).expect("a session");
        Source {
            client: v.client,
            session,
        }
    }

    async fn page(&self, server: &Server) -> String {
        page_with(server, &self.session).await
    }

    /// A follow-up message, from the logged-in session.
    async fn send(&self, server: &Server, text: &str) {
        let token = logged_in_page_token(&self.page(server).await);
        let body = multipart(&[
            Part::text("csrf_token", token.as_bytes()),
            Part::text("message", text.as_bytes()),
        ]);
        let res = self
            .client
            .post(server.source_url("/submit"))
            .header("content-type", content_type())
            .header("cookie", &self.session)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    /// Deletes the first reply shown on the source's page.
    async fn delete_a_reply(&self, server: &Server) {
        let page = self.page(server).await;
        let reply = page
            .split("name=\"reply\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("a reply to delete");
        let res = no_redirect()
            .post(server.source_url("/reply/delete"))
            .header("cookie", &self.session)
            .form(&[
                ("csrf_token", logged_in_page_token(&page).as_str()),
                ("reply", reply),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
    }
}

fn sync(server: &Server, ed: &EditorKeys, bundle: &Path) -> Output {
    sanduq(&[
        "sync",
        "--server",
        &server.api_url(),
        "--token-file",
        ed.token_file.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
    ])
}

/// sync's one line of news; the command must succeed.
fn news(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .trim()
        .to_owned()
}

/// How sanduq names a source for people.
fn name_of(id: &str) -> String {
    sanduq::designation::label(id.parse().unwrap())
}

fn write_reply(bundle: &Path, source: &str, text: &str) {
    let o = queue_reply(bundle, source, text);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn sources_of(bundle: &Path) -> Vec<String> {
    manifest(bundle)["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_tells_news_about_people_and_conversations_reach_every_editor() {
    let server = Server::start_default();
    let ana = server.add_editor("ana", None);
    let ben = server.add_editor("ben", None);
    let a = Source::new(&server, "first from a").await;
    let _b = Source::new(&server, "first from b").await;
    let bundle = server.dir.path().join("ana");
    let first = news(&sync(&server, &ana, &bundle));
    assert!(first.starts_with("2 new sources ("), "{first}");
    assert_eq!(news(&sync(&server, &ana, &bundle)), "nothing new");

    // A follow-up from a, a new source c, and a reply by ana to every source she knows.
    a.send(&server, "second from a").await;
    let _c = Source::new(&server, "first from c").await;
    let marker = marker();
    let known = sources_of(&bundle);
    for s in &known {
        write_reply(&bundle, s, &format!("{marker} for {s}"));
    }
    let line = news(&sync(&server, &ana, &bundle));
    let listed = sources_of(&bundle);
    let c_id = listed.iter().find(|s| !known.contains(s)).unwrap();
    let follow_up = manifest(&bundle)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["source"].as_str().unwrap().to_owned())
        .fold(std::collections::HashMap::new(), |mut n, s| {
            *n.entry(s).or_insert(0) += 1;
            n
        })
        .into_iter()
        .find(|(_, n)| *n == 2)
        .map(|(s, _)| s)
        .expect("a source with two items");
    assert_eq!(
        line,
        format!(
            "2 replies sent, 1 new source ({}), 1 follow-up ({}), 2 replies by the desk downloaded",
            name_of(c_id),
            name_of(&follow_up)
        )
    );

    // Ben's bundle holds ana's replies, and ben's key opens them.
    let ben_bundle = server.dir.path().join("ben");
    let o = fetch(&server, &ben, &ben_bundle);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let replies = manifest(&ben_bundle)["replies"].as_array().unwrap().clone();
    assert_eq!(replies.len(), 2);
    for r in &replies {
        let file = ben_bundle.join(format!("replies/{}.age", r["id"].as_str().unwrap()));
        let dec = std::process::Command::new("age")
            .args(["-d", "-i", ben.identity.to_str().unwrap()])
            .arg(&file)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&dec.stdout);
        let source = r["source"].as_str().unwrap();
        assert_eq!(
            text,
            format!("{marker} for {source}"),
            "ben reads ana's reply"
        );
    }

    // Source a reads its reply and deletes it: the next sync says so, by name.
    assert!(a.page(&server).await.contains(&marker));
    a.delete_a_reply(&server).await;
    let line = news(&sync(&server, &ana, &bundle));
    assert_eq!(
        line,
        format!("1 reply deleted by its source ({})", name_of(&follow_up))
    );
    let kept = manifest(&bundle)["replies"].as_array().unwrap().clone();
    assert_eq!(kept.len(), 2, "the bundle keeps the desk's copy");
    assert_eq!(kept.iter().filter(|r| r["gone"] == true).count(), 1);
    // fetch says it too, on its summary line.
    let o = fetch(&server, &ben, &ben_bundle);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "1 reply deleted by its source ({})",
            name_of(&follow_up)
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_ups_decrypt_in_the_order_their_source_sent_them() {
    let server = Server::start_default();
    let ana = server.add_editor("ana", None);
    let a = Source::new(&server, "one").await;
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ana, &bundle).status.success());
    a.send(&server, "two").await;
    assert!(fetch(&server, &ana, &bundle).status.success());
    // Fetched in another order (as concurrent downloads may enter them): the later item first.
    let path = bundle.join("manifest.json");
    let mut m = manifest(&bundle);
    m["items"].as_array_mut().unwrap().reverse();
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let start = std::time::SystemTime::now();
    let out = server.dir.path().join("out");
    let o = decrypt(&ana.identity, &bundle, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let folder = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let first = folder.join("message.txt");
    let second = folder.join("message (2).txt");
    assert_eq!(std::fs::read_to_string(&first).unwrap(), "one");
    assert_eq!(std::fs::read_to_string(&second).unwrap(), "two");
    // File dates are when the source sent them, not when they were decrypted.
    let t1 = std::fs::metadata(&first).unwrap().modified().unwrap();
    let t2 = std::fs::metadata(&second).unwrap().modified().unwrap();
    assert!(t1 < t2 && t2 < start, "{t1:?} {t2:?} {start:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_bundle_answers_a_source_whose_items_were_all_deleted() {
    let mut server =
        Server::init(|t| t + "\n[[desk]]\nname = \"lawyers\"\ntitle = \"Lawyers' collective\"\n");
    server.start();
    let ana = server.add_editor("ana", None);
    let lev = server.add_editor("lev", Some("lawyers"));
    let a = Source::new(&server, "only message").await;
    let old = server.dir.path().join("old");
    assert!(fetch(&server, &ana, &old).status.success());
    let ids: Vec<String> = manifest(&old)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let api = server.api_url();
    let mut args = vec![
        "delete",
        "--server",
        api.as_str(),
        "--token-file",
        ana.token_file.to_str().unwrap(),
    ];
    args.extend(ids.iter().map(String::as_str));
    sanduq_ok(&args);

    // The USB stick is lost: a fresh bundle still knows the source and can answer it.
    let fresh = server.dir.path().join("fresh");
    let line = news(&sync(&server, &ana, &fresh));
    assert_eq!(line, "nothing new");
    let sources = sources_of(&fresh);
    assert_eq!(sources.len(), 1, "the address book lists the source");
    let marker = marker();
    write_reply(&fresh, &sources[0], &marker);
    assert_eq!(
        news(&sync(&server, &ana, &fresh)).split(", ").next(),
        Some("1 reply sent")
    );
    assert!(
        a.page(&server).await.contains(&marker),
        "the source reads it"
    );

    // Another desk's editor sees neither the source nor the reply.
    let lawyers = server.dir.path().join("lawyers");
    assert_eq!(news(&sync(&server, &lev, &lawyers)), "nothing new");
    assert!(sources_of(&lawyers).is_empty());
    assert!(manifest(&lawyers).get("replies").is_none());
    let token = std::fs::read_to_string(&lev.token_file).unwrap();
    let reply_id = manifest(&fresh)["replies"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let res = c
        .post(format!("{api}/api/v1/replies/batch"))
        .header("authorization", format!("Bearer {}", token.trim()))
        .json(&serde_json::json!({ "ids": [reply_id] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.bytes().await.unwrap();
    assert_eq!(
        body.len(),
        "sanduq-replies-1\n".len() + 24,
        "a zero-length frame"
    );
    assert!(body.ends_with(&[0; 8]));
    for bad in [
        "?after_day=x",
        "?after_id=00",
        "?after_day=2026-01-01&after_id=zz",
    ] {
        let res = c
            .get(format!("{api}/api/v1/sources{bad}"))
            .header("authorization", format!("Bearer {}", token.trim()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
    }
    let res = c.get(format!("{api}/api/v1/sources")).send().await.unwrap();
    assert_eq!(res.status(), 401);
}
