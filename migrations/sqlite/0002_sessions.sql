-- Logged-in sources' sessions, shared by every node and restarts: `id` is derived one-way
-- from the source's cookie, `sealed` is the session encrypted under a key only that cookie
-- gives (src/web/sealed.rs), `sweep_after` is the end of the coarse window in which the
-- session expires (milliseconds since the Unix epoch), never the time of a request.
CREATE TABLE IF NOT EXISTS sessions (
    id BLOB PRIMARY KEY NOT NULL,
    sealed BLOB NOT NULL,
    sweep_after INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_sweep ON sessions(sweep_after);
