/*
 * daemon.c - `bulkhead daemon` (layer: daemon): one poll() loop around the
 * engine.  It serves the client socket (client.h's protocol), dispatches
 * libvirt's events through the provider's own event implementation
 * (virt_event_fds/virt_event_dispatch), takes signals through a signalfd,
 * and runs two timers: the deadline of an unconfirmed `commit confirmed`,
 * and a slow recheck of that deadline for commits made by engines running
 * in-process beside the daemon.
 *
 * One engine (struct bh) serves every client.  Requests run one at a time
 * to completion, a batch whole inside its all-or-nothing transaction, so
 * a client sending while another's batch runs simply waits, and no store
 * transaction is ever open while the loop sleeps.  For the length of a
 * request bh->user and bh->client are the peer's (SO_PEERCRED), so the
 * candidate and the audit are theirs; between requests they are the
 * daemon's own, for what libvirt events and timers change.
 *
 * Start: the pid file is locked (a second daemon stops there), a stale
 * socket left by a killed daemon is removed while a live one refuses the
 * start, the store is opened, the enforcer attached (root) and the running
 * config re-applied: the enforcer sends the kernel only what differs, so
 * flow sets (established connections) survive a restart.  Then libvirt is
 * connected from the loop (in the background, with backoff) and fully
 * synced.  Without --foreground the daemon forks first and the parent
 * waits for the child's word that it serves (or why it could not), so the
 * command's exit status tells the truth either way.
 */
#include <errno.h>
#include <fcntl.h>
/* The C library's struct group meets the policy model's of the same name:
 * here it is struct sys_group (same layout, same functions). */
#define group sys_group
#include <grp.h>
#undef group
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead.h"
#include "client.h"
#include "cmd.h"
#include "daemon.h"
#include "learn.h"
#include "engine.h"
#include "libvirt.h"
#include "links.h"
#include "loop.h"
#include "playbook.h"
#include "policy.h"
#include "safeops.h"
#include "quarantine.h"
#include "util.h"
#include "flowlog.h"

#define CONN_MAX 128
#define VIRT_FDS 32
/* How often the `commit confirmed` deadline is read again, for commits
 * made in-process beside the daemon (its own commits update it at once). */
#define RECHECK_MS 10000
/* Output is framed in pieces of at most this much. */
#define CHUNK_MAX (1u << 20)

enum role { ROLE_NONE, ROLE_VIEWER, ROLE_OPERATOR, ROLE_ADMIN };
static const char *const role_names[] = { "none", "viewer", "operator",
                                          "admin" };

struct conn {
	int fd;
	uid_t uid;
	pid_t pid;
	char name[64];          /* the peer's Unix user */
	int role;               /* enum role */
	int greeted;            /* HELLO answered */
	int closing;            /* close once out is sent */
	int watching;           /* `monitor flows`: records stream out
	                           until the next request or the close */
	char user[64];          /* bh->user while serving it */
	char client[64];        /* bh->client while serving it */
	char ssh[128];          /* bh->ssh while serving it: the peer's
	                           SSH_CONNECTION (access_peer_ssh) */
	struct strbuf in;       /* received, from in_off on not yet taken */
	size_t in_off;
	struct strbuf out;      /* to send, from out_off on */
	size_t out_off;
};

struct daemon {
	const struct daemon_opts *o;
	const char *prefix;           /* of the role groups */
	struct bh *bh;
	struct virt *virt;
	int lfd, sigfd, pidfd;
	int ready_fd;                 /* pipe to the waiting parent, or -1 */
	int use_syslog;
	dev_t sock_dev;
	ino_t sock_ino;
	char sock[PATH_MAX];
	char pidfile[PATH_MAX];
	char dbarg[PATH_MAX];         /* --db or $BULKHEAD_DB made absolute;
	                                 "" for the default */
	char db[PATH_MAX];            /* realpath of the store */
	char self_user[64], self_client[64];
	struct strv verbs;            /* the command language's first words */
	struct conn *conns[CONN_MAX];
	size_t nconns;
	int64_t confirm_due;          /* realtime ms; 0: nothing pending */
	int64_t recheck_at;           /* monotonic ms */
	struct virt_stats vs;         /* as last logged */
	struct loop *loop;            /* the services' fds and timers */
	void *svc_state[16];          /* services[i]'s, NULL: not running */
	int stop;
};

/* The daemon's parts with fds or timers of their own (daemon.h); a NULL
 * name ends the table. */
static const struct daemon_service services[] = {
	{ "addresses", learn_start, learn_stop, learn_resync },
	{ "playbooks", playbook_service_start, playbook_service_stop, NULL },
	{ "quarantine", quarantine_svc_start, quarantine_svc_stop,
	  quarantine_svc_resync },
	{ "flowlog", flowlog_start, flowlog_stop, flowlog_resync },
	{ "links", links_service_start, links_service_stop,
	  links_service_resync },
	{ NULL, NULL, NULL, NULL },
};

/* ---- small things -------------------------------------------------------- */

