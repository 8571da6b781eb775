//! The in-process tier: the source site's and the editor API's routers called with
//! `tower::ServiceExt::oneshot` on a fresh install in a temp folder (tests/common/inproc.rs).
//! No socket and no process, so each test costs milliseconds plus its own work. What belongs
//! here: routing, pages, headers, the no-JS crawl, languages, the API's authentication. What
//! only a listener or a process shows (limits, timeouts, TLS, crashes, the CLI, engines,
//! browsers) stays in the other modules (tests/README.md).

// Languages: the locale in the path, every page wholly in its language, the default locale.
mod i18n;
// Every kind of answer of both routers carries the security headers.
mod headers;
// A crawl of every page in every language: no script, handler, inline style or outside URL.
mod pages;
// The editor API: tokens right, wrong and missing, desk isolation, ranged downloads.
mod api;
