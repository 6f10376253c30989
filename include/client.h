/*
 * client.h - the engine as the shell and batch mode reach it (front end):
 * the daemon over its Unix socket when one serves the store, otherwise the
 * engine in-process, behind one set of calls.  Also the wire protocol,
 * which src/daemon.c speaks from the other end.
 *
 * Choosing
 *   client_open() tries the daemon's socket (--socket, else
 *   $BULKHEAD_SOCKET, else the defaults below).  A client with a store of
 *   its own choosing (--db or $BULKHEAD_DB) uses the daemon only when the
 *   daemon serves that very store; without one it uses whatever store the
 *   daemon serves.  No daemon, or one serving another store: the engine
 *   runs in-process as before (engine_open: as root with the enforcer
 *   attached).  A
 *   daemon that refuses the peer (no role) is an error, not a reason to
 *   go around it.
 *
 * Protocol (version 1)
 *   A connection carries frames both ways.  A frame is
 *       u32 length (big-endian, of what follows)  u8 type  fields...
 *   and each field is u32 length (big-endian) then that many bytes (any
 *   bytes: batch text is passed whole).  A frame is at most
 *   CLIENT_FRAME_MAX bytes.  The client speaks first, one request at a
 *   time, and reads replies until the request's last frame:
 *     HELLO    version, user, sudo_user, ssh      -> WELCOME | REFUSED
 *              (the first request; user/sudo_user/ssh are what the
 *              client's environment says: BULKHEAD_USER, SUDO_USER, the
 *              first word of SSH_CLIENT.  The daemon believes the first
 *              two only from root and records the third as reported.)
 *     EXEC     flags, line           -> OUT|ERR ... DONE   (a shell line)
 *     BATCH    flags, name, text     -> OUT|ERR ... DONE   (-c / -f:
 *              all or nothing; name "" for a -c string)
 *     COMPLETE line                  -> LIST               (TAB)
 *     HELPNEXT line                  -> TEXT               (`?`)
 *     STATE                          -> STATE              (prompt)
 *   WELCOME: version, daemon pid, store path, user, role.  OUT and ERR
 *   carry text for standard output and standard error, in the order the
 *   in-process engine would have written it; DONE: the exit status ("0"
 *   or "1").  LIST: one field, the words one a line.  STATE: exists,
 *   changes, base revision, running revision (decimal text).
 *   REFUSED (message) may answer any request; the daemon then closes.
 *   flags: "json" or "".
 */
#ifndef BH_CLIENT_H
#define BH_CLIENT_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "bulkhead.h"
#include "cmd.h"
#include "policy.h"
#include "util.h"

#define CLIENT_PROTO_VERSION "1"
#define CLIENT_FRAME_MAX (64u << 20)
/* The system daemon's socket (root's default). */
#define CLIENT_SOCKET_SYSTEM "/run/bulkhead/bulkhead.sock"

enum client_msg {
	CLIENT_HELLO = 'H',
	CLIENT_EXEC = 'X',
	CLIENT_BATCH = 'B',
	CLIENT_COMPLETE = 'C',
	CLIENT_HELPNEXT = 'Q',
	CLIENT_STATE = 'S',
	CLIENT_WELCOME = 'W',
	CLIENT_OUT = 'O',
	CLIENT_ERR = 'E',
	CLIENT_DONE = 'Z',
	CLIENT_LIST = 'L',
	CLIENT_TEXT = 'T',
	CLIENT_REFUSED = 'R'
};

/* One decoded frame: fields point into the caller's buffer. */
struct frame {
	int type;
	size_t n;                 /* fields */
	const char *f[8];
	size_t len[8];
};

/* ---- frames (shared with the daemon) ------------------------------------ */
/* Append a frame of @type with @n fields to @out (f[i] of len[i] bytes;
 * len (size_t)-1 means strlen). */
void client_frame_put(struct strbuf *out, int type, size_t n,
                      const char *const *f, const size_t *len);
