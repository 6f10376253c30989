/*
 * flowlog.h - the flow log and the hit counters' history (layer: inventory
 * and events, with the daemon service that runs them).
 *
 * The ruleset logs, rate-limited in the kernel, the first packet of every
 * newly allowed flow and the packets it drops, to nflog group
 * NFLOG_GROUP_FLOWS with the prefix "bh:ID:ACTION " (compile.c "The flow
 * log").  The daemon's "flowlog" service reads them, maps each to a flow
 * record (workload, NIC, rule, verdict, 5-tuple, peer), and keeps:
 *   - a ring of the newest records in memory (show flows, monitor flows);
 *   - hourly aggregates in the store (flow_hour), for history and suggest;
 *   - optionally one JSON line per record, to a file or syslog;
 * and it samples the kernel's counters periodically for their rate and
 * last hit (show counters, unused rules; rule_hit in the store).
 *
 * Commands run inside the daemon reach the service through bh->flowlog
 * (NULL elsewhere: no flow log in-process).
 */
#ifndef BH_FLOWLOG_H
#define BH_FLOWLOG_H

#include <stddef.h>
#include <stdint.h>

#include "bulkhead.h"
#include "cmd.h"
#include "daemon.h"
#include "json.h"
#include "util.h"

struct config;
struct nft_counter;

#define FLOWLOG_RING_DEFAULT 4096
#define FLOWLOG_RETENTION_DEFAULT (30 * 86400)   /* seconds */
#define FLOWLOG_SAMPLE_DEFAULT 10                /* seconds */

/* One logged packet as the flow log keeps it.  Strings "" mean none
 * (JSON null where the record allows it). */
struct flow_rec {
	uint64_t seq;              /* 1, 2, ... since the daemon started */
	int64_t time_ms;           /* realtime */
	char workload[BH_NAME_MAX + 1];
	char nic[BH_IFNAME_MAX + 1];
	int in;                    /* 0 "out": leaving the workload (hook
	                              ingress), 1 "in": toward it */
	char verdict[8];           /* allow drop reject monitor */
	int64_t rule;              /* 0: none (default, spoof) */
	char section[16];
	char proto[8];             /* tcp udp icmp icmpv6 arp, else the
	                              protocol number */
	char src[48], dst[48];
	int sport, dport;          /* -1: none */
	char peer[BH_NAME_MAX + 1];/* the workload at the other end */
};

/* Which records a view wants. */
struct flow_filter {
	const char *workload;      /* the workload or its peer; NULL: all */
	int denied;                /* drop and reject only */
	size_t last;               /* the newest N; 0: all */
	uint64_t after;            /* seq greater than this */
};

/* The service's settings (the daemon's --flow-* options). */
struct flowlog_opts {
	size_t ring;               /* records kept; 0: FLOWLOG_RING_DEFAULT */
	int64_t retention;         /* seconds of hourly history; 0: default */
	const char *json;          /* JSON lines: a file, "syslog", NULL */
	int64_t sample;            /* counter sampling, seconds; 0: default */
};

struct flowlog;

/* The daemon's service "flowlog" (daemon.h struct daemon_service): reads
 * env->flow; sets bh->flowlog while it runs.  Fails (not root, the group
 * bound by another process) with the reason in @err. */
void *flowlog_start(const struct daemon_env *env, char *err, size_t errlen);
void flowlog_stop(void *state);
void flowlog_resync(void *state);

/* ---- records ------------------------------------------------------------ */
/* The record as the JSON object of `show flows --json` and JSON lines. */
void flowlog_rec_json(struct json *j, const struct flow_rec *r);
/* One line of text (no newline): time, workload, NIC, direction, verdict,
 * rule, 5-tuple, peer. */
void flowlog_rec_text(const struct flow_rec *r, struct strbuf *out);
int flowlog_match(const struct flow_filter *f, const struct flow_rec *r);

/* ---- what commands inside the daemon reach through bh->flowlog ---------- */
/* Records of the ring that pass @f, oldest first, into a new array (free
 * with free()); *lost: records the kernel could not deliver. */
struct flow_rec *flowlog_records(struct flowlog *fl,
                                 const struct flow_filter *f, size_t *n,
                                 uint64_t *lost);
