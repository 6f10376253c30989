/*
 * tcladdress.c - the testfixture's commands for address sources (address.h,
 * learn.h): the packet parser of the learning service, and a binding as
 * the daemon makes one, on a store of its own engine (no kernel).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tcl.h>

#include "address.h"
#include "bulkhead.h"
#include "learn.h"
#include "util.h"

/*
 * Usage: bh_learn_addr ETHERTYPE HEX ?MAC?
 *
 * The address learn_packet_addr() reads from the packet HEX (hex digits
 * from the network header on) of ETHERTYPE (0x0806, 0x0800, 0x86dd), with
 * MAC as the NIC's; "" when the packet claims nothing.
 */
static int
learn_addr_cmd(ClientData cd, Tcl_Interp *interp, int objc,
               Tcl_Obj *const objv[])
{
	const char *hex;
	size_t n, len;
	uint8_t *p;
	int et;
	char buf[64] = "";

	(void)cd;
	if (objc != 3 && objc != 4) {
		Tcl_WrongNumArgs(interp, 1, objv, "ETHERTYPE HEX ?MAC?");
		return TCL_ERROR;
	}
	if (Tcl_GetIntFromObj(interp, objv[1], &et) != TCL_OK)
		return TCL_ERROR;
	hex = Tcl_GetString(objv[2]);
	n = strlen(hex);
	p = xcalloc(n / 2 + 1, 1);
	for (len = 0; 2 * len + 1 < n; len++) {
		unsigned v;

		if (sscanf(hex + 2 * len, "%2x", &v) != 1) {
			free(p);
			Tcl_SetObjResult(interp, Tcl_NewStringObj("bad hex", -1));
			return TCL_ERROR;
		}
		p[len] = (uint8_t)v;
	}
	if (learn_packet_addr((uint16_t)et, p, len,
	                      objc == 4 ? Tcl_GetString(objv[3]) : NULL, buf,
	                      sizeof buf))
		buf[0] = '\0';
	free(p);
	Tcl_SetObjResult(interp, Tcl_NewStringObj(buf, -1));
	return TCL_OK;
}

/*
 * Usage: bh_address_bind DB IFNAME ADDR ORIGIN
 *
 * Opens the store DB (an engine without a kernel) and binds ADDR to
 * IFNAME as found by ORIGIN (libvirt, learned), as the daemon does.
 * Returns {1 WHY} when bound, {0 WHY} when not; a failure is an error.
 */
static int
address_bind_cmd(ClientData cd, Tcl_Interp *interp, int objc,
                 Tcl_Obj *const objv[])
{
	struct strbuf why = STRBUF_INIT;
	char err[BH_ERR_MAX];
	struct bh *bh;
	Tcl_Obj *r;
	int rc;

	(void)cd;
	if (objc != 5) {
		Tcl_WrongNumArgs(interp, 1, objv, "DB IFNAME ADDR ORIGIN");
		return TCL_ERROR;
	}
	bh = bh_open(Tcl_GetString(objv[1]), err, sizeof err);
	if (!bh) {
		Tcl_SetObjResult(interp, Tcl_NewStringObj(err, -1));
		return TCL_ERROR;
	}
	rc = policy_address_bind(bh, Tcl_GetString(objv[2]),
	                         Tcl_GetString(objv[3]),
	                         Tcl_GetString(objv[4]), &why, NULL);
	if (rc < 0) {
		Tcl_SetObjResult(interp, Tcl_NewStringObj(bh->err, -1));
		bh_close(bh);
		sb_free(&why);
		return TCL_ERROR;
	}
	r = Tcl_NewListObj(0, NULL);
	Tcl_ListObjAppendElement(interp, r, Tcl_NewIntObj(rc));
	Tcl_ListObjAppendElement(interp, r, Tcl_NewStringObj(sb_str(&why), -1));
	Tcl_SetObjResult(interp, r);
	bh_close(bh);
	sb_free(&why);
	return TCL_OK;
}

int tcladdress_register(Tcl_Interp *interp)
{
	Tcl_CreateObjCommand(interp, "bh_learn_addr", learn_addr_cmd, NULL,
	                     NULL);
	Tcl_CreateObjCommand(interp, "bh_address_bind", address_bind_cmd, NULL,
	                     NULL);
	return TCL_OK;
}
