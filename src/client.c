/*
 * client.c - the engine as the shell and batch mode reach it (front end):
 * a connection to the daemon, or the engine in-process, behind the calls
 * of client.h; and the frames of the wire protocol, which the daemon
 * shares.
 *
 * The connection is a blocking Unix stream socket: the client sends one
 * request and reads frames until that request's last one.  Between
 * requests nothing may arrive, so a socket that reads as ready then is a
 * daemon that went away: the next request reconnects to the same socket
 * or, when nothing answers, opens the store in-process.  A client that
 * fell back tries the socket again before each request and goes back to
 * the daemon as soon as it answers.  What the daemon said it did is never
 * replayed: a request cut off by the daemon's death is reported as such.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bulkhead.h"
#include "client.h"
#include "cmd.h"
#include "engine.h"
#include "policy.h"
#include "util.h"

/* ---- frames --------------------------------------------------------------- */

static void put32(struct strbuf *sb, uint32_t v)
{
	char b[4] = { (char)(v >> 24), (char)(v >> 16), (char)(v >> 8),
	              (char)v };

	sb_addn(sb, b, 4);
}

static uint32_t get32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 |
	       (uint32_t)u[2] << 8 | (uint32_t)u[3];
}

void client_frame_put(struct strbuf *out, int type, size_t n,
                      const char *const *f, const size_t *len)
{
	size_t total = 1;
	char t = (char)type;

	for (size_t i = 0; i < n; i++)
		total += 4 + (len && len[i] != (size_t)-1 ? len[i]
		                                           : strlen(f[i]));
	put32(out, (uint32_t)total);
	sb_addn(out, &t, 1);
	for (size_t i = 0; i < n; i++) {
		size_t l = len && len[i] != (size_t)-1 ? len[i] : strlen(f[i]);
		put32(out, (uint32_t)l);
		/* sb_addn with nothing to add leaves a NULL buffer alone */
		if (l)
			sb_addn(out, f[i], l);
	}
}

long client_frame_get(const char *buf, size_t len, struct frame *fr,
                      char *err, size_t errlen)
{
	uint32_t total;
	size_t at;

	if (len < 4)
		return 0;
	total = get32(buf);
	if (total < 1 || total > CLIENT_FRAME_MAX) {
		snprintf(err, errlen, "a message of %lu bytes: the limit is "
		         "%u", (unsigned long)total, CLIENT_FRAME_MAX);
		return -1;
	}
	if (len < 4 + (size_t)total)
		return 0;
	memset(fr, 0, sizeof *fr);
	fr->type = (unsigned char)buf[4];
	at = 5;
	while (at < 4 + (size_t)total) {
		uint32_t l;

		if (fr->n == sizeof fr->f / sizeof fr->f[0] ||
		    4 + (size_t)total - at < 4) {
			snprintf(err, errlen, "a malformed message");
			return -1;
		}
		l = get32(buf + at);
		at += 4;
		if (l > 4 + (size_t)total - at) {
			snprintf(err, errlen, "a malformed message");
			return -1;
		}
		fr->f[fr->n] = buf + at;
		fr->len[fr->n] = l;
		fr->n++;
		at += l;
	}
	return (long)(4 + (size_t)total);
}

const char *client_field(const struct frame *fr, size_t i, char *buf,
                         size_t len)
{
	size_t n = i < fr->n ? fr->len[i] : 0;

	if (n >= len)
		n = len - 1;
	if (n)
		memcpy(buf, fr->f[i], n);
	buf[n] = '\0';
	return buf;
}

void client_socket_defaults(struct strv *out)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (geteuid() != 0 && xdg && xdg[0] == '/') {
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/bulkhead.sock", xdg);
		strv_push(out, p);
	}
	strv_push(out, CLIENT_SOCKET_SYSTEM);
}

void client_emit_stdio(void *ctx, int stream, const char *text)
{
	FILE *f = stream == 2 ? stderr : stdout;

	(void)ctx;
	/* What went to the other stream first stays first on a shared
	 * terminal or file. */
	fflush(stream == 2 ? stdout : stderr);
	fputs(text, f);
	fflush(f);
}

/* ---- the client ------------------------------------------------------------ */