/* Write the current hour's aggregates to the store now (before history
 * is read).  -1 with bh->err. */
int flowlog_flush(struct flowlog *fl);
/* A counter's rate (packets per second over the last sample) and last
 * hit (realtime ms, 0 never seen moving); 0 when known, -1 otherwise. */
int flowlog_counter_stat(struct flowlog *fl, const char *name, double *pps,
                         int64_t *last_hit_ms);

/*
 * `monitor flows`: the command asks for a watch (flowlog_watch_request);
 * once the command has finished, the daemon hands the connection over
 * (flowlog_watch_take) and from then on each matching record goes to
 * @emit(@ctx, text) as it comes, until flowlog_watch_drop(@ctx).
 * @emit returns -1 when the peer cannot take more now (the record is
 * counted as missed, never queued without bound).
 */
typedef int flowlog_emit_fn(void *ctx, const char *text);
int flowlog_watch_request(struct flowlog *fl, int json,
                          const struct flow_filter *f);
/* 1 when a request was pending (now attached to @ctx), else 0. */
int flowlog_watch_take(struct flowlog *fl, flowlog_emit_fn *emit, void *ctx);
void flowlog_watch_drop(struct flowlog *fl, void *ctx);
/* Forget a request no connection took (called before each request, so a
 * `monitor flows` run by anything but a client never turns the next
 * client into a watcher). */
void flowlog_watch_cancel(struct flowlog *fl);

/* ---- the store (src/flowstore.c) ----------------------------------------- */
struct flow_agg {
	int64_t hour_ms;
	char src_group[BH_NAME_MAX + 1], dst_group[BH_NAME_MAX + 1];
	char proto[8];
	int port;
	char verdict[8];
	int64_t rule;
	int64_t count;
};
/* Add @n aggregates (count added to what is stored) and delete hours
 * before @keep_from_ms, in one transaction. */
int store_flow_add(struct bh *bh, const struct flow_agg *a, size_t n,
                   int64_t keep_from_ms);
/* Aggregates of hours from @since_ms on, hour then count order. */
int store_flow_list(struct bh *bh, int64_t since_ms, struct flow_agg **out,
                    size_t *n);
/* Record last hits: @rules[i] moved to @packets[i] at @now_ms. */
int store_rule_hit_set(struct bh *bh, const int64_t *rules,
                       const uint64_t *packets, size_t n, int64_t now_ms);
/* Every recorded last hit: *rules (ascending) and *times, *n of each,
 * freed with free().  One query, for listings over all rules. */
int store_rule_hit_all(struct bh *bh, int64_t **rules, int64_t **times,
                       size_t *n);
/*
 * What `show counters` and its unused-rules report read, in one go: the
 * running config, the kernel's counters (root: the enforcer) and the last
 * hits the daemon recorded.  Returns 0 with everything to free
 * (policy_config_free, free x3), or -1 with bh->err and nothing held.
 */
int flowlog_counters_load(struct bh *bh, struct config *cfg,
                          struct nft_counter **c, size_t *n,
                          int64_t **hit_rules, int64_t **hit_times,
                          size_t *nhits);
/* The last hit of @id in what store_rule_hit_all() gave (0: none). */
int64_t flowlog_hit_find(const int64_t *rules, const int64_t *times,
                         size_t n, int64_t id);

/* ---- views (src/flowshow.c) ---------------------------------------------- */
int flowlog_show(struct bh *bh, const struct cmd_opts *o,
                 const struct flow_filter *f, struct strbuf *out);
int flowlog_show_history(struct bh *bh, const struct cmd_opts *o,
                         int64_t since_ms, struct strbuf *out);
/* Rules with no hit since @since_ms (0: never hit). */
int flowlog_show_unused(struct bh *bh, const struct cmd_opts *o,
                        int64_t since_ms, struct strbuf *out);
/* `suggest rules`: allow rules covering the traffic that the default
 * dropped or monitor rules saw since @since_ms, optionally only traffic
 * from or to @group. */
int flowlog_suggest(struct bh *bh, const struct cmd_opts *o,
                    int64_t since_ms, const char *group, struct strbuf *out);

#endif
