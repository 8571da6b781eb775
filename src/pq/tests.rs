//! Unit tests of the mlkem768x25519 recipient type: round trips through the age crate,
//! strict encodings, tampering, mixing, and known answers from the spec and from typage
//! (the age author's TypeScript implementation). The live two-way interoperability test,
//! which runs typage under Node.js, is in `tests/pq.rs`.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::iter;

use age::secrecy::ExposeSecret;
use age::{Decryptor, Encryptor, Identity as _, Recipient as _};

use super::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn encrypt(recipients: &[&dyn age::Recipient], plaintext: &[u8]) -> Vec<u8> {
    let e = Encryptor::with_recipients(recipients.iter().copied()).unwrap();
    let mut out = Vec::new();
    let mut w = e.wrap_output(&mut out).unwrap();
    w.write_all(plaintext).unwrap();
    w.finish().unwrap();
    out
}

fn decrypt(identity: &dyn age::Identity, file: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let d = Decryptor::new(file)?;
    let mut r = d.decrypt(iter::once(identity))?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)?;
    Ok(out)
}

/// One stanza for `recipient`, as the Encryptor would write it.
fn stanza_for(recipient: &Recipient) -> (FileKey, Stanza) {
    let file_key = FileKey::new(Box::new([0x5a; 16]));
    let (mut stanzas, labels) = recipient.wrap_file_key(&file_key).unwrap();
    assert_eq!(labels, HashSet::from(["postquantum".to_owned()]));
    assert_eq!(stanzas.len(), 1);
    (file_key, stanzas.remove(0))
}

fn is_key(r: Option<Result<FileKey, DecryptError>>, want: &FileKey) -> bool {
    matches!(r, Some(Ok(k)) if k.expose_secret() == want.expose_secret())
}

#[test]
fn round_trip_through_the_age_crate() {
    let a = Identity::generate().unwrap();
    let b = Identity::generate().unwrap();
    let (ra, rb) = (a.to_public(), b.to_public());
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let file = encrypt(&[&ra, &rb], &data);
    assert!(file.starts_with(b"age-encryption.org/v1\n-> mlkem768x25519 "));
    assert_eq!(decrypt(&a, &file).unwrap(), data);
    assert_eq!(decrypt(&b, &file).unwrap(), data);
}

#[test]
fn stanza_has_the_spec_shape() {
    let id = Identity::generate().unwrap();
    let (file_key, s) = stanza_for(&id.to_public());
    assert_eq!(s.tag, "mlkem768x25519");
    assert_eq!(s.args.len(), 1);
    assert_eq!(s.args[0].len(), ENC_B64_LEN);
    assert_eq!(
        BASE64_STANDARD_NO_PAD.decode(&s.args[0]).unwrap().len(),
        1120
    );
    assert_eq!(s.body.len(), 32);
    assert!(is_key(id.unwrap_stanza(&s), &file_key));
}

#[test]
fn encodings_round_trip_and_have_the_spec_form() {
    let id = Identity::generate().unwrap();
    let text = id.to_string();
    let text = text.expose_secret();
    assert!(text.starts_with("AGE-SECRET-KEY-PQ-1"));
    assert_eq!(text, text.to_uppercase());
    assert_eq!(text.len(), 19 + 52 + 6);
    let again: Identity = text.parse().unwrap();
    assert_eq!(again.to_string().expose_secret(), text);

    let r = id.to_public();
    let rtext = r.to_string();
    assert!(rtext.starts_with("age1pq1"));
    assert_eq!(rtext, rtext.to_lowercase());
    assert_eq!(rtext.len(), 7 + 1946 + 6);
    assert_eq!(rtext.parse::<Recipient>().unwrap(), r);
    assert_eq!(again.to_public(), r);
    assert_eq!(format!("{id:?}"), "pq::Identity(***)");
}

#[test]
fn the_spec_example_keys_and_stanza() {
    let text = std::fs::read_to_string(format!("{DATA}/age_spec_pq_example.txt")).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap()
            .to_owned()
    };
    let id: Identity = field("identity").parse().unwrap();
    assert_eq!(id.to_public().to_string(), field("recipient"));
    assert_eq!(id.to_string().expose_secret(), field("identity"));
    let stanza = Stanza {
        tag: STANZA_TAG.to_owned(),
        args: vec![field("stanza-arg")],
        body: BASE64_STANDARD_NO_PAD.decode(field("stanza-body")).unwrap(),
    };
    // The spec does not publish the file key, but the stanza opens (the AEAD tag checks).
    assert!(matches!(id.unwrap_stanza(&stanza), Some(Ok(_))));
}

