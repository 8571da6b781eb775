//! The `sanduq` commands: server administration, and the editor's fetch/decrypt workflow.
//!
//! Every command returns a [`CliError`] whose text is one line saying what failed and what to
//! do; `main` prints it on stderr and exits 1. Usage errors exit 2 (clap).

mod admin;
mod api;
pub(crate) mod bundle;
mod conversation;
mod conversations;
mod decrypt;
mod delete_queue;
mod export;
mod fetch;
mod fetch_batch;
pub mod filename;
mod inbox;
mod keygen;
mod migrate;
mod progress;
mod reply;
pub(crate) mod sources;
mod sync;
mod trust;
mod visible;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use bundle::Manifest;
pub use delete_queue::Deletions;
pub use fetch::PushOutcome;

/// A command failed; the message is one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

impl CliError {
    /// Builds an error from anything printable, folded onto one line.
    pub fn new(msg: impl std::fmt::Display) -> Self {
        CliError(crate::crypto::one_line(&msg.to_string()))
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
    Inbox {
        /// An identity file (plain, passphrase-protected, SSH or plugin); may be repeated.
        #[arg(short = 'i', long = "identity", required = true)]
        identity: Vec<String>,
        /// The bundle folder.
        #[arg(long)]
        bundle: PathBuf,
        /// The folder offered for saving a file (decrypt's rules: nothing outside it, nothing
        /// overwritten).
        #[arg(long, default_value = "sanduq-saved")]
        save_to: PathBuf,
    },
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
            },
            AdminCommand::Token { action } => match action {
                TokenAction::Rotate { config, name } => admin::token_rotate(&config, &name).await,
            },
            AdminCommand::MigrateStore { from, to } => migrate::migrate_store(&from, &to).await,
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
        } => reply::reply(&bundle, &source, &message_file),
        Command::Push { server, bundle } => {
            fetch::push_reported(&server, &bundle).await.map(|_| ())
        }
        Command::Sync { server, bundle } => sync::sync(&server, &bundle).await,
        Command::Inbox {
            identity,
            bundle,
            save_to,
        } => tokio::task::spawn_blocking(move || inbox::inbox(&identity, &bundle, save_to))
            .await
            .map_err(CliError::new)?,
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
