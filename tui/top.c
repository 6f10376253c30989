/*
 * top.c - `bulkhead top`, the live TUI (front end): three panes
 * (workloads, rules with their hit counters, the flow log) refreshed from
 * the engine's JSON `show` commands, with sorting, filtering, pause, a
 * detail view and quarantine/release of the selected workload.
 *
 * It is a client like the shell: every figure comes from `show ... --json`
 * through tui/conn.c, the daemon's answers read without blocking from the
 * one poll() of the loop below, which also waits for keys.  Nothing here
 * knows policy; what a pane shows is what the JSON says (fields it does
 * not know are ignored, fields it misses are left blank).
 *
 * Drawing: the whole screen is drawn into stdscr after werase() and sent
 * with wnoutrefresh()+doupdate(), so curses sends only what changed (no
 * flicker over SSH); KEY_RESIZE (SIGWINCH) lays the panes out again.
 */
#include <ctype.h>
#include <curses.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead.h"
#include "conn.h"
#include "jsonr.h"
#include "top.h"
#include "util.h"

#define MAXCOL 8
#define FLOWS_MAX 2000

enum tone { TONE_NONE, TONE_ALLOW, TONE_DROP, TONE_MONITOR };
enum { P_WL, P_RULES, P_FLOWS, NPANE };

struct col {
	const char *name;
	int width;            /* 0: shares what is left */
	int numeric;          /* sorted by num[] */
	int right;            /* right-aligned */
};

struct row {
	char *key;            /* identity across refreshes */
	char *cell[MAXCOL];
	double num[MAXCOL];
	int tone;
	char *detail;         /* the detail view's text */
	int64_t rule;         /* flows: the rule's id, 0 when none */
};

struct pane {
	const char *title;
	const struct col *cols;
	int ncols;
	struct row *rows;
	size_t n, cap;
	size_t *view;         /* rows that pass the filter, sorted */
	size_t nview;
	size_t sel, top;      /* into view */
	char selkey[256];
	int sortcol, desc;
	char filter[64];
	char note[512];       /* why it is empty, or an error */
	int y, h;             /* on screen */
};

static const struct col wl_cols[] = {
	{ "NAME", 14, 0, 0 }, { "KIND", 9, 0, 0 }, { "STATE", 8, 0, 0 },
	{ "QUAR", 4, 0, 0 }, { "ADDRESSES", 0, 0, 0 }, { "GROUPS", 0, 0, 0 },
};
static const struct col rule_cols[] = {
	{ "ID", 4, 1, 1 }, { "SECTION", 14, 0, 0 }, { "ACTION", 7, 0, 0 },
	{ "HITS", 7, 1, 1 }, { "RATE/s", 7, 1, 1 }, { "LAST", 5, 1, 1 },
	{ "MATCH", 0, 0, 0 },
};
static const struct col flow_cols[] = {
	{ "TIME", 8, 1, 0 }, { "VERDICT", 7, 0, 0 }, { "DIR", 3, 0, 0 },
	{ "WORKLOAD", 8, 0, 0 }, { "PROTO", 6, 0, 0 }, { "SOURCE", 0, 0, 0 },
	{ "DESTINATION", 0, 0, 0 }, { "RULE", 4, 1, 1 },
};

/* A counter's history, for the rate and the last hit when the daemon
 * does not send them. */
struct hist {
	char *name;
	int64_t packets, at, last_hit;
	double rate;
};

enum mode { M_MAIN, M_HELP, M_DETAIL, M_CONFIRM, M_FILTER };

/* The refresh cycle's requests, in order. */
enum step { S_STATE, S_WL, S_RULES, S_CTRS, S_FLOWS, S_NSTEP };

struct top {
	struct top_conn *conn;
	struct pane p[NPANE];
	int focus;
	enum mode mode;
	int color, paused, quit;
	int interval_ms;
	int64_t next_at;          /* the next refresh */
	int step;                 /* of the cycle under way, -1 idle */
	int64_t revision;
	int64_t refreshed_at;
	struct jsonr *rules_doc, *ctrs_doc;
	struct hist *hist;
	size_t nhist;
	int64_t flow_seq;         /* the newest flow seen */
	int flow_legacy;          /* the daemon has no flow log yet */
	int64_t flows_lost;
	char action[256];         /* waiting to be sent */
	int action_sent;
	char msg[512];            /* the footer's message */
	int msg_error;
	int msg_conn;             /* it is about the connection: cleared
	                             when the daemon answers again */
	/* the dialog / detail / filter input */
	char confirm_cmd[256], confirm_text[256];
	struct strv detail;
	int detail_top;
	char input[64];
};

/* ---- small helpers ------------------------------------------------------- */

static void row_free(struct row *r)
{
	free(r->key);
	for (int i = 0; i < MAXCOL; i++)
		free(r->cell[i]);
	free(r->detail);
	memset(r, 0, sizeof *r);
}

static void pane_clear(struct pane *p)
{
	for (size_t i = 0; i < p->n; i++)
		row_free(&p->rows[i]);
	p->n = 0;
}

static struct row *pane_add(struct pane *p, const char *key)
{
	struct row *r;

	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->rows = xrealloc(p->rows, p->cap * sizeof *p->rows);
	}
	r = &p->rows[p->n++];
	memset(r, 0, sizeof *r);
	r->key = xstrdup(key);
	return r;
}

static void cell(struct row *r, int i, const char *s, double num)
{
	free(r->cell[i]);
	r->cell[i] = xstrdup(s ? s : "");
	r->num[i] = num;
}

