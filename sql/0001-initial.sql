-- 0001-initial.sql - the first schema of the bulkhead store.
--
-- Two halves.  The inventory (workload, nic, address, tag) is operational:
-- one live copy, edited in place.  The policy lives in configs: every
-- revision is a frozen config and every user's candidate is a private one,
-- so each policy table is keyed by the config it belongs to.  A commit turns
-- the candidate's config row into a revision without copying anything.
--
-- Names are the keys inside a config (groups, services) because configs are
-- copied wholesale and compared as text; rules keep their global id.

-- Small counters and flags: next_rule_id (rule ids are never reused).
CREATE TABLE meta(
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES ('next_rule_id', '1');

-- ---- inventory -------------------------------------------------------------
CREATE TABLE workload(
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	kind TEXT NOT NULL CHECK (kind IN ('vm', 'container')),
	uuid TEXT NOT NULL DEFAULT '',
	os TEXT NOT NULL DEFAULT '',
	host TEXT NOT NULL DEFAULT '',
	netns TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL DEFAULT 'unknown',
	source TEXT NOT NULL CHECK (source IN ('static', 'libvirt')),
	created_ms INTEGER NOT NULL
);
-- A libvirt domain is one workload.
CREATE UNIQUE INDEX workload_uuid ON workload(uuid) WHERE uuid <> '';

CREATE TABLE nic(
	id INTEGER PRIMARY KEY,
	workload INTEGER NOT NULL REFERENCES workload(id) ON DELETE CASCADE,
	ifname TEXT NOT NULL UNIQUE,
	mac TEXT NOT NULL DEFAULT ''
);
CREATE INDEX nic_workload ON nic(workload);

-- An address is bound to one NIC in the whole inventory: the spoof guard
-- and the group sets both rely on it.
CREATE TABLE address(
	id INTEGER PRIMARY KEY,
	nic INTEGER NOT NULL REFERENCES nic(id) ON DELETE CASCADE,
	addr TEXT NOT NULL UNIQUE,          -- canonical (inet_ntop) text
	family INTEGER NOT NULL CHECK (family IN (4, 6)),
	origin TEXT NOT NULL DEFAULT 'static'
		CHECK (origin IN ('static', 'libvirt', 'learned'))
);
CREATE INDEX address_nic ON address(nic);

CREATE TABLE tag(
	workload INTEGER NOT NULL REFERENCES workload(id) ON DELETE CASCADE,
	tag TEXT NOT NULL,
	PRIMARY KEY (workload, tag)
) WITHOUT ROWID;

-- ---- configs and revisions -------------------------------------------------
CREATE TABLE config(
	id INTEGER PRIMARY KEY,
	kind TEXT NOT NULL CHECK (kind IN ('candidate', 'revision')),
	owner TEXT,                  -- candidates: the user; NULL for revisions
	base_rev INTEGER,            -- the revision it was copied from
	changes INTEGER NOT NULL DEFAULT 0,
	created_ms INTEGER NOT NULL,
	CHECK ((kind = 'candidate') = (owner IS NOT NULL))
);
-- One candidate per user: shells of the same user share it.
CREATE UNIQUE INDEX config_owner ON config(owner) WHERE kind = 'candidate';

CREATE TABLE revision(
	rev INTEGER PRIMARY KEY,
	config INTEGER NOT NULL UNIQUE REFERENCES config(id),
	time_ms INTEGER NOT NULL,
	author TEXT NOT NULL,
	client TEXT NOT NULL DEFAULT '',
	comment TEXT,
	confirm_deadline_ms INTEGER,  -- pending `commit confirmed`; NULL: none
	prev_rev INTEGER,             -- what a missed confirm restores
	undoes INTEGER                -- set on the automatic rollback revision
);

-- Groups.  Members and addresses keep the order they were typed in (seq)
-- so `show config` gives back what the user wrote.
CREATE TABLE grp(
	config INTEGER NOT NULL REFERENCES config(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	match TEXT,                  -- canonical expression; NULL: none
	PRIMARY KEY (config, name)
) WITHOUT ROWID;

CREATE TABLE grp_member(
	config INTEGER NOT NULL,
	grp TEXT NOT NULL,
	seq INTEGER NOT NULL,
	workload TEXT NOT NULL,      -- a name: configs outlive workloads
	PRIMARY KEY (config, grp, seq),
	FOREIGN KEY (config, grp) REFERENCES grp(config, name) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE grp_address(
	config INTEGER NOT NULL,
	grp TEXT NOT NULL,
	seq INTEGER NOT NULL,
	cidr TEXT NOT NULL,          -- canonical
	PRIMARY KEY (config, grp, seq),
	FOREIGN KEY (config, grp) REFERENCES grp(config, name) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE service(
	config INTEGER NOT NULL REFERENCES config(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	builtin INTEGER NOT NULL DEFAULT 0 CHECK (builtin IN (0, 1)),
	PRIMARY KEY (config, name)
) WITHOUT ROWID;

CREATE TABLE service_entry(
	config INTEGER NOT NULL,
	service TEXT NOT NULL,
	seq INTEGER NOT NULL,
	proto TEXT NOT NULL CHECK (proto IN ('tcp', 'udp', 'icmp', 'icmpv6')),
	ports TEXT NOT NULL DEFAULT '',  -- canonical ports, or an icmp type
	PRIMARY KEY (config, service, seq),
	FOREIGN KEY (config, service) REFERENCES service(config, name)
		ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE rule(
	config INTEGER NOT NULL REFERENCES config(id) ON DELETE CASCADE,
	id INTEGER NOT NULL,         -- global, stable, from meta.next_rule_id
	section TEXT NOT NULL CHECK (section IN
		('emergency', 'infrastructure', 'environment', 'application')),
	position INTEGER NOT NULL CHECK (position >= 1),
	action TEXT NOT NULL CHECK (action IN ('allow', 'drop', 'reject')),
	log INTEGER NOT NULL DEFAULT 0 CHECK (log IN (0, 1)),
	enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
	comment TEXT,
	PRIMARY KEY (config, id)
) WITHOUT ROWID;
CREATE INDEX rule_position ON rule(config, section, position);

-- The names a rule refers to; an empty role means "any".
CREATE TABLE rule_ref(
	config INTEGER NOT NULL,
	rule INTEGER NOT NULL,
	role TEXT NOT NULL CHECK (role IN ('src', 'dst', 'service', 'applied')),
	seq INTEGER NOT NULL,
	name TEXT NOT NULL,
	PRIMARY KEY (config, rule, role, seq),
	FOREIGN KEY (config, rule) REFERENCES rule(config, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX rule_ref_name ON rule_ref(config, role, name);

-- default (allow|drop), timeout-tcp, timeout-udp, timeout-icmp (seconds).
CREATE TABLE setting(
	config INTEGER NOT NULL REFERENCES config(id) ON DELETE CASCADE,
	key TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (config, key)
) WITHOUT ROWID;

-- ---- audit -----------------------------------------------------------------
CREATE TABLE audit(
	id INTEGER PRIMARY KEY,
	time_ms INTEGER NOT NULL,
	user TEXT NOT NULL,
	client TEXT NOT NULL DEFAULT '',
	command TEXT NOT NULL,
	ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
	detail TEXT
);
CREATE INDEX audit_time ON audit(time_ms);

-- ---- revision 0: the initial config ---------------------------------------
-- Default allow and the flow timeouts; src/policy.c knows the same values
-- as the defaults `show config` leaves out.
INSERT INTO config(id, kind, owner, base_rev, changes, created_ms)
	VALUES (1, 'revision', NULL, NULL, 0, unixepoch() * 1000);
INSERT INTO revision(rev, config, time_ms, author, client, comment)
	VALUES (0, 1, unixepoch() * 1000, 'bulkhead', '', 'initial config');
INSERT INTO setting(config, key, value) VALUES
	(1, 'default', 'allow'),
	(1, 'timeout-tcp', '7200'),
	(1, 'timeout-udp', '60'),
	(1, 'timeout-icmp', '30');

INSERT INTO service(config, name, builtin) VALUES
	(1, 'ssh', 1), (1, 'telnet', 1), (1, 'smtp', 1), (1, 'dns', 1),
	(1, 'dhcp', 1), (1, 'dhcpv6', 1), (1, 'tftp', 1), (1, 'http', 1),
	(1, 'kerberos', 1), (1, 'ntp', 1), (1, 'snmp', 1), (1, 'ldap', 1),
	(1, 'https', 1), (1, 'smb', 1), (1, 'syslog', 1), (1, 'ldaps', 1),
	(1, 'imaps', 1), (1, 'mssql', 1), (1, 'nfs', 1), (1, 'mysql', 1),
	(1, 'rdp', 1), (1, 'postgres', 1), (1, 'vnc', 1), (1, 'redis', 1),
	(1, 'http-alt', 1), (1, 'icmp', 1), (1, 'icmpv6', 1), (1, 'ping', 1);
INSERT INTO service_entry(config, service, seq, proto, ports) VALUES
	(1, 'ssh', 1, 'tcp', '22'),
	(1, 'telnet', 1, 'tcp', '23'),
	(1, 'smtp', 1, 'tcp', '25'),
	(1, 'dns', 1, 'udp', '53'), (1, 'dns', 2, 'tcp', '53'),
	(1, 'dhcp', 1, 'udp', '67-68'),
	(1, 'dhcpv6', 1, 'udp', '546-547'),
	(1, 'tftp', 1, 'udp', '69'),
	(1, 'http', 1, 'tcp', '80'),
	(1, 'kerberos', 1, 'tcp', '88'), (1, 'kerberos', 2, 'udp', '88'),
	(1, 'ntp', 1, 'udp', '123'),
	(1, 'snmp', 1, 'udp', '161-162'),
	(1, 'ldap', 1, 'tcp', '389'),
	(1, 'https', 1, 'tcp', '443'),
	(1, 'smb', 1, 'tcp', '445'),
	(1, 'syslog', 1, 'udp', '514'),
	(1, 'ldaps', 1, 'tcp', '636'),
	(1, 'imaps', 1, 'tcp', '993'),
	(1, 'mssql', 1, 'tcp', '1433'),
	(1, 'nfs', 1, 'tcp', '2049'), (1, 'nfs', 2, 'udp', '2049'),
	(1, 'mysql', 1, 'tcp', '3306'),
	(1, 'rdp', 1, 'tcp', '3389'),
	(1, 'postgres', 1, 'tcp', '5432'),
	(1, 'vnc', 1, 'tcp', '5900-5910'),
	(1, 'redis', 1, 'tcp', '6379'),
	(1, 'http-alt', 1, 'tcp', '8080'),
	(1, 'icmp', 1, 'icmp', 'echo-request'),
	(1, 'icmpv6', 1, 'icmpv6', 'echo-request'),
	(1, 'ping', 1, 'icmp', 'echo-request'),
	(1, 'ping', 2, 'icmpv6', 'echo-request');
