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
 *   One domain is read (its XML and state) and handed to
 *   policy_workload_put(), which compares it with its workload and writes
 *   the difference in place (a NIC that stays keeps its addresses) in one
 *   transaction over one inventory load, calling the enforcer
 *   (bh->inventory_changed) once with the final inventory: so a metadata
 *   change costs one small transaction, and a state change never reaches
 *   the kernel as a workload that vanished and came back.  A full sync
 *   removes the workloads whose domain is gone with one
 *   policy_workload_prune(), then puts only the domains that differ from
 *   one loaded inventory, each in its own savepoint (one bad domain is
 *   left out without undoing the others), the enforcer held back and
 *   called once at the end.  The transaction is the only use of the store
 *   layer here (store_tx_*); there is no SQL in this file.  Each domain
 *   that changed, or could not be synced, gets an audit entry
 *   "libvirt sync NAME" saying what.
 *
 *   The provider's own writes go to the policy layer directly, never
 *   through bh->tag_write: `add tag` on a VM writes the domain, the sync
 *   that follows writes the store, and nothing comes back around.
 */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "bulkhead.h"
#include "libvirt.h"
#include "policy.h"
#include "store.h"
#include "util.h"

/* ---- libvirt, loaded on first use -------------------------------------------
 * The binary does not link libvirt: libvirt.so and its dependencies
 * (gnutls, curl, krb5, ICU, glib...) cost about 9 ms of dynamic loading at
 * every process start, and most starts never use it: above all the qemu
 * hook, which libvirtd waits for at every domain start and which only
 * parses the XML on its standard input.  virt_new() loads it (dlopen) and
 * resolves the functions this file calls; the macros below send every call
 * through that table, so the code reads as plain libvirt.
 */
/* Every libvirt function this file calls, once: the table, its loading
 * and the call macros below follow from it. */
#define VL_FUNCS(X) \
	X(virConnectClose) \
	X(virConnectDomainEventDeregisterAny) \
	X(virConnectDomainEventRegisterAny) \
	X(virConnectListAllDomains) \
	X(virConnectOpen) \
	X(virConnectRegisterCloseCallback) \
	X(virConnectSetKeepAlive) \
	X(virConnectUnregisterCloseCallback) \
	X(virDomainDestroy) \
	X(virDomainFree) \
	X(virDomainGetName) \
	X(virDomainGetState) \
	X(virDomainGetUUIDString) \
	X(virDomainGetXMLDesc) \
	X(virDomainInterfaceAddresses) \
	X(virDomainInterfaceFree) \
	X(virDomainIsActive) \
	X(virDomainIsPersistent) \
	X(virDomainLookupByName) \
	X(virDomainLookupByUUIDString) \
	X(virDomainResume) \
	X(virDomainSetMetadata) \
	X(virDomainShutdownFlags) \
	X(virDomainSnapshotCreateXML) \
	X(virDomainSnapshotFree) \
	X(virDomainSuspend) \
	X(virEventRegisterImpl) \
	X(virGetLastErrorCode) \
	X(virGetLastErrorMessage) \
	X(virInitialize) \
	X(virSetErrorFunc)

static struct {
#define VL_FIELD(f) __typeof__(f) *f;
	VL_FUNCS(VL_FIELD)
#undef VL_FIELD
} vl;
static char vl_err[256];
static int vl_loaded;

