use crate::common::*;

#[test]
fn init_writes_a_private_commented_config_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    sanduq_ok(&["init", "--dir", data.to_str().unwrap()]);
    let cfg = data.join("sanduq.toml");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    for key in [
        "data_dir",
        "source",
        "api",
        "max_request_bytes",
        "max_message_bytes",
        "max_files",
        "pepper",
        "name",
        "title",
    ] {
        let line = text
            .lines()
            .position(|l| l.starts_with(&format!("{key} =")))
            .unwrap_or_else(|| panic!("{key} missing"));
        assert!(
            text.lines().nth(line - 1).unwrap().starts_with('#'),
            "{key} has no comment"
        );
    }
    assert!(!text.contains("REPLACE-WITH"));
    let again = sanduq(&["init", "--dir", data.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        text,
        "nothing overwritten"
    );
    // Two installs never share a pepper.
    let other = dir.path().join("e");
    sanduq_ok(&["init", "--dir", other.to_str().unwrap()]);
    let pepper = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("pepper"))
            .unwrap()
            .to_owned()
    };
    assert_ne!(
        pepper(&text),
        pepper(&std::fs::read_to_string(other.join("sanduq.toml")).unwrap())
    );
}

#[test]
fn config_errors_are_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    sanduq_ok(&["init", "--dir", data.to_str().unwrap()]);
    let cfg = data.join("sanduq.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("max_files = 100", "max_files = 100\nmax_flies = 3"),
    )
    .unwrap();
    let out = sanduq(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("max_flies"), "{err}");
    std::fs::write(&cfg, text.replace("127.0.0.1:8081", "localhost")).unwrap();
    let err =
        String::from_utf8_lossy(&sanduq(&["serve", "--config", cfg.to_str().unwrap()]).stderr)
            .into_owned();
    assert!(err.contains("listen.api"), "{err}");
    // A language that does not exist: the key and the languages there are.
    let mut bad = TestConfig::parse(&text);
    std::fs::write(&cfg, bad.set("default_locale", "tj").text()).unwrap();
    let out = sanduq(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("default_locale") && err.contains("uz-Cyrl"),
        "{err}"
    );
    let missing = sanduq(&["serve", "--config", "/nonexistent/sanduq.toml"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        sanduq(&["serve", "--no-such-flag"]).status.code(),
        Some(2),
        "usage errors exit 2"
    );
}

#[test]
fn editor_add_checks_recipient_desk_and_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    sanduq_ok(&["init", "--dir", data.to_str().unwrap()]);
    let cfg = data.join("sanduq.toml");
    let c = cfg.to_str().unwrap();
    let bad = sanduq(&[
        "admin",
        "editor",
        "add",
        "--config",
        c,
        "--name",
        "x",
        "--recipient",
        "age1garbage",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--recipient"));
    let key = dir.path().join("k");
    let r = sanduq_ok(&["keygen", "-o", key.to_str().unwrap()]);
    let bad = sanduq(&[
        "admin",
        "editor",
        "add",
        "--config",
        c,
        "--name",
        "x",
        "--recipient",
        r.trim(),
        "--desk",
        "nope",
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no desk"));
    let token = sanduq_ok(&[
        "admin",
        "editor",
        "add",
        "--config",
        c,
        "--name",
        "x",
        "--recipient",
        r.trim(),
    ]);
    assert!(token.trim().starts_with("sanduq-token-") && token.trim().len() >= 13 + 43);
    let dup = sanduq(&[
        "admin",
        "editor",
        "add",
        "--config",
        c,
        "--name",
        "x",
        "--recipient",
        r.trim(),
    ]);
    assert_eq!(dup.status.code(), Some(1));
    let ssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice@rust";
    sanduq_ok(&[
        "admin",
        "editor",
        "add",
        "--config",
        c,
        "--name",
        "ssh",
        "--recipient",
        ssh,
    ]);
    let list = sanduq_ok(&["admin", "editor", "list", "--config", c]);
    assert!(
        list.contains("x\tdefault\tage1") && list.contains("ssh\tdefault\tssh-ed25519"),
        "{list}"
    );
    assert!(
        !list.contains("sanduq-token-"),
        "tokens are never shown again"
    );
    // The database holds only the token's hash.
    let db = std::fs::read(data.join("meta.sqlite")).unwrap_or_default();
    let wal = std::fs::read(data.join("meta.sqlite-wal")).unwrap_or_default();
    let t = token.trim().as_bytes();
    assert!(!db.windows(t.len()).any(|w| w == t) && !wal.windows(t.len()).any(|w| w == t));
}

#[test]
fn a_second_quickstart_on_a_running_folder_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("qs");
    // quickstart reuses an existing install: give it free ports first.
    sanduq_ok(&["init", "--dir", data.to_str().unwrap()]);
    let cfg = data.join("sanduq.toml");
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let mut text = TestConfig::parse(&std::fs::read_to_string(&cfg).unwrap());
    text.set("listen.source", format!("127.0.0.1:{}", free()))
        .set("listen.api", format!("127.0.0.1:{}", free()));
    std::fs::write(&cfg, text.text()).unwrap();
    let log = dir.path().join("first.log");
    let mut first = std::process::Command::new(BIN)
        .args(["quickstart", "--dir", data.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let token_path = data.join("quickstart-editor-token");
    for _ in 0..300 {
        if std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("source site on")
        {
            break;
        }
        assert!(
            first.try_wait().unwrap().is_none(),
            "quickstart exited: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let token = std::fs::read_to_string(&token_path).unwrap();
    let second = sanduq(&["quickstart", "--dir", data.to_str().unwrap()]);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("already running"));
    assert_eq!(
        std::fs::read_to_string(&token_path).unwrap(),
        token,
        "the running server's token is untouched"
    );
}

/// `sanduq --version` names the version and the commit the binary was built from; no page
/// and no API answer, body or header, reveals either.
#[tokio::test(flavor = "multi_thread")]
async fn the_version_names_its_commit_and_no_answer_reveals_it() {
    let out = sanduq_ok(&["--version"]);
    let git = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git, which the checkout came with");
    let commit = String::from_utf8(git.stdout).unwrap().trim().to_owned();
    assert_eq!(commit.len(), 40, "tests run in a git checkout");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(out.trim(), format!("sanduq {version} (commit {commit})"));

    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let token = std::fs::read_to_string(&ed.token_file).unwrap();
    let c = no_redirect();
    let mut answers = Vec::new();
    for path in ["/", "/en/", "/tg/login", "/static/style.css", "/nope"] {
        answers.push((
            path.to_owned(),
            c.get(server.source_url(path)).send().await.unwrap(),
        ));
    }
    for auth in [None, Some(token.trim())] {
        let mut req = c.get(format!("{}/api/v1/items", server.api_url()));
        if let Some(t) = auth {
            req = req.bearer_auth(t);
        }
        answers.push((
            format!("API, token {}", auth.is_some()),
            req.send().await.unwrap(),
        ));
    }
    let short = &commit[..7];
    for (what, res) in answers {
        let headers = format!("{:?}", res.headers());
        let body = res.text().await.unwrap();
        for text in [&headers, &body] {
            assert!(!text.contains(short), "{what}: the commit is revealed");
            assert!(!text.contains(version), "{what}: the version is revealed");
        }
    }
}