struct client {
	int fd;                    /* the daemon; -1 when not connected */
	struct bh *bh;             /* in-process engine; NULL when remote */
	int own_bh;                /* opened here: closed by client_close */
	char socket[PATH_MAX];     /* the daemon's socket, "" when none */
	char *db;                  /* --db (NULL: the default), for a
	                              fallback */
	char *want;                /* the store named (--db, $BULKHEAD_DB),
	                              a daemon must serve; NULL: any */
	struct strbuf rbuf;        /* bytes read, not yet taken */
	size_t roff;
	char note[PATH_MAX + 128];
	char note_out[PATH_MAX + 128];
};

/* The store the client would open itself when one was named (--db,
 * $BULKHEAD_DB); NULL when it leaves the choice to the daemon. */
static const char *explicit_db(const struct client_opts *co)
{
	const char *env = getenv("BULKHEAD_DB");

	if (co->db && *co->db)
		return co->db;
	return env && *env ? env : NULL;
}

/* @path made absolute and free of links, as far as it exists. */
static void canon_path(const char *path, char *buf, size_t len)
{
	char cwd[PATH_MAX];
	char *r = realpath(path, NULL);

	if (r) {
		snprintf(buf, len, "%s", r);
		free(r);
	} else if (path[0] != '/' && getcwd(cwd, sizeof cwd)) {
		/* too long a path only fails to match */
		if (snprintf(buf, len, "%s/%s", cwd, path) >= (int)len)
			buf[0] = '\0';
	} else {
		snprintf(buf, len, "%s", path);
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The next frame from the daemon into *fr (valid until the next call);
 * -1 with @err when the connection ends or breaks. */
static int read_frame(struct client *c, struct frame *fr, char *err,
                      size_t errlen)
{
	char chunk[65536];

	/* The previous frame's bytes go now that it has been used. */
	if (c->roff) {
		memmove(c->rbuf.s, c->rbuf.s + c->roff, c->rbuf.len - c->roff);
		c->rbuf.len -= c->roff;
		c->roff = 0;
	}
	for (;;) {
		long got = client_frame_get(c->rbuf.s, c->rbuf.len, fr, err,
		                            errlen);
		ssize_t n;

		if (got < 0)
			return -1;
		if (got > 0) {
			c->roff = (size_t)got;
			return 0;
		}
		n = read(c->fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s", n < 0 ? strerror(errno)
			         : "the connection was closed");
			return -1;
		}
		sb_addn(&c->rbuf, chunk, (size_t)n);
	}
}

static void disconnect(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	sb_reset(&c->rbuf);
	c->roff = 0;
}

static void first_word(const char *s, char *buf, size_t len)
{
	size_t n;

	s += strspn(s, " \t");
	n = strcspn(s, " \t");
	snprintf(buf, len, "%.*s", (int)n, s);
}

/*
 * Connect to the daemon at @path and say hello.  1: connected and serving
 * the right store; 0: no daemon there, or one serving another store than
 * @want (NULL: any); -1: a daemon that cannot be used (it refused, it
 * cannot be reached), message in @err.
 */
static int try_daemon(struct client *c, const char *path, const char *want,
                      char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct strbuf req = STRBUF_INIT;
	struct frame fr;
	const char *env_user = getenv("BULKHEAD_USER");
	const char *sudo = getenv("SUDO_USER");
	const char *ssh = getenv("SSH_CLIENT");
	char sshw[64], field[PATH_MAX], mine[PATH_MAX];
	const char *f[4];
	int fd;

	if (strlen(path) >= sizeof sa.sun_path)
		return 0;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		/* Nothing listening, or nothing there: no daemon.  A store
		 * named by the user is opened in-process whatever the
		 * reason. */
		if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR ||
		    e == ENOTSOCK || want)
			return 0;
		snprintf(err, errlen, "cannot reach the daemon at %s: %s: "
		         "ask an admin for a bulkhead role, or give --db for a "
		         "store of your own", path, strerror(e));
		return -1;
	}
	c->fd = fd;
	if (!ssh || !*ssh)
		ssh = getenv("SSH_CONNECTION");
	first_word(ssh ? ssh : "", sshw, sizeof sshw);
	f[0] = CLIENT_PROTO_VERSION;
	f[1] = env_user ? env_user : "";
	f[2] = sudo ? sudo : "";
	f[3] = sshw;
	client_frame_put(&req, CLIENT_HELLO, 4, f, NULL);
	if (write_all(fd, req.s, req.len) < 0 ||
	    read_frame(c, &fr, field, sizeof field) < 0) {
		/* A socket that accepts but does not answer: take it as no
		 * daemon rather than fail every command. */
		sb_free(&req);
		disconnect(c);
		return 0;
	}
	sb_free(&req);
	if (fr.type == CLIENT_REFUSED) {
		snprintf(err, errlen, "%s", client_field(&fr, 0, field,
		                                         sizeof field));
		disconnect(c);
		return -1;
	}
	if (fr.type != CLIENT_WELCOME ||
	    strcmp(client_field(&fr, 0, field, sizeof field),
	           CLIENT_PROTO_VERSION) != 0) {
		snprintf(err, errlen, "the daemon at %s speaks another protocol "
		         "(version %s, this bulkhead speaks %s): run the same "
		         "version of bulkhead for both", path,
		         fr.type == CLIENT_WELCOME ? field : "?",
		         CLIENT_PROTO_VERSION);
		disconnect(c);
		return -1;
	}
	if (want) {
		canon_path(want, mine, sizeof mine);
		if (strcmp(client_field(&fr, 2, field, sizeof field), mine)) {
			disconnect(c);
			return 0;
		}
	}
	if (path != c->socket)
		snprintf(c->socket, sizeof c->socket, "%s", path);
	return 1;
}

