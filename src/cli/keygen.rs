//! `sanduq keygen`: a new editor identity, plain or passphrase-protected, classical or
//! post-quantum.
//!
//! The identity file has the reference age format (`AGE-SECRET-KEY-1…` with a
//! `# public key:` comment). With `--passphrase` the whole file is age-encrypted to a
//! passphrase and armored, exactly what `age-keygen | age -p -a` makes, so the reference
//! `age -d -i` accepts it too. With `--pq` the identity is the hybrid post-quantum kind
//! (`AGE-SECRET-KEY-PQ-1…`, recipient `age1pq1…`), as `age-keygen -pq` (age 1.3) makes it.

use std::io::Write;
use std::path::Path;

use age::secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::{write_private, CliError, Result};

/// `sanduq keygen [-o FILE] [--passphrase] [--pq]`.
pub(super) fn keygen(output: Option<&Path>, passphrase: bool, pq: bool) -> Result<()> {
    match output {
        Some(path) => {
            let recipient = write_identity(path, passphrase, pq)?;
            println!("{recipient}");
        }
        None => {
            let (text, recipient) = identity_text(passphrase, pq)?;
            std::io::stdout()
                .write_all(text.as_bytes())
                .map_err(CliError::new)?;
            eprintln!("Public key: {recipient}");
        }
    }
    Ok(())
}

/// Writes a new identity to `path` (mode 0600, never overwriting); returns its recipient.
pub(super) fn write_identity(path: &Path, passphrase: bool, pq: bool) -> Result<String> {
    if path.exists() {
        return Err(CliError::new(format!(
            "{} already exists; sanduq never overwrites a key",
            path.display()
        )));
    }
    let (text, recipient) = identity_text(passphrase, pq)?;
    write_private(path, text.as_bytes())
        .map_err(|e| CliError::context(format!("cannot write {}", path.display()), e))?;
    Ok(recipient)
}

/// The identity file's text (wiped from memory when dropped) and its recipient.
fn identity_text(passphrase: bool, pq: bool) -> Result<(Zeroizing<String>, String)> {
    let (recipient, secret) = if pq {
        let id = crate::pq::Identity::generate().map_err(CliError::new)?;
        (id.to_public().to_string(), id.to_string())
    } else {
        let id = age::x25519::Identity::generate();
        (id.to_public().to_string(), id.to_string())
    };
    // The recipient must be one sanduq takes: `admin editor add` parses it the same way.
    crate::crypto::check_recipient(&recipient).map_err(CliError::new)?;
    let plain = Zeroizing::new(format!(
        "# public key: {recipient}\n{}\n",
        secret.expose_secret()
    ));
    if !passphrase {
        return Ok((plain, recipient));
    }
    let pass = age::cli_common::read_secret(
        "Passphrase for the new identity file",
        "Passphrase",
        Some("Confirm passphrase"),
    )
    .map_err(|e| CliError::new(format!("no passphrase read: {e}")))?;
    if pass.expose_secret().is_empty() {
        return Err(CliError::new(
            "an empty passphrase protects nothing; give one",
        ));
    }
    let enc = age::Encryptor::with_user_passphrase(pass);
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
        .map_err(CliError::new)?;
    let mut w = enc.wrap_output(armor).map_err(CliError::new)?;
    w.write_all(plain.as_bytes()).map_err(CliError::new)?;
    w.finish().and_then(|a| a.finish()).map_err(CliError::new)?;
    let text = Zeroizing::new(String::from_utf8(out).map_err(CliError::new)?);
    Ok((text, recipient))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_text_is_wiped_when_dropped() {
        for pq in [false, true] {
            let (text, recipient) = identity_text(false, pq).map_err(|e| e.to_string()).unwrap();
            // The type is the test: the text with the secret key is a `Zeroizing<String>`.
            let text: &Zeroizing<String> = &text;
            assert!(text.starts_with(&format!("# public key: {recipient}\n")));
            assert!(text.contains("AGE-SECRET-KEY-"));
        }
    }
}
