/*
 * flowshow.c - the flow log's views (front end; see flowlog.h): `show
 * flows` from the daemon's ring, `show flows history` and `suggest rules`
 * from the store's hourly aggregates, `show counters unused`.  They
 * append text or one JSON document to @out and never print.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowlog.h"
#include "json.h"
#include "nft.h"
#include "policy.h"

int flowlog_show(struct bh *bh, const struct cmd_opts *o,
                 const struct flow_filter *f, struct strbuf *out)
{
	struct flow_rec *r;
	size_t n;
	uint64_t lost;

	if (!bh->flowlog)
		return bh_error(bh, "show flows: the flow log is kept by the "
		                "daemon, and none with a flow log serves this "
		                "store: start 'bulkhead daemon' as root (see its "
		                "log if it runs), or use 'show flows active' for "
		                "the kernel's live flows and 'show flows history' "
		                "for the stored hours");
	r = flowlog_records(bh->flowlog, f, &n, &lost);
	if (o->json) {
		struct json j;

		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "flows");
		json_arr_begin(&j);
		for (size_t i = 0; i < n; i++)
			flowlog_rec_json(&j, &r[i]);
		json_arr_end(&j);
		json_kint(&j, "lost", (int64_t)lost);
		json_obj_end(&j);
		sb_addc(out, '\n');
	} else {
		for (size_t i = 0; i < n; i++) {
			flowlog_rec_text(&r[i], out);
			sb_addc(out, '\n');
		}
		if (!n)
			sb_add(out, "no flow records\n");
		if (lost)
			sb_addf(out, "(%" PRIu64 " records lost: the daemon "
			        "could not keep up)\n", lost);
	}
	free(r);
	return 0;
}

static const char *or_any(const char *g)
{
	return *g ? g : "any";
}

int flowlog_show_history(struct bh *bh, const struct cmd_opts *o,
                         int64_t since_ms, struct strbuf *out)
{
	struct flow_agg *a;
	size_t n;

	if (bh->flowlog && flowlog_flush(bh->flowlog) < 0)
		return -1;
	if (store_flow_list(bh, since_ms, &a, &n) < 0)
		return -1;
	if (o->json) {
		struct json j;

		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "hours");
		json_arr_begin(&j);
		for (size_t i = 0; i < n; i++) {
			json_obj_begin(&j);
			json_kint(&j, "hour_ms", a[i].hour_ms);
			json_kstr(&j, "src_group", *a[i].src_group ?
			          a[i].src_group : NULL);
			json_kstr(&j, "dst_group", *a[i].dst_group ?
			          a[i].dst_group : NULL);
			json_kstr(&j, "proto", a[i].proto);
			json_key(&j, "port");
			if (a[i].port)
				json_int(&j, a[i].port);
			else
				json_null(&j);
			json_kstr(&j, "verdict", a[i].verdict);
			json_key(&j, "rule");
			if (a[i].rule > 0)
				json_int(&j, a[i].rule);
			else
				json_null(&j);
			json_kint(&j, "count", a[i].count);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		sb_addc(out, '\n');
	} else {
		if (n)
			sb_addf(out, "%-16s  %-14s  %-14s  %-11s  %-7s  %-8s  %s\n",
			        "HOUR", "FROM", "TO", "SERVICE", "VERDICT",
			        "RULE", "COUNT");
		for (size_t i = 0; i < n; i++) {
			char t[32], svc[24], rule[24];
			time_t s = (time_t)(a[i].hour_ms / 1000);
			struct tm tm;

			localtime_r(&s, &tm);
			strftime(t, sizeof t, "%Y-%m-%d %H:00", &tm);
			if (a[i].port)
				snprintf(svc, sizeof svc, "%s %d", a[i].proto,
				         a[i].port);
			else
				snprintf(svc, sizeof svc, "%s", a[i].proto);
			if (a[i].rule > 0)
				snprintf(rule, sizeof rule, "%" PRId64, a[i].rule);
			else
				snprintf(rule, sizeof rule, "%s",
				         a[i].rule < 0 ? "spoof" : "default");
			sb_addf(out, "%-16s  %-14s  %-14s  %-11s  %-7s  %-8s  %"
			        PRId64 "\n", t, or_any(a[i].src_group),
			        or_any(a[i].dst_group), svc, a[i].verdict, rule,
			        a[i].count);
		}
		if (!n)
			sb_add(out, "no flow history in that period\n");
	}
	free(a);
	return 0;
}

static int counter_cmp(const void *a, const void *b)
{
	return strcmp(((const struct nft_counter *)a)->name,
	              ((const struct nft_counter *)b)->name);
}

int flowlog_counters_load(struct bh *bh, struct config *cfg,
                          struct nft_counter **c, size_t *n,
                          int64_t **hit_rules, int64_t **hit_times,
                          size_t *nhits)
{
	*c = NULL;
	*n = 0;
	if (!bh->enforcer)
		return bh_error(bh, "show counters: the counters are in the "
		                "kernel, which only root may read: run as root");
	if (policy_config_load(bh, CONFIG_RUNNING, cfg))
		return -1;
	if (nft_counters(bh, c, n) < 0) {
		policy_config_free(cfg);
		return -1;
	}
	/* the last hits the daemon recorded, for what it cannot say now */
	if (store_rule_hit_all(bh, hit_rules, hit_times, nhits) < 0) {
		free(*c);
		policy_config_free(cfg);
		return -1;
	}
	return 0;
}

