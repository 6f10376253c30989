/*
 * bh.c - the engine context (struct bh): opening and closing the store,
 * who is acting, and the error slot every layer writes into.
 *
 * Opening also finishes what an earlier process left due: a `commit
 * confirmed` whose deadline passed while no engine ran is rolled back here,
 * before anyone reads the running config.
 */
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulkhead.h"
#include "safeops.h"
#include "quarantine.h"
#include "store.h"
#include "util.h"

int bh_error(struct bh *bh, const char *fmt, ...)
{
	char buf[BH_ERR_MAX];
	va_list ap;

	/* Through a copy: callers may pass bh->err itself as an argument. */
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	memcpy(bh->err, buf, sizeof buf);
	return -1;
}

const char *bh_default_db_path(char *buf, size_t len)
{
	const char *env = getenv("BULKHEAD_DB");
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");

	if (env && *env) {
		snprintf(buf, len, "%s", env);
	} else if (geteuid() == 0) {
		snprintf(buf, len, "/var/lib/bulkhead/bulkhead.db");
	} else if (xdg && xdg[0] == '/') {
		snprintf(buf, len, "%s/bulkhead/bulkhead.db", xdg);
	} else {
		if (!home || !*home) {
			struct passwd *pw = getpwuid(geteuid());

			home = pw && pw->pw_dir ? pw->pw_dir : "/tmp";
		}
		snprintf(buf, len, "%s/.local/share/bulkhead/bulkhead.db",
		         home);
	}
	return buf;
}

/* The first blank-separated word of @s into @buf. */
static void first_word(const char *s, char *buf, size_t len)
{
	size_t n = strcspn(s, " \t");

	snprintf(buf, len, "%.*s", (int)n, s);
}

/* SPEC "Identity": the Unix user (root acting for a sudo user says so),
 * the SSH client address.  BULKHEAD_USER stands in for tests. */
static void identity(struct bh *bh)
{
	const char *test = getenv("BULKHEAD_USER");
	const char *sudo = getenv("SUDO_USER");
	const char *ssh = getenv("SSH_CLIENT");
	uid_t uid = getuid();

	if (test && *test) {
		snprintf(bh->user, sizeof bh->user, "%s", test);
	} else {
		struct passwd *pw = getpwuid(uid);
		struct strbuf sb = STRBUF_INIT;

		if (pw && pw->pw_name)
			sb_add(&sb, pw->pw_name);
		else
			sb_addf(&sb, "uid%u", (unsigned)uid);
		if (uid == 0 && sudo && *sudo)
			sb_addf(&sb, "(sudo:%s)", sudo);
		/* Cut to the field: user names this long do not happen. */
		snprintf(bh->user, sizeof bh->user, "%.*s",
		         (int)sizeof bh->user - 1, sb_str(&sb));
		sb_free(&sb);
	}
	if (!ssh || !*ssh)
		ssh = getenv("SSH_CONNECTION");
	bh->client[0] = '\0';
	if (ssh && *ssh)
		first_word(ssh, bh->client, sizeof bh->client);
	ssh = getenv("SSH_CONNECTION");
	snprintf(bh->ssh, sizeof bh->ssh, "%s", ssh ? ssh : "");
	/* sudo dropped it: the sudo that started us still has it */
	if (!bh->ssh[0] && sudo && *sudo)
		access_peer_ssh(getppid(), bh->ssh, sizeof bh->ssh);
}

/* Roll back an expired `commit confirmed` (no kernel to touch yet: the
 * caller sets bh->apply after opening and re-applies the running config). */
static int expire_confirms(struct bh *bh)
{
	struct store_tx tx;
	int64_t rev;

	if (store_tx_begin(bh, &tx))
		return -1;
	if (store_confirm_expire(bh, util_now_ms(), &rev)) {
		store_tx_rollback(bh, &tx);
		return -1;
	}
	if (store_tx_commit(bh, &tx))
		return -1;
	bh->expired_rev = rev;
	return 0;
}

struct bh *bh_open(const char *path, char *err, size_t errlen)
{
	char def[PATH_MAX];
	struct bh *bh = xcalloc(1, sizeof *bh);

	if (!path || !*path)
		path = bh_default_db_path(def, sizeof def);
	identity(bh);
	if (store_open(bh, path, err, errlen)) {
		free(bh);
		return NULL;
	}
	if (store_confirm_due(bh, util_now_ms()) > 0 && expire_confirms(bh)) {
		snprintf(err, errlen, "%s", bh->err);
		store_close(bh);
		free(bh);
		return NULL;
	}
	return bh;
}

void bh_close(struct bh *bh)
{
	if (!bh)
		return;
	policy_events_drop(bh);
	store_close(bh);
	free(bh);
}
