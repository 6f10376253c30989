/*
 * sshcmd.c - `bulkhead ssh-command` (front end): the entry for an
 * authorized_keys forced command, through which an integration (a SIEM,
 * an antivirus server, Ansible) tags, quarantines and reads state, and
 * nothing else.
 *
 * sshd runs it instead of whatever the key's user asked for, with the
 * request in $SSH_ORIGINAL_COMMAND.  That text is taken as bulkhead
 * commands (';' between them), never handed to a shell, and checked three
 * ways before anything runs:
 *   - one line of printable text: a line break or control character is
 *     refused, so no second command can hide in the request;
 *   - every command is one an integration may give: show, help, add tag,
 *     delete tag, quarantine, release;
 *   - it goes to the daemon only (client_opts.require_daemon): without a
 *     daemon serving the store it fails instead of opening an engine of
 *     its own, so the daemon's role check (the key's Unix user in group
 *     bulkhead-operator or bulkhead-viewer) always has the last word and
 *     the audit names that user and the SSH client address.
 * Output is JSON (--json is implied); errors too.  --idempotent is implied
 * too, so a retried `add tag` succeeds.  The whole request is one
 * all-or-nothing batch, as with -c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead.h"
#include "client.h"
#include "cmd.h"
#include "json.h"
#include "safeops.h"
#include "util.h"

/* The commands allowed, as their first words. */
static const char *const allowed[] = {
	"show", "help", "add tag", "delete tag", "quarantine", "release",
};
#define NALLOWED (sizeof allowed / sizeof allowed[0])
#define ALLOWED_TEXT "show, help, add tag, delete tag, quarantine, release"

/* An error as the JSON API gives it, on standard output; status 1. */
static int refuse(const char *fmt, const char *arg)
{
	struct strbuf msg = STRBUF_INIT, out = STRBUF_INIT;
	struct json j;

	sb_addf(&msg, fmt, arg);
	json_init(&j, &out);
	json_obj_begin(&j);
	json_kstr(&j, "error", sb_str(&msg));
	json_obj_end(&j);
	printf("%s\n", sb_str(&out));
	fflush(stdout);
	sb_free(&msg);
	sb_free(&out);
	return 1;
}

/* 1 when the command of tokens @t[0..n) starts with an allowed head. */
static int command_allowed(const struct token *t, size_t n, char *head,
                           size_t len)
{
	head[0] = '\0';
	if (n == 0)
		return 1;
	snprintf(head, len, "%s%s%s", t[0].text, n > 1 ? " " : "",
	         n > 1 ? t[1].text : "");
	if (t[0].quoted)
		return 0;
	for (size_t i = 0; i < NALLOWED; i++) {
		const char *a = allowed[i], *sp = strchr(a, ' ');

		if (!sp) {
			if (strcmp(t[0].text, a) == 0) {
				snprintf(head, len, "%s", a);
				return 1;
			}
			continue;
		}
		if (n > 1 && !t[1].quoted &&
		    strncmp(t[0].text, a, (size_t)(sp - a)) == 0 &&
		    t[0].text[sp - a] == '\0' && strcmp(t[1].text, sp + 1) == 0)
			return 1;
	}
	return 0;
}

int sshcmd_main(int argc, char **argv, const char *db, const char *socket)
{
	const char *req = getenv("SSH_ORIGINAL_COMMAND");
	struct client_opts co = { 0 };
	struct cmd_opts o = { 0 };
	struct tokv tv = TOKV_INIT;
	char err[BH_ERR_MAX], head[2 * BH_NAME_MAX + 8];
	struct client *cl;
	size_t start = 0;
	int rc;

	if (argc > 1) {
		if (strcmp(argv[1], "--help") == 0) {
			printf("usage: bulkhead [--db PATH] [--socket PATH] "
			       "ssh-command\n"
			       "Runs $SSH_ORIGINAL_COMMAND (%s) through the "
			       "daemon, with JSON output.\nFor authorized_keys: "
			       "command=\"bulkhead ssh-command\",restrict "
			       "ssh-ed25519 ...\n", ALLOWED_TEXT);
			return 0;
		}
		fprintf(stderr, "bulkhead: ssh-command: unexpected \"%s\": it "
		        "reads its commands from SSH_ORIGINAL_COMMAND\n",
		        argv[1]);
		return 2;
	}
	if (!req || !*req)
		return refuse("no command: this key only runs bulkhead "
		              "commands (%s), e.g. ssh HOST 'show workloads'",
		              ALLOWED_TEXT);
	for (const char *p = req; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return refuse("the request holds a line break or a "
			              "control character: give one line of "
			              "commands separated by ';'%s", "");
	if (tokenize(req, &tv, err, sizeof err) < 0) {
		tokv_free(&tv);
		return refuse("%s", err);
	}
	for (size_t i = 0; i <= tv.n; i++) {
		if (i < tv.n && !(strcmp(tv.v[i].text, ";") == 0 &&
		                  !tv.v[i].quoted))
			continue;
		if (!command_allowed(tv.v + start, i - start, head,
		                     sizeof head)) {
			tokv_free(&tv);
			if (strcmp(head, "bulkhead") == 0 ||
			    strncmp(head, "bulkhead ", 9) == 0)
				return refuse("give the commands alone, without "
				              "'bulkhead' and its options: ssh "
				              "HOST 'show workloads'%s", "");
			snprintf(err, sizeof err, "%s: not allowed through "
			         "this key (it may run " ALLOWED_TEXT ")", head);
			return refuse("%s", err);
		}
		start = i + 1;
	}
	tokv_free(&tv);

	/* Integrations retry: tagging what is tagged is no error. */
	o.json = 1;
	o.idempotent = 1;
	co.db = db;
	co.socket = socket;
	co.require_daemon = 1;
	cl = client_open(&co, err, sizeof err);
	if (!cl)
		return refuse("%s", err);
	rc = batch_run_client(cl, &o, NULL, NULL, req);
	client_close(cl);
	return rc;
}
