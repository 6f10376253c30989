/*
 * tclbulkhead.c - the testfixture: a tclsh with the bulkhead engine linked
 * in (test support, above the front-end layer).
 *
 * The Tcl test suite (the test/NAME.test files, driven by test/all.tcl)
 * reaches the engine through the commands registered here, all from the one
 * table at the bottom of this file.  They are thin: each converts its Tcl
 * arguments, calls one function of the engine headers and turns the result
 * (or the message in the engine's error slot) into a Tcl result, so that a
 * test exercises the engine's own code paths and not a re-implementation of
 * them.  Tests that
 * need the real program (batch mode, exit codes, the shell) run the bulkhead
 * binary instead; see test/tester.tcl.
 */
#include <stdio.h>
#include <string.h>

#include <tcl.h>

#include "bulkhead.h"
#include "cmd.h"
#include "daemon.h"
#include "match.h"
#include "policy.h"
#include "util.h"
#include "libvirt.h"
#include "learn.h"

/* One engine made by bulkhead_engine: the Tcl command NAME owns it. */
struct engine {
	struct bh *bh;
	Tcl_Command token;
	Tcl_Obj *events;    /* {TRIGGER WORKLOAD DETAIL} items, from bh->event */
};

/* A batch's output, both streams, into the strbuf @ctx. */
static void batch_emit(void *ctx, int stream, const char *text)
{
	(void)stream;
	sb_add(ctx, text);
}

/* bh->event of test engines: keep the event for `NAME events`. */
static void engine_event(struct bh *bh, const char *trigger,
                         const char *workload, const char *detail)
{
	struct engine *e = bh->event_handle;
	Tcl_Obj *item = Tcl_NewListObj(0, NULL);

	Tcl_ListObjAppendElement(NULL, item, Tcl_NewStringObj(trigger, -1));
	Tcl_ListObjAppendElement(NULL, item, Tcl_NewStringObj(workload, -1));
	Tcl_ListObjAppendElement(NULL, item, Tcl_NewStringObj(detail, -1));
	Tcl_ListObjAppendElement(NULL, e->events, item);
}

/* Set the interpreter result to @msg and return TCL_ERROR. */
static int
fail(Tcl_Interp *interp, const char *msg)
{
	Tcl_SetObjResult(interp, Tcl_NewStringObj(msg, -1));
	return TCL_ERROR;
}

/* Set the interpreter result to the text of @sb without its final newline:
 * the command language ends every output line with one, which Tcl scripts
 * would otherwise have to write into each expected value. */
static void
set_output(Tcl_Interp *interp, const struct strbuf *sb)
{
	const char *s = sb_str(sb);
	size_t n = strlen(s);

	if (n > 0 && s[n - 1] == '\n')
		n--;
	Tcl_SetObjResult(interp, Tcl_NewStringObj(s, (int)n));
}

/* Fill @sv from the Tcl list @obj. */
static int
list_to_strv(Tcl_Interp *interp, Tcl_Obj *obj, struct strv *sv)
{
	int n, i;
	Tcl_Obj **elems;

	if (Tcl_ListObjGetElements(interp, obj, &n, &elems) != TCL_OK)
		return TCL_ERROR;
	for (i = 0; i < n; i++)
		strv_push(sv, Tcl_GetString(elems[i]));
	return TCL_OK;
}

static Tcl_Obj *
strv_to_list(const struct strv *sv)
{
	Tcl_Obj *list = Tcl_NewListObj(0, NULL);
	size_t i;

	for (i = 0; i < sv->n; i++)
		Tcl_ListObjAppendElement(NULL, list,
		                         Tcl_NewStringObj(sv->v[i], -1));
	return list;
}

/* ---- engines ------------------------------------------------------------ */

/* Runs when the command NAME goes away (NAME close, rename, interpreter
 * deletion): the engine and its store connection go with it. */
static void
engine_delete(ClientData cd)
{
	struct engine *e = cd;

	bh_close(e->bh);
	Tcl_DecrRefCount(e->events);
	ckfree(e);
}

