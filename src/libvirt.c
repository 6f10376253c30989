/*
 * libvirt.c - the libvirt provider (layer: inventory and events): keeps the
 * store's libvirt workloads in step with the domains of one connection,
 * writes tags into domain metadata, and brings the libvirt event
 * implementation that the daemon's poll() loop drives.  It writes the
 * store only through the policy layer.
 *
 * Tags in the domain
 *   bulkhead keeps a VM's tags in the domain's own <metadata>, in the
 *   namespace "urn:bulkhead:metadata:1" (VIRT_METADATA_URI), under the key
 *   (prefix) "bulkhead":
 *
 *     <metadata>
 *       <bulkhead:tags xmlns:bulkhead="urn:bulkhead:metadata:1">
 *         <bulkhead:tag>web</bulkhead:tag>
 *         <bulkhead:tag>pci</bulkhead:tag>
 *       </bulkhead:tags>
 *     </metadata>
 *
 *   Any tool may write it, e.g. (live and persistent, replacing the list):
 *
 *     virsh metadata DOMAIN --uri urn:bulkhead:metadata:1 --key bulkhead \
 *         --set '<tags><tag>web</tag><tag>pci</tag></tags>' --live --config
 *
 *   and `virsh metadata DOMAIN --uri urn:bulkhead:metadata:1` reads it.
 *   Only the namespace counts (any prefix does), the element is <tags>,
 *   each child <tag> holds one tag as text (blanks around it trimmed);
 *   anything else inside is ignored, and so are tags that are not valid
 *   bulkhead tags (util_tag_check).  A running domain's tags are those of
 *   its live definition.
 *
 * The guest OS comes from the libosinfo element virt-install writes,
 *   <libosinfo:os id="http://debian.org/debian/12"/>, shortened to
 *   osinfo's short-id form ("debian12") by virt_os_name().
 *
 * Events: our own event implementation
 *   libvirt delivers domain events only through a registered event loop.
 *   Rather than run libvirt's default one (a loop of its own, which would
 *   need a thread beside the daemon's), this file implements the six
 *   virEventRegisterImpl() hooks over a table of descriptors and timers
 *   that the caller's poll() drives: virt_event_fds() fills pollfds and
 *   the timeout, virt_event_dispatch() runs the callbacks.  The table is
 *   per process, as libvirt's registration is.  Entries removed by libvirt
 *   are only marked, and freed (their free callbacks run) after dispatch,
 *   because libvirt may remove a watch from inside its own callback.
 *
 * Sync
 *   One domain is read (its XML and state), compared with its workload
 *   and the difference written with policy_* calls inside one store
 *   transaction.  The enforcer (bh->inventory_changed) is called once, at
 *   the end of the transaction, with the final inventory, not after each
 *   policy call: so a state change, which the policy layer can only make
 *   by deleting and re-adding the workload, never reaches the kernel as a
 *   workload that vanished and came back.  The transaction is the only
 *   use of the store layer here (store_tx_*: nested policy calls become
 *   savepoints); there is no SQL in this file.  A full sync is one such
 *   transaction with a savepoint per domain, so one bad domain is left
 *   out without undoing the others.  Each domain that changed, or could
 *   not be synced, gets an audit entry "libvirt sync NAME" saying what.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "bulkhead.h"
#include "libvirt.h"
#include "policy.h"
#include "store.h"
#include "util.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
/*
 * Keepalive: a libvirtd that stops answering for 10 s x 6 counts as gone
 * (one that exits is noticed at once, by the socket).  The same pings
 * flow the other way: a caller that leaves the loop undriven for a
 * minute loses the connection, and gets it back from the next call or
 * dispatch.
 */
#define KEEPALIVE_INTERVAL 10
#define KEEPALIVE_COUNT 6

enum { CB_LIFECYCLE, CB_DEVICE_ADDED, CB_DEVICE_REMOVED, CB_METADATA,
       CB_COUNT };

struct virt {
	struct bh *bh;
	char uri[256];
	virConnectPtr conn;         /* NULL while disconnected */
	int cb[CB_COUNT];           /* domain event callback ids; -1: none */
	int close_cb;               /* the close callback is registered */
	int lost;                   /* the close callback ran */
	int64_t retry_at;           /* monotonic ms of the next connect try */
	int backoff;                /* ms; 0 after a good connection */
	int dispatched;             /* domain syncs made by this dispatch */
	struct virt_stats st;
};

/* ---- time ---------------------------------------------------------------- */
static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* libvirt's message for the last failure of this thread. */
static const char *verr(void)
{
	const char *m = virGetLastErrorMessage();

	return m && *m ? m : "unknown libvirt error";
}

/* ---- the event implementation ---------------------------------------------- */
/*
 * The descriptors and timers libvirt asked for.  A mutex guards the
 * tables because libvirt documents the hooks as callable from any thread;
 * callbacks run without it held, since they call the hooks themselves.
 */
struct ev_handle {
	int id, fd, events;         /* events: VIR_EVENT_HANDLE_* */
	int deleted;
	virEventHandleCallback cb;
	void *opaque;
	virFreeCallback ff;
};
struct ev_timer {
	int id, interval;           /* ms; -1: disabled, 0: every round */
	int deleted;
	int64_t due;                /* monotonic ms */
	virEventTimeoutCallback cb;
	void *opaque;
	virFreeCallback ff;
};
static struct {
	pthread_mutex_t lock;
	struct ev_handle *h;
	size_t nh, caph;
	struct ev_timer *t;
	size_t nt, capt;
	int next_id;
	int dispatching;            /* purge only outside dispatch */
} ev = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, NULL, 0, 0, 1, 0 };

static int ev_add_handle(int fd, int events, virEventHandleCallback cb,
                         void *opaque, virFreeCallback ff)
{
	int id;

	pthread_mutex_lock(&ev.lock);
	if (ev.nh == ev.caph) {
		ev.caph = ev.caph ? ev.caph * 2 : 8;
		ev.h = xrealloc(ev.h, ev.caph * sizeof *ev.h);
	}
	id = ev.next_id++;
	ev.h[ev.nh++] = (struct ev_handle){ id, fd, events, 0, cb, opaque,
	                                    ff };
	pthread_mutex_unlock(&ev.lock);
	return id;
}

static void ev_update_handle(int id, int events)
{
	pthread_mutex_lock(&ev.lock);
	for (size_t i = 0; i < ev.nh; i++)
		if (ev.h[i].id == id && !ev.h[i].deleted)
			ev.h[i].events = events;
	pthread_mutex_unlock(&ev.lock);
}

static int ev_remove_handle(int id)
{
	int rc = -1;

	pthread_mutex_lock(&ev.lock);
	for (size_t i = 0; i < ev.nh; i++)
		if (ev.h[i].id == id && !ev.h[i].deleted) {
			ev.h[i].deleted = 1;
			rc = 0;
		}
	pthread_mutex_unlock(&ev.lock);
	return rc;
}

static int ev_add_timeout(int interval, virEventTimeoutCallback cb,
                          void *opaque, virFreeCallback ff)
{
	int id;

	pthread_mutex_lock(&ev.lock);
	if (ev.nt == ev.capt) {
		ev.capt = ev.capt ? ev.capt * 2 : 8;
		ev.t = xrealloc(ev.t, ev.capt * sizeof *ev.t);
	}
	id = ev.next_id++;
	ev.t[ev.nt++] = (struct ev_timer){ id, interval, 0,
	                                   mono_ms() + (interval > 0 ?
	                                                interval : 0),
	                                   cb, opaque, ff };
	pthread_mutex_unlock(&ev.lock);
	return id;
}

static void ev_update_timeout(int id, int interval)
{
	pthread_mutex_lock(&ev.lock);
	for (size_t i = 0; i < ev.nt; i++)
		if (ev.t[i].id == id && !ev.t[i].deleted) {
			ev.t[i].interval = interval;
			ev.t[i].due = mono_ms() + (interval > 0 ? interval : 0);
		}
	pthread_mutex_unlock(&ev.lock);
}

static int ev_remove_timeout(int id)
{
	int rc = -1;

	pthread_mutex_lock(&ev.lock);
	for (size_t i = 0; i < ev.nt; i++)
		if (ev.t[i].id == id && !ev.t[i].deleted) {
			ev.t[i].deleted = 1;
			rc = 0;
		}
	pthread_mutex_unlock(&ev.lock);
	return rc;
}

/*
 * Drop the entries libvirt removed and run their free callbacks, outside
 * the lock (a free callback may unref an object that removes more).
 */
