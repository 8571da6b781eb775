//! `sanduq inbox`: the offline machine's reading room, on a terminal.
//!
//! It lists the bundle's sources (new activity first, with unread counts), shows a source's
//! whole conversation in order (see `conversation`), and lets the editor reply (into the
//! outbox, exactly as `sanduq reply`), mark a source as handled, queue items or a whole
//! source for deletion from the server (`outbox/delete.queue`, applied by `sanduq push`), and
//! save a file with `decrypt`'s rules. Everything decrypted stays in memory: nothing is
//! written to disk unless the editor saves a file. A reply written in `$EDITOR` passes
//! through a private temporary file, removed at once.

mod app;
mod state;
mod view;

use std::io::Write;
use std::path::{Path, PathBuf};

use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::DefaultTerminal;
use zeroize::Zeroizing;

use super::{CliError, Result};
use app::{Action, App};

/// `sanduq inbox`, on a thread where blocking on the terminal is fine.
pub(super) async fn command(args: super::InboxArgs) -> Result<()> {
    tokio::task::spawn_blocking(move || inbox(&args.identity, &args.bundle, args.save_to))
        .await
        .map_err(CliError::new)?
}

/// `sanduq inbox`.
fn inbox(identity: &[String], bundle: &Path, save_to: PathBuf) -> Result<()> {
    // Passphrases are asked for before the screen is taken over.
    let ids = super::decrypt::open_identities(identity)?;
    let mut app = App::new(bundle.to_owned(), ids, save_to)?;
    let mut terminal =
        ratatui::try_init().map_err(|e| CliError::new(format!("cannot use this terminal: {e}")))?;
    let result = run(&mut terminal, &mut app);
    ratatui::restore();
    result
}

fn run(terminal: &mut DefaultTerminal, app: &mut App) -> Result<()> {
    let fail = |e: std::io::Error| CliError::new(format!("the terminal failed: {e}"));
    loop {
        terminal.draw(|f| view::draw(f, app)).map_err(fail)?;
        let Event::Key(key) = event::read().map_err(fail)? else {
            continue;
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        match app.key(key) {
            Action::None => {}
            Action::Quit => return Ok(()),
            Action::ExternalEditor => {
                ratatui::restore();
                let written = external_editor();
                *terminal = ratatui::try_init().map_err(fail)?;
                match written {
                    Ok(text) if text.trim().is_empty() => {
                        app.status = "the reply was empty; nothing written".into();
                    }
                    Ok(text) => app.send_reply(text),
                    Err(e) => app.status = e.to_string(),
                }
            }
        }
    }
}

/// Runs `$EDITOR` (or `vi`) on an empty file in a folder only this user can open, reads what
/// was written, and overwrites and removes the file.
fn external_editor() -> Result<Zeroizing<String>> {
    let dir = std::env::temp_dir().join(format!("sanduq-reply-{}", crate::ids::Id::random()));
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(&dir)
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", dir.display())))?;
    let file = dir.join("reply.txt");
    let result = edit(&file);
    if let Ok(len) = std::fs::metadata(&file).map(|m| m.len()) {
        let zeros = vec![0u8; usize::try_from(len).unwrap_or(0)];
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .and_then(|mut f| f.write_all(&zeros).and_then(|()| f.sync_all()));
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn edit(file: &Path) -> Result<Zeroizing<String>> {
    super::write_private(file, b"")
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", file.display())))?;
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    // `$EDITOR` may hold arguments ("nano -w"): run it through the shell, the file as $1.
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("{editor} \"$1\""), "sh"])
        .arg(file)
        .status()
        .map_err(|e| CliError::new(format!("cannot run the editor: {e}")))?;
    if !status.success() {
        return Err(CliError::new(
            "the editor ended with an error; nothing written",
        ));
    }
    let bytes = Zeroizing::new(
        std::fs::read(file).map_err(|e| CliError::new(format!("cannot read the reply: {e}")))?,
    );
    let text =
        std::str::from_utf8(&bytes).map_err(|_| CliError::new("the reply must be UTF-8 text"))?;
    Ok(Zeroizing::new(text.to_owned()))
}
