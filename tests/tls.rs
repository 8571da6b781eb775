//! TLS key exchange, seen by a client that offers one group only: a post-quantum hybrid
//! (X25519MLKEM768) for what can be recorded now and decrypted later, X25519 for older
//! clients.

use std::sync::Arc;

use rustls::crypto::aws_lc_rs::{self, kx_group};
use rustls::pki_types::ServerName;
use rustls::NamedGroup;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::common::*;

/// Connects to `server`'s source listener offering only `group`; returns the group agreed
/// and the start of the answer to a plain request, or the handshake's error.
async fn handshake(
    server: &Server,
    root: &rustls::pki_types::CertificateDer<'static>,
    group: &'static dyn rustls::crypto::SupportedKxGroup,
) -> Result<(NamedGroup, String), String> {
    let provider = rustls::crypto::CryptoProvider {
        kx_groups: vec![group],
        ..aws_lc_rs::default_provider()
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(server.source).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let agreed = tls
        .get_ref()
        .1
        .negotiated_key_exchange_group()
        .unwrap()
        .name();
    tls.write_all(
        b"GET /static/style.css HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    Ok((
        agreed,
        String::from_utf8_lossy(&answer[..answer.len().min(20)]).into_owned(),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_agrees_on_the_post_quantum_hybrid_and_still_on_x25519() {
    let (server, cert) = Server::start_with_tls();
    let root = cert.cert.der().clone();

    for (group, name) in [
        (kx_group::X25519MLKEM768, NamedGroup::X25519MLKEM768),
        (kx_group::X25519, NamedGroup::X25519),
    ] {
        let (agreed, answer) = handshake(&server, &root, group)
            .await
            .unwrap_or_else(|e| panic!("a client offering only {name:?} was refused: {e}"));
        assert_eq!(agreed, name);
        assert!(answer.starts_with("HTTP/1.1 200"), "{name:?}: {answer}");
    }
}
