/*
 * flowlog.c - the flow log service of the daemon (layer: inventory and
 * events; see flowlog.h): nflog records -> flow records, the ring, the
 * watchers of `monitor flows`, JSON lines, the hourly aggregates, and the
 * periodic sampling of the kernel's counters.
 *
 * Everything runs in the daemon's loop and never blocks it: nflog is
 * drained when poll() says so, a watcher whose connection is backed up
 * misses records (counted) instead of queueing them, and the store is
 * written once a minute (aggregates) and once a sample (last hits), each
 * in one transaction.
 *
 * Mapping a packet costs O(log n) lookups in tables rebuilt from the
 * inventory and the running config at each counter sample (and on
 * SIGHUP): ifindex -> interface (if_indextoname, cached), interface ->
 * NIC -> workload, address -> workload, workload -> its most specific
 * group (the one with the fewest members), rule -> section.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "compile.h"
#include "flowlog.h"
#include "loop.h"
#include "nflog.h"
#include "nft.h"
#include "policy.h"

/* Aggregates are written this often (and at stop, and before history is
 * read). */
#define FLUSH_MS 60000
/* ifindex -> name cache slots */
#define IFCACHE 256

struct kv {                 /* a sorted lookup table entry */
	char *key;
	char *val;
	int64_t num;
};

struct table {
	struct kv *v;
	size_t n;
};

struct watch {
	void *ctx;
	flowlog_emit_fn *emit;
	int json;
	char workload[BH_NAME_MAX + 1];
	struct flow_filter f;
	uint64_t missed;
};

struct ctr {
	char name[64];
	int64_t rule;
	uint64_t packets;
	double pps;
	int64_t last_hit_ms;
};

struct agg_slot {
	char *key;                  /* the fields of a, tab-separated */
	struct flow_agg a;
};

struct flowlog {
	struct bh *bh;
	struct loop *loop;
	struct nflog *nf;
	struct flowlog_opts o;
	char json_path[PATH_MAX];
	int json_fd;                /* -1: none */
	int json_syslog;
	int sample_timer, flush_timer;

	/* the ring */
	struct flow_rec *ring;
	size_t cap, count, head;    /* head: where the next record goes */
	uint64_t seq;

	/* lookups, rebuilt by refresh() */
	struct table nic_wl;        /* ifname -> workload */
	struct table addr_wl;       /* address -> workload */
	struct table wl_group;      /* workload -> most specific group */
	struct table rule_sec;      /* rule id (num) -> section */
	struct { uint32_t idx; char name[IF_NAMESIZE]; } ifc[IFCACHE];

	/* watchers */
	struct watch *watches;
	size_t nwatches;
	int pending;                /* a request waits for watch_take */
	struct watch req;

	/* counters */
	struct ctr *ctrs;
	size_t nctrs;
	int64_t sampled_ms;         /* monotonic, of the last sample */

	/* this hour's aggregates (open addressing) */
	struct agg_slot *agg;
	size_t aggcap, aggn;

	uint64_t records;           /* all records, for the log line */
	int64_t sig[2];             /* the store as refresh() last read it:
	                               data_version, total_changes */
};

/* ---- lookup tables -------------------------------------------------------- */

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kv *)a)->key, ((const struct kv *)b)->key);
}

static void table_put(struct table *t, const char *key, const char *val,
                      int64_t num)
{
	t->v = xrealloc(t->v, (t->n + 1) * sizeof *t->v);
	t->v[t->n].key = xstrdup(key);
	t->v[t->n].val = xstrdup(val ? val : "");
	t->v[t->n].num = num;
	t->n++;
}

static void table_sort(struct table *t)
{
	if (t->n)
		qsort(t->v, t->n, sizeof *t->v, kv_cmp);
}

static const struct kv *table_get(const struct table *t, const char *key)
{
	struct kv k = { (char *)key, NULL, 0 };

	if (!t->n)
		return NULL;
	return bsearch(&k, t->v, t->n, sizeof *t->v, kv_cmp);
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].key);
		free(t->v[i].val);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

