/*
 * load.c - the traffic generator of `make bench` (test/bench/run.sh): one
 * small program, run inside the bench's namespaces, for the three figures
 * of the packet path and for the flow-memory measurement.
 *
 *   bhload tcp-server PORT
 *       accept connections forever; each one is either a stream (read to
 *       EOF, then answer with the byte count as 8 bytes) or, when its first
 *       byte is 'c', one request/response: answer one byte and close
 *   bhload tcp-stream ADDR PORT SECONDS
 *       one established connection, 128 KiB writes for SECONDS; prints
 *       "bytes B seconds S mbit M" as the server counted them
 *   bhload crr ADDR PORT COUNT SECONDS
 *       new connections one after another, COUNT of them or as many as
 *       SECONDS allow: connect, send 'c', read the answer, close with a
 *       reset (no TIME_WAIT, so ports never run out); prints
 *       "connections N seconds S rate R"
 *   bhload udp-sink PORT
 *       count datagrams until none came for 1 s (after the first); prints
 *       "packets N seconds S pps R" (first to last datagram)
 *   bhload udp-flood ADDR PORT SECONDS SIZE
 *       one flow: SIZE-byte datagrams with sendmmsg for SECONDS; prints
 *       "sent N"
 *   bhload udp-flows ADDR PORT COUNT
 *       one datagram to each of the ports PORT..PORT+COUNT-1: COUNT flows
 *
 * Addresses may be IPv4 or IPv6.  Exit status 0, or 1 with a message on
 * standard error.  Not part of bulkhead: built by the bench script alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>

static void die(const char *what)
{
	fprintf(stderr, "bhload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ADDR PORT into @ss; returns its length. */
static socklen_t sockaddr_of(const char *addr, const char *port,
                             struct sockaddr_storage *ss)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	int p = atoi(port);

	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)p);
		return sizeof *a4;
	}
	if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)p);
		return sizeof *a6;
	}
	fprintf(stderr, "bhload: \"%s\" is not an address\n", addr);
	exit(1);
}

/* A socket bound to PORT on every address, IPv6 and IPv4 alike. */
static int listen_any(int type, const char *port)
{
	struct sockaddr_in6 a;
	int fd = socket(AF_INET6, type, 0), off = 0, on = 1;

	if (fd < 0)
		die("socket");
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	memset(&a, 0, sizeof a);
	a.sin6_family = AF_INET6;
	a.sin6_port = htons((uint16_t)atoi(port));
	a.sin6_addr = in6addr_any;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
		die("bind");
	if (type == SOCK_STREAM && listen(fd, 4096) < 0)
		die("listen");
	return fd;
}

static int connect_to(const char *addr, const char *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(addr, port, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		die("connect");
	return fd;
}

/* ---- TCP ---------------------------------------------------------------- */

/* The rest of a stream whose first @n bytes were read: to EOF, then the
 * byte count back. */
static void serve_stream(int c, ssize_t n)
{
	static char buf[1 << 17];
	uint64_t total = 0;

	while (n > 0) {
		total += (uint64_t)n;
		n = read(c, buf, sizeof buf);
	}
	if (write(c, &total, sizeof total) < 0)
		return;
}

static int tcp_server(const char *port)
{
	static char buf[1 << 17];
	int fd = listen_any(SOCK_STREAM, port), one = 1;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int c = accept(fd, NULL, NULL);
		ssize_t n;

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		n = read(c, buf, sizeof buf);
		if (n == 1 && buf[0] == 'c') {
			/* request/response, served here: no process per
			 * connection to slow the rate down */
			if (write(c, "r", 1) < 0) {
				/* the client is gone: nothing to do */
			}
		} else if (n > 0 && fork() == 0) {
			/* a stream gets a process of its own */
			close(fd);
			serve_stream(c, n);
			_exit(0);
		}
		close(c);
	}
}

static int tcp_stream(const char *addr, const char *port, double secs)
{
	static char buf[1 << 17];
	int fd = connect_to(addr, port);
	double t0 = now(), t1;
	uint64_t total = 0;
	ssize_t n;

	memset(buf, 'x', sizeof buf);
	while (now() - t0 < secs) {
		n = write(fd, buf, sizeof buf);
		if (n < 0)
			die("write");
	}
	if (shutdown(fd, SHUT_WR) < 0)
		die("shutdown");
	n = read(fd, &total, sizeof total);
	t1 = now();
	if (n != (ssize_t)sizeof total) {
		fprintf(stderr, "bhload: the server did not report its count\n");
		return 1;
	}
	printf("bytes %llu seconds %.3f mbit %.1f\n", (unsigned long long)total,
	       t1 - t0, (double)total * 8 / (t1 - t0) / 1e6);
	return 0;
}

