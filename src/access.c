/*
 * access.c - the management-access check of a commit (policy layer): will
 * the new policy cut the SSH path of the admin who commits it?
 *
 * bulkhead filters only on the NICs of its workloads, so an SSH session
 * is at risk only when its path crosses one: the client's address is bound
 * to a managed NIC (an admin working from a VM or container of this host,
 * a jump host among the workloads), or the address the session reached is
 * (the host reached through a managed interface).  The path comes from the
 * session's SSH_CONNECTION (bh->ssh: the shell's own environment, or the
 * daemon's reading of its peer's).  For each NIC crossed, the running
 * config and the candidate are asked, with the same first-match walk the
 * compiled chains make, what becomes of a new TCP connection on that path
 * (toward SSH's port as SSH_CONNECTION names it).  When the running config
 * lets it through and the candidate would not, the commit is refused
 * unless the admin said `force` or `commit confirmed` (the deadline then
 * brings the old policy back by itself).
 *
 * The established session is in a flow set, which the commit does not
 * flush, so it usually lives on while it stays busy; what the new policy
 * kills is the next login, and the session itself once it idles past the
 * TCP flow timeout.  The message says so.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bulkhead.h"
#include "policy.h"
#include "safeops.h"
#include "util.h"

/* @text as a canonical address: "::ffff:10.0.0.1" -> "10.0.0.1",
 * "fe80::1%eth0" -> "fe80::1".  -1 when it is no address. */
static int canon_addr(const char *text, char *out, size_t len)
{
	char buf[64], err[128];
	int fam;

	snprintf(buf, sizeof buf, "%.*s", (int)strcspn(text, "%"), text);
	if (strncasecmp(buf, "::ffff:", 7) == 0 && strchr(buf + 7, '.'))
		memmove(buf, buf + 7, strlen(buf + 7) + 1);
	return util_addr_parse(buf, 0, out, len, &fam, err, sizeof err);
}

int access_path_parse(const char *text, struct ssh_path *p)
{
	char ca[64], sa[64];
	int cp, sp;

	memset(p, 0, sizeof p[0]);
	if (!text || sscanf(text, "%63s %d %63s %d", ca, &cp, sa, &sp) != 4 ||
	    cp < 1 || cp > 65535 || sp < 1 || sp > 65535)
		return -1;
	if (canon_addr(ca, p->caddr, sizeof p->caddr) < 0 ||
	    canon_addr(sa, p->saddr, sizeof p->saddr) < 0)
		return -1;
	p->cport = cp;
	p->sport = sp;
	return 0;
}

/* 1 when address @a lies in @cidr ("10.0.0.0/8", or one address). */
static int in_cidr(const char *a, const char *cidr)
{
	unsigned char x[16], y[16];
	char net[64];
	const char *slash = strchr(cidr, '/');
	int fa = strchr(a, ':') ? AF_INET6 : AF_INET;
	int fc = strchr(cidr, ':') ? AF_INET6 : AF_INET;
	int bits = fa == AF_INET ? 32 : 128;

	if (fa != fc)
		return 0;
	snprintf(net, sizeof net, "%.*s",
	         (int)(slash ? (size_t)(slash - cidr) : strlen(cidr)), cidr);
	if (slash)
		bits = atoi(slash + 1);
	if (inet_pton(fa, a, x) != 1 || inet_pton(fc, net, y) != 1)
		return 0;
	for (int i = 0; i < bits; i++) {
		unsigned char m = (unsigned char)(0x80u >> (i % 8));
		if ((x[i / 8] & m) != (y[i / 8] & m))
			return 0;
	}
	return 1;
}

/* 1 when @addr is in any of the groups named by @names (empty: any). */
static int in_groups(const struct config *cfg, const struct strv *names,
                     const char *addr)
{
	if (names->n == 0)
		return 1;
	for (size_t i = 0; i < names->n; i++) {
		const struct group *g = policy_config_group(cfg, names->v[i]);

		for (size_t k = 0; g && k < g->eff_addrs.n; k++)
			if (in_cidr(addr, g->eff_addrs.v[k]))
				return 1;
	}
	return 0;
}

