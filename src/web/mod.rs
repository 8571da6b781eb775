//! The two HTTP faces of `sanduq serve`: the source site and the editor API.
//!
//! They listen on separate addresses so that each can sit behind its own onion service; the
//! source router has no `/api` routes at all. Neither logs requests: no address, user agent,
//! path or size of anyone reaches a log.

mod activity;
mod api;
mod error;
mod forms;
mod health;
mod intake;
mod listener;
mod login;
pub(crate) mod multipart_guard;
mod pages;
mod progress;
mod replies;
pub mod sealed;
mod session;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::config::Config;
use crate::store::{BlobStore, MetaStore};

pub use api::book::{SourcesPage, PAGE as SOURCES_PAGE, REPLIES_MAGIC};
pub(crate) use api::fetched::MAX_IDS as MAX_FETCHED_IDS;
pub use api::Listing;
pub use error::{AppError, Cause};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Ciphertext storage.
    pub blobs: Arc<dyn BlobStore>,
    /// Plaintext metadata storage.
    pub meta: Arc<dyn MetaStore>,
    /// Logged-in sources.
    pub sessions: Arc<session::Sessions>,
    /// Codename derivation, capped.
    pub deriver: Arc<crate::codename::Deriver>,
}

impl AppState {
    /// Opens the embedded stores under the configured data directory, and checks the
    /// install's pepper and codename costs against the configuration.
    pub async fn open(config: Config) -> Result<AppState, crate::codename::install::Error> {
        let blobs = crate::store::open::blobs(&config).await?;
        let meta = crate::store::open::meta(&config).await?;
        let deriver = crate::codename::install::deriver(meta.as_ref(), &config).await?;
        Ok(AppState {
            sessions: Arc::new(session::Sessions::new(
                config.secure_cookies,
                config.session_idle,
                meta.clone(),
            )),
            deriver: Arc::new(deriver),
            config: Arc::new(config),
            blobs,
            meta,
        })
    }
}

/// The source site: HTML forms only, no JavaScript, no `/api`.
///
/// Every page exists once per language under `/<locale>/` (`/tg/`, `/tg/login`, …), and once
/// without the segment in the install's default language, so that the bare onion address
/// works.
pub fn source_router(state: AppState) -> Router {
    let mut router = Router::new();
    let prefixes = std::iter::once(String::new())
        .chain(crate::i18n::Locale::all().map(|l| format!("/{}", l.code())));
    for prefix in prefixes {
        if !prefix.is_empty() {
            router = router.route(&prefix, get(pages::to_home));
        }
        router = router
            .route(&format!("{prefix}/"), get(pages::index))
            .route(&format!("{prefix}/submit"), post(intake::submit))
            .route(&format!("{prefix}/form/{{id}}"), get(forms::page))
            .route(
                &format!("{prefix}/login"),
                get(login::form)
                    .post(login::login)
                    .layer(DefaultBodyLimit::max(4096)),
            )
            .route(
                &format!("{prefix}/logout"),
                post(login::logout).layer(DefaultBodyLimit::max(4096)),
            )
            .route(
                &format!("{prefix}/reply/delete"),
                post(replies::delete).layer(DefaultBodyLimit::max(4096)),
            );
    }
    let site = pages::SiteSettings {
        onion: state.config.onion_address.as_deref().map(Arc::<str>::from),
        default_locale: state.config.default_locale,
    };
    router
        .route("/static/style.css", get(pages::stylesheet))
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::disable())
        // Inside `mark_request`, so that the 408 page is in the request's language.
        .layer(middleware::from_fn_with_state(
            state.config.net,
            progress::guard,
        ))
        .layer(middleware::from_fn_with_state(site, pages::mark_request))
        .layer(middleware::from_fn_with_state(
            state.config.net.max_header_bytes,
            listener::head_checks,
        ))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// The editor API: bearer tokens, JSON listings, ciphertext downloads.
pub fn api_router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/items", get(api::list))
        .route("/api/v1/items/{id}", delete(api::delete_item))
        .route("/api/v1/items/{id}/content", get(api::content))
        .route("/api/v1/items/{id}/meta", get(api::meta))
        .route("/api/v1/batch", post(api::batch::items))
        .route("/api/v1/fetched", post(api::fetched::mark))
        .route("/api/v1/sources/{id}/replies", post(api::push_reply))
        .route("/api/v1/sources", get(api::book::sources))
        .route("/api/v1/replies/batch", post(api::book::replies))
        .fallback(api::not_found)
        .layer(middleware::from_fn_with_state(
            state.config.net,
            progress::guard_api,
        ))
        .layer(middleware::from_fn_with_state(
            state.config.net.max_header_bytes,
            listener::head_checks,
        ))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Every feature a page could ask the browser for, denied.
