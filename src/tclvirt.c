/*
 * tclvirt.c - testfixture commands for the libvirt provider (test support,
 * above the inventory-and-events layer): test/libvirt.test drives
 * src/libvirt.c through them against a real libvirtd.
 *
 * They are registered by tclvirt_register(), which src/tclbulkhead.c
 * calls from its app_init.  Each is thin: it converts its arguments,
 * calls one virt_* function and turns the result, or bh->err, into the
 * Tcl result.  A bh_virt handle owns its own engine context (struct bh)
 * on the store it is given, as the daemon will: tests look at the result
 * through an ordinary engine (bulkhead_engine) on the same store.
 * Like tclbulkhead.c it is linked into the testfixture only (Makefile).
 */
#include "libvirt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tcl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "bulkhead.h"
#include "policy.h"
#include "util.h"

struct vhandle {
	struct bh *bh;
	struct virt *v;
};

static int fail(Tcl_Interp *interp, const char *msg)
{
	Tcl_SetObjResult(interp, Tcl_NewStringObj(msg, -1));
	return TCL_ERROR;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void vhandle_delete(ClientData cd)
{
	struct vhandle *h = cd;

	virt_close(h->v);
	bh_close(h->bh);
	ckfree((char *)h);
}

static void dict_str(Tcl_Obj *d, const char *k, const char *v)
{
	Tcl_DictObjPut(NULL, d, Tcl_NewStringObj(k, -1),
	               Tcl_NewStringObj(v, -1));
}

static void dict_wide(Tcl_Obj *d, const char *k, int64_t v)
{
	Tcl_DictObjPut(NULL, d, Tcl_NewStringObj(k, -1),
	               Tcl_NewWideIntObj((Tcl_WideInt)v));
}

static Tcl_Obj *strv_list(const struct strv *sv)
{
	Tcl_Obj *l = Tcl_NewListObj(0, NULL);

	for (size_t i = 0; i < sv->n; i++)
		Tcl_ListObjAppendElement(NULL, l,
		                         Tcl_NewStringObj(sv->v[i], -1));
	return l;
}

/*
 * Usage: NAME sync ?DOMAIN?
 *        NAME events MS
 *        NAME wait MS
 *        NAME tag add|delete WORKLOAD TAG
 *        NAME addresses WORKLOAD lease|agent|arp
 *        NAME stats
 *        NAME connected
 *        NAME close
 *
 * sync: virt_sync, or virt_sync_domain of DOMAIN (name or uuid).
 * events: drive the event loop for MS milliseconds; returns the number
 * of domain syncs events caused.  wait: the same, but returns as soon as
 * one event caused a sync (0 when MS passed without one).  tag: virt_tag_add
 * or virt_tag_delete.  addresses: a list of {ifname mac addr family}.
 * stats: virt_stats_get as a dict (times in microseconds of the wall
 * clock, as [clock microseconds]).  Failures raise bh->err.
 */
static int vhandle_cmd(ClientData cd, Tcl_Interp *interp, int objc,
                       Tcl_Obj *const objv[])
{
	static const char *const subs[] = {
		"sync", "events", "wait", "tag", "addresses", "stats",
		"connected", "close", NULL
	};
	enum { S_SYNC, S_EVENTS, S_WAIT, S_TAG, S_ADDRESSES, S_STATS,
	       S_CONNECTED, S_CLOSE };
	struct vhandle *h = cd;
	int sub, rc;

	if (objc < 2) {
		Tcl_WrongNumArgs(interp, 1, objv, "subcommand ?arg ...?");
		return TCL_ERROR;
	}
	if (Tcl_GetIndexFromObj(interp, objv[1], subs, "subcommand", 0,
	                        &sub) != TCL_OK)
		return TCL_ERROR;
	switch (sub) {
	case S_SYNC:
		if (objc > 3) {
			Tcl_WrongNumArgs(interp, 2, objv, "?DOMAIN?");
			return TCL_ERROR;
		}
		rc = objc == 3 ? virt_sync_domain(h->v, Tcl_GetString(objv[2]))
		               : virt_sync(h->v);
		if (rc)
			return fail(interp, h->bh->err);
		return TCL_OK;
	case S_EVENTS:
	case S_WAIT: {
		int ms, total = 0;
		int64_t end;

		if (objc != 3) {
			Tcl_WrongNumArgs(interp, 2, objv, "MS");
			return TCL_ERROR;
		}
		if (Tcl_GetIntFromObj(interp, objv[2], &ms) != TCL_OK)
			return TCL_ERROR;
		end = mono_ms() + ms;
		for (;;) {
			int64_t left = end - mono_ms();

			if (left < 0)
				left = 0;
			rc = virt_event_run(h->v, (int)left);
			if (rc < 0)
				return fail(interp, h->bh->err);
			total += rc;
			if ((sub == S_WAIT && total) || left == 0)
				break;
		}
		Tcl_SetObjResult(interp, Tcl_NewIntObj(total));
		return TCL_OK;
	}
	case S_TAG: {
		const char *op;

		if (objc != 5) {
			Tcl_WrongNumArgs(interp, 2, objv, "add|delete WORKLOAD TAG");
			return TCL_ERROR;
		}
		op = Tcl_GetString(objv[2]);
		if (strcmp(op, "add") == 0)
			rc = virt_tag_add(h->v, Tcl_GetString(objv[3]),
			                  Tcl_GetString(objv[4]));
		else if (strcmp(op, "delete") == 0)
			rc = virt_tag_delete(h->v, Tcl_GetString(objv[3]),
			                     Tcl_GetString(objv[4]));
		else
			return fail(interp, "tag: use add or delete");
		if (rc)
			return fail(interp, h->bh->err);
		return TCL_OK;
	}
	case S_ADDRESSES: {
		struct virt_addr *a;
		size_t n;
		Tcl_Obj *l;

		if (objc != 4) {
			Tcl_WrongNumArgs(interp, 2, objv, "WORKLOAD SOURCE");
			return TCL_ERROR;
		}
		if (virt_addresses(h->v, Tcl_GetString(objv[2]),
		                   Tcl_GetString(objv[3]), &a, &n))
			return fail(interp, h->bh->err);
		l = Tcl_NewListObj(0, NULL);
		for (size_t i = 0; i < n; i++) {
			Tcl_Obj *e[4];

			e[0] = Tcl_NewStringObj(a[i].ifname, -1);
			e[1] = Tcl_NewStringObj(a[i].mac, -1);
			e[2] = Tcl_NewStringObj(a[i].addr, -1);
			e[3] = Tcl_NewIntObj(a[i].family);
			Tcl_ListObjAppendElement(NULL, l, Tcl_NewListObj(4, e));
		}
		free(a);
		Tcl_SetObjResult(interp, l);
		return TCL_OK;
	}
	case S_STATS: {
		struct virt_stats st;
		Tcl_Obj *d = Tcl_NewDictObj();

		virt_stats_get(h->v, &st);
		dict_wide(d, "events", (int64_t)st.events);
		dict_wide(d, "syncs", (int64_t)st.syncs);
		dict_wide(d, "sync_failures", (int64_t)st.sync_failures);
		dict_wide(d, "full_syncs", (int64_t)st.full_syncs);
		dict_wide(d, "connects", (int64_t)st.connects);
		dict_wide(d, "disconnects", (int64_t)st.disconnects);
		dict_wide(d, "connect_failures", (int64_t)st.connect_failures);
		dict_wide(d, "last_event_us", st.last_event_us);
		dict_wide(d, "last_sync_us", st.last_sync_us);
		dict_str(d, "last_event", st.last_event);
		dict_str(d, "last_domain", st.last_domain);
		dict_str(d, "last_error", st.last_error);
		Tcl_SetObjResult(interp, d);
		return TCL_OK;
	}
	case S_CONNECTED:
		Tcl_SetObjResult(interp, Tcl_NewIntObj(virt_connected(h->v)));
		return TCL_OK;
	case S_CLOSE:
		Tcl_DeleteCommand(interp, Tcl_GetString(objv[0]));
		return TCL_OK;
	}
	return TCL_OK;
}

/*
 * Usage: bh_virt NAME ?-db PATH? ?-uri URI? ?-user USER? ?-background?
 *
 * Open an engine context on the store PATH (the default store when not
 * given) and a libvirt provider on URI (qemu:///system) with it, as the
 * command NAME (see vhandle_cmd).  -background: virt_open_background, the
 * connection is made by the event loop.  Raises bh->err when libvirt
 * cannot be reached.
 */
static int bh_virt_cmd(ClientData cd, Tcl_Interp *interp, int objc,
                       Tcl_Obj *const objv[])
{
	const char *path = NULL, *uri = NULL, *user = NULL;
	char err[BH_ERR_MAX] = "";
	int background = 0;
	struct vhandle *h;
	struct bh *bh;
	struct virt *v;

	(void)cd;
	if (objc < 2) {
		Tcl_WrongNumArgs(interp, 1, objv, "NAME ?-db PATH? ?-uri URI? "
		                 "?-user USER? ?-background?");
		return TCL_ERROR;
	}
	for (int i = 2; i < objc; i++) {
		const char *o = Tcl_GetString(objv[i]);

		if (strcmp(o, "-background") == 0) {
			background = 1;
			continue;
		}
		if (i + 1 == objc)
			return fail(interp, "option needs a value");
		if (strcmp(o, "-db") == 0)
			path = Tcl_GetString(objv[++i]);
		else if (strcmp(o, "-uri") == 0)
			uri = Tcl_GetString(objv[++i]);
		else if (strcmp(o, "-user") == 0)
			user = Tcl_GetString(objv[++i]);
		else
			return fail(interp, "unknown option: use -db, -uri, "
			            "-user or -background");
	}
	bh = bh_open(path, err, sizeof err);
	if (!bh)
		return fail(interp, err[0] ? err : "bh_open failed");
	if (user)
		snprintf(bh->user, sizeof bh->user, "%s", user);
	v = background ? virt_open_background(bh, uri) : virt_open(bh, uri);
	if (!v) {
		Tcl_SetObjResult(interp, Tcl_NewStringObj(bh->err, -1));
		bh_close(bh);
		return TCL_ERROR;
	}
	h = (struct vhandle *)ckalloc(sizeof *h);
	h->bh = bh;
	h->v = v;
	Tcl_CreateObjCommand(interp, Tcl_GetString(objv[1]), vhandle_cmd, h,
	                     vhandle_delete);
	Tcl_SetObjResult(interp, objv[1]);
	return TCL_OK;
}

/*
 * Usage: bh_virt_parse XML
 *
 * virt_domain_parse of a domain XML text as a dict: name uuid os kind
 * source tags nics (a list of {ifname mac}).  Malformed XML raises the
 * parser's message.
 */
static int bh_virt_parse_cmd(ClientData cd, Tcl_Interp *interp, int objc,
                             Tcl_Obj *const objv[])
{
	struct workload w;
	char err[BH_ERR_MAX];
	Tcl_Obj *d, *nics;

	(void)cd;
	if (objc != 2) {
		Tcl_WrongNumArgs(interp, 1, objv, "XML");
		return TCL_ERROR;
	}
	if (virt_domain_parse(Tcl_GetString(objv[1]), &w, err, sizeof err))
		return fail(interp, err);
	d = Tcl_NewDictObj();
	dict_str(d, "name", w.name);
	dict_str(d, "uuid", w.uuid);
	dict_str(d, "os", w.os);
	dict_str(d, "kind", w.kind);
	dict_str(d, "source", w.source);
	Tcl_DictObjPut(NULL, d, Tcl_NewStringObj("tags", -1),
	               strv_list(&w.tags));
	nics = Tcl_NewListObj(0, NULL);
	for (size_t i = 0; i < w.nnics; i++) {
		Tcl_Obj *e[2];

		e[0] = Tcl_NewStringObj(w.nics[i].ifname, -1);
		e[1] = Tcl_NewStringObj(w.nics[i].mac, -1);
		Tcl_ListObjAppendElement(NULL, nics, Tcl_NewListObj(2, e));
	}
	Tcl_DictObjPut(NULL, d, Tcl_NewStringObj("nics", -1), nics);
	policy_workload_free(&w);
	Tcl_SetObjResult(interp, d);
	return TCL_OK;
}

/*
 * Usage: bh_virt_os ID
 *
 * virt_os_name of a libosinfo id.
 */
static int bh_virt_os_cmd(ClientData cd, Tcl_Interp *interp, int objc,
                          Tcl_Obj *const objv[])
{
	char buf[256];

	(void)cd;
	if (objc != 2) {
		Tcl_WrongNumArgs(interp, 1, objv, "ID");
		return TCL_ERROR;
	}
	virt_os_name(Tcl_GetString(objv[1]), buf, sizeof buf);
	Tcl_SetObjResult(interp, Tcl_NewStringObj(buf, -1));
	return TCL_OK;
}

/*
 * Usage: bh_virt_setmeta URI DOMAIN XML
 *
 * Write XML (the element, "" to remove it) as DOMAIN's bulkhead
 * metadata, live when it runs and persistent, through a connection of
 * its own, as another tool would; returns the wall-clock microseconds
 * just before the call, so that a test can time the metadata-change
 * event a bh_virt handle receives.
 */
static int bh_virt_setmeta_cmd(ClientData cd, Tcl_Interp *interp, int objc,
                               Tcl_Obj *const objv[])
{
	virConnectPtr c;
	virDomainPtr dom;
	const char *xml;
	unsigned flags = VIR_DOMAIN_AFFECT_CONFIG;
	struct timespec ts;
	int64_t t0;
	int rc;

	(void)cd;
	if (objc != 4) {
		Tcl_WrongNumArgs(interp, 1, objv, "URI DOMAIN XML");
		return TCL_ERROR;
	}
	c = virConnectOpen(Tcl_GetString(objv[1]));
	if (!c)
		return fail(interp, virGetLastErrorMessage());
	dom = virDomainLookupByName(c, Tcl_GetString(objv[2]));
	if (!dom) {
		Tcl_SetObjResult(interp, Tcl_NewStringObj(
		                 virGetLastErrorMessage(), -1));
		virConnectClose(c);
		return TCL_ERROR;
	}
	if (virDomainIsActive(dom) == 1)
		flags |= VIR_DOMAIN_AFFECT_LIVE;
	xml = Tcl_GetString(objv[3]);
	clock_gettime(CLOCK_REALTIME, &ts);
	t0 = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	rc = virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
	                          *xml ? xml : NULL, VIRT_METADATA_KEY,
	                          VIRT_METADATA_URI, flags);
	if (rc < 0)
		Tcl_SetObjResult(interp, Tcl_NewStringObj(
		                 virGetLastErrorMessage(), -1));
	else
		Tcl_SetObjResult(interp, Tcl_NewWideIntObj(t0));
	virDomainFree(dom);
	virConnectClose(c);
	return rc < 0 ? TCL_ERROR : TCL_OK;
}

int tclvirt_register(struct Tcl_Interp *interp)
{
	static const struct {
		const char *name;
		Tcl_ObjCmdProc *proc;
	} commands[] = {
		{ "bh_virt",         bh_virt_cmd },
		{ "bh_virt_parse",   bh_virt_parse_cmd },
		{ "bh_virt_os",      bh_virt_os_cmd },
		{ "bh_virt_setmeta", bh_virt_setmeta_cmd },
	};

	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		Tcl_CreateObjCommand(interp, commands[i].name, commands[i].proc,
		                     NULL, NULL);
	return TCL_OK;
}
