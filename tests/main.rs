#![allow(clippy::unwrap_used)]
#![allow(unreachable_pub)]
//! sanduq integration tests: one binary, every test against a real `sanduq` process.

// The harness: start a server in a temp dir, register editors, submit forms, run the CLI.
mod common;

// Intake: no plaintext at rest, streaming memory, atomic commit, limits, CSRF.
mod intake;

// The editor API: authentication, desk isolation, ranges.
mod editor_api;

// The editor CLI: keygen, fetch, decrypt (hostile names, tampering), delete, age interop.
mod editor_cli;

// Operator commands and configuration errors.
mod admin;

// Codenames: shown once, login, sessions, logout.
mod codenames;

// The hardened front: headers, no script, limits and timeouts, TLS, Tor2web, logs, deploy.
mod hardening;

// A real headless Chromium with JavaScript off: submit, codename, login, reply, errors.
mod browser;

// Languages: the locale in the path, every page wholly in its language, the default locale.
mod i18n;

// Hostile input: a corpus of malformed and abusive requests against a running server.
mod hostile;

// Testimony forms: pages, server-side checks, answers kept, export across versions.
mod forms;

// A post-quantum desk: keygen --pq, no mixing, replies, moving a desk, refusal at start.
mod pq_desk;

// Faults: a full disk under a running server.
mod faults;

// Post-quantum keys: two-way interop with typage (the age author's TypeScript age, via Node).
mod pq;

// Login floods: the bounded login queue, its calm 503, new sources ahead of logins.
mod login_flood;

// Argon2 costs and the pepper across restarts and upgrades.
mod argon2_costs;