/* 1 when workload @at is a member of any applied-to group (empty: all). */
static int applies_to(const struct config *cfg, const struct strv *names,
                      const char *at)
{
	if (names->n == 0)
		return 1;
	for (size_t i = 0; i < names->n; i++) {
		const struct group *g = policy_config_group(cfg, names->v[i]);

		if (g && strv_contains(&g->eff_workloads, at))
			return 1;
	}
	return 0;
}

/* 1 when canonical @ports ("22", "8000-8080,9000"; "" all) hold @port. */
static int port_in(const char *ports, int port)
{
	const char *p = ports;

	if (!*p)
		return 1;
	while (*p) {
		char *end;
		long lo = strtol(p, &end, 10), hi = lo;

		if (*end == '-')
			hi = strtol(end + 1, &end, 10);
		if (port >= lo && port <= hi)
			return 1;
		p = *end == ',' ? end + 1 : end + strlen(end);
	}
	return 0;
}

/* 1 when services @names (empty: any) match TCP to @port. */
static int serves(const struct config *cfg, const struct strv *names,
                  int port)
{
	if (names->n == 0)
		return 1;
	for (size_t i = 0; i < names->n; i++) {
		const struct service *s = policy_config_service(cfg,
		                                                names->v[i]);

		for (size_t k = 0; s && k < s->ne; k++)
			if (strcmp(s->e[k].proto, "tcp") == 0 &&
			    port_in(s->e[k].ports, port))
				return 1;
	}
	return 0;
}

int access_verdict(const struct config *cfg, const char *at,
                   const char *src, const char *dst, int dport,
                   int64_t *rule_id)
{
	/* cfg->rules are in evaluation order: section, then position */
	for (size_t i = 0; i < cfg->nrules; i++) {
		const struct rule *r = &cfg->rules[i];

		if (!r->enabled || !applies_to(cfg, &r->applied, at) ||
		    !in_groups(cfg, &r->src, src) ||
		    !in_groups(cfg, &r->dst, dst) ||
		    !serves(cfg, &r->services, dport))
			continue;
		*rule_id = r->id;
		return r->action;
	}
	*rule_id = 0;
	return cfg->settings.default_action;
}

/* The workload and NIC that @addr is bound to; NULL when none. */
static const struct workload *bound(const struct inventory *inv,
                                    const char *addr, const char **ifname)
{
	for (size_t i = 0; i < inv->n; i++)
		for (size_t k = 0; k < inv->w[i].nnics; k++)
			if (strv_contains(&inv->w[i].nics[k].addrs, addr)) {
				*ifname = inv->w[i].nics[k].ifname;
				return &inv->w[i];
			}
	return NULL;
}

/* "rule 7 (drop)" or "the default action (drop)". */
static void verdict_name(int64_t id, int action, char *buf, size_t len)
{
	if (id)
		snprintf(buf, len, "rule %lld (%s)", (long long)id,
		         policy_action_name(action));
	else
		snprintf(buf, len, "the default action (%s)",
		         policy_action_name(action));
}

int access_commit_check(struct bh *bh, int force, int confirmed,
                        struct strbuf *note)
{
	struct ssh_path p;
	struct inventory inv;
	struct config run, cand;
	struct strbuf why = STRBUF_INIT;
	const struct workload *w[2];
	const char *ifn[2] = { NULL, NULL };
	int rc = 0;

