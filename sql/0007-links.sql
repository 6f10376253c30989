-- The host-side interfaces of the inventory's NICs as the kernel last
-- reported them (rtnetlink link events, the daemon's links service).
-- Keyed by interface name, not by nic row: a libvirt sync replaces nic
-- rows, and the kernel's state of an interface does not depend on which
-- workload holds the name.  A row whose name no NIC holds is stale and is
-- dropped by the next resync.
CREATE TABLE nic_link(
	ifname TEXT PRIMARY KEY,
	present INTEGER NOT NULL,          -- 1: the interface exists
	ifindex INTEGER NOT NULL DEFAULT 0,-- the kernel's, 0 when absent
	mac TEXT NOT NULL DEFAULT '',      -- the host end's own MAC
	rebinds INTEGER NOT NULL DEFAULT 0,-- times it came back with a new index
	changed_ms INTEGER NOT NULL        -- when present/ifindex last changed
);
