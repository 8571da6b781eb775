//! A flood of wrong codenames, from outside: logins wait in a small queue or get a calm 503
//! in the request's language at once, and a new source's submission goes ahead of them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sanduq::i18n::Locale;

use crate::common::*;

/// One derivation at a time, four logins allowed to wait, and a cost slow enough (~0.1 s)
/// for a flood to fill the queue.
fn flood_server() -> Server {
    let mut server = Server::configured(|c| {
        c.set("codename.memory_kib", 19_456)
            .set("codename.weak_cost_for_tests", false)
            .set("codename.time", 5)
            .set("codename.max_concurrent", 1)
            .set("codename.login_queue", 4);
    });
    server.start();
    server.add_editor("ana", None);
    server
}

/// What a flood's login got back, and when.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    page: String,
    at: Instant,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_flood_gets_a_calm_503_and_a_new_source_goes_first() {
    let server = Arc::new(flood_server());
    let attacker = Arc::new(Visitor::new(&server).await);
    let source = Visitor::new(&server).await;
    let answers = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let flood: Vec<_> = (0..24)
        .map(|_| {
            let (server, attacker, answers) = (server.clone(), attacker.clone(), answers.clone());
            tokio::spawn(async move {
                let res = no_redirect()
                    .post(server.source_url("/ru/login"))
                    .header("cookie", &attacker.cookie)
                    .form(&[
                        ("csrf_token", attacker.token.as_str()),
                        (
                            "codename",
                            "abacus zoom drop-down yo-yo t-shirt felt-tip abdomen",
                        ),
                    ])
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let retry_after = res
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                let page = res.text().await.unwrap();
                answers.lock().unwrap().push(Answer {
                    status,
                    retry_after,
                    page,
                    at: Instant::now(),
                });
            })
        })
        .collect();
    // Once one login is refused, the queue is full: now a new source sends a message.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !answers.lock().unwrap().iter().any(|a| a.status == 503) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, page) = source
        .submit(&server, &[Part::text("message", b"sent during a flood")])
        .await;
    let submitted = Instant::now();
    assert_eq!(status, 200, "the new source's submission succeeds");
    assert_eq!(codename_in(&page).split(' ').count(), 7);
    for t in flood {
        t.await.unwrap();
    }

    let answers = answers.lock().unwrap();
    let refused: Vec<_> = answers.iter().filter(|a| a.status == 503).collect();
    let checked: Vec<_> = answers.iter().filter(|a| a.status == 403).collect();
    assert_eq!(
        refused.len() + checked.len(),
        24,
        "only 503 and 403 answers"
    );
    assert!(
        !refused.is_empty(),
        "24 logins at once, 1 deriving and 4 waiting: some must be refused"
    );
    assert!(checked.len() >= 5, "the queue's logins are answered");
    let ru = Locale::from_code("ru").unwrap();
    for a in &refused {
        assert_eq!(a.retry_after.as_deref(), Some("60"));
        assert!(a.page.contains("<html lang=\"ru\""));
        assert!(a.page.contains(&ru.message("error-busy-title", None)));
        assert!(a.page.contains(&ru.message("error-busy", None)));
    }
    // The submission overtook logins that were waiting before it was sent.
    let overtaken = checked.iter().filter(|a| a.at > submitted).count();
    assert!(
        overtaken >= 1,
        "the new source's derivation waited behind every queued login"
    );
    eprintln!(
        "{} refused with 503, {} checked ({overtaken} of them after the new source)",
        refused.len(),
        checked.len()
    );
}