/* Where the store is: PRAGMA data_version moves when another connection
 * commits, sqlite3_total_changes() when this one writes. */
static void store_sig(struct flowlog *fl, int64_t sig[2])
{
	sqlite3_stmt *st = NULL;

	sig[0] = -1;
	if (sqlite3_prepare_v2(fl->bh->db, "PRAGMA data_version", -1, &st,
	                       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		sig[0] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sig[1] = sqlite3_total_changes64(fl->bh->db);
}

/* Our own writes (history, last hits) are no reason to read again: when
 * nothing else had changed the store before them (@before: the changes
 * count then), they are taken as seen.  Other connections' commits move
 * data_version, which this leaves alone. */
static void own_write_done(struct flowlog *fl, int64_t before)
{
	if (fl->sig[1] == before)
		fl->sig[1] = sqlite3_total_changes64(fl->bh->db);
}

/* Rebuild the lookups from the store: O(inventory + groups + rules),
 * skipped when nothing was written since the last time (@force: always). */
static void refresh(struct flowlog *fl, int force)
{
	struct inventory inv;
	struct config cfg;
	int64_t sig[2];

	store_sig(fl, sig);
	if (!force && sig[0] == fl->sig[0] && sig[1] == fl->sig[1])
		return;
	fl->sig[0] = sig[0];
	fl->sig[1] = sig[1];

	table_free(&fl->nic_wl);
	table_free(&fl->addr_wl);
	table_free(&fl->wl_group);
	table_free(&fl->rule_sec);
	memset(fl->ifc, 0, sizeof fl->ifc);
	if (policy_inventory_load(fl->bh, &inv) == 0) {
		if (policy_config_load(fl->bh, CONFIG_RUNNING, &cfg) == 0) {
			policy_membership(&cfg, &inv);
			for (size_t i = 0; i < cfg.nrules; i++) {
				char id[32];

				snprintf(id, sizeof id, "%" PRId64,
				         cfg.rules[i].id);
				table_put(&fl->rule_sec, id,
				          policy_section_name(cfg.rules[i].section),
				          cfg.rules[i].id);
			}
			/* the most specific group: fewest members, then
			 * the name */
			for (size_t w = 0; w < inv.n; w++) {
				const struct group *best = NULL;

				for (size_t g = 0; g < cfg.ngroups; g++) {
					const struct group *gr = &cfg.groups[g];

					if (!strv_contains(&gr->eff_workloads,
					                   inv.w[w].name))
						continue;
					if (!best || gr->eff_workloads.n <
					    best->eff_workloads.n)
						best = gr;
				}
				if (best)
					table_put(&fl->wl_group, inv.w[w].name,
					          best->name, 0);
			}
			policy_config_free(&cfg);
		}
		for (size_t w = 0; w < inv.n; w++)
			for (size_t k = 0; k < inv.w[w].nnics; k++) {
				const struct nic *n = &inv.w[w].nics[k];

				table_put(&fl->nic_wl, n->ifname,
				          inv.w[w].name, 0);
				for (size_t a = 0; a < n->addrs.n; a++)
					table_put(&fl->addr_wl, n->addrs.v[a],
					          inv.w[w].name, 0);
			}
		policy_inventory_free(&inv);
	}
	table_sort(&fl->nic_wl);
	table_sort(&fl->addr_wl);
	table_sort(&fl->wl_group);
	table_sort(&fl->rule_sec);
}

static const char *ifname_of(struct flowlog *fl, uint32_t idx, char *buf)
{
	size_t h = idx % IFCACHE;

	if (fl->ifc[h].idx == idx && fl->ifc[h].name[0])
		return fl->ifc[h].name;
	if (!if_indextoname(idx, buf))
		snprintf(buf, IF_NAMESIZE, "if%u", idx);
	else {
		fl->ifc[h].idx = idx;
		snprintf(fl->ifc[h].name, sizeof fl->ifc[h].name, "%s", buf);
	}
	return buf;
}

/* ---- records ---------------------------------------------------------------- */

static const char *proto_name(int p, char *buf, size_t len)
{
	switch (p) {
	case 6: return "tcp";
	case 17: return "udp";
	case 1: return "icmp";
	case 58: return "icmpv6";
	}
	snprintf(buf, len, "%d", p);
	return buf;
}

/* The network and transport headers into @r. */
static void parse_payload(const struct nflog_pkt *p, struct flow_rec *r)
{
	const uint8_t *b = p->payload, *th = NULL;
	size_t len = p->len, thlen = 0;
	int proto = -1;
	char pb[8];

	if (p->ethertype == 0x0800 && len >= 20) {
		size_t ihl = (size_t)(b[0] & 0x0f) * 4;
		int frag = ((b[6] & 0x1f) << 8 | b[7]) != 0;

		inet_ntop(AF_INET, b + 12, r->src, sizeof r->src);
		inet_ntop(AF_INET, b + 16, r->dst, sizeof r->dst);
		proto = b[9];
		if (!frag && ihl >= 20 && len > ihl) {
			th = b + ihl;
			thlen = len - ihl;
		}
	} else if (p->ethertype == 0x86dd && len >= 40) {
		inet_ntop(AF_INET6, b + 8, r->src, sizeof r->src);
		inet_ntop(AF_INET6, b + 24, r->dst, sizeof r->dst);
		proto = b[6];
		th = b + 40;
		thlen = len - 40;
		/* hop-by-hop, routing, destination options: to the
		 * transport header */
		while ((proto == 0 || proto == 43 || proto == 60) &&
		       thlen >= 8) {
			size_t l = ((size_t)th[1] + 1) * 8;

			if (l > thlen)
				break;
			proto = th[0];
			th += l;
			thlen -= l;
		}
	} else if (p->ethertype == 0x0806 && len >= 28) {
		snprintf(r->proto, sizeof r->proto, "arp");
		inet_ntop(AF_INET, b + 14, r->src, sizeof r->src);
		inet_ntop(AF_INET, b + 24, r->dst, sizeof r->dst);
		return;
	} else {
		snprintf(r->proto, sizeof r->proto, "0x%04x", p->ethertype);
		return;
	}
	snprintf(r->proto, sizeof r->proto, "%s",
	         proto_name(proto, pb, sizeof pb));
	if ((proto == 6 || proto == 17) && th && thlen >= 4) {
		r->sport = th[0] << 8 | th[1];
		r->dport = th[2] << 8 | th[3];
	}
}

/* "bh:ID:ACTION " -> rule, verdict, section.  0 when it is not ours. */
static int parse_prefix(struct flowlog *fl, const char *prefix,
                        struct flow_rec *r)
{
	char id[32], act[8];
	const struct kv *kv;

	if (sscanf(prefix, "bh:%31[^:]:%7[a-z-]", id, act) != 2)
		return 0;
	snprintf(r->verdict, sizeof r->verdict, "%s", act);
	if (!strcmp(id, "default") || !strcmp(id, "spoof") ||
	    !strcmp(id, "quarantine")) {
		snprintf(r->section, sizeof r->section, "%.15s", id);
		return 1;
	}
	r->rule = strtoll(id, NULL, 10);
	kv = table_get(&fl->rule_sec, id);
	snprintf(r->section, sizeof r->section, "%s", kv ? kv->val : "");
	return 1;
}

void flowlog_rec_json(struct json *j, const struct flow_rec *r)
{
	json_obj_begin(j);
	json_kint(j, "seq", (int64_t)r->seq);
	json_kint(j, "time_ms", r->time_ms);
	json_kstr(j, "workload", r->workload[0] ? r->workload : NULL);
	json_kstr(j, "nic", r->nic);
	json_kstr(j, "direction", r->in ? "in" : "out");
	json_kstr(j, "verdict", r->verdict);
	json_key(j, "rule");
	if (r->rule)
		json_int(j, r->rule);
	else
		json_null(j);
	json_kstr(j, "section", r->section);
	json_kstr(j, "proto", r->proto);
	json_kstr(j, "src", r->src);
	json_key(j, "sport");
	if (r->sport >= 0)
		json_int(j, r->sport);
	else
		json_null(j);
	json_kstr(j, "dst", r->dst);
	json_key(j, "dport");
	if (r->dport >= 0)
		json_int(j, r->dport);
	else
		json_null(j);
	json_kstr(j, "peer", r->peer[0] ? r->peer : NULL);
	json_obj_end(j);
}

static void endpoint(struct strbuf *sb, const char *addr, int port)
{
	if (port < 0)
		sb_add(sb, addr);
	else
		sb_addf(sb, strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr, port);
}

void flowlog_rec_text(const struct flow_rec *r, struct strbuf *out)
{
	char t[32];
	time_t s = (time_t)(r->time_ms / 1000);
	struct tm tm;
	char rule[24];

	localtime_r(&s, &tm);
	strftime(t, sizeof t, "%H:%M:%S", &tm);
	if (r->rule)
		snprintf(rule, sizeof rule, "rule %" PRId64, r->rule);
	else
		snprintf(rule, sizeof rule, "%s", r->section);
	sb_addf(out, "%s.%03d %-7s %-12s %-3s %-10s %-14s %-6s ", t,
	        (int)(r->time_ms % 1000), r->verdict,
	        r->workload[0] ? r->workload : "-", r->in ? "in" : "out",
	        r->nic, rule, r->proto);
	endpoint(out, r->src, r->sport);
	sb_add(out, " -> ");
	endpoint(out, r->dst, r->dport);
	if (r->peer[0])
		sb_addf(out, " (%s %s)", r->in ? "from" : "to", r->peer);
}

int flowlog_match(const struct flow_filter *f, const struct flow_rec *r)
{
	if (f->after && r->seq <= f->after)
		return 0;
	if (f->denied && strcmp(r->verdict, "drop") &&
	    strcmp(r->verdict, "reject"))
		return 0;
	if (f->workload && strcmp(r->workload, f->workload) &&
	    strcmp(r->peer, f->workload))
		return 0;
	return 1;
}

/* ---- aggregates ------------------------------------------------------------ */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

static void agg_add(struct flowlog *fl, const struct flow_agg *a)
{
	char key[512];
	size_t i;

	snprintf(key, sizeof key, "%" PRId64 "\t%s\t%s\t%s\t%d\t%s\t%" PRId64,
	         a->hour_ms, a->src_group, a->dst_group, a->proto, a->port,
	         a->verdict, a->rule);
	if ((fl->aggn + 1) * 2 >= fl->aggcap) {
		struct agg_slot *old = fl->agg;
		size_t oldcap = fl->aggcap;

		fl->aggcap = oldcap ? oldcap * 2 : 256;
		fl->agg = xcalloc(fl->aggcap, sizeof *fl->agg);
		for (size_t k = 0; k < oldcap; k++)
			if (old[k].key) {
				i = hash_str(old[k].key) & (fl->aggcap - 1);
				while (fl->agg[i].key)
					i = (i + 1) & (fl->aggcap - 1);
				fl->agg[i] = old[k];
			}
		free(old);
	}
	i = hash_str(key) & (fl->aggcap - 1);
	while (fl->agg[i].key && strcmp(fl->agg[i].key, key))
		i = (i + 1) & (fl->aggcap - 1);
	if (!fl->agg[i].key) {
		fl->agg[i].key = xstrdup(key);
		fl->agg[i].a = *a;
		fl->agg[i].a.count = 0;
		fl->aggn++;
	}
	fl->agg[i].a.count += a->count;
}

/* Count @r in this hour's aggregates.  A flow between two managed NICs
 * is logged on both; it counts where it left (the record "in" whose
 * source is a managed workload is its second sighting). */
static void aggregate(struct flowlog *fl, const struct flow_rec *r)
{
	const char *sw, *dw;
	const struct kv *sg, *dg;
	struct flow_agg a;

	if (r->in && r->peer[0])
		return;
	sw = r->in ? r->peer : r->workload;
	dw = r->in ? r->workload : r->peer;
	sg = *sw ? table_get(&fl->wl_group, sw) : NULL;
	dg = *dw ? table_get(&fl->wl_group, dw) : NULL;
	memset(&a, 0, sizeof a);
	a.hour_ms = r->time_ms - r->time_ms % 3600000;
	snprintf(a.src_group, sizeof a.src_group, "%s", sg ? sg->val : "");
	snprintf(a.dst_group, sizeof a.dst_group, "%s", dg ? dg->val : "");
	snprintf(a.proto, sizeof a.proto, "%s", r->proto);
	a.port = r->dport < 0 ? 0 : r->dport;
	snprintf(a.verdict, sizeof a.verdict, "%s", r->verdict);
	a.rule = r->rule ? r->rule : !strcmp(r->section, "spoof") ? -1 : 0;
	a.count = 1;
	agg_add(fl, &a);
}

int flowlog_flush(struct flowlog *fl)
{
	struct flow_agg *a = xcalloc(fl->aggn + 1, sizeof *a);
	size_t n = 0;
	int64_t before = sqlite3_total_changes64(fl->bh->db);
	int rc;

	for (size_t i = 0; i < fl->aggcap; i++)
		if (fl->agg[i].key)
			a[n++] = fl->agg[i].a;
	rc = store_flow_add(fl->bh, a, n,
	                    util_now_ms() - fl->o.retention * 1000);
	free(a);
	if (rc < 0)
		return -1;     /* kept: the next flush tries again */
	own_write_done(fl, before);
	for (size_t i = 0; i < fl->aggcap; i++) {
		free(fl->agg[i].key);
		fl->agg[i].key = NULL;
	}
	fl->aggn = 0;
	return 0;
}

/* ---- watchers and JSON lines ------------------------------------------------- */

int flowlog_watch_request(struct flowlog *fl, int json,
                          const struct flow_filter *f)
{
	memset(&fl->req, 0, sizeof fl->req);
	fl->req.json = json;
	fl->req.f = *f;
	if (f->workload) {
		snprintf(fl->req.workload, sizeof fl->req.workload, "%s",
		         f->workload);
		fl->req.f.workload = NULL;   /* set when attached */
	}
	fl->pending = 1;
	return 0;
}

int flowlog_watch_take(struct flowlog *fl, flowlog_emit_fn *emit, void *ctx)
{
	struct watch *w;

	if (!fl->pending)
		return 0;
	fl->pending = 0;
	fl->watches = xrealloc(fl->watches,
	                       (fl->nwatches + 1) * sizeof *fl->watches);
	w = &fl->watches[fl->nwatches++];
	*w = fl->req;
	w->ctx = ctx;
	w->emit = emit;
	w->f.after = 0;
	w->f.last = 0;
	return 1;
}

void flowlog_watch_cancel(struct flowlog *fl)
{
	fl->pending = 0;
}

void flowlog_watch_drop(struct flowlog *fl, void *ctx)
{
	for (size_t i = 0; i < fl->nwatches; i++)
		if (fl->watches[i].ctx == ctx) {
			fl->watches[i] = fl->watches[--fl->nwatches];
			return;
		}
}

static void publish(struct flowlog *fl, const struct flow_rec *r)
{
	struct strbuf js = STRBUF_INIT, tx = STRBUF_INIT;

	if (fl->json_fd >= 0 || fl->json_syslog) {
		struct json j;

		json_init(&j, &js);
		flowlog_rec_json(&j, r);
		if (fl->json_syslog)
			syslog(LOG_INFO, "flow %s", sb_str(&js));
		if (fl->json_fd >= 0) {
			sb_addc(&js, '\n');
			/* O_APPEND, one write a line: lines never interleave
			 * with another writer's */
			if (write(fl->json_fd, js.s, js.len) < 0) {
				/* a full disk must not stop the flow log */
			}
			sb_reset(&js);
		}
		sb_reset(&js);
	}
	for (size_t i = 0; i < fl->nwatches; i++) {
		struct watch *w = &fl->watches[i];
		struct flow_filter f = w->f;

		f.workload = w->workload[0] ? w->workload : NULL;
		if (!flowlog_match(&f, r))
			continue;
		if (w->json) {
			struct json j;

			sb_reset(&js);
			json_init(&j, &js);
			flowlog_rec_json(&j, r);
			sb_addc(&js, '\n');
			if (w->emit(w->ctx, sb_str(&js)) < 0)
				w->missed++;
		} else {
			sb_reset(&tx);
			/* say what a slow reader missed, once it reads again */
			if (w->missed)
				sb_addf(&tx, "(%" PRIu64 " record%s missed: "
				        "this client read too slowly)\n",
				        w->missed, w->missed == 1 ? "" : "s");
			flowlog_rec_text(r, &tx);
			sb_addc(&tx, '\n');
			if (w->emit(w->ctx, sb_str(&tx)) < 0)
				w->missed++;
			else
				w->missed = 0;
		}
	}
	sb_free(&js);
	sb_free(&tx);
}

static void json_open(struct flowlog *fl)
{
	if (fl->json_fd >= 0)
		close(fl->json_fd);
	fl->json_fd = -1;
	fl->json_syslog = 0;
	if (!fl->o.json || !*fl->o.json)
		return;
	if (!strcmp(fl->o.json, "syslog")) {
		fl->json_syslog = 1;
		return;
	}
	fl->json_fd = open(fl->o.json, O_WRONLY | O_CREAT | O_APPEND |
	                   O_CLOEXEC, 0640);
	if (fl->json_fd < 0)
		daemon_log(LOG_ERR, "flowlog: %s: %s: no JSON lines",
		           fl->o.json, strerror(errno));
}

/* ---- the nflog callback ------------------------------------------------------ */

static void on_packet(void *arg, const struct nflog_pkt *p)
{
	struct flowlog *fl = arg;
	struct flow_rec rec, *r = &rec;
	char ifb[IF_NAMESIZE];
	const struct kv *kv;

	memset(r, 0, sizeof *r);
	r->sport = r->dport = -1;
	if (!fl->cap || !parse_prefix(fl, p->prefix, r))
		return;
	r->seq = ++fl->seq;
	r->time_ms = p->time_ms;
	r->in = p->indev == 0;
	snprintf(r->nic, sizeof r->nic, "%s",
	         ifname_of(fl, r->in ? p->outdev : p->indev, ifb));
	kv = table_get(&fl->nic_wl, r->nic);
	if (kv)
		snprintf(r->workload, sizeof r->workload, "%s", kv->val);
	parse_payload(p, r);
	kv = table_get(&fl->addr_wl, r->in ? r->src : r->dst);
	if (kv && strcmp(kv->val, r->workload))
		snprintf(r->peer, sizeof r->peer, "%s", kv->val);
	fl->ring[fl->head] = rec;
	r = &fl->ring[fl->head];
	fl->head = (fl->head + 1) % fl->cap;
	if (fl->count < fl->cap)
		fl->count++;
	fl->records++;
	aggregate(fl, r);
	publish(fl, r);
}

static void on_nflog(void *arg, int fd, short revents)
{
	struct flowlog *fl = arg;
	char err[256];

	(void)fd;
	(void)revents;
	if (nflog_read(fl->nf, on_packet, fl, err, sizeof err) < 0)
		daemon_log(LOG_ERR, "flowlog: %s", err);
}

struct flow_rec *flowlog_records(struct flowlog *fl,
                                 const struct flow_filter *f, size_t *n,
                                 uint64_t *lost)
{
	size_t want = f->last && f->last < fl->count ? f->last : fl->count;
	struct flow_rec *out = xcalloc(want + 1, sizeof *out);
	size_t k = 0;

	/* newest first, up to @want matches, so `last N` costs O(N) memory
	 * whatever the ring's size; then put them oldest first */
	for (size_t i = 0; i < fl->count && k < want; i++) {
		const struct flow_rec *r =
			&fl->ring[(fl->head + fl->cap - 1 - i) % fl->cap];

		if (f->after && r->seq <= f->after)
			break;
		if (flowlog_match(f, r))
			out[k++] = *r;
	}
	for (size_t i = 0; i < k / 2; i++) {
		struct flow_rec t = out[i];

		out[i] = out[k - 1 - i];
		out[k - 1 - i] = t;
	}
	*n = k;
	*lost = nflog_lost(fl->nf);
	return out;
}

/* ---- counters ------------------------------------------------------------------- */

static int ctr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ctr *)a)->name,
	              ((const struct ctr *)b)->name);
}

