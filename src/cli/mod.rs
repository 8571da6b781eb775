//! The `sanduq` commands: server administration, and the editor's fetch/decrypt workflow.
//!
//! Every command returns a [`CliError`] whose text is one line saying what failed and what to
//! do; `main` prints it on stderr and exits 1. Usage errors exit 2 (clap).

mod admin;
mod api;
mod backup;
pub(crate) mod bundle;
mod conversation;
mod conversations;
mod decrypt;
mod delete_queue;
mod expiry;
mod export;
mod fetch;
mod fetch_batch;
pub mod filename;
mod inbox;
mod keygen;
mod migrate;
mod notify;
mod progress;
mod reply;
mod restore;
mod rotate;
mod seen;
pub(crate) mod sources;
mod sync;
mod trust;
mod visible;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use bundle::Manifest;
pub use delete_queue::Deletions;
pub use fetch::PushOutcome;

/// A command failed. What it prints is one line: what failed and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A sentence for the person at the terminal, with no error beneath it.
    #[error("{0}")]
    Message(String),
    /// What failed, in words, and the error that made it fail: printed after a colon, kept
    /// whole as the source for whoever walks the chain.
    #[error("{what}: {}", crate::crypto::one_line(&.source.to_string()))]
    Caused {
        /// What failed, in words.
        what: String,
        /// Why.
        #[source]
        source: crate::web::Cause,
    },
    /// An error that says all there is to say itself: printed on one line, kept whole.
    #[error("{}", crate::crypto::one_line(&.0.to_string()))]
    Failed(#[source] crate::web::Cause),
}

impl CliError {
    /// Builds an error from anything printable, folded onto one line.
    pub fn new(msg: impl std::fmt::Display) -> Self {
        CliError::Message(crate::crypto::one_line(&msg.to_string()))
    }

    /// An error with no more to say than its cause; prints as the cause, on one line.
    pub fn caused(source: impl Into<crate::web::Cause>) -> Self {
        CliError::Failed(source.into())
    }

    /// `what` failed because of `source`; prints as `what: source`, on one line.
    pub fn context(what: impl std::fmt::Display, source: impl Into<crate::web::Cause>) -> Self {
        CliError::Caused {
            what: crate::crypto::one_line(&what.to_string()),
            source: source.into(),
        }
    }
}

/// Result alias for commands.
pub type Result<T> = std::result::Result<T, CliError>;

/// What `sanduq --version` prints: the version and the commit the binary was built from
/// (build.rs), so that an operator can rebuild exactly what runs. Only the CLI says it; no
/// page and no API answer does.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SANDUQ_COMMIT"),
    ")"
);

