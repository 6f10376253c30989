-- 0002-addresses.sql - where bound addresses come from, and how each NIC
-- gets them.
--
-- address.origin (0001) already says static | libvirt | learned.  A binding
-- that was found (libvirt) or learned (first ARP/DHCP/ND seen) can be
-- pinned: `clear addresses` leaves it, as it leaves static ones.  since_ms
-- says when it was bound (0: before this migration).
ALTER TABLE address ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0
	CHECK (pinned IN (0, 1));
ALTER TABLE address ADD COLUMN since_ms INTEGER NOT NULL DEFAULT 0;

-- How a workload's NICs get addresses beyond the static ones: '' follows
-- the default, else 'static', 'libvirt', 'learn' or 'libvirt,learn'.
ALTER TABLE workload ADD COLUMN addressing TEXT NOT NULL DEFAULT ''
	CHECK (addressing IN ('', 'static', 'libvirt', 'learn',
	                      'libvirt,learn'));

-- Operational settings of the inventory (not part of any config revision):
-- addressing = the default addressing mode.
CREATE TABLE inventory_setting(
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO inventory_setting(key, value) VALUES ('addressing', 'static');