/*
 * Usage: NAME eval CMDLINE ?-json?
 *        NAME complete LINE
 *        NAME help_next LINE
 *        NAME events
 *        NAME batch TEXT
 *        NAME close
 *
 * eval runs CMDLINE (one or more commands separated by ';') with
 * cmd_exec() and returns its output without the final newline; a failing
 * command raises a Tcl error whose message is the engine's error slot,
 * without the "error: " that front ends add.  complete returns the list of
 * words cmd_complete() offers after LINE; help_next returns the `?` help
 * text for LINE.  events returns, and forgets, the operational events
 * bh->event has delivered since the last call: a list of {TRIGGER
 * WORKLOAD DETAIL}.  batch runs TEXT as an all-or-nothing batch, as
 * `bulkhead -c` does (batch_run_io), and returns {STATUS OUTPUT}: STATUS
 * 0 or 1, OUTPUT what went to standard output and standard error.
 */
static int
engine_cmd(ClientData cd, Tcl_Interp *interp, int objc, Tcl_Obj *const objv[])
{
	static const char *const subs[] = {
		"eval", "complete", "help_next", "close", "events", "batch",
		NULL
	};
	enum { SUB_EVAL, SUB_COMPLETE, SUB_HELP_NEXT, SUB_CLOSE, SUB_EVENTS,
	       SUB_BATCH };
	struct engine *e = cd;
	struct strbuf out = STRBUF_INIT;
	int sub, rc = TCL_OK;

	if (objc < 2) {
		Tcl_WrongNumArgs(interp, 1, objv, "eval|complete|help_next|close ...");
		return TCL_ERROR;
	}
	if (Tcl_GetIndexFromObj(interp, objv[1], subs, "subcommand", 0,
	                        &sub) != TCL_OK)
		return TCL_ERROR;

	switch (sub) {
	case SUB_EVAL: {
		struct cmd_opts o = { 0 };

		if (objc == 4 && strcmp(Tcl_GetString(objv[3]), "-json") == 0)
			o.json = 1;
		else if (objc != 3) {
			Tcl_WrongNumArgs(interp, 2, objv, "CMDLINE ?-json?");
			return TCL_ERROR;
		}
		e->bh->err[0] = '\0';
		if (cmd_exec(e->bh, &o, Tcl_GetString(objv[2]), &out) != 0)
			rc = fail(interp, e->bh->err);
		else
			set_output(interp, &out);
		break;
	}
	case SUB_COMPLETE: {
		struct strv words = STRV_INIT;

		if (objc != 3) {
			Tcl_WrongNumArgs(interp, 2, objv, "LINE");
			return TCL_ERROR;
		}
		e->bh->err[0] = '\0';
		if (cmd_complete(e->bh, Tcl_GetString(objv[2]), &words) != 0)
			rc = fail(interp, e->bh->err);
		else
			Tcl_SetObjResult(interp, strv_to_list(&words));
		strv_free(&words);
		break;
	}
	case SUB_HELP_NEXT:
		if (objc != 3) {
			Tcl_WrongNumArgs(interp, 2, objv, "LINE");
			return TCL_ERROR;
		}
		e->bh->err[0] = '\0';
		if (cmd_help_next(e->bh, Tcl_GetString(objv[2]), &out) != 0)
			rc = fail(interp, e->bh->err);
		else
			set_output(interp, &out);
		break;
	case SUB_BATCH: {
		struct cmd_opts o = { 0 };
		struct batch_io io = { batch_emit, NULL, &out };
		const char *text;
		Tcl_Obj *r;
		int st;

		if (objc != 3) {
			Tcl_WrongNumArgs(interp, 2, objv, "TEXT");
			return TCL_ERROR;
		}
		text = Tcl_GetString(objv[2]);
		st = batch_run_io(e->bh, &o, text, strlen(text), NULL, &io);
		r = Tcl_NewListObj(0, NULL);
		Tcl_ListObjAppendElement(NULL, r, Tcl_NewIntObj(st));
		Tcl_ListObjAppendElement(NULL, r,
		                         Tcl_NewStringObj(sb_str(&out), -1));
		Tcl_SetObjResult(interp, r);
		break;
	}
	case SUB_EVENTS:
		Tcl_SetObjResult(interp, e->events);
		Tcl_DecrRefCount(e->events);
		e->events = Tcl_NewListObj(0, NULL);
		Tcl_IncrRefCount(e->events);
		break;
	case SUB_CLOSE:
		if (objc != 2) {
			Tcl_WrongNumArgs(interp, 2, objv, NULL);
			return TCL_ERROR;
		}
		/* engine_delete frees e: touch nothing of it afterwards. */
		Tcl_DeleteCommandFromToken(interp, e->token);
		break;
	}
	sb_free(&out);
	return rc;
}