static void cellf(struct row *r, int i, double num, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void cellf(struct row *r, int i, double num, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	cell(r, i, buf, num);
}

/* An array of strings joined by @sep ("" when absent). */
static void join(const struct jsonr *arr, const char *sep, struct strbuf *sb)
{
	for (size_t i = 0; arr && arr->type == JSONR_ARR && i < arr->n; i++) {
		const char *s = jsonr_str(&arr->items[i]);
		if (!s)
			continue;
		if (sb->len)
			sb_add(sb, sep);
		sb_add(sb, s);
	}
}

static int tone_of(const char *verdict)
{
	if (!verdict)
		return TONE_NONE;
	if (!strcmp(verdict, "allow"))
		return TONE_ALLOW;
	if (!strcmp(verdict, "drop") || !strcmp(verdict, "reject"))
		return TONE_DROP;
	if (!strcmp(verdict, "monitor"))
		return TONE_MONITOR;
	return TONE_NONE;
}

/* 1234, 12.3k, 4.5M: a count in at most 6 characters. */
static void human(int64_t v, char *buf, size_t len)
{
	if (v < 100000)
		snprintf(buf, len, "%" PRId64, v);
	else if (v < 10000000)
		snprintf(buf, len, "%.1fk", (double)v / 1e3);
	else if (v < 10000000000LL)
		snprintf(buf, len, "%.1fM", (double)v / 1e6);
	else
		snprintf(buf, len, "%.1fG", (double)v / 1e9);
}

/* How long ago @ms was: "3s", "12m", "5h", "2d"; "-" for never. */
static void age(int64_t ms, int64_t now, char *buf, size_t len)
{
	int64_t s = (now - ms) / 1000;

	if (ms <= 0)
		snprintf(buf, len, "-");
	else if (s < 0)
		snprintf(buf, len, "0s");
	else if (s < 100)
		snprintf(buf, len, "%" PRId64 "s", s);
	else if (s < 6000)
		snprintf(buf, len, "%" PRId64 "m", s / 60);
	else if (s < 360000)
		snprintf(buf, len, "%" PRId64 "h", s / 3600);
	else
		snprintf(buf, len, "%" PRId64 "d", s / 86400);
}

static void clock_text(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%H:%M:%S", &tm);
}

/* An address and port as "a:p" or "[a]:p" (IPv6), or the address alone. */
static void endpoint(const char *addr, int64_t port, char *buf, size_t len)
{
	if (!addr)
		addr = "?";
	if (port < 0)
		snprintf(buf, len, "%s", addr);
	else if (strchr(addr, ':'))
		snprintf(buf, len, "[%s]:%" PRId64, addr, port);
	else
		snprintf(buf, len, "%s:%" PRId64, addr, port);
}

/* The message of a failed command: the "error" of its JSON, else the
 * first line of what it wrote, without "error: ". */
static void error_text(const struct strbuf *out, const struct strbuf *err,
                       char *buf, size_t len)
{
	struct jsonr *doc = out->len ? jsonr_parse(out->s, out->len, NULL, 0)
	                             : NULL;
	const char *e = jsonr_kstr(doc, "error");
	const char *t;
	size_t n;

	if (e) {
		snprintf(buf, len, "%s", e);
		jsonr_free(doc);
		return;
	}
	jsonr_free(doc);
	t = err->len ? sb_str(err) : out->len ? sb_str(out) : "failed";
	if (!strncmp(t, "error: ", 7))
		t += 7;
	n = strcspn(t, "\n");
	snprintf(buf, len, "%.*s", (int)n, t);
}

static void set_msg(struct top *t, int error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_msg(struct top *t, int error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->msg, sizeof t->msg, fmt, ap);
	va_end(ap);
	t->msg_error = error;
	t->msg_conn = 0;
}

/* ---- the view: filter and sort ------------------------------------------ */

static const struct pane *sort_pane;

static int cmp_rows(const void *a, const void *b)
{
	const struct pane *p = sort_pane;
	const struct row *x = &p->rows[*(const size_t *)a];
	const struct row *y = &p->rows[*(const size_t *)b];
	int c = p->sortcol, r;

	if (p->cols[c].numeric)
		r = x->num[c] < y->num[c] ? -1 : x->num[c] > y->num[c];
	else
		r = strcasecmp(x->cell[c] ? x->cell[c] : "",
		               y->cell[c] ? y->cell[c] : "");
	if (!r)
		r = strcmp(x->key, y->key);
	return p->desc ? -r : r;
}

static int row_matches(const struct pane *p, const struct row *r)
{
	if (!p->filter[0])
		return 1;
	for (int i = 0; i < p->ncols; i++)
		if (r->cell[i] && strcasestr(r->cell[i], p->filter))
			return 1;
	return 0;
}

/* Rebuild the view after the rows, the filter or the order changed; the
 * selection stays on the same row (by key) when it is still there. */
static void pane_view(struct pane *p)
{
	p->view = xrealloc(p->view, (p->n + 1) * sizeof *p->view);
	p->nview = 0;
	for (size_t i = 0; i < p->n; i++)
		if (row_matches(p, &p->rows[i]))
			p->view[p->nview++] = i;
	sort_pane = p;
	qsort(p->view, p->nview, sizeof *p->view, cmp_rows);
	if (p->selkey[0]) {
		for (size_t i = 0; i < p->nview; i++)
			if (!strcmp(p->rows[p->view[i]].key, p->selkey)) {
				p->sel = i;
				break;
			}
	}
	if (p->sel >= p->nview)
		p->sel = p->nview ? p->nview - 1 : 0;
}

static const struct row *pane_selected(const struct pane *p)
{
	return p->nview ? &p->rows[p->view[p->sel]] : NULL;
}

static void pane_select(struct pane *p, long delta)
{
	long s = (long)p->sel + delta;
	const struct row *r;

	if (s >= (long)p->nview)
		s = (long)p->nview - 1;
	if (s < 0)
		s = 0;
	p->sel = (size_t)s;
	r = pane_selected(p);
	snprintf(p->selkey, sizeof p->selkey, "%s", r ? r->key : "");
}

/* ---- reading the answers ------------------------------------------------- */

static void load_workloads(struct top *t, const struct jsonr *doc)
{
	struct pane *p = &t->p[P_WL];
	const struct jsonr *arr = jsonr_get(doc, "workloads");

	pane_clear(p);
	p->note[0] = '\0';
	for (size_t i = 0; arr && i < arr->n; i++) {
		const struct jsonr *w = &arr->items[i];
		const struct jsonr *q = jsonr_get(w, "quarantined");
		const struct jsonr *nics = jsonr_get(w, "nics");
		const char *name = jsonr_kstr(w, "name");
		struct strbuf groups = STRBUF_INIT, tags = STRBUF_INIT;
		struct strbuf addrs = STRBUF_INIT, d = STRBUF_INIT;
		struct row *r;
		int quar;

		if (!name)
			continue;
		join(jsonr_get(w, "groups"), ",", &groups);
		join(jsonr_get(w, "tags"), ",", &tags);
		/* quarantined: a field of its own when the engine has one,
		 * else membership of the quarantine group */
		if (!q)
			q = jsonr_get(w, "quarantine");
		quar = q ? (q->type == JSONR_BOOL ? q->b :
		            q->type != JSONR_NULL) : 0;
		if (!q) {
			const struct jsonr *g = jsonr_get(w, "groups");
			for (size_t k = 0; g && k < g->n; k++)
				if (jsonr_str(&g->items[k]) &&
				    !strcmp(g->items[k].s, "quarantine"))
					quar = 1;
		}
		/* the first address and how many more: the detail has all */
		{
			struct strbuf all = STRBUF_INIT;
			size_t more = 0;

			for (size_t k = 0; nics && k < nics->n; k++)
				join(jsonr_get(&nics->items[k], "addresses"), ",",
				     &all);
			for (const char *c = sb_str(&all); *c; c++)
				more += *c == ',';
			sb_addn(&addrs, sb_str(&all), strcspn(sb_str(&all), ","));
			if (more)
				sb_addf(&addrs, " +%zu", more);
			sb_free(&all);
		}
		r = pane_add(p, name);
		cell(r, 0, name, 0);
		cell(r, 1, jsonr_kstr(w, "kind"), 0);
		cell(r, 2, jsonr_kstr(w, "state"), 0);
		cell(r, 3, quar ? "yes" : "", quar);
		cell(r, 4, sb_str(&addrs), 0);
		cell(r, 5, sb_str(&groups), 0);
		r->tone = quar ? TONE_DROP : TONE_NONE;
		sb_addf(&d, "workload %s\n\n", name);
		sb_addf(&d, "kind:        %s\n", r->cell[1]);
		sb_addf(&d, "state:       %s\n", r->cell[2]);
		sb_addf(&d, "quarantined: %s\n", quar ? "yes" : "no");
		if (q && jsonr_get(q, "reason"))
			sb_addf(&d, "reason:      %s\n", jsonr_kstr(q, "reason"));
		if (jsonr_kstr(w, "os") && *jsonr_kstr(w, "os"))
			sb_addf(&d, "os:          %s\n", jsonr_kstr(w, "os"));
		if (jsonr_kstr(w, "uuid") && *jsonr_kstr(w, "uuid"))
			sb_addf(&d, "uuid:        %s\n", jsonr_kstr(w, "uuid"));
		if (jsonr_kstr(w, "netns") && *jsonr_kstr(w, "netns"))
			sb_addf(&d, "netns:       %s\n", jsonr_kstr(w, "netns"));
		sb_addf(&d, "tags:        %s\n", sb_str(&tags));
		sb_addf(&d, "groups:      %s\n", sb_str(&groups));
		for (size_t k = 0; nics && k < nics->n; k++) {
			struct strbuf a = STRBUF_INIT;
			join(jsonr_get(&nics->items[k], "addresses"), " ", &a);
			sb_addf(&d, "nic:         %s %s %s\n",
			        jsonr_kstr(&nics->items[k], "ifname") ?
			        jsonr_kstr(&nics->items[k], "ifname") : "?",
			        jsonr_kstr(&nics->items[k], "mac") ?
			        jsonr_kstr(&nics->items[k], "mac") : "",
			        sb_str(&a));
			sb_free(&a);
		}
		r->detail = xstrdup(sb_str(&d));
		sb_free(&d);
		sb_free(&groups);
		sb_free(&tags);
		sb_free(&addrs);
	}
	if (!p->n)
		snprintf(p->note, sizeof p->note, "no workloads");
	pane_view(p);
}

static struct hist *hist_of(struct top *t, const char *name)
{
	for (size_t i = 0; i < t->nhist; i++)
		if (!strcmp(t->hist[i].name, name))
			return &t->hist[i];
	t->hist = xrealloc(t->hist, (t->nhist + 1) * sizeof *t->hist);
	memset(&t->hist[t->nhist], 0, sizeof *t->hist);
	t->hist[t->nhist].name = xstrdup(name);
	return &t->hist[t->nhist++];
}

/* A counter's packets, rate and last hit: the daemon's figures when it
 * sends them, else from the previous sample.  The rate is smoothed over
 * about 5 s, as top's load figures are: a rule hit once a second reads
 * about 1/s rather than jumping between 0 and 2. */
static void counter_figures(struct top *t, const struct jsonr *c,
                            int64_t now, double *rate, int64_t *last)
{
	const char *name = jsonr_kstr(c, "name");
	int64_t packets = jsonr_kint(c, "packets", 0);
	struct hist *h = hist_of(t, name ? name : "?");

	if (h->at && now - h->at >= 200) {
		if (packets >= h->packets) {
			double dt = (double)(now - h->at) / 1000.0;
			double inst = (double)(packets - h->packets) / dt;
			double a = 1.0 - exp(-dt / 5.0);

			h->rate += a * (inst - h->rate);
			if (packets > h->packets)
				h->last_hit = now;
		} else {
			h->rate = 0;          /* reset by a reload */
		}
	}
	if (!h->at || now - h->at >= 200) {
		h->packets = packets;
		h->at = now;
	}
	*rate = jsonr_num(jsonr_get(c, "rate_pps"), h->rate);
	*last = jsonr_kint(c, "last_hit_ms", h->last_hit);
}

static void rule_detail(struct top *t, struct row *r, const struct jsonr *rule,
                        const struct jsonr *c, double rate, int64_t last)
{
	struct strbuf d = STRBUF_INIT, sb = STRBUF_INIT;
	char when[64];

	if (rule) {
		sb_addf(&d, "rule %" PRId64 "\n\n", jsonr_kint(rule, "id", 0));
		sb_addf(&d, "section:    %s (position %" PRId64 ")\n",
		        jsonr_kstr(rule, "section") ? jsonr_kstr(rule, "section")
		        : "", jsonr_kint(rule, "position", 0));
		sb_addf(&d, "action:     %s\n", jsonr_kstr(rule, "action") ?
		        jsonr_kstr(rule, "action") : "");
		join(jsonr_get(rule, "from"), ",", &sb);
		sb_addf(&d, "from:       %s\n", sb.len ? sb_str(&sb) : "any");
		sb_reset(&sb);
		join(jsonr_get(rule, "to"), ",", &sb);
		sb_addf(&d, "to:         %s\n", sb.len ? sb_str(&sb) : "any");
		sb_reset(&sb);
		join(jsonr_get(rule, "services"), ",", &sb);
		sb_addf(&d, "services:   %s\n", sb.len ? sb_str(&sb) : "any");
		sb_reset(&sb);
		join(jsonr_get(rule, "applied_to"), ",", &sb);
		if (sb.len)
			sb_addf(&d, "applied-to: %s\n", sb_str(&sb));
		sb_addf(&d, "flags:      %s%s\n",
		        jsonr_kint(rule, "enabled", 1) ? "enabled" : "disabled",
		        jsonr_kint(rule, "log", 0) ? ", log" : "");
		if (jsonr_kstr(rule, "comment"))
			sb_addf(&d, "comment:    %s\n", jsonr_kstr(rule, "comment"));
	} else {
		sb_addf(&d, "counter %s\n\n", jsonr_kstr(c, "name"));
		if (jsonr_kstr(c, "action"))
			sb_addf(&d, "action:     %s\n", jsonr_kstr(c, "action"));
	}
	if (c) {
		sb_addf(&d, "counter:    %s\n", jsonr_kstr(c, "name") ?
		        jsonr_kstr(c, "name") : "");
		sb_addf(&d, "packets:    %" PRId64 "\n",
		        jsonr_kint(c, "packets", 0));
		sb_addf(&d, "bytes:      %" PRId64 "\n", jsonr_kint(c, "bytes", 0));
		sb_addf(&d, "rate:       %.1f packets/s\n", rate);
		if (last > 0) {
			util_time_format(last, when, sizeof when);
			sb_addf(&d, "last hit:   %s\n", when);
		} else {
			sb_add(&d, "last hit:   never seen\n");
		}
	} else {
		sb_add(&d, "counter:    none loaded (not committed yet?)\n");
	}
	/* the latest flows this rule decided, from the flow pane */
	if (rule) {
		int64_t id = jsonr_kint(rule, "id", 0);
		const struct pane *fp = &t->p[P_FLOWS];
		int shown = 0;

		for (size_t i = fp->n; i-- > 0 && shown < 10;) {
			const struct row *f = &fp->rows[i];
			if (f->rule != id)
				continue;
			if (!shown++)
				sb_add(&d, "\nlatest flows:\n");
			sb_addf(&d, "  %s %s %s %s -> %s\n", f->cell[0],
			        f->cell[1], f->cell[4], f->cell[5], f->cell[6]);
		}
	}
	r->detail = xstrdup(sb_str(&d));
	sb_free(&d);
	sb_free(&sb);
}

/* 1 for a per-NIC drop counter (nic_NAME_drop_in, nic_NAME_drop_out). */
static int nic_counter(const char *name)
{
	size_t n = strlen(name);

	return !strncmp(name, "nic_", 4) &&
	       ((n > 12 && !strcmp(name + n - 8, "_drop_in")) ||
	        (n > 13 && !strcmp(name + n - 9, "_drop_out")));
}

#define NIC_TOP 12

struct nic_top {
	char name[64];
	int64_t packets;
};

/* Keep the NIC_TOP counters with the most packets, most first. */
static void nic_top_add(struct nic_top *top, size_t *n, const char *name,
                        int64_t packets)
{
	size_t i = *n < NIC_TOP ? (*n)++ : NIC_TOP;

	if (i == NIC_TOP) {
		if (packets <= top[NIC_TOP - 1].packets)
			return;
		i = NIC_TOP - 1;
	}
	while (i > 0 && top[i - 1].packets < packets) {
		top[i] = top[i - 1];
		i--;
	}
	snprintf(top[i].name, sizeof top[i].name, "%s", name);
	top[i].packets = packets;
}

/* The rules pane from the last `show rules` and `show counters`. */
static void load_rules(struct top *t)
{
	struct pane *p = &t->p[P_RULES];
	const struct jsonr *rules = jsonr_get(t->rules_doc, "rules");
	const struct jsonr *ctrs = jsonr_get(t->ctrs_doc, "counters");
	int64_t now = util_now_ms();
	char buf[64], when[32];
	struct nic_top nic_top[NIC_TOP];
	size_t nic_n = 0, nic_ntop = 0;
	int64_t nic_packets = 0, nic_last = 0;
	double nic_rate = 0;

	pane_clear(p);
	for (size_t i = 0; rules && i < rules->n; i++) {
		const struct jsonr *ru = &rules->items[i];
		const struct jsonr *c = NULL;
		int64_t id = jsonr_kint(ru, "id", 0);
		struct strbuf m = STRBUF_INIT, sb = STRBUF_INIT;
		double rate = 0;
		int64_t last = 0, packets = 0;
		struct row *r;
		char key[32];

		for (size_t k = 0; ctrs && k < ctrs->n && !c; k++)
			if (jsonr_kint(&ctrs->items[k], "rule", -1) == id)
				c = &ctrs->items[k];
		if (c) {
			counter_figures(t, c, now, &rate, &last);
			packets = jsonr_kint(c, "packets", 0);
		}
		snprintf(key, sizeof key, "rule %" PRId64, id);
		r = pane_add(p, key);
		cellf(r, 0, (double)id, "%" PRId64, id);
		cell(r, 1, jsonr_kstr(ru, "section"), 0);
		/* a monitored rule counts what it would drop and lets it
		 * pass: said as show counters says it */
		if (jsonr_kint(ru, "monitored", 0) &&
		    strcmp(jsonr_kstr(ru, "action") ? jsonr_kstr(ru, "action")
		                                    : "", "allow") != 0) {
			char act[32];

			snprintf(act, sizeof act, "%s,mon",
			         jsonr_kstr(ru, "action"));
			cell(r, 2, act, 0);
		} else {
			cell(r, 2, jsonr_kstr(ru, "action"), 0);
		}
		human(packets, buf, sizeof buf);
		cell(r, 3, c ? buf : "-", (double)packets);
		cellf(r, 4, rate, c ? "%.1f" : "-", rate);
		age(last, now, when, sizeof when);
		cell(r, 5, when, last ? (double)(now - last) : 1e18);
		join(jsonr_get(ru, "from"), ",", &sb);
		sb_addf(&m, "%s>", sb.len ? sb_str(&sb) : "any");
		sb_reset(&sb);
		join(jsonr_get(ru, "to"), ",", &sb);
		sb_add(&m, sb.len ? sb_str(&sb) : "any");
		sb_reset(&sb);
		join(jsonr_get(ru, "services"), ",", &sb);
		if (sb.len)
			sb_addf(&m, " %s", sb_str(&sb));
		if (!jsonr_kint(ru, "enabled", 1))
			sb_add(&m, " (disabled)");
		cell(r, 6, sb_str(&m), 0);
		r->tone = tone_of(jsonr_kint(ru, "monitored", 0) ? "monitor"
		                  : jsonr_kstr(ru, "action"));
		rule_detail(t, r, ru, c, rate, last);
		sb_free(&m);
		sb_free(&sb);
	}
	/* counters of no rule: the default, the spoof guard... */
	for (size_t k = 0; ctrs && k < ctrs->n; k++) {
		const struct jsonr *c = &ctrs->items[k];
		const char *name = jsonr_kstr(c, "name");
		int64_t packets = jsonr_kint(c, "packets", 0), last;
		const char *action;
		double rate;
		struct row *r;

		if (!name || jsonr_kint(c, "rule", 0) > 0)
			continue;
		counter_figures(t, c, now, &rate, &last);
		if (nic_counter(name)) {
			/* one row for all NICs' drops: a host has hundreds */
			nic_packets += packets;
			nic_rate += rate;
			if (last > nic_last)
				nic_last = last;
			nic_n++;
			if (packets)
				nic_top_add(nic_top, &nic_ntop, name, packets);
			continue;
		}
		r = pane_add(p, name);
		cell(r, 0, "-", 1e18);
		cell(r, 1, jsonr_kstr(c, "section") ? jsonr_kstr(c, "section")
		     : "-", 0);
		/* the default's action is the config's; the spoof guard
		 * drops */
		action = jsonr_kstr(c, "action");
		if (!action && !strcmp(name, "default"))
			action = jsonr_kstr(t->rules_doc, "default");
		if (!action && !strcmp(name, "spoof"))
			action = "drop";
		cell(r, 2, action, 0);
		human(packets, buf, sizeof buf);
		cell(r, 3, buf, (double)packets);
		cellf(r, 4, rate, "%.1f", rate);
		age(last, now, when, sizeof when);
		cell(r, 5, when, last ? (double)(now - last) : 1e18);
		cellf(r, 6, 0, "counter %s", name);
		r->tone = tone_of(action);
		rule_detail(t, r, NULL, c, rate, last);
	}
	if (nic_n) {
		struct strbuf d = STRBUF_INIT;
		struct row *r = pane_add(p, "nic drops");

		cell(r, 0, "-", 1e18);
		cell(r, 1, "-", 0);
		cell(r, 2, "drop", 0);
		human(nic_packets, buf, sizeof buf);
		cell(r, 3, buf, (double)nic_packets);
		cellf(r, 4, nic_rate, "%.1f", nic_rate);
		age(nic_last, now, when, sizeof when);
		cell(r, 5, when, nic_last ? (double)(now - nic_last) : 1e18);
		cellf(r, 6, 0, "drops of %zu NIC counters", nic_n);
		r->tone = TONE_DROP;
		sb_addf(&d, "drops per NIC (counters nic_NAME_drop_in/out)\n\n");
		sb_addf(&d, "counters:   %zu\npackets:    %" PRId64 "\n"
		        "rate:       %.1f packets/s\n", nic_n, nic_packets,
		        nic_rate);
		if (nic_ntop)
			sb_add(&d, "\nmost drops:\n");
		for (size_t i = 0; i < nic_ntop; i++)
			sb_addf(&d, "  %-28s %" PRId64 "\n", nic_top[i].name,
			        nic_top[i].packets);
		r->detail = xstrdup(sb_str(&d));
		sb_free(&d);
	}
	if (!p->n && !p->note[0])
		snprintf(p->note, sizeof p->note, "no rules");
	pane_view(p);
}

static void flow_trim(struct pane *p)
{
	if (p->n <= FLOWS_MAX)
		return;
	for (size_t i = 0; i < p->n - FLOWS_MAX; i++)
		row_free(&p->rows[i]);
	memmove(p->rows, p->rows + (p->n - FLOWS_MAX),
	        FLOWS_MAX * sizeof *p->rows);
	p->n = FLOWS_MAX;
}

/* One record of the flow log (the fixed contract of `show flows`). */
static void flow_add(struct top *t, const struct jsonr *f)
{
	struct pane *p = &t->p[P_FLOWS];
	int64_t seq = jsonr_kint(f, "seq", 0);
	int64_t ms = jsonr_kint(f, "time_ms", 0);
	int64_t rule = jsonr_kint(f, "rule", 0);
	const char *verdict = jsonr_kstr(f, "verdict");
	const char *dir = jsonr_kstr(f, "direction");
	const char *wl = jsonr_kstr(f, "workload");
	const char *peer = jsonr_kstr(f, "peer");
	char key[32], when[32], src[96], dst[96], full[64];
	struct strbuf d = STRBUF_INIT;
	struct row *r;

	snprintf(key, sizeof key, "%020" PRId64, seq);
	clock_text(ms, when, sizeof when);
	endpoint(jsonr_kstr(f, "src"), jsonr_kint(f, "sport", -1), src,
	         sizeof src);
	endpoint(jsonr_kstr(f, "dst"), jsonr_kint(f, "dport", -1), dst,
	         sizeof dst);
	r = pane_add(p, key);
	cell(r, 0, when, (double)seq);
	cell(r, 1, verdict, 0);
	cell(r, 2, dir, 0);
	cell(r, 3, wl ? wl : "-", 0);
	cell(r, 4, jsonr_kstr(f, "proto"), 0);
	cell(r, 5, src, 0);
	cell(r, 6, dst, 0);
	if (rule > 0)
		cellf(r, 7, (double)rule, "%" PRId64, rule);
	else
		cell(r, 7, "-", 0);
	r->rule = rule;
	r->tone = tone_of(verdict);
	util_time_format(ms, full, sizeof full);
	sb_addf(&d, "flow %" PRId64 "\n\n", seq);
	sb_addf(&d, "time:      %s.%03d\n", full, (int)(ms % 1000));
	sb_addf(&d, "verdict:   %s\n", verdict ? verdict : "?");
	sb_addf(&d, "rule:      %s", r->cell[7]);
	if (jsonr_kstr(f, "section"))
		sb_addf(&d, " (section %s)", jsonr_kstr(f, "section"));
	sb_addc(&d, '\n');
	sb_addf(&d, "workload:  %s\n", wl ? wl : "- (not a managed workload)");
	sb_addf(&d, "nic:       %s\n", jsonr_kstr(f, "nic") ?
	        jsonr_kstr(f, "nic") : "?");
	sb_addf(&d, "direction: %s\n", dir ? (!strcmp(dir, "out") ?
	        "out (leaving the workload)" : !strcmp(dir, "in") ?
	        "in (toward the workload)" : dir) : "?");
	sb_addf(&d, "protocol:  %s\n", r->cell[4]);
	sb_addf(&d, "source:    %s\n", src);
	sb_addf(&d, "dest:      %s\n", dst);
	sb_addf(&d, "peer:      %s\n", peer ? peer : "-");
	r->detail = xstrdup(sb_str(&d));
	sb_free(&d);
	if (seq > t->flow_seq)
		t->flow_seq = seq;
}

/* An answer of the kernel's live flow set (before the flow log): a
 * snapshot of allowed flows, shown as such. */
static void flow_add_live(struct top *t, const struct jsonr *f, int64_t now)
{
	struct pane *p = &t->p[P_FLOWS];
	const char *wl = jsonr_kstr(f, "workload");
	const char *proto = jsonr_kstr(f, "proto");
	/* ICMP has no ports: its "local port" is the echo id */
	int icmp = proto && !strncmp(proto, "icmp", 4);
	char key[320], src[96], dst[96], when[32];
	struct row *r;

	endpoint(jsonr_kstr(f, "local"), icmp ? -1 :
	         jsonr_kint(f, "local_port", -1), src, sizeof src);
	endpoint(jsonr_kstr(f, "remote"), icmp ? -1 :
	         jsonr_kint(f, "remote_port", -1), dst, sizeof dst);
	snprintf(key, sizeof key, "%s %s %s %s %" PRId64,
	         jsonr_kstr(f, "nic") ? jsonr_kstr(f, "nic") : "",
	         proto ? proto : "", src, dst,
	         jsonr_kint(f, "local_port", 0));
	clock_text(now, when, sizeof when);
	r = pane_add(p, key);
	cell(r, 0, "live", 0);
	cell(r, 1, "allow", 0);
	cell(r, 2, "-", 0);
	cell(r, 3, wl ? wl : "-", 0);
	cell(r, 4, jsonr_kstr(f, "proto"), 0);
	cell(r, 5, src, 0);
	cell(r, 6, dst, 0);
	cell(r, 7, "-", 0);
	r->tone = TONE_ALLOW;
	{
		struct strbuf d = STRBUF_INIT;
		sb_addf(&d, "live flow (seen %s)\n\n", when);
		sb_addf(&d, "workload:  %s\nnic:       %s\nprotocol:  %s\n"
		        "local:     %s\nremote:    %s\nexpires:   %" PRId64
		        " ms\n\nThis daemon has no flow log: these are the "
		        "flows the kernel\nremembers as allowed.\n",
		        wl ? wl : "-", jsonr_kstr(f, "nic") ?
		        jsonr_kstr(f, "nic") : "?", r->cell[4], src, dst,
		        jsonr_kint(f, "expires_ms", 0));
		r->detail = xstrdup(sb_str(&d));
		sb_free(&d);
	}
}

static void load_flows(struct top *t, const struct jsonr *doc)
{
	struct pane *p = &t->p[P_FLOWS];
	const struct jsonr *arr = jsonr_get(doc, "flows");
	int64_t now = util_now_ms();
	int legacy = 0;

	p->note[0] = '\0';
	if (!arr || arr->type != JSONR_ARR) {
		snprintf(p->note, sizeof p->note, "the daemon's flows come in "
		         "a shape this top does not know");
		return;
	}
	for (size_t i = 0; i < arr->n; i++)
		if (!jsonr_get(&arr->items[i], "seq"))
			legacy = 1;
	if (legacy || t->flow_legacy) {
		t->flow_legacy = 1;
		pane_clear(p);
		for (size_t i = 0; i < arr->n; i++)
			flow_add_live(t, &arr->items[i], now);
	} else {
		for (size_t i = 0; i < arr->n; i++)
			if (jsonr_kint(&arr->items[i], "seq", 0) > t->flow_seq)
				flow_add(t, &arr->items[i]);
		flow_trim(p);
		t->flows_lost = jsonr_kint(doc, "lost", t->flows_lost);
	}
	if (!p->n)
		snprintf(p->note, sizeof p->note, t->flow_legacy ?
		         "no live flows" : "no flows yet");
	pane_view(p);
}

/* ---- the refresh cycle --------------------------------------------------- */

static void step_line(struct top *t, int step, char *line, size_t len)
{
	switch (step) {
	case S_WL:
		snprintf(line, len, "show workloads");
		break;
	case S_RULES:
		snprintf(line, len, "show rules");
		break;
	case S_CTRS:
		snprintf(line, len, "show counters");
		break;
	case S_FLOWS:
		if (t->flow_legacy || !t->flow_seq)
			snprintf(line, len, "show flows");
		else
			snprintf(line, len, "show flows after %" PRId64,
			         t->flow_seq);
		break;
	default:
		line[0] = '\0';
	}
}

/* Start the next request: a waiting action first, else the next step of
 * the cycle under way. */
static void pump(struct top *t)
{
	char line[128];

	while (!top_conn_busy(t->conn)) {
		if (t->action[0] && !t->action_sent) {
			t->action_sent = 1;
			top_conn_send(t->conn, TOP_REQ_TEXT, t->action);
			continue;
		}
		if (t->step < 0)
			return;
		if (t->step >= S_NSTEP) {
			t->step = -1;
			t->refreshed_at = util_now_ms();
			return;
		}
		if (t->step == S_FLOWS && !top_conn_daemon(t->conn)) {
			snprintf(t->p[P_FLOWS].note, sizeof t->p[P_FLOWS].note,
			         "the flow log needs `bulkhead daemon`: start it "
			         "to see flows here");
			t->step++;
			continue;
		}
		step_line(t, t->step, line, sizeof line);
		top_conn_send(t->conn, t->step == S_STATE ? TOP_REQ_STATE
		                                          : TOP_REQ_EXEC, line);
		/* in-process, the answer is there at once: the caller
		 * takes it */
		return;
	}
}

/* Take a finished answer and act on it. */
static void take(struct top *t)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	char msg[512];
	struct jsonr *doc = NULL;
	int st;

	st = top_conn_take(t->conn, &out, &err);
	if (t->action[0] && t->action_sent) {
		if (st == 0) {
			size_t n = strcspn(sb_str(&out), "\n");
			set_msg(t, 0, "%.*s", (int)n, sb_str(&out));
			if (!t->msg[0])
				set_msg(t, 0, "done: %s", t->action);
		} else {
			error_text(&out, &err, msg, sizeof msg);
			set_msg(t, 1, "%s", msg);
		}
		t->action[0] = '\0';
		t->action_sent = 0;
		/* show the effect at once */
		if (t->step < 0 && !t->paused)
			t->next_at = 0;
		goto done;
	}
	if (t->step < 0)
		goto done;
	if (st != 0) {
		error_text(&out, &err, msg, sizeof msg);
		switch (t->step) {
		case S_STATE:
			set_msg(t, 1, "%s", msg);
			t->msg_conn = 1;
			break;
		case S_WL:
			snprintf(t->p[P_WL].note, sizeof t->p[P_WL].note, "%s", msg);
			break;
		case S_RULES:
		case S_CTRS:
			snprintf(t->p[P_RULES].note, sizeof t->p[P_RULES].note,
			         "%s", msg);
			if (t->step == S_CTRS) {
				jsonr_free(t->ctrs_doc);
				t->ctrs_doc = NULL;
				load_rules(t);
			}
			break;
		case S_FLOWS:
			snprintf(t->p[P_FLOWS].note, sizeof t->p[P_FLOWS].note,
			         "%s", msg);
			break;
		}
		t->step++;
		goto done;
	}
	if (t->step == S_STATE) {
		t->revision = strtoll(sb_str(&out), NULL, 10);
		if (t->msg_conn)
			t->msg[0] = '\0';
		t->step++;
		goto done;
	}
	doc = jsonr_parse(out.s ? out.s : "", out.len, msg, sizeof msg);
	if (!doc) {
		set_msg(t, 1, "unreadable answer to '%s': %s",
		        t->step == S_WL ? "show workloads" : t->step == S_RULES ?
		        "show rules" : t->step == S_CTRS ? "show counters" :
		        "show flows", msg);
		t->step++;
		goto done;
	}
	switch (t->step) {
	case S_WL:
		load_workloads(t, doc);
		break;
	case S_RULES:
		jsonr_free(t->rules_doc);
		t->rules_doc = doc;
		doc = NULL;
		t->p[P_RULES].note[0] = '\0';
		break;
	case S_CTRS:
		jsonr_free(t->ctrs_doc);
		t->ctrs_doc = doc;
		doc = NULL;
		load_rules(t);
		break;
	case S_FLOWS:
		load_flows(t, doc);
		break;
	}
	t->step++;
done:
	jsonr_free(doc);
	sb_free(&out);
	sb_free(&err);
}

