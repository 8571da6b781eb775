//! The minimum-progress rule for request bodies.
//!
//! A source on a slow Tor circuit may take an hour to upload; that is fine. A connection that
//! stops sending, holding its place and its partial ciphertext, is not: every request body is
//! wrapped so that a body bringing fewer than `stall_min_bytes` in a `stall_window` (counted
//! in consecutive windows from the start of the body) ends with an error. The handler then fails as for any broken upload (its temporary objects are
//! discarded), and this layer turns the answer into a 408 page.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use tokio::time::Instant;

use super::api::ApiError;
use super::AppError;
use crate::config::NetLimits;

/// Wraps the request body in the progress rule; answers the source site's 408 page (in the
/// request's language, so this layer sits inside `pages::mark_request`) if the body stalled.
pub(crate) async fn guard(
    State(limits): State<NetLimits>,
    req: Request<Body>,
    next: Next,
) -> Response {
    run_guarded(limits, req, next, || AppError::Stalled.into_response()).await
}

/// The same rule for the editor API, which answers in JSON.
pub(crate) async fn guard_api(
    State(limits): State<NetLimits>,
    req: Request<Body>,
    next: Next,
) -> Response {
    run_guarded(limits, req, next, || ApiError::Stalled.into_response()).await
}

async fn run_guarded(
    limits: NetLimits,
    req: Request<Body>,
    next: Next,
    stalled_response: impl FnOnce() -> Response,
) -> Response {
    let stalled = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let body = Body::from_stream(watch(
        body,
        limits.stall_window,
        limits.stall_min_bytes,
        stalled.clone(),
    ));
    let res = next.run(Request::from_parts(parts, body)).await;
    if stalled.load(Ordering::Relaxed) {
        return stalled_response();
    }
    res
}

/// The body's chunks, ending in an error once a window passes with too few bytes.
fn watch(
    body: Body,
    window: Duration,
    min_bytes: u64,
    stalled: Arc<AtomicBool>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
    struct State {
        inner: axum::body::BodyDataStream,
        window_end: Instant,
        seen: u64,
        done: bool,
    }
    let start = State {
        inner: body.into_data_stream(),
        window_end: Instant::now() + window,
        seen: 0,
        done: false,
    };
    futures_util::stream::unfold(start, move |mut st| {
        let stalled = stalled.clone();
        async move {
            if st.done {
                return None;
            }
            loop {
                match tokio::time::timeout_at(st.window_end, st.inner.next()).await {
                    Ok(Some(Ok(chunk))) => {
                        st.seen += chunk.len() as u64;
                        return Some((Ok(chunk), st));
                    }
                    Ok(Some(Err(e))) => {
                        st.done = true;
                        return Some((Err(std::io::Error::other(e)), st));
                    }
                    Ok(None) => return None,
                    Err(_) if st.seen >= min_bytes => {
                        // The next window starts now, not where the last one was due to end:
                        // a pause of the server itself must not count against the source.
                        st.window_end = Instant::now() + window;
                        st.seen = 0;
                    }
                    Err(_) => {
                        st.done = true;
                        stalled.store(true, Ordering::Relaxed);
                        let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "body stalled");
                        return Some((Err(e), st));
                    }
                }
            }
        }
    })
    // Readers may poll again after the end (intake drains refused bodies); `unfold` alone
    // would panic then.
    .fuse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_slow_body_passes_and_a_stalled_one_is_cut() {
        let window = Duration::from_secs(60);
        // 2 KiB every 50 s: slow, but more than 1 KiB in each 60 s window.
        let slow = futures_util::stream::unfold(0, |n| async move {
            if n == 5 {
                return None;
            }
            tokio::time::sleep(Duration::from_secs(50)).await;
            Some((
                Ok::<_, std::io::Error>(bytes::Bytes::from(vec![0u8; 2048])),
                n + 1,
            ))
        });
        let flag = Arc::new(AtomicBool::new(false));
        let got: Vec<_> = watch(Body::from_stream(slow), window, 1024, flag.clone())
            .collect()
            .await;
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(Result::is_ok));
        assert!(!flag.load(Ordering::Relaxed));

        // 100 bytes, then silence.
        let stall = futures_util::stream::once(async {
            Ok::<_, std::io::Error>(bytes::Bytes::from(vec![0u8; 100]))
        })
        .chain(futures_util::stream::pending());
        let flag = Arc::new(AtomicBool::new(false));
        let got: Vec<_> = watch(Body::from_stream(stall), window, 1024, flag.clone())
            .collect()
            .await;
        assert_eq!(got.len(), 2);
        assert!(got[1].is_err());
        assert!(flag.load(Ordering::Relaxed));
    }
}
