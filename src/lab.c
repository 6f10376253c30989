/*
 * lab.c - `lab up`, `lab down` and `show lab`: a lab of container workloads
 * made of network namespaces and veth pairs, so that a new user sees
 * enforcement work on a machine with no VMs (layer: inventory; writes the
 * store through the policy layer only).
 *
 * How the kernel side is made
 *   Namespaces, links and addresses are made by running the `ip` command
 *   (iproute2) with posix_spawn, one step per run, each checked, its error
 *   output kept for the message.  That is plenty for a demonstration tool
 *   that runs once; the enforcer, which runs all the time, speaks netlink
 *   itself.  Only what we read back often (the links of bulkhead's own
 *   namespace) is read with an rtnetlink dump through libmnl.
 *
 * Named namespaces and mount namespaces
 *   `ip netns add` makes a namespace last by bind-mounting it on a file in
 *   /run/netns.  When bulkhead itself runs under `ip netns exec` (as the
 *   tests run it), it lives in a mount namespace of its own
 *   whose mounts never propagate back: a namespace named from there would
 *   be visible to nobody else and would vanish when bulkhead exits.  So
 *   when an ancestor of ours lives in another mount namespace (the one
 *   `ip netns exec` was run from), `ip netns add` and `ip netns delete`
 *   run in the nearest such ancestor's (through nsenter, from util-linux):
 *   /run/netns is a shared mount there, and the new mount propagates to
 *   ours, which is its slave.  PID 1's would not do: it is often out of
 *   reach (containers, sandboxes).  Every new namespace is then checked to
 *   be a real namespace mount as seen from here.
 *
 * What is the lab's
 *   The bridge and the host ends of the veths carry the interface alias
 *   "bulkhead lab PREFIX".  `lab down` removes: workloads P<i> tagged
 *   `lab` whose netns is P-i; veths P<i> with that alias or enslaved to the
 *   lab's bridge; namespaces P-i once they hold nothing but loopback; the
 *   bridge once it has no port left.  Anything else is left alone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include <net/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include "lab.h"
#include "policy.h"
#include "store.h"

extern char **environ;

#define NETNS_DIR "/run/netns"
#define NSFS_MAGIC_ 0x6e736673      /* linux/magic.h NSFS_MAGIC */
#define ALIAS_FMT "bulkhead lab %s"
/* A dump message may be as large as 32 KiB (the kernel's cap per skb). */
#define DUMP_BUF 32768

/* ---- running ip ---------------------------------------------------------- */

/*
 * Run @argv (argv[0] looked up in PATH) with standard input from
 * /dev/null, collecting standard output into @out (NULL: discarded) and
 * standard error into @err.  Returns the exit status (0..255, 128+N for a
 * signal), or -1 with bh->err set when it could not be run at all.
 */
