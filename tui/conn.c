/*
 * conn.c - the data source of `bulkhead top` (front end): requests to the
 * daemon over non-blocking socket I/O driven by the TUI's poll loop, or to
 * the engine in-process through a client (client.h).
 *
 * The daemon is chosen exactly as the shell chooses it (client_open); top
 * then keeps a connection of its own to that socket because the client's
 * is blocking, and a slow daemon must never freeze the screen.  The
 * frames are the shell's (client_frame_put/get).  A daemon that goes away
 * is connected to again on the next request; top never falls back
 * in-process behind the user's back, it says that the daemon is gone.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "conn.h"
#include "policy.h"
#include "util.h"

enum { C_DOWN, C_HELLO, C_READY, C_WAIT };

struct top_conn {
	struct client *cl;         /* in-process; NULL with a daemon */
	char socket[PATH_MAX];     /* the daemon's socket, "" in-process */
	char role[32];
	int fd;
	int state;                 /* C_* */
	int busy, done, status;
	int kind;                  /* of the request under way */
	char *pending;             /* its line, while the welcome is awaited */
	struct strbuf wbuf, rbuf;
	size_t woff;
	struct strbuf out, err;
	int64_t since;
};

static void disconnect(struct top_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = C_DOWN;
	sb_reset(&c->wbuf);
	sb_reset(&c->rbuf);
	c->woff = 0;
}

/* End the request under way with @status and, when given, a message. */
static void finish(struct top_conn *c, int status, const char *msg)
{
	if (msg) {
		sb_add(&c->err, msg);
		sb_addc(&c->err, '\n');
	}
	c->status = status;
	c->done = 1;
	free(c->pending);
	c->pending = NULL;
}

static void queue(struct top_conn *c, int type, size_t n, const char *const *f)
{
	client_frame_put(&c->wbuf, type, n, f, NULL);
}

static void queue_request(struct top_conn *c)
{
	const char *f[2] = { c->kind == TOP_REQ_TEXT ? "" : "json",
	                     c->pending };

	if (c->kind == TOP_REQ_STATE)
		queue(c, CLIENT_STATE, 0, f);
	else
		queue(c, CLIENT_EXEC, 2, f);
	free(c->pending);
	c->pending = NULL;
	c->state = C_WAIT;
}

/* Connect and say hello; -1 with @err when nothing answers there. */
static int start_connect(struct top_conn *c, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	const char *user = getenv("BULKHEAD_USER");
	const char *sudo = getenv("SUDO_USER");
	const char *ssh = getenv("SSH_CLIENT");
	char sshw[64];
	const char *f[4];
	size_t n;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(c->socket) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "the socket path %s is too long",
		         c->socket);
		return -1;
	}
	memcpy(sa.sun_path, c->socket, strlen(c->socket));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* A Unix connect does not wait for the peer to accept: it either
	 * queues at once or fails. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		snprintf(err, errlen, "the daemon at %s does not answer (%s): "
		         "retrying", c->socket, strerror(errno));
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	c->fd = fd;
	if (!ssh || !*ssh)
		ssh = getenv("SSH_CONNECTION");
	ssh = ssh ? ssh : "";
	ssh += strspn(ssh, " \t");
	n = strcspn(ssh, " \t");
	snprintf(sshw, sizeof sshw, "%.*s", (int)n, ssh);
	f[0] = CLIENT_PROTO_VERSION;
	f[1] = user ? user : "";
	f[2] = sudo ? sudo : "";
	f[3] = sshw;
	queue(c, CLIENT_HELLO, 4, f);
	c->state = C_HELLO;
	return 0;
}

static void on_frame(struct top_conn *c, const struct frame *fr)
{
	char field[BH_ERR_MAX];

	switch (fr->type) {
	case CLIENT_WELCOME:
		if (c->state != C_HELLO)
			break;
		if (strcmp(client_field(fr, 0, field, sizeof field),
		           CLIENT_PROTO_VERSION) != 0) {
			disconnect(c);
			finish(c, -1, "the daemon speaks another protocol: run "
			       "the same version of bulkhead for both");
			return;
		}
		client_field(fr, 4, c->role, sizeof c->role);
		c->state = C_READY;
		if (c->busy && !c->done)
			queue_request(c);
		break;
	case CLIENT_OUT:
	case CLIENT_ERR:
		if (fr->n)
			sb_addn(fr->type == CLIENT_OUT ? &c->out : &c->err,
			        fr->f[0], fr->len[0]);
		break;
	case CLIENT_DONE:
		c->state = C_READY;
		finish(c, fr->n && fr->len[0] == 1 && fr->f[0][0] == '0' ? 0 : 1,
		       NULL);
		break;
	case CLIENT_STATE:
		/* exists, changes, base revision, running revision */
		sb_add(&c->out, client_field(fr, 3, field, sizeof field));
		c->state = C_READY;
		finish(c, 0, NULL);
		break;
	case CLIENT_REFUSED:
		client_field(fr, 0, field, sizeof field);
		disconnect(c);
		finish(c, -1, field);
		break;
	default:
		disconnect(c);
		finish(c, -1, "the daemon sent an unexpected answer");
		break;
	}
}