static int crr(const char *addr, const char *port, long count, double secs)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(addr, port, &ss);
	struct linger lg = { 1, 0 };
	double t0 = now(), t1;
	long i;
	char c;

	for (i = 0; i < count && (i % 64 || now() - t0 < secs); i++) {
		int fd = socket(ss.ss_family, SOCK_STREAM, 0);

		if (fd < 0)
			die("socket");
		if (connect(fd, (struct sockaddr *)&ss, len) < 0)
			die("connect");
		if (write(fd, "c", 1) != 1 || read(fd, &c, 1) != 1)
			die("request");
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(fd);
	}
	t1 = now();
	printf("connections %ld seconds %.3f rate %.1f\n", i, t1 - t0,
	       (double)i / (t1 - t0));
	return 0;
}

/* ---- UDP ---------------------------------------------------------------- */

#define BATCH 64

static int udp_sink(const char *port)
{
	int fd = listen_any(SOCK_DGRAM, port), size = 16 << 20;
	static char bufs[BATCH][2048];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	double first = 0, last = 0;
	uint64_t packets = 0;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ bufs[i], sizeof bufs[i] };
		memset(&m[i], 0, sizeof m[i]);
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int r = poll(&p, 1, packets ? 1000 : 30000);
		int n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			continue;
		if (!packets)
			first = now();
		packets += (uint64_t)n;
		last = now();
	}
	printf("packets %llu seconds %.3f pps %.0f\n", (unsigned long long)packets,
	       last - first, last > first ? (double)packets / (last - first) : 0);
	return 0;
}

static int udp_socket(const char *addr, const char *port,
                      struct sockaddr_storage *ss, socklen_t *len)
{
	int fd;

	*len = sockaddr_of(addr, port, ss);
	fd = socket(ss->ss_family, SOCK_DGRAM, 0);
	if (fd < 0)
		die("socket");
	return fd;
}

static int udp_flood(const char *addr, const char *port, double secs,
                     int size)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = udp_socket(addr, port, &ss, &len);
	static char payload[2048];
	struct mmsghdr m[BATCH];
	struct iovec iov;
	uint64_t sent = 0;
	double t0 = now();

	if (size < 1 || size > (int)sizeof payload)
		size = 18;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		die("connect");
	iov = (struct iovec){ payload, (size_t)size };
	for (int i = 0; i < BATCH; i++) {
		memset(&m[i], 0, sizeof m[i]);
		m[i].msg_hdr.msg_iov = &iov;
		m[i].msg_hdr.msg_iovlen = 1;
	}
	while (now() - t0 < secs) {
		int n = sendmmsg(fd, m, BATCH, 0);

		if (n < 0) {
			if (errno == ENOBUFS || errno == EAGAIN ||
			    errno == ECONNREFUSED)
				continue;
			die("sendmmsg");
		}
		sent += (uint64_t)n;
	}
	printf("sent %llu\n", (unsigned long long)sent);
	return 0;
}

static int udp_flows(const char *addr, const char *port, long count)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = udp_socket(addr, port, &ss, &len);
	int base = atoi(port);

	for (long i = 0; i < count; i++) {
		uint16_t p = htons((uint16_t)(base + i));

		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = p;
		else
			((struct sockaddr_in6 *)&ss)->sin6_port = p;
		if (sendto(fd, "f", 1, 0, (struct sockaddr *)&ss, len) < 0 &&
		    errno != ECONNREFUSED) {
			/* a full queue: wait for the wire and try again */
			usleep(1000);
			i--;
		}
		if (i % 256 == 255)
			usleep(200);   /* stay under the ICMP and queue limits */
	}
	printf("flows %ld\n", count);
	return 0;
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(m, "tcp-server") && argc == 3)
		return tcp_server(argv[2]);
	if (!strcmp(m, "tcp-stream") && argc == 5)
		return tcp_stream(argv[2], argv[3], atof(argv[4]));
	if (!strcmp(m, "crr") && argc == 6)
		return crr(argv[2], argv[3], atol(argv[4]), atof(argv[5]));
	if (!strcmp(m, "udp-sink") && argc == 3)
		return udp_sink(argv[2]);
	if (!strcmp(m, "udp-flood") && argc == 6)
		return udp_flood(argv[2], argv[3], atof(argv[4]), atoi(argv[5]));
	if (!strcmp(m, "udp-flows") && argc == 5)
		return udp_flows(argv[2], argv[3], atol(argv[4]));
	fprintf(stderr, "usage: bhload tcp-server PORT | tcp-stream ADDR PORT SECS"
	        " | crr ADDR PORT COUNT SECS\n"
	        "       | udp-sink PORT | udp-flood ADDR PORT SECS SIZE"
	        " | udp-flows ADDR PORT COUNT\n");
	return 2;
}