/*
 * Usage: bulkhead_engine NAME ?-db PATH? ?-user USER?
 *
 * Open the store at PATH (the default path without -db) with bh_open() and
 * create the command NAME that drives it (see engine_cmd).  -user replaces
 * the acting user that bh_open() took from the environment, so one test can
 * play several users, each with a private candidate, on one store.  The
 * engine is store-only: no enforcer is attached here.
 */
static int
bulkhead_engine_cmd(ClientData cd, Tcl_Interp *interp, int objc,
                    Tcl_Obj *const objv[])
{
	const char *path = NULL, *user = NULL;
	char err[BH_ERR_MAX];
	struct engine *e;
	struct bh *bh;
	int i;

	(void)cd;  /* no per-command state */

	if (objc < 2 || objc % 2 != 0) {
		Tcl_WrongNumArgs(interp, 1, objv, "NAME ?-db PATH? ?-user USER?");
		return TCL_ERROR;
	}
	for (i = 2; i < objc; i += 2) {
		const char *opt = Tcl_GetString(objv[i]);

		if (strcmp(opt, "-db") == 0)
			path = Tcl_GetString(objv[i + 1]);
		else if (strcmp(opt, "-user") == 0)
			user = Tcl_GetString(objv[i + 1]);
		else {
			Tcl_SetObjResult(interp, Tcl_ObjPrintf(
			    "bad option \"%s\": must be -db or -user", opt));
			return TCL_ERROR;
		}
	}
	if (user && (user[0] == '\0' || strlen(user) >= sizeof bh->user))
		return fail(interp, "-user: give 1-63 characters");

	err[0] = '\0';
	bh = bh_open(path, err, sizeof err);
	if (!bh)
		return fail(interp, err[0] ? err : "bh_open failed");
	if (user)
		snprintf(bh->user, sizeof bh->user, "%s", user);

	e = (struct engine *)ckalloc(sizeof *e);
	e->bh = bh;
	e->events = Tcl_NewListObj(0, NULL);
	Tcl_IncrRefCount(e->events);
	bh->event = engine_event;
	bh->event_handle = e;
	e->token = Tcl_CreateObjCommand(interp, Tcl_GetString(objv[1]),
	                                engine_cmd, e, engine_delete);
	Tcl_SetObjResult(interp, objv[1]);
	return TCL_OK;
}

/* ---- util and match ----------------------------------------------------- */

/*
 * Usage: bh_tokenize LINE
 *
 * The tokens of LINE as a list of {text quoted col}; a lexical error (an
 * unterminated quote) is raised with tokenize()'s message.
 */
static int
bh_tokenize_cmd(ClientData cd, Tcl_Interp *interp, int objc,
                Tcl_Obj *const objv[])
{
	struct tokv tv = TOKV_INIT;
	char err[BH_ERR_MAX];
	Tcl_Obj *list;
	size_t i;

	(void)cd;  /* no per-command state */

	if (objc != 2) {
		Tcl_WrongNumArgs(interp, 1, objv, "LINE");
		return TCL_ERROR;
	}
	err[0] = '\0';
	if (tokenize(Tcl_GetString(objv[1]), &tv, err, sizeof err) != 0) {
		tokv_free(&tv);
		return fail(interp, err);
	}
	list = Tcl_NewListObj(0, NULL);
	for (i = 0; i < tv.n; i++) {
		Tcl_Obj *t[3];

		t[0] = Tcl_NewStringObj(tv.v[i].text, -1);
		t[1] = Tcl_NewIntObj(tv.v[i].quoted);
		t[2] = Tcl_NewIntObj(tv.v[i].col);
		Tcl_ListObjAppendElement(NULL, list, Tcl_NewListObj(3, t));
	}
	tokv_free(&tv);
	Tcl_SetObjResult(interp, list);
	return TCL_OK;
}