/* ---- drawing ------------------------------------------------------------- */

static attr_t tone_attr(const struct top *t, int tone)
{
	if (t->color) {
		switch (tone) {
		case TONE_ALLOW: return COLOR_PAIR(1);
		case TONE_DROP: return COLOR_PAIR(2) | A_BOLD;
		case TONE_MONITOR: return COLOR_PAIR(3);
		}
		return A_NORMAL;
	}
	/* monochrome: what must catch the eye is bold */
	switch (tone) {
	case TONE_DROP: return A_BOLD;
	case TONE_MONITOR: return A_UNDERLINE;
	}
	return A_NORMAL;
}

/* @s at (y, x), exactly @w columns (cut or padded). */
static void put(int y, int x, int w, const char *s, int right)
{
	int n = (int)strlen(s ? s : "");

	if (w <= 0)
		return;
	if (n > w)
		n = w;
	if (right)
		mvprintw(y, x, "%*.*s", w, n, s);
	else
		mvprintw(y, x, "%-*.*s", w, n, s);
}

/* Column widths for a pane @cols wide: fixed ones as given, the rest
 * shared by the flexible ones. */
static void widths(const struct pane *p, int cols, int *w)
{
	int fixed = 0, flex = 0;

	for (int i = 0; i < p->ncols; i++) {
		fixed += p->cols[i].width + 1;
		if (!p->cols[i].width)
			flex++;
	}
	for (int i = 0; i < p->ncols; i++) {
		w[i] = p->cols[i].width;
		if (!w[i])
			w[i] = flex ? (cols - fixed) / flex : 0;
		if (w[i] < 3)
			w[i] = 3;
	}
}