void top_conn_step(struct top_conn *c, short revents)
{
	char chunk[65536], err[256];
	struct frame fr;
	size_t off = 0;
	long got;

	if (c->fd < 0)
		return;
	if ((revents & POLLOUT) && c->woff < c->wbuf.len) {
		ssize_t w = send(c->fd, c->wbuf.s + c->woff,
		                 c->wbuf.len - c->woff, MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			goto gone;
		if (w > 0)
			c->woff += (size_t)w;
		if (c->woff == c->wbuf.len) {
			sb_reset(&c->wbuf);
			c->woff = 0;
		}
	}
	if (!(revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	for (;;) {
		ssize_t n = read(c->fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			goto gone;
		sb_addn(&c->rbuf, chunk, (size_t)n);
	}
	while (c->fd >= 0 &&
	       (got = client_frame_get(c->rbuf.s + off, c->rbuf.len - off, &fr,
	                               err, sizeof err)) != 0) {
		if (got < 0) {
			disconnect(c);
			finish(c, -1, err);
			return;
		}
		on_frame(c, &fr);
		off += (size_t)got;
	}
	if (c->fd >= 0 && off) {
		memmove(c->rbuf.s, c->rbuf.s + off, c->rbuf.len - off);
		c->rbuf.len -= off;
	}
	return;
gone:
	disconnect(c);
	if (c->busy && !c->done) {
		snprintf(chunk, sizeof chunk, "the daemon at %s stopped "
		         "answering: retrying", c->socket);
		finish(c, -1, chunk);
	}
}

struct top_conn *top_conn_open(const char *db, const char *socket,
                               char *err, size_t errlen)
{
	struct client_opts co = { .db = db, .socket = socket };
	struct top_conn *c = xcalloc(1, sizeof *c);
	struct client *cl;
	int64_t end;

	c->fd = -1;
	cl = client_open(&co, err, errlen);
	if (!cl) {
		free(c);
		return NULL;
	}
	if (!client_daemon(cl)) {
		c->cl = cl;
		return c;
	}
	snprintf(c->socket, sizeof c->socket, "%s", client_daemon(cl));
	client_close(cl);
	/* The welcome, waited for here once (up to 5 s): it says the role
	 * the screen is drawn for. */
	if (start_connect(c, err, errlen) < 0) {
		top_conn_close(c);
		return NULL;
	}
	end = util_now_ms() + 5000;
	while (c->state == C_HELLO && !c->done && util_now_ms() < end) {
		struct pollfd p = { c->fd, top_conn_events(c), 0 };
		if (poll(&p, 1, 100) > 0)
			top_conn_step(c, p.revents);
	}
	c->done = 0;
	sb_reset(&c->out);
	if (c->state != C_READY) {
		snprintf(err, errlen, "%s", c->err.len ? sb_str(&c->err) :
		         "the daemon did not answer within 5 s");
		if (err[0] && err[strlen(err) - 1] == '\n')
			err[strlen(err) - 1] = '\0';
		top_conn_close(c);
		return NULL;
	}
	sb_reset(&c->err);
	return c;
}

void top_conn_close(struct top_conn *c)
{
	if (!c)
		return;
	disconnect(c);
	client_close(c->cl);
	free(c->pending);
	sb_free(&c->wbuf);
	sb_free(&c->rbuf);
	sb_free(&c->out);
	sb_free(&c->err);
	free(c);
}

const char *top_conn_daemon(const struct top_conn *c)
{
	return c->socket[0] ? c->socket : NULL;
}

const char *top_conn_role(const struct top_conn *c)
{
	return c->socket[0] && c->role[0] ? c->role : NULL;
}

int top_conn_up(const struct top_conn *c)
{
	return c->cl || c->fd >= 0;
}


static void emit(void *ctx, int stream, const char *text)
{
	struct top_conn *c = ctx;

	sb_add(stream == 2 ? &c->err : &c->out, text);
}

int top_conn_send(struct top_conn *c, int kind, const char *line)
{
	char err[BH_ERR_MAX];

	if (c->busy)
		return -1;
	sb_reset(&c->out);
	sb_reset(&c->err);
	c->busy = 1;
	c->done = 0;
	c->status = 0;
	c->kind = kind;
	c->since = util_now_ms();
	if (c->cl) {
		struct cmd_opts o = { 0 };

		o.json = kind != TOP_REQ_TEXT;
		if (kind == TOP_REQ_STATE) {
			struct candidate_state st;
			if (client_candidate_state(c->cl, &st) < 0) {
				finish(c, -1, "the store cannot be read");
				return 0;
			}
			sb_addf(&c->out, "%lld", (long long)st.running_rev);
			finish(c, 0, NULL);
			return 0;
		}
		finish(c, client_exec(c->cl, &o, line, emit, c) < 0 ? 1 : 0,
		       NULL);
		return 0;
	}
	c->pending = xstrdup(line ? line : "");
	/* Nothing may arrive between requests: a socket that reads as
	 * ready now is a daemon that went away since the last answer. */
	if (c->state == C_READY) {
		struct pollfd p = { c->fd, POLLIN, 0 };
		if (poll(&p, 1, 0) != 0)
			disconnect(c);
	}
	if (c->state == C_DOWN && start_connect(c, err, sizeof err) < 0) {
		finish(c, -1, err);
		return 0;
	}
	if (c->state == C_READY)
		queue_request(c);
	return 0;
}

int top_conn_fd(const struct top_conn *c)
{
	return c->fd;
}

short top_conn_events(const struct top_conn *c)
{
	return (short)(POLLIN | (c->woff < c->wbuf.len ? POLLOUT : 0));
}

int top_conn_done(const struct top_conn *c)
{
	return c->busy && c->done;
}

int top_conn_busy(const struct top_conn *c)
{
	return c->busy;
}

int64_t top_conn_since(const struct top_conn *c)
{
	return c->busy ? c->since : 0;
}

int top_conn_take(struct top_conn *c, struct strbuf *out, struct strbuf *err)
{
	if (out && c->out.len)
		sb_addn(out, c->out.s, c->out.len);
	if (err && c->err.len)
		sb_addn(err, c->err.s, c->err.len);
	c->busy = 0;
	c->done = 0;
	return c->status;
}
