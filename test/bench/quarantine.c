/*
 * quarantine.c - `make bench`, quarantine part (test/bench/quarantine.sh):
 * the time from a quarantine to the last packet of a running TCP stream
 * that gets through.
 *
 *   bhqbench HVNS SRCNS DSTNS DB WORKLOAD DADDR PORT ROUNDS MODE [ARGV...]
 *
 * A receiver thread in namespace DSTNS listens on PORT and stamps every
 * read (CLOCK_MONOTONIC); a sender thread in SRCNS (the workload to be
 * quarantined) streams 256-byte writes every 50 us to DADDR:PORT.  The main
 * thread, in the hypervisor namespace HVNS where bulkhead enforces, waits
 * until the stream flows, takes t0 and quarantines WORKLOAD:
 *   engine   policy_quarantine() on an engine opened once (the daemon's
 *            own path, without its socket)
 *   exec     runs ARGV -c 'quarantine WORKLOAD' (ARGV: the bulkhead
 *            binary and its options: with --socket, through the daemon;
 *            without, a process that opens the store itself); it also
 *            releases that way
 *   tag      bh->tag_write (the libvirt API for a VM: virDomainSetMetadata,
 *            then the store and kernel follow) adding the tag quarantine
 *   virt     virDomainSetMetadata() on domain WORKLOAD (qemu:///system),
 *            live: its tags become ARGV[0] plus "quarantine", as another
 *            tool would write them; the daemon (running elsewhere) does
 *            the rest from libvirt's event.  Released by writing ARGV[0]
 *            alone.
 * then waits 300 ms and reads the stamp of the last read: "last packet"
 * minus t0 is the figure; the command's own duration is printed beside it.
 * Then it releases (untimed) and starts a new connection for the next
 * round.  One untimed warm-up round comes first.  Prints one line a round:
 * "cut_ms CUT cmd_ms CMD".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#include "bulkhead.h"
#include "engine.h"
#include "policy.h"
#include "quarantine.h"

extern char **environ;

static const char *srcns, *dstns, *daddr;
static int port;
static atomic_llong last_rx;      /* ns, monotonic */
static atomic_int rx_bytes_seen;
static atomic_int stop_tx;
static atomic_int listening;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int enter_ns(const char *name)
{
	char path[256];
	int fd, rc;

	snprintf(path, sizeof path, "/run/netns/%s", name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	rc = setns(fd, CLONE_NEWNET);
	close(fd);
	return rc;
}

static void *receiver(void *arg)
{
	struct sockaddr_in a;
	int one = 1, l;
	char buf[65536];

	(void)arg;
	if (enter_ns(dstns) != 0) {
		perror("receiver: setns");
		exit(1);
	}
	l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 8) != 0) {
		perror("receiver: bind");
		exit(1);
	}
	atomic_store(&listening, 1);
	for (;;) {
		int c = accept(l, NULL, NULL);
		ssize_t n;

		if (c < 0)
			continue;
		while ((n = read(c, buf, sizeof buf)) > 0) {
			atomic_store(&last_rx, now_ns());
			atomic_fetch_add(&rx_bytes_seen, 1);
		}
		close(c);
	}
	return NULL;
}

static void *sender(void *arg)
{
	struct sockaddr_in a;
	char buf[256];
	int s, one = 1;
	struct timespec gap = { 0, 50000 };

	(void)arg;
	if (enter_ns(srcns) != 0) {
		perror("sender: setns");
		exit(1);
	}
	memset(buf, 'q', sizeof buf);
	s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, daddr, &a.sin_addr);
	if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
		perror("sender: connect");
		close(s);
		return NULL;
	}
	fcntl(s, F_SETFL, O_NONBLOCK);
	while (!atomic_load(&stop_tx)) {
		if (write(s, buf, sizeof buf) < 0 && errno != EAGAIN)
			break;
		nanosleep(&gap, NULL);
	}
	close(s);
	return NULL;
}

/* ARGV plus "-c" "VERB WORKLOAD". */
static int run_argv(char **base, int nbase, const char *verb, const char *wl)
{
	char **argv = calloc((size_t)nbase + 3, sizeof *argv);
	char line[256];
	pid_t pid;
	int st, rc;

	for (int i = 0; i < nbase; i++)
		argv[i] = base[i];
	snprintf(line, sizeof line, "%s %s", verb, wl);
	argv[nbase] = "-c";
	argv[nbase + 1] = line;
	rc = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
	free(argv);
	if (rc != 0)
		return -1;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* The domain's bulkhead tags: @tags (space-separated) and maybe one more. */
static int set_tags(virDomainPtr dom, const char *tags, const char *more)
{
	char xml[512], list[256];
	size_t used = 0;

	snprintf(list, sizeof list, "%s%s%s", tags, more ? " " : "",
	         more ? more : "");
	used += (size_t)snprintf(xml + used, sizeof xml - used, "<tags>");
	for (char *save = NULL, *t = strtok_r(list, " ", &save); t;
	     t = strtok_r(NULL, " ", &save))
		used += (size_t)snprintf(xml + used, sizeof xml - used,
		                         "<tag>%s</tag>", t);
	snprintf(xml + used, sizeof xml - used, "</tags>");
	return virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml,
	                            "bulkhead", "urn:bulkhead:metadata:1",
	                            VIR_DOMAIN_AFFECT_LIVE);
}