static void dlog(struct daemon *d, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Log a line: standard error in the foreground (the service manager
 * stamps it), syslog once detached. */
static void dlog(struct daemon *d, int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (d->use_syslog) {
		vsyslog(prio, fmt, ap);
	} else {
		fputs("bulkhead daemon: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		fflush(stderr);
	}
	va_end(ap);
}

static struct daemon *the_daemon;

void daemon_log(int prio, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (the_daemon)
		dlog(the_daemon, prio, "%s", msg);
	else
		fprintf(stderr, "bulkhead: %s\n", msg);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- roles and identity --------------------------------------------------- */

/* The peer's role from its groups (the group database, plus the primary
 * group SO_PEERCRED reports).  Root, and the daemon's own user, are
 * admin. */
static int role_of(struct daemon *d, uid_t uid, gid_t gid, const char *name)
{
	static const char *const suffix[] = { NULL, "viewer", "operator",
	                                      "admin" };
	gid_t want[4] = { 0 };
	int have[4] = { 0 };
	gid_t *groups = NULL;
	int n = 32, role = ROLE_NONE;

	if (uid == 0 || uid == geteuid())
		return ROLE_ADMIN;
	for (int r = ROLE_VIEWER; r <= ROLE_ADMIN; r++) {
		char g[128];
		struct sys_group *gr;

		snprintf(g, sizeof g, "%s%s", d->prefix, suffix[r]);
		gr = getgrnam(g);
		if (gr) {
			want[r] = gr->gr_gid;
			have[r] = 1;
		}
	}
	for (;;) {
		int got = n;
		groups = xrealloc(groups, (size_t)n * sizeof *groups);
		if (getgrouplist(name, gid, groups, &got) >= 0) {
			n = got;
			break;
		}
		if (got <= n)
			got = n * 2;
		n = got;
	}
	for (int i = 0; i < n; i++)
		for (int r = ROLE_VIEWER; r <= ROLE_ADMIN; r++)
			if (have[r] && groups[i] == want[r] && r > role)
				role = r;
	free(groups);
	return role;
}

/* The first words of the language, once: a word outside them is left to
 * cmd_exec, which names it unknown without running anything. */
static void verbs_load(struct daemon *d)
{
	cmd_complete(d->bh, "", &d->verbs);
}

/*
 * The role the command of tokens @t needs, and its head ("add rule") into
 * @head.  Keywords are exact, lowercase and never abbreviated (SPEC.md),
 * and a quoted word is never one, so a first word outside the language's
 * verbs cannot run anything: it needs no role and cmd_exec names it
 * unknown.  Every known verb but show and help, and every object but
 * tags, needs admin, so a command added to the language later is
 * refused to others until it is placed here.  Quarantine and release
 * belong to operators (issue 5).
 */
static int role_needed(struct daemon *d, const struct token *t, size_t n,
                       char *head, size_t len)
{
	const char *verb;

	head[0] = '\0';
	if (n == 0 || t[0].quoted)
		return ROLE_VIEWER;
	verb = t[0].text;
	if (n > 1 && !t[1].quoted && (strcmp(verb, "add") == 0 ||
	    strcmp(verb, "delete") == 0 || strcmp(verb, "set") == 0))
		snprintf(head, len, "%s %s", verb, t[1].text);
	else
		snprintf(head, len, "%s", verb);
	if (strcmp(verb, "show") == 0 || strcmp(verb, "help") == 0 ||
	    strcmp(verb, "explain") == 0 ||
	    strcmp(verb, "monitor") == 0 || strcmp(verb, "suggest") == 0 ||
	    !strv_contains(&d->verbs, verb))
		return ROLE_VIEWER;
	if ((strcmp(verb, "add") == 0 || strcmp(verb, "delete") == 0) &&
	    n > 1 && !t[1].quoted && strcmp(t[1].text, "tag") == 0)
		return ROLE_OPERATOR;
	if (strcmp(verb, "quarantine") == 0 || strcmp(verb, "release") == 0)
		return ROLE_OPERATOR;
	/* VM actions (issue 5): an operator's tools in an incident. */
	if (strcmp(verb, "snapshot") == 0 || strcmp(verb, "shutdown") == 0 ||
	    strcmp(verb, "pause") == 0 || strcmp(verb, "resume") == 0)
		return ROLE_OPERATOR;
	return ROLE_ADMIN;
}

/*
 * Refuse @line when any of its commands needs more than @c's role: the
 * message in bh->err and the attempt audited; nothing of the line runs.
 * A line that does not tokenize passes (cmd_exec reports it).
 */
static int role_check(struct daemon *d, struct conn *c, const char *line)
{
	struct tokv tv = TOKV_INIT;
	char err[BH_ERR_MAX], head[BH_NAME_MAX * 2 + 8];
	size_t start = 0;
	int rc = 0;

	if (c->role == ROLE_ADMIN || tokenize(line, &tv, err, sizeof err) < 0) {
		tokv_free(&tv);
		return 0;
	}
	for (size_t i = 0; i <= tv.n && rc == 0; i++) {
		int need;

		if (i < tv.n && !(strcmp(tv.v[i].text, ";") == 0 &&
		                  !tv.v[i].quoted))
			continue;
		need = role_needed(d, tv.v + start, i - start, head,
		                   sizeof head);
		if (need > c->role) {
			bh_error(d->bh, "%s: needs the %s role; you (%s) are "
			         "%s: ask an admin or join group %s%s", head,
			         role_names[need], c->name, role_names[c->role],
			         d->prefix, role_names[need]);
			rc = -1;
		}
		start = i + 1;
	}
	tokv_free(&tv);
	if (rc) {
		char msg[BH_ERR_MAX];
		const char *cmd = line + strspn(line, " \t");

		snprintf(msg, sizeof msg, "%s", d->bh->err);
		policy_audit_record(d->bh, cmd, 0, msg);
		snprintf(d->bh->err, sizeof d->bh->err, "%s", msg);
	}
	return rc;
}

/*
 * Who the peer is for the audit and the candidate.  Its Unix user, from
 * the kernel; what the client reports of itself (BULKHEAD_USER, SUDO_USER)
 * only from root or the daemon's own user, who could claim anything
 * in-process anyway; the SSH address it reports, checked to be an address
 * and marked as reported.
 */
static void identity(struct conn *c, const char *rep_user,
                     const char *rep_sudo, const char *rep_ssh)
{
	int trusted = c->uid == 0 || c->uid == geteuid();
	char canon[64], err[128];
	int fam;

	if (trusted && *rep_user)
		snprintf(c->user, sizeof c->user, "%s", rep_user);
	else if (c->uid == 0 && *rep_sudo)
		snprintf(c->user, sizeof c->user, "%.24s(sudo:%.32s)", c->name,
		         rep_sudo);
	else
		snprintf(c->user, sizeof c->user, "%s", c->name);
	c->client[0] = '\0';
	if (*rep_ssh && util_addr_parse(rep_ssh, 0, canon, sizeof canon, &fam,
	                                err, sizeof err) == 0)
		snprintf(c->client, sizeof c->client, "%.50s (reported)", canon);
}

static void act_as(struct daemon *d, const char *user, const char *client)
{
	snprintf(d->bh->user, sizeof d->bh->user, "%s", user);
	snprintf(d->bh->client, sizeof d->bh->client, "%s", client);
}

/* ---- the engine's side ---------------------------------------------------- */

/* Read the `commit confirmed` deadline again. */
static void confirm_refresh(struct daemon *d)
{
	int64_t due = 0;

	if (policy_confirm_pending(d->bh, &due) == 0)
		d->confirm_due = due;
	d->recheck_at = loop_now_ms() + RECHECK_MS;
}

/* The deadline passed: roll back, as any engine would on its next open,
 * but now. */
static void confirm_expire(struct daemon *d)
{
	int64_t rev = 0;
	int r;

	act_as(d, d->self_user, d->self_client);
	r = policy_confirm_expire(d->bh, &rev);
	if (r < 0)
		dlog(d, LOG_ERR, "commit confirmed: the deadline passed but the "
		     "rollback failed: %s", d->bh->err);
	else if (r > 0)
		dlog(d, LOG_WARNING, "commit confirmed: not confirmed in time: "
		     "revision %lld restores the config from before",
		     (long long)rev);
	confirm_refresh(d);
	/* a failing rollback is tried again at the next recheck, not in a
	 * busy loop */
	if (r < 0)
		d->confirm_due = 0;
}

/* Log what changed in the libvirt connection since the last look. */
static void virt_watch(struct daemon *d)
{
	struct virt_stats s;

	if (!d->virt)
		return;
	virt_stats_get(d->virt, &s);
	if (s.connects > d->vs.connects)
		dlog(d, LOG_INFO, "libvirt: connected to %s; %llu full syncs",
		     d->o->libvirt_uri ? d->o->libvirt_uri : VIRT_DEFAULT_URI,
		     (unsigned long long)s.full_syncs);
	if (s.disconnects > d->vs.disconnects)
		dlog(d, LOG_WARNING, "libvirt: connection lost; reconnecting "
		     "with backoff");
	/* the first failure of a series, not every retry */
	if (s.connect_failures > d->vs.connect_failures &&
	    (d->vs.connect_failures == 0 || s.connects > d->vs.connects ||
	     strcmp(s.last_error, d->vs.last_error) != 0))
		dlog(d, LOG_WARNING, "libvirt: %s", s.last_error);
	else if (s.sync_failures > d->vs.sync_failures)
		dlog(d, LOG_WARNING, "libvirt: sync: %s", s.last_error);
	d->vs = s;
}

static void services_resync(struct daemon *d);

/* SIGHUP: the kernel and libvirt brought in step with the store again. */
static void resync(struct daemon *d)
{
	act_as(d, d->self_user, d->self_client);
	if (policy_apply_running(d->bh))
		dlog(d, LOG_ERR, "resync: %s", d->bh->err);
	if (d->virt && virt_connected(d->virt) && virt_sync(d->virt))
		dlog(d, LOG_WARNING, "resync: libvirt: %s", d->bh->err);
	services_resync(d);
	dlog(d, LOG_INFO, "resynced");
}

/* ---- connections ----------------------------------------------------------- */

static void send_frame(struct conn *c, int type, size_t n,
                       const char *const *f, const size_t *len)
{
	client_frame_put(&c->out, type, n, f, len);
}

static void send1(struct conn *c, int type, const char *text)
{
	send_frame(c, type, 1, &text, NULL);
}

/* batch_io / exec output: standard output and error become OUT and ERR
 * frames, in the order written. */
static void conn_emit(void *ctx, int stream, const char *text)
{
	struct conn *c = ctx;
	size_t len = strlen(text);

	while (len) {
		size_t n = len > CHUNK_MAX ? CHUNK_MAX : len;
		send_frame(c, stream == 1 ? CLIENT_OUT : CLIENT_ERR, 1, &text,
		           &n);
		text += n;
		len -= n;
	}
}


static int conn_check(void *ctx, struct bh *bh, const char *command)
{
	(void)bh;
	return role_check(the_daemon, ctx, command);
}

/* Refuse with @msg; the connection closes once it is sent. */
static void refuse(struct conn *c, const char *msg)
{
	send1(c, CLIENT_REFUSED, msg);
	c->closing = 1;
}

static void done(struct conn *c, int status)
{
	send1(c, CLIENT_DONE, status ? "1" : "0");
}

static void do_hello(struct daemon *d, struct conn *c, const struct frame *fr)
{
	char ver[16], user[64], sudo[64], ssh[64], pid[24];
	const char *f[5];

	client_field(fr, 0, ver, sizeof ver);
	if (strcmp(ver, CLIENT_PROTO_VERSION) != 0) {
		char msg[256];
		snprintf(msg, sizeof msg, "this daemon speaks protocol %s, the "
		         "client %s: run the same version of bulkhead for both",
		         CLIENT_PROTO_VERSION, ver);
		refuse(c, msg);
		return;
	}
	if (c->role == ROLE_NONE) {
		char msg[512];
		snprintf(msg, sizeof msg, "you (%s) have no bulkhead role: an "
		         "admin can add you to group %sviewer (show), "
		         "%soperator (tags) or %sadmin (everything)", c->name,
		         d->prefix, d->prefix, d->prefix);
		dlog(d, LOG_NOTICE, "refused %s (uid %u, pid %d): no role",
		     c->name, (unsigned)c->uid, (int)c->pid);
		refuse(c, msg);
		return;
	}
	identity(c, client_field(fr, 1, user, sizeof user),
	         client_field(fr, 2, sudo, sizeof sudo),
	         client_field(fr, 3, ssh, sizeof ssh));
	access_peer_ssh(c->pid, c->ssh, sizeof c->ssh);
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	f[0] = CLIENT_PROTO_VERSION;
	f[1] = pid;
	f[2] = d->db;
	f[3] = c->user;
	f[4] = role_names[c->role];
	send_frame(c, CLIENT_WELCOME, 5, f, NULL);
	c->greeted = 1;
}

/* A field as a NUL-terminated string the caller frees. */
static char *field_dup(const struct frame *fr, size_t i)
{
	size_t n = i < fr->n ? fr->len[i] : 0;
	char *s = xmalloc(n + 1);

	if (n)
		memcpy(s, fr->f[i], n);
	s[n] = '\0';
	return s;
}

/* A request's flags: blank-separated words, "json", "idempotent". */
static void flags_parse(const char *flags, struct cmd_opts *o)
{
	char buf[64], *save = NULL;

	snprintf(buf, sizeof buf, "%s", flags);
	for (char *w = strtok_r(buf, " ", &save); w;
	     w = strtok_r(NULL, " ", &save)) {
		if (strcmp(w, "json") == 0)
			o->json = 1;
		else if (strcmp(w, "idempotent") == 0)
			o->idempotent = 1;
	}
}

/* A `monitor flows` record for @ctx (a conn): refused while more than
 * CHUNK_MAX waits unsent, so a slow watcher misses records rather than
 * growing the daemon. */
static int watch_emit(void *ctx, const char *text)
{
	struct conn *c = ctx;

	if (c->out.len - c->out_off > CHUNK_MAX)
		return -1;
	conn_emit(c, 1, text);
	return 0;
}

/* After a request that succeeded: a `monitor flows` in it makes the
 * connection a watcher (no DONE until the watch ends).  1 when it did. */
static int watch_start(struct daemon *d, struct conn *c, int rc)
{
	if (!d->bh->flowlog)
		return 0;
	if (!flowlog_watch_take(d->bh->flowlog, watch_emit, c))
		return 0;
	if (rc) {
		flowlog_watch_drop(d->bh->flowlog, c);
		return 0;
	}
	c->watching = 1;
	return 1;
}

static void do_exec(struct daemon *d, struct conn *c, const struct frame *fr)
{
	struct cmd_opts o = { 0 };
	struct strbuf out = STRBUF_INIT;
	char flags[64];
	char *line = field_dup(fr, 1);
	int rc;

	flags_parse(client_field(fr, 0, flags, sizeof flags), &o);
	if (d->bh->flowlog)
		flowlog_watch_cancel(d->bh->flowlog);
	rc = role_check(d, c, line);
	if (rc == 0)
		rc = cmd_exec(d->bh, &o, line, &out);
	if (out.len)
		conn_emit(c, 1, sb_str(&out));
	if (rc < 0) {
		sb_reset(&out);
		cmd_format_error(d->bh, &o, NULL, &out);
		conn_emit(c, o.json ? 1 : 2, sb_str(&out));
	}
	if (!watch_start(d, c, rc < 0))
		done(c, rc < 0);
	sb_free(&out);
	free(line);
}

static void do_batch(struct daemon *d, struct conn *c, const struct frame *fr)
{
	struct cmd_opts o = { 0 };
	struct batch_io io = { conn_emit, conn_check, c };
	char flags[64];
	char *name = field_dup(fr, 1);
	int rc;

	flags_parse(client_field(fr, 0, flags, sizeof flags), &o);
	if (d->bh->flowlog)
		flowlog_watch_cancel(d->bh->flowlog);
	rc = batch_run_io(d->bh, &o, fr->n > 2 ? fr->f[2] : "",
	                  fr->n > 2 ? fr->len[2] : 0, *name ? name : NULL, &io);
	/* Tags the batch wrote into domains go back when it was undone.
	 * Both tag hooks (ours, engine_open's) keep a provider there. */
	if (d->bh->tag_handle)
		virt_tag_settle(d->bh->tag_handle);
	if (!watch_start(d, c, rc))
		done(c, rc);
	free(name);
}

static void do_complete(struct daemon *d, struct conn *c,
                        const struct frame *fr)
{
	struct strv words = STRV_INIT;
	struct strbuf sb = STRBUF_INIT;
	char *line = field_dup(fr, 0);

	cmd_complete(d->bh, line, &words);
	strv_join(&sb, &words, "\n");
	send1(c, CLIENT_LIST, sb_str(&sb));
	strv_free(&words);
	sb_free(&sb);
	free(line);
}

static void do_helpnext(struct daemon *d, struct conn *c,
                        const struct frame *fr)
{
	struct strbuf sb = STRBUF_INIT;
	char *line = field_dup(fr, 0);

	cmd_help_next(d->bh, line, &sb);
	send1(c, CLIENT_TEXT, sb_str(&sb));
	sb_free(&sb);
	free(line);
}

static void do_state(struct daemon *d, struct conn *c)
{
	struct candidate_state st;
	char v[4][24];
	const char *f[4] = { v[0], v[1], v[2], v[3] };

	memset(&st, 0, sizeof st);
	policy_candidate_state(d->bh, &st);
	snprintf(v[0], sizeof v[0], "%d", st.exists);
	snprintf(v[1], sizeof v[1], "%d", st.changes);
	snprintf(v[2], sizeof v[2], "%lld", (long long)st.base_rev);
	snprintf(v[3], sizeof v[3], "%lld", (long long)st.running_rev);
	send_frame(c, CLIENT_STATE, 4, f, NULL);
}

/* One request, run to the end, as the peer. */
static void handle(struct daemon *d, struct conn *c, const struct frame *fr)
{
	if (!c->greeted) {
		if (fr->type == CLIENT_HELLO)
			do_hello(d, c, fr);
		else
			refuse(c, "say hello first: this is a bulkhead "
			       "daemon socket");
		return;
	}
	/* any request ends a watch first */
	if (c->watching) {
		if (d->bh->flowlog)
			flowlog_watch_drop(d->bh->flowlog, c);
		c->watching = 0;
		done(c, 0);
	}
	act_as(d, c->user, c->client);
	snprintf(d->bh->ssh, sizeof d->bh->ssh, "%s", c->ssh);
	switch (fr->type) {
	case CLIENT_EXEC:
		do_exec(d, c, fr);
		break;
	case CLIENT_BATCH:
		do_batch(d, c, fr);
		break;
	case CLIENT_COMPLETE:
		do_complete(d, c, fr);
		break;
	case CLIENT_HELPNEXT:
		do_helpnext(d, c, fr);
		break;
	case CLIENT_STATE:
		do_state(d, c);
		break;
	default:
		refuse(c, "unknown request");
		break;
	}
	act_as(d, d->self_user, d->self_client);
	d->bh->ssh[0] = '\0';
	/* A commit may have set or cleared a deadline. */
	if (fr->type == CLIENT_EXEC || fr->type == CLIENT_BATCH)
		confirm_refresh(d);
}

static void conn_close(struct daemon *d, size_t i)
{
	struct conn *c = d->conns[i];

	if (c->watching && d->bh && d->bh->flowlog)
		flowlog_watch_drop(d->bh->flowlog, c);
	close(c->fd);
	sb_free(&c->in);
	sb_free(&c->out);
	free(c);
	d->conns[i] = d->conns[--d->nconns];
}

/* Send what is pending; -1 when the peer is gone. */
static int conn_flush(struct conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t w = send(c->fd, c->out.s + c->out_off,
		                 c->out.len - c->out_off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		c->out_off += (size_t)w;
	}
	sb_reset(&c->out);
	c->out_off = 0;
	return 0;
}

/* Run every complete request received, one at a time: a client's next
 * request waits until the answer to the last one is sent.  -1: close the
 * connection. */
static int conn_process(struct daemon *d, struct conn *c)
{
	while (!c->closing && c->out_off >= c->out.len) {
		struct frame fr;
		char err[256];
		long got = client_frame_get(c->in.s + c->in_off,
		                            c->in.len - c->in_off, &fr, err,
		                            sizeof err);
		if (got == 0)
			break;
		if (got < 0) {
			refuse(c, err);
			break;
		}
		handle(d, c, &fr);
		c->in_off += (size_t)got;
		if (conn_flush(c) < 0)
			return -1;
	}
	/* what is left (part of a frame) moves to the front */
	if (c->in_off) {
		memmove(c->in.s, c->in.s + c->in_off, c->in.len - c->in_off);
		c->in.len -= c->in_off;
		c->in.s[c->in.len] = '\0';
		c->in_off = 0;
	}
	return 0;
}

/* Read what came, then run it.  -1: close the connection. */
static int conn_read(struct daemon *d, struct conn *c)
{
	char chunk[65536];
	ssize_t n = recv(c->fd, chunk, sizeof chunk, MSG_DONTWAIT);

	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	/* a client may not pile up requests beyond one frame's worth while
	 * its answers are not read */
	if (c->in.len - c->in_off > 2 * (size_t)CLIENT_FRAME_MAX)
		return -1;
	sb_addn(&c->in, chunk, (size_t)n);
	return conn_process(d, c);
}

static void conn_accept(struct daemon *d)
{
	for (;;) {
		struct ucred cred;
		socklen_t len = sizeof cred;
		struct passwd *pw;
		struct conn *c;
		int fd = accept4(d->lfd, NULL, NULL,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				dlog(d, LOG_ERR, "accept: %s", strerror(errno));
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			dlog(d, LOG_ERR, "SO_PEERCRED: %s", strerror(errno));
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof *c);
		c->fd = fd;
		c->uid = cred.uid;
		c->pid = cred.pid;
		pw = getpwuid(cred.uid);
		if (pw)
			snprintf(c->name, sizeof c->name, "%s", pw->pw_name);
		else
			snprintf(c->name, sizeof c->name, "uid%u",
			         (unsigned)cred.uid);
		c->role = pw ? role_of(d, cred.uid, cred.gid, pw->pw_name)
		             : (cred.uid == 0 ? ROLE_ADMIN : ROLE_NONE);
		if (d->nconns == CONN_MAX) {
			refuse(c, "the daemon serves as many clients as it "
			       "can: try again when one has finished");
			conn_flush(c);
			close(fd);
			sb_free(&c->out);
			free(c);
			continue;
		}
		d->conns[d->nconns++] = c;
	}
}

/* ---- start and stop -------------------------------------------------------- */

/* @p made absolute: a detached daemon works from "/", and SQLite names
 * the store's journal files after the path it was opened with. */
static int absolute(const char *p, char *buf, size_t len, char *err,
                    size_t errlen)
{
	char cwd[PATH_MAX];

	if (p[0] == '/') {
		if (snprintf(buf, len, "%s", p) >= (int)len)
			return fail(err, errlen, "path \"%.100s...\" is too long",
			            p);
		return 0;
	}
	if (!getcwd(cwd, sizeof cwd))
		return fail(err, errlen, "cannot tell the current directory: "
		            "%s", strerror(errno));
	if (snprintf(buf, len, "%s/%s", cwd, p) >= (int)len)
		return fail(err, errlen, "path \"%.100s...\" is too long", p);
	return 0;
}

/* The store, the socket (default: client_socket_defaults' first) and the
 * pid file (default: beside the socket), as absolute paths. */
static int paths(struct daemon *d, char *err, size_t errlen)
{
	const struct daemon_opts *o = d->o;
	struct sockaddr_un sa;
	const char *db = o->db && *o->db ? o->db : getenv("BULKHEAD_DB");

	if (db && *db && absolute(db, d->dbarg, sizeof d->dbarg, err, errlen))
		return -1;
	if (o->socket && *o->socket) {
		if (absolute(o->socket, d->sock, sizeof d->sock, err, errlen))
			return -1;
	} else if (geteuid() == 0) {
		snprintf(d->sock, sizeof d->sock, "%s", CLIENT_SOCKET_SYSTEM);
		/* /run/bulkhead: made here, readable by all (roles decide) */
		if (mkdir("/run/bulkhead", 0755) < 0 && errno != EEXIST)
			return fail(err, errlen, "cannot make /run/bulkhead: %s",
			            strerror(errno));
	} else {
		const char *xdg = getenv("XDG_RUNTIME_DIR");
		if (!xdg || xdg[0] != '/')
			return fail(err, errlen, "no socket path: give --socket "
			            "PATH (or set XDG_RUNTIME_DIR)");
		snprintf(d->sock, sizeof d->sock, "%s/bulkhead.sock", xdg);
	}
	if (strlen(d->sock) >= sizeof sa.sun_path)
		return fail(err, errlen, "socket path \"%s\" is too long: a "
		            "Unix socket path has at most %zu bytes", d->sock,
		            sizeof sa.sun_path - 1);
	if (o->pidfile && *o->pidfile) {
		if (absolute(o->pidfile, d->pidfile, sizeof d->pidfile, err,
		             errlen))
			return -1;
	} else {
		size_t n = strlen(d->sock);
		if (n > 5 && strcmp(d->sock + n - 5, ".sock") == 0)
			snprintf(d->pidfile, sizeof d->pidfile, "%.*s.pid",
			         (int)(n - 5), d->sock);
		else
			snprintf(d->pidfile, sizeof d->pidfile, "%s.pid",
			         d->sock);
	}
	return 0;
}

/* Lock the pid file: a second daemon stops here.  The pid is written
 * once the daemon runs (pidfile_write). */
static int pidfile_lock(struct daemon *d, char *err, size_t errlen)
{
	d->pidfd = open(d->pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (d->pidfd < 0)
		return fail(err, errlen, "cannot open the pid file %s: %s",
		            d->pidfile, strerror(errno));
	if (flock(d->pidfd, LOCK_EX | LOCK_NB) < 0) {
		char buf[32] = "";
		ssize_t n = pread(d->pidfd, buf, sizeof buf - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		close(d->pidfd);
		d->pidfd = -1;
		return fail(err, errlen, "another daemon%s%s%s is running: it "
		            "holds %s; stop it first", *buf ? " (pid " : "", buf,
		            *buf ? ")" : "", d->pidfile);
	}
	return 0;
}

static void pidfile_write(struct daemon *d)
{
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());

	if (ftruncate(d->pidfd, 0) < 0 || pwrite(d->pidfd, buf, (size_t)n, 0)
	    != n)
		dlog(d, LOG_WARNING, "cannot write the pid file %s: %s",
		     d->pidfile, strerror(errno));
}

/* Bind the socket, after making sure no daemon answers there: a socket
 * file nothing listens on is what a killed daemon leaves, and goes. */
static int listen_socket(struct daemon *d, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, d->sock, strlen(d->sock));
	if (lstat(d->sock, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return fail(err, errlen, "%s exists and is not a socket: "
			            "remove it or give another --socket",
			            d->sock);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa,
		                       sizeof sa) == 0) {
			close(fd);
			return fail(err, errlen, "another daemon answers on %s: "
			            "stop it first", d->sock);
		}
		if (fd >= 0)
			close(fd);
		if (unlink(d->sock) < 0 && errno != ENOENT)
			return fail(err, errlen, "cannot remove the stale socket "
			            "%s: %s", d->sock, strerror(errno));
	}
	d->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	                0);
	if (d->lfd < 0)
		return fail(err, errlen, "socket: %s", strerror(errno));
	if (bind(d->lfd, (struct sockaddr *)&sa, sizeof sa) < 0)
		return fail(err, errlen, "cannot bind %s: %s", d->sock,
		            strerror(errno));
	/* Root's socket is open to all: roles decide.  Anyone else's
	 * daemon serves its own store: owner only. */
	if (chmod(d->sock, geteuid() == 0 ? 0666 : 0600) < 0 ||
	    stat(d->sock, &st) < 0)
		return fail(err, errlen, "%s: %s", d->sock, strerror(errno));
	d->sock_dev = st.st_dev;
	d->sock_ino = st.st_ino;
	if (listen(d->lfd, 64) < 0)
		return fail(err, errlen, "listen on %s: %s", d->sock,
		            strerror(errno));
	return 0;
}

static int signals(struct daemon *d, char *err, size_t errlen)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return fail(err, errlen, "sigprocmask: %s", strerror(errno));
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0)
		return fail(err, errlen, "signalfd: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* The store, the enforcer (root) and the running config in the kernel. */
static int engine(struct daemon *d, char *err, size_t errlen)
{
	char *real;

	/* ENFORCER: engine_open attaches it (root only); from here on
	 * commits, inventory edits and libvirt events reach the kernel. */
	d->bh = engine_open(d->dbarg[0] ? d->dbarg : NULL, ENGINE_KERNEL_AUTO,
	                    err, errlen);
	if (!d->bh)
		return -1;
	real = realpath(d->bh->db_path, NULL);
	snprintf(d->db, sizeof d->db, "%s", real ? real : d->bh->db_path);
	free(real);
	snprintf(d->self_user, sizeof d->self_user, "%s", d->bh->user);
	snprintf(d->self_client, sizeof d->self_client, "%s", d->bh->client);
	verbs_load(d);
	if (!d->bh->enforcer) {
		dlog(d, LOG_NOTICE, "not root: nothing is enforced (the store "
		     "and the socket only)");
		return 0;
	}
	/* A restart: the kernel gets what the store says, and only what
	 * differs, so flow sets survive. */
	if (policy_apply_running(d->bh))
		dlog(d, LOG_ERR, "the running config could not be put into the "
		     "kernel: %s; the kernel keeps what it had", d->bh->err);
	return 0;
}

/*
 * Without --foreground: fork; the parent waits on a pipe for the child's
 * word ("" = serving, else why not) and returns it.  Returns 1 in the
 * child (go on), 0 or -1 in the parent (done).
 */
static int detach(struct daemon *d, char *err, size_t errlen)
{
	int p[2];
	pid_t pid;
	char buf[BH_ERR_MAX];
	size_t got = 0;

	if (pipe2(p, O_CLOEXEC) < 0)
		return fail(err, errlen, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return fail(err, errlen, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		d->ready_fd = p[1];
		setsid();
		return 1;
	}
	close(p[1]);
	for (;;) {
		ssize_t n = read(p[0], buf + got, sizeof buf - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof buf - 1)
			break;
	}
	close(p[0]);
	buf[got] = '\0';
	if (got == 0)
		return fail(err, errlen, "the daemon died while starting (pid "
		            "%d)", (int)pid);
	if (strcmp(buf, "ok") != 0)
		return fail(err, errlen, "%s", buf);
	return 0;
}

/* The detached child tells the waiting parent how the start went. */
static void tell_parent(struct daemon *d, const char *msg)
{
	if (d->ready_fd < 0)
		return;
	if (write(d->ready_fd, msg, strlen(msg)) < 0) {
		/* the parent is gone: nobody to tell */
	}
	close(d->ready_fd);
	d->ready_fd = -1;
}

/* Once serving in the background: no terminal, syslog. */
static void quiet_stdio(struct daemon *d)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	if (chdir("/") < 0) {
		/* nothing depends on the directory */
	}
	openlog("bulkhead", LOG_PID, LOG_DAEMON);
	d->use_syslog = 1;
}

/* ---- services ------------------------------------------------------------ */

static void services_start(struct daemon *d)
{
	struct daemon_env env = { d->bh, d->loop, d->virt, d->o->foreground,
	                          d->o->flow };
	char err[BH_ERR_MAX];

	for (size_t i = 0; services[i].name; i++) {
		err[0] = '\0';
		d->svc_state[i] = services[i].start(&env, err, sizeof err);
		if (!d->svc_state[i])
			dlog(d, LOG_WARNING, "%s: not running: %s",
			     services[i].name, err[0] ? err : "failed");
	}
}

static void services_stop(struct daemon *d)
{
	size_t n = 0;

	while (services[n].name)
		n++;
	while (n-- > 0) {
		if (d->svc_state[n] && services[n].stop)
			services[n].stop(d->svc_state[n]);
		d->svc_state[n] = NULL;
	}
}

static void services_resync(struct daemon *d)
{
	for (size_t i = 0; services[i].name; i++)
		if (d->svc_state[i] && services[i].resync)
			services[i].resync(d->svc_state[i]);
}

static void cleanup(struct daemon *d)
{
	struct stat st;

	while (d->nconns)
		conn_close(d, d->nconns - 1);
	services_stop(d);
	loop_free(d->loop);
	d->loop = NULL;
	if (d->lfd >= 0) {
		close(d->lfd);
		/* only our own socket: a new daemon may have replaced it */
		if (stat(d->sock, &st) == 0 && st.st_dev == d->sock_dev &&
		    st.st_ino == d->sock_ino)
			unlink(d->sock);
	}
	if (d->sigfd >= 0)
		close(d->sigfd);
	if (d->bh && d->bh->tag_handle == d->virt) {
		d->bh->tag_write = NULL;
		d->bh->tag_handle = NULL;
	}
	virt_close(d->virt);
	/* the kernel keeps its ruleset: stopping the daemon does not stop
	 * enforcement */
	engine_close(d->bh);
	if (d->pidfd >= 0) {
		unlink(d->pidfile);
		close(d->pidfd);
	}
	strv_free(&d->verbs);
	if (d->use_syslog)
		closelog();
}

/* ---- the loop -------------------------------------------------------------- */

static void on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			resync(d);
		} else {
			dlog(d, LOG_INFO, "%s: stopping",
			     si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			d->stop = 1;
		}
	}
}

