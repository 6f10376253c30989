/*
 * tcltui.c - the testfixture's commands for the TUI's own modules (tests
 * only; linked into build/testfixture, never into the binary).
 *
 *   tui_json TEXT ?KEY|INDEX ...?
 *       Parse TEXT with the TUI's JSON reader (tui/jsonr.c), step into it
 *       by object keys and array indexes, and return what is there written
 *       back as compact JSON (src/json.c).  A parse error is a Tcl error
 *       "offset N: ..."; a path that leads nowhere returns "(none)".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tcl.h>

#include "json.h"
#include "util.h"
#include "../tui/jsonr.h"

void tcltui_register(Tcl_Interp *interp);

static void dump(struct json *j, const struct jsonr *v)
{
	char num[64];

	switch (v->type) {
	case JSONR_NULL:
		json_null(j);
		break;
	case JSONR_BOOL:
		json_bool(j, v->b);
		break;
	case JSONR_NUM:
		if (v->is_int) {
			json_int(j, v->i);
		} else {
			/* the writer has no doubles: write the digits as a
			 * string so the test sees what was read */
			snprintf(num, sizeof num, "%.17g", v->num);
			json_str(j, num);
		}
		break;
	case JSONR_STR:
		json_str(j, v->s);
		break;
	case JSONR_ARR:
		json_arr_begin(j);
		for (size_t i = 0; i < v->n; i++)
			dump(j, &v->items[i]);
		json_arr_end(j);
		break;
	case JSONR_OBJ:
		json_obj_begin(j);
		for (size_t i = 0; i < v->n; i++) {
			json_key(j, v->keys[i]);
			dump(j, &v->items[i]);
		}
		json_obj_end(j);
		break;
	}
}

/* Usage: tui_json TEXT ?KEY|INDEX ...? */
static int tui_json_cmd(ClientData cd, Tcl_Interp *interp, int objc,
                        Tcl_Obj *const objv[])
{
	char err[256];
	int len;
	const char *text;
	struct jsonr *root;
	const struct jsonr *v;
	struct strbuf sb = STRBUF_INIT;
	struct json j;

	(void)cd;
	if (objc < 2) {
		Tcl_WrongNumArgs(interp, 1, objv, "TEXT ?KEY|INDEX ...?");
		return TCL_ERROR;
	}
	text = Tcl_GetStringFromObj(objv[1], &len);
	root = jsonr_parse(text, (size_t)len, err, sizeof err);
	if (!root) {
		Tcl_SetObjResult(interp, Tcl_NewStringObj(err, -1));
		return TCL_ERROR;
	}
	v = root;
	for (int i = 2; i < objc && v; i++) {
		const char *step = Tcl_GetString(objv[i]);
		if (v->type == JSONR_ARR)
			v = jsonr_at(v, (size_t)strtoul(step, NULL, 10));
		else
			v = jsonr_get(v, step);
	}
	if (!v) {
		Tcl_SetObjResult(interp, Tcl_NewStringObj("(none)", -1));
	} else {
		json_init(&j, &sb);
		dump(&j, v);
		Tcl_SetObjResult(interp, Tcl_NewStringObj(sb_str(&sb), -1));
	}
	sb_free(&sb);
	jsonr_free(root);
	return TCL_OK;
}

void tcltui_register(Tcl_Interp *interp)
{
	Tcl_CreateObjCommand(interp, "tui_json", tui_json_cmd, NULL, NULL);
}
