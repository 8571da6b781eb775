//! `GET /health` on its own loopback listener (`[node] health`), for a load balancer in
//! front of several nodes.
//!
//! It says one thing: whether this node can serve, meaning it reaches both stores and is not
//! stopping. The answer is one of two fixed bodies, `200 ok` and `503 unavailable`, with no
//! count, version, store name or timing in it.
//!
//! Requests never touch the stores. One background task probes them once a second (a lookup
//! of a random id in each, bounded by [`PROBE_TIMEOUT`]) and keeps the result; a check reads
//! it, so a flood of checks costs the stores nothing and every answer takes the same time,
//! whatever the stores are doing. The listener is not the source site's: an onion visitor
//! can neither reach it nor learn from it when a store is down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::ids::Id;
use crate::store::{BlobKey, BlobStore, MetaStore};

/// Time between two probes of the stores.
pub(crate) const PROBE_EVERY: Duration = Duration::from_secs(1);
/// A probe that takes longer than this counts as a store out of reach. The stores' own
/// clients retry for longer (about 10 s); a balancer must learn sooner.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the health listener knows.
pub(crate) struct Health {
    blobs: Arc<dyn BlobStore>,
    meta: Arc<dyn MetaStore>,
    /// The last probe reached both stores. False until the first probe succeeds.
    reachable: AtomicBool,
    /// The node got SIGTERM: it accepts no new connection and says so.
    draining: AtomicBool,
}

impl Health {
    pub(crate) fn new(blobs: Arc<dyn BlobStore>, meta: Arc<dyn MetaStore>) -> Arc<Health> {
        Arc::new(Health {
            blobs,
            meta,
            reachable: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        })
    }

    /// From now on the node answers 503, whatever the stores.
    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    fn serving(&self) -> bool {
        self.reachable.load(Ordering::SeqCst) && !self.draining.load(Ordering::SeqCst)
    }

    /// Whether both stores answer a read within [`PROBE_TIMEOUT`]. The ids are fresh random
    /// ones: the answer ("no such item") is the same on every install and reads nothing.
    async fn probe(&self) -> bool {
        let meta = async { self.meta.item(Id::random()).await.is_ok() };
        let blobs = async {
            self.blobs
                .open(BlobKey::content(Id::random()), 0)
                .await
                .is_ok()
        };
        let both = async {
            let (m, b) = tokio::join!(meta, blobs);
            m && b
        };
        tokio::time::timeout(PROBE_TIMEOUT, both)
            .await
            .unwrap_or(false)
    }

    /// Probes the stores every [`PROBE_EVERY`] for as long as the server runs. Only changes
    /// are logged, and only as "reachable" or not.
    pub(crate) async fn watch(self: Arc<Self>) {
        let mut tick = tokio::time::interval(PROBE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = self.probe().await;
            if self.reachable.swap(now, Ordering::SeqCst) != now {
                if now {
                    tracing::info!("health: both stores reachable");
                } else {
                    tracing::warn!("health: a store is out of reach; answering 503");
                }
            }
        }
    }
}

/// The health listener's only route.
pub(crate) fn router(health: Arc<Health>, max_header_bytes: usize) -> Router {
    Router::new()
        .route("/health", get(answer))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            max_header_bytes,
            super::listener::head_checks,
        ))
        .layer(middleware::from_fn(super::security_headers))
        .with_state(health)
}

async fn answer(State(health): State<Arc<Health>>) -> Response {
    let (status, body) = if health.serving() {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable\n")
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Not found\n",
    )
        .into_response()
}