static void draw_pane(struct top *t, int idx)
{
	struct pane *p = &t->p[idx];
	int focused = idx == t->focus;
	int w[MAXCOL], x, rows;
	char title[256];

	if (p->h < 2)
		return;
	if (p->filter[0])
		snprintf(title, sizeof title, " %s%s (%zu/%zu)  sort %s%s  "
		         "filter \"%s\"", focused ? "> " : "", p->title,
		         p->nview, p->n, p->cols[p->sortcol].name,
		         p->desc ? " desc" : "", p->filter);
	else
		snprintf(title, sizeof title, " %s%s (%zu)  sort %s%s",
		         focused ? "> " : "", p->title, p->nview,
		         p->cols[p->sortcol].name, p->desc ? " desc" : "");
	if (idx == P_FLOWS && t->flow_legacy)
		snprintf(title + strlen(title), sizeof title - strlen(title),
		         "  (live flow set: no flow log)");
	if (idx == P_FLOWS && t->flows_lost)
		snprintf(title + strlen(title), sizeof title - strlen(title),
		         "  lost %" PRId64, t->flows_lost);
	attrset(focused ? A_REVERSE | A_BOLD : A_REVERSE);
	put(p->y, 0, COLS, title, 0);
	attrset(A_NORMAL);
	widths(p, COLS, w);
	if (p->h < 3)
		return;
	attrset(A_BOLD);
	x = 0;
	for (int i = 0; i < p->ncols && x < COLS; i++) {
		char name[32];
		snprintf(name, sizeof name, "%s%s", p->cols[i].name,
		         i == p->sortcol ? (p->desc ? "v" : "^") : "");
		put(p->y + 1, x, w[i] < COLS - x ? w[i] : COLS - x, name,
		    p->cols[i].right);
		x += w[i] + 1;
	}
	attrset(A_NORMAL);
	rows = p->h - 2;
	/* an error, or why the pane is empty: alone, or on its last line
	 * under the rows it still has from before */
	if (p->note[0] && !p->nview) {
		put(p->y + 2, 1, COLS - 1, p->note, 0);
		return;
	}
	if (p->note[0]) {
		rows--;
		attrset(A_DIM);
		put(p->y + p->h - 1, 1, COLS - 1, p->note, 0);
		attrset(A_NORMAL);
	}
	if (!p->nview && p->filter[0]) {
		put(p->y + 2, 1, COLS - 1, "nothing matches the filter "
		    "(/ then Enter on an empty line clears it)", 0);
		return;
	}
	if (rows < 1)
		return;
	if (p->sel < p->top)
		p->top = p->sel;
	if (p->sel >= p->top + (size_t)rows)
		p->top = p->sel - (size_t)rows + 1;
	if (p->top + (size_t)rows > p->nview)
		p->top = p->nview > (size_t)rows ? p->nview - (size_t)rows : 0;
	for (int r = 0; r < rows && p->top + (size_t)r < p->nview; r++) {
		size_t vi = p->top + (size_t)r;
		const struct row *row = &p->rows[p->view[vi]];
		attr_t base = vi == p->sel && focused ? A_REVERSE : A_NORMAL;

		x = 0;
		for (int i = 0; i < p->ncols && x < COLS; i++) {
			attr_t a = base;
			/* the verdict or action column carries the colour;
			 * a quarantined workload is marked all along */
			if ((idx == P_FLOWS && i == 1) ||
			    (idx == P_RULES && i == 2) || idx == P_WL)
				a |= tone_attr(t, row->tone);
			attrset(a);
			put(p->y + 2 + r, x, w[i] < COLS - x ? w[i] : COLS - x,
			    row->cell[i], p->cols[i].right);
			if (x + w[i] < COLS)
				mvaddch(p->y + 2 + r, x + w[i], ' ');
			x += w[i] + 1;
		}
		attrset(A_NORMAL);
	}
}