static void ev_purge(void)
{
	for (;;) {
		virFreeCallback ff = NULL;
		void *opaque = NULL;
		int found = 0;

		pthread_mutex_lock(&ev.lock);
		if (ev.dispatching) {
			pthread_mutex_unlock(&ev.lock);
			return;
		}
		for (size_t i = 0; i < ev.nh && !found; i++)
			if (ev.h[i].deleted) {
				ff = ev.h[i].ff;
				opaque = ev.h[i].opaque;
				ev.h[i] = ev.h[--ev.nh];
				found = 1;
			}
		for (size_t i = 0; i < ev.nt && !found; i++)
			if (ev.t[i].deleted) {
				ff = ev.t[i].ff;
				opaque = ev.t[i].opaque;
				ev.t[i] = ev.t[--ev.nt];
				found = 1;
			}
		pthread_mutex_unlock(&ev.lock);
		if (!found)
			return;
		if (ff)
			ff(opaque);
	}
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

/* libvirt prints every error on stderr unless told otherwise; a library
 * layer must not print, and the messages reach bh->err anyway. */
static void quiet(void *arg, virErrorPtr e)
{
	(void)arg;
	(void)e;
}

static void init_libvirt(void)
{
	init_rc = virInitialize();
	virSetErrorFunc(NULL, quiet);
	virEventRegisterImpl(ev_add_handle, ev_update_handle, ev_remove_handle,
	                     ev_add_timeout, ev_update_timeout,
	                     ev_remove_timeout);
}

static short to_poll(int events)
{
	short p = 0;

	if (events & VIR_EVENT_HANDLE_READABLE)
		p |= POLLIN;
	if (events & VIR_EVENT_HANDLE_WRITABLE)
		p |= POLLOUT;
	return p;
}

static int from_poll(short revents)
{
	int e = 0;

	if (revents & POLLIN)
		e |= VIR_EVENT_HANDLE_READABLE;
	if (revents & POLLOUT)
		e |= VIR_EVENT_HANDLE_WRITABLE;
	if (revents & (POLLERR | POLLNVAL))
		e |= VIR_EVENT_HANDLE_ERROR;
	if (revents & POLLHUP)
		e |= VIR_EVENT_HANDLE_HANGUP;
	return e;
}

int virt_event_fds(struct virt *v, struct pollfd *fds, size_t max,
                   int *timeout_ms)
{
	int64_t now = mono_ms(), next = -1;
	size_t n = 0;
	int rc = 0;

	ev_purge();
	pthread_mutex_lock(&ev.lock);
	for (size_t i = 0; i < ev.nh; i++) {
		/* A watch with no events is parked (libvirt does this while a
		 * call of its own reads the socket): leave it out, or its
		 * hangup would be reported on every round. */
		if (ev.h[i].deleted || !ev.h[i].events)
			continue;
		if (n == max) {
			rc = -1;
			break;
		}
		fds[n].fd = ev.h[i].fd;
		fds[n].events = to_poll(ev.h[i].events);
		fds[n].revents = 0;
		n++;
	}
	for (size_t i = 0; i < ev.nt; i++)
		if (!ev.t[i].deleted && ev.t[i].interval >= 0 &&
		    (next < 0 || ev.t[i].due < next))
			next = ev.t[i].due;
	pthread_mutex_unlock(&ev.lock);
	if (rc)
		return bh_error(v->bh, "libvirt watches more than %zu "
		                "descriptors: pass a larger array", max);
	if ((!v->conn || v->lost) && (next < 0 || v->retry_at < next))
		next = v->retry_at;
	if (next >= 0) {
		int64_t wait = next > now ? next - now : 0;

		if (*timeout_ms < 0 || wait < *timeout_ms)
			*timeout_ms = wait > INT32_MAX ? INT32_MAX : (int)wait;
	}
	return (int)n;
}

/* Run the callbacks of the watches poll() reported and of the timers due.
 * Entries added meanwhile wait for the next round. */
static void ev_dispatch(const struct pollfd *fds, size_t n)
{
	size_t nh, nt;
	int64_t now = mono_ms();

	pthread_mutex_lock(&ev.lock);
	ev.dispatching++;
	nh = ev.nh;
	nt = ev.nt;
	pthread_mutex_unlock(&ev.lock);

	for (size_t i = 0; i < nt; i++) {
		virEventTimeoutCallback cb = NULL;
		void *opaque = NULL;
		int id = 0;

		pthread_mutex_lock(&ev.lock);
		if (!ev.t[i].deleted && ev.t[i].interval >= 0 &&
		    ev.t[i].due <= now) {
			cb = ev.t[i].cb;
			opaque = ev.t[i].opaque;
			id = ev.t[i].id;
			ev.t[i].due = now + ev.t[i].interval;
		}
		pthread_mutex_unlock(&ev.lock);
		if (cb)
			cb(id, opaque);
	}
	for (size_t k = 0; k < n; k++) {
		if (!fds[k].revents)
			continue;
		for (size_t i = 0; i < nh; i++) {
			virEventHandleCallback cb = NULL;
			void *opaque = NULL;
			int id = 0, fd = 0, events = 0;

			pthread_mutex_lock(&ev.lock);
			if (!ev.h[i].deleted && ev.h[i].fd == fds[k].fd &&
			    ev.h[i].events) {
				events = from_poll(fds[k].revents) &
				         (ev.h[i].events |
				          VIR_EVENT_HANDLE_ERROR |
				          VIR_EVENT_HANDLE_HANGUP);
				cb = ev.h[i].cb;
				opaque = ev.h[i].opaque;
				id = ev.h[i].id;
				fd = ev.h[i].fd;
			}
			pthread_mutex_unlock(&ev.lock);
			if (cb && events)
				cb(id, fd, events, opaque);
		}
	}
	pthread_mutex_lock(&ev.lock);
	ev.dispatching--;
	pthread_mutex_unlock(&ev.lock);
	ev_purge();
}

/* ---- a small XML reader ----------------------------------------------------- */
/*
 * libvirt hands out well-formed XML of its own making, but <metadata> may
 * hold whatever a tool wrote, so the reader handles the whole lexical
 * form: elements, attributes in either quote, the five entities and
 * character references, comments, CDATA, processing instructions and a
 * DOCTYPE without internal subset.  Namespaces are resolved through the
 * xmlns declarations of the open elements.
 */
enum xt { XT_EOF, XT_OPEN, XT_CLOSE, XT_TEXT, XT_ERR };
struct xtok {
	enum xt type;
	const char *name;   /* OPEN, CLOSE: qualified name, not terminated */
	size_t nlen;
	const char *attrs;  /* OPEN: the raw attribute text */
	size_t alen;
	int empty;          /* OPEN: <x/> */
	const char *text;   /* TEXT: raw */
	size_t tlen;
	int cdata;          /* TEXT: from CDATA, not to be decoded */
};

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The next token from *pp; XT_ERR with a message in @err. */
static enum xt xnext(const char *base, const char **pp, struct xtok *t,
                     char *err, size_t n)
{
	const char *p = *pp, *q;

	memset(t, 0, sizeof *t);
	for (;;) {
		if (!*p)
			return t->type = XT_EOF;
		if (*p != '<') {
			q = strchr(p, '<');
			if (!q)
				q = p + strlen(p);
			t->text = p;
			t->tlen = (size_t)(q - p);
			*pp = q;
			return t->type = XT_TEXT;
		}
		if (strncmp(p, "<!--", 4) == 0) {
			q = strstr(p + 4, "-->");
			if (!q)
				goto unterminated;
			p = q + 3;
			continue;
		}
		if (strncmp(p, "<![CDATA[", 9) == 0) {
			q = strstr(p + 9, "]]>");
			if (!q)
				goto unterminated;
			t->text = p + 9;
			t->tlen = (size_t)(q - p - 9);
			t->cdata = 1;
			*pp = q + 3;
			return t->type = XT_TEXT;
		}
		if (p[1] == '?' || p[1] == '!') {
			q = strstr(p, p[1] == '?' ? "?>" : ">");
			if (!q)
				goto unterminated;
			p = q + (p[1] == '?' ? 2 : 1);
			continue;
		}
		break;
	}
	if (p[1] == '/') {
		p += 2;
		t->name = p;
		while (*p && *p != '>' && !is_blank(*p))
			p++;
		t->nlen = (size_t)(p - t->name);
		while (is_blank(*p))
			p++;
		if (*p != '>' || !t->nlen)
			goto malformed;
		*pp = p + 1;
		return t->type = XT_CLOSE;
	}
	p++;
	t->name = p;
	while (*p && *p != '>' && *p != '/' && !is_blank(*p))
		p++;
	t->nlen = (size_t)(p - t->name);
	if (!t->nlen)
		goto malformed;
	t->attrs = p;
	while (*p && *p != '>') {
		if (*p == '"' || *p == '\'') {
			q = strchr(p + 1, *p);
			if (!q)
				goto unterminated;
			p = q;
		}
		p++;
	}
	if (!*p)
		goto unterminated;
	t->alen = (size_t)(p - t->attrs);
	if (t->alen && t->attrs[t->alen - 1] == '/') {
		t->empty = 1;
		t->alen--;
	}
	*pp = p + 1;
	return t->type = XT_OPEN;
unterminated:
	snprintf(err, n, "domain XML: unterminated markup at offset %zu",
	         (size_t)(*pp - base));
	return t->type = XT_ERR;
malformed:
	snprintf(err, n, "domain XML: malformed tag");
	return t->type = XT_ERR;
}

/* Append @s[0..n) to @sb with the entities and character references
 * replaced; an unknown entity is kept as written. */
static void xdecode(struct strbuf *sb, const char *s, size_t n)
{
	static const struct { const char *name; char c; } ents[] = {
		{ "lt;", '<' }, { "gt;", '>' }, { "amp;", '&' },
		{ "quot;", '"' }, { "apos;", '\'' },
	};

	for (size_t i = 0; i < n; i++) {
		size_t k, left = n - i - 1;
		const char *e = s + i + 1;
		int done = 0;

		if (s[i] != '&') {
			sb_addc(sb, s[i]);
			continue;
		}
		for (k = 0; k < sizeof ents / sizeof ents[0] && !done; k++) {
			size_t l = strlen(ents[k].name);

			if (left >= l && strncmp(e, ents[k].name, l) == 0) {
				sb_addc(sb, ents[k].c);
				i += l;
				done = 1;
			}
		}
		if (!done && left >= 3 && *e == '#') {
			char *end;
			unsigned long c;
			int hex = e[1] == 'x' || e[1] == 'X';

			errno = 0;
			c = strtoul(e + 1 + hex, &end, hex ? 16 : 10);
			if (end > e + 1 + hex && (size_t)(end - s) < n &&
			    *end == ';' && !errno && c > 0 && c <= 0x10ffff) {
				char u[4];
				size_t ul;

				if (c < 0x80) {
					u[0] = (char)c;
					ul = 1;
				} else if (c < 0x800) {
					u[0] = (char)(0xc0 | (c >> 6));
					u[1] = (char)(0x80 | (c & 0x3f));
					ul = 2;
				} else if (c < 0x10000) {
					u[0] = (char)(0xe0 | (c >> 12));
					u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
					u[2] = (char)(0x80 | (c & 0x3f));
					ul = 3;
				} else {
					u[0] = (char)(0xf0 | (c >> 18));
					u[1] = (char)(0x80 | ((c >> 12) & 0x3f));
					u[2] = (char)(0x80 | ((c >> 6) & 0x3f));
					u[3] = (char)(0x80 | (c & 0x3f));
					ul = 4;
				}
				sb_addn(sb, u, ul);
				i = (size_t)(end - s);
				done = 1;
			}
		}
		if (!done)
			sb_addc(sb, '&');
	}
}

/*
 * Walk the attributes of an open tag: each call gives the next name and
 * raw value (both not terminated); 0 at the end.
 */
static int xattr_next(const char **pp, const char *end, const char **name,
                      size_t *nlen, const char **val, size_t *vlen)
{
	const char *p = *pp;
	char quote;

	while (p < end && is_blank(*p))
		p++;
	if (p >= end)
		return 0;
	*name = p;
	while (p < end && *p != '=' && !is_blank(*p))
		p++;
	*nlen = (size_t)(p - *name);
	while (p < end && is_blank(*p))
		p++;
	if (p >= end || *p != '=')
		return 0;
	p++;
	while (p < end && is_blank(*p))
		p++;
	if (p >= end || (*p != '"' && *p != '\''))
		return 0;
	quote = *p++;
	*val = p;
	while (p < end && *p != quote)
		p++;
	*vlen = (size_t)(p - *val);
	*pp = p < end ? p + 1 : p;
	return 1;
}

/* The decoded value of attribute @want of @t into @sb; 1 when present. */
static int xattr(const struct xtok *t, const char *want, struct strbuf *sb)
{
	const char *p = t->attrs, *end = t->attrs + t->alen, *name, *val;
	size_t nlen, vlen;

	sb_reset(sb);
	while (xattr_next(&p, end, &name, &nlen, &val, &vlen))
		if (nlen == strlen(want) && strncmp(name, want, nlen) == 0) {
			xdecode(sb, val, vlen);
			sb_add(sb, "");
			return 1;
		}
	return 0;
}

static int name_is(const char *s, size_t n, const char *want)
{
	return n == strlen(want) && strncmp(s, want, n) == 0;
}

/* The local part of a qualified name. */
static void local_name(const char *s, size_t n, const char **l, size_t *ln)
{
	const char *c = memchr(s, ':', n);

	*l = c ? c + 1 : s;
	*ln = c ? n - (size_t)(c + 1 - s) : n;
}

#define XML_DEPTH 64
struct xframe {
	const char *name;
	size_t nlen;
	const char *attrs;
	size_t alen;
};

/* 1 when the element at @frames[d] is in namespace @uri: its prefix's
 * xmlns declaration, on it or the nearest ancestor, names @uri. */
static int in_ns(const struct xframe *frames, int d, const char *uri)
{
	const char *c = memchr(frames[d].name, ':', frames[d].nlen);
	struct strbuf want = STRBUF_INIT, val = STRBUF_INIT;
	int found = 0, rc = 0;

	sb_add(&want, "xmlns");
	if (c) {
		sb_addc(&want, ':');
		sb_addn(&want, frames[d].name,
		        (size_t)(c - frames[d].name));
	}
	for (int i = d; i >= 0 && !found; i--) {
		const char *p = frames[i].attrs;
		const char *end = p + frames[i].alen, *name, *v;
		size_t nlen, vlen;

		while (!found && xattr_next(&p, end, &name, &nlen, &v, &vlen))
			if (name_is(name, nlen, sb_str(&want))) {
				xdecode(&val, v, vlen);
				sb_add(&val, "");
				rc = strcmp(sb_str(&val), uri) == 0;
				found = 1;
			}
	}
	sb_free(&want);
	sb_free(&val);
	return rc;
}

static void trim_into(struct strbuf *dst, const char *s)
{
	size_t n = strlen(s);

	while (n && is_blank(s[n - 1]))
		n--;
	while (n && is_blank(*s)) {
		s++;
		n--;
	}
	sb_reset(dst);
	sb_addn(dst, s, n);
	sb_add(dst, "");
}

const char *virt_os_name(const char *id, char *buf, size_t len)
{
	const char *p = strstr(id, "://"), *comp[3];
	size_t clen[3], nc = 0;
	struct strbuf sb = STRBUF_INIT;
	int ok = 1;

	snprintf(buf, len, "%s", id);
	if (!p)
		return buf;
	p = strchr(p + 3, '/');             /* skip the host */
	while (p && *p) {
		const char *s = p + 1, *e = strchr(s, '/');
		size_t l = e ? (size_t)(e - s) : strlen(s);

		if (l) {
			if (nc == 3)
				return buf;
			comp[nc] = s;
			clen[nc++] = l;
		}
		p = e;
	}
	if (nc == 0 || nc > 2)
		return buf;
	sb_addn(&sb, comp[0], clen[0]);
	if (nc == 2) {
		if (name_is(comp[1], clen[1], "rolling"))
			;
		else if (name_is(comp[1], clen[1], "unknown") ||
		         name_is(comp[1], clen[1], "unstable")) {
			sb_addc(&sb, '-');
			sb_addn(&sb, comp[1], clen[1]);
		} else {
			sb_addn(&sb, comp[1], clen[1]);
		}
	}
	for (const char *s = sb_str(&sb); *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && !strchr(".-_+", *s))
			ok = 0;
	if (ok && sb.len && sb.len < len)
		snprintf(buf, len, "%s", sb_str(&sb));
	sb_free(&sb);
	return buf;
}

void virt_tags_xml(const struct strv *tags, struct strbuf *out)
{
	sb_add(out, "<tags>");
	for (size_t i = 0; i < tags->n; i++) {
		sb_add(out, "<tag>");
		for (const char *s = tags->v[i]; *s; s++)
			switch (*s) {
			case '<': sb_add(out, "&lt;"); break;
			case '>': sb_add(out, "&gt;"); break;
			case '&': sb_add(out, "&amp;"); break;
			default: sb_addc(out, *s);
			}
		sb_add(out, "</tag>");
	}
	sb_add(out, "</tags>");
}

static void nic_push(struct workload *w, const char *ifname, const char *mac)
{
	struct nic *n;

	w->nics = xrealloc(w->nics, (w->nnics + 1) * sizeof *w->nics);
	n = &w->nics[w->nnics++];
	memset(n, 0, sizeof *n);
	snprintf(n->ifname, sizeof n->ifname, "%s", ifname);
	snprintf(n->mac, sizeof n->mac, "%s", mac);
}

/* What the element being read is to virt_domain_parse. */
enum xrole { R_NONE, R_NAME, R_UUID, R_IFACE, R_OSINFO, R_TAGS, R_TAG };

int virt_domain_parse(const char *xml, struct workload *out, char *err,
                      size_t errlen)
{
	struct xframe fr[XML_DEPTH];
	enum xrole role[XML_DEPTH];
	struct strbuf text = STRBUF_INIT, a = STRBUF_INIT, t = STRBUF_INIT;
	struct strbuf mac = STRBUF_INIT, dev = STRBUF_INIT;
	const char *p = xml;
	struct xtok tok;
	int depth = 0, rc = -1, seen_root = 0;

	memset(out, 0, sizeof *out);
	snprintf(out->kind, sizeof out->kind, "vm");
	snprintf(out->source, sizeof out->source, "libvirt");
	for (;;) {
		enum xt type = xnext(xml, &p, &tok, err, errlen);
		int d;

		if (type == XT_ERR)
			goto done;
		if (type == XT_EOF)
			break;
		if (type == XT_TEXT) {
			if (depth > 0 && depth <= XML_DEPTH &&
			    (role[depth - 1] == R_NAME ||
			     role[depth - 1] == R_UUID ||
			     role[depth - 1] == R_TAG)) {
				if (tok.cdata)
					sb_addn(&text, tok.text, tok.tlen);
				else
					xdecode(&text, tok.text, tok.tlen);
			}
			continue;
		}
		if (type == XT_OPEN) {
			const struct xframe *up;
			enum xrole r = R_NONE, ur;
			const char *ln;
			size_t lnl;

			if (depth == 0 && seen_root) {
				snprintf(err, errlen, "domain XML: more than "
				         "one root element");
				goto done;
			}
			seen_root = 1;
			d = depth++;
			if (d >= XML_DEPTH) {
				if (tok.empty)
					depth--;
				continue;
			}
			fr[d] = (struct xframe){ tok.name, tok.nlen, tok.attrs,
			                         tok.alen };
			up = d > 0 ? &fr[d - 1] : NULL;
			ur = d > 0 ? role[d - 1] : R_NONE;
			local_name(tok.name, tok.nlen, &ln, &lnl);
			if (d == 0 && !name_is(tok.name, tok.nlen, "domain")) {
				snprintf(err, errlen, "domain XML: the root "
				         "element is not <domain>");
				goto done;
			} else if (d == 1 && name_is(tok.name, tok.nlen, "name")) {
				r = R_NAME;
			} else if (d == 1 && name_is(tok.name, tok.nlen, "uuid")) {
				r = R_UUID;
			} else if (d == 2 && name_is(up->name, up->nlen,
			                             "devices") &&
			           name_is(tok.name, tok.nlen, "interface")) {
				r = R_IFACE;
				sb_reset(&mac);
				sb_reset(&dev);
			} else if (ur == R_IFACE &&
			           name_is(tok.name, tok.nlen, "mac")) {
				xattr(&tok, "address", &mac);
			} else if (ur == R_IFACE &&
			           name_is(tok.name, tok.nlen, "target")) {
				xattr(&tok, "dev", &dev);
			} else if (d == 2 && name_is(up->name, up->nlen,
			                             "metadata")) {
				if (in_ns(fr, d, VIRT_LIBOSINFO_URI))
					r = R_OSINFO;
				else if (in_ns(fr, d, VIRT_METADATA_URI) &&
				         name_is(ln, lnl, "tags"))
					r = R_TAGS;
			} else if (ur == R_OSINFO && name_is(ln, lnl, "os") &&
			           in_ns(fr, d, VIRT_LIBOSINFO_URI)) {
				if (xattr(&tok, "id", &a))
					virt_os_name(sb_str(&a), out->os,
					             sizeof out->os);
			} else if (ur == R_TAGS && name_is(ln, lnl, "tag") &&
			           in_ns(fr, d, VIRT_METADATA_URI)) {
				r = R_TAG;
			}
			role[d] = r;
			if (r == R_NAME || r == R_UUID || r == R_TAG)
				sb_reset(&text);
			if (!tok.empty)
				continue;
			/* <x/>: open and close at once */
		} else {
			if (depth == 0) {
				snprintf(err, errlen, "domain XML: </%.*s> "
				         "closes nothing", (int)tok.nlen,
				         tok.name);
				goto done;
			}
			if (depth <= XML_DEPTH &&
			    (fr[depth - 1].nlen != tok.nlen ||
			     strncmp(fr[depth - 1].name, tok.name,
			             tok.nlen) != 0)) {
				snprintf(err, errlen, "domain XML: <%.*s> is "
				         "closed by </%.*s>",
				         (int)fr[depth - 1].nlen,
				         fr[depth - 1].name, (int)tok.nlen,
				         tok.name);
				goto done;
			}
		}
		/* closing the element at depth - 1 */
		d = --depth;
		if (d >= XML_DEPTH)
			continue;
		switch (role[d]) {
		case R_NAME:
			trim_into(&t, sb_str(&text));
			if (t.len > BH_NAME_MAX)
				/* Too long for a workload name.  Cut, it must
				 * still fail the name check (never pass as
				 * another name): the ellipsis sees to that. */
				snprintf(out->name, sizeof out->name,
				         "%.60s\u2026", sb_str(&t));
			else
				snprintf(out->name, sizeof out->name, "%s",
				         sb_str(&t));
			break;
		case R_UUID:
			trim_into(&t, sb_str(&text));
			snprintf(out->uuid, sizeof out->uuid, "%s", sb_str(&t));
			break;
		case R_IFACE:
			if (dev.len)
				nic_push(out, sb_str(&dev), sb_str(&mac));
			break;
		case R_TAG:
			trim_into(&t, sb_str(&text));
			if (util_tag_check(sb_str(&t), NULL, 0) == 0)
				strv_push(&out->tags, sb_str(&t));
			break;
		default:
			break;
		}
	}
	if (depth != 0) {
		snprintf(err, errlen, "domain XML: ends inside <%.*s>",
		         (int)fr[depth > XML_DEPTH ? XML_DEPTH - 1 :
		                 depth - 1].nlen,
		         fr[depth > XML_DEPTH ? XML_DEPTH - 1 : depth - 1].name);
		goto done;
	}
	if (!seen_root) {
		snprintf(err, errlen, "domain XML: empty");
		goto done;
	}
	strv_uniq(&out->tags);
	rc = 0;
done:
	sb_free(&text);
	sb_free(&a);
	sb_free(&t);
	sb_free(&mac);
	sb_free(&dev);
	if (rc)
		policy_workload_free(out);
	return rc;
}

/* ---- reading a domain -------------------------------------------------------- */
static const char *state_name(int st)
{
	switch (st) {
	case VIR_DOMAIN_RUNNING: return "running";
	case VIR_DOMAIN_BLOCKED: return "idle";
	case VIR_DOMAIN_PAUSED: return "paused";
	case VIR_DOMAIN_SHUTDOWN: return "in shutdown";
	case VIR_DOMAIN_SHUTOFF: return "shut off";
	case VIR_DOMAIN_CRASHED: return "crashed";
	case VIR_DOMAIN_PMSUSPENDED: return "pmsuspended";
	default: return "no state";
	}
}

static int gone(void)
{
	return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN;
}

/*
 * What @dom is now, into @w: 0, 1 when the domain no longer exists, -1
 * with bh->err set.  The XML is the live one for a running domain, so the
 * tap names are the real ones.
 */
static int domain_read(struct virt *v, virDomainPtr dom, struct workload *w)
{
	char *xml, err[BH_ERR_MAX];
	int st, reason;

	memset(w, 0, sizeof *w);
	xml = virDomainGetXMLDesc(dom, 0);
	if (!xml) {
		if (gone())
			return 1;
		return bh_error(v->bh, "libvirt domain \"%s\": %s",
		                virDomainGetName(dom), verr());
	}
	if (virt_domain_parse(xml, w, err, sizeof err)) {
		free(xml);
		return bh_error(v->bh, "libvirt domain \"%s\": %s",
		                virDomainGetName(dom), err);
	}
	free(xml);
	if (virDomainGetState(dom, &st, &reason, 0) < 0) {
		int g = gone();

		if (!g)
			bh_error(v->bh, "libvirt domain \"%s\": %s", w->name,
			         verr());
		policy_workload_free(w);
		return g ? 1 : -1;
	}
	snprintf(w->state, sizeof w->state, "%s", state_name(st));
	/* The uuid from the XML is libvirt's; lowercase it as the store
	 * keeps it. */
	for (char *c = w->uuid; *c; c++)
		if (*c >= 'A' && *c <= 'F')
			*c = (char)(*c - 'A' + 'a');
	return 0;
}

/* ---- bringing the store in step ------------------------------------------ */
static struct workload *inv_by_uuid(struct inventory *inv, const char *uuid)
{
	for (size_t i = 0; i < inv->n; i++)
		if (inv->w[i].uuid[0] && strcasecmp(inv->w[i].uuid, uuid) == 0)
			return &inv->w[i];
	return NULL;
}

static struct workload *inv_by_name(struct inventory *inv, const char *name)
{
	for (size_t i = 0; i < inv->n; i++)
		if (strcmp(inv->w[i].name, name) == 0)
			return &inv->w[i];
	return NULL;
}

static struct workload *inv_nic_owner(struct inventory *inv,
                                      const char *ifname)
{
	for (size_t i = 0; i < inv->n; i++)
		for (size_t k = 0; k < inv->w[i].nnics; k++)
			if (strcmp(inv->w[i].nics[k].ifname, ifname) == 0)
				return &inv->w[i];
	return NULL;
}

static const struct nic *nic_in(const struct workload *w, const char *ifname)
{
	for (size_t k = 0; w && k < w->nnics; k++)
		if (strcmp(w->nics[k].ifname, ifname) == 0)
			return &w->nics[k];
	return NULL;
}

static int is_libvirt(const struct workload *w)
{
	return strcmp(w->source, "libvirt") == 0;
}

/* One line of the audit log, written after the transaction ends. */
struct note {
	struct strbuf cmd, detail;
	int ok;
};
struct notes {
	struct note *v;
	size_t n, cap;
};

static struct note *note_new(struct notes *ns, const char *domain)
{
	struct note *n;

	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 8;
		ns->v = xrealloc(ns->v, ns->cap * sizeof *ns->v);
	}
	n = &ns->v[ns->n++];
	memset(n, 0, sizeof *n);
	n->ok = 1;
	sb_add(&n->cmd, "libvirt sync ");
	sb_add_word(&n->cmd, domain);
	return n;
}

