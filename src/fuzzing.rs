//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz). Not part of sanduq's interface.
//!
//! Each function takes arbitrary bytes, runs one parser that meets hostile input, and panics
//! only if that parser panics or breaks a promise it documents. The targets stay thin so that
//! the code under test is the code sanduq runs.

use std::io::Read as _;
use std::path::Path;

use futures_util::StreamExt as _;

/// The boundary the multipart target's inputs use (its seeds carry it).
pub const MULTIPART_BOUNDARY: &str = "sanduqFUZZ";

/// The source site's multipart intake: the part-header guard in front of multer, with the
/// limits `submit` uses, every field read to its end and every filename sanitised.
pub fn multipart(data: &[u8]) {
    thread_local! {
        static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
    }
    // Arbitrary chunking: the first byte picks the chunk size, as a network would.
    let (size, body) = match data.split_first() {
        Some((s, rest)) => (usize::from(*s).max(1), rest.to_vec()),
        None => (1, Vec::new()),
    };
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = body
        .chunks(size)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let mut guard = crate::web::multipart_guard::PartHeaderGuard::new(MULTIPART_BOUNDARY);
    let guarded = futures_util::stream::iter(chunks).map(move |chunk| match chunk {
        Ok(b) if !guard.feed(&b) => Err(std::io::Error::other("header block too long")),
        other => other,
    });
    let limits = multer::SizeLimit::new()
        .whole_stream(1 << 20)
        .per_field(1 << 20);
    RT.with(|rt| {
        rt.block_on(async {
            let mut form = multer::Multipart::with_constraints(
                guarded,
                MULTIPART_BOUNDARY,
                multer::Constraints::new().size_limit(limits),
            );
            while let Ok(Some(mut field)) = form.next_field().await {
                let _ = field.name();
                if let Some(name) = field.file_name() {
                    filename(name.as_bytes());
                }
                while let Ok(Some(_chunk)) = field.chunk().await {}
            }
        })
    });
}

/// The filename sanitiser, and the promises its documentation makes.
pub fn filename(data: &[u8]) {
    let name = String::from_utf8_lossy(data);
    let safe = crate::cli::filename::sanitize(&name, "file");
    assert!(!safe.is_empty(), "empty name for {name:?}");
    assert!(safe != "." && safe != "..", "{safe:?}");
    assert!(!safe.contains(['/', '\\', '\0']), "{safe:?}");
    assert!(safe.len() <= crate::cli::filename::MAX_BYTES, "{safe:?}");
    assert!(!safe.chars().any(char::is_control), "{safe:?}");
    let numbered = crate::cli::filename::numbered(&safe, 2);
    assert!(!numbered.contains(['/', '\\']) && numbered != safe);
}

/// Codename normalisation: whatever parses is seven list words, and parsing is idempotent.
pub fn codename(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = crate::codename::Codename::parse(text) {
        let words: Vec<&str> = c.expose().split(' ').collect();
        assert_eq!(words.len(), 7);
        let again = crate::codename::Codename::parse(c.expose()).expect("reparses");
        assert_eq!(again.expose(), c.expose());
    }
}

/// The bundle manifest parser.
pub fn manifest(data: &[u8]) {
    let _ = crate::cli::bundle::Manifest::parse(data);
}

/// The config parser and its validation.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::config::Config::parse(Path::new("fuzz.toml"), text);
}

/// A fixed identity for the decrypt target, so that its seeds (encrypted to it) reach the
/// payload. A throwaway key made for fuzzing; it protects nothing.
pub const FUZZ_IDENTITY: &str =
    "AGE-SECRET-KEY-1CSVEA98AML2KJA5T8K0GJSXQPGHYCYTA2VZW6KVQS9HDVXVFJFPSUGWFSZ";

/// Decryption of arbitrary bytes as an age file, read to its end (at most 16 MiB).
pub fn decrypt(data: &[u8]) {
    thread_local! {
        static IDS: crate::crypto::Identities = {
            let id: age::x25519::Identity = FUZZ_IDENTITY.parse().expect("a valid identity");
            crate::crypto::Identities::from_vec(vec![Box::new(id)])
        };
    }
    IDS.with(|ids| {
        if let Ok(r) = ids.decrypt(data) {
            let mut sink = Vec::new();
            let _ = r.take(16 << 20).read_to_end(&mut sink);
        }
    });
}