int flowlog_show_unused(struct bh *bh, const struct cmd_opts *o,
                        int64_t since_ms, struct strbuf *out)
{
	struct nft_counter *c = NULL;
	struct config cfg;
	size_t n = 0;
	struct json j;
	size_t shown = 0, nh = 0;
	int64_t *hr = NULL, *ht = NULL;

	if (flowlog_counters_load(bh, &cfg, &c, &n, &hr, &ht, &nh))
		return -1;
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "unused");
		json_arr_begin(&j);
	}
	for (size_t i = 0; i < cfg.nrules; i++) {
		const struct rule *r = &cfg.rules[i];
		uint64_t packets = 0;
		int64_t last = 0;
		char name[48];

		if (!r->enabled)
			continue;
		snprintf(name, sizeof name, "rule_%" PRId64, r->id);
		{
			/* nft_counters() sorts by name */
			struct nft_counter key, *hit;

			snprintf(key.name, sizeof key.name, "%s", name);
			hit = n ? bsearch(&key, c, n, sizeof *c, counter_cmp)
			        : NULL;
			if (hit)
				packets = hit->packets;
		}
		last = flowlog_hit_find(hr, ht, nh, r->id);
		/* unused: never counted, or (with since) not seen moving
		 * by the daemon since then */
		if (packets && !(since_ms && last < since_ms))
			continue;
		if (packets && !last)
			continue;       /* hit, but the daemon never saw when */
		shown++;
		if (o->json) {
			json_obj_begin(&j);
			json_kint(&j, "rule", r->id);
			json_kstr(&j, "section", policy_section_name(r->section));
			json_kstr(&j, "action", policy_action_name(r->action));
			json_kint(&j, "packets", (int64_t)packets);
			json_key(&j, "last_hit_ms");
			if (last)
				json_int(&j, last);
			else
				json_null(&j);
			json_obj_end(&j);
		} else {
			char t[64] = "never";

			if (last)
				util_time_format(last, t, sizeof t);
			sb_addf(out, "rule %" PRId64 " (%s %s): last hit %s, "
			        "%" PRIu64 " packets since loaded\n", r->id,
			        policy_section_name(r->section),
			        policy_action_name(r->action), t, packets);
		}
	}
	if (o->json) {
		json_arr_end(&j);
		json_obj_end(&j);
		sb_addc(out, '\n');
	} else if (!shown) {
		sb_add(out, "no unused rules\n");
	}
	free(hr);
	free(ht);
	free(c);
	policy_config_free(&cfg);
	return 0;
}

/* A service of @cfg that is exactly @proto @port (one entry), or NULL. */
static const char *service_for(const struct config *cfg, const char *proto,
                               int port)
{
	char ports[16];

	snprintf(ports, sizeof ports, "%d", port);
	for (size_t i = 0; i < cfg->nsvcs; i++) {
		const struct service *s = &cfg->svcs[i];

		if (s->ne != 1 || strcmp(s->e[0].proto, proto))
			continue;
		if (port ? !strcmp(s->e[0].ports, ports)
		         : (!s->e[0].ports[0] ||
		            !strcmp(s->e[0].ports, "echo-request")))
			return s->name;
	}
	return NULL;
}

struct pair {
	char src[BH_NAME_MAX + 1], dst[BH_NAME_MAX + 1];
	struct strv svcs;
	int64_t count;
};