static void note_add(struct note *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note_add(struct note *n, const char *fmt, ...)
{
	va_list ap;

	if (n->detail.len)
		sb_add(&n->detail, "; ");
	va_start(ap, fmt);
	sb_vaddf(&n->detail, fmt, ap);
	va_end(ap);
}

/* A domain that could not be synced at all: audited as a failure. */
static int note_fail(struct bh *bh, struct notes *ns, const char *domain)
{
	struct note *n = note_new(ns, domain);

	n->ok = 0;
	sb_add(&n->detail, bh->err);
	return -1;
}

/* Record the notes (outside any transaction, as the audit wants) and free
 * them.  @fail, when not NULL, turns them all into failures: the
 * transaction that held them was rolled back. */
static void notes_flush(struct virt *v, struct notes *ns, const char *fail)
{
	for (size_t i = 0; i < ns->n; i++) {
		struct note *n = &ns->v[i];

		if (fail) {
			sb_reset(&n->detail);
			sb_add(&n->detail, fail);
			n->ok = 0;
		}
		policy_audit_record(v->bh, sb_str(&n->cmd), n->ok,
		                    sb_str(&n->detail));
		sb_free(&n->cmd);
		sb_free(&n->detail);
	}
	free(ns->v);
	memset(ns, 0, sizeof *ns);
}

/*
 * Make the workload of domain @uuid what @want says (NULL: the domain is
 * gone), with policy_* calls against @inv, the inventory as it is now.
 * Returns 1 when it wrote something, 0 when nothing differed, -1 on a
 * failure that must roll the domain back (bh->err).  What it had to
 * leave out (an interface owned by a hand-added workload...) goes into
 * @left with the domain still synced.  What changed, or why it failed,
 * becomes a note in @notes for the audit log.
 */
static int domain_apply(struct virt *v, struct inventory *inv,
                        const char *uuid, const struct workload *want,
                        struct strbuf *left, struct notes *notes)
{
	struct bh *bh = v->bh;
	struct workload *cur = inv_by_uuid(inv, uuid), *other;
	struct strv keep_addr = STRV_INIT, keep_nic = STRV_INIT;
	const struct nic *curnics = NULL;
	size_t ncurnics = 0;
	const struct strv *curtags = NULL;
	struct note *note = NULL;
	int recreate, changed = 0, rc = -1;

	if (cur && !is_libvirt(cur)) {
		bh_error(bh, "libvirt domain \"%s\": workload \"%s\", added "
		         "by hand, has its uuid %s: delete that workload",
		         want ? want->name : cur->name, cur->name, uuid);
		return note_fail(bh, notes, want ? want->name : cur->name);
	}
	if (!want) {
		if (!cur)
			return 0;
		note = note_new(notes, cur->name);
		note_add(note, "removed: the domain is gone");
		if (policy_workload_delete(bh, cur->name))
			return -1;
		return 1;
	}
	if (util_name_check("workload", want->name, bh->err,
	                    sizeof bh->err)) {
		bh_error(bh, "libvirt domain \"%s\" cannot be a workload: "
		         "names are 1-63 letters, digits, '.', '_' or '-', "
		         "starting with a letter or digit: rename it with "
		         "'virsh domrename'", want->name);
		return note_fail(bh, notes, want->name);
	}
	other = inv_by_name(inv, want->name);
	if (other && other != cur && !is_libvirt(other)) {
		bh_error(bh, "libvirt domain \"%s\": a workload of that name "
		         "was added by hand: delete it, or rename the domain "
		         "with 'virsh domrename'", want->name);
		return note_fail(bh, notes, want->name);
	}

	recreate = !cur || strcmp(cur->name, want->name) ||
	           strcmp(cur->state, want->state) ||
	           strcmp(cur->os, want->os) || strcmp(cur->kind, "vm");
	if (!recreate) {
		curnics = cur->nics;
		ncurnics = cur->nnics;
		curtags = &cur->tags;
	}
	/* Anything to do?  Most events (and most domains of a full sync)
	 * change nothing: find out before writing. */
	changed = recreate || (other && other != cur);
	for (size_t i = 0; !changed && i < want->nnics; i++) {
		const struct nic *n = nic_in(cur, want->nics[i].ifname);

		changed = !n || strcmp(n->mac, want->nics[i].mac);
	}
	for (size_t i = 0; !changed && i < ncurnics; i++)
		changed = !nic_in(want, curnics[i].ifname);
	for (size_t i = 0; !changed && i < want->tags.n; i++)
		changed = !strv_contains(curtags, want->tags.v[i]);
	for (size_t i = 0; !changed && curtags && i < curtags->n; i++)
		changed = !strv_contains(&want->tags, curtags->v[i]);
	if (!changed)
		return 0;

	note = note_new(notes, want->name);
	/* A stale libvirt workload of the same name: its domain was
	 * undefined and another defined under the name. */
	if (other && other != cur) {
		note_add(note, "replaces workload \"%s\" of uuid %s",
		         other->name, other->uuid);
		if (policy_workload_delete(bh, other->name))
			goto done;
	}
	/* Tap names are reused: one still held by another libvirt workload
	 * is stale there (the kernel has one device of a name). */
	for (size_t i = 0; i < want->nnics; i++) {
		const char *ifname = want->nics[i].ifname;
		struct workload *o = inv_nic_owner(inv, ifname);

		if (!o || o == cur || o == other)
			continue;
		if (is_libvirt(o)) {
			note_add(note, "interface %s taken from \"%s\"",
			         ifname, o->name);
			if (policy_nic_delete(bh, ifname))
				goto done;
		}
	}
	/* Addresses bound by hand to NICs that stay are put back after the
	 * NIC or the whole workload is re-added. */
	for (size_t i = 0; cur && i < cur->nnics; i++) {
		const struct nic *n = &cur->nics[i];
		const struct nic *w = nic_in(want, n->ifname);

		if (!w)
			continue;
		if (!recreate && strcmp(w->mac, n->mac) == 0)
			continue;
		for (size_t k = 0; k < n->addrs.n; k++) {
			strv_push(&keep_nic, n->ifname);
			strv_push(&keep_addr, n->addrs.v[k]);
		}
	}
	if (recreate) {
		struct workload nw;

		if (cur && policy_workload_delete(bh, cur->name))
			goto done;
		memset(&nw, 0, sizeof nw);
		snprintf(nw.name, sizeof nw.name, "%s", want->name);
		snprintf(nw.kind, sizeof nw.kind, "vm");
		snprintf(nw.uuid, sizeof nw.uuid, "%s", uuid);
		snprintf(nw.os, sizeof nw.os, "%s", want->os);
		snprintf(nw.state, sizeof nw.state, "%s", want->state);
		snprintf(nw.source, sizeof nw.source, "libvirt");
		if (policy_workload_add(bh, &nw))
			goto done;
		if (!cur)
			note_add(note, "added: %s%s%s", want->state,
			         want->os[0] ? ", os " : "", want->os);
		else if (strcmp(cur->name, want->name))
			note_add(note, "renamed from \"%s\"", cur->name);
		if (cur && strcmp(cur->state, want->state))
			note_add(note, "state %s", want->state);
		if (cur && strcmp(cur->os, want->os))
			note_add(note, "os %s", want->os[0] ? want->os : "none");
	}
	for (size_t i = 0; i < ncurnics; i++) {
		const struct nic *w = nic_in(want, curnics[i].ifname);

		if (w && strcmp(w->mac, curnics[i].mac) == 0)
			continue;
		note_add(note, "interface %s removed", curnics[i].ifname);
		if (policy_nic_delete(bh, curnics[i].ifname))
			goto done;
	}
	for (size_t i = 0; i < want->nnics; i++) {
		const struct nic *n = &want->nics[i];
		const struct nic *c = recreate ? NULL : nic_in(cur, n->ifname);
		struct workload *o = inv_nic_owner(inv, n->ifname);

		if (c && strcmp(c->mac, n->mac) == 0)
			continue;
		if (o && o != cur && o != other && !is_libvirt(o)) {
			sb_addf(left, "%sinterface %s of libvirt domain \"%s\" "
			        "is also interface of workload \"%s\", added "
			        "by hand: it was left out; delete it there "
			        "with 'delete nic %s'", left->len ? "; " : "",
			        n->ifname, want->name, o->name, n->ifname);
			note_add(note, "interface %s left out (held by \"%s\")",
			         n->ifname, o->name);
			continue;
		}
		note_add(note, "interface %s%s%s", n->ifname,
		         n->mac[0] ? " mac " : "", n->mac);
		if (policy_nic_add(bh, want->name, n))
			goto done;
	}
	for (size_t i = 0; i < keep_addr.n; i++)
		if (policy_address_add(bh, want->name, keep_addr.v[i],
		                       keep_nic.v[i])) {
			sb_addf(left, "%sworkload \"%s\": address %s could not "
			        "be bound again to %s: %s",
			        left->len ? "; " : "", want->name,
			        keep_addr.v[i], keep_nic.v[i], bh->err);
		}
	for (size_t i = 0; curtags && i < curtags->n; i++)
		if (!strv_contains(&want->tags, curtags->v[i])) {
			note_add(note, "tag %s removed", curtags->v[i]);
			if (policy_tag_delete(bh, want->name, curtags->v[i]))
				goto done;
		}
	for (size_t i = 0; i < want->tags.n; i++)
		if (!curtags || !strv_contains(curtags, want->tags.v[i])) {
			note_add(note, "tag %s", want->tags.v[i]);
			if (policy_tag_add(bh, want->name, want->tags.v[i]))
				goto done;
		}
	rc = 1;
done:
	if (rc < 0 && note) {
		note->ok = 0;
		sb_reset(&note->detail);
		sb_add(&note->detail, bh->err);
	}
	strv_free(&keep_addr);
	strv_free(&keep_nic);
	return rc;
}

/*
 * The transaction around one or more domain_apply calls.  The enforcer
 * hook is held back while the policy calls run and called once by
 * sync_end() with the final inventory.
 */
struct sync_tx {
	struct store_tx tx;
	bh_inventory_fn *hook;
};

static int sync_begin(struct virt *v, struct sync_tx *s)
{
	s->hook = v->bh->inventory_changed;
	if (store_tx_begin(v->bh, &s->tx))
		return -1;
	v->bh->inventory_changed = NULL;
	return 0;
}

/* Commit when @rc >= 0 and the enforcer takes the inventory (only asked
 * when @changed); roll back otherwise.  Returns 0 or -1. */
static int sync_end(struct virt *v, struct sync_tx *s, int rc, int changed)
{
	struct bh *bh = v->bh;

	bh->inventory_changed = s->hook;
	if (rc >= 0 && changed && s->hook) {
		struct inventory now;

		if (policy_inventory_load(bh, &now)) {
			rc = -1;
		} else {
			char saved[BH_ERR_MAX];

			snprintf(saved, sizeof saved, "%s", bh->err);
			bh->err[0] = '\0';
			if (s->hook(bh, &now)) {
				if (!bh->err[0])
					bh_error(bh, "the enforcer refused the "
					         "inventory from libvirt; "
					         "nothing was changed");
				rc = -1;
			} else {
				snprintf(bh->err, sizeof bh->err, "%s", saved);
			}
			policy_inventory_free(&now);
		}
	}
	if (rc >= 0)
		return store_tx_commit(bh, &s->tx);
	store_tx_rollback(bh, &s->tx);
	return -1;
}

/* Sync the domain @dom (NULL: gone, then @uuid names it). */
static int sync_dom(struct virt *v, virDomainPtr dom, const char *uuid)
{
	struct workload want;
	struct inventory inv;
	struct sync_tx s;
	struct strbuf left = STRBUF_INIT;
	struct notes notes = { NULL, 0, 0 };
	char id[VIR_UUID_STRING_BUFLEN];
	int r = 1, rc;

	memset(&want, 0, sizeof want);
	if (dom) {
		if (virDomainGetUUIDString(dom, id) < 0)
			return bh_error(v->bh, "libvirt: %s", verr());
		uuid = id;
		r = domain_read(v, dom, &want);
		if (r < 0) {
			v->st.sync_failures++;
			return -1;
		}
	}
	if (sync_begin(v, &s))
		goto fail;
	rc = policy_inventory_load(v->bh, &inv);
	if (rc == 0) {
		rc = domain_apply(v, &inv, uuid, r == 0 ? &want : NULL, &left,
		                  &notes);
		policy_inventory_free(&inv);
	}
	if (sync_end(v, &s, rc, rc > 0)) {
		notes_flush(v, &notes, v->bh->err);
		goto fail;
	}
	notes_flush(v, &notes, NULL);
	policy_workload_free(&want);
	v->st.syncs++;
	v->st.last_sync_us = real_us();
	if (left.len) {
		bh_error(v->bh, "%s", sb_str(&left));
		sb_free(&left);
		v->st.sync_failures++;
		return -1;
	}
	return 0;
fail:
	policy_workload_free(&want);
	sb_free(&left);
	v->st.sync_failures++;
	return -1;
}

static int relink(struct virt *v);

/* A connection for a direct call: made again at once (no backoff) when it
 * was lost. */
static int need_conn(struct virt *v)
{
	if (v->conn && !v->lost)
		return 0;
	if (relink(v)) {
		v->st.connect_failures++;
		return -1;
	}
	return 0;
}

int virt_sync(struct virt *v)
{
	virDomainPtr *doms = NULL;
	struct workload *want = NULL;
	char (*uuids)[VIR_UUID_STRING_BUFLEN] = NULL;
	char *readable = NULL;
	struct inventory inv;
	struct sync_tx s;
	struct strbuf left = STRBUF_INIT, first = STRBUF_INIT;
	struct notes notes = { NULL, 0, 0 };
	int n, rc = 0, changed = 0, dirty = 0, failed = 0;

	if (need_conn(v))
		return -1;
	n = virConnectListAllDomains(v->conn, &doms, 0);
	/* The first call after libvirtd dropped us is how we learn it. */
	if (n < 0 && v->lost && relink(v) == 0)
		n = virConnectListAllDomains(v->conn, &doms, 0);
	if (n < 0)
		return bh_error(v->bh, "libvirt %s: cannot list domains: %s",
		                v->uri, verr());
	want = xcalloc((size_t)n + 1, sizeof *want);
	uuids = xcalloc((size_t)n + 1, sizeof *uuids);
	readable = xcalloc((size_t)n + 1, 1);
	/* Read every domain first: the transaction stays short and holds
	 * no RPC. */
	for (int i = 0; i < n; i++) {
		int r;

		if (virDomainGetUUIDString(doms[i], uuids[i]) < 0) {
			uuids[i][0] = '\0';
			continue;
		}
		r = domain_read(v, doms[i], &want[i]);
		if (r == 1) {
			uuids[i][0] = '\0';   /* gone meanwhile */
		} else if (r < 0) {
			/* unreadable: left as it is in the store */
			if (!first.len)
				sb_add(&first, v->bh->err);
			failed++;
		} else {
			readable[i] = 1;
		}
	}
	if (sync_begin(v, &s)) {
		rc = -1;
		goto out;
	}
	if (policy_inventory_load(v->bh, &inv)) {
		sync_end(v, &s, -1, 0);
		rc = -1;
		goto out;
	}
	/* Workloads whose domain is gone go first: their tap names may be
	 * reused by the domains that follow. */
	for (size_t i = 0; i < inv.n && rc >= 0; i++) {
		int found = 0;

		if (!is_libvirt(&inv.w[i]))
			continue;
		for (int k = 0; k < n && !found; k++)
			found = strcasecmp(inv.w[i].uuid, uuids[k]) == 0;
		if (!found && !inv.w[i].uuid[0]) {
			/* no uuid to know it by: cannot be a domain's */
			struct note *nt = note_new(&notes, inv.w[i].name);

			note_add(nt, "removed: libvirt workload without uuid");
			if (policy_workload_delete(v->bh, inv.w[i].name))
				rc = -1;
			changed = dirty = 1;
		} else if (!found) {
			int r = domain_apply(v, &inv, inv.w[i].uuid, NULL,
			                     &left, &notes);

			if (r < 0)
				rc = -1;
			if (r > 0)
				changed = dirty = 1;
		}
	}
	for (int i = 0; i < n && rc >= 0; i++) {
		struct store_tx one;
		int r;

		if (!readable[i])
			continue;
		if (dirty) {
			/* earlier writes: look at the inventory as it is */
			dirty = 0;
			policy_inventory_free(&inv);
			if (policy_inventory_load(v->bh, &inv)) {
				memset(&inv, 0, sizeof inv);
				rc = -1;
				break;
			}
		}
		if (store_tx_begin(v->bh, &one)) {
			rc = -1;
			break;
		}
		r = domain_apply(v, &inv, uuids[i], &want[i], &left, &notes);
		if (r < 0) {
			store_tx_rollback(v->bh, &one);
			if (!first.len)
				sb_add(&first, v->bh->err);
			failed++;
			continue;
		}
		if (store_tx_commit(v->bh, &one)) {
			rc = -1;
			break;
		}
		if (r > 0)
			changed = dirty = 1;
		v->st.syncs++;
	}
	policy_inventory_free(&inv);
	if (sync_end(v, &s, rc, changed)) {
		notes_flush(v, &notes, v->bh->err);
		rc = -1;
		goto out;
	}
	notes_flush(v, &notes, NULL);
	v->st.full_syncs++;
	v->st.last_sync_us = real_us();
	if (left.len && !first.len)
		sb_add(&first, sb_str(&left));
	if (first.len) {
		if (failed > 1)
			bh_error(v->bh, "%s (and %d more domains could not be "
			         "synced)", sb_str(&first), failed - 1);
		else
			bh_error(v->bh, "%s", sb_str(&first));
		rc = -1;
	}
out:
	if (rc < 0)
		v->st.sync_failures++;
	for (int i = 0; i < n; i++) {
		policy_workload_free(&want[i]);
		virDomainFree(doms[i]);
	}
	free(doms);
	free(want);
	free(uuids);
	free(readable);
	sb_free(&left);
	sb_free(&first);
	return rc;
}

/* A domain by uuid text or name; NULL when there is none (or no link). */
static virDomainPtr lookup(struct virt *v, const char *name_or_uuid)
{
	virDomainPtr dom = NULL;

	if (!v->conn)
		return NULL;
	if (strlen(name_or_uuid) == 36)
		dom = virDomainLookupByUUIDString(v->conn, name_or_uuid);
	if (!dom)
		dom = virDomainLookupByName(v->conn, name_or_uuid);
	return dom;
}

int virt_sync_domain(struct virt *v, const char *name_or_uuid)
{
	virDomainPtr dom;
	struct inventory inv;
	struct workload *w;
	char uuid[40] = "";
	int rc;

	if (need_conn(v))
		return -1;
	dom = lookup(v, name_or_uuid);
	if (dom) {
		rc = sync_dom(v, dom, NULL);
		virDomainFree(dom);
		return rc;
	}
	if (!gone())
		return bh_error(v->bh, "libvirt domain \"%s\": %s",
		                name_or_uuid, verr());
	/* No such domain: its workload, if any, goes. */
	if (policy_inventory_load(v->bh, &inv))
		return -1;
	w = inv_by_uuid(&inv, name_or_uuid);
	if (!w)
		w = inv_by_name(&inv, name_or_uuid);
	if (w && is_libvirt(w))
		snprintf(uuid, sizeof uuid, "%s", w->uuid);
	policy_inventory_free(&inv);
	if (!uuid[0])
		return 0;
	return sync_dom(v, NULL, uuid);
}

/* ---- events --------------------------------------------------------------- */
/* A domain event: resync that domain.  A failure cannot be returned to
 * anyone: it is kept in the stats, and the caller's bh->err is left as
 * it was. */
static void on_domain(struct virt *v, virDomainPtr dom, const char *what)
{
	char saved[BH_ERR_MAX];

	v->st.events++;
	v->st.last_event_us = real_us();
	snprintf(v->st.last_event, sizeof v->st.last_event, "%s", what);
	snprintf(v->st.last_domain, sizeof v->st.last_domain, "%s",
	         virDomainGetName(dom));
	snprintf(saved, sizeof saved, "%s", v->bh->err);
	if (sync_dom(v, dom, NULL))
		snprintf(v->st.last_error, sizeof v->st.last_error, "%s",
		         v->bh->err);
	snprintf(v->bh->err, sizeof v->bh->err, "%s", saved);
	v->dispatched++;
}

static void on_lifecycle(virConnectPtr c, virDomainPtr dom, int event,
                         int detail, void *opaque)
{
	(void)c;
	(void)event;
	(void)detail;
	on_domain(opaque, dom, "lifecycle");
}

static void on_device_added(virConnectPtr c, virDomainPtr dom,
                            const char *alias, void *opaque)
{
	(void)c;
	(void)alias;
	on_domain(opaque, dom, "device-added");
}

static void on_device_removed(virConnectPtr c, virDomainPtr dom,
                              const char *alias, void *opaque)
{
	(void)c;
	(void)alias;
	on_domain(opaque, dom, "device-removed");
}

static void on_metadata(virConnectPtr c, virDomainPtr dom, int type,
                        const char *nsuri, void *opaque)
{
	(void)c;
	/* Only bulkhead's tags and the guest OS are read from metadata. */
	if (type == VIR_DOMAIN_METADATA_ELEMENT && nsuri &&
	    strcmp(nsuri, VIRT_METADATA_URI) != 0 &&
	    strcmp(nsuri, VIRT_LIBOSINFO_URI) != 0)
		return;
	if (type != VIR_DOMAIN_METADATA_ELEMENT)
		return;
	on_domain(opaque, dom, "metadata-change");
}

/* libvirtd went away (or stopped answering): reconnect from the loop.
 * The connection cannot be closed from inside its own callback. */
static void on_close(virConnectPtr c, int reason, void *opaque)
{
	struct virt *v = opaque;

	(void)c;
	(void)reason;
	v->lost = 1;
	v->st.disconnects++;
	v->retry_at = mono_ms();
}

static void disconnect(struct virt *v)
{
	if (!v->conn)
		return;
	for (int i = 0; i < CB_COUNT; i++)
		if (v->cb[i] >= 0) {
			virConnectDomainEventDeregisterAny(v->conn, v->cb[i]);
			v->cb[i] = -1;
		}
	if (v->close_cb)
		virConnectUnregisterCloseCallback(v->conn, on_close);
	v->close_cb = 0;
	virConnectClose(v->conn);
	v->conn = NULL;
	ev_purge();
}

static int connect_(struct virt *v)
{
	static const struct {
		int id;
		virConnectDomainEventGenericCallback cb;
	} evs[CB_COUNT] = {
		{ VIR_DOMAIN_EVENT_ID_LIFECYCLE,
		  VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle) },
		{ VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
		  VIR_DOMAIN_EVENT_CALLBACK(on_device_added) },
		{ VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
		  VIR_DOMAIN_EVENT_CALLBACK(on_device_removed) },
		{ VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
		  VIR_DOMAIN_EVENT_CALLBACK(on_metadata) },
	};

	v->conn = virConnectOpen(v->uri);
	if (!v->conn)
		return bh_error(v->bh, "cannot connect to libvirt at \"%s\": "
		                "%s: is libvirtd running?", v->uri, verr());
	for (int i = 0; i < CB_COUNT; i++) {
		v->cb[i] = virConnectDomainEventRegisterAny(v->conn, NULL,
		                                            evs[i].id,
		                                            evs[i].cb, v,
		                                            NULL);
		if (v->cb[i] < 0) {
			bh_error(v->bh, "libvirt %s: cannot register for "
			         "domain events: %s", v->uri, verr());
			disconnect(v);
			return -1;
		}
	}
	if (virConnectRegisterCloseCallback(v->conn, on_close, v, NULL) == 0)
		v->close_cb = 1;
	/* Remote connections only; a local driver says it cannot, which is
	 * fine. */
	virConnectSetKeepAlive(v->conn, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT);
	v->lost = 0;
	v->backoff = 0;
	v->st.connects++;
	return 0;
}

