//! The age layer: recipients, identities, and streaming encryption.
//!
//! Everything sanduq stores is a standard binary age file (`age-encryption.org/v1`) that the
//! reference `age` CLI decrypts with no sanduq code. This module is the only place that
//! turns recipient strings into age recipients and identity files into age identities.

use std::io::{self, Read, Write};

use age::{Decryptor, Encryptor, Recipient};

/// The first line of every binary age file.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";

/// What can go wrong in the age layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A recipient string is not one sanduq (or its plugins) understands.
    #[error("not an age recipient: {0}")]
    BadRecipient(String),
    /// A desk has no editors, so nobody could read what would be encrypted.
    #[error("no recipients")]
    NoRecipients,
    /// age refused to encrypt (e.g. a plugin failed or recipients cannot be mixed).
    #[error("encryption failed: {0}")]
    Encrypt(String),
    /// The file is not an age file, is damaged, or truncated.
    #[error("{0}")]
    Decrypt(String),
    /// The file is intact but encrypted to none of these identities (for an editor who
    /// joined the desk after it arrived, not a fault).
    #[error("none of the given identities can decrypt it")]
    NotForThese,
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A desk's editors are of both kinds, post-quantum and classical.
    #[error(
        "desk {desk:?} mixes {pq} post-quantum (age1pq1…) and {classical} classical editor keys; age cannot encrypt one file to both: remove one kind with `sanduq admin editor remove` (docs/operator.md, moving a desk to post-quantum keys)"
    )]
    MixedKinds {
        /// The desk.
        desk: String,
        /// How many of its editors have post-quantum keys.
        pq: usize,
        /// How many have classical keys.
        classical: usize,
    },
}

/// Parses one recipient: `age1…` (X25519), `age1pq1…` (post-quantum, [`crate::pq`]),
/// `ssh-ed25519 …` / `ssh-rsa …`, or a plugin recipient `age1<plugin>1…` (whose
/// `age-plugin-<name>` binary must then be on `PATH`).
pub fn parse_recipient(s: &str) -> Result<Box<dyn Recipient + Send>, Error> {
    let s = s.trim();
    // Before the plugin parse, which would take `age1pq1…` for a plugin named "pq".
    if s.starts_with(crate::pq::RECIPIENT_PREFIX) {
        return s
            .parse::<crate::pq::Recipient>()
            .map(|r| Box::new(r) as Box<dyn Recipient + Send>)
            .map_err(|e| Error::BadRecipient(e.to_string()));
    }
    if let Ok(r) = s.parse::<age::x25519::Recipient>() {
        return Ok(Box::new(r));
    }
    if s.starts_with("ssh-") {
        return s
            .parse::<age::ssh::Recipient>()
            .map(|r| Box::new(r) as Box<dyn Recipient + Send>)
            .map_err(|_| Error::BadRecipient("unsupported or malformed SSH public key".into()));
    }
    if let Ok(r) = s.parse::<age::plugin::Recipient>() {
        let name = r.plugin().to_owned();
        let plugin = age::plugin::RecipientPluginV1::new(&name, &[r], &[], age::NoCallbacks)
            .map_err(|_| {
                Error::BadRecipient(format!("needs the plugin binary age-plugin-{name} on PATH"))
            })?;
        return Ok(Box::new(plugin));
    }
    Err(Error::BadRecipient(
        "expected age1…, ssh-ed25519 …, ssh-rsa … or a plugin recipient".into(),
    ))
}

/// Checks a recipient string without keeping it.
pub fn check_recipient(s: &str) -> Result<(), Error> {
    parse_recipient(s).map(|_| ())
}

/// Makes an encryptor for `recipients`. May run a plugin binary, so call it off the async
/// executor (`spawn_blocking`).
pub fn encryptor(recipients: &[String]) -> Result<Encryptor, Error> {
    if recipients.is_empty() {
        return Err(Error::NoRecipients);
    }
    let parsed = recipients
        .iter()
        .map(|r| parse_recipient(r))
        .collect::<Result<Vec<_>, _>>()?;
    Encryptor::with_recipients(parsed.iter().map(|r| r.as_ref() as &dyn Recipient))
        .map_err(|e| Error::Encrypt(e.to_string()))
}

/// Whether `recipient` is post-quantum (`age1pq1…`). age refuses to write a file to a mix of
/// post-quantum and classical recipients: a classical stanza would undo the protection.
pub fn is_post_quantum(recipient: &str) -> bool {
    recipient.trim_start().starts_with("age1pq1")
}

/// Checks that one desk's `recipients` are all post-quantum or all classical.
pub fn check_one_kind(desk: &str, recipients: &[String]) -> Result<(), Error> {
    let pq = recipients.iter().filter(|r| is_post_quantum(r)).count();
    if pq == 0 || pq == recipients.len() {
        return Ok(());
    }
    Err(Error::MixedKinds {
        desk: desk.to_owned(),
        pq,
        classical: recipients.len() - pq,
    })
}