int flowlog_suggest(struct bh *bh, const struct cmd_opts *o,
                    int64_t since_ms, const char *group, struct strbuf *out)
{
	struct flow_agg *a;
	size_t n, np = 0;
	struct config cfg;
	struct pair *p = NULL;
	struct strv newsvc = STRV_INIT;
	struct json j;

	if (bh->flowlog && flowlog_flush(bh->flowlog) < 0)
		return -1;
	if (policy_config_load(bh, CONFIG_CANDIDATE, &cfg))
		return -1;
	if (group && !policy_config_group(&cfg, group)) {
		policy_config_free(&cfg);
		return bh_error(bh, "suggest rules: group \"%s\" does not exist",
		                group);
	}
	if (store_flow_list(bh, since_ms, &a, &n) < 0) {
		policy_config_free(&cfg);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *svc;
		char made[BH_NAME_MAX + 1];
		size_t k;

		/* what is not allowed yet: the default's drops, and what
		 * monitor rules only watched; a rule's deliberate drop is
		 * not second-guessed */
		if (strcmp(a[i].verdict, "monitor") &&
		    !(a[i].rule == 0 && strcmp(a[i].verdict, "allow")))
			continue;
		if (group && strcmp(a[i].src_group, group) &&
		    strcmp(a[i].dst_group, group))
			continue;
		if (!*a[i].src_group && !*a[i].dst_group)
			continue;     /* any to any: not a segmentation rule */
		if (strcmp(a[i].proto, "tcp") && strcmp(a[i].proto, "udp") &&
		    strcmp(a[i].proto, "icmp") && strcmp(a[i].proto, "icmpv6"))
			continue;
		svc = service_for(&cfg, a[i].proto, a[i].port);
		if (!svc) {
			if (a[i].port)
				snprintf(made, sizeof made, "%s-%d", a[i].proto,
				         a[i].port);
			else
				snprintf(made, sizeof made, "%s-echo",
				         a[i].proto);
			if (!strv_contains(&newsvc, made))
				strv_push(&newsvc, made);
			svc = made;
		}
		for (k = 0; k < np; k++)
			if (!strcmp(p[k].src, a[i].src_group) &&
			    !strcmp(p[k].dst, a[i].dst_group))
				break;
		if (k == np) {
			p = xrealloc(p, (np + 1) * sizeof *p);
			memset(&p[np], 0, sizeof p[np]);
			snprintf(p[np].src, sizeof p[np].src, "%s",
			         a[i].src_group);
			snprintf(p[np].dst, sizeof p[np].dst, "%s",
			         a[i].dst_group);
			np++;
		}
		if (!strv_contains(&p[k].svcs, svc))
			strv_push(&p[k].svcs, svc);
		p[k].count += a[i].count;
	}
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "commands");
		json_arr_begin(&j);
	}
	for (size_t i = 0; i < newsvc.n; i++) {
		struct strbuf line = STRBUF_INIT;
		char proto[8];
		int port = 0;

		sscanf(newsvc.v[i], "%7[a-z0-9]-%d", proto, &port);
		if (port)
			sb_addf(&line, "add service %s %s %d", newsvc.v[i],
			        proto, port);
		else
			sb_addf(&line, "add service %s %s echo-request",
			        newsvc.v[i], proto);
		if (o->json)
			json_str(&j, sb_str(&line));
		else
			sb_addf(out, "%s\n", sb_str(&line));
		sb_free(&line);
	}
	for (size_t i = 0; i < np; i++) {
		struct strbuf line = STRBUF_INIT, sv = STRBUF_INIT;

		strv_sort(&p[i].svcs);
		strv_join(&sv, &p[i].svcs, ",");
		sb_addf(&line, "add rule application allow from %s to %s "
		        "service %s comment \"suggested: %" PRId64 " flow%s "
		        "observed\"", or_any(p[i].src), or_any(p[i].dst),
		        sb_str(&sv), p[i].count, p[i].count == 1 ? "" : "s");
		if (o->json)
			json_str(&j, sb_str(&line));
		else
			sb_addf(out, "%s\n", sb_str(&line));
		sb_free(&line);
		sb_free(&sv);
		strv_free(&p[i].svcs);
	}
	if (o->json) {
		json_arr_end(&j);
		json_obj_end(&j);
		sb_addc(out, '\n');
	} else if (!np) {
		sb_add(out, "# nothing to suggest: no denied or monitored "
		       "traffic between groups in that period\n");
	} else {
		sb_add(out, "# review, then: commit\n");
	}
	free(p);
	strv_free(&newsvc);
	free(a);
	policy_config_free(&cfg);
	return 0;
}