static struct virt *virt_new(struct bh *bh, const char *uri)
{
	struct virt *v;

	pthread_once(&init_once, init_libvirt);
	if (init_rc < 0) {
		bh_error(bh, "libvirt cannot be initialised: %s", verr());
		return NULL;
	}
	if (!uri || !*uri)
		uri = VIRT_DEFAULT_URI;
	if (strlen(uri) >= sizeof v->uri) {
		bh_error(bh, "libvirt uri \"%.40s...\" is too long", uri);
		return NULL;
	}
	v = xcalloc(1, sizeof *v);
	v->bh = bh;
	snprintf(v->uri, sizeof v->uri, "%s", uri);
	for (int i = 0; i < CB_COUNT; i++)
		v->cb[i] = -1;
	return v;
}

struct virt *virt_open(struct bh *bh, const char *uri)
{
	struct virt *v = virt_new(bh, uri);

	if (v && connect_(v)) {
		free(v);
		return NULL;
	}
	return v;
}

struct virt *virt_open_background(struct bh *bh, const char *uri)
{
	struct virt *v = virt_new(bh, uri);

	if (v)
		v->retry_at = mono_ms();
	return v;
}

void virt_close(struct virt *v)
{
	if (!v)
		return;
	disconnect(v);
	free(v);
}