int flowlog_counter_stat(struct flowlog *fl, const char *name, double *pps,
                         int64_t *last_hit_ms)
{
	struct ctr k, *c;

	snprintf(k.name, sizeof k.name, "%s", name);
	c = fl->nctrs ? bsearch(&k, fl->ctrs, fl->nctrs, sizeof *fl->ctrs,
	                        ctr_cmp) : NULL;
	if (!c)
		return -1;
	*pps = c->pps;
	*last_hit_ms = c->last_hit_ms;
	return 0;
}

/* Read every counter: rate over the interval, last hit when it moved;
 * rules that moved go to the store.  O(counters log counters). */
static void sample(struct flowlog *fl)
{
	struct nft_counter *nc = NULL;
	size_t n = 0, nmoved = 0;
	struct ctr *next;
	int64_t now = loop_now_ms(), real = util_now_ms();
	double secs = fl->sampled_ms ? (now - fl->sampled_ms) / 1000.0 : 0;
	int64_t *ids, before;
	uint64_t *pk;

	if (!fl->bh->enforcer || nft_counters(fl->bh, &nc, &n) < 0)
		return;
	next = xcalloc(n + 1, sizeof *next);
	ids = xcalloc(n + 1, sizeof *ids);
	pk = xcalloc(n + 1, sizeof *pk);
	for (size_t i = 0; i < n; i++) {
		struct ctr *c = &next[i], *old;

		snprintf(c->name, sizeof c->name, "%s", nc[i].name);
		c->rule = nc[i].rule_id;
		c->packets = nc[i].packets;
		old = fl->nctrs ? bsearch(c, fl->ctrs, fl->nctrs,
		                          sizeof *fl->ctrs, ctr_cmp) : NULL;
		if (old) {
			c->last_hit_ms = old->last_hit_ms;
			if (c->packets > old->packets) {
				c->last_hit_ms = real;
				if (secs > 0)
					c->pps = (double)(c->packets -
					                  old->packets) / secs;
			}
		}
		if (c->last_hit_ms == real && c->rule) {
			ids[nmoved] = c->rule;
			pk[nmoved++] = c->packets;
		}
	}
	qsort(next, n, sizeof *next, ctr_cmp);
	free(fl->ctrs);
	fl->ctrs = next;
	fl->nctrs = n;
	fl->sampled_ms = now;
	before = sqlite3_total_changes64(fl->bh->db);
	if (nmoved && store_rule_hit_set(fl->bh, ids, pk, nmoved, real) < 0)
		daemon_log(LOG_ERR, "flowlog: last hits: %s", fl->bh->err);
	else if (nmoved)
		own_write_done(fl, before);
	free(ids);
	free(pk);
	free(nc);
}

