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

-- The inventory's generation: a counter every write to the tables
-- store_inventory_load() reads moves, in the same transaction, whoever
-- writes (this process or another, any code path).  A long-lived engine
-- (the daemon) keeps the inventory it loaded last and uses it again while
-- the generation has not moved, instead of loading it per event.  A
-- migration that makes store_inventory_load() read another table must
-- add the same three triggers for it.  uid tells one store from another
-- made later at the same path.
CREATE TABLE inventory_gen(
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n INTEGER NOT NULL,
	uid TEXT NOT NULL
);
INSERT INTO inventory_gen(id, n, uid) VALUES (1, 0, lower(hex(randomblob(8))));
CREATE TRIGGER workload_gen_i AFTER INSERT ON workload
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER workload_gen_u AFTER UPDATE ON workload
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER workload_gen_d AFTER DELETE ON workload
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER nic_gen_i AFTER INSERT ON nic
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER nic_gen_u AFTER UPDATE ON nic
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER nic_gen_d AFTER DELETE ON nic
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER address_gen_i AFTER INSERT ON address
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER address_gen_u AFTER UPDATE ON address
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER address_gen_d AFTER DELETE ON address
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER tag_gen_i AFTER INSERT ON tag
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER tag_gen_u AFTER UPDATE ON tag
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER tag_gen_d AFTER DELETE ON tag
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
