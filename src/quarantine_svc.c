/*
 * quarantine_svc.c - the daemon's quarantine service (layer: daemon): ends
 * `quarantine ... for DURATION` at its deadline while the daemon runs.
 *
 * Deadlines are in the store (table quarantine, until_ms), so they hold
 * across restarts: an engine that opens the store after a deadline ends
 * the quarantine itself (engine_open), and this service ends it on time
 * while the daemon is up.  One timer, armed for the nearest deadline but
 * never more than QSVC_POLL_MS ahead, so a quarantine made through any
 * engine (a shell on the store, not through the daemon) is seen within
 * that time too.  A check is one indexed read of the store.
 */
#include <stdlib.h>
#include <syslog.h>

#include "daemon.h"
#include "loop.h"
#include "quarantine.h"
#include "util.h"

#define QSVC_POLL_MS 1000

struct qsvc {
	struct bh *bh;
	struct loop *loop;
	int timer;
};

static void arm(struct qsvc *q);

static void tick(void *arg)
{
	struct qsvc *q = arg;
	int n = 0;

	q->timer = 0;
	if (policy_quarantine_expire(q->bh, &n) < 0)
		daemon_log(LOG_ERR, "quarantine: ending an expired quarantine "
		           "failed (tried again in %d ms): %s", QSVC_POLL_MS,
		           q->bh->err);
	else if (n > 0)
		daemon_log(LOG_NOTICE, "quarantine: %d workload%s released at "
		           "the end of %s time", n, n == 1 ? "" : "s",
		           n == 1 ? "its" : "their");
	arm(q);
}

static void arm(struct qsvc *q)
{
	int64_t until = 0, after = QSVC_POLL_MS;

	if (q->timer)
		loop_timer_del(q->loop, q->timer);
	if (policy_quarantine_next(q->bh, &until) == 0 && until > 0) {
		int64_t left = until - util_now_ms();

		if (left < after)
			after = left > 0 ? left : 0;
	}
	q->timer = loop_timer_add(q->loop, after, tick, q);
}

void *quarantine_svc_start(const struct daemon_env *env, char *err,
                           size_t errlen)
{
	struct qsvc *q = xcalloc(1, sizeof *q);

	(void)err;
	(void)errlen;
	q->bh = env->bh;
	q->loop = env->loop;
	/* at once: a deadline may have passed while no daemon ran */
	q->timer = loop_timer_add(q->loop, 0, tick, q);
	return q;
}

void quarantine_svc_stop(void *state)
{
	struct qsvc *q = state;

	if (!q)
		return;
	if (q->timer)
		loop_timer_del(q->loop, q->timer);
	free(q);
}

void quarantine_svc_resync(void *state)
{
	arm(state);
}
