-- Content-free notifications (src/notify/): one row per editor and channel that opted in.
-- `address` is the editor's e-mail address or webhook URL. `pending` (0/1): something arrived
-- on the desk that no notice has been decided for yet; `owed` (0/1): a notice was decided at
-- a period's chosen moment and is not yet delivered. `moment_period`/`moment_offset`: the
-- period (number of whole periods since the Unix epoch) whose random moment is planned, and
-- that moment in seconds into the period, NULL once handled. `sent_period`: the period of
-- the last delivered notice. Nothing here says when a source wrote.
CREATE TABLE IF NOT EXISTS notify (
    editor TEXT NOT NULL REFERENCES editors(name) ON DELETE CASCADE,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    address TEXT NOT NULL,
    pending BIGINT NOT NULL DEFAULT 0,
    owed BIGINT NOT NULL DEFAULT 0,
    moment_period BIGINT,
    moment_offset BIGINT,
    sent_period BIGINT,
    PRIMARY KEY (editor, channel)
);