/*
 * Usage: bh_match_format EXPR
 *
 * The canonical text of the match expression EXPR (what the store keeps);
 * a bad expression is raised with the parser's message.
 */
static int
bh_match_format_cmd(ClientData cd, Tcl_Interp *interp, int objc,
                    Tcl_Obj *const objv[])
{
	struct strbuf sb = STRBUF_INIT;
	char err[BH_ERR_MAX];
	struct match *m;

	(void)cd;  /* no per-command state */

	if (objc != 2) {
		Tcl_WrongNumArgs(interp, 1, objv, "EXPR");
		return TCL_ERROR;
	}
	err[0] = '\0';
	m = match_parse(Tcl_GetString(objv[1]), err, sizeof err);
	if (!m)
		return fail(interp, err);
	match_format(m, &sb);
	Tcl_SetObjResult(interp, Tcl_NewStringObj(sb_str(&sb), -1));
	sb_free(&sb);
	match_free(m);
	return TCL_OK;
}

/* in_group callback of bh_match_eval: membership from the -groups list. */
static int
in_group_list(void *ctx, const char *group)
{
	return strv_contains(ctx, group);
}

/*
 * Usage: bh_match_eval EXPR ?-name N? ?-os O? ?-host H? ?-tags LIST?
 *                           ?-groups LIST?
 *
 * 1 when a workload with these attributes matches EXPR, else 0.  -groups
 * lists the groups the workload is taken to be in, for `group X` terms.
 * Unset attributes are "" (no tags, no groups).
 */
static int
bh_match_eval_cmd(ClientData cd, Tcl_Interp *interp, int objc,
                  Tcl_Obj *const objv[])
{
	static const char *const opts[] = {
		"-name", "-os", "-host", "-tags", "-groups", NULL
	};
	enum { OPT_NAME, OPT_OS, OPT_HOST, OPT_TAGS, OPT_GROUPS };
	struct strv tags = STRV_INIT, groups = STRV_INIT;
	struct match_subject s;
	char err[BH_ERR_MAX];
	struct match *m;
	int i, rc = TCL_ERROR;

	(void)cd;  /* no per-command state */

	if (objc < 2 || objc % 2 != 0) {
		Tcl_WrongNumArgs(interp, 1, objv, "EXPR ?-name N? ?-os O? "
		                 "?-host H? ?-tags LIST? ?-groups LIST?");
		return TCL_ERROR;
	}
	memset(&s, 0, sizeof s);
	s.name = s.os = s.host = "";
	s.tags = &tags;
	s.in_group = in_group_list;
	s.ctx = &groups;
	for (i = 2; i < objc; i += 2) {
		int opt;

		if (Tcl_GetIndexFromObj(interp, objv[i], opts, "option", 0,
		                        &opt) != TCL_OK)
			goto out;
		switch (opt) {
		case OPT_NAME: s.name = Tcl_GetString(objv[i + 1]); break;
		case OPT_OS:   s.os = Tcl_GetString(objv[i + 1]); break;
		case OPT_HOST: s.host = Tcl_GetString(objv[i + 1]); break;
		case OPT_TAGS:
			if (list_to_strv(interp, objv[i + 1], &tags) != TCL_OK)
				goto out;
			break;
		case OPT_GROUPS:
			if (list_to_strv(interp, objv[i + 1], &groups) != TCL_OK)
				goto out;
			break;
		}
	}
	/* The engine keeps tags sorted; give the evaluator the same. */
	strv_uniq(&tags);
	err[0] = '\0';
	m = match_parse(Tcl_GetString(objv[1]), err, sizeof err);
	if (!m) {
		fail(interp, err);
		goto out;
	}
	Tcl_SetObjResult(interp, Tcl_NewIntObj(match_eval(m, &s) ? 1 : 0));
	match_free(m);
	rc = TCL_OK;
out:
	strv_free(&tags);
	strv_free(&groups);
	return rc;
}