static void layout(struct top *t)
{
	int avail = LINES - 2, y = 1;
	int h[NPANE];

	if (avail < 15) {
		/* too small for three: the focused pane alone */
		for (int i = 0; i < NPANE; i++)
			t->p[i].h = 0;
		t->p[t->focus].y = 1;
		t->p[t->focus].h = avail > 0 ? avail : 0;
		return;
	}
	h[P_WL] = avail * 3 / 11;
	h[P_RULES] = avail * 3 / 11;
	h[P_FLOWS] = avail - h[P_WL] - h[P_RULES];
	for (int i = 0; i < NPANE; i++) {
		t->p[i].y = y;
		t->p[i].h = h[i];
		y += h[i];
	}
}

static void draw_header(struct top *t)
{
	char buf[512], now[32], where[300];
	int64_t ms = util_now_ms(), since = top_conn_since(t->conn);
	const char *role = top_conn_role(t->conn);
	const struct jsonr *rules = jsonr_get(t->rules_doc, "rules");
	/* rules of the config, not the rows (counters of no rule too) */
	size_t nrules = rules && rules->type == JSONR_ARR ? rules->n : 0;
	int n;

	clock_text(ms, now, sizeof now);
	if (top_conn_daemon(t->conn))
		snprintf(where, sizeof where, "daemon%s%s%s%s",
		         role ? " (" : "", role ? role : "", role ? ")" : "",
		         top_conn_up(t->conn) ? "" : " GONE");
	else
		snprintf(where, sizeof where, "in-process");
	/* what must be seen first comes first: a narrow terminal cuts the
	 * end, and the clock goes before the state does */
	n = snprintf(buf, sizeof buf, "bulkhead top  %s  rev %" PRId64
	             "  wl %zu  rules %zu  flows %zu  %.4gs%s",
	             where, t->revision, t->p[P_WL].n, nrules,
	             t->p[P_FLOWS].n, t->interval_ms / 1000.0,
	             t->paused ? "  PAUSED" : "");
	if (since && ms - since > 2000)
		n += snprintf(buf + n, sizeof buf - (size_t)n, "  waiting %llds",
		              (long long)(ms - since) / 1000);
	attrset(A_BOLD);
	put(0, 0, COLS, buf, 0);
	if (n + 2 + (int)strlen(now) <= COLS)
		put(0, COLS - (int)strlen(now), (int)strlen(now), now, 0);
	attrset(A_NORMAL);
}