/* Reading every counter blocks the loop (about 0.8 s at 10,000 rules,
 * most of it libnftables listing the table), so the next sample waits at
 * least 20 times as long as this one took: the clients never wait more
 * than 5% of the time, whatever --counter-interval says. */
static void on_sample(void *arg)
{
	struct flowlog *fl = arg;
	int64_t t0 = loop_now_ms(), took, next;

	sample(fl);
	refresh(fl, 0);
	took = loop_now_ms() - t0;
	next = fl->o.sample * 1000;
	if (took * 20 > next)
		next = took * 20;
	fl->sample_timer = loop_timer_add(fl->loop, next, on_sample, fl);
}

static void on_flush(void *arg)
{
	struct flowlog *fl = arg;

	if (flowlog_flush(fl) < 0)
		daemon_log(LOG_ERR, "flowlog: history: %s", fl->bh->err);
	fl->flush_timer = loop_timer_add(fl->loop, FLUSH_MS, on_flush, fl);
}

/* ---- the service -------------------------------------------------------------------- */

void *flowlog_start(const struct daemon_env *env, char *err, size_t errlen)
{
	struct flowlog *fl = xcalloc(1, sizeof *fl);

	if (env->flow)
		fl->o = *env->flow;
	if (!fl->o.ring)
		fl->o.ring = FLOWLOG_RING_DEFAULT;
	if (fl->o.retention <= 0)
		fl->o.retention = FLOWLOG_RETENTION_DEFAULT;
	if (fl->o.sample <= 0)
		fl->o.sample = FLOWLOG_SAMPLE_DEFAULT;
	fl->bh = env->bh;
	fl->loop = env->loop;
	fl->json_fd = -1;
	fl->nf = nflog_open(NFLOG_GROUP_FLOWS, 256, err, errlen);
	if (!fl->nf) {
		free(fl);
		return NULL;
	}
	if (loop_io_add(fl->loop, nflog_fd(fl->nf), POLLIN, on_nflog, fl)) {
		snprintf(err, errlen, "too many descriptors watched");
		nflog_close(fl->nf);
		free(fl);
		return NULL;
	}
	fl->cap = fl->o.ring;
	fl->ring = xcalloc(fl->cap, sizeof *fl->ring);
	json_open(fl);
	refresh(fl, 1);
	sample(fl);
	fl->sample_timer = loop_timer_add(fl->loop, fl->o.sample * 1000,
	                                  on_sample, fl);
	fl->flush_timer = loop_timer_add(fl->loop, FLUSH_MS, on_flush, fl);
	fl->bh->flowlog = fl;
	daemon_log(LOG_INFO, "flowlog: nflog group %d, ring %zu records, "
	           "history %" PRId64 "h%s%s", NFLOG_GROUP_FLOWS, fl->cap,
	           fl->o.retention / 3600, fl->o.json ? ", JSON lines to " : "",
	           fl->o.json ? fl->o.json : "");
	return fl;
}

void flowlog_stop(void *state)
{
	struct flowlog *fl = state;

	if (flowlog_flush(fl) < 0)
		daemon_log(LOG_ERR, "flowlog: history not written: %s",
		           fl->bh->err);
	for (size_t i = 0; i < fl->aggcap; i++)
		free(fl->agg[i].key);
	free(fl->agg);
	if (fl->bh->flowlog == fl)
		fl->bh->flowlog = NULL;
	loop_io_del(fl->loop, nflog_fd(fl->nf));
	loop_timer_del(fl->loop, fl->sample_timer);
	loop_timer_del(fl->loop, fl->flush_timer);
	nflog_close(fl->nf);
	if (fl->json_fd >= 0)
		close(fl->json_fd);
	table_free(&fl->nic_wl);
	table_free(&fl->addr_wl);
	table_free(&fl->wl_group);
	table_free(&fl->rule_sec);
	free(fl->watches);
	free(fl->ctrs);
	free(fl->ring);
	free(fl);
}

/* SIGHUP: the inventory and config again, and the JSON file reopened
 * (after logrotate moved it). */
void flowlog_resync(void *state)
{
	struct flowlog *fl = state;

	refresh(fl, 1);
	json_open(fl);
}
