//! Records the commit sanduq is built from, for `sanduq --version`: SANDUQ_BUILD_COMMIT when
//! set (a build from a source tarball, where there is no git), else `git rev-parse HEAD`, else
//! "unknown". Only the commit, never a time or a path, so that a rebuild from the same commit
//! gives the same bytes.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SANDUQ_BUILD_COMMIT");
    // `sqlx::migrate!` embeds migrations/ at build time: a changed migration must rebuild.
    println!("cargo:rerun-if-changed=migrations");
    // HEAD moves when a branch's ref does: watch both (best effort; a packed ref is covered
    // by HEAD's own change on checkout).
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let commit = std::env::var("SANDUQ_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(git_head)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=SANDUQ_COMMIT={commit}");
}

fn git_head() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let commit = text.trim();
    (out.status.success() && commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| commit.to_owned())
}
