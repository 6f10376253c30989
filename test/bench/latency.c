/*
 * latency.c - the benchmark's probe for event-to-enforcement latency
 * (test/bench/latency.sh): it makes a change and watches the kernel, over
 * one netlink socket of its own (libmnl), until the change is there.
 *
 *   bhlat meta URI DOMAIN SET IFNAME N
 *       N times: write tag "moved" into DOMAIN's bulkhead metadata with
 *       virDomainSetMetadata (live and persistent, as bulkhead does), wait
 *       until interface IFNAME is an element of set SET of table netdev
 *       bulkhead, then remove the tag and wait until it is gone.  Prints
 *       "add MS API_MS" and "del MS API_MS" per round: the time from the
 *       call to the kernel, and the call's own share.
 *   bhlat exec SET IFNAME present|absent ARGV...
 *       Start ARGV and wait until IFNAME is (present) or is not (absent)
 *       in SET; prints "MS EXIT_MS STATUS": the time to the kernel, the
 *       time to the command's exit, its exit status.
 *   bhlat wait SET IFNAME present|absent TIMEOUT_MS
 *       Exit 0 once the state is reached, 1 on timeout.
 *
 * The kernel is read with a dump of the set (NFT_MSG_GETSETELEM) in a
 * tight loop: about 20 us per look for a small set, so the figures are
 * the enforcement's, not the probe's.  Runs in the namespace it is
 * started in (`ip netns exec`).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libvirt/libvirt.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

extern char **environ;

static struct mnl_socket *nl;
static unsigned seq, portid;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct look {
	const char *ifname;
	int found;
};

static int elem_cb(const struct nlattr *a, struct look *lk)
{
	struct nlattr *b, *c;

	mnl_attr_for_each_nested(b, a) {
		if (mnl_attr_get_type(b) != NFTA_SET_ELEM_KEY)
			continue;
		mnl_attr_for_each_nested(c, b) {
			size_t len = mnl_attr_get_payload_len(c);
			const char *v = mnl_attr_get_payload(c);

			if (mnl_attr_get_type(c) == NFTA_DATA_VALUE &&
			    strnlen(v, len) == strlen(lk->ifname) &&
			    !strncmp(v, lk->ifname, len))
				lk->found = 1;
		}
	}
	return 0;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nlattr *a, *e;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(e, a)
			elem_cb(e, data);
	}
	return MNL_CB_OK;
}

/* 1: IFNAME is in SET, 0: not (or no such set), -1: error. */
static int set_has(const char *set, const char *ifname)
{
	static char buf[65536];
	struct look lk = { ifname, 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	int rc;

	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
	nfg->nfgen_family = NFPROTO_NETDEV;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, "bulkhead");
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);

		if (n < 0)
			return -1;
		rc = mnl_cb_run(buf, n, seq, portid, dump_cb, &lk);
		if (rc == MNL_CB_ERROR)
			return errno == ENOENT ? 0 : -1;
		if (rc == MNL_CB_STOP)
			return lk.found;
	}
}

/* Wait until set_has() says @want; the time it took in ms, or -1. */
static double wait_for(const char *set, const char *ifname, int want,
                       double t0, double limit_ms)
{
	for (;;) {
		int r = set_has(set, ifname);
		double t = now_ms();

		if (r < 0)
			return -1;
		if (r == want)
			return t - t0;
		if (t - t0 > limit_ms)
			return -1;
	}
}

static void die(const char *what)
{
	fprintf(stderr, "bhlat: %s\n", what);
	exit(2);
}

static int cmd_meta(char **argv)
{
	const char *uri = argv[0], *name = argv[1], *set = argv[2],
	           *ifname = argv[3];
	int n = atoi(argv[4]);
	unsigned flags = VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG;
	virConnectPtr c = virConnectOpen(uri);
	virDomainPtr d;

	if (!c)
		die("cannot connect to libvirt");
	d = virDomainLookupByName(c, name);
	if (!d)
		die("no such domain");
	for (int i = 0; i < n; i++) {
		for (int add = 1; add >= 0; add--) {
			double t0 = now_ms(), t1, t;

			if (virDomainSetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT,
			                         add ? "<tags><tag>moved</tag></tags>" : NULL,
			                         "bulkhead", "urn:bulkhead:metadata:1",
			                         flags) < 0)
				die("virDomainSetMetadata failed");
			t1 = now_ms();
			t = wait_for(set, ifname, add, t0, 5000);
			if (t < 0)
				die("the kernel did not follow within 5 s");
			printf("%s %.3f %.3f\n", add ? "add" : "del", t, t1 - t0);
			fflush(stdout);
		}
	}
	virDomainFree(d);
	virConnectClose(c);
	return 0;
}

static int cmd_exec(char **argv)
{
	const char *set = argv[0], *ifname = argv[1];
	int want = !strcmp(argv[2], "present");
	double t0, t, te;
	pid_t pid;
	int st;

	posix_spawn_file_actions_t fa;

	/* its output is not ours: ours is the figure */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	t0 = now_ms();
	if (posix_spawnp(&pid, argv[3], &fa, NULL, argv + 3, environ))
		die("cannot start the command");
	posix_spawn_file_actions_destroy(&fa);
	t = wait_for(set, ifname, want, t0, 10000);
	if (waitpid(pid, &st, 0) < 0)
		die("waitpid failed");
	te = now_ms() - t0;
	if (t < 0)
		die("the kernel did not follow within 10 s");
	printf("%.3f %.3f %d\n", t, te, WIFEXITED(st) ? WEXITSTATUS(st) : 128);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: bhlat meta|exec|wait ...");
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		die("cannot open netlink");
	portid = mnl_socket_get_portid(nl);
	if (!strcmp(argv[1], "meta") && argc == 7)
		return cmd_meta(argv + 2);
	if (!strcmp(argv[1], "exec") && argc >= 6)
		return cmd_exec(argv + 2);
	if (!strcmp(argv[1], "wait") && argc == 6)
		return wait_for(argv[2], argv[3], !strcmp(argv[4], "present"),
		                now_ms(), atof(argv[5])) < 0;
	die("usage: bhlat meta URI DOMAIN SET IFNAME N | exec SET IFNAME present|absent ARGV... | wait SET IFNAME present|absent MS");
	return 2;
}