#[test]
fn typage_known_answers() {
    let ids = std::fs::read_to_string(format!("{DATA}/pq_typage_identity.txt")).unwrap();
    let (mut found, rest) = split_identity_file(&ids).unwrap().unwrap();
    assert_eq!(found.len(), 1);
    assert!(rest.is_empty());
    let id = found.remove(0);
    let recipient = std::fs::read_to_string(format!("{DATA}/pq_typage_recipient.txt")).unwrap();
    assert_eq!(id.to_public().to_string(), recipient.trim());
    let file = std::fs::read(format!("{DATA}/pq_typage_hello.age")).unwrap();
    assert_eq!(
        decrypt(&id, &file).unwrap(),
        b"A testimony, encrypted by typage to a post-quantum key.\n"
    );
    // And a stranger gets nothing.
    let other = Identity::generate().unwrap();
    assert!(matches!(
        decrypt(&other, &file),
        Err(DecryptError::NoMatchingKeys)
    ));
}

#[test]
fn parsing_is_strict() {
    let id = Identity::generate().unwrap();
    let text = id.to_string().expose_secret().to_owned();
    let rtext = id.to_public().to_string();

    // Case: identities are upper case, recipients lower case, never mixed.
    assert!(text.to_lowercase().parse::<Identity>().is_err());
    assert!(rtext.to_uppercase().parse::<Recipient>().is_err());
    let mut mixed = text.clone();
    mixed.replace_range(30..31, &text[30..31].to_lowercase());
    if mixed != text {
        assert!(mixed.parse::<Identity>().is_err());
    }
    // Wrong type: X25519 keys, each other's strings, a plugin-looking name.
    let x = age::x25519::Identity::generate();
    assert!(x.to_string().expose_secret().parse::<Identity>().is_err());
    assert!(x.to_public().to_string().parse::<Recipient>().is_err());
    assert!(rtext.parse::<Identity>().is_err());
    assert!(text.parse::<Recipient>().is_err());
    // Checksum: change any one data character.
    for pos in [20, 40, text.len() - 1] {
        let mut bad = text.clone().into_bytes();
        bad[pos] = if bad[pos] == b'Q' { b'P' } else { b'Q' };
        assert!(String::from_utf8(bad).unwrap().parse::<Identity>().is_err());
    }
    let mut bad = rtext.clone().into_bytes();
    bad[1000] = if bad[1000] == b'q' { b'p' } else { b'q' };
    assert!(String::from_utf8(bad)
        .unwrap()
        .parse::<Recipient>()
        .is_err());
    // Length: valid Bech32 with the right HRP but the wrong number of bytes.
    let hrp = |h| bech32::Hrp::parse_unchecked(h);
    for n in [0, 31, 33, 64] {
        let s = bech32_encode(hrp(IDENTITY_HRP), &vec![7u8; n]).to_uppercase();
        assert!(s.parse::<Identity>().is_err(), "{n} bytes");
    }
    for n in [1215, 1217, 32] {
        let s = bech32_encode(hrp(RECIPIENT_HRP), &vec![7u8; n]);
        assert!(s.parse::<Recipient>().is_err(), "{n} bytes");
    }
    // Surrounding space or trailing junk is not trimmed here.
    assert!(format!(" {text}").parse::<Identity>().is_err());
    assert!(format!("{rtext}x").parse::<Recipient>().is_err());
    // Errors never repeat the key.
    let e = text
        .to_lowercase()
        .parse::<Identity>()
        .unwrap_err()
        .to_string();
    assert!(!e.to_lowercase().contains(&text.to_lowercase()[20..40]));
}

