-- The whole PostgreSQL schema, the same rows as SQLite's. No column holds a time of day:
-- days are 'YYYY-MM-DD' (UTC) text, checked. `sources.seq` gives the order sources were
-- first written, which SQLite keeps in its rowid: `source_costs` lists the newest first.
-- Text is COLLATE "C": compared and ordered byte by byte, as SQLite does, whatever the
-- database's locale.
CREATE TABLE IF NOT EXISTS editors (
    name TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    desk TEXT COLLATE "C" NOT NULL,
    recipient TEXT COLLATE "C" NOT NULL,
    token_hash BYTEA NOT NULL CHECK (octet_length(token_hash) = 32)
);
CREATE TABLE IF NOT EXISTS sources (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    desk TEXT COLLATE "C" NOT NULL,
    day TEXT COLLATE "C" NOT NULL CHECK (day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
    login_hash BYTEA UNIQUE CHECK (octet_length(login_hash) = 32),
    reply_recipient TEXT COLLATE "C",
    argon2_memory_kib BIGINT,
    argon2_time BIGINT,
    argon2_lanes BIGINT
);
CREATE TABLE IF NOT EXISTS items (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    source TEXT COLLATE "C" NOT NULL REFERENCES sources(id),
    desk TEXT COLLATE "C" NOT NULL,
    day TEXT COLLATE "C" NOT NULL CHECK (day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
    size BIGINT NOT NULL CHECK (size >= 0),
    meta_size BIGINT NOT NULL CHECK (meta_size >= 0)
);
CREATE INDEX IF NOT EXISTS items_desk ON items(desk, day);
CREATE INDEX IF NOT EXISTS items_source ON items(source);
CREATE TABLE IF NOT EXISTS replies (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    source TEXT COLLATE "C" NOT NULL REFERENCES sources(id),
    desk TEXT COLLATE "C" NOT NULL,
    day TEXT COLLATE "C" NOT NULL CHECK (day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
    size BIGINT NOT NULL CHECK (size >= 0)
);
CREATE INDEX IF NOT EXISTS replies_source ON replies(source);
CREATE TABLE IF NOT EXISTS install (
    key TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    value BYTEA NOT NULL
);