/// sanduq: a hardened drop box for testimonies.
#[derive(Debug, Parser)]
#[command(name = "sanduq", version = VERSION, about, max_term_width = 100)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Try sanduq out: init a folder, make a throwaway editor key and token, and serve.
    Quickstart {
        /// The folder to use.
        #[arg(long, default_value = "sanduq-data")]
        dir: PathBuf,
    },
    /// Create a new install: sanduq.toml (mode 0600), a fresh pepper, empty stores.
    Init {
        /// The folder to create.
        #[arg(long, default_value = "sanduq-data")]
        dir: PathBuf,
    },
    /// Run the server.
    Serve {
        /// The configuration file.
        #[arg(long, default_value = "sanduq-data/sanduq.toml")]
        config: PathBuf,
    },
    /// Make a new editor identity (age X25519, or post-quantum with --pq) and print its recipient.
    Keygen {
        /// Write the identity to this file (mode 0600) instead of standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// Protect the identity file with a passphrase (asked for on the terminal).
        #[arg(long)]
        passphrase: bool,
        /// A post-quantum hybrid identity (ML-KEM-768 + X25519, `age1pq1…`): for desks whose
        /// testimonies must stay secret even from a future quantum computer.
        #[arg(long)]
        pq: bool,
    },
    /// Manage editors and their API tokens.
    Admin {
        /// What to manage.
        #[command(subcommand)]
        what: AdminCommand,
    },
    /// Download new items into a bundle folder, incrementally and resumably.
    Fetch {
        /// The editor API, e.g. http://xxxx.onion or http://127.0.0.1:8081.
        #[command(flatten)]
        server: ServerArgs,
        /// The bundle folder to fill.
        #[arg(long)]
        bundle: PathBuf,
    },
    /// Offline: decrypt every item of a bundle into a folder.
    Decrypt {
        /// An identity file (plain, passphrase-protected, SSH or plugin); may be repeated.
        #[arg(short = 'i', long = "identity", required = true)]
        identity: Vec<String>,
        /// The bundle folder.
        #[arg(long)]
        bundle: PathBuf,
        /// Where to write the decrypted items; nothing is written outside it.
        #[arg(long)]
        out: PathBuf,
        /// The language forms' questions and answers are written in (tg, ru, uz, uz-Cyrl, fa,
        /// en); by default the one LC_ALL, LC_MESSAGES or LANG names, else English.
        #[arg(long)]
        lang: Option<String>,
    },
    /// Offline: gather every form's answers in a bundle into one table per form.
    Export {
        /// An identity file (plain, passphrase-protected, SSH or plugin); may be repeated.
        #[arg(short = 'i', long = "identity", required = true)]
        identity: Vec<String>,
        /// The bundle folder.
        #[arg(long)]
        bundle: PathBuf,
        /// csv (one form) or json (every form).
        #[arg(long, value_enum)]
        format: export::Format,
        /// The file to write; an existing file is replaced only with --force.
        #[arg(long)]
        out: PathBuf,
        /// Only this form's answers (by id).
        #[arg(long)]
        form: Option<String>,
        /// The language of questions and answers (tg, ru, uz, uz-Cyrl, fa, en); by default the
        /// one LC_ALL, LC_MESSAGES or LANG names, else English.
        #[arg(long)]
        lang: Option<String>,
        /// CSV headed by question names, with answers as stored codes (for tools).
        #[arg(long)]
        codes: bool,
        /// Replace --out if it is an earlier export sanduq wrote there, unchanged since.
        #[arg(long)]
        force: bool,
        /// Only submissions that no earlier export (of the same --form) held.
        #[arg(long)]
        new: bool,
    },
    /// Offline: encrypt a reply to a source into the bundle's outbox.
    Reply {
        /// The bundle folder (fetched, so that it knows the source).
        #[arg(long)]
        bundle: PathBuf,
        /// The source: its folder name from decrypt (amber-heron-3f2a91c0…), its designation
        /// with or without digits ("amber heron 3f2a91c0"), or at least 6 digits of its id.
        #[arg(long)]
        source: String,
        /// A UTF-8 text file with the reply.
        #[arg(long)]
        message_file: PathBuf,
        /// Your own identity file (may be repeated: old and new keys): the reply is written
        /// only if one of them can read it back, i.e. your key is among the accepted editors.
        #[arg(short = 'i', long = "identity")]
        identity: Vec<String>,
    },
    /// Show how the desk's editors listed by the server differ from the ones this bundle trusts,
    /// and accept that change: replies are encrypted only to editors accepted here.
    Accept {
        /// The bundle folder.
        #[arg(long)]
        bundle: PathBuf,
        /// The code `sanduq accept --bundle DIR` showed: accepts exactly that change.
        #[arg(long)]
        change: Option<String>,
    },
    /// Offline: read a bundle's sources and conversations on the terminal, reply, mark sources
    /// as handled, and queue items for deletion from the server.
    Inbox(InboxArgs),
    /// Upload the replies waiting in a bundle's outbox, then delete on the server the items
    /// queued in outbox/delete.queue.
    Push {
        /// The editor API.
        #[command(flatten)]
        server: ServerArgs,
        /// The bundle folder.
        #[arg(long)]
        bundle: PathBuf,
    },
    /// Online, one step: push the outbox, fetch, and say what is new about people.
    Sync {
        /// The editor API.
        #[command(flatten)]
        server: ServerArgs,
        /// The bundle folder (created by the first sync).
        #[arg(long)]
        bundle: PathBuf,
    },
    /// Delete items on the server.
    Delete {
        /// The editor API.
        #[command(flatten)]
        server: ServerArgs,
        /// The ids of the items to delete.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

/// `sanduq inbox`'s options.
#[derive(Debug, Args)]
pub struct InboxArgs {
    /// An identity file (plain, passphrase-protected, SSH or plugin); may be repeated.
    #[arg(short = 'i', long = "identity", required = true)]
    pub identity: Vec<String>,
    /// The bundle folder.
    #[arg(long)]
    pub bundle: PathBuf,
    /// The folder offered for saving a file (decrypt's rules: nothing outside it, nothing
    /// overwritten).
    #[arg(long, default_value = "sanduq-saved")]
    pub save_to: PathBuf,
}

/// How to reach the editor API.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The editor API's address.
    #[arg(long)]
    pub server: String,
    /// A file holding the editor's API token.
    #[arg(long)]
    pub token_file: PathBuf,
    /// A SOCKS5 proxy for onion services, e.g. socks5h://127.0.0.1:9050.
    #[arg(long)]
    pub proxy: Option<String>,
}