/* 0, or -1 with the reason in vl_err (libvirt missing or too old). */
static int vl_load(void)
{
	void *h = dlopen("libvirt.so.0", RTLD_NOW | RTLD_GLOBAL);
	const char *miss = NULL;

	if (!h) {
		snprintf(vl_err, sizeof vl_err, "libvirt is not installed "
		         "(%s): apt-get install libvirt0", dlerror());
		return -1;
	}
#define VL_SYM(f) \
	if (!miss && !(*(void **)&vl.f = dlsym(h, #f))) \
		miss = #f;
	VL_FUNCS(VL_SYM)
#undef VL_SYM
	if (miss) {
		snprintf(vl_err, sizeof vl_err, "libvirt.so.0 has no %s: "
		         "libvirt is too old", miss);
		return -1;
	}
	vl_loaded = 1;
	return 0;
}
#define virConnectClose (vl.virConnectClose)
#define virConnectDomainEventDeregisterAny (vl.virConnectDomainEventDeregisterAny)
#define virConnectDomainEventRegisterAny (vl.virConnectDomainEventRegisterAny)
#define virConnectListAllDomains (vl.virConnectListAllDomains)
#define virConnectOpen (vl.virConnectOpen)
#define virConnectRegisterCloseCallback (vl.virConnectRegisterCloseCallback)
#define virConnectSetKeepAlive (vl.virConnectSetKeepAlive)
#define virConnectUnregisterCloseCallback (vl.virConnectUnregisterCloseCallback)
#define virDomainDestroy (vl.virDomainDestroy)
#define virDomainFree (vl.virDomainFree)
#define virDomainGetName (vl.virDomainGetName)
#define virDomainGetState (vl.virDomainGetState)
#define virDomainGetUUIDString (vl.virDomainGetUUIDString)
#define virDomainGetXMLDesc (vl.virDomainGetXMLDesc)
#define virDomainInterfaceAddresses (vl.virDomainInterfaceAddresses)
#define virDomainInterfaceFree (vl.virDomainInterfaceFree)
#define virDomainIsActive (vl.virDomainIsActive)
#define virDomainIsPersistent (vl.virDomainIsPersistent)
#define virDomainLookupByName (vl.virDomainLookupByName)
#define virDomainLookupByUUIDString (vl.virDomainLookupByUUIDString)
#define virDomainResume (vl.virDomainResume)
#define virDomainSetMetadata (vl.virDomainSetMetadata)
#define virDomainShutdownFlags (vl.virDomainShutdownFlags)
#define virDomainSnapshotCreateXML (vl.virDomainSnapshotCreateXML)
#define virDomainSnapshotFree (vl.virDomainSnapshotFree)
#define virDomainSuspend (vl.virDomainSuspend)
#define virEventRegisterImpl (vl.virEventRegisterImpl)
#define virGetLastErrorCode (vl.virGetLastErrorCode)
#define virGetLastErrorMessage (vl.virGetLastErrorMessage)
#define virInitialize (vl.virInitialize)
#define virSetErrorFunc (vl.virSetErrorFunc)

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
	int driven;                 /* someone runs virt_event_dispatch */
	int resync_due;             /* a direct call reconnected: the loop
	                               owes a full sync */
	int64_t last_use;           /* monotonic ms of the last direct call */
	char why[BH_ERR_MAX];       /* libvirt's reason for the last failed
	                               connection */
	struct tag_undo *undo;      /* domains tagged inside a batch that */
	size_t nundo;               /* has not been settled yet */
	const void *undo_batch;     /* bh->batch they were written in */
	struct virt_stats st;
};

/* What a tag written inside an all-or-nothing batch changed in a domain:
 * libvirt has no transaction, so when the store rolls the batch back the
 * domain is written back by hand (virt_tag_settle). */
struct tag_undo {
	char uuid[40];
	struct strv before;         /* the domain's tags before the batch */
	struct strv after;          /* as the batch last wrote them */
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
	const char *m;

	if (!vl_loaded)
		return vl_err;
	m = virGetLastErrorMessage();

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
	if (vl_load()) {
		init_rc = -1;
		return;
	}
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
 * The domain's workload brought to @want with one policy_workload_put:
 * one transaction over one inventory load, the enforcer called once (by
 * the policy layer, with the inventory as it ends up).  Returns 1 when it
 * wrote, 0 when nothing differed, -1 (bh->err) when the domain could not
 * be synced; what it had to leave out goes into @left with the rest
 * synced.  What changed, or why it failed, becomes a note for the audit.
 */
static int domain_put(struct virt *v, const struct workload *want,
                      struct strbuf *left, struct notes *notes)
{
	struct bh *bh = v->bh;
	struct strbuf what = STRBUF_INIT;
	int r;

	if (util_name_check("workload", want->name, bh->err,
	                    sizeof bh->err)) {
		bh_error(bh, "libvirt domain \"%s\" cannot be a workload: "
		         "names are 1-63 letters, digits, '.', '_' or '-', "
		         "starting with a letter or digit: rename it with "
		         "'virsh domrename'", want->name);
		return note_fail(bh, notes, want->name);
	}
	r = policy_workload_put(bh, want, &what, left);
	if (r < 0) {
		note_fail(bh, notes, want->name);
	} else if (r > 0 || what.len) {
		struct note *n = note_new(notes, want->name);

		sb_add(&n->detail, sb_str(&what));
	}
	sb_free(&what);
	return r;
}

/* The workload of domain @uuid, which is gone: removed.  Same returns. */
static int domain_gone(struct virt *v, const char *uuid, struct notes *notes)
{
	struct bh *bh = v->bh;
	struct inventory inv;
	struct workload *cur;
	char name[BH_NAME_MAX + 1];
	int hand;

	if (policy_inventory_load(bh, &inv))
		return -1;
	cur = policy_inventory_by_uuid(&inv, uuid);
	if (!cur) {
		policy_inventory_free(&inv);
		return 0;
	}
	snprintf(name, sizeof name, "%s", cur->name);
	hand = !is_libvirt(cur);
	policy_inventory_free(&inv);
	if (hand) {
		bh_error(bh, "libvirt domain \"%s\": workload \"%s\", added by "
		         "hand, has its uuid %s: delete that workload", name,
		         name, uuid);
		return note_fail(bh, notes, name);
	}
	note_add(note_new(notes, name), "removed: the domain is gone");
	if (policy_workload_delete(bh, name))
		return note_fail(bh, notes, name);
	return 1;
}

/* 1 when @cur already is what @want says: a full sync writes (and loads
 * the inventory again for) only the domains that changed. */
static int same(const struct workload *cur, const struct workload *want)
{
	if (!is_libvirt(cur) || strcmp(cur->name, want->name) ||
	    strcmp(cur->state, want->state) || strcmp(cur->os, want->os) ||
	    strcmp(cur->kind, "vm") || cur->nnics != want->nnics ||
	    cur->tags.n != want->tags.n)
		return 0;
	for (size_t i = 0; i < want->nnics; i++) {
		const struct nic *n = policy_workload_nic(cur, want->nics[i].ifname);

		if (!n || strcmp(n->mac, want->nics[i].mac))
			return 0;
	}
	for (size_t i = 0; i < want->tags.n; i++)
		if (!strv_contains(&cur->tags, want->tags.v[i]))
			return 0;
	return 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The transaction around a full sync: the enforcer hook is held back
 * while the domains are written and called once by sync_end() with the
 * final inventory.
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
	if (r == 0)
		rc = domain_put(v, &want, &left, &notes);
	else
		rc = domain_gone(v, uuid, &notes);
	notes_flush(v, &notes, NULL);
	policy_workload_free(&want);
	if (rc < 0) {
		sb_free(&left);
		v->st.sync_failures++;
		return -1;
	}
	v->st.syncs++;
	v->st.last_sync_us = real_us();
	if (left.len) {
		bh_error(v->bh, "%s", sb_str(&left));
		sb_free(&left);
		v->st.sync_failures++;
		return -1;
	}
	return 0;
}

static int relink(struct virt *v);
/*
 * Longest a connection nobody drives (an in-process engine's) is trusted
 * idle: libvirtd drops a client that leaves its keepalive pings unanswered
 * for about 30 s, and without a loop the close is only seen by the next
 * call, which would fail.
 */
#define UNDRIVEN_IDLE_MS 15000

/* A connection for a direct call: made again at once (no backoff) when it
 * was lost.  A new connection made for a loop that has not seen the loss
 * yet leaves it a full sync to do (events were missed). */
static int need_conn(struct virt *v)
{
	int64_t now = mono_ms();

	if (v->conn && !v->lost &&
	    (v->driven || now - v->last_use < UNDRIVEN_IDLE_MS)) {
		v->last_use = now;
		return 0;
	}
	if (relink(v)) {
		v->st.connect_failures++;
		return -1;
	}
	v->last_use = now;
	if (v->driven)
		v->resync_due = 1;
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
	struct strv keep = STRV_INIT, gone = STRV_INIT;
	struct notes notes = { NULL, 0, 0 };
	int n, rc = 0, changed = 0, failed = 0, r;

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
		if (uuids[i][0])
			strv_push(&keep, uuids[i]);
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
	 * reused by the domains that follow.  Most syncs find none, and
	 * then cost this one inventory load. */
	strv_sort(&keep);
	for (size_t i = 0; i < inv.n && !changed; i++)
		changed = is_libvirt(&inv.w[i]) &&
		          (!inv.w[i].uuid[0] ||
		           !bsearch(&(const char *){ inv.w[i].uuid }, keep.v,
		                    keep.n, sizeof *keep.v, cmp_str));
	if (changed) {
		policy_inventory_free(&inv);
		r = policy_workload_prune(v->bh, "libvirt", &keep, &gone);
		if (r < 0 || policy_inventory_load(v->bh, &inv)) {
			sync_end(v, &s, -1, 0);
			rc = -1;
			goto out;
		}
		for (size_t i = 0; i < gone.n; i++)
			note_add(note_new(&notes, gone.v[i]),
			         "removed: the domain is gone");
	}
	for (int i = 0; i < n; i++) {
		struct workload *cur;

		if (!readable[i])
			continue;
		cur = policy_inventory_by_uuid(&inv, uuids[i]);
		if (cur && same(cur, &want[i])) {
			v->st.syncs++;
			continue;
		}
		/* one savepoint per domain (inside put): a bad one is left
		 * out without undoing the others */
		r = domain_put(v, &want[i], &left, &notes);
		if (r < 0) {
			if (!first.len)
				sb_add(&first, v->bh->err);
			failed++;
			continue;
		}
		if (r > 0)
			changed = 1;
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
	strv_free(&keep);
	strv_free(&gone);
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
	w = policy_inventory_by_uuid(&inv, name_or_uuid);
	if (!w)
		w = policy_inventory_by_name(&inv, name_or_uuid);
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

	v->why[0] = '\0';
	v->conn = virConnectOpen(v->uri);
	if (!v->conn) {
		snprintf(v->why, sizeof v->why, "%s", verr());
		return bh_error(v->bh, "cannot connect to libvirt at \"%s\": "
		                "%s: is libvirtd running?", v->uri, v->why);
	}
	for (int i = 0; i < CB_COUNT; i++) {
		v->cb[i] = virConnectDomainEventRegisterAny(v->conn, NULL,
		                                            evs[i].id,
		                                            evs[i].cb, v,
		                                            NULL);
		if (v->cb[i] < 0) {
			snprintf(v->why, sizeof v->why, "%s", verr());
			bh_error(v->bh, "libvirt %s: cannot register for "
			         "domain events: %s", v->uri, v->why);
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

static void undo_free(struct virt *v);

void virt_close(struct virt *v)
{
	if (!v)
		return;
	virt_tag_settle(v);
	undo_free(v);
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
	v->driven = 1;
	v->dispatched = 0;
	ev_dispatch(fds, n);
	reconnect(v);
	if (v->resync_due && virt_connected(v)) {
		char saved[BH_ERR_MAX];

		v->resync_due = 0;
		snprintf(saved, sizeof saved, "%s", v->bh->err);
		if (virt_sync(v))
			snprintf(v->st.last_error, sizeof v->st.last_error,
			         "%s", v->bh->err);
		snprintf(v->bh->err, sizeof v->bh->err, "%s", saved);
	}
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

/* Why a tag of a libvirt VM cannot be written now: nothing was changed. */
static int virt_unreachable(struct virt *v, const char *workload)
{
	char why[BH_ERR_MAX];

	snprintf(why, sizeof why, "%s", v->why[0] ? v->why : v->bh->err);
	return bh_error(v->bh, "workload \"%s\" is a libvirt VM and libvirt at "
	                "%s does not answer: %s; its tags live in the "
	                "domain's metadata", workload, v->uri, why);
}

/* Workload @name into @w (free with policy_workload_free), or -1 with
 * policy_workload_get's message. */
static int workload_find(struct bh *bh, const char *name, struct workload *w)
{
	struct inventory inv;
	struct workload *f;

	memset(w, 0, sizeof *w);
	if (policy_inventory_load(bh, &inv))
		return -1;
	f = policy_inventory_by_name(&inv, name);
	if (f) {
		*w = *f;
		memset(f, 0, sizeof *f);
	}
	policy_inventory_free(&inv);
	return f ? 0 : policy_workload_get(bh, name, w);
}

static void undo_free(struct virt *v)
{
	for (size_t i = 0; i < v->nundo; i++) {
		strv_free(&v->undo[i].before);
		strv_free(&v->undo[i].after);
	}
	free(v->undo);
	v->undo = NULL;
	v->nundo = 0;
	v->undo_batch = NULL;
}

static int strv_same(const struct strv *a, const struct strv *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (!strv_contains(b, a->v[i]))
			return 0;
	return 1;
}

/* Domain @uuid is about to get @after inside the current batch; @before
 * is what it had (kept from the batch's first write only). */
static void settle(struct virt *v, int force);

static void undo_note(struct virt *v, const char *uuid,
                      const struct strv *before, const struct strv *after)
{
	struct tag_undo *u = NULL;

	if (v->undo_batch != v->bh->batch) {
		/* a batch no one settled (a caller other than the daemon's
		 * loop): it has ended, since another runs */
		settle(v, 1);
		v->undo_batch = v->bh->batch;
	}
	for (size_t i = 0; i < v->nundo && !u; i++)
		if (strcmp(v->undo[i].uuid, uuid) == 0)
			u = &v->undo[i];
	if (!u) {
		v->undo = xrealloc(v->undo, (v->nundo + 1) * sizeof *v->undo);
		u = &v->undo[v->nundo++];
		memset(u, 0, sizeof *u);
		snprintf(u->uuid, sizeof u->uuid, "%s", uuid);
		strv_copy(&u->before, before);
	}
	strv_free(&u->after);
	strv_copy(&u->after, after);
}

static void settle(struct virt *v, int force)
{
	struct inventory inv;
	char saved[BH_ERR_MAX];

	if (!v || !v->nundo || (v->bh->batch && !force))
		return;
	snprintf(saved, sizeof saved, "%s", v->bh->err);
	if (policy_inventory_load(v->bh, &inv) == 0) {
		for (size_t i = 0; i < v->nundo; i++) {
			struct tag_undo *u = &v->undo[i];
			struct workload *w = policy_inventory_by_uuid(&inv, u->uuid);
			struct workload now;
			virDomainPtr dom;

			/* the batch committed: the store has what we wrote */
			if (w && strv_same(&w->tags, &u->after))
				continue;
			if (need_conn(v) || !(dom = lookup(v, u->uuid)))
				continue;
			/* written back only when no one changed it since */
			if (domain_read(v, dom, &now) == 0) {
				if (strv_same(&now.tags, &u->after) &&
				    tags_write(v, dom, &u->before) == 0)
					sync_dom(v, dom, NULL);
				policy_workload_free(&now);
			}
			virDomainFree(dom);
		}
		policy_inventory_free(&inv);
	}
	undo_free(v);
	snprintf(v->bh->err, sizeof v->bh->err, "%s", saved);
}

void virt_tag_settle(struct virt *v)
{
	settle(v, 0);
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
	/* The inventory is enough (policy_workload_get would also load the
	 * config for the groups): this is on the path of every `add tag`. */
	if (workload_find(bh, workload, &w))
		return -1;
	if (!is_libvirt(&w) || !w.uuid[0]) {
		policy_workload_free(&w);
		return add ? policy_tag_add(bh, workload, tag) :
		             policy_tag_delete(bh, workload, tag);
	}
	if (need_conn(v)) {
		policy_workload_free(&w);
		return virt_unreachable(v, workload);
	}
	dom = virDomainLookupByUUIDString(v->conn, w.uuid);
	if (!dom && !gone()) {
		snprintf(v->why, sizeof v->why, "%s", verr());
		policy_workload_free(&w);
		return virt_unreachable(v, workload);
	}
	if (!dom) {
		char why[BH_ERR_MAX];

		snprintf(why, sizeof why, "%s", verr());
		/* the store follows: the workload goes */
		virt_sync_domain(v, w.uuid);
		bh_error(bh, "workload \"%s\": its libvirt domain (uuid %s) "
		         "is gone: %s", workload, w.uuid, why);
		policy_workload_free(&w);
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
		if (bh->batch)
			undo_note(v, w.uuid, &now.tags, &tags);
		rc = tags_write(v, dom, &tags);
		strv_free(&tags);
		if (rc == 0 && sync_dom(v, dom, NULL)) {
			/* the store refused (the enforcer, a conflict): the
			 * domain goes back to what it said, as best we can */
			char why[BH_ERR_MAX];

			snprintf(why, sizeof why, "%s", bh->err);
			tags_write(v, dom, &now.tags);
			snprintf(bh->err, sizeof bh->err, "%s", why);
			rc = -1;
		}
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

int virt_tag_write(struct bh *bh, const char *workload, const char *tag,
                   int add)
{
	struct virt *v = bh->tag_handle;

	if (!v)
		return add ? policy_tag_add(bh, workload, tag) :
		             policy_tag_delete(bh, workload, tag);
	return tag_change(v, workload, tag, add);
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

/* ---- VM actions ------------------------------------------------------------ */
/*
 * Operator actions on a VM (`snapshot`, `shutdown`, `pause`, `resume`, and
 * the playbook steps of the same names).  Each is one libvirt call that
 * returns without waiting for the guest, so the daemon's loop is held
 * only as long as libvirt takes to answer (a snapshot: as long as QEMU
 * takes to write the guest's RAM).
 */
const char *virt_vm_op_name(enum virt_vm_op op)
{
	switch (op) {
	case VIRT_VM_SNAPSHOT: return "snapshot";
	case VIRT_VM_SHUTDOWN: return "shutdown";
	case VIRT_VM_DESTROY: return "shutdown force";
	case VIRT_VM_PAUSE: return "pause";
	case VIRT_VM_RESUME: return "resume";
	}
	return "?";
}

static const char *dom_state_name(int st)
{
	switch (st) {
	case VIR_DOMAIN_RUNNING: return "running";
	case VIR_DOMAIN_BLOCKED: return "blocked";
	case VIR_DOMAIN_PAUSED: return "paused";
	case VIR_DOMAIN_SHUTDOWN: return "shutting down";
	case VIR_DOMAIN_SHUTOFF: return "shut off";
	case VIR_DOMAIN_CRASHED: return "crashed";
	case VIR_DOMAIN_PMSUSPENDED: return "suspended by the guest";
	default: return "unknown";
	}
}

/* A snapshot name goes into a file name: letters, digits, '.', '_', '-',
 * not starting with '.' or '-'. */
static int snapshot_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > BH_NAME_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
		      *s == '-'))
			return 0;
	return 1;
}

/* mkdir -p @dir, 0700 for what it makes. */
static int mkdirs(const char *dir)
{
	char p[PATH_MAX];

	snprintf(p, sizeof p, "%s", dir);
	for (char *c = p + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return -1;
		*c = '/';
	}
	return mkdir(p, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static int vm_snapshot(struct virt *v, virDomainPtr dom, const char *wl,
                       const char *name, char *result, size_t len)
{
	const char *dir = getenv("BULKHEAD_SNAPSHOT_DIR");
	char auto_name[64], file[PATH_MAX];
	struct strbuf x = STRBUF_INIT;
	virDomainSnapshotPtr snap;
	struct stat sb;

	if (!name || !*name) {
		time_t t = time(NULL);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(auto_name, sizeof auto_name,
		         "bulkhead-%Y%m%d-%H%M%S", &tm);
		name = auto_name;
	}
	if (!snapshot_name_ok(name))
		return bh_error(v->bh, "snapshot name \"%s\": use 1-%d letters, "
		                "digits, '.', '_' or '-', not starting with "
		                "'.' or '-'", name, BH_NAME_MAX);
	if (!dir || !*dir)
		dir = VIRT_SNAPSHOT_DIR;
	if (mkdirs(dir) < 0)
		return bh_error(v->bh, "snapshot directory %s: %s (set "
		                "BULKHEAD_SNAPSHOT_DIR to a writable place)",
		                dir, strerror(errno));
	snprintf(file, sizeof file, "%s/%s-%s.mem", dir, wl, name);
	if (stat(file, &sb) == 0)
		return bh_error(v->bh, "workload \"%s\": snapshot \"%s\" "
		                "exists already (%s): choose another name", wl,
		                name, file);
	sb_addf(&x, "<domainsnapshot><name>%s</name>"
	        "<description>taken by bulkhead</description>"
	        "<memory snapshot='external' file='%s'/>"
	        "</domainsnapshot>", name, file);
	/* LIVE: the guest keeps running while its RAM is written. */
	snap = virDomainSnapshotCreateXML(dom, x.s,
	                                  VIR_DOMAIN_SNAPSHOT_CREATE_LIVE);
	sb_free(&x);
	if (!snap)
		return bh_error(v->bh, "workload \"%s\": snapshot \"%s\" "
		                "failed: %s", wl, name, verr());
	virDomainSnapshotFree(snap);
	snprintf(result, len, "snapshot \"%s\" of workload \"%s\" taken "
	         "(memory in %s)", name, wl, file);
	return 0;
}

int virt_vm_action(struct virt *v, const char *workload, enum virt_vm_op op,
                   const char *name, char *result, size_t len)
{
	const char *what = virt_vm_op_name(op);
	struct workload w;
	virDomainPtr dom;
	int st = 0, reason = 0, rc = -1, ok = 1;

	result[0] = '\0';
	if (policy_workload_get(v->bh, workload, &w))
		return -1;
	if (!is_libvirt(&w) || !w.uuid[0]) {
		bh_error(v->bh, "%s: workload \"%s\" is not a libvirt VM (it "
		         "was added by hand): only libvirt domains can be "
		         "acted on", what, workload);
		policy_workload_free(&w);
		return -1;
	}
	if (need_conn(v)) {
		char why[BH_ERR_MAX];

		snprintf(why, sizeof why, "%s", v->bh->err);
		bh_error(v->bh, "%s: workload \"%s\": libvirt at %s does not "
		         "answer: %s", what, workload, v->uri, why);
		policy_workload_free(&w);
		return -1;
	}
	dom = virDomainLookupByUUIDString(v->conn, w.uuid);
	policy_workload_free(&w);
	if (!dom)
		return bh_error(v->bh, "%s: workload \"%s\": its libvirt "
		                "domain is gone: %s", what, workload, verr());
	if (virDomainGetState(dom, &st, &reason, 0) < 0) {
		bh_error(v->bh, "%s: workload \"%s\": %s", what, workload,
		         verr());
		goto out;
	}
	switch (op) {
	case VIRT_VM_SNAPSHOT:
	case VIRT_VM_SHUTDOWN:
		ok = st == VIR_DOMAIN_RUNNING || st == VIR_DOMAIN_BLOCKED ||
		     st == VIR_DOMAIN_PAUSED;
		break;
	case VIRT_VM_DESTROY:
		ok = virDomainIsActive(dom) == 1;
		break;
	case VIRT_VM_PAUSE:
		ok = st == VIR_DOMAIN_RUNNING || st == VIR_DOMAIN_BLOCKED;
		break;
	case VIRT_VM_RESUME:
		ok = st == VIR_DOMAIN_PAUSED;
		break;
	}
	if (!ok) {
		if (op == VIRT_VM_PAUSE && st == VIR_DOMAIN_PAUSED)
			bh_error(v->bh, "pause: workload \"%s\" is paused "
			         "already (let it run with 'resume %s')",
			         workload, workload);
		else
			bh_error(v->bh, "%s: workload \"%s\" is %s: %s", what,
			         workload, dom_state_name(st),
			         op == VIRT_VM_RESUME ?
			         "only a paused VM can be resumed" :
			         "start it first");
		goto out;
	}
	switch (op) {
	case VIRT_VM_SNAPSHOT:
		rc = vm_snapshot(v, dom, workload, name, result, len);
		goto out;
	case VIRT_VM_SHUTDOWN:
		/* ACPI only asks the guest; the lifecycle event tells when it
		 * is off.  A guest that ignores it needs `force`. */
		rc = virDomainShutdownFlags(dom,
		                            VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN);
		snprintf(result, len, "workload \"%s\": shutdown requested "
		         "(ACPI power button; 'shutdown %s force' if the guest "
		         "ignores it)", workload, workload);
		break;
	case VIRT_VM_DESTROY:
		rc = virDomainDestroy(dom);
		snprintf(result, len, "workload \"%s\" powered off (forced)",
		         workload);
		break;
	case VIRT_VM_PAUSE:
		rc = virDomainSuspend(dom);
		snprintf(result, len, "workload \"%s\" paused", workload);
		break;
	case VIRT_VM_RESUME:
		rc = virDomainResume(dom);
		snprintf(result, len, "workload \"%s\" resumed", workload);
		break;
	}
	if (rc < 0) {
		result[0] = '\0';
		bh_error(v->bh, "%s: workload \"%s\": libvirt refused: %s",
		         what, workload, verr());
	}
out:
	virDomainFree(dom);
	return rc < 0 ? -1 : 0;
}
