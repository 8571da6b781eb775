-- Whether some editor of the item's desk has already fetched it: one boolean per item, so
-- that the desk's editors do not all process the same testimony. No editor's name and no
-- time: which editor took it, and when, stays off the server (docs/security.md).
ALTER TABLE items ADD COLUMN IF NOT EXISTS fetched BOOLEAN NOT NULL DEFAULT FALSE;