struct client *client_open(const struct client_opts *co, char *err,
                           size_t errlen)
{
	struct client *c = xcalloc(1, sizeof *c);
	struct strv socks = STRV_INIT;
	const char *want = explicit_db(co);
	const char *env = getenv("BULKHEAD_SOCKET");
	const char *named = co->socket ? co->socket : env && *env ? env : NULL;
	int r = 0;

	c->fd = -1;
	c->db = xstrdup(co->db);
	c->want = xstrdup(want);
	if (named) {
		if (*named && strcmp(named, "none") != 0)
			strv_push(&socks, named);
	} else {
		client_socket_defaults(&socks);
	}
	for (size_t i = 0; i < socks.n && r == 0; i++)
		r = try_daemon(c, socks.v[i], want, err, errlen);
	strv_free(&socks);
	if (r < 0) {
		client_close(c);
		return NULL;
	}
	if (r == 0) {
		c->bh = engine_open(co->db, ENGINE_KERNEL_AUTO, err, errlen);
		if (!c->bh) {
			client_close(c);
			return NULL;
		}
		c->own_bh = 1;
	}
	return c;
}

struct client *client_wrap(struct bh *bh)
{
	struct client *c = xcalloc(1, sizeof *c);

	c->fd = -1;
	c->bh = bh;
	return c;
}

void client_close(struct client *c)
{
	if (!c)
		return;
	disconnect(c);
	if (c->own_bh)
		engine_close(c->bh);
	sb_free(&c->rbuf);
	free(c->db);
	free(c->want);
	free(c);
}

const char *client_daemon(const struct client *c)
{
	return c->fd >= 0 ? c->socket : NULL;
}

struct bh *client_bh(struct client *c)
{
	return c->fd >= 0 ? NULL : c->bh;
}

const char *client_notice(struct client *c)
{
	if (!c->note[0])
		return NULL;
	snprintf(c->note_out, sizeof c->note_out, "%s", c->note);
	c->note[0] = '\0';
	return c->note_out;
}

/* 1 while the daemon is there: nothing may be readable between requests,
 * so anything readable is its end. */
static int alive(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) == 0;
}

/*
 * Before a request: reconnect to a daemon that went away, or run
 * in-process when none answers; an in-process client that came from a
 * daemon goes back to it as soon as it answers.  -1 with @err when the
 * engine can be reached neither way.
 */
