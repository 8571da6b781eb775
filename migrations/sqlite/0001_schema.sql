-- The whole schema as of PRAGMA user_version 3, the last of the legacy steps in
-- src/store/sqlite.rs. Every statement is idempotent: a database those steps brought to
-- version 3 takes this migration as a no-op and is then counted by _sqlx_migrations alone.
-- No column holds a time of day: days are 'YYYY-MM-DD' (UTC).
CREATE TABLE IF NOT EXISTS editors (
    name TEXT PRIMARY KEY NOT NULL,
    desk TEXT NOT NULL,
    recipient TEXT NOT NULL,
    token_hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY NOT NULL,
    desk TEXT NOT NULL,
    day TEXT NOT NULL,
    login_hash BLOB,
    reply_recipient TEXT,
    argon2_memory_kib INTEGER,
    argon2_time INTEGER,
    argon2_lanes INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS sources_login ON sources(login_hash);
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY NOT NULL,
    source TEXT NOT NULL REFERENCES sources(id),
    desk TEXT NOT NULL,
    day TEXT NOT NULL,
    size INTEGER NOT NULL,
    meta_size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS items_desk ON items(desk, day);
CREATE TABLE IF NOT EXISTS replies (
    id TEXT PRIMARY KEY NOT NULL,
    source TEXT NOT NULL REFERENCES sources(id),
    desk TEXT NOT NULL,
    day TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS replies_source ON replies(source);
CREATE TABLE IF NOT EXISTS install (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);
-- The legacy counter too, so that a sanduq from before these migrations, opening this
-- database, does not apply its steps a second time.
PRAGMA user_version = 3;