static void draw_footer(struct top *t)
{
	int y = LINES - 1;

	if (t->mode == M_FILTER) {
		char buf[128];
		snprintf(buf, sizeof buf, "filter %s: %s", t->p[t->focus].title,
		         t->input);
		put(y, 0, COLS, buf, 0);
		move(y, (int)strlen(buf) < COLS ? (int)strlen(buf) : COLS - 1);
		return;
	}
	if (t->msg[0]) {
		attrset(t->msg_error ? tone_attr(t, TONE_DROP) : A_BOLD);
		put(y, 0, COLS, t->msg, 0);
		attrset(A_NORMAL);
		return;
	}
	attrset(A_DIM);
	put(y, 0, COLS, "q:quit Tab:pane /:filter s:sort p:pause "
	    "Enter:detail Q/R:quarantine h:help", 0);
	attrset(A_NORMAL);
}

/* A box of @n lines of text, centred, over what is drawn. */
static void draw_box(const char *const *lines, int n, int first)
{
	int w = 0, h, y0, x0;

	for (int i = 0; i < n; i++)
		if ((int)strlen(lines[i]) > w)
			w = (int)strlen(lines[i]);
	w += 4;
	if (w > COLS)
		w = COLS;
	h = LINES - 2 < n + 2 ? LINES - 2 : n + 2;
	if (h < 3)
		h = LINES < 3 ? LINES : 3;
	y0 = (LINES - h) / 2;
	x0 = (COLS - w) / 2;
	for (int y = 0; y < h; y++)
		put(y0 + y, x0, w, "", 0);
	/* ASCII borders: they survive any terminal, SSH and a captured
	 * screen alike */
	attrset(A_BOLD);
	mvhline(y0, x0, '-', w);
	mvhline(y0 + h - 1, x0, '-', w);
	mvvline(y0, x0, '|', h);
	mvvline(y0, x0 + w - 1, '|', h);
	mvaddch(y0, x0, '+');
	mvaddch(y0, x0 + w - 1, '+');
	mvaddch(y0 + h - 1, x0, '+');
	mvaddch(y0 + h - 1, x0 + w - 1, '+');
	attrset(A_NORMAL);
	for (int i = 0; i + first < n && i < h - 2; i++)
		put(y0 + 1 + i, x0 + 2, w - 4, lines[i + first], 0);
}