/*
 * Usage: bh_suggest WORD LIST
 *
 * The element of LIST closest to WORD by util_suggest(), or "" when none
 * is close enough.
 */
static int
bh_suggest_cmd(ClientData cd, Tcl_Interp *interp, int objc,
               Tcl_Obj *const objv[])
{
	struct strv cands = STRV_INIT;
	const char *best;

	(void)cd;  /* no per-command state */

	if (objc != 3) {
		Tcl_WrongNumArgs(interp, 1, objv, "WORD LIST");
		return TCL_ERROR;
	}
	if (list_to_strv(interp, objv[2], &cands) != TCL_OK) {
		strv_free(&cands);
		return TCL_ERROR;
	}
	best = util_suggest(Tcl_GetString(objv[1]),
	                    (const char *const *)cands.v, cands.n);
	Tcl_SetObjResult(interp, Tcl_NewStringObj(best ? best : "", -1));
	strv_free(&cands);
	return TCL_OK;
}

/*
 * Usage: bh_addr TEXT ?-prefix?
 *
 * {canonical family} of the address TEXT (family 4 or 6); with -prefix a
 * CIDR is accepted too.  Bad input is raised with util_addr_parse()'s
 * message.
 */
static int
bh_addr_cmd(ClientData cd, Tcl_Interp *interp, int objc,
            Tcl_Obj *const objv[])
{
	char canon[128], err[BH_ERR_MAX];
	int family = 0, prefix = 0;
	Tcl_Obj *r[2];

	(void)cd;  /* no per-command state */

	if (objc == 3 && strcmp(Tcl_GetString(objv[2]), "-prefix") == 0)
		prefix = 1;
	else if (objc != 2) {
		Tcl_WrongNumArgs(interp, 1, objv, "TEXT ?-prefix?");
		return TCL_ERROR;
	}
	err[0] = '\0';
	if (util_addr_parse(Tcl_GetString(objv[1]), prefix, canon,
	                    sizeof canon, &family, err, sizeof err) != 0)
		return fail(interp, err);
	r[0] = Tcl_NewStringObj(canon, -1);
	r[1] = Tcl_NewIntObj(family);
	Tcl_SetObjResult(interp, Tcl_NewListObj(2, r));
	return TCL_OK;
}

/*
 * Usage: bh_ports TEXT
 *
 * The canonical form of the port list TEXT ("443", "8000-8080,9000").
 */
static int
bh_ports_cmd(ClientData cd, Tcl_Interp *interp, int objc,
             Tcl_Obj *const objv[])
{
	char canon[1024], err[BH_ERR_MAX];

	(void)cd;  /* no per-command state */

	if (objc != 2) {
		Tcl_WrongNumArgs(interp, 1, objv, "TEXT");
		return TCL_ERROR;
	}
	err[0] = '\0';
	if (util_ports_parse(Tcl_GetString(objv[1]), canon, sizeof canon, err,
	                     sizeof err) != 0)
		return fail(interp, err);
	Tcl_SetObjResult(interp, Tcl_NewStringObj(canon, -1));
	return TCL_OK;
}

/*
 * Usage: bh_mac TEXT
 *
 * The canonical (lowercase, ':'-separated) form of the MAC address TEXT.
 */
static int
bh_mac_cmd(ClientData cd, Tcl_Interp *interp, int objc,
           Tcl_Obj *const objv[])
{
	char canon[64], err[BH_ERR_MAX];

	(void)cd;  /* no per-command state */

	if (objc != 2) {
		Tcl_WrongNumArgs(interp, 1, objv, "TEXT");
		return TCL_ERROR;
	}
	err[0] = '\0';
	if (util_mac_parse(Tcl_GetString(objv[1]), canon, sizeof canon, err,
	                   sizeof err) != 0)
		return fail(interp, err);
	Tcl_SetObjResult(interp, Tcl_NewStringObj(canon, -1));
	return TCL_OK;
}