static int ensure(struct client *c, char *err, size_t errlen)
{
	char tmp[BH_ERR_MAX];
	struct bh *bh;

	if (c->fd >= 0) {
		if (alive(c->fd))
			return 0;
		disconnect(c);
	}
	if (!c->socket[0]) {
		/* in-process from the start */
		if (c->bh)
			return 0;
		snprintf(err, errlen, "no engine: neither a daemon nor a store");
		return -1;
	}
	if (try_daemon(c, c->socket, c->want, tmp, sizeof tmp) == 1) {
		engine_close(c->bh);
		c->bh = NULL;
		c->own_bh = 0;
		snprintf(c->note, sizeof c->note, "note: reconnected to the "
		         "daemon at %s\n", c->socket);
		return 0;
	}
	if (c->bh)
		return 0;          /* in-process since the daemon went */
	bh = engine_open(c->db, ENGINE_KERNEL_AUTO, tmp, sizeof tmp);
	if (!bh) {
		snprintf(err, errlen, "the daemon at %.200s is gone and the "
		         "store cannot be opened here: %.600s", c->socket, tmp);
		return -1;
	}
	c->bh = bh;
	c->own_bh = 1;
	snprintf(c->note, sizeof c->note, "note: the daemon at %s is gone: "
	         "commands run in-process until it is back\n", c->socket);
	return 0;
}

/* Send one request; -1 with @err when the daemon is gone. */
static int request(struct client *c, int type, size_t n, const char *const *f,
                   const size_t *len, char *err, size_t errlen)
{
	struct strbuf req = STRBUF_INIT;
	int rc;

	client_frame_put(&req, type, n, f, len);
	rc = write_all(c->fd, req.s, req.len);
	sb_free(&req);
	if (rc < 0) {
		snprintf(err, errlen, "the daemon at %.200s is gone (%s): the "
		         "command did not run", c->socket, strerror(errno));
		/* c->socket stays: the next request reconnects or falls
		 * back */
		disconnect(c);
		return -1;
	}
	return 0;
}

/* A failure of the connection itself, as the front end shows errors. */
static void emit_error(const struct cmd_opts *o, const char *msg,
                       client_emit_fn *emit, void *ctx)
{
	struct bh tmp;
	struct strbuf sb = STRBUF_INIT;

	memset(&tmp, 0, sizeof tmp);
	snprintf(tmp.err, sizeof tmp.err, "%s", msg);
	cmd_format_error(&tmp, o, NULL, &sb);
	emit(ctx, o && o->json ? 1 : 2, sb_str(&sb));
	sb_free(&sb);
}

/* The daemon broke off after the request was sent: it may have run. */
static void cut_off(struct client *c, const char *why, char *err,
                    size_t errlen)
{
	snprintf(err, errlen, "the daemon at %.200s stopped answering (%.200s): "
	         "the command may or may not have run: see 'show audit'",
	         c->socket, why);
	disconnect(c);
}

/* Read OUT/ERR frames to @emit until DONE: the status, or -1 (@err). */
static int replies(struct client *c, client_emit_fn *emit, void *ctx,
                   char *err, size_t errlen)
{
	struct frame fr;
	char why[BH_ERR_MAX];

	for (;;) {
		if (read_frame(c, &fr, why, sizeof why) < 0) {
			cut_off(c, why, err, errlen);
			return -1;
		}
		switch (fr.type) {
		case CLIENT_OUT:
		case CLIENT_ERR: {
			char *t = xmalloc(fr.len[0] + 1);
			memcpy(t, fr.f[0], fr.len[0]);
			t[fr.len[0]] = '\0';
			emit(ctx, fr.type == CLIENT_OUT ? 1 : 2, t);
			free(t);
			break;
		}
		case CLIENT_DONE:
			return fr.n && fr.len[0] == 1 && fr.f[0][0] == '0' ? 0 : 1;
		case CLIENT_REFUSED:
			client_field(&fr, 0, err, errlen);
			disconnect(c);
			return -1;
		default:
			cut_off(c, "an unexpected answer", err, errlen);
			return -1;
		}
	}
}

int client_exec(struct client *c, const struct cmd_opts *o,
                const char *line, client_emit_fn *emit, void *ctx)
{
	char err[BH_ERR_MAX];
	const char *f[2];
	int rc;

	if (ensure(c, err, sizeof err) < 0) {
		emit_error(o, err, emit, ctx);
		return -1;
	}
	if (c->fd < 0) {
		struct strbuf out = STRBUF_INIT;

		rc = cmd_exec(c->bh, o, line, &out);
		if (out.len)
			emit(ctx, 1, sb_str(&out));
		if (rc < 0) {
			sb_reset(&out);
			cmd_format_error(c->bh, o, NULL, &out);
			emit(ctx, o->json ? 1 : 2, sb_str(&out));
		}
		sb_free(&out);
		return rc;
	}
	f[0] = o->json ? "json" : "";
	f[1] = line;
	if (request(c, CLIENT_EXEC, 2, f, NULL, err, sizeof err) < 0 ||
	    (rc = replies(c, emit, ctx, err, sizeof err)) < 0) {
		emit_error(o, err, emit, ctx);
		return -1;
	}
	return rc ? -1 : 0;
}