int virt_connected(const struct virt *v)
{
	return v->conn && !v->lost;
}

/* Drop the connection and make a new one. */
static int relink(struct virt *v)
{
	disconnect(v);
	return connect_(v);
}

/* Reconnect when the link is down and the backoff has passed; a good
 * connection is followed by a full sync. */
static void reconnect(struct virt *v)
{
	char saved[BH_ERR_MAX];

	if ((v->conn && !v->lost) || mono_ms() < v->retry_at)
		return;
	snprintf(saved, sizeof saved, "%s", v->bh->err);
	if (relink(v)) {
		v->st.connect_failures++;
		snprintf(v->st.last_error, sizeof v->st.last_error, "%s",
		         v->bh->err);
		v->backoff = v->backoff ? v->backoff * 2 : BACKOFF_MIN_MS;
		if (v->backoff > BACKOFF_MAX_MS)
			v->backoff = BACKOFF_MAX_MS;
		v->retry_at = mono_ms() + v->backoff;
	} else if (virt_sync(v)) {
		snprintf(v->st.last_error, sizeof v->st.last_error, "%s",
		         v->bh->err);
	}
	snprintf(v->bh->err, sizeof v->bh->err, "%s", saved);
}

int virt_event_dispatch(struct virt *v, const struct pollfd *fds, size_t n)
{
	v->dispatched = 0;
	ev_dispatch(fds, n);
	reconnect(v);
	return v->dispatched;
}

