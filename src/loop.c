/*
 * loop.c - the registry of fds and timers of the daemon's poll() loop
 * (layer: daemon; see loop.h).
 *
 * Small on purpose: the daemon has a handful of fds of its own parts and a
 * few timers, so both are plain arrays searched linearly.  A callback may
 * add or remove watches and timers, its own included: fds are dispatched
 * from the pollfd array the daemon polled (a watch removed meanwhile is
 * skipped), and due timers are collected before any of them runs.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop.h"
#include "util.h"

struct watch {
	int fd;
	short events;
	loop_io_fn *fn;
	void *arg;
};

struct timer {
	int id;
	int64_t due;
	loop_timer_fn *fn;
	void *arg;
};

struct loop {
	struct watch w[LOOP_FD_MAX];
	size_t nw;
	struct timer *t;
	size_t nt, capt;
	int next_id;
	struct timer *due;      /* the timers loop_dispatch() is running */
	size_t ndue;
};

int64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
	return xcalloc(1, sizeof(struct loop));
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	free(l->t);
	free(l);
}

static struct watch *watch_find(struct loop *l, int fd)
{
	for (size_t i = 0; i < l->nw; i++)
		if (l->w[i].fd == fd)
			return &l->w[i];
	return NULL;
}

int loop_io_add(struct loop *l, int fd, short events, loop_io_fn *fn,
                void *arg)
{
	struct watch *w = watch_find(l, fd);

	if (!w) {
		if (l->nw == LOOP_FD_MAX)
			return -1;
		w = &l->w[l->nw++];
	}
	*w = (struct watch){ fd, events, fn, arg };
	return 0;
}

void loop_io_del(struct loop *l, int fd)
{
	struct watch *w = watch_find(l, fd);

	if (w)
		*w = l->w[--l->nw];
}

int loop_timer_add(struct loop *l, int64_t after_ms, loop_timer_fn *fn,
                   void *arg)
{
	if (l->nt == l->capt) {
		l->capt = l->capt ? 2 * l->capt : 8;
		l->t = xrealloc(l->t, l->capt * sizeof *l->t);
	}
	if (++l->next_id <= 0)
		l->next_id = 1;
	l->t[l->nt++] = (struct timer){ l->next_id,
	                                loop_now_ms() + after_ms, fn, arg };
	return l->next_id;
}

void loop_timer_del(struct loop *l, int id)
{
	for (size_t i = 0; i < l->nt; i++)
		if (l->t[i].id == id) {
			l->t[i] = l->t[--l->nt];
			return;
		}
	/* due in the round now running: it must not run after all */
	for (size_t i = 0; i < l->ndue; i++)
		if (l->due[i].id == id)
			l->due[i].fn = NULL;
}

size_t loop_pollfds(const struct loop *l, struct pollfd *fds, size_t max)
{
	size_t n = l->nw < max ? l->nw : max;

	for (size_t i = 0; i < n; i++)
		fds[i] = (struct pollfd){ l->w[i].fd, l->w[i].events, 0 };
	return n;
}

int loop_timeout(const struct loop *l, int timeout)
{
	int64_t now = loop_now_ms();

	for (size_t i = 0; i < l->nt; i++) {
		int64_t w = l->t[i].due - now;

		if (w < 0)
			w = 0;
		if (timeout < 0 || w < timeout)
			timeout = w > INT32_MAX ? INT32_MAX : (int)w;
	}
	return timeout;
}

void loop_dispatch(struct loop *l, const struct pollfd *fds, size_t n)
{
	struct timer *due = NULL;
	size_t ndue = 0;
	int64_t now;

	for (size_t i = 0; i < n; i++) {
		struct watch *w;

		if (!fds[i].revents)
			continue;
		/* removed (or replaced) by an earlier callback: skip */
		w = watch_find(l, fds[i].fd);
		if (w)
			w->fn(w->arg, w->fd, fds[i].revents);
	}
	/* Take the due timers out first, so a callback that adds a timer
	 * due at once runs it next round, not in this one forever. */
	now = loop_now_ms();
	for (size_t i = 0; i < l->nt;) {
		if (l->t[i].due <= now) {
			due = xrealloc(due, (ndue + 1) * sizeof *due);
			due[ndue++] = l->t[i];
			l->t[i] = l->t[--l->nt];
		} else {
			i++;
		}
	}
	l->due = due;
	l->ndue = ndue;
	for (size_t i = 0; i < ndue; i++)
		if (due[i].fn)
			due[i].fn(due[i].arg);
	l->due = NULL;
	l->ndue = 0;
	free(due);
}
