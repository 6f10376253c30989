/*
 * conn.h - where `bulkhead top` gets its data (front end): the daemon over
 * its socket, without ever blocking, or the engine in-process.
 *
 * One request at a time: top_conn_send() starts it, the caller polls
 * top_conn_fd() for top_conn_events() and calls top_conn_step() with what
 * poll() returned until top_conn_done() says the answer is complete, then
 * takes it with top_conn_take().  In-process, a request runs to its end
 * inside top_conn_send() (cmd_exec: nothing else to wait for).  The daemon
 * is never made to wait for top: it answers into its own buffers, and top
 * reads them when poll says so.
 */
#ifndef BH_TUI_CONN_H
#define BH_TUI_CONN_H

#include <stdint.h>

#include "util.h"

struct top_conn;

enum top_conn_kind {
	TOP_REQ_EXEC,     /* a shell line, JSON output */
	TOP_REQ_TEXT,     /* a shell line, text output (actions) */
	TOP_REQ_STATE     /* the candidate state: the running revision */
};

/*
 * The daemon when one serves the store (as the shell chooses: client.h),
 * else the engine in-process.  @db and @socket as --db and --socket
 * (NULL: the defaults).  NULL with a message in @err when neither can be
 * used (a daemon that refuses the user, a store that cannot be opened).
 * Free with top_conn_close().
 */
struct top_conn *top_conn_open(const char *db, const char *socket,
                               char *err, size_t errlen);
void top_conn_close(struct top_conn *c);
/* The daemon's socket, or NULL in-process. */
const char *top_conn_daemon(const struct top_conn *c);
/* The role the daemon gave ("viewer", "operator", "admin"); NULL
 * in-process, where the store's own permissions decide. */
const char *top_conn_role(const struct top_conn *c);
/* 1 while connected (always in-process). */
int top_conn_up(const struct top_conn *c);

/*
 * Start a request (@line for TOP_REQ_EXEC, NULL for TOP_REQ_STATE).
 * A daemon that went away is connected to again first (the request then
 * waits for its welcome).  0, or -1 when a request is still under way or
 * the socket cannot be reached (the answer then says why).
 */
int top_conn_send(struct top_conn *c, int kind, const char *line);
/* The fd to poll and its events; -1 when there is nothing to wait for. */
int top_conn_fd(const struct top_conn *c);
short top_conn_events(const struct top_conn *c);
/* Progress after poll() returned @revents for top_conn_fd(). */
void top_conn_step(struct top_conn *c, short revents);
/* 1 when the request's answer is complete (or failed), 0 while waiting. */
int top_conn_done(const struct top_conn *c);
/* 1 while a request is started and not yet taken. */
int top_conn_busy(const struct top_conn *c);
/* When the request under way was sent (util_now_ms), 0 when none. */
int64_t top_conn_since(const struct top_conn *c);
/*
 * Take the finished request's answer: its exit status (0 ok), its
 * standard output appended to @out (for STATE: the running revision in
 * decimal) and its errors appended to @err.  The connection is then free
 * for the next request.
 */
int top_conn_take(struct top_conn *c, struct strbuf *out, struct strbuf *err);

#endif