int virt_event_run(struct virt *v, int timeout_ms)
{
	struct pollfd fds[64];
	int n, t = timeout_ms;

	n = virt_event_fds(v, fds, sizeof fds / sizeof fds[0], &t);
	if (n < 0)
		return -1;
	if (t > timeout_ms && timeout_ms >= 0)
		t = timeout_ms;
	if (poll(fds, (nfds_t)n, t) < 0 && errno != EINTR)
		return bh_error(v->bh, "poll: %s", strerror(errno));
	return virt_event_dispatch(v, fds, (size_t)n);
}

void virt_stats_get(const struct virt *v, struct virt_stats *out)
{
	*out = v->st;
}

/* ---- tags ----------------------------------------------------------------- */
/* Write @tags as @dom's bulkhead metadata: live when it runs, persistent
 * when it is defined; no tags removes the element. */
static int tags_write(struct virt *v, virDomainPtr dom,
                      const struct strv *tags)
{
	struct strbuf xml = STRBUF_INIT;
	unsigned flags = 0;
	int active = virDomainIsActive(dom), persistent;
	int rc;

	persistent = virDomainIsPersistent(dom);
	if (active < 0 || persistent < 0)
		return bh_error(v->bh, "libvirt domain \"%s\": %s",
		                virDomainGetName(dom), verr());
	if (active)
		flags |= VIR_DOMAIN_AFFECT_LIVE;
	if (persistent)
		flags |= VIR_DOMAIN_AFFECT_CONFIG;
	if (tags->n)
		virt_tags_xml(tags, &xml);
	rc = virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
	                          tags->n ? sb_str(&xml) : NULL,
	                          VIRT_METADATA_KEY, VIRT_METADATA_URI, flags);
	sb_free(&xml);
	if (rc < 0)
		return bh_error(v->bh, "libvirt domain \"%s\": cannot write "
		                "its tags: %s", virDomainGetName(dom), verr());
	return 0;
}