/*
 * Usage: bh_duration TEXT
 *
 * The number of seconds in the duration TEXT ("30s", "15m", "2h", "1d",
 * or bare seconds).
 */
static int
bh_duration_cmd(ClientData cd, Tcl_Interp *interp, int objc,
                Tcl_Obj *const objv[])
{
	char err[BH_ERR_MAX];
	int64_t secs = 0;

	(void)cd;  /* no per-command state */

	if (objc != 2) {
		Tcl_WrongNumArgs(interp, 1, objv, "TEXT");
		return TCL_ERROR;
	}
	err[0] = '\0';
	if (util_duration_parse(Tcl_GetString(objv[1]), &secs, err,
	                        sizeof err) != 0)
		return fail(interp, err);
	Tcl_SetObjResult(interp, Tcl_NewWideIntObj((Tcl_WideInt)secs));
	return TCL_OK;
}

/*
 * Usage: bh_name KIND NAME
 *
 * "" when NAME is acceptable, else the validator's message is raised.
 * KIND "tag" checks a tag (util_tag_check), "interface" an interface name
 * (util_ifname_check); any other KIND ("group", "workload", "service"...)
 * checks an object name with util_name_check(), KIND going into the
 * message.
 */
static int
bh_name_cmd(ClientData cd, Tcl_Interp *interp, int objc,
            Tcl_Obj *const objv[])
{
	const char *kind, *name;
	char err[BH_ERR_MAX];
	int rc;

	(void)cd;  /* no per-command state */

	if (objc != 3) {
		Tcl_WrongNumArgs(interp, 1, objv, "KIND NAME");
		return TCL_ERROR;
	}
	kind = Tcl_GetString(objv[1]);
	name = Tcl_GetString(objv[2]);
	err[0] = '\0';
	if (strcmp(kind, "tag") == 0)
		rc = util_tag_check(name, err, sizeof err);
	else if (strcmp(kind, "interface") == 0)
		rc = util_ifname_check(name, err, sizeof err);
	else
		rc = util_name_check(kind, name, err, sizeof err);
	if (rc != 0)
		return fail(interp, err);
	Tcl_ResetResult(interp);
	return TCL_OK;
}

/* ---- registration ------------------------------------------------------- */

/* Every command the testfixture adds to Tcl; SPEC.md "Tests" lists them. */
static const struct {
	const char *name;
	Tcl_ObjCmdProc *proc;
} commands[] = {
	{ "bulkhead_engine", bulkhead_engine_cmd },
	{ "bh_tokenize",     bh_tokenize_cmd },
	{ "bh_match_format", bh_match_format_cmd },
	{ "bh_match_eval",   bh_match_eval_cmd },
	{ "bh_suggest",      bh_suggest_cmd },
	{ "bh_addr",         bh_addr_cmd },
	{ "bh_ports",        bh_ports_cmd },
	{ "bh_mac",          bh_mac_cmd },
	{ "bh_duration",     bh_duration_cmd },
	{ "bh_name",         bh_name_cmd },
};

/* src/tcltui.c: the TUI's JSON reader for the tests. */
void tcltui_register(Tcl_Interp *interp);

static int
app_init(Tcl_Interp *interp)
{
	size_t i;

	if (Tcl_Init(interp) != TCL_OK)
		return TCL_ERROR;
	for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
		Tcl_CreateObjCommand(interp, commands[i].name, commands[i].proc,
		                     NULL, NULL);
	/* The libvirt provider's commands live beside it, in tclvirt.c. */
	tclvirt_register(interp);
	tcladdress_register(interp);    /* tcladdress.c */
	/* The TUI's modules' commands, in tcltui.c. */
	tcltui_register(interp);
	return TCL_OK;
}

int
main(int argc, char **argv)
{
	Tcl_Main(argc, argv, app_init);
	return 0;
}