static const char *const help_text[] = {
	"bulkhead top: keys",
	"",
	"q          quit (Esc closes a view)",
	"Tab, S-Tab focus the next / previous pane",
	"Up Down    move the selection (also k j)",
	"PgUp PgDn  a page up / down; Home End: first / last",
	"s          sort the focused pane by the next column",
	"S          reverse the sort order",
	"/          filter the focused pane (empty: clear)",
	"p          pause / resume refreshing",
	"+ -        refresh less / more often",
	"Enter      details of the selected workload, rule or flow",
	"Q          quarantine the selected workload (asks y/n)",
	"R          release the selected workload (asks y/n)",
	"h ?        this help",
	"",
	"verdicts: allow green, drop/reject red (bold), monitor yellow",
	"any key closes this help",
};

static void draw(struct top *t)
{
	werase(stdscr);
	layout(t);
	draw_header(t);
	for (int i = 0; i < NPANE; i++)
		if (t->p[i].h)
			draw_pane(t, i);
	draw_footer(t);
	if (t->mode == M_HELP)
		draw_box(help_text, (int)(sizeof help_text / sizeof *help_text),
		         0);
	else if (t->mode == M_DETAIL)
		draw_box((const char *const *)t->detail.v, (int)t->detail.n,
		         t->detail_top);
	else if (t->mode == M_CONFIRM) {
		const char *l[] = { t->confirm_text, "", "y: yes    n: no" };
		draw_box(l, 3, 0);
	}
	curs_set(t->mode == M_FILTER ? 1 : 0);
	wnoutrefresh(stdscr);
	doupdate();
}

/* ---- keys ---------------------------------------------------------------- */

static void open_detail(struct top *t)
{
	const struct row *r = pane_selected(&t->p[t->focus]);
	char *s, *line, *save;

	if (!r || !r->detail) {
		set_msg(t, 0, "nothing selected");
		return;
	}
	strv_free(&t->detail);
	s = xstrdup(r->detail);
	for (line = s; *line; line = save) {
		save = line + strcspn(line, "\n");
		if (*save)
			*save++ = '\0';
		strv_push(&t->detail, line);
	}
	free(s);
	strv_push(&t->detail, "");
	strv_push(&t->detail, "Esc, Enter or q closes; Up Down scroll");
	t->detail_top = 0;
	t->mode = M_DETAIL;
}

/* Q and R: ask before anything is sent. */
static void ask_action(struct top *t, int quarantine)
{
	const struct row *r = pane_selected(&t->p[P_WL]);
	const char *role = top_conn_role(t->conn);
	const char *verb = quarantine ? "quarantine" : "release";

	if (role && !strcmp(role, "viewer")) {
		set_msg(t, 1, "%s needs the operator role: you are viewer "
		        "(ask an admin)", verb);
		return;
	}
	if (!r) {
		set_msg(t, 1, "%s: no workload selected (Tab to the workloads "
		        "pane)", verb);
		return;
	}
	if (t->action[0]) {
		set_msg(t, 1, "%s: the previous action is still running", verb);
		return;
	}
	snprintf(t->confirm_cmd, sizeof t->confirm_cmd, "%s %s", verb, r->key);
	if (quarantine)
		snprintf(t->confirm_text, sizeof t->confirm_text,
		         "Quarantine workload \"%s\"? It is cut off at once.",
		         r->key);
	else
		snprintf(t->confirm_text, sizeof t->confirm_text,
		         "Release workload \"%s\" from quarantine?", r->key);
	t->mode = M_CONFIRM;
}

static const int intervals[] = { 250, 500, 1000, 2000, 5000, 10000, 30000 };

static void change_interval(struct top *t, int slower)
{
	int n = (int)(sizeof intervals / sizeof *intervals), i;

	for (i = 0; i < n - 1 && intervals[i] < t->interval_ms; i++)
		;
	if (slower && intervals[i] <= t->interval_ms && i < n - 1)
		i++;
	else if (!slower && i > 0)
		i--;
	t->interval_ms = intervals[i];
	t->next_at = util_now_ms() + t->interval_ms;
	set_msg(t, 0, "refreshing every %.4gs", t->interval_ms / 1000.0);
}