/* How long poll() may sleep: the nearest of libvirt's timers, the
 * confirm deadline and the recheck. */
static int next_timeout(struct daemon *d, int virt_timeout)
{
	int64_t t = loop_timeout(d->loop, virt_timeout), w;

	w = d->recheck_at - loop_now_ms();
	if (t < 0 || w < t)
		t = w;
	if (d->confirm_due) {
		w = d->confirm_due - util_now_ms();
		if (w < t)
			t = w;
	}
	if (t < 0)
		t = 0;
	return t > INT32_MAX ? INT32_MAX : (int)t;
}

static void loop(struct daemon *d)
{
	struct pollfd fds[2 + CONN_MAX + VIRT_FDS + LOOP_FD_MAX];

	while (!d->stop) {
		size_t n = 0, nc, nv = 0, base, sbase, ns;
		int vt = -1, r;

		fds[n++] = (struct pollfd){ d->lfd, POLLIN, 0 };
		fds[n++] = (struct pollfd){ d->sigfd, POLLIN, 0 };
		nc = d->nconns;
		for (size_t i = 0; i < nc; i++) {
			struct conn *c = d->conns[i];
			short ev = c->out_off < c->out.len ? POLLOUT : POLLIN;
			fds[n++] = (struct pollfd){ c->fd, ev, 0 };
		}
		base = n;
		if (d->virt) {
			r = virt_event_fds(d->virt, fds + base, VIRT_FDS, &vt);
			if (r < 0)
				dlog(d, LOG_ERR, "%s", d->bh->err);
			else
				nv = (size_t)r;
		}
		sbase = base + nv;
		ns = loop_pollfds(d->loop, fds + sbase, LOOP_FD_MAX);
		r = poll(fds, (nfds_t)(sbase + ns), next_timeout(d, vt));
		if (r < 0 && errno != EINTR) {
			dlog(d, LOG_ERR, "poll: %s", strerror(errno));
			break;
		}
		if (r < 0)
			continue;
		if (fds[1].revents)
			on_signal(d);
		/* Connections, last first so a close (which moves the last
		 * one into the gap) cannot skip one.  Connections accepted
		 * below wait for the next round. */
		for (size_t i = nc; i-- > 0;) {
			struct conn *c = d->conns[i];
			short re = fds[2 + i].revents;
			int gone = 0;

			if (!re)
				continue;
			if (re & POLLOUT)
				gone = conn_flush(c) < 0;
			else if (re & (POLLIN | POLLHUP | POLLERR))
				gone = conn_read(d, c) < 0;
			if (!gone && c->closing && c->out_off >= c->out.len)
				gone = 1;
			/* a reply finished sending: requests that queued
			 * behind it run now */
			if (!gone && (re & POLLOUT) && c->out_off >= c->out.len &&
			    c->in_off < c->in.len)
				gone = conn_process(d, c) < 0;
			if (gone)
				conn_close(d, i);
		}
		if (fds[0].revents)
			conn_accept(d);
		if (d->virt) {
			act_as(d, d->self_user, d->self_client);
			virt_event_dispatch(d->virt, fds + base, nv);
			virt_watch(d);
		}
		act_as(d, d->self_user, d->self_client);
		loop_dispatch(d->loop, fds + sbase, ns);
		if (d->confirm_due && util_now_ms() >= d->confirm_due)
			confirm_expire(d);
		else if (loop_now_ms() >= d->recheck_at)
			confirm_refresh(d);
	}
}

