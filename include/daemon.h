/*
 * daemon.h - `bulkhead daemon` (layer: daemon): the one poll() loop that
 * serves the client socket, dispatches libvirt's events, runs the timers
 * (the `commit confirmed` deadline) and keeps the kernel in step through
 * the enforcer.
 *
 * Clients speak the protocol of client.h.  Each connection's peer is known
 * from SO_PEERCRED and gets a role from its Unix groups: admin (everything;
 * root always), operator (tags, and later quarantine and release, plus
 * what a viewer may), viewer (show, help).  A peer in none of the groups
 * is refused at the handshake; a command beyond the peer's role is
 * refused with the role it needs.  Requests run one at a time, a batch
 * whole, so other clients wait for it.
 */
#ifndef BH_DAEMON_H
#define BH_DAEMON_H

#include <stddef.h>

#include "bulkhead.h"
#include "cmd.h"

struct flowlog_opts;

#define DAEMON_GROUP_PREFIX "bulkhead-"

struct daemon_opts {
	const char *db;            /* NULL: $BULKHEAD_DB or the default store */
	const char *socket;        /* NULL: client_socket_defaults()'s first */
	const char *pidfile;       /* NULL: the socket's path, .sock -> .pid */
	const char *libvirt_uri;   /* NULL: VIRT_DEFAULT_URI */
	int no_libvirt;            /* no libvirt provider at all */
	int foreground;            /* stay attached, log to standard error */
	const char *group_prefix;  /* role groups PREFIXadmin, PREFIXoperator,
	                              PREFIXviewer; NULL: DAEMON_GROUP_PREFIX */
	const struct flowlog_opts *flow;  /* the flow log's settings
	                              (flowlog.h); NULL: the defaults */
};

/* ---- the daemon's parts ---------------------------------------------------
 * A part of the daemon with descriptors or timers of its own (the flow log,
 * address learning, link events, playbooks...) is a service: one line in
 * daemon.c's services[] table.  Services start after the engine, the
 * socket and the libvirt provider, in table order, and stop in reverse.
 */
struct loop;
struct virt;

struct daemon_env {
	struct bh *bh;          /* the daemon's engine */
	struct loop *loop;      /* register fds and timers here (loop.h) */
	struct virt *virt;      /* the libvirt provider; NULL without one */
	int foreground;
	const struct flowlog_opts *flow;   /* daemon_opts.flow */
};

struct daemon_service {
	const char *name;
	/* Returns the service's state (never NULL on success), or NULL
	 * with the reason in @err: the daemon logs it and runs without the
	 * service. */
	void *(*start)(const struct daemon_env *env, char *err,
	               size_t errlen);
	/* Unregister and free everything; NULL: nothing to do. */
	void (*stop)(void *state);
	/* Everything may have changed (SIGHUP, libvirt reconnected): look
	 * again.  NULL: nothing to do. */
	void (*resync)(void *state);
};

/* Log as the daemon does (standard error in the foreground, else syslog);
 * @prio is a syslog priority.  Outside a daemon: standard error. */
void daemon_log(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Run the daemon until SIGTERM or SIGINT.  Everything that can fail at
 * start (another daemon on the socket or holding the pid file, the store,
 * the socket, the enforcer) fails before the loop starts, and before the
 * daemon detaches, with the message in @err and 1 returned.  Without
 * o->foreground the calling process exits 0 once the daemon is serving and
 * a detached child goes on (logging to syslog).  Returns 0 after a clean
 * stop.
 */
int daemon_run(const struct daemon_opts *o, char *err, size_t errlen);

/* ---- what the daemon takes from batch.c ----------------------------------
 * (Declared here for want of a change to shell.h, where it belongs.)
 */
struct batch_io {
	/* Text for @stream 1 (standard output) or 2 (standard error). */
	void (*emit)(void *ctx, int stream, const char *text);
	/* Called before each command; -1 (message in bh->err) refuses it,
	 * which fails the batch like a failing command.  NULL: no check. */
	int (*check)(void *ctx, struct bh *bh, const char *command);
	void *ctx;
};
/*
 * Run the batch @text (@len bytes, lines as in a file) named @name (NULL:
 * a -c string, errors without FILE:LINE) all or nothing, its output and
 * messages to @io exactly as batch_run_file() prints them.  Returns 0, or
 * 1 after a failure.
 */
int batch_run_io(struct bh *bh, const struct cmd_opts *o, const char *text,
                 size_t len, const char *name, const struct batch_io *io);

#endif
