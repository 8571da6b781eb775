use crate::common::*;

#[allow(
    clippy::too_many_lines,
    reason = "one source's visits in order: each step depends on the state the previous one left"
)]
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
    let page = page_with(&server, &session).await;
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
    let out = no_redirect()
        .post(server.source_url("/logout"))
        .header("cookie", &session)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let page = page_with(&server, &session).await;
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
    let client = no_redirect();
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
    let page = page_with(&server, &planted).await;
    assert!(
        !page.contains("You are logged in"),
        "the planted id opens nothing"
    );
}

#[allow(
    clippy::too_many_lines,
    reason = "one reply's life from fetch to deletion, read in the order it happens"
)]
#[tokio::test(flavor = "multi_thread")]
async fn replies_round_trip_from_offline_editor_to_source_and_are_deleted() {
    let mut server = Server::configured(|c| {
        c.desk("lawyers", None);
    });
    server.start();
    let ana = server.add_editor("ana", None);
    let lev = server.add_editor("lev", Some("lawyers"));
    let v = Visitor::new(&server).await;
    let (_, page) = v
        .submit(&server, &[Part::text("message", b"please answer")])
        .await;
    let codename = codename_in(&page);

    // Online: fetch. Offline: reply. Online: push.
    let bundle = server.dir.path().join("b");
    assert!(fetch(&server, &ana, &bundle).status.success());
    // Offline: decrypt, and find the source under its designation.
    let out = server.dir.path().join("decrypted");
    let o = decrypt(&ana.identity, &bundle, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let man = manifest(&bundle);
    let source = man["sources"][0]["id"].as_str().unwrap().to_owned();
    let designation = sanduq::designation::of(source.parse().unwrap());
    let folder = out.join(sanduq::designation::folder(source.parse().unwrap()));
    assert_eq!(
        std::fs::read_to_string(folder.join("message.txt")).unwrap(),
        "please answer"
    );
    assert!(man["sources"][0]["reply_recipient"]
        .as_str()
        .unwrap()
        .starts_with("age1"));
    assert_eq!(man["editors"][0], ana.recipient.as_str());
    let m = marker();
    let text = format!("We received your testimony. {m}\nLine two: салом.");
    let msg = server.dir.path().join("reply.txt");
    std::fs::write(&msg, &text).unwrap();
    let out = sanduq_ok(&[
        "reply",
        "--bundle",
        bundle.to_str().unwrap(),
        "--source",
        &designation,
        "--message-file",
        msg.to_str().unwrap(),
    ]);
    let reply_file = std::path::PathBuf::from(out.trim());
    assert!(std::fs::read(&reply_file)
        .unwrap()
        .starts_with(b"age-encryption.org/v1\n"));
    let api = server.api_url();
    let o = sanduq(&[
        "push",
        "--server",
        &api,
        "--token-file",
        ana.token_file.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sent = bundle
        .join("outbox/sent")
        .join(reply_file.file_name().unwrap());
    assert!(sent.exists() && !reply_file.exists());
    // The desk's editors can read their own reply with the reference CLI.
    let dec = std::process::Command::new("age")
        .args([
            "-d",
            "-i",
            ana.identity.to_str().unwrap(),
            sent.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&dec.stdout), text);
    // On the server: one reply object, ciphertext only.
    let replies: Vec<_> = server
        .blob_files()
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".reply.age"))
        .collect();
    assert_eq!(replies.len(), 1);
    for f in files_under(&server.data()) {
        let b = std::fs::read(&f).unwrap();
        assert!(
            !b.windows(m.len()).any(|w| w == m.as_bytes()),
            "{} holds the reply in the clear",
            f.display()
        );
    }

    // The source logs in and reads it.
    let res = login(&server, &v, codename.as_str()).await;
    let session = session_cookie(&res).unwrap();
    let page = page_with(&server, &session).await;
    assert!(
        page.contains(&m) && page.contains("салом"),
        "the reply is shown to its source"
    );

    // Another source sees nothing of it.
    let w = Visitor::new(&server).await;
    let (_, page_b) = w
        .submit(&server, &[Part::text("message", b"another source")])
        .await;
    let res = login(&server, &w, codename_in(&page_b).as_str()).await;
    let session_b = session_cookie(&res).unwrap();
    let other = page_with(&server, &session_b).await;
    assert!(other.contains("You are logged in") && !other.contains(&m));

    // An editor of another desk cannot push to this source; junk and oversized pushes fail.
    let lev_token = std::fs::read_to_string(&lev.token_file)
        .unwrap()
        .trim()
        .to_owned();
    let ana_token = std::fs::read_to_string(&ana.token_file)
        .unwrap()
        .trim()
        .to_owned();
    let url = format!("{api}/api/v1/sources/{source}/replies");
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = std::fs::read(&sent).unwrap();
    let r = c
        .post(&url)
        .header("authorization", format!("Bearer {lev_token}"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .post(&url)
        .header("authorization", format!("Bearer {ana_token}"))
        .body("not age")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let mut big = body.clone();
    big.resize(3 << 20, 0);
    let r = c
        .post(&url)
        .header("authorization", format!("Bearer {ana_token}"))
        .body(big)
        .send()
        .await;
    // The server answers 413 as soon as the limit is passed and may close the connection
    // while the client is still sending; either way nothing is stored (checked below).
    if let Ok(r) = r {
        assert_eq!(r.status(), 413);
    }
    // A fresh client: the server may have closed the connection that carried the 413.
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = c.post(&url).body(body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        server
            .blob_files()
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(".reply.age"))
            .count(),
        1
    );

    // The source deletes it: gone from the page, the disk and the database.
    let reply_id = page
        .split("name=\"reply\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let token = logged_in_page_token(&page);
    let r = no_redirect()
        .post(server.source_url("/reply/delete"))
        .header("cookie", &session)
        .form(&[("csrf_token", "wrong"), ("reply", reply_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = no_redirect()
        .post(server.source_url("/reply/delete"))
        .header("cookie", &session)
        .form(&[("csrf_token", token.as_str()), ("reply", reply_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = page_with(&server, &session).await;
    assert!(!page.contains(&m) && page.contains("No answer yet"));
    assert!(server
        .blob_files()
        .iter()
        .all(|p| !p.to_string_lossy().contains(&reply_id)));
    let db = std::fs::read(server.data().join("meta.sqlite")).unwrap();
    let wal = std::fs::read(server.data().join("meta.sqlite-wal")).unwrap_or_default();
    let hit = |b: &[u8]| b.windows(reply_id.len()).any(|w| w == reply_id.as_bytes());
    assert!(!hit(&db), "the reply's row is gone from meta.sqlite");
    assert!(!hit(&wal), "the deleted row is gone from the WAL too");
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_an_onion_cookies_are_host_bound_and_secure() {
    let mut server = Server::configured(|c| {
        c.set("listen.secure_cookies", true);
    });
    server.start();
    server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    assert!(v.cookie.starts_with("__Host-sanduq_csrf="), "{}", v.cookie);
    let res = v.client.get(server.source_url("/")).send().await.unwrap();
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("; Secure")
            && set.contains("HttpOnly")
            && set.contains("SameSite=Strict")
            && set.contains("Path=/"),
        "{set}"
    );
    let (s, page) = v.submit(&server, &[Part::text("message", b"x")]).await;
    assert_eq!(s, 200);
    let codename = codename_in(&page);
    let res = login(&server, &v, codename.as_str()).await;
    assert_eq!(res.status(), 303);
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.starts_with("__Host-sanduq_session=") && set.contains("; Secure"),
        "{set}"
    );
    let session = set.split(';').next().unwrap().to_owned();
    let page = page_with(&server, &session).await;
    assert!(page.contains("You are logged in"));
    // The unprefixed name means nothing on such a server.
    let plain = session.replace("__Host-", "");
    let page = page_with(&server, &plain).await;
    assert!(!page.contains("You are logged in"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_ends() {
    let mut server = Server::configured(|c| {
        c.set("listen.session_idle_seconds", 1);
    });
    server.start();
    server.add_editor("ana", None);
    let v = Visitor::new(&server).await;
    let (_, page) = v.submit(&server, &[Part::text("message", b"x")]).await;
    let res = login(&server, &v, &codename_in(&page)).await;
    let session = session_cookie(&res).unwrap();
    let page = page_with(&server, &session).await;
    assert!(page.contains("You are logged in"));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let page = page_with(&server, &session).await;
    assert!(
        !page.contains("You are logged in"),
        "the session outlived its idle time"
    );
}

/// A started server with one editor, deriving codenames at `memory_kib` (no test weakening).
fn server_at_cost(memory_kib: u32) -> Server {
    let mut server = Server::configured(|c| {
        c.set("codename.memory_kib", i64::from(memory_kib))
            .set("codename.weak_cost_for_tests", false);
    });
    server.start();
    server.add_editor("ana", None);
    server
}

/// A visitor who has just become a new source, and the codename it was shown.
async fn new_source(server: &Server) -> (Visitor, String) {
    let v = Visitor::new(server).await;
    let (s, page) = v
        .submit(server, &[Part::text("message", b"a new source")])
        .await;
    assert_eq!(s, 200);
    (v, codename_in(&page))
}

/// At the real argon2 cost (64 MiB), the server's memory goes back down after a new source's
/// derivation and after a login: an idle server does not keep the buffers.
#[tokio::test(flavor = "multi_thread")]
async fn argon2_memory_is_given_back_after_each_derivation() {
    let server = server_at_cost(65536);
    let pid = server.pid();
    let v = Visitor::new(&server).await;
    let settled = |floor: u64| async move {
        // Freed memory leaves RSS at once; allow the response a moment to be sent first.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let now = rss_kib(pid);
            if now < floor + 24 * 1024 || std::time::Instant::now() > deadline {
                return now;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    let before = rss_kib(pid);
    let (s, page) = v
        .submit(&server, &[Part::text("message", b"a new source")])
        .await;
    assert_eq!(s, 200);
    let peak = peak_rss_kib(pid);
    assert!(
        peak >= before + 60 * 1024,
        "the derivation used its 64 MiB (peak {peak} KiB, before {before} KiB)"
    );
    let after_new = settled(before).await;
    let res = login(&server, &v, &codename_in(&page)).await;
    assert_eq!(res.status(), 303);
    let after_login = settled(before).await;
    // A new source's derivation starts with its first stored part; a request refused after
    // that (here: an unknown field) must not keep the derivation's buffer either.
    let refused = Visitor::new(&server).await;
    let (s, _) = refused
        .submit(
            &server,
            &[
                Part::text("message", b"refused after its first part"),
                Part::text("no_such_field", b"x"),
            ],
        )
        .await;
    assert_eq!(s, 400);
    // Its derivation may still be running (it ends within ~0.2 s): measure after it.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let after_refused = settled(before).await;
    eprintln!(
        "server RSS: {before} KiB before, peak {peak} KiB, {after_new} KiB after a new \
         source, {after_login} KiB after a login, {after_refused} KiB after a refused one"
    );
    for (what, kib) in [
        ("a new source", after_new),
        ("a login", after_login),
        ("a refused new source", after_refused),
    ] {
        assert!(
            kib < before + 24 * 1024,
            "RSS {kib} KiB after {what}, {before} KiB before: the 64 MiB buffer was kept"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn argon2_memory_at_the_floor_cost_is_given_back_too() {
    // Below 32 MiB glibc's malloc served the buffers from per-thread arenas that keep freed
    // memory: at the floor cost (19 MiB) the server grew by ~10 MiB a login.
    let server = server_at_cost(19456);
    let pid = server.pid();
    let (v, codename) = new_source(&server).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = rss_kib(pid);
    for _ in 0..30 {
        assert_eq!(login(&server, &v, &codename).await.status(), 303);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after = rss_kib(pid);
    eprintln!("server RSS at memory_kib = 19456: {before} KiB before 30 logins, {after} KiB after");
    assert!(
        after < before + 8 * 1024,
        "RSS {after} KiB after 30 logins, {before} KiB before: freed 19 MiB buffers were kept"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_costs_the_server_little_memory() {
    // Sessions stay for `session_idle_seconds` (30 minutes): a busy desk holds thousands. They
    // are rows of the store, opened per request: the server should hold nothing of them.
    let server = Server::start_default();
    server.add_editor("ana", None);
    let pid = server.pid();
    let (v, codename) = new_source(&server).await;
    // Warm up (allocator, connection pools), then count.
    for _ in 0..100 {
        assert_eq!(login(&server, &v, &codename).await.status(), 303);
    }
    let before = rss_kib(pid);
    const LOGINS: u64 = 2000;
    for _ in 0..LOGINS {
        assert_eq!(login(&server, &v, &codename).await.status(), 303);
    }
    let after = rss_kib(pid);
    let per_session = after.saturating_sub(before) * 1024 / LOGINS;
    eprintln!(
        "server RSS: {before} KiB before {LOGINS} live sessions, {after} KiB after \
         ({per_session} bytes a session)"
    );
    // About 100 bytes with sealed sessions; 0.9 KiB when they lived in memory, 2.2 KiB with
    // the expanded post-quantum key.
    assert!(
        per_session < 1800,
        "{per_session} bytes of RSS a session ({before} → {after} KiB)"
    );
}
