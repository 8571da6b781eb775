//! Post-quantum versus classical recipients: the cost of encrypting one small item to five
//! editors, of opening it with one of their identities, and the header bytes each recipient
//! adds. A benchmark that prints figures, not a test.
//!
//!   cargo bench --bench pq

use std::io::Read as _;
use std::time::Instant;

use age::secrecy::ExposeSecret;

const ROUNDS: usize = 300;
const ITEM: usize = 1024;

/// The length of an age file's header (up to and including the MAC line).
fn header_len(file: &[u8]) -> usize {
    let mac = file
        .windows(5)
        .position(|w| w == b"\n--- ")
        .expect("an age header");
    mac + file[mac + 1..]
        .iter()
        .position(|b| *b == b'\n')
        .expect("MAC line")
        + 2
}

fn run(kind: &str, recipients: &[String], identity: &dyn age::Identity) -> (f64, f64, usize) {
    let item = vec![7u8; ITEM];
    let mut file = Vec::new();
    let start = Instant::now();
    for _ in 0..ROUNDS {
        let enc = sanduq::crypto::encryptor(recipients).expect("encryptor");
        file = sanduq::crypto::encrypt_to_vec(enc, &item).expect("encrypt");
    }
    let encrypt = start.elapsed().as_secs_f64() / ROUNDS as f64;
    let start = Instant::now();
    for _ in 0..ROUNDS {
        let d = age::Decryptor::new(&file[..]).expect("age file");
        let mut out = Vec::new();
        d.decrypt(std::iter::once(identity))
            .expect("one of the identities")
            .read_to_end(&mut out)
            .expect("plaintext");
        assert_eq!(out, item);
    }
    let decrypt = start.elapsed().as_secs_f64() / ROUNDS as f64;
    let header = header_len(&file);
    println!(
        "{kind:<10} {} recipients: encrypt {:>8.1} µs, decrypt {:>8.1} µs, header {header} bytes, file {} bytes",
        recipients.len(),
        encrypt * 1e6,
        decrypt * 1e6,
        file.len()
    );
    (encrypt, decrypt, header)
}

fn main() {
    println!("sanduq: {ROUNDS} rounds, one {ITEM}-byte item");
    let x: Vec<age::x25519::Identity> = (0..5).map(|_| age::x25519::Identity::generate()).collect();
    let pq: Vec<sanduq::pq::Identity> = (0..5)
        .map(|_| sanduq::pq::Identity::generate().expect("key"))
        .collect();
    let xr: Vec<String> = x.iter().map(|i| i.to_public().to_string()).collect();
    let pr: Vec<String> = pq.iter().map(|i| i.to_public().to_string()).collect();
    // The last identity: age tries the stanzas in order, so this is the slowest to open.
    let (xe5, xd5, xh5) = run("X25519", &xr, &x[4]);
    let (pe5, pd5, ph5) = run("mlkem768x25519", &pr, &pq[4]);
    let (_, pd5first, _) = run("mlkem768x25519", &pr, &pq[0]);
    println!(
        "  (opened with the first of the five identities: {:.1} µs)",
        pd5first * 1e6
    );
    let (_, _, xh1) = run("X25519", &xr[..1], &x[0]);
    let (_, _, ph1) = run("mlkem768x25519", &pr[..1], &pq[0]);
    println!(
        "per recipient: X25519 {} header bytes, mlkem768x25519 {} header bytes",
        (xh5 - xh1) / 4,
        (ph5 - ph1) / 4
    );
    println!(
        "five recipients, post-quantum / classical: encrypt {:.2}x, decrypt {:.2}x, header {:.1}x",
        pe5 / xe5,
        pd5 / xd5,
        ph5 as f64 / xh5 as f64
    );
    println!(
        "recipient string lengths: X25519 {}, mlkem768x25519 {}; identity {} / {}",
        xr[0].len(),
        pr[0].len(),
        x[0].to_string().expose_secret().len(),
        pq[0].to_string().expose_secret().len()
    );
}
