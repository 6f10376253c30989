-- store_inventory_load() also reads the quarantine records (0003: which
-- workloads are quarantined) and the inventory settings (0002: the
-- default addressing mode): their writes move the inventory's generation
-- too (0007), so a daemon's kept inventory never misses a quarantine or a
-- mode changed by another process.
CREATE TRIGGER quarantine_gen_i AFTER INSERT ON quarantine
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER quarantine_gen_u AFTER UPDATE ON quarantine
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER quarantine_gen_d AFTER DELETE ON quarantine
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER inventory_setting_gen_i AFTER INSERT ON inventory_setting
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER inventory_setting_gen_u AFTER UPDATE ON inventory_setting
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
CREATE TRIGGER inventory_setting_gen_d AFTER DELETE ON inventory_setting
	BEGIN UPDATE inventory_gen SET n = n + 1; END;
