//! One listener: accepts connections within limits and serves a router over HTTP/1.1.
//!
//! `axum::serve` has no knob for the limits a state adversary will probe, so connections are
//! accepted here and handed to hyper directly:
//!
//! - at most `max_connections` are open at once; one more is closed at once, without reading
//!   from it, so a flood cannot queue work;
//! - the request head must arrive within `header_read_timeout` (408-style close beyond it), so
//!   trickled headers (slowloris) cost a connection for a bounded time only, and fit in
//!   `max_header_bytes` (431, by [`head_checks`]; hyper itself refuses heads that do not fit
//!   its read buffer of [`READ_BUFFER_BYTES`]);
//! - a connection that moves no bytes either way for twice the stall window is closed (idle
//!   keep-alive, or a client that pipelines requests and never reads the answers);
//! - every request names exactly one `Host` (400 otherwise, by [`head_checks`]);
//! - HTTP/1.1 only: no HTTP/2 stream multiplexing to flood;
//! - optional TLS (rustls with aws-lc-rs; TLS 1.2 and 1.3, post-quantum hybrid key exchange
//!   first), its handshake bounded by the same timeout.
//!
//! Slow bodies are cut by [`super::progress`], which wraps every request body. Nothing about a
//! connection (address, error, timing) is logged.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::response::IntoResponse as _;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::config::{NetLimits, TlsFiles};

/// hyper's read (and write) buffer per connection. hyper reads a body at most this much per
/// `recv`, and each read is a round trip between the connection's task and the handler's:
/// with 16 KiB reads a 1 GiB upload took ~20% longer than with 64 KiB (measured with
/// `scripts/bench-ingest.sh`). hyper also refuses a head that does not fit, but the
/// configured `max_header_bytes` (often smaller) is enforced by [`head_checks`]. Worst case
/// for heads sent slowly: this much per open connection, until `header_read_timeout`.
pub(crate) const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Checks a request's head before anything else sees it: over `max` bytes is refused with
/// 431, and a head without exactly one `Host` header, or whose absolute-form target names
/// another host than its `Host` header, with 400 (RFC 9112 §3.2). A second `Host` must not
/// decide which host a page thinks it was reached by (the Tor2web warning reads it). Either
/// answer closes the connection.
pub(crate) async fn head_checks(
    axum::extract::State(max): axum::extract::State<usize>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::StatusCode;
    if head_bytes(&req) > max {
        return refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request headers too large\n",
        );
    }
    if !host_is_unambiguous(&req) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Bad request: one Host header is required\n",
        );
    }
    next.run(req).await
}

fn refuse(status: axum::http::StatusCode, text: &'static str) -> axum::response::Response {
    (status, [(axum::http::header::CONNECTION, "close")], text).into_response()
}

/// Exactly one `Host` header, and an absolute-form target (`GET http://h/ HTTP/1.1`), if
/// any, names the same host.
fn host_is_unambiguous<B>(req: &axum::http::Request<B>) -> bool {
    let mut hosts = req.headers().get_all(axum::http::header::HOST).iter();
    let (Some(host), None) = (hosts.next(), hosts.next()) else {
        return false;
    };
    match req.uri().authority() {
        None => true,
        Some(authority) => host
            .to_str()
            .is_ok_and(|h| h.eq_ignore_ascii_case(authority.as_str())),
    }
}

/// The size of `req`'s head as it came on the wire: "METHOD TARGET HTTP/1.1\r\n", one
/// "name: value\r\n" per header, and the empty line. Whitespace around header values is not
/// seen (the parser strips it), so a head padded with it can reach hyper's own bound,
/// [`READ_BUFFER_BYTES`], the hard limit on a head's memory.
fn head_bytes<B>(req: &axum::http::Request<B>) -> usize {
    // An absolute-form target (`GET http://host/path`) counts whole.
    let uri = req.uri();
    let target = match uri.authority() {
        Some(_) => uri.to_string().len(),
        None => uri.path_and_query().map_or(1, |p| p.as_str().len()),
    };
    let line = req.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let headers: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + 2 + v.len() + 2)
        .sum();
    line + headers + 2
}

/// The TLS primitives: aws-lc-rs, whose key exchanges include the hybrid post-quantum
/// X25519MLKEM768. It comes first, so that a browser offering it uses it and what it sends
/// cannot be recorded now and decrypted by a quantum computer later; X25519 and the NIST
/// curves stay for older clients.
fn tls_provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::aws_lc_rs::{self, kx_group};
    rustls::crypto::CryptoProvider {
        kx_groups: vec![
            kx_group::X25519MLKEM768,
            kx_group::X25519,
            kx_group::SECP256R1,
            kx_group::SECP384R1,
        ],
        ..aws_lc_rs::default_provider()
    }
}

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
    let provider = Arc::new(tls_provider());
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

/// Serves `router` on `listener` until `stop` fires; then closes the listener at once (a
/// balancer's next connection attempt is refused and goes to another node) and lets the
/// requests in flight finish for at most `drain` (`[node] drain_seconds`). Idle keep-alive
/// connections are closed at once; a connection in the middle of a request is closed after
/// its answer.
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    limits: NetLimits,
    tls: Option<TlsAcceptor>,
    mut stop: tokio::sync::watch::Receiver<()>,
    drain: Duration,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(READ_BUFFER_BYTES))
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
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        // Their requests were never answered, so no source was told they succeeded.
        tracing::warn!("requests still in flight after the drain period were cut");
    }
}