static void key_main(struct top *t, int ch)
{
	struct pane *p = &t->p[t->focus];
	int page = p->h > 3 ? p->h - 3 : 1;

	if (ch != ERR && ch != KEY_RESIZE)
		t->msg[0] = '\0';
	switch (ch) {
	case 'q':
		t->quit = 1;
		break;
	case '\t':
		t->focus = (t->focus + 1) % NPANE;
		break;
	case KEY_BTAB:
		t->focus = (t->focus + NPANE - 1) % NPANE;
		break;
	case KEY_UP: case 'k':
		pane_select(p, -1);
		break;
	case KEY_DOWN: case 'j':
		pane_select(p, 1);
		break;
	case KEY_PPAGE:
		pane_select(p, -page);
		break;
	case KEY_NPAGE:
		pane_select(p, page);
		break;
	case KEY_HOME: case 'g':
		pane_select(p, -(long)p->nview);
		break;
	case KEY_END: case 'G':
		pane_select(p, (long)p->nview);
		break;
	case 's':
		p->sortcol = (p->sortcol + 1) % p->ncols;
		pane_view(p);
		break;
	case 'S':
		p->desc = !p->desc;
		pane_view(p);
		break;
	case '/':
		snprintf(t->input, sizeof t->input, "%s", p->filter);
		t->mode = M_FILTER;
		break;
	case 'p':
		t->paused = !t->paused;
		if (!t->paused)
			t->next_at = 0;
		break;
	case '+':
		change_interval(t, 1);
		break;
	case '-':
		change_interval(t, 0);
		break;
	case '\n': case '\r': case KEY_ENTER:
		open_detail(t);
		break;
	case 'Q':
		ask_action(t, 1);
		break;
	case 'R':
		ask_action(t, 0);
		break;
	case 'h': case '?': case KEY_F(1):
		t->mode = M_HELP;
		break;
	}
}

static void key(struct top *t, int ch)
{
	struct pane *p = &t->p[t->focus];
	size_t n;

	if (ch == KEY_RESIZE)
		return;         /* draw() lays out for the new size */
	switch (t->mode) {
	case M_MAIN:
		key_main(t, ch);
		break;
	case M_HELP:
		t->mode = M_MAIN;
		break;
	case M_DETAIL:
		if (ch == KEY_UP || ch == 'k') {
			if (t->detail_top > 0)
				t->detail_top--;
		} else if (ch == KEY_DOWN || ch == 'j') {
			if (t->detail_top + 1 < (int)t->detail.n)
				t->detail_top++;
		} else if (ch == 27 || ch == 'q' || ch == '\n' || ch == '\r' ||
		           ch == KEY_ENTER) {
			t->mode = M_MAIN;
		}
		break;
	case M_CONFIRM:
		if (ch == 'y' || ch == 'Y') {
			snprintf(t->action, sizeof t->action, "%s",
			         t->confirm_cmd);
			t->action_sent = 0;
			set_msg(t, 0, "sent: %s", t->action);
			t->mode = M_MAIN;
		} else if (ch == 'n' || ch == 'N' || ch == 27 || ch == 'q') {
			set_msg(t, 0, "cancelled: %s", t->confirm_cmd);
			t->mode = M_MAIN;
		}
		break;
	case M_FILTER:
		n = strlen(t->input);
		if (ch == 27) {
			t->mode = M_MAIN;
		} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
			snprintf(p->filter, sizeof p->filter, "%s", t->input);
			p->sel = 0;
			p->top = 0;
			p->selkey[0] = '\0';
			pane_view(p);
			t->mode = M_MAIN;
		} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
			if (n)
				t->input[n - 1] = '\0';
		} else if (ch == 21) {      /* ^U */
			t->input[0] = '\0';
		} else if (ch >= 32 && ch < 127 && n + 1 < sizeof t->input) {
			t->input[n] = (char)ch;
			t->input[n + 1] = '\0';
		}
		break;
	}
}

/* ---- the loop ------------------------------------------------------------ */

/* ^C, a kill or a hang-up end the loop so that endwin() gives the
 * terminal back as it was. */
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

static void catch_stops(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: poll() returns at once */
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		sigaction(sigs[i], &sa, NULL);
}

static void init_pane(struct pane *p, const char *title, const struct col *c,
                      int n, int sortcol, int desc)
{
	p->title = title;
	p->cols = c;
	p->ncols = n;
	p->sortcol = sortcol;
	p->desc = desc;
}

static void top_free(struct top *t)
{
	for (int i = 0; i < NPANE; i++) {
		pane_clear(&t->p[i]);
		free(t->p[i].rows);
		free(t->p[i].view);
	}
	for (size_t i = 0; i < t->nhist; i++)
		free(t->hist[i].name);
	free(t->hist);
	jsonr_free(t->rules_doc);
	jsonr_free(t->ctrs_doc);
	strv_free(&t->detail);
	top_conn_close(t->conn);
}

int top_run(const struct top_opts *o, char *err, size_t errlen)
{
	struct top t;
	const char *nc = getenv("NO_COLOR");

	memset(&t, 0, sizeof t);
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		snprintf(err, errlen, "top: needs a terminal (for a one-off "
		         "look use: bulkhead -c 'show counters')");
		return 1;
	}
	t.conn = top_conn_open(o->db, o->socket, err, errlen);
	if (!t.conn)
		return 1;
	init_pane(&t.p[P_WL], "WORKLOADS", wl_cols,
	          (int)(sizeof wl_cols / sizeof *wl_cols), 0, 0);
	init_pane(&t.p[P_RULES], "RULES", rule_cols,
	          (int)(sizeof rule_cols / sizeof *rule_cols), 0, 0);
	init_pane(&t.p[P_FLOWS], "FLOWS", flow_cols,
	          (int)(sizeof flow_cols / sizeof *flow_cols), 0, 1);
	t.interval_ms = o->interval_ms > 0 ? o->interval_ms : 1000;
	t.step = -1;
	t.focus = P_WL;

	set_escdelay(25);
	if (!initscr()) {
		snprintf(err, errlen, "top: cannot use this terminal (TERM=%s)",
		         getenv("TERM") ? getenv("TERM") : "");
		top_free(&t);
		return 1;
	}
	catch_stops();
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	if (!o->no_color && !(nc && *nc) && has_colors()) {
		start_color();
		use_default_colors();
		init_pair(1, COLOR_GREEN, -1);
		init_pair(2, COLOR_RED, -1);
		init_pair(3, COLOR_YELLOW, -1);
		t.color = 1;
	}

	while (!t.quit && !stop_signal) {
		struct pollfd pf[2];
		int64_t now = util_now_ms(), wait;
		int nfd = 1, ch;

		if (!t.paused && t.step < 0 && now >= t.next_at) {
			t.step = S_STATE;
			t.next_at = now + t.interval_ms;
		}
		pump(&t);
		while (top_conn_done(t.conn)) {
			take(&t);
			pump(&t);
		}
		draw(&t);

		pf[0].fd = STDIN_FILENO;
		pf[0].events = POLLIN;
		if (top_conn_fd(t.conn) >= 0 && top_conn_busy(t.conn)) {
			pf[1].fd = top_conn_fd(t.conn);
			pf[1].events = top_conn_events(t.conn);
			nfd = 2;
		}
		/* wake for the next refresh, and at least once a second for
		 * the clock and the "waiting" figure */
		wait = t.paused || t.step >= 0 ? 1000 : t.next_at - now;
		if (wait > 1000)
			wait = 1000;
		if (wait < 0)
			wait = 0;
		if (poll(pf, (nfds_t)nfd, (int)wait) < 0 && errno != EINTR)
			break;
		if (nfd == 2 && pf[1].revents)
			top_conn_step(t.conn, pf[1].revents);
		while ((ch = getch()) != ERR && !t.quit)
			key(&t, ch);
	}
	endwin();
	top_free(&t);
	return 0;
}