/// `sanduq admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Editors.
    Editor {
        /// What to do.
        #[command(subcommand)]
        action: EditorAction,
    },
    /// API tokens.
    Token {
        /// What to do.
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Copy every object and row of an install to other stores (for example from the
    /// embedded ones to PostgreSQL and S3), without decrypting anything. Stop `serve` first;
    /// safe to run again after an interruption.
    MigrateStore {
        /// The configuration naming the stores to copy from.
        #[arg(long)]
        from: PathBuf,
        /// The configuration naming the stores to copy to (the same pepper).
        #[arg(long)]
        to: PathBuf,
    },
    /// Run one retention pass now: delete what each desk's `retention_days` no longer keeps,
    /// and print how many items, sources and replies went (counts only).
    Expire {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Back up an embedded install (SQLite and its blob folder) into one file, while it
    /// serves: ciphertext and metadata only, never the pepper. The file is created mode 0600
    /// and never replaces an existing one.
    Backup {
        /// The install's configuration.
        #[arg(long)]
        config: PathBuf,
        /// The backup file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into a new, empty install (made with `sanduq init`, its pepper
    /// replaced by the backed-up install's); refuses an install that holds anything. Stop
    /// `serve` on the new install first.
    Restore {
        /// The new install's configuration, with the backed-up install's pepper.
        #[arg(long)]
        config: PathBuf,
        /// The backup file made by `sanduq admin backup`.
        #[arg(long)]
        from: PathBuf,
    },
    /// Bring the metadata schema to this binary's version and stop, as `serve` does at
    /// start: to see an upgrade's migrations pass before any server restarts.
    Migrate {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Content-free notices to editors that something arrived on their desk.
    Notify {
        /// What to do.
        #[command(subcommand)]
        action: NotifyAction,
    },
}

/// `sanduq admin notify …`.
#[derive(Debug, Subcommand)]
pub enum NotifyAction {
    /// Opt an editor in: at most one notice per period, at a random moment in it.
    Set {
        /// The configuration file (it needs a `[notify]` section).
        #[arg(long)]
        config: PathBuf,
        /// The editor's name.
        #[arg(long)]
        name: String,
        /// Notices by e-mail to this address.
        #[arg(long)]
        email: Option<String>,
        /// Notices by HTTP POST to this URL (https, or http to this machine).
        #[arg(long)]
        webhook: Option<String>,
    },
    /// Opt an editor out (of the channels named, or of both).
    Off {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The editor's name.
        #[arg(long)]
        name: String,
        /// No more e-mail.
        #[arg(long)]
        email: bool,
        /// No more webhook.
        #[arg(long)]
        webhook: bool,
    },
    /// List who gets notices, and where.
    List {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// `sanduq admin editor …`.
#[derive(Debug, Subcommand)]
pub enum EditorAction {
    /// Register an editor; prints its API token once.
    Add {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// A unique name for the editor.
        #[arg(long)]
        name: String,
        /// The editor's age recipient (age1…, ssh-ed25519 …, or a plugin recipient).
        #[arg(long)]
        recipient: String,
        /// The desk (default: the first desk of the configuration).
        #[arg(long)]
        desk: Option<String>,
    },
    /// List editors.
    List {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Remove an editor; its token stops working at once.
    Remove {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The editor's name.
        #[arg(long)]
        name: String,
    },
    /// Give an editor a new key: new items are encrypted to it at once; nothing stored is
    /// re-encrypted, so the editor keeps the old key to read older items.
    RotateKey {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The editor's name.
        #[arg(long)]
        name: String,
        /// The editor's new age recipient.
        #[arg(long)]
        recipient: String,
    },
}

/// `sanduq admin token …`.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Give an editor a new API token (printed once); the old one stops working.
    Rotate {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The editor's name.
        #[arg(long)]
        name: String,
    },
}

/// Runs a parsed command.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Quickstart { dir } => admin::quickstart(&dir).await,
        Command::Init { dir } => admin::init(&dir).await.map(|_| ()),
        Command::Serve { config } => admin::serve(&config).await,
        Command::Keygen {
            output,
            passphrase,
            pq,
        } => keygen::keygen(output.as_deref(), passphrase, pq),
        Command::Admin { what } => match what {
            AdminCommand::Editor { action } => match action {
                EditorAction::Add {
                    config,
                    name,
                    recipient,
                    desk,
                } => admin::editor_add(&config, &name, &recipient, desk.as_deref()).await,
                EditorAction::List { config } => admin::editor_list(&config).await,
                EditorAction::Remove { config, name } => admin::editor_remove(&config, &name).await,
                EditorAction::RotateKey {
                    config,
                    name,
                    recipient,
                } => rotate::rotate_key(&config, &name, &recipient).await,
            },
            AdminCommand::Token { action } => match action {
                TokenAction::Rotate { config, name } => admin::token_rotate(&config, &name).await,
            },
            AdminCommand::MigrateStore { from, to } => migrate::migrate_store(&from, &to).await,
            AdminCommand::Notify { action } => match action {
                NotifyAction::Set {
                    config,
                    name,
                    email,
                    webhook,
                } => notify::set(&config, &name, email.as_deref(), webhook.as_deref()).await,
                NotifyAction::Off {
                    config,
                    name,
                    email,
                    webhook,
                } => notify::off(&config, &name, email, webhook).await,
                NotifyAction::List { config } => notify::list(&config).await,
            },
            AdminCommand::Backup { config, out } => backup::backup(&config, &out).await,
            AdminCommand::Restore { config, from } => restore::restore(&config, &from).await,
            AdminCommand::Migrate { config } => admin::migrate(&config).await,
            AdminCommand::Expire { config } => admin::expire(&config).await,
        },
        Command::Fetch { server, bundle } => fetch::fetch(&server, &bundle).await.map(|_| ()),
        Command::Decrypt {
            identity,
            bundle,
            out,
            lang,
        } => {
            let lang = editor_locale(lang.as_deref())?;
            tokio::task::spawn_blocking(move || decrypt::decrypt(&identity, &bundle, &out, lang))
                .await
                .map_err(CliError::new)?
        }
        Command::Export {
            identity,
            bundle,
            format,
            out,
            form,
            lang,
            codes,
            force,
            new,
        } => {
            let opts = export::Options {
                format,
                only: form,
                lang: editor_locale(lang.as_deref())?,
                codes,
                force,
                new,
            };
            tokio::task::spawn_blocking(move || export::export(&identity, &bundle, &out, &opts))
                .await
                .map_err(CliError::new)?
        }
        Command::Delete { server, ids } => fetch::delete(&server, &ids).await,
        Command::Reply {
            bundle,
            source,
            message_file,
            identity,
        } => reply::reply(&bundle, &source, &message_file, &identity),
        Command::Push { server, bundle } => fetch::push_command(&server, &bundle).await,
        Command::Sync { server, bundle } => sync::sync(&server, &bundle).await,
        Command::Inbox(args) => inbox::command(args).await,
        Command::Accept { bundle, change } => trust::accept(&bundle, change.as_deref()),
    }
}

/// The language the editor reads forms in: `--lang`, else the environment's, else English.
pub(crate) fn editor_locale(lang: Option<&str>) -> Result<crate::i18n::Locale> {
    crate::forms::words::editor_locale(lang, |k| std::env::var(k).ok()).map_err(CliError::new)
}

/// Writes `contents` to a new file with mode 0600; refuses to overwrite.
pub(crate) fn write_private(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::CliError;

    #[test]
    fn a_cli_error_prints_one_line_and_keeps_its_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied\nby policy");
        let e = CliError::context("cannot write the bundle", io);
        assert_eq!(e.to_string(), "cannot write the bundle: denied by policy");
        let cause = std::error::Error::source(&e).expect("the cause is kept");
        assert_eq!(
            cause
                .downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind),
            Some(std::io::ErrorKind::PermissionDenied)
        );
        let plain = CliError::new("two\nlines");
        assert_eq!(plain.to_string(), "two lines");
        assert!(std::error::Error::source(&plain).is_none());
    }
}