int main(int argc, char **argv)
{
	const char *hvns, *db, *wl, *mode;
	char err[BH_ERR_MAX];
	struct bh *bh = NULL;
	virConnectPtr conn = NULL;
	virDomainPtr dom = NULL;
	pthread_t rt;
	int rounds;

	if (argc < 10) {
		fprintf(stderr, "usage: bhqbench HVNS SRCNS DSTNS DB WORKLOAD "
		        "DADDR PORT ROUNDS engine|exec|tag|virt [ARGV...]\n");
		return 2;
	}
	hvns = argv[1];
	srcns = argv[2];
	dstns = argv[3];
	db = argv[4];
	wl = argv[5];
	daddr = argv[6];
	port = atoi(argv[7]);
	rounds = atoi(argv[8]);
	mode = argv[9];
	if (enter_ns(hvns) != 0) {
		perror("setns");
		return 1;
	}
	if (!strcmp(mode, "virt")) {
		if (argc < 11) {
			fprintf(stderr, "virt: give the other tags\n");
			return 2;
		}
		conn = virConnectOpen("qemu:///system");
		dom = conn ? virDomainLookupByName(conn, wl) : NULL;
		if (!dom) {
			fprintf(stderr, "virt: no domain %s\n", wl);
			return 1;
		}
	} else if (strcmp(mode, "exec") != 0) {
		bh = engine_open(db, ENGINE_KERNEL_AUTO, err, sizeof err);
		if (!bh) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
	}
	pthread_create(&rt, NULL, receiver, NULL);
	while (!atomic_load(&listening))
		usleep(1000);
	for (int r = -1; r < rounds; r++) {
		pthread_t st;
		long long t0, t1, last;
		int rc, seen;

		atomic_store(&stop_tx, 0);
		pthread_create(&st, NULL, sender, NULL);
		/* the stream flows */
		seen = atomic_load(&rx_bytes_seen);
		for (int i = 0; i < 400 && atomic_load(&rx_bytes_seen) < seen + 50; i++)
			usleep(1000);
		usleep(50000);
		t0 = now_ns();
		if (!strcmp(mode, "engine"))
			rc = policy_quarantine(bh, wl, "bench", 0, "command");
		else if (!strcmp(mode, "tag"))
			rc = bh->tag_write ? bh->tag_write(bh, wl, QUARANTINE_TAG, 1)
			                   : policy_tag_add(bh, wl, QUARANTINE_TAG);
		else if (!strcmp(mode, "virt"))
			rc = set_tags(dom, argv[10], QUARANTINE_TAG);
		else
			rc = run_argv(argv + 10, argc - 10, "quarantine", wl);
		t1 = now_ns();
		if (rc != 0) {
			fprintf(stderr, "quarantine failed: %s\n",
			        bh ? bh->err : "");
			return 1;
		}
		usleep(300000);
		last = atomic_load(&last_rx);
		if (r >= 0)
			printf("cut_ms %.3f cmd_ms %.3f\n",
			       last > t0 ? (double)(last - t0) / 1e6 : 0.0,
			       (double)(t1 - t0) / 1e6);
		fflush(stdout);
		atomic_store(&stop_tx, 1);
		pthread_join(st, NULL);
		if (!strcmp(mode, "tag"))
			rc = bh->tag_write ? bh->tag_write(bh, wl, QUARANTINE_TAG, 0)
			                   : policy_tag_delete(bh, wl, QUARANTINE_TAG);
		else if (!strcmp(mode, "exec"))
			rc = run_argv(argv + 10, argc - 10, "release", wl);
		else if (!strcmp(mode, "virt"))
			rc = set_tags(dom, argv[10], NULL);
		else
			rc = policy_release(bh, wl, "command");
		if (rc != 0) {
			fprintf(stderr, "release failed: %s\n", bh ? bh->err : "");
			return 1;
		}
		/* the daemon follows the release from libvirt's event */
		usleep(!strcmp(mode, "virt") ? 200000 : 20000);
	}
	if (dom)
		virDomainFree(dom);
	if (conn)
		virConnectClose(conn);
	engine_close(bh);
	return 0;
}
