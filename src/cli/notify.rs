//! `sanduq admin notify`: which editors get content-free notices, and where.

use std::path::Path;

use super::admin::{load, meta_store};
use super::{CliError, Result};
use crate::store::Channel;

/// `sanduq admin notify set`: opts an editor in by e-mail and/or webhook.
pub(super) async fn set(
    config: &Path,
    name: &str,
    email: Option<&str>,
    webhook: Option<&str>,
) -> Result<()> {
    let cfg = load(config)?;
    let Some(notify) = &cfg.notify else {
        return Err(CliError::new(format!(
            "{} has no [notify] section; add one (docs/operator.md, \"Notifications\")",
            config.display()
        )));
    };
    if email.is_none() && webhook.is_none() {
        return Err(CliError::new(
            "give --email ADDRESS, --webhook URL, or both",
        ));
    }
    if email.is_some() && notify.smtp.is_none() {
        return Err(CliError::new(
            "[notify] names no smtp_server; set it before opting editors in by e-mail",
        ));
    }
    let wanted = [(Channel::Email, email), (Channel::Webhook, webhook)];
    for (channel, address) in wanted {
        if let Some(a) = address {
            crate::notify::check_address(channel, a).map_err(CliError::new)?;
        }
    }
    let meta = meta_store(&cfg).await?;
    for (channel, address) in wanted {
        if address.is_none() {
            continue;
        }
        if !meta
            .notify_subscribe(name, channel, address)
            .await
            .map_err(CliError::new)?
        {
            return Err(CliError::new(format!("no editor named {name:?}")));
        }
        eprintln!(
            "Editor {name:?} gets at most one content-free notice per period by {}.",
            channel.as_str()
        );
    }
    Ok(())
}

/// `sanduq admin notify off`: opts an editor out of one channel, or of both.
pub(super) async fn off(config: &Path, name: &str, email: bool, webhook: bool) -> Result<()> {
    let cfg = load(config)?;
    let meta = meta_store(&cfg).await?;
    let both = !email && !webhook;
    for (channel, chosen) in [(Channel::Email, email), (Channel::Webhook, webhook)] {
        if (both || chosen)
            && !meta
                .notify_subscribe(name, channel, None)
                .await
                .map_err(CliError::new)?
        {
            return Err(CliError::new(format!("no editor named {name:?}")));
        }
    }
    eprintln!(
        "Editor {name:?} gets no notices{}.",
        if both { "" } else { " there" }
    );
    Ok(())
}

/// `sanduq admin notify list`: editor, channel and address, one per line.
pub(super) async fn list(config: &Path) -> Result<()> {
    let cfg = load(config)?;
    let meta = meta_store(&cfg).await?;
    for r in meta.notify_rows().await.map_err(CliError::new)? {
        println!("{}\t{}\t{}", r.editor, r.channel.as_str(), r.address);
    }
    Ok(())
}