/// Forms: the definition parser, and the answer checks of the built-in form fed with
/// `name=value` lines; what passes the checks must give valid JSON, and the number and date
/// readers must give back what they read.
pub fn forms(data: &[u8]) {
    use crate::forms::answers::{parse_date, parse_number, Draft};
    use crate::forms::Form;
    static DETENTION: std::sync::LazyLock<Form> = std::sync::LazyLock::new(Form::detention);
    let text = String::from_utf8_lossy(data);
    let _ = Form::parse("fuzz", &text);
    let mut draft = Draft::new(&DETENTION);
    for line in text.split('\n') {
        let (name, value) = line.split_once('=').unwrap_or((line, ""));
        let _ = draft.push(name, value);
    }
    let files = std::collections::BTreeMap::new();
    if draft.check(&files).is_ok() {
        let json = draft
            .to_json(crate::i18n::Locale::english(), &files)
            .expect("answers that pass the checks serialise");
        serde_json::from_slice::<serde_json::Value>(&json).expect("the answers are JSON");
    }
    for line in text.lines() {
        if let Some((ascii, value)) = parse_number(line) {
            assert_eq!(ascii.parse::<f64>().ok(), Some(value), "{line:?}");
        }
        if let Some(d) = parse_date(line) {
            let back = format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
            assert_eq!(back, line, "a date reads back as written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds(target: &str) -> Vec<Vec<u8>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target);
        let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
        assert!(!out.is_empty(), "no seeds in {}", dir.display());
        out.push(Vec::new());
        out
    }

    #[test]
    fn every_target_runs_on_its_seeds() {
        type Target = (&'static str, fn(&[u8]));
        let targets: [Target; 7] = [
            ("multipart", multipart),
            ("filename", filename),
            ("codename", codename),
            ("manifest", manifest),
            ("config", config),
            ("decrypt", decrypt),
            ("forms", forms),
        ];
        for (name, run) in targets {
            for seed in seeds(name) {
                run(&seed);
            }
        }
    }

    #[test]
    fn the_seeds_reach_the_code_past_the_first_check() {
        // The decrypt seeds open with the fixed identity.
        let id: age::x25519::Identity = FUZZ_IDENTITY.parse().unwrap();
        let ids = crate::crypto::Identities::from_vec(vec![Box::new(id)]);
        let seed = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decrypt/small.age"),
        )
        .unwrap();
        let mut text = String::new();
        ids.decrypt(&seed[..])
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "a secret marker\n");
        // The config seed is a valid config; the codename seed a valid codename.
        let cfg = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/config/example"),
        )
        .unwrap();
        crate::config::Config::parse(Path::new("example.toml"), &cfg).unwrap();
        let cn = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/codename/ok"),
        )
        .unwrap();
        crate::codename::Codename::parse(&cn).unwrap();
        // The forms seeds: a valid definition, and answers that pass the checks.
        let def = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/forms/definition"),
        )
        .unwrap();
        crate::forms::Form::parse("seed", &def).unwrap();
        let answers = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/forms/answers"),
        )
        .unwrap();
        let detention = crate::forms::Form::detention();
        let mut draft = crate::forms::answers::Draft::new(&detention);
        for line in answers.lines() {
            let (n, v) = line.split_once('=').unwrap();
            draft.push(n, v).unwrap();
        }
        draft.check(&Default::default()).unwrap();
        // The multipart seed yields its three fields.
        let form =
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/multipart/form"))
                .unwrap();
        let fields = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(
                    bytes::Bytes::copy_from_slice(&form[1..]),
                )]);
                let mut m = multer::Multipart::new(stream, MULTIPART_BOUNDARY);
                let mut n = 0;
                while let Some(f) = m.next_field().await.unwrap() {
                    drop(f);
                    n += 1;
                }
                n
            });
        assert_eq!(fields, 3);
    }
}
