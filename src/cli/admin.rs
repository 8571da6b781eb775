//! Operator commands: `init`, `serve`, `quickstart`, editor and token management, and a
//! retention pass on demand (`admin expire`).

use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::{write_private, CliError, Result};
use crate::config::Config;
use crate::store::{Editor, MetaStore};

const CONFIG_NAME: &str = "sanduq.toml";

pub(super) fn load(config: &Path) -> Result<Config> {
    Config::load(config).map_err(CliError::new)
}

pub(super) async fn meta_store(cfg: &Config) -> Result<std::sync::Arc<dyn MetaStore>> {
    crate::store::open::meta(cfg)
        .await
        .map_err(|e| CliError::context("cannot open the metadata store", e))
}

/// `sanduq init`: returns the path of the new configuration file.
pub(super) async fn init(dir: &Path) -> Result<PathBuf> {
    let path = dir.join(CONFIG_NAME);
    if path.exists() {
        return Err(CliError::new(format!(
            "{} already exists; choose another --dir",
            path.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::context(format!("cannot create {}", dir.display()), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| CliError::context(format!("cannot restrict {}", dir.display()), e))?;
    }
    let mut pepper = [0u8; 32];
    crate::ids::fill_random(&mut pepper);
    let text = crate::config::template(&base64::engine::general_purpose::STANDARD.encode(pepper));
    zeroize::Zeroize::zeroize(&mut pepper);
    write_private(&path, text.as_bytes())
        .map_err(|e| CliError::context(format!("cannot write {}", path.display()), e))?;
    let cfg = load(&path)?;
    crate::store::open::blobs(&cfg)
        .await
        .map_err(|e| CliError::context("cannot create the blob store", e))?;
    let meta = meta_store(&cfg).await?;
    // `serve` refuses another pepper than this one.
    crate::codename::install::check_pepper(meta.as_ref(), &cfg.pepper)
        .await
        .map_err(CliError::new)?;
    eprintln!("Initialised {}.", dir.display());
    eprintln!(
        "Next: make an editor key offline (sanduq keygen -o key.txt), then register it:\n  sanduq admin editor add --config {} --name NAME --recipient age1…",
        path.display()
    );
    Ok(path)
}

/// `sanduq serve`.
pub(super) async fn serve(config: &Path) -> Result<()> {
    let cfg = load(config)?;
    run_server(cfg).await
}

async fn run_server(cfg: Config) -> Result<()> {
    // A core dump would write whatever is in memory (plaintext on its way to encryption, a
    // source's reply key) to disk in the clear.
    rlimit::setrlimit(rlimit::Resource::CORE, 0, 0)
        .map_err(|e| CliError::context("cannot disable core dumps", e))?;
    // Not dumpable either: no core even if a limit is raised later, and no other process of
    // the same user may attach to this one or read its memory through /proc.
    #[cfg(target_os = "linux")]
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| CliError::context("cannot make the process undumpable", e))?;
    // Each open connection takes a descriptor; allow as many as the hard limit does.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let state = crate::web::AppState::open(cfg)
        .await
        .map_err(CliError::new)?;
    // A desk's editors are all post-quantum or all classical: age cannot mix them in a file.
    // Each key must still pass today's checks: one stored before a check existed (a low-order
    // X25519 half in an age1pq1 key, say) would otherwise fail only when a source sends.
    for d in &state.config.desks {
        let recipients = state
            .meta
            .desk_recipients(&d.name)
            .await
            .map_err(|e| CliError::context("cannot read the editors", e))?;
        for r in &recipients {
            crate::crypto::check_recipient(r).map_err(|e| {
                CliError::new(format!(
                    "desk {:?} has an editor key sanduq no longer accepts ({e}); remove that \
                     editor with `sanduq admin editor remove` and add a new key",
                    d.name
                ))
            })?;
        }
        crate::crypto::check_one_kind(&d.name, &recipients).map_err(CliError::new)?;
    }
    crate::web::serve(state, shutdown_signal())
        .await
        .map_err(CliError::new)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// `sanduq quickstart`.
pub(super) async fn quickstart(dir: &Path) -> Result<()> {
    let config = dir.join(CONFIG_NAME);
    if !config.exists() {
        init(dir).await?;
    }
    let cfg = load(&config)?;
    // Refuse before touching anything if a server already runs on this folder: rotating the
    // quickstart token under it would lock its user out.
    let lock_path = cfg.data_dir.join("sanduq.lock");
    if let Ok(f) = std::fs::OpenOptions::new().read(true).open(&lock_path) {
        if let Err(std::fs::TryLockError::WouldBlock) = f.try_lock() {
            return Err(CliError::new(format!(
                "a sanduq server is already running on {}; stop it first",
                dir.display()
            )));
        }
    }
    let meta = meta_store(&cfg).await?;
    let key_path = dir.join("quickstart-editor-key.txt");
    let token_path = dir.join("quickstart-editor-token");
    let recipient = if key_path.exists() {
        let text = std::fs::read_to_string(&key_path)
            .map_err(|e| CliError::context(format!("cannot read {}", key_path.display()), e))?;
        text.lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .map(str::to_owned)
            .ok_or_else(|| {
                CliError::new(format!("{} has no public key line", key_path.display()))
            })?
    } else {
        super::keygen::write_identity(&key_path, false, false)?
    };
    let (token, hash) = crate::tokens::generate();
    let editors = meta.editors().await.map_err(CliError::new)?;
    if editors.iter().any(|e| e.name == "quickstart") {
        meta.set_token_hash("quickstart", &hash)
            .await
            .map_err(CliError::new)?;
    } else {
        meta.add_editor(&Editor {
            name: "quickstart".into(),
            desk: cfg.default_desk().name.clone(),
            recipient,
            token_hash: hash,
        })
        .await
        .map_err(CliError::new)?;
    }
    let _ = std::fs::remove_file(&token_path);
    write_private(&token_path, format!("{token}\n").as_bytes())
        .map_err(|e| CliError::context(format!("cannot write {}", token_path.display()), e))?;
    drop(meta);

    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("sanduq"));
    println!("sanduq quickstart: a throwaway install for trying sanduq out.");
    println!("Its editor key sits beside the server: never use it for real testimonies.");
    println!();
    println!("  Source site: http://{}/", cfg.source_addr);
    println!("  Editor API:  http://{}/", cfg.api_addr);
    println!();
    println!("Open the source site in a browser, send a message and a file, then run:");
    println!();
    println!(
        "  {} fetch --server http://{} --token-file {} --bundle ./sanduq-bundle",
        exe.display(),
        cfg.api_addr,
        abs(&token_path).display()
    );
    println!(
        "  {} decrypt --identity {} --bundle ./sanduq-bundle --out ./sanduq-decrypted",
        exe.display(),
        abs(&key_path).display()
    );
    println!();
    println!("Stop the server with Ctrl-C.");
    run_server(cfg).await
}

/// `sanduq admin editor add`.
pub(super) async fn editor_add(
    config: &Path,
    name: &str,
    recipient: &str,
    desk: Option<&str>,
) -> Result<()> {
    let cfg = load(config)?;
    let desk = match desk {
        Some(d) => cfg
            .desk(d)
            .ok_or_else(|| {
                CliError::new(format!(
                    "no desk {d:?} in {}; desks: {}",
                    config.display(),
                    cfg.desks
                        .iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?
            .name
            .clone(),
        None => cfg.default_desk().name.clone(),
    };
    if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(CliError::new("--name must be 1 to 64 printable characters"));
    }
    crate::crypto::check_recipient(recipient).map_err(|e| CliError::context("--recipient", e))?;
    let meta = meta_store(&cfg).await?;
    let existing = meta.desk_recipients(&desk).await.map_err(CliError::new)?;
    let pq = crate::crypto::is_post_quantum(recipient);
    if existing
        .iter()
        .any(|r| crate::crypto::is_post_quantum(r) != pq)
    {
        let (have, new) = if pq {
            ("classical (age1…)", "a post-quantum key (age1pq1…)")
        } else {
            ("post-quantum (age1pq1…)", "a classical key")
        };
        return Err(CliError::new(format!(
            "desk {desk:?} has {have} editors; {new} cannot join it, because age cannot encrypt one file to both kinds. Move the whole desk at once (docs/operator.md) or use another desk"
        )));
    }
    let (token, hash) = crate::tokens::generate();
    meta.add_editor(&Editor {
        name: name.to_owned(),
        desk: desk.clone(),
        recipient: recipient.trim().to_owned(),
        token_hash: hash,
    })
    .await
    .map_err(CliError::new)?;
    eprintln!("Editor {name:?} added to desk {desk:?}. Its API token, shown only this once:");
    println!("{token}");
    super::rotate::warn_if_alone(meta.as_ref(), &desk).await;
    Ok(())
}

/// `sanduq admin editor list`.
pub(super) async fn editor_list(config: &Path) -> Result<()> {
    let cfg = load(config)?;
    let meta = meta_store(&cfg).await?;
    for e in meta.editors().await.map_err(CliError::new)? {
        println!("{}\t{}\t{}", e.name, e.desk, e.recipient);
    }
    Ok(())
}

/// `sanduq admin editor remove`.
pub(super) async fn editor_remove(config: &Path, name: &str) -> Result<()> {
    let cfg = load(config)?;
    let meta = meta_store(&cfg).await?;
    let desk = meta
        .editors()
        .await
        .map_err(CliError::new)?
        .into_iter()
        .find(|e| e.name == name)
        .map(|e| e.desk);
    if !meta.remove_editor(name).await.map_err(CliError::new)? {
        return Err(CliError::new(format!("no editor named {name:?}")));
    }
    eprintln!(
        "Editor {name:?} removed; its token no longer works and new items are no longer          encrypted to its key. What it could read before stays readable to it."
    );
    if let Some(desk) = desk {
        super::rotate::warn_if_alone(meta.as_ref(), &desk).await;
    }
    Ok(())
}

/// `sanduq admin token rotate`.
pub(super) async fn token_rotate(config: &Path, name: &str) -> Result<()> {
    let cfg = load(config)?;
    let meta = meta_store(&cfg).await?;
    let (token, hash) = crate::tokens::generate();
    if !meta
        .set_token_hash(name, &hash)
        .await
        .map_err(CliError::new)?
    {
        return Err(CliError::new(format!("no editor named {name:?}")));
    }
    eprintln!("New API token for {name:?}, shown only this once; the old one no longer works:");
    println!("{token}");
    Ok(())
}

/// `sanduq admin migrate`: opening the metadata store applies the migrations it lacks.
pub(super) async fn migrate(config: &Path) -> Result<()> {
    let cfg = load(config)?;
    meta_store(&cfg).await?;
    eprintln!("The metadata schema is up to date.");
    Ok(())
}

/// `sanduq admin expire`: one retention pass now. Waits a little for the janitor's lease if
/// a server's pass holds it; prints counts only, never which items or sources.
pub(super) async fn expire(config: &Path) -> Result<()> {
    let cfg = load(config)?;
    let meta = meta_store(&cfg).await?;
    let blobs = crate::store::open::blobs(&cfg)
        .await
        .map_err(|e| CliError::new(format!("cannot open the blob store: {e}")))?;
    let today = crate::ids::utc_date();
    for _ in 0..20 {
        let pass = crate::store::retention::pass(blobs.as_ref(), meta.as_ref(), &cfg.desks, today)
            .await
            .map_err(|e| CliError::new(format!("the retention pass failed: {e}")))?;
        if let Some(e) = pass {
            println!(
                "expired {} item(s), {} source(s), {} reply(ies)",
                e.items, e.sources, e.replies
            );
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Err(CliError::new(
        "another sanduq holds the janitor's lease (its pass is running); try again in a minute",
    ))
}
