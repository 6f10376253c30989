-- 0004-playbooks.sql - playbooks: per trigger, the ordered steps the
-- daemon runs when an operational event happens (issue 5).
--
-- Playbooks are part of a config, like services: edited in a candidate,
-- made running by `commit`, kept in every revision, printed by
-- `show config`.  A config's steps are copied with it (store.c's
-- SQL_CONFIG_COPY) and go with it (ON DELETE CASCADE).
--
-- trigger: quarantine, release, tag-added, tag-removed, or
--          tag-added:TAG / tag-removed:TAG for one tag.
-- action:  snapshot, shutdown, pause, resume, run, audit.
-- arg:     shutdown: 'force' or ''; run: the command's words as the
--          command language writes them (sb_add_word), split again with
--          the same tokenizer, never by a shell.
-- timeout_s: run only: seconds before the command is killed.
CREATE TABLE playbook_step(
	config INTEGER NOT NULL REFERENCES config(id) ON DELETE CASCADE,
	trigger TEXT NOT NULL,
	seq INTEGER NOT NULL CHECK (seq >= 1),
	action TEXT NOT NULL CHECK (action IN
		('snapshot', 'shutdown', 'pause', 'resume', 'run', 'audit')),
	arg TEXT NOT NULL DEFAULT '',
	timeout_s INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (config, trigger, seq)
) WITHOUT ROWID;