/// Encrypts a small in-memory value (such as an item's metadata) into a binary age file.
pub fn encrypt_to_vec(encryptor: Encryptor, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(plaintext.len() + 512);
    let mut w = encryptor.wrap_output(&mut out)?;
    w.write_all(plaintext)?;
    w.finish()?;
    Ok(out)
}

/// Loaded identities for decryption.
pub struct Identities(Vec<Box<dyn age::Identity>>);

impl Identities {
    /// Reads identity files as the reference age CLI does: plain and passphrase-protected
    /// age identity files, SSH private keys, plugin identities (`AGE-PLUGIN-…`), and
    /// post-quantum identities (`AGE-SECRET-KEY-PQ-1…`), plain or passphrase-protected. A
    /// passphrase-protected file is opened by sanduq (the age crate cannot parse post-quantum
    /// lines); its passphrase is asked for on the terminal, once per file.
    pub fn from_files(files: &[String]) -> Result<Identities, Error> {
        let mut ids = Vec::new();
        let mut for_age = Vec::new();
        for file in files {
            match pq_identity_file(file)? {
                Some(found) => ids.extend(found),
                None => for_age.push(file.clone()),
            }
        }
        if !for_age.is_empty() {
            let mut guard = age::cli_common::StdinGuard::new(false);
            let found = age::cli_common::read_identities(for_age, None, &mut guard)
                .map_err(|e| Error::Decrypt(one_line(&e.to_string())))?;
            ids.extend(found);
        }
        if ids.is_empty() {
            return Err(Error::Decrypt(
                "no identity found in the identity file".into(),
            ));
        }
        Ok(Identities(ids))
    }

    /// Wraps identities already in memory.
    pub fn from_vec(ids: Vec<Box<dyn age::Identity>>) -> Identities {
        Identities(ids)
    }

    /// Starts decrypting `input`; the returned reader yields plaintext and fails on any
    /// truncation or tampering (age authenticates every 64 KiB chunk and the last one).
    pub fn decrypt<R: Read>(&self, input: R) -> Result<impl Read, Error> {
        let d = Decryptor::new(input).map_err(|e| Error::Decrypt(describe(&e)))?;
        d.decrypt(self.0.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => Error::NotForThese,
                other => Error::Decrypt(describe(&other)),
            })
    }
}

/// The identities in `path` when it is a plain identity file with post-quantum lines, which
/// the age crate 0.12 cannot parse; its other lines go to the age crate. `None` leaves the
/// file (and `-`, and anything unreadable, whose error age then reports) to age.
fn pq_identity_file(path: &str) -> Result<Option<Vec<Box<dyn age::Identity>>>, Error> {
    const MAX_IDENTITY_FILE: u64 = 16 << 20;
    let small = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() <= MAX_IDENTITY_FILE);
    if path == "-" || !small {
        return Ok(None);
    }
    let Ok(mut bytes) = std::fs::read(path).map(zeroize::Zeroizing::new) else {
        return Ok(None);
    };
    let bad = |e: String| Error::Decrypt(format!("identity file {path}: {}", one_line(&e)));
    // A passphrase-protected file is opened here rather than by the age crate, which cannot
    // parse the post-quantum lines it may hold.
    let protected = is_age_file(&bytes);
    if protected {
        bytes = open_with_passphrase(path, &bytes)?;
    }
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(None);
    };
    let Some((pq, rest)) = crate::pq::split_identity_file(text).map_err(|e| bad(e.to_string()))?
    else {
        if !protected {
            return Ok(None);
        }
        // Classical identities only: already decrypted, so parsed here too.
        let ids = age::IdentityFile::from_buffer(text.as_bytes())
            .map_err(|e| bad(e.to_string()))?
            .with_callbacks(age::cli_common::UiCallbacks)
            .into_identities()
            .map_err(|e| bad(e.to_string()))?;
        return Ok(Some(
            ids.into_iter()
                .map(|i| i as Box<dyn age::Identity>)
                .collect(),
        ));
    };
    let mut ids: Vec<Box<dyn age::Identity>> = Vec::new();
    ids.extend(
        pq.into_iter()
            .map(|i| Box::new(i) as Box<dyn age::Identity>),
    );
    if !rest.is_empty() {
        let others = age::IdentityFile::from_buffer(rest.as_bytes())
            .map_err(|e| bad(e.to_string()))?
            .with_callbacks(age::cli_common::UiCallbacks)
            .into_identities()
            .map_err(|e| bad(e.to_string()))?;
        ids.extend(others.into_iter().map(|i| i as Box<dyn age::Identity>));
    }
    Ok(Some(ids))
}

