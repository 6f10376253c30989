-- 0003-quarantine.sql - quarantine records (issue 5).
--
-- Quarantine is operational, like the inventory: it acts at once, is
-- audited, and is not part of any config revision.  Every quarantine is one
-- row, kept after its release as history.  A row whose released_ms is NULL
-- is in force: its workload's NICs are in the kernel's quarantine set.
--
-- The workload is kept by id (what follows a libvirt rename) and by name
-- (what the history shows after the workload is gone).  There is no foreign
-- key: the history outlives the workload.
CREATE TABLE quarantine(
	id INTEGER PRIMARY KEY,
	workload_id INTEGER NOT NULL,
	workload TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	source TEXT NOT NULL DEFAULT 'command',  -- command | tag | api ...
	by_user TEXT NOT NULL DEFAULT '',
	by_client TEXT NOT NULL DEFAULT '',
	since_ms INTEGER NOT NULL,
	until_ms INTEGER,                         -- NULL: until released
	released_ms INTEGER,                      -- NULL: in force
	released_by TEXT,
	released_how TEXT                         -- command | tag | expiry ...
);
-- At most one quarantine in force per workload.
CREATE UNIQUE INDEX quarantine_active ON quarantine(workload_id)
	WHERE released_ms IS NULL;
CREATE INDEX quarantine_until ON quarantine(until_ms)
	WHERE released_ms IS NULL AND until_ms IS NOT NULL;
