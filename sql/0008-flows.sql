-- 0008-flows.sql: the flow log's history and the rules' last hits.
--
-- flow_hour: what the daemon's flow log saw, summed per hour: each
-- endpoint by its most specific group ('' when in none: any), the
-- service (protocol and destination port), the verdict and the rule
-- (0: the default action, -1: the spoof guard).  A flow between two
-- managed NICs is counted once (where it left).  Rows older than the
-- daemon's --flow-retention are deleted as it writes.
CREATE TABLE flow_hour(
	hour_ms INTEGER NOT NULL,
	src_group TEXT NOT NULL,
	dst_group TEXT NOT NULL,
	proto TEXT NOT NULL,
	port INTEGER NOT NULL,
	verdict TEXT NOT NULL,
	rule INTEGER NOT NULL,
	count INTEGER NOT NULL,
	PRIMARY KEY (hour_ms, src_group, dst_group, proto, port, verdict, rule)
) WITHOUT ROWID;

-- rule_hit: when the daemon last saw each rule's counter move, and the
-- packet count it read then.
CREATE TABLE rule_hit(
	rule INTEGER PRIMARY KEY,
	last_hit_ms INTEGER NOT NULL,
	packets INTEGER NOT NULL
);
