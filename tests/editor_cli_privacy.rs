//! What the editor CLI must not give away: an onion address to the local DNS, or a token, a
//! key, a codename or a reply pasted where a path or an id belongs, echoed in an error.

use std::net::TcpListener;
use std::process::Output;

use crate::common::*;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const ONION: &str = "http://sanduqtestxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion";

#[test]
fn an_onion_server_needs_a_proxy_that_resolves_names_itself() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("sanduq-token-{}\n", "A".repeat(43))).unwrap();
    let bundle = dir.path().join("b");
    std::fs::create_dir_all(bundle.join("outbox")).unwrap();
    std::fs::write(
        bundle.join("manifest.json"),
        r#"{"format":"sanduq-bundle/1","items":[]}"#,
    )
    .unwrap();
    // A SOCKS proxy that would be asked to connect somewhere: nothing may reach it.
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let socks5 = format!("socks5://{}", proxy.local_addr().unwrap());
    let (t, b) = (token.to_str().unwrap(), bundle.to_str().unwrap());
    let commands: [Vec<&str>; 3] = [
        vec!["fetch", "--bundle", b],
        vec!["push", "--bundle", b],
        vec!["delete", "0123456789abcdef0123456789abcdef"],
    ];
    for cmd in &commands {
        for proxy_arg in [None, Some(socks5.as_str())] {
            let mut args = cmd.clone();
            args.extend(["--server", ONION, "--token-file", t]);
            if let Some(p) = proxy_arg {
                args.extend(["--proxy", p]);
            }
            let o = sanduq(&args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            assert!(
                err.contains("onion address") && err.contains("socks5h://"),
                "{args:?}: {err}"
            );
        }
    }
    assert!(
        proxy.accept().is_err(),
        "nothing went to the socks5:// proxy"
    );
}

#[test]
fn a_token_pasted_as_its_file_is_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let token = format!("sanduq-token-{}", "Q".repeat(43));
    let bundle = dir.path().join("b");
    let b = bundle.to_str().unwrap();
    for cmd in [
        vec!["fetch", "--bundle", b],
        vec!["push", "--bundle", b],
        vec!["delete", "0123456789abcdef0123456789abcdef"],
    ] {
        let mut args = cmd.clone();
        args.extend(["--server", "http://127.0.0.1:9", "--token-file", &token]);
        let o = sanduq(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(!err.contains(&token[13..]), "the token was echoed: {err}");
        assert!(err.contains("--token-file"), "{err}");
    }
    // A file that holds something else, an identity say, is not sent to the server.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let key = dir.path().join("key.txt");
    sanduq_ok(&["keygen", "-o", key.to_str().unwrap()]);
    let o = sanduq(&[
        "fetch",
        "--server",
        &format!("http://{}", server.local_addr().unwrap()),
        "--token-file",
        key.to_str().unwrap(),
        "--bundle",
        b,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does not hold a sanduq API token"));
    assert!(!stderr(&o).contains("AGE-SECRET-KEY"));
    assert!(server.accept().is_err(), "nothing was sent");
}

#[test]
fn keys_codenames_and_replies_pasted_as_arguments_are_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let key = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
    let bundle = dir.path().join("b");
    std::fs::create_dir_all(bundle.join("outbox")).unwrap();
    std::fs::write(
        bundle.join("manifest.json"),
        r#"{"format":"sanduq-bundle/1","items":[],"sources":[{"id":"0123456789abcdef0123456789abcdef","desk":"default","day":"2026-11-28","reply_recipient":"age1x"}],"editors":["age1y"]}"#,
    )
    .unwrap();
    let (b, out) = (bundle.to_str().unwrap(), dir.path().join("out"));
    let csv = dir.path().join("x.csv");
    let message = dir.path().join("m.txt");
    std::fs::write(&message, "a reply").unwrap();
    let codename = "correct horse battery staple lemon tiger violin";
    let reply_text = "We know where he is held. Stay safe.";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "decrypt",
                "-i",
                key,
                "--bundle",
                b,
                "--out",
                out.to_str().unwrap(),
            ],
            key,
        ),
        (
            vec![
                "export",
                "-i",
                key,
                "--bundle",
                b,
                "--format",
                "csv",
                "--out",
                csv.to_str().unwrap(),
            ],
            key,
        ),
        (
            vec![
                "reply",
                "--bundle",
                b,
                "--source",
                codename,
                "--message-file",
                message.to_str().unwrap(),
            ],
            codename,
        ),
        (
            vec![
                "reply",
                "--bundle",
                b,
                "--source",
                "0123456789abcdef",
                "--message-file",
                reply_text,
            ],
            reply_text,
        ),
    ];
    for (args, secret) in cases {
        let o = sanduq(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(!err.contains(secret), "echoed: {err}");
    }
    let token = format!("sanduq-token-{}", "Q".repeat(43));
    let tf = dir.path().join("token");
    std::fs::write(&tf, &token).unwrap();
    let o = sanduq(&[
        "delete",
        "--server",
        "http://127.0.0.1:9",
        "--token-file",
        tf.to_str().unwrap(),
        &token,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stderr(&o).contains(&token[13..]), "{}", stderr(&o));
}