/// Whether `bytes` is an age file, armored or binary (a passphrase-protected identity file).
fn is_age_file(bytes: &[u8]) -> bool {
    let start = bytes.trim_ascii_start();
    start.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
        || start.starts_with(b"age-encryption.org/v1")
}

/// Decrypts a passphrase-protected identity file, asking for its passphrase on the terminal.
fn open_with_passphrase(path: &str, bytes: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
    let fail = |e: String| Error::Decrypt(format!("identity file {path}: {}", one_line(&e)));
    let d =
        Decryptor::new(age::armor::ArmoredReader::new(bytes)).map_err(|e| fail(describe(&e)))?;
    if !d.is_scrypt() {
        return Err(fail(
            "it is encrypted to a key, not protected by a passphrase".into(),
        ));
    }
    let pass = age::cli_common::read_secret(
        &format!("Passphrase for the identity file {path}"),
        "Passphrase",
        None,
    )
    .map_err(|e| fail(format!("no passphrase read: {e}")))?;
    let identity = age::scrypt::Identity::new(pass);
    let mut r = d
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                fail("wrong passphrase".into())
            }
            other => fail(describe(&other)),
        })?;
    // The plaintext is shorter than the file: no reallocation leaves a copy of it behind.
    let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(bytes.len()));
    r.read_to_end(&mut plain).map_err(|e| fail(e.to_string()))?;
    Ok(plain)
}

fn describe(e: &age::DecryptError) -> String {
    match e {
        age::DecryptError::NoMatchingKeys => "none of the given identities can decrypt it".into(),
        age::DecryptError::InvalidHeader => "not an age file, or its header is damaged".into(),
        age::DecryptError::InvalidMac => "its header was tampered with".into(),
        other => one_line(&other.to_string()),
    }
}

/// Folds a possibly multi-line message into one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Maps an error from a plaintext stream of age to a one-line description.
pub fn stream_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => "the file is truncated".into(),
        io::ErrorKind::InvalidData => "the file is damaged, cut short or was tampered with".into(),
        _ => one_line(&e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let id = age::x25519::Identity::generate();
        let r = id.to_public().to_string();
        let data = vec![42u8; 200_000];
        let ct = encrypt_to_vec(encryptor(&[r]).unwrap(), &data).unwrap();
        assert!(ct.starts_with(AGE_MAGIC));
        let ids = Identities::from_vec(vec![Box::new(id)]);
        let mut out = Vec::new();
        ids.decrypt(&ct[..]).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, data);

        let mut bad = ct.clone();
        let n = bad.len();
        bad[n - 100] ^= 1;
        let mut out = Vec::new();
        let err = ids
            .decrypt(&bad[..])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        let truncated = &ct[..ct.len() - 70_000];
        let mut out = Vec::new();
        assert!(ids
            .decrypt(truncated)
            .unwrap()
            .read_to_end(&mut out)
            .is_err());
    }

    #[test]
    fn recipients_are_checked() {
        assert!(check_recipient("age1notarecipient").is_err());
        assert!(check_recipient("hello").is_err());
        assert!(matches!(encryptor(&[]), Err(Error::NoRecipients)));
        let r = age::x25519::Identity::generate().to_public().to_string();
        assert!(check_recipient(&r).is_ok());
    }

    #[test]
    fn post_quantum_recipients_and_identity_files() {
        use age::secrecy::ExposeSecret;
        let pq = crate::pq::Identity::generate().unwrap();
        let r = pq.to_public().to_string();
        assert!(check_recipient(&r).is_ok());
        // A damaged age1pq1… is reported as such, not as a missing plugin "pq".
        let e = check_recipient(&r[..r.len() - 1]).unwrap_err().to_string();
        assert!(e.contains("post-quantum"), "{e}");
        assert!(!e.contains("plugin"), "{e}");
        // A PQ and an X25519 recipient together are refused.
        let x = age::x25519::Identity::generate();
        assert!(matches!(
            encryptor(&[r.clone(), x.to_public().to_string()]),
            Err(Error::Encrypt(_))
        ));

        // An identity file with a PQ key beside an X25519 key reads both.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.txt");
        let text = format!(
            "# public key: {r}\n{}\n{}\n",
            pq.to_string().expose_secret(),
            x.to_string().expose_secret()
        );
        std::fs::write(&path, text).unwrap();
        let ids = Identities::from_files(&[path.to_str().unwrap().to_owned()]).unwrap();
        for recipient in [r, x.to_public().to_string()] {
            let ct = encrypt_to_vec(encryptor(&[recipient]).unwrap(), b"pq").unwrap();
            let mut out = Vec::new();
            ids.decrypt(&ct[..]).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, b"pq");
        }
    }
}