static int spawn(struct bh *bh, char *const argv[], struct strbuf *out,
                 struct strbuf *err)
{
	posix_spawn_file_actions_t fa;
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 };
	int status = 0, rc;
	pid_t pid;

	if ((out && pipe2(po, O_CLOEXEC) < 0) || pipe2(pe, O_CLOEXEC) < 0) {
		rc = errno;
		if (po[0] >= 0) {
			close(po[0]);
			close(po[1]);
		}
		return bh_error(bh, "cannot run \"%s\": %s", argv[0],
		                strerror(rc));
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out)
		posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY,
		                                 0);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (out)
		close(po[1]);
	close(pe[1]);
	if (rc != 0) {
		if (out)
			close(po[0]);
		close(pe[0]);
		if (rc == ENOENT)
			return bh_error(bh, "cannot run \"%s\": not found; install "
			                "%s", argv[0], strcmp(argv[0], "nsenter") ?
			                "iproute2" : "util-linux");
		return bh_error(bh, "cannot run \"%s\": %s", argv[0],
		                strerror(rc));
	}
	/* Read both pipes to their ends: a child blocked on a full pipe
	 * would never exit. */
	for (int open = out ? 2 : 1; open > 0;) {
		struct pollfd p[2];
		struct strbuf *dst[2];
		int np = 0;
		char buf[4096];

		if (out && po[0] >= 0) {
			p[np] = (struct pollfd){ po[0], POLLIN, 0 };
			dst[np++] = out;
		}
		if (pe[0] >= 0) {
			p[np] = (struct pollfd){ pe[0], POLLIN, 0 };
			dst[np++] = err;
		}
		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int k = 0; k < np; k++) {
			ssize_t n;

			if (!p[k].revents)
				continue;
			n = read(p[k].fd, buf, sizeof buf);
			if (n > 0) {
				sb_addn(dst[k], buf, (size_t)n);
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			close(p[k].fd);
			if (p[k].fd == po[0])
				po[0] = -1;
			else
				pe[0] = -1;
			open--;
		}
	}
	if (out && po[0] >= 0)
		close(po[0]);
	if (pe[0] >= 0)
		close(pe[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return bh_error(bh, "cannot wait for \"%s\": %s", argv[0],
			                strerror(errno));
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* The first line of @s without trailing blanks, into @buf. */
static void first_line(const char *s, char *buf, size_t len)
{
	size_t n = strcspn(s, "\n");

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	snprintf(buf, len, "%.*s", (int)n, s);
}

/*
 * Run `ip ARGS...` (NULL-terminated).  @what says what the step does
 * ("create namespace \"bhlab-1\""); a failure becomes
 * `cannot WHAT (ip ARGS: ERROR)` in bh->err.  @out as for spawn().
 */
static int ipv(struct bh *bh, struct strbuf *out, const char *mntns,
               const char *what, va_list ap)
{
	char *argv[32], mopt[96];
	struct strbuf err = STRBUF_INIT, cmd = STRBUF_INIT;
	char line[512];
	int n = 0, rc;
	const char *a;

	if (mntns) {
		/* see "Named namespaces and mount namespaces" above */
		snprintf(mopt, sizeof mopt, "--mount=%s", mntns);
		argv[n++] = "nsenter";
		argv[n++] = mopt;
		argv[n++] = "--";
	}
	argv[n++] = "ip";
	while ((a = va_arg(ap, const char *)) && n < 31) {
		argv[n++] = (char *)a;
		sb_add(&cmd, " ");
		sb_add(&cmd, a);
	}
	argv[n] = NULL;
	rc = spawn(bh, argv, out, &err);
	if (rc > 0) {
		first_line(sb_str(&err), line, sizeof line);
		bh_error(bh, "cannot %s (ip%s: %s)", what, sb_str(&cmd),
		         line[0] ? line : "failed");
	} else if (rc < 0) {
		char saved[BH_ERR_MAX];

		snprintf(saved, sizeof saved, "%s", bh->err);
		bh_error(bh, "cannot %s: %s", what, saved);
	}
	sb_free(&err);
	sb_free(&cmd);
	return rc == 0 ? 0 : -1;
}

static int ip(struct bh *bh, const char *what, ...)
{
	va_list ap;
	int rc;

	va_start(ap, what);
	rc = ipv(bh, NULL, NULL, what, ap);
	va_end(ap);
	return rc;
}

static int ip_out(struct bh *bh, struct strbuf *out, const char *what, ...)
{
	va_list ap;
	int rc;

	va_start(ap, what);
	rc = ipv(bh, out, NULL, what, ap);
	va_end(ap);
	return rc;
}

/* ---- named namespaces ------------------------------------------------- */

/* The parent of process @pid (0 when unknown). */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;
	long ppid = 0;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "PID (COMM) STATE PPID ...": COMM may hold anything, even ")" */
	if ((p = strrchr(buf, ')')) && sscanf(p + 1, " %*c %ld", &ppid) != 1)
		ppid = 0;
	return (pid_t)ppid;
}

/*
 * The mount namespace named namespaces must be made in: "" when it is
 * ours, else "/proc/PID/ns/mnt" of our nearest ancestor that lives in
 * another one (the process that ran `ip netns exec`).  See "Named
 * namespaces and mount namespaces" above.
 */
static void netns_mntns(char *buf, size_t len)
{
	struct stat self, other;
	pid_t pid = getppid();

	buf[0] = '\0';
	if (stat("/proc/self/ns/mnt", &self) < 0)
		return;
	for (int hops = 0; pid > 0 && hops < 64; hops++) {
		char path[64];

		snprintf(path, sizeof path, "/proc/%ld/ns/mnt", (long)pid);
		if (stat(path, &other) == 0 && (other.st_ino != self.st_ino ||
		                                 other.st_dev != self.st_dev)) {
			snprintf(buf, len, "%s", path);
			return;
		}
		if (pid == 1)
			return;
		pid = parent_of(pid);
	}
}

static int ip_netns(struct bh *bh, const char *what, ...)
{
	char mntns[64];
	va_list ap;
	int rc;

	netns_mntns(mntns, sizeof mntns);
	va_start(ap, what);
	rc = ipv(bh, NULL, mntns[0] ? mntns : NULL, what, ap);
	va_end(ap);
	return rc;
}

static void netns_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, NETNS_DIR "/%s", name);
}

/* 1 when @name is a live named namespace as seen from here. */
static int netns_live(const char *name)
{
	char path[PATH_MAX];
	struct statfs sf;

	netns_path(name, path, sizeof path);
	return statfs(path, &sf) == 0 && (unsigned long)sf.f_type ==
	       (unsigned long)NSFS_MAGIC_;
}

/* 1 when /run/netns/@name exists at all (perhaps a stale file). */
static int netns_file(const char *name)
{
	char path[PATH_MAX];

	netns_path(name, path, sizeof path);
	return access(path, F_OK) == 0;
}

static int netns_add(struct bh *bh, const char *name)
{
	char what[128];

	snprintf(what, sizeof what, "create namespace \"%s\"", name);
	if (ip_netns(bh, what, "netns", "add", name, (char *)NULL))
		return -1;
	if (!netns_live(name))
		return bh_error(bh, "cannot create namespace \"%s\": it was made "
		                "but is not visible from bulkhead's mount "
		                "namespace (is " NETNS_DIR " a shared mount?)",
		                name);
	return 0;
}

static int netns_del(struct bh *bh, const char *name)
{
	char what[128];

	snprintf(what, sizeof what, "delete namespace \"%s\"", name);
	return ip_netns(bh, what, "netns", "delete", name, (char *)NULL);
}

