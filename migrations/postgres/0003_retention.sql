-- Retention: the UTC day a source last did something (sent, logged in, read its replies),
-- never finer, so that a source silent for longer than its desk's `retention_days` loses its
-- login and replies. NULL until sanduq first records it: recorded only for sources of desks
-- that have a retention, and the first retention pass of such a desk starts the clock of
-- every source without one at that pass's day.
ALTER TABLE sources ADD COLUMN IF NOT EXISTS last_day TEXT COLLATE "C"
    CHECK (last_day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$');
CREATE INDEX IF NOT EXISTS sources_desk_last_day ON sources(desk, last_day);