#[test]
fn tampering_with_any_byte_of_the_stanza_is_rejected() {
    let id = Identity::generate().unwrap();
    let (file_key, good) = stanza_for(&id.to_public());
    assert!(is_key(id.unwrap_stanza(&good), &file_key));
    let enc = BASE64_STANDARD_NO_PAD.decode(&good.args[0]).unwrap();

    // Every byte of `enc` (both the ML-KEM ciphertext and the X25519 share).
    for i in 0..enc.len() {
        let mut e = enc.clone();
        e[i] ^= 0x01;
        let s = Stanza {
            tag: good.tag.clone(),
            args: vec![BASE64_STANDARD_NO_PAD.encode(&e)],
            body: good.body.clone(),
        };
        assert!(id.unwrap_stanza(&s).is_none(), "enc byte {i} changed");
    }
    // Every byte of the wrapped file key.
    for i in 0..good.body.len() {
        let mut body = good.body.clone();
        body[i] ^= 0x80;
        let s = Stanza {
            tag: good.tag.clone(),
            args: good.args.clone(),
            body,
        };
        assert!(id.unwrap_stanza(&s).is_none(), "body byte {i} changed");
    }
    // Malformed: refused outright, before any decryption.
    let invalid =
        |s: Stanza| matches!(id.unwrap_stanza(&s), Some(Err(DecryptError::InvalidHeader)));
    let with = |args: Vec<String>, body: Vec<u8>| Stanza {
        tag: good.tag.clone(),
        args,
        body,
    };
    assert!(invalid(with(vec![], good.body.clone())));
    assert!(invalid(with(
        vec![good.args[0].clone(), "x".into()],
        good.body.clone()
    )));
    assert!(invalid(with(
        vec![BASE64_STANDARD_NO_PAD.encode(&enc[..1119])],
        good.body.clone()
    )));
    assert!(invalid(with(
        vec![format!("{}=", good.args[0])],
        good.body.clone()
    )));
    // Non-canonical base64: the unused low bits of the last character set.
    let mut nc = good.args[0].clone().into_bytes();
    let last = nc.len() - 1;
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let v = alphabet.iter().position(|&c| c == nc[last]).unwrap();
    nc[last] = alphabet[v ^ 0x01];
    assert!(invalid(with(
        vec![String::from_utf8(nc).unwrap()],
        good.body.clone()
    )));
    for n in [0, 16, 31, 33, 48] {
        let mut body = good.body.clone();
        body.resize(n, 0);
        assert!(invalid(with(good.args.clone(), body)), "body of {n} bytes");
    }
}

#[test]
fn wrong_identity_and_other_stanzas_do_not_match() {
    let id = Identity::generate().unwrap();
    let other = Identity::generate().unwrap();
    let (_, s) = stanza_for(&id.to_public());
    assert!(other.unwrap_stanza(&s).is_none());
    let file = encrypt(&[&id.to_public()], b"for id only");
    assert!(matches!(
        decrypt(&other, &file),
        Err(DecryptError::NoMatchingKeys)
    ));
    // An X25519 stanza is not ours, and an X25519 identity ignores ours.
    let x = age::x25519::Identity::generate();
    let (xs, labels) = x
        .to_public()
        .wrap_file_key(&FileKey::new(Box::new([1; 16])))
        .unwrap();
    assert!(labels.is_empty());
    assert!(id.unwrap_stanza(&xs[0]).is_none());
    assert!(x.unwrap_stanza(&s).is_none());
}

#[test]
fn mixing_with_classical_recipients_is_refused() {
    let pq = Identity::generate().unwrap().to_public();
    let x = age::x25519::Identity::generate().to_public();
    for set in [
        vec![&pq as &dyn age::Recipient, &x],
        vec![&x as &dyn age::Recipient, &pq],
    ] {
        assert!(matches!(
            Encryptor::with_recipients(set.into_iter()),
            Err(EncryptError::IncompatibleRecipients { .. })
        ));
    }
    let scrypt = age::scrypt::Recipient::new(age::secrecy::SecretString::from("pw".to_owned()));
    assert!(Encryptor::with_recipients([&pq as &dyn age::Recipient, &scrypt].into_iter()).is_err());
}

#[test]
fn a_mixed_file_made_elsewhere_still_decrypts() {
    // A sender that ignores labels (as typage 0.3 does) can mix; the PQ identity reads it.
    struct NoLabels<'a>(&'a dyn age::Recipient);
    impl age::Recipient for NoLabels<'_> {
        fn wrap_file_key(
            &self,
            k: &FileKey,
        ) -> Result<(Vec<Stanza>, HashSet<String>), EncryptError> {
            self.0.wrap_file_key(k).map(|(s, _)| (s, HashSet::new()))
        }
    }
    let id = Identity::generate().unwrap();
    let pq = id.to_public();
    let x = age::x25519::Identity::generate().to_public();
    let file = encrypt(&[&x, &NoLabels(&pq)], b"mixed");
    assert_eq!(decrypt(&id, &file).unwrap(), b"mixed");
}