int daemon_run(const struct daemon_opts *o, char *err, size_t errlen)
{
	struct daemon d;
	int rc;

	memset(&d, 0, sizeof d);
	d.o = o;
	d.prefix = o->group_prefix ? o->group_prefix : DAEMON_GROUP_PREFIX;
	d.lfd = d.sigfd = d.pidfd = d.ready_fd = -1;
	the_daemon = &d;
	d.loop = loop_new();
	if (paths(&d, err, errlen))
		return 1;
	if (!o->foreground) {
		rc = detach(&d, err, errlen);
		if (rc <= 0) {
			/* the waiting parent: the child has its own copy */
			loop_free(d.loop);
			return rc < 0 ? 1 : 0;
		}
	}
	if (pidfile_lock(&d, err, errlen) || signals(&d, err, errlen) ||
	    engine(&d, err, errlen) || listen_socket(&d, err, errlen))
		goto failed;
	if (!o->no_libvirt) {
		d.virt = virt_open_background(d.bh, o->libvirt_uri);
		if (!d.virt) {
			fail(err, errlen, "%s", d.bh->err);
			goto failed;
		}
		/* `add tag` on a VM writes its domain through this
		 * provider, not engine_open's own connection. */
		virt_close(d.bh->tag_handle);
		d.bh->tag_write = virt_tag_write;
		d.bh->tag_handle = d.virt;
	}
	services_start(&d);
	pidfile_write(&d);
	confirm_refresh(&d);
	dlog(&d, LOG_INFO, "serving %s on %s (pid %d%s%s)", d.db, d.sock,
	     (int)getpid(), d.bh->enforcer ? ", enforcing" : "",
	     d.virt ? ", libvirt" : "");
	if (!o->foreground) {
		tell_parent(&d, "ok");
		quiet_stdio(&d);
	}
	loop(&d);
	dlog(&d, LOG_INFO, "stopped");
	cleanup(&d);
	return 0;

failed:
	if (d.ready_fd >= 0) {
		/* The detached child: the parent prints why and exits 1;
		 * the child has nothing more to do. */
		tell_parent(&d, err);
		cleanup(&d);
		_exit(1);
	}
	cleanup(&d);
	return 1;
}
