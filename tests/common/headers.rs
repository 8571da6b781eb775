//! The security headers every response of both routers must carry, parsed as a browser would
//! (the CSP directive by directive), for the in-process and the real-listener tests alike.

use std::collections::{BTreeMap, BTreeSet};

/// A CSP header, directive by directive. Panics on a malformed directive name (a stray colon,
/// say), which a browser would ignore.
fn csp_directives(csp: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for d in csp.split(';').map(str::trim).filter(|d| !d.is_empty()) {
        let mut words = d.split_ascii_whitespace();
        let name = words.next().unwrap();
        assert!(
            name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "malformed CSP directive name {name:?} in {csp:?}"
        );
        let prev = out.insert(name.to_owned(), words.map(str::to_owned).collect());
        assert!(prev.is_none(), "directive {name} twice in {csp:?}");
    }
    out
}

/// Fails unless `h` carries exactly the headers every response must carry.
pub fn check_headers(what: &str, h: &axum::http::HeaderMap) {
    let one = |name: &str| -> String {
        let all: Vec<_> = h.get_all(name).iter().collect();
        assert_eq!(all.len(), 1, "{what}: {name} must appear once, got {all:?}");
        all[0].to_str().unwrap().to_owned()
    };
    let expected: BTreeMap<String, Vec<String>> = [
        ("default-src", "'none'"),
        ("style-src", "'self'"),
        ("img-src", "'self'"),
        ("form-action", "'self'"),
        ("base-uri", "'none'"),
        ("frame-ancestors", "'none'"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), vec![v.to_owned()]))
    .collect();
    assert_eq!(
        csp_directives(&one("content-security-policy")),
        expected,
        "{what}"
    );
    assert_eq!(one("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(one("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(one("cross-origin-opener-policy"), "same-origin", "{what}");
    assert_eq!(one("cross-origin-resource-policy"), "same-origin", "{what}");
    assert_eq!(one("cache-control"), "no-store", "{what}");
    let pp = one("permissions-policy");
    let features: BTreeSet<&str> = pp
        .split(',')
        .map(|f| {
            let (name, allow) = f.trim().split_once('=').expect("feature=allowlist");
            assert_eq!(allow, "()", "{what}: {name} is allowed to {allow}");
            name
        })
        .collect();
    for f in [
        "camera",
        "microphone",
        "geolocation",
        "payment",
        "usb",
        "fullscreen",
        "display-capture",
        "clipboard-read",
        "publickey-credentials-get",
        "browsing-topics",
    ] {
        assert!(features.contains(f), "{what}: {f} not denied in {pp}");
    }
    for absent in ["server", "etag", "x-powered-by", "last-modified"] {
        assert!(h.get(absent).is_none(), "{what}: {absent} sent");
    }
}