static int tag_change(struct virt *v, const char *workload, const char *tag,
                      int add)
{
	struct bh *bh = v->bh;
	struct workload w, now;
	virDomainPtr dom;
	int rc = -1, i;

	if (add && util_tag_check(tag, bh->err, sizeof bh->err))
		return -1;
	if (policy_workload_get(bh, workload, &w))
		return -1;
	if (!is_libvirt(&w) || !w.uuid[0]) {
		policy_workload_free(&w);
		return add ? policy_tag_add(bh, workload, tag) :
		             policy_tag_delete(bh, workload, tag);
	}
	if (need_conn(v)) {
		char why[BH_ERR_MAX];

		snprintf(why, sizeof why, "%s", bh->err);
		policy_workload_free(&w);
		return bh_error(bh, "workload \"%s\": its tags live in libvirt: "
		                "%s", workload, why);
	}
	dom = virDomainLookupByUUIDString(v->conn, w.uuid);
	if (!dom) {
		bh_error(bh, "workload \"%s\": its libvirt domain (uuid %s) "
		         "is gone: %s", workload, w.uuid, verr());
		policy_workload_free(&w);
		virt_sync_domain(v, w.uuid);
		return -1;
	}
	/* The domain's own list is the truth: read it, change it, write it
	 * back, then let the store follow. */
	if (domain_read(v, dom, &now) != 0) {
		if (!bh->err[0] || gone())
			bh_error(bh, "workload \"%s\": its libvirt domain is "
			         "gone", workload);
		goto out;
	}
	i = strv_contains(&now.tags, tag);
	if (add && i) {
		bh_error(bh, "workload \"%s\" already has tag \"%s\"",
		         workload, tag);
	} else if (!add && !i) {
		const char *s = util_suggest_strv(tag, &now.tags);

		if (s)
			bh_error(bh, "workload \"%s\" has no tag \"%s\" (did "
			         "you mean \"%s\"?)", workload, tag, s);
		else
			bh_error(bh, "workload \"%s\" has no tag \"%s\"",
			         workload, tag);
	} else {
		struct strv tags = STRV_INIT;

		for (size_t k = 0; k < now.tags.n; k++)
			if (add || strcmp(now.tags.v[k], tag))
				strv_push(&tags, now.tags.v[k]);
		if (add)
			strv_push(&tags, tag);
		strv_uniq(&tags);
		rc = tags_write(v, dom, &tags);
		strv_free(&tags);
		if (rc == 0)
			rc = sync_dom(v, dom, NULL);
	}
	policy_workload_free(&now);
out:
	virDomainFree(dom);
	policy_workload_free(&w);
	return rc;
}