#[test]
fn identity_files_with_pq_lines() {
    let pq = Identity::generate().unwrap();
    let x = age::x25519::Identity::generate();
    let text = format!(
        "# created: today\n# public key: {}\n{}\n\n  {}\n",
        pq.to_public(),
        pq.to_string().expose_secret(),
        x.to_string().expose_secret()
    );
    let (ids, rest) = split_identity_file(&text).unwrap().unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].to_public(), pq.to_public());
    assert_eq!(
        rest.as_str(),
        format!("{}\n", x.to_string().expose_secret())
    );
    assert!(split_identity_file(x.to_string().expose_secret())
        .unwrap()
        .is_none());
    let broken = format!("# c\n{}X\n", pq.to_string().expose_secret());
    let e = split_identity_file(&broken).err().unwrap().to_string();
    assert!(e.starts_with("line 2: "), "{e}");
    assert!(!e.contains(&pq.to_string().expose_secret()[19..40]));
}

/// Two X25519 points of small order: each makes X25519 output all zeros.
const LOW_ORDER: [[u8; 32]; 2] = [
    [0; 32],
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
];

/// `recipient` with its X25519 half replaced by `point`, as a string.
fn with_x25519(recipient: &Recipient, point: &[u8; 32]) -> String {
    let mut bytes = recipient.0.to_bytes().to_vec();
    bytes[xwing::PUBLIC_KEY_LEN - 32..].copy_from_slice(point);
    bech32_encode(bech32::Hrp::parse_unchecked(RECIPIENT_HRP), &bytes)
}

#[test]
fn a_recipient_with_a_low_order_x25519_key_is_refused() {
    let r = Identity::generate().unwrap().to_public();
    for point in &LOW_ORDER {
        let s = with_x25519(&r, point);
        let e = s.parse::<Recipient>().unwrap_err().to_string();
        assert!(e.contains("low order"), "{e}");
        // And so nothing can be encrypted to it through sanduq's recipient parser.
        let e = crate::crypto::encryptor(&[s]).err().unwrap().to_string();
        assert!(e.contains("low order") && !e.contains('\n'), "{e}");
    }
}

#[test]
fn an_all_zero_x25519_share_is_a_header_failure() {
    let id = Identity::generate().unwrap();
    let (_, good) = stanza_for(&id.to_public());
    let enc = BASE64_STANDARD_NO_PAD.decode(&good.args[0]).unwrap();
    let file = encrypt(&[&id.to_public()], b"testimony");
    let header_end = file.windows(4).position(|w| w == b"\n---").unwrap();
    let header = String::from_utf8(file[..header_end].to_vec()).unwrap();
    let arg = header
        .lines()
        .find_map(|l| l.strip_prefix("-> mlkem768x25519 "))
        .unwrap()
        .to_owned();
    for point in &LOW_ORDER {
        // The stanza alone: refused as malformed, not passed over as someone else's.
        let mut e = enc.clone();
        e[xwing::CIPHERTEXT_LEN - 32..].copy_from_slice(point);
        let s = Stanza {
            tag: good.tag.clone(),
            args: vec![BASE64_STANDARD_NO_PAD.encode(&e)],
            body: good.body.clone(),
        };
        assert!(matches!(
            id.unwrap_stanza(&s),
            Some(Err(DecryptError::InvalidHeader))
        ));
        // A whole file whose share is replaced: a header failure, not "no match".
        let mut share = BASE64_STANDARD_NO_PAD.decode(&arg).unwrap();
        share[xwing::CIPHERTEXT_LEN - 32..].copy_from_slice(point);
        let new_arg = BASE64_STANDARD_NO_PAD.encode(&share);
        assert_eq!(new_arg.len(), arg.len());
        let at = file
            .windows(arg.len())
            .position(|w| w == arg.as_bytes())
            .unwrap();
        let mut bytes = file.clone();
        bytes[at..at + arg.len()].copy_from_slice(new_arg.as_bytes());
        assert!(matches!(
            decrypt(&id, &bytes),
            Err(DecryptError::InvalidHeader)
        ));
    }
}