	if (!bh->ssh[0] || access_path_parse(bh->ssh, &p) < 0)
		return 0;
	memset(&inv, 0, sizeof inv);
	if (policy_inventory_load(bh, &inv))
		return -1;
	w[0] = bound(&inv, p.caddr, &ifn[0]);   /* leaving the client */
	w[1] = bound(&inv, p.saddr, &ifn[1]);   /* entering the server */
	if (!w[0] && !w[1]) {
		policy_inventory_free(&inv);
		return 0;
	}
	memset(&run, 0, sizeof run);
	memset(&cand, 0, sizeof cand);
	if (policy_config_load(bh, CONFIG_RUNNING, &run) ||
	    policy_config_load(bh, CONFIG_CANDIDATE, &cand)) {
		rc = -1;
		goto done;
	}
	policy_membership(&run, &inv);
	policy_membership(&cand, &inv);
	for (int k = 0; k < 2; k++) {
		int64_t rid, cid;
		int ra, ca;
		char cv[64];

		if (!w[k])
			continue;
		ra = access_verdict(&run, w[k]->name, p.caddr, p.saddr,
		                    p.sport, &rid);
		ca = access_verdict(&cand, w[k]->name, p.caddr, p.saddr,
		                    p.sport, &cid);
		if (ra != ACTION_ALLOW || ca == ACTION_ALLOW || why.len)
			continue;
		verdict_name(cid, ca, cv, sizeof cv);
		sb_addf(&why, "the new policy would cut your SSH path (tcp "
		        "%s -> %s port %d, %s interface \"%s\" of workload "
		        "\"%s\"): %s, where the running config lets it through; "
		        "your open session lives on only while its flow stays "
		        "in the flow set, a new login would fail", p.caddr,
		        p.saddr, p.sport, k == 0 ? "leaving" : "entering",
		        ifn[k], w[k]->name, cv);
	}
	if (!why.len)
		goto done;
	if (force || confirmed) {
		sb_addf(note, "warning: %s%s", sb_str(&why), confirmed ?
		        "; 'confirm' only once you have logged in again" :
		        " ('force' given)");
	} else {
		bh_error(bh, "commit: %s: commit with 'confirmed 5m' to have "
		         "the old policy back by itself unless you confirm "
		         "from a new login, or add 'force'", sb_str(&why));
		rc = -1;
	}
done:
	sb_free(&why);
	policy_config_free(&run);
	policy_config_free(&cand);
	policy_inventory_free(&inv);
	return rc;
}

/* SSH_CONNECTION from the environment of @pid into @buf; 1 when found,
 * 0 when not, and *sudo set when the process came through sudo. */
static int environ_ssh(pid_t pid, char *buf, size_t len, int *sudo)
{
	char path[64], env[65536];
	ssize_t n;
	int fd;

	*sudo = 0;
	snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, env, sizeof env - 1);
	close(fd);
	if (n <= 0)
		return 0;
	env[n] = '\0';
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(env + i) + 1) {
		if (strncmp(env + i, "SSH_CONNECTION=", 15) == 0) {
			snprintf(buf, len, "%s", env + i + 15);
			return 1;
		}
		if (strncmp(env + i, "SUDO_USER=", 10) == 0)
			*sudo = 1;
	}
	return 0;
}

/* The parent of @pid, 0 when unknown. */
static pid_t parent_of(pid_t pid)
{
	char path[64], stat[512], *rp;
	ssize_t n;
	int fd, ppid = 0;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, stat, sizeof stat - 1);
	close(fd);
	if (n <= 0)
		return 0;
	stat[n] = '\0';
	/* "pid (comm) state ppid ...": comm may hold blanks and ')' */
	rp = strrchr(stat, ')');
	if (!rp || sscanf(rp + 1, " %*c %d", &ppid) != 1)
		return 0;
	return (pid_t)ppid;
}

/*
 * sudo's env_reset drops SSH_CONNECTION and sets SUDO_USER: a process
 * that came through sudo is followed up to the sudo that started it,
 * whose own environment is the SSH session's.  Anything else ends the
 * walk, so a process never borrows a session it does not descend from
 * through sudo.
 */
void access_peer_ssh(pid_t pid, char *buf, size_t len)
{
	int sudo = 0;

	buf[0] = '\0';
	for (int depth = 0; pid > 1 && depth < 8; depth++) {
		if (environ_ssh(pid, buf, len, &sudo) || !sudo)
			return;
		pid = parent_of(pid);
	}
}
