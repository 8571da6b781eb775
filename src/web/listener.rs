//! One listener: accepts connections within limits and serves a router over HTTP/1.1.
//!
//! `axum::serve` has no knob for the limits a state adversary will probe, so connections are
//! accepted here and handed to hyper directly:
//!
//! - at most `max_connections` are open at once; one more is closed at once, without reading
//!   from it, so a flood cannot queue work;
//! - the request head must arrive within `header_read_timeout` and fit in `max_header_bytes`
//!   (hyper answers 431 beyond it, 408-style close on timeout), so trickled headers
//!   (slowloris) cost a connection for a bounded time only;
//! - a connection that moves no bytes either way for twice the stall window is closed (idle
//!   keep-alive, or a client that pipelines requests and never reads the answers);
//! - HTTP/1.1 only: no HTTP/2 stream multiplexing to flood;
//! - optional TLS (rustls; TLS 1.2 and 1.3), its handshake bounded by the same timeout.
//!
//! Slow bodies are cut by [`super::progress`], which wraps every request body. Nothing about a
//! connection (address, error, timing) is logged.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::config::{NetLimits, TlsFiles};

/// How long open connections may take to finish when the server stops.
const DRAIN_ON_SHUTDOWN: Duration = Duration::from_secs(10);

/// Builds the TLS acceptor for `files`: TLS 1.2 and 1.3, HTTP/1.1 by ALPN.
pub(crate) fn tls_acceptor(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read_err = |path: &Path, e: rustls::pki_types::pem::Error| {
        anyhow::anyhow!("cannot read {}: {e}", path.display())
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| read_err(&files.cert, e))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", files.cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| read_err(&files.key, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| anyhow::anyhow!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            anyhow::anyhow!(
                "{} and {} do not make a usable certificate: {e}",
                files.cert.display(),
                files.key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // No session resumption: a ticket or session id would link a source's visits together.
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `router` on `listener` until `stop` fires, then lets open connections finish
/// for a few seconds.
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    limits: NetLimits,
    tls: Option<TlsAcceptor>,
    mut stop: tokio::sync::watch::Receiver<()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(100);
    let http = Arc::new(http);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                // Out of file descriptors and the like: pause rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // A connection that neither sends nor takes bytes for this long is closed: an idle
        // keep-alive connection, or a client that sends requests and never reads the answers
        // (writes would wait forever). Longer than the stall window, so that a stalled body
        // still gets its 408 page first.
        let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
        stream.set_read_timeout(Some(limits.idle_timeout()));
        stream.set_write_timeout(Some(limits.idle_timeout()));
        let stream = Box::pin(stream);
        let service = TowerToHyperService::new(router.clone());
        let http = http.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let handshake_limit = limits.header_read_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => {
                    let conn = http.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn).await;
                }
                Some(acceptor) => {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(handshake_limit, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let conn = http.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn).await;
                }
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_ON_SHUTDOWN, graceful.shutdown()).await;
}