/* The interface names in namespace @ns (lo included). */
static int netns_links(struct bh *bh, const char *ns, struct strv *names)
{
	struct strbuf out = STRBUF_INIT;
	char what[128];
	const char *p;

	snprintf(what, sizeof what, "list the interfaces of namespace \"%s\"",
	         ns);
	if (ip_out(bh, &out, what, "-n", ns, "-o", "link", "show",
	           (char *)NULL)) {
		sb_free(&out);
		return -1;
	}
	/* "2: nic0@if5: <BROADCAST,..." one line per link */
	for (p = sb_str(&out); *p;) {
		const char *nl = strchr(p, '\n'), *c = strchr(p, ':');
		size_t len;

		if (!nl)
			nl = p + strlen(p);
		if (c && c < nl) {
			c++;
			while (*c == ' ')
				c++;
			len = strcspn(c, "@: \n");
			if (len && len <= BH_IFNAME_MAX) {
				char name[BH_IFNAME_MAX + 1];
				snprintf(name, sizeof name, "%.*s", (int)len, c);
				strv_push(names, name);
			}
		}
		p = *nl ? nl + 1 : nl;
	}
	sb_free(&out);
	return 0;
}

/* ---- links of our own namespace (rtnetlink) ------------------------------ */

struct link {
	char name[IFNAMSIZ];
	char kind[16];
	char alias[128];
	int index;
	int master;
	int up;
};

struct links {
	struct link *v;
	size_t n;
};

static int attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (type <= IFLA_MAX)
		tb[type] = a;
	return MNL_CB_OK;
}

static int info_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (type <= IFLA_INFO_MAX)
		tb[type] = a;
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct links *ls = data;
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	const struct nlattr *info[IFLA_INFO_MAX + 1] = { 0 };
	struct link l;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	mnl_attr_parse(nlh, sizeof *ifm, attr_cb, tb);
	if (!tb[IFLA_IFNAME])
		return MNL_CB_OK;
	memset(&l, 0, sizeof l);
	snprintf(l.name, sizeof l.name, "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
	l.index = ifm->ifi_index;
	l.up = (ifm->ifi_flags & IFF_UP) != 0;
	if (tb[IFLA_MASTER])
		l.master = (int)mnl_attr_get_u32(tb[IFLA_MASTER]);
	if (tb[IFLA_IFALIAS])
		snprintf(l.alias, sizeof l.alias, "%s",
		         mnl_attr_get_str(tb[IFLA_IFALIAS]));
	if (tb[IFLA_LINKINFO]) {
		mnl_attr_parse_nested(tb[IFLA_LINKINFO], info_cb, info);
		if (info[IFLA_INFO_KIND])
			snprintf(l.kind, sizeof l.kind, "%s",
			         mnl_attr_get_str(info[IFLA_INFO_KIND]));
	}
	ls->v = xrealloc(ls->v, (ls->n + 1) * sizeof *ls->v);
	ls->v[ls->n++] = l;
	return MNL_CB_OK;
}