int client_batch(struct client *c, const struct cmd_opts *o,
                 const char *text, size_t len, const char *name,
                 client_emit_fn *emit, void *ctx)
{
	char err[BH_ERR_MAX];
	const char *f[3];
	size_t l[3];
	int rc;

	if (c->fd < 0 || !alive(c->fd)) {
		/* connected a moment ago: a daemon gone since is reported,
		 * not gone around (the batch never started) */
		snprintf(err, sizeof err, "the daemon at %.200s went away: the "
		         "commands did not run; run them again", c->socket);
		emit_error(o, err, emit, ctx);
		return 1;
	}
	f[0] = o->json ? "json" : "";
	f[1] = name ? name : "";
	f[2] = text;
	l[0] = l[1] = (size_t)-1;
	l[2] = len;
	if (request(c, CLIENT_BATCH, 3, f, l, err, sizeof err) < 0 ||
	    (rc = replies(c, emit, ctx, err, sizeof err)) < 0) {
		emit_error(o, err, emit, ctx);
		return 1;
	}
	return rc;
}

/* A request whose answer is one frame of @want; 0 with *fr, or -1. */
static int ask(struct client *c, int type, const char *arg, int want,
               struct frame *fr)
{
	char err[BH_ERR_MAX], why[256];
	const char *f[1] = { arg };

	if (request(c, type, arg ? 1 : 0, f, NULL, err, sizeof err) < 0)
		return -1;
	if (read_frame(c, fr, why, sizeof why) < 0) {
		cut_off(c, why, err, sizeof err);
		return -1;
	}
	if (fr->type != want) {
		disconnect(c);
		return -1;
	}
	return 0;
}

int client_complete(struct client *c, const char *line, struct strv *out)
{
	char err[BH_ERR_MAX];
	struct frame fr;

	if (ensure(c, err, sizeof err) < 0)
		return -1;
	if (c->fd < 0)
		return cmd_complete(c->bh, line, out);
	if (ask(c, CLIENT_COMPLETE, line, CLIENT_LIST, &fr) < 0)
		return -1;
	/* one field, the words a line each (no candidate holds a line
	 * break: names, keywords and numbers) */
	if (fr.n && fr.len[0]) {
		const char *p = fr.f[0], *end = p + fr.len[0];
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			char *w = xmalloc(n + 1);
			memcpy(w, p, n);
			w[n] = '\0';
			strv_push(out, w);
			free(w);
			p += n + 1;
		}
	}
	return 0;
}

int client_help_next(struct client *c, const char *line, struct strbuf *out)
{
	char err[BH_ERR_MAX];
	struct frame fr;

	if (ensure(c, err, sizeof err) < 0)
		return -1;
	if (c->fd < 0)
		return cmd_help_next(c->bh, line, out);
	if (ask(c, CLIENT_HELPNEXT, line, CLIENT_TEXT, &fr) < 0)
		return -1;
	if (fr.n)
		sb_addn(out, fr.f[0], fr.len[0]);
	return 0;
}

int client_candidate_state(struct client *c, struct candidate_state *st)
{
	char err[BH_ERR_MAX], v[32];
	struct frame fr;

	memset(st, 0, sizeof *st);
	if (ensure(c, err, sizeof err) < 0)
		return -1;
	if (c->fd < 0)
		return policy_candidate_state(c->bh, st);
	if (ask(c, CLIENT_STATE, NULL, CLIENT_STATE, &fr) < 0)
		return -1;
	st->exists = atoi(client_field(&fr, 0, v, sizeof v));
	st->changes = atoi(client_field(&fr, 1, v, sizeof v));
	st->base_rev = strtoll(client_field(&fr, 2, v, sizeof v), NULL, 10);
	st->running_rev = strtoll(client_field(&fr, 3, v, sizeof v), NULL, 10);
	return 0;
}
