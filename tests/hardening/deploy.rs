//! The shipped deploy files: deploy/torrc passes `tor --verify-config`, and the systemd unit
//! is sandboxed and passes `systemd-analyze verify`.

use std::collections::BTreeMap;

#[test]
fn the_deploy_torrc_is_valid_for_tor() {
    let dir = tempfile::tempdir().unwrap();
    let torrc = std::fs::read_to_string("deploy/torrc").unwrap();
    // The options of each onion service, by the HiddenServiceDir that opens its block.
    let mut blocks: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut global = Vec::new();
    let mut current: Option<String> = None;
    for line in torrc.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(dir) = line.strip_prefix("HiddenServiceDir ") {
            current = Some(
                dir.trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
            );
            continue;
        }
        match &current {
            Some(dir) => blocks.entry(dir.clone()).or_default().push(line.to_owned()),
            None => global.push(line.to_owned()),
        }
    }
    assert!(global.iter().any(|l| l == "SafeLogging 1"), "{global:?}");
    let source = &blocks["sanduq-source"];
    for needle in [
        "HiddenServicePort 80 127.0.0.1:8080",
        "HiddenServicePoWDefensesEnabled 1",
    ] {
        assert!(source.iter().any(|l| l == needle), "source: {source:?}");
    }
    let api = &blocks["sanduq-api"];
    assert!(
        api.iter()
            .any(|l| l == "HiddenServicePort 80 127.0.0.1:8081"),
        "the editor API has its own onion service: {api:?}"
    );
    assert!(!api.iter().any(|l| l.contains("8080")) && !source.iter().any(|l| l.contains("8081")));
    let copy = dir.path().join("torrc");
    std::fs::write(
        &copy,
        torrc.replace("/var/lib/tor/", &format!("{}/", dir.path().display())),
    )
    .unwrap();
    let out = std::process::Command::new("tor")
        .args(["--verify-config", "--defaults-torrc", "/dev/null", "-f"])
        .arg(&copy)
        .arg("--DataDirectory")
        .arg(dir.path().join("data"))
        .output()
        .expect("tor is installed by scripts/test.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Configuration was valid"), "{text}");
    // And it can fail: a misspelt option is refused.
    std::fs::write(&copy, "HiddenServicePoWDefensesEnabld 1\n").unwrap();
    let out = std::process::Command::new("tor")
        .args(["--verify-config", "--defaults-torrc", "/dev/null", "-f"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Unknown option"), "{text}");
}

#[test]
fn the_systemd_unit_is_sandboxed_and_verifies() {
    let unit = std::fs::read_to_string("deploy/sanduq.service").unwrap();
    let keys: BTreeMap<&str, &str> = unit
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    for (k, v) in [
        ("User", "sanduq"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/sanduq"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("LimitCORE", "0"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(keys.get(k).map(|v| v.trim()), Some(v), "{k}");
    }
    assert!(unit
        .lines()
        .any(|l| l.trim() == "SystemCallFilter=@system-service"));
    assert!(keys.contains_key("RestrictAddressFamilies"));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("sanduq.service");
    std::fs::write(
        &copy,
        unit.replace("ExecStart=/usr/bin/sanduq ", "ExecStart=/bin/true "),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze is installed by scripts/test.sh");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "{err}");
    // And it can fail: a misspelt key is reported.
    std::fs::write(
        &copy,
        unit.replace("ProtectSystem=", "ProtectSytem=")
            .replace("ExecStart=/usr/bin/sanduq ", "ExecStart=/bin/true "),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).trim().is_empty());
}
