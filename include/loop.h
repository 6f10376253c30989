/*
 * loop.h - what the daemon's poll() loop offers the parts that run inside
 * it (layer: daemon): file descriptors to watch and one-shot timers.
 *
 * The daemon owns one struct loop.  A part of the daemon (a "service":
 * the flow log, address learning, link events, playbooks...) registers
 * its descriptors and timers here from its start function and is called
 * back from the loop, between client requests, with the daemon's own
 * identity in bh->user.  Callbacks run to completion and must not block:
 * the clients wait while they run.
 */
#ifndef BH_LOOP_H
#define BH_LOOP_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "bulkhead.h"

#define LOOP_FD_MAX 64

struct loop;

/* @fd is ready with @revents (POLLIN, POLLOUT, POLLERR, POLLHUP). */
typedef void loop_io_fn(void *arg, int fd, short revents);
/* The timer is due.  It has been removed before the call: re-arm it with
 * loop_timer_add() to make it periodic. */
typedef void loop_timer_fn(void *arg);

struct loop *loop_new(void);
/* Forgets every watch and timer; closes nothing. */
void loop_free(struct loop *l);

/*
 * Watch @fd for @events and call @fn(@arg, fd, revents) when poll() says
 * so.  One watch per fd: adding a watched fd again replaces its events,
 * function and argument.  Returns 0, or -1 when LOOP_FD_MAX fds are
 * watched already (nothing changed).
 */
int loop_io_add(struct loop *l, int fd, short events, loop_io_fn *fn,
                void *arg);
/* Stop watching @fd (safe from its own callback).  Unknown fd: nothing. */
void loop_io_del(struct loop *l, int fd);

/*
 * Call @fn(@arg) once, @after_ms milliseconds from now (monotonic clock;
 * 0: at the next round of the loop).  Returns the timer's id (> 0), never
 * fails (timers are kept in a growing array).
 */
int loop_timer_add(struct loop *l, int64_t after_ms, loop_timer_fn *fn,
                   void *arg);
/* Cancel timer @id (safe from any callback).  Unknown or fired: nothing. */
void loop_timer_del(struct loop *l, int id);

/* ---- for the daemon's loop itself ------------------------------------ */

/* Fill @fds (room for @max) with the watched fds; returns how many. */
size_t loop_pollfds(const struct loop *l, struct pollfd *fds, size_t max);
/* @timeout (poll's: -1 forever) shortened to the nearest timer. */
int loop_timeout(const struct loop *l, int timeout);
/* Call back the fds of @fds (as loop_pollfds() filled them, after poll())
 * that are ready, then every timer that is due. */
void loop_dispatch(struct loop *l, const struct pollfd *fds, size_t n);

/* Milliseconds on the monotonic clock. */
int64_t loop_now_ms(void);

#endif
