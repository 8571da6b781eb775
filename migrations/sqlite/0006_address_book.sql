-- The editor API's address book and the desk's replies (issue 20): sources are paged by
-- (desk, day, id), and a desk's replies are listed by desk. Indexes only; no new column.
CREATE INDEX IF NOT EXISTS sources_desk_day ON sources(desk, day, id);
CREATE INDEX IF NOT EXISTS replies_desk ON replies(desk, day, id);
