-- 0006-monitor.sql - monitor mode (issue 5).
--
-- A monitored rule that would drop or reject counts and logs the packet
-- but lets it pass (it is allowed and becomes a flow).  The flag lives on
-- the rule, and on a group for every rule applied to it; a monitored
-- default drop is the setting 'default-monitor' (no column needed).
-- Both columns are copied with their config like the rest of the row.
ALTER TABLE rule ADD COLUMN monitor INTEGER NOT NULL DEFAULT 0
	CHECK (monitor IN (0, 1));
ALTER TABLE grp ADD COLUMN monitor INTEGER NOT NULL DEFAULT 0
	CHECK (monitor IN (0, 1));