int virt_tag_add(struct virt *v, const char *workload, const char *tag)
{
	return tag_change(v, workload, tag, 1);
}

int virt_tag_delete(struct virt *v, const char *workload, const char *tag)
{
	return tag_change(v, workload, tag, 0);
}

/* ---- addresses ------------------------------------------------------------ */
int virt_addresses(struct virt *v, const char *workload, const char *source,
                   struct virt_addr **out, size_t *n)
{
	static const struct { const char *name; unsigned src; } srcs[] = {
		{ "lease", VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE },
		{ "agent", VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT },
		{ "arp", VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP },
	};
	virDomainInterfacePtr *ifs = NULL;
	virDomainPtr dom;
	struct workload w;
	unsigned src = 0;
	size_t k, cap = 0;
	int nif, found = 0;

	*out = NULL;
	*n = 0;
	for (k = 0; k < sizeof srcs / sizeof srcs[0]; k++)
		if (strcmp(source, srcs[k].name) == 0) {
			src = srcs[k].src;
			found = 1;
		}
	if (!found)
		return bh_error(v->bh, "address source \"%s\": use lease, "
		                "agent or arp", source);
	if (policy_workload_get(v->bh, workload, &w))
		return -1;
	if (!is_libvirt(&w) || !w.uuid[0]) {
		bh_error(v->bh, "workload \"%s\" is not a libvirt domain",
		         workload);
		policy_workload_free(&w);
		return -1;
	}
	if (need_conn(v)) {
		policy_workload_free(&w);
		return -1;
	}
	dom = virDomainLookupByUUIDString(v->conn, w.uuid);
	if (!dom) {
		bh_error(v->bh, "workload \"%s\": libvirt domain %s: %s",
		         workload, w.uuid, verr());
		policy_workload_free(&w);
		return -1;
	}
	nif = virDomainInterfaceAddresses(dom, &ifs, src, 0);
	virDomainFree(dom);
	if (nif < 0) {
		bh_error(v->bh, "workload \"%s\": no addresses from %s: %s",
		         workload, source, verr());
		policy_workload_free(&w);
		return -1;
	}
	for (int i = 0; i < nif; i++) {
		virDomainInterfacePtr f = ifs[i];
		const char *ifname = "";
		char mac[18] = "";

		if (f->hwaddr)
			util_mac_parse(f->hwaddr, mac, sizeof mac, NULL, 0);
		/* The host-side name is ours to know: match by MAC (the
		 * agent reports the guest's own interface names). */
		for (size_t j = 0; j < w.nnics; j++)
			if (mac[0] && strcmp(w.nics[j].mac, mac) == 0)
				ifname = w.nics[j].ifname;
		for (unsigned a = 0; a < f->naddrs; a++) {
			struct virt_addr *va;
			char canon[64];
			int fam;

			if (!f->addrs[a].addr ||
			    util_addr_parse(f->addrs[a].addr, 0, canon,
			                    sizeof canon, &fam, NULL, 0))
				continue;
			if (*n == cap) {
				cap = cap ? cap * 2 : 4;
				*out = xrealloc(*out, cap * sizeof **out);
			}
			va = &(*out)[(*n)++];
			memset(va, 0, sizeof *va);
			snprintf(va->ifname, sizeof va->ifname, "%s", ifname);
			snprintf(va->mac, sizeof va->mac, "%s", mac);
			snprintf(va->addr, sizeof va->addr, "%s", canon);
			va->family = fam;
		}
		virDomainInterfaceFree(f);
	}
	free(ifs);
	policy_workload_free(&w);
	return 0;
}