/* Every link of the network namespace we run in.  Free ls->v. */
static int links_dump(struct bh *bh, struct links *ls)
{
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	char *buf = xmalloc(DUMP_BUF);
	unsigned seq = (unsigned)time(NULL), portid;
	int rc = -1;
	ssize_t n;

	memset(ls, 0, sizeof *ls);
	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		bh_error(bh, "cannot list interfaces: netlink: %s",
		         strerror(errno));
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof *ifm);
	ifm->ifi_family = AF_UNSPEC;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		bh_error(bh, "cannot list interfaces: netlink: %s",
		         strerror(errno));
		goto out;
	}
	while ((n = mnl_socket_recvfrom(nl, buf, DUMP_BUF)) > 0) {
		int r = mnl_cb_run(buf, (size_t)n, seq, portid, link_cb, ls);
		if (r < 0) {
			bh_error(bh, "cannot list interfaces: netlink: %s",
			         strerror(errno));
			goto out;
		}
		if (r == MNL_CB_STOP)
			break;
	}
	if (n < 0) {
		bh_error(bh, "cannot list interfaces: netlink: %s",
		         strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (nl)
		mnl_socket_close(nl);
	free(buf);
	if (rc) {
		free(ls->v);
		memset(ls, 0, sizeof *ls);
	}
	return rc;
}

static const struct link *link_find(const struct links *ls, const char *name)
{
	for (size_t i = 0; i < ls->n; i++)
		if (strcmp(ls->v[i].name, name) == 0)
			return &ls->v[i];
	return NULL;
}

/* ---- names ---------------------------------------------------------- */

int lab_prefix_check(const char *prefix, char *err, size_t errlen)
{
	size_t n = strlen(prefix);
	int ok = n >= 1 && n <= LAB_PREFIX_MAX &&
	         ((prefix[0] >= 'a' && prefix[0] <= 'z') ||
	          (prefix[0] >= 'A' && prefix[0] <= 'Z'));

	for (size_t i = 0; ok && i < n; i++)
		ok = (prefix[i] >= 'a' && prefix[i] <= 'z') ||
		     (prefix[i] >= 'A' && prefix[i] <= 'Z') ||
		     (prefix[i] >= '0' && prefix[i] <= '9');
	if (!ok) {
		snprintf(err, errlen, "lab prefix \"%s\": use 1-%d letters or "
		         "digits, starting with a letter", prefix, LAB_PREFIX_MAX);
		return -1;
	}
	return 0;
}

/* i when @name is @prefix @sep i (i from 1, no leading zero), else 0. */
static int lab_index(const char *prefix, const char *sep, const char *name)
{
	size_t pl = strlen(prefix), sl = strlen(sep);
	const char *d = name + pl + sl;
	int i = 0;

	if (strncmp(name, prefix, pl) != 0 || strncmp(name + pl, sep, sl) != 0)
		return 0;
	if (*d < '1' || *d > '9' || strlen(d) > 3)
		return 0;
	for (; *d; d++) {
		if (*d < '0' || *d > '9')
			return 0;
		i = i * 10 + (*d - '0');
	}
	return i;
}

struct names {
	char workload[BH_NAME_MAX + 1];
	char netns[64];
	char link[BH_IFNAME_MAX + 1];
	char mac[18];
	char addr4[24];
	char addr6[48];
	char ll6[48];       /* link-local, the EUI-64 form of the MAC */
};

static void names_of(const char *prefix, int i, struct names *n)
{
	snprintf(n->workload, sizeof n->workload, "%s%d", prefix, i);
	snprintf(n->netns, sizeof n->netns, "%s-%d", prefix, i);
	snprintf(n->link, sizeof n->link, "%s%d", prefix, i);
	snprintf(n->mac, sizeof n->mac, "02:bd:00:00:00:%02x", i & 0xff);
	snprintf(n->addr4, sizeof n->addr4, "10.213.0.%d", 10 + i);
	snprintf(n->addr6, sizeof n->addr6, "fd00:bd::%d", 10 + i);
	snprintf(n->ll6, sizeof n->ll6, "fe80::bd:ff:fe00:%x", i);
}

static void bridge_name(const char *prefix, char *buf, size_t len)
{
	snprintf(buf, len, "%s0", prefix);
}

static int need_root(struct bh *bh, const char *cmd)
{
	if (geteuid() != 0)
		return bh_error(bh, "%s: needs root (it makes network namespaces "
		                "and interfaces): run bulkhead as root", cmd);
	return 0;
}

/* ---- what exists ------------------------------------------------------- */

static struct lab_member *member(struct lab_state *st, int i)
{
	for (size_t k = 0; k < st->n; k++)
		if (st->m[k].index == i)
			return &st->m[k];
	st->m = xrealloc(st->m, (st->n + 1) * sizeof *st->m);
	memset(&st->m[st->n], 0, sizeof st->m[st->n]);
	st->m[st->n].index = i;
	return &st->m[st->n++];
}

static int cmp_member(const void *a, const void *b)
{
	return ((const struct lab_member *)a)->index -
	       ((const struct lab_member *)b)->index;
}

/* A lab workload: P<i>, tagged lab, in namespace P-i. */
static int lab_workload(const char *prefix, const struct workload *w)
{
	char ns[80];
	int i = lab_index(prefix, "", w->name);

	if (!i || !strv_contains(&w->tags, "lab"))
		return 0;
	snprintf(ns, sizeof ns, "%s-%d", prefix, i);
	return strcmp(w->netns, ns) == 0 ? i : 0;
}

/* The lab's veth host end: P<i>, a veth with the lab's alias or a port
 * of its bridge (@bridge: its index, 0 when there is none). */
static int lab_link(const char *prefix, const struct link *l, int bridge)
{
	char alias[160];
	int i = lab_index(prefix, "", l->name);

	snprintf(alias, sizeof alias, ALIAS_FMT, prefix);
	if (!i || strcmp(l->kind, "veth") != 0)
		return 0;
	return strcmp(l->alias, alias) == 0 || (bridge && l->master == bridge) ?
	       i : 0;
}

static const struct link *lab_bridge(const char *prefix,
                                     const struct links *ls)
{
	char name[BH_IFNAME_MAX + 1], alias[160];
	const struct link *l;

	bridge_name(prefix, name, sizeof name);
	snprintf(alias, sizeof alias, ALIAS_FMT, prefix);
	l = link_find(ls, name);
	return l && strcmp(l->kind, "bridge") == 0 &&
	       strcmp(l->alias, alias) == 0 ? l : NULL;
}

static int state_load(struct bh *bh, const char *prefix,
                      const struct links *ls, struct lab_state *st)
{
	const struct link *br = lab_bridge(prefix, ls);
	struct inventory inv;
	DIR *d;
	struct dirent *de;

	memset(st, 0, sizeof *st);
	snprintf(st->prefix, sizeof st->prefix, "%s", prefix);
	bridge_name(prefix, st->bridge, sizeof st->bridge);
	if (br) {
		st->bridge_exists = 1;
		st->bridge_up = br->up;
	}
	for (size_t k = 0; k < ls->n; k++) {
		int i = lab_link(prefix, &ls->v[k], br ? br->index : 0);
		struct lab_member *m;

		if (!i)
			continue;
		m = member(st, i);
		m->link_exists = 1;
		m->link_up = ls->v[k].up;
		m->bridged = br && ls->v[k].master == br->index;
	}
	if ((d = opendir(NETNS_DIR))) {
		while ((de = readdir(d))) {
			int i = lab_index(prefix, "-", de->d_name);
			if (i)
				member(st, i)->netns_exists = netns_live(de->d_name);
		}
		closedir(d);
	}
	if (policy_inventory_load(bh, &inv))
		return -1;
	for (size_t k = 0; k < inv.n; k++) {
		const struct workload *w = &inv.w[k];
		int i = lab_workload(prefix, w);
		struct lab_member *m;

		if (!i)
			continue;
		m = member(st, i);
		m->registered = 1;
		strv_copy(&m->tags, &w->tags);
		if (w->nnics) {
			snprintf(m->mac, sizeof m->mac, "%s", w->nics[0].mac);
			strv_copy(&m->addrs, &w->nics[0].addrs);
		}
	}
	policy_inventory_free(&inv);
	if (st->n)
		qsort(st->m, st->n, sizeof *st->m, cmp_member);
	for (size_t k = 0; k < st->n; k++) {
		struct names n;

		names_of(prefix, st->m[k].index, &n);
		snprintf(st->m[k].workload, sizeof st->m[k].workload, "%s",
		         n.workload);
		snprintf(st->m[k].netns, sizeof st->m[k].netns, "%s", n.netns);
		snprintf(st->m[k].link, sizeof st->m[k].link, "%s", n.link);
	}
	return 0;
}

int lab_state(struct bh *bh, const char *prefix, struct lab_state *out)
{
	struct links ls;
	int rc;

	memset(out, 0, sizeof *out);
	if (lab_prefix_check(prefix, bh->err, sizeof bh->err))
		return -1;
	if (links_dump(bh, &ls))
		return -1;
	rc = state_load(bh, prefix, &ls, out);
	free(ls.v);
	if (rc)
		lab_state_free(out);
	return rc;
}

void lab_state_free(struct lab_state *st)
{
	for (size_t k = 0; k < st->n; k++) {
		strv_free(&st->m[k].addrs);
		strv_free(&st->m[k].tags);
	}
	free(st->m);
	memset(st, 0, sizeof *st);
}

void lab_member_status(const struct lab_member *m, char *buf, size_t len)
{
	struct strbuf sb = STRBUF_INIT;

	if (!m->registered)
		sb_add(&sb, ", not registered");
	if (!m->netns_exists)
		sb_add(&sb, ", no namespace");
	if (!m->link_exists)
		sb_add(&sb, ", no link");
	else if (!m->bridged)
		sb_add(&sb, ", not on the bridge");
	else if (!m->link_up)
		sb_add(&sb, ", link down");
	snprintf(buf, len, "%s", sb.len ? sb_str(&sb) + 2 : "ok");
	sb_free(&sb);
}

/* ---- the store side ------------------------------------------------------ */

/* What store_change() registers (up) or removes (down). */
struct reg {
	const char *prefix;
	int count;                /* up: 1..count */
	const struct lab_state *st;  /* down: the registered members */
};

static int register_one(struct bh *bh, const char *prefix, int i)
{
	struct workload w;
	struct nic nic;
	struct names n;
	int rc;

	names_of(prefix, i, &n);
	memset(&w, 0, sizeof w);
	snprintf(w.name, sizeof w.name, "%s", n.workload);
	snprintf(w.kind, sizeof w.kind, "container");
	snprintf(w.netns, sizeof w.netns, "%s", n.netns);
	snprintf(w.state, sizeof w.state, "running");
	snprintf(w.source, sizeof w.source, "static");
	if (policy_workload_add(bh, &w))
		return -1;
	memset(&nic, 0, sizeof nic);
	snprintf(nic.ifname, sizeof nic.ifname, "%s", n.link);
	snprintf(nic.mac, sizeof nic.mac, "%s", n.mac);
	strv_push(&nic.addrs, n.addr4);
	strv_push(&nic.addrs, n.addr6);
	rc = policy_nic_add(bh, n.workload, &nic);
	strv_free(&nic.addrs);
	if (rc || policy_tag_add(bh, n.workload, "lab") ||
	    policy_tag_add(bh, n.workload, i % 2 ? "odd" : "even"))
		return -1;
	return 0;
}

/*
 * Register the lab's workloads (@up) or remove them, in one store
 * transaction; the enforcer hook is held back meanwhile and called once
 * with the final inventory, as the libvirt provider does, so the kernel
 * sees the whole lab at once or not at all.  On failure the store is as
 * it was and the kernel untouched.
 */
static int store_change(struct bh *bh, const struct reg *r, int up)
{
	bh_inventory_fn *hook = bh->inventory_changed;
	struct store_tx tx;
	int rc = 0;

	if (store_tx_begin(bh, &tx))
		return -1;
	bh->inventory_changed = NULL;
	if (up) {
		for (int i = 1; i <= r->count && rc == 0; i++)
			rc = register_one(bh, r->prefix, i);
	} else {
		for (size_t k = 0; k < r->st->n && rc == 0; k++)
			if (r->st->m[k].registered)
				rc = policy_workload_delete(bh,
				                            r->st->m[k].workload);
	}
	bh->inventory_changed = hook;
	if (rc == 0 && hook) {
		struct inventory now;

		if (policy_inventory_load(bh, &now)) {
			rc = -1;
		} else {
			bh->err[0] = '\0';
			if (hook(bh, &now)) {
				if (!bh->err[0])
					bh_error(bh, "the enforcer refused the "
					         "lab's workloads");
				rc = -1;
			}
			policy_inventory_free(&now);
		}
	}
	if (rc == 0)
		return store_tx_commit(bh, &tx);
	store_tx_rollback(bh, &tx);
	return -1;
}

/* ---- lab up ------------------------------------------------------------- */

/* What lab_up has made so far, for the way back. */
struct made {
	int bridge;
	int nns;       /* namespaces P-1..P-nns */
	int nlinks;    /* host ends P1..Pnlinks */
	int registered;
};

/* Remove what @m says was made; bh->err keeps the first failure's
 * message with what could not be undone appended. */
static void undo(struct bh *bh, const char *prefix, const struct made *m)
{
	char first[BH_ERR_MAX], br[BH_IFNAME_MAX + 1];
	struct strbuf left = STRBUF_INIT;

	snprintf(first, sizeof first, "%s", bh->err);
	if (m->registered) {
		struct lab_state st;

		if (lab_state(bh, prefix, &st) == 0) {
			struct reg r = { prefix, 0, &st };
			if (store_change(bh, &r, 0))
				sb_addf(&left, "; its workloads stay registered (%s)",
				        bh->err);
			lab_state_free(&st);
		} else {
			sb_addf(&left, "; %s", bh->err);
		}
	}
	for (int i = m->nlinks; i >= 1; i--) {
		struct names n;
		char what[64];

		names_of(prefix, i, &n);
		snprintf(what, sizeof what, "delete interface \"%s\"", n.link);
		if (ip(bh, what, "link", "delete", n.link, (char *)NULL))
			sb_addf(&left, "; %s", bh->err);
	}
	for (int i = m->nns; i >= 1; i--) {
		struct names n;

		names_of(prefix, i, &n);
		if (netns_del(bh, n.netns))
			sb_addf(&left, "; %s", bh->err);
	}
	bridge_name(prefix, br, sizeof br);
	if (m->bridge && ip(bh, "delete the bridge", "link", "delete", br,
	                    (char *)NULL))
		sb_addf(&left, "; %s", bh->err);
	if (left.len)
		bh_error(bh, "%s; undoing it failed too%s: remove the rest with "
		         "'lab down'", first, sb_str(&left));
	else
		bh_error(bh, "%s; nothing of the lab was kept", first);
	sb_free(&left);
}

/* "prefix P" for remedies, or "" for the default prefix. */
static void prefix_words(const char *prefix, char *buf, size_t len)
{
	if (strcmp(prefix, LAB_PREFIX_DEFAULT) == 0)
		buf[0] = '\0';
	else
		snprintf(buf, len, " prefix %s", prefix);
}

/* Refuse before making anything when a name the lab needs is taken. */
static int up_check(struct bh *bh, const char *prefix, int count,
                    const struct links *ls)
{
	char pw[32], br[BH_IFNAME_MAX + 1];
	struct lab_state st;
	struct inventory inv;
	int rc = 0;

	prefix_words(prefix, pw, sizeof pw);
	if (state_load(bh, prefix, ls, &st))
		return -1;
	if (st.bridge_exists || st.n) {
		lab_state_free(&st);
		return bh_error(bh, "lab up: lab \"%s\" exists already (see 'show "
		                "lab%s'): remove it first with 'lab down%s'",
		                prefix, pw, pw);
	}
	lab_state_free(&st);
	bridge_name(prefix, br, sizeof br);
	if (link_find(ls, br))
		return bh_error(bh, "lab up: interface \"%s\" exists already and "
		                "is not a lab's bridge: choose another prefix "
		                "('lab up %d prefix NAME')", br, count);
	if (policy_inventory_load(bh, &inv))
		return -1;
	for (int i = 1; i <= count && rc == 0; i++) {
		struct names n;

		names_of(prefix, i, &n);
		if (link_find(ls, n.link)) {
			rc = bh_error(bh, "lab up: interface \"%s\" exists already: "
			              "choose another prefix ('lab up %d prefix "
			              "NAME')", n.link, count);
			break;
		}
		if (netns_file(n.netns)) {
			rc = bh_error(bh, "lab up: namespace \"%s\" exists already: "
			              "choose another prefix ('lab up %d prefix "
			              "NAME') or delete it ('ip netns delete %s')",
			              n.netns, count, n.netns);
			break;
		}
		for (size_t k = 0; k < inv.n && rc == 0; k++) {
			const struct workload *w = &inv.w[k];

			if (strcmp(w->name, n.workload) == 0)
				rc = bh_error(bh, "lab up: workload \"%s\" exists "
				              "already: choose another prefix ('lab "
				              "up %d prefix NAME')", n.workload,
				              count);
			for (size_t c = 0; c < w->nnics && rc == 0; c++)
				if (strv_contains(&w->nics[c].addrs, n.addr4) ||
				    strv_contains(&w->nics[c].addrs, n.addr6))
					rc = bh_error(bh, "lab up: address %s is "
					              "bound to workload \"%s\" already; "
					              "a lab uses 10.213.0.11-%d and "
					              "fd00:bd::11-%d: remove that "
					              "workload or its lab first",
					              strv_contains(&w->nics[c].addrs,
					                            n.addr4) ?
					              n.addr4 : n.addr6, w->name,
					              10 + count, 10 + count);
		}
	}
	policy_inventory_free(&inv);
	return rc;
}

/* One workload's namespace, veth pair and addresses. */
static int up_one(struct bh *bh, const char *prefix, int i, struct made *m)
{
	char br[BH_IFNAME_MAX + 1], alias[160], what[160], a4[32], a6[56],
	     ll[56];
	struct names n;

	names_of(prefix, i, &n);
	bridge_name(prefix, br, sizeof br);
	snprintf(alias, sizeof alias, ALIAS_FMT, prefix);
	snprintf(a4, sizeof a4, "%s/24", n.addr4);
	snprintf(a6, sizeof a6, "%s/64", n.addr6);
	snprintf(ll, sizeof ll, "%s/64", n.ll6);

	if (netns_add(bh, n.netns))
		return -1;
	m->nns = i;
	snprintf(what, sizeof what, "create the veth pair \"%s\" - \"nic0\" "
	         "(in namespace \"%s\")", n.link, n.netns);
	if (ip(bh, what, "link", "add", n.link, "type", "veth", "peer", "name",
	       "nic0", "netns", n.netns, "address", n.mac, (char *)NULL))
		return -1;
	m->nlinks = i;
	/* No addresses on the host side: no link-local either. */
	snprintf(what, sizeof what, "attach \"%s\" to the bridge \"%s\"",
	         n.link, br);
	if (ip(bh, what, "link", "set", "dev", n.link, "master", br, "alias",
	       alias, "addrgenmode", "none", (char *)NULL))
		return -1;
	/* The link-local address is added by hand, without DAD, so IPv6
	 * works the moment the lab is up. */
	snprintf(what, sizeof what, "configure \"nic0\" in namespace \"%s\"",
	         n.netns);
	if (ip(bh, what, "-n", n.netns, "link", "set", "dev", "nic0",
	       "addrgenmode", "none", (char *)NULL))
		return -1;
	snprintf(what, sizeof what, "add address %s to \"nic0\" in namespace "
	         "\"%s\"", n.addr4, n.netns);
	if (ip(bh, what, "-n", n.netns, "address", "add", a4, "dev", "nic0",
	       (char *)NULL))
		return -1;
	snprintf(what, sizeof what, "add address %s to \"nic0\" in namespace "
	         "\"%s\"", n.addr6, n.netns);
	if (ip(bh, what, "-n", n.netns, "address", "add", a6, "dev", "nic0",
	       "nodad", (char *)NULL))
		return -1;
	snprintf(what, sizeof what, "add address %s to \"nic0\" in namespace "
	         "\"%s\"", n.ll6, n.netns);
	if (ip(bh, what, "-n", n.netns, "address", "add", ll, "dev", "nic0",
	       "nodad", (char *)NULL))
		return -1;
	snprintf(what, sizeof what, "bring up the interfaces of namespace "
	         "\"%s\"", n.netns);
	if (ip(bh, what, "-n", n.netns, "link", "set", "dev", "lo", "up",
	       (char *)NULL) ||
	    ip(bh, what, "-n", n.netns, "link", "set", "dev", "nic0", "up",
	       (char *)NULL))
		return -1;
	return 0;
}

int lab_up(struct bh *bh, const char *prefix, int count,
           struct strbuf *summary)
{
	char br[BH_IFNAME_MAX + 1], alias[160], what[160];
	struct made m;
	struct links ls;
	struct reg r = { prefix, count, NULL };
	int rc;

	memset(&m, 0, sizeof m);
	if (need_root(bh, "lab up"))
		return -1;
	if (lab_prefix_check(prefix, bh->err, sizeof bh->err))
		return -1;
	if (count < 1 || count > LAB_COUNT_MAX)
		return bh_error(bh, "lab up: %d workloads: a lab has 1 to %d "
		                "(its addresses are 10.213.0.11-254)", count,
		                LAB_COUNT_MAX);
	if (links_dump(bh, &ls))
		return -1;
	rc = up_check(bh, prefix, count, &ls);
	free(ls.v);
	if (rc)
		return -1;

	bridge_name(prefix, br, sizeof br);
	snprintf(alias, sizeof alias, ALIAS_FMT, prefix);
	snprintf(what, sizeof what, "create the bridge \"%s\"", br);
	if (ip(bh, what, "link", "add", br, "type", "bridge", (char *)NULL))
		goto fail;
	m.bridge = 1;
	if (ip(bh, what, "link", "set", "dev", br, "alias", alias, "addrgenmode",
	       "none", (char *)NULL))
		goto fail;
	for (int i = 1; i <= count; i++)
		if (up_one(bh, prefix, i, &m))
			goto fail;

	/* Register before any host end comes up: with an enforcer, every NIC
	 * has its chains before it can carry a packet. */
	if (store_change(bh, &r, 1))
		goto fail;
	m.registered = 1;
	for (int i = 1; i <= count; i++) {
		struct names n;

		names_of(prefix, i, &n);
		snprintf(what, sizeof what, "bring up interface \"%s\"", n.link);
		if (ip(bh, what, "link", "set", "dev", n.link, "up", (char *)NULL))
			goto fail;
	}
	snprintf(what, sizeof what, "bring up the bridge \"%s\"", br);
	if (ip(bh, what, "link", "set", "dev", br, "up", (char *)NULL))
		goto fail;

	if (summary) {
		struct names a, z;

		names_of(prefix, 1, &a);
		names_of(prefix, count, &z);
		if (count == 1)
			sb_addf(summary, "lab \"%s\" up: workload %s in namespace "
			        "%s (%s, %s) on bridge %s", prefix, a.workload,
			        a.netns, a.addr4, a.addr6, br);
		else
			sb_addf(summary, "lab \"%s\" up: workloads %s to %s in "
			        "namespaces %s to %s (10.213.0.11-%d, "
			        "fd00:bd::11-%d) on bridge %s", prefix,
			        a.workload, z.workload, a.netns, z.netns,
			        10 + count, 10 + count, br);
	}
	return 0;
fail:
	{
		char saved[BH_ERR_MAX];

		snprintf(saved, sizeof saved, "%s", bh->err);
		bh_error(bh, "lab up: %s", saved);
	}
	undo(bh, prefix, &m);
	return -1;
}

/* ---- lab down -------------------------------------------------------------- */

int lab_down(struct bh *bh, const char *prefix, struct strbuf *summary)
{
	struct lab_state st;
	struct links ls;
	struct strbuf left = STRBUF_INIT, done = STRBUF_INIT;
	char first[BH_ERR_MAX] = "", pw[32];
	int nw = 0, nl = 0, nn = 0, rc = 0, bridge_gone = 0;
	const struct link *br;

	if (need_root(bh, "lab down"))
		return -1;
	if (lab_state(bh, prefix, &st))
		return -1;
	prefix_words(prefix, pw, sizeof pw);
	if (!st.bridge_exists && !st.n) {
		if (summary)
			sb_addf(summary, "no lab \"%s\" here: nothing to remove",
			        prefix);
		lab_state_free(&st);
		return 0;
	}

	/* The workloads first, so the enforcer lets go of their NICs before
	 * the interfaces vanish; if the store refuses, nothing else moves. */
	for (size_t k = 0; k < st.n; k++)
		nw += st.m[k].registered;
	if (nw) {
		struct reg r = { prefix, 0, &st };

		if (store_change(bh, &r, 0)) {
			char saved[BH_ERR_MAX];

			snprintf(saved, sizeof saved, "%s", bh->err);
			bh_error(bh, "lab down: cannot remove the lab's workloads: "
			         "%s", saved);
			lab_state_free(&st);
			return -1;
		}
	}
	/* Host ends: their namespace ends go with them. */
	for (size_t k = 0; k < st.n; k++) {
		char what[64];

		if (!st.m[k].link_exists)
			continue;
		snprintf(what, sizeof what, "delete interface \"%s\"",
		         st.m[k].link);
		if (ip(bh, what, "link", "delete", st.m[k].link, (char *)NULL)) {
			if (!first[0])
				snprintf(first, sizeof first, "%s", bh->err);
			continue;
		}
		nl++;
	}
	/* Namespaces, when nothing but loopback is left in them. */
	for (size_t k = 0; k < st.n; k++) {
		const struct lab_member *m = &st.m[k];
		struct strv names = STRV_INIT;
		int foreign = 0;

		if (!netns_file(m->netns))
			continue;
		if (m->netns_exists) {
			if (netns_links(bh, m->netns, &names)) {
				if (!first[0])
					snprintf(first, sizeof first, "%s", bh->err);
				continue;
			}
			for (size_t j = 0; j < names.n; j++)
				if (strcmp(names.v[j], "lo") != 0)
					foreign = 1;
		}
		if (foreign) {
			strv_sort(&names);
			sb_addf(&left, "%snamespace \"%s\" (it holds ",
			        left.len ? ", " : "", m->netns);
			for (size_t j = 0, c = 0; j < names.n; j++)
				if (strcmp(names.v[j], "lo") != 0)
					sb_addf(&left, "%s%s", c++ ? ", " : "",
					        names.v[j]);
			sb_add(&left, ")");
		} else if (netns_del(bh, m->netns)) {
			if (!first[0])
				snprintf(first, sizeof first, "%s", bh->err);
		} else {
			nn++;
		}
		strv_free(&names);
	}
	/* The bridge, when no port is left on it. */
	if (st.bridge_exists) {
		if (links_dump(bh, &ls)) {
			if (!first[0])
				snprintf(first, sizeof first, "%s", bh->err);
		} else {
			struct strv ports = STRV_INIT;

			if ((br = lab_bridge(prefix, &ls))) {
				for (size_t k = 0; k < ls.n; k++)
					if (ls.v[k].master == br->index)
						strv_push(&ports, ls.v[k].name);
				if (ports.n) {
					strv_sort(&ports);
					sb_addf(&left, "%sbridge \"%s\" (ports ",
					        left.len ? ", " : "", st.bridge);
					strv_join(&left, &ports, ", ");
					sb_add(&left, ")");
				} else if (ip(bh, "delete the bridge", "link",
				              "delete", st.bridge, (char *)NULL)) {
					if (!first[0])
						snprintf(first, sizeof first, "%s",
						         bh->err);
				} else {
					bridge_gone = 1;
				}
			}
			strv_free(&ports);
			free(ls.v);
		}
	}

	sb_addf(&done, "%d workload%s, %d interface%s, %d namespace%s", nw,
	        nw == 1 ? "" : "s", nl, nl == 1 ? "" : "s", nn,
	        nn == 1 ? "" : "s");
	if (bridge_gone)
		sb_addf(&done, " and bridge %s", st.bridge);
	if (first[0]) {
		bh_error(bh, "lab down: %s (removed %s; run 'lab down%s' again "
		         "when the cause is fixed)", first, sb_str(&done), pw);
		rc = -1;
	} else if (summary) {
		sb_addf(summary, "lab \"%s\" down: removed %s", prefix,
		        sb_str(&done));
		if (left.len)
			sb_addf(summary, "; left in place, not the lab's: %s",
			        sb_str(&left));
	}
	sb_free(&left);
	sb_free(&done);
	lab_state_free(&st);
	return rc;
}
