#![allow(clippy::unwrap_used)]
#![allow(unreachable_pub)]
//! sanduq integration tests: one binary in two tiers (tests/README.md): `inprocess` calls the
//! routers with no socket; every other module runs real `sanduq` processes.

// The harness: start a server in a temp dir, register editors, submit forms, run the CLI.
mod common;

// In process, no socket: routing, pages, headers, the no-JS crawl, languages, API auth.
mod inprocess;

// Intake: no plaintext at rest, streaming memory, atomic commit, limits, CSRF.
mod intake;

// The editor API under a running server: removed editors, rotated tokens, another desk's key.
mod editor_api;

// The editor CLI: keygen, fetch, decrypt (hostile names, tampering), delete, age interop.
mod editor_cli;

// Decrypt's folders: one per source, never shared, older folders carried over.
mod editor_cli_folders;

// A hostile editor API: fetch against a server that sends anything, its memory measured.
mod editor_cli_hostile;

// Fetch over a Tor-like link: batches, cuts resumed, hostile batches, progress and summaries.
mod editor_sync;

// What a newcomer editor tripped over: naming a source, forms in words, export --force and
// --new, an editor added later, deleting what is already gone.
mod newcomer;

// sync and whole conversations: news about people, every editor's replies, the address book.
mod sync;

// Who reads replies: pinned editors and reply keys, changes held until an editor accepts.
mod editor_cli_trust;

// What the CLI never gives away: onion names to the local DNS, secrets echoed in errors.
mod editor_cli_privacy;

// Operator commands and configuration errors.
mod admin;

// Content-free notifications: real SMTP and webhook receivers, nothing of a submission in them.
mod notify;

// migrate-store: an install moved to other stores, and everything works afterwards.
mod migrate;

// admin backup and restore: a backup under load restored whole; a wrong pepper refused.
mod backup;

// Upgrades: an install made at schema 0002 (tests/fixtures) opened by this binary keeps all.
mod upgrade;

// Codenames: shown once, login, sessions, logout.
mod codenames;

// The hardened front: limits and timeouts, TLS, Tor2web, logs, core dumps, deploy.
mod hardening;

// A real headless Chromium with JavaScript off: submit, codename, login, reply, errors.
mod browser;

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

// TLS key exchange as clients offering a single group see it.
mod tls;

// The Host header sent raw: exactly one, and the same host as an absolute-form target.
mod host_header;

// The C2SP CCTV age test kit (npm cctv-age): every vector through sanduq's decryption path.
mod cctv;

// Login floods: the bounded login queue, its calm 503, new sources ahead of logins.
mod login_flood;

// Argon2 costs and the pepper across restarts and upgrades.
mod argon2_costs;

// Secrets in the running server's memory, read through /proc: what leaves it, and when.
mod memory;

// The PostgreSQL metadata store on a throwaway cluster: conformance, copies, outages, schema.
mod store_postgres;

// The S3 blob store against a real Garage: conformance, crash leftovers, outages, memory.
mod store_s3;

// sanduq on PostgreSQL + Garage from outside: round trip, no plaintext at rest, crash
// mid-upload, engines stopped and started, an embedded install moved onto them.
mod distributed;

// Sessions across three nodes on PostgreSQL + Garage and across restarts: sealed in the
// store, opened only with the source's cookie.
mod nodes_sessions;
// Through real Tor: a private Tor network on loopback (started once, shared), the source in
// Chromium via the onion, the editor CLI via the client-authorised onion, stream limits.
mod tor_network;
// Three nodes on one PostgreSQL + Garage behind HAProxy (deploy/haproxy.cfg): load spread,
// SIGTERM drained, SIGKILL survived, health checks.
mod nodes;

// Editor keys over time (rotation, old and new keys) and items seen by the desk's editors.
mod keys;

// Retention: days moved on with faketime; expired items, silent sources and replies deleted.
mod retention;

// The offline inbox in a real terminal (tmux): read, reply, queue deletions, push; hostile text.
mod inbox;