/*
 * Decode the frame at the start of @buf (@len bytes available): 0 when
 * more bytes are needed, the frame's total size when one is complete
 * (*fr filled, pointing into @buf), -1 when it is malformed or larger than
 * CLIENT_FRAME_MAX (message in @err).
 */
long client_frame_get(const char *buf, size_t len, struct frame *fr,
                      char *err, size_t errlen);
/* Field @i as a NUL-terminated copy into @buf ("" when absent). */
const char *client_field(const struct frame *fr, size_t i, char *buf,
                         size_t len);

/*
 * The sockets a client tries when none is named: a non-root user's own
 * daemon ($XDG_RUNTIME_DIR/bulkhead.sock) first, then the system's
 * (CLIENT_SOCKET_SYSTEM).  Also the daemon's default: the first entry.
 * Fills @out (at most 2 entries).
 */
void client_socket_defaults(struct strv *out);

/* ---- the client --------------------------------------------------------- */
struct client;

struct client_opts {
	const char *db;       /* --db; NULL: $BULKHEAD_DB or the default */
	const char *socket;   /* --socket; NULL: $BULKHEAD_SOCKET or the
	                         defaults; "" or "none": never the daemon */
};

/* Where text goes: @stream 1 standard output, 2 standard error. */
typedef void client_emit_fn(void *ctx, int stream, const char *text);
/* Writes to stdout/stderr, flushing so the two interleave as written. */
void client_emit_stdio(void *ctx, int stream, const char *text);

/*
 * Reach the engine: the daemon when one serves the store (see the top of
 * this file), else open it in-process (engine_open).  NULL on failure with the message in @err (no role on the
 * daemon, the store cannot be opened).  Free with client_close().
 */
struct client *client_open(const struct client_opts *co, char *err,
                           size_t errlen);
void client_close(struct client *c);
/* Wrap an engine opened by the caller (in-process only; not closed by
 * client_close). */
struct client *client_wrap(struct bh *bh);
/* The socket of the daemon in use, NULL when in-process. */
const char *client_daemon(const struct client *c);
/* The in-process engine, NULL when talking to a daemon. */
struct bh *client_bh(struct client *c);

/*
 * Run a shell line (cmd_exec): its output and, on failure, the formatted
 * error go to @emit exactly as the in-process shell writes them.  Returns
 * 0 or -1 (the command failed, or the daemon could not be reached).  A
 * daemon that went away between requests is reconnected to, or the
 * engine opened in-process; client_notice() then says so.
 */
int client_exec(struct client *c, const struct cmd_opts *o,
                const char *line, client_emit_fn *emit, void *ctx);
/*
 * Run @text (@len bytes) as one all-or-nothing batch named @name (NULL:
 * a -c string) on the daemon.  Returns the exit status (0 or 1).
 */
int client_batch(struct client *c, const struct cmd_opts *o,
                 const char *text, size_t len, const char *name,
                 client_emit_fn *emit, void *ctx);
/* cmd_complete, cmd_help_next and policy_candidate_state, wherever the
 * engine is.  They return -1 when it cannot be reached (nothing added). */
int client_complete(struct client *c, const char *line, struct strv *out);
int client_help_next(struct client *c, const char *line, struct strbuf *out);
int client_candidate_state(struct client *c, struct candidate_state *st);
/* A note for the user about the connection ("note: reconnected to ..."),
 * or NULL; taking it clears it. */
const char *client_notice(struct client *c);

/* ---- front-end entry points over a client (src/shell.c, src/batch.c) ---- */
/* The interactive shell over @c; returns the exit status. */
int shell_run_client(struct client *c, const struct cmd_opts *o);
/* Batch mode over @c: the whole of @f (or @commands when @f is NULL) is
 * read first and sent as one batch.  Returns the exit status. */
int batch_run_client(struct client *c, const struct cmd_opts *o, FILE *f,
                     const char *name, const char *commands);

#endif