const PERMISSIONS_POLICY: &str = "accelerometer=(), ambient-light-sensor=(), autoplay=(), \
battery=(), bluetooth=(), browsing-topics=(), camera=(), clipboard-read=(), clipboard-write=(), \
display-capture=(), document-domain=(), encrypted-media=(), fullscreen=(), gamepad=(), \
geolocation=(), gyroscope=(), hid=(), identity-credentials-get=(), idle-detection=(), \
interest-cohort=(), local-fonts=(), magnetometer=(), microphone=(), midi=(), \
otp-credentials=(), payment=(), picture-in-picture=(), publickey-credentials-create=(), \
publickey-credentials-get=(), screen-wake-lock=(), serial=(), speaker-selection=(), \
storage-access=(), usb=(), web-share=(), window-management=(), xr-spatial-tracking=()";

/// Headers on every response of both listeners, error pages and static files included.
async fn security_headers(req: Request<axum::body::Body>, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    );
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        h,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        h,
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    set(
        h,
        HeaderName::from_static("permissions-policy"),
        PERMISSIONS_POLICY,
    );
    set(h, header::CACHE_CONTROL, "no-store");
    h.remove(header::SERVER);
    h.remove(header::ETAG);
    res
}

/// Deletes expired sessions' rows for as long as the server runs. Every node sweeps: the
/// delete is idempotent and cheap, and a session's end then depends on no lease.
async fn sweep_sessions(sessions: Arc<session::Sessions>) {
    let mut tick = tokio::time::interval(sessions.sweep_period());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sessions.sweep().await {
            tracing::warn!("expired sessions could not be deleted: {e}");
        }
    }
}

/// Starts the notification task if `[notify]` is present.
fn spawn_notifier(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let config = state.config.notify.clone()?;
    Some(tokio::spawn(crate::notify::run(state.meta.clone(), config)))
}

/// One server per data directory. With the embedded stores the data directory holds the
/// stores; with shared stores each node has its own (docs/scale-out.md). The lock holds while
/// the returned file is open.
fn lock_data_dir(data_dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let lock_path = data_dir.join("sanduq.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another sanduq serve is using {}; stop it first",
            data_dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            anyhow::bail!("cannot lock {}: {e}", lock_path.display())
        }
    }
}

/// Runs both listeners, the health listener if configured, the session sweep and the janitor
/// (with the retention pass) until `shutdown` completes; then stops accepting, answers 503 to health
/// checks, and lets the requests in flight finish for at most `[node] drain_seconds` (see
/// [`listener::run`]).
pub async fn serve(
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let lock = lock_data_dir(&state.config.data_dir)?;
    let bind = |addr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
    };
    let health_listener = match state.config.node.health_addr {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let source = bind(state.config.source_addr).await?;
    let api = bind(state.config.api_addr).await?;
    let tls = match &state.config.tls {
        Some(files) => Some(listener::tls_acceptor(files)?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        "source site on {scheme}://{}, editor API on {scheme}://{}",
        source.local_addr()?,
        api.local_addr()?
    );
    let (tx, rx) = tokio::sync::watch::channel(());
    let sweeper = tokio::spawn(sweep_sessions(state.sessions.clone()));
    // Nothing is removed at start-up: garbage goes only once older than the grace period.
    let janitor = tokio::spawn(crate::store::janitor::run(
        state.blobs.clone(),
        state.meta.clone(),
        state.config.store.janitor_grace,
        state.config.store.janitor_every,
        state.config.desks.clone(),
    ));
    // Content-free notifications, on the janitor's lease too.
    let notifier = spawn_notifier(&state);
    let limits = state.config.net;
    let drain = state.config.node.drain;
    let health = health_listener.map(|l| {
        let h = health::Health::new(state.blobs.clone(), state.meta.clone());
        (l, h)
    });
    let draining = health.as_ref().map(|(_, h)| h.clone());
    let (health_tx, health_rx) = tokio::sync::watch::channel(());
    let health_task = async move {
        if let Some((l, h)) = health {
            tracing::info!("health checks on http://{}/health", l.local_addr()?);
            let prober = tokio::spawn(h.clone().watch());
            let router = health::router(h, limits.max_header_bytes);
            // A balancer's checks are short; a few connections at a time are plenty.
            let small = crate::config::NetLimits {
                max_connections: 16,
                ..limits
            };
            listener::run(l, router, small, None, health_rx, Duration::from_secs(1)).await;
            prober.abort();
        }
        Ok::<(), std::io::Error>(())
    };
    let s1 = listener::run(
        source,
        source_router(state.clone()),
        limits,
        tls.clone(),
        rx.clone(),
        drain,
    );
    let s2 = listener::run(api, api_router(state), limits, tls, rx, drain);
    // The health listener outlives the others: while they drain, it answers 503.
    let serving = async move {
        tokio::join!(s1, s2);
        let _ = health_tx.send(());
    };
    let stopper = async move {
        shutdown.await;
        if let Some(h) = draining {
            h.drain();
        }
        tracing::info!("stopping: no new connections; requests in flight get up to {drain:?}");
        let _ = tx.send(());
    };
    let (_, health_result, _) = tokio::join!(serving, health_task, stopper);
    sweeper.abort();
    janitor.abort();
    if let Some(n) = notifier {
        n.abort();
    }
    drop(lock);
    health_result?;
    Ok(())
}
