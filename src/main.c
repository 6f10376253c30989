/*
 * main.c - the bulkhead program: options, the choice of front end, exit
 * status.
 *
 *   bulkhead [--db PATH] [--socket PATH] [--json]      interactive shell
 *   bulkhead [...] [--json] -c 'CMD; CMD'              batch from a string
 *   bulkhead [...] [--json] -f FILE|-                  batch from a file
 *   bulkhead [--db PATH] daemon [--socket PATH] [--pidfile PATH]
 *            [--foreground] [--libvirt URI | --no-libvirt]
 *            [--group-prefix PREFIX]
 *   bulkhead [--db PATH] [--socket PATH] top [--interval SECONDS]
 *            [--no-color]
 *
 * The shell and batch mode reach the engine through a client (client.h):
 * the daemon when one serves the store, else in-process.
 *
 * This is the only place that prints a fatal message and exits.  Exit
 * status: 0 ok, 1 a command failed (or the store could not be opened, or
 * the daemon could not start), 2 a usage error (bad option, missing file,
 * unknown mode).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead.h"
#include "client.h"
#include "cmd.h"
#include "daemon.h"
#include "flowlog.h"
#include "hook.h"
#include "json.h"
#include "safeops.h"
#include "top.h"
#include "util.h"

static void usage(FILE *f)
{
	fputs("usage: bulkhead [--db PATH] [--socket PATH] [--json] "
	      "[--require-daemon] [--idempotent]\n"
	      "                [-c COMMANDS | -f FILE|-]\n"
	      "       bulkhead [--db PATH] daemon [--socket PATH] "
	      "[--pidfile PATH] [--foreground]\n"
	      "                [--libvirt URI | --no-libvirt] "
	      "[--group-prefix PREFIX]\n"
	      "       bulkhead [--db PATH] [--socket PATH] ssh-command\n"
	      "       bulkhead [--db PATH] [--socket PATH] top "
	      "[--interval SECONDS] [--no-color]\n"
	      "       bulkhead --help | --version\n", f);
}

static void help(void)
{
	usage(stdout);
	fputs("\n"
	      "Microsegmentation for the workloads of a Linux/KVM host.  Without\n"
	      "-c or -f, an interactive shell (standard input is read as a batch\n"
	      "when it is not a terminal).\n"
	      "\n"
	      "  --db PATH      the store (default: $BULKHEAD_DB, else\n"
	      "                 /var/lib/bulkhead/bulkhead.db for root, else\n"
	      "                 ~/.local/share/bulkhead/bulkhead.db)\n"
	      "  --socket PATH  the daemon's socket (default: $BULKHEAD_SOCKET,\n"
	      "                 else " CLIENT_SOCKET_SYSTEM ", for non-root\n"
	      "                 $XDG_RUNTIME_DIR/bulkhead.sock first); 'none':\n"
	      "                 never use a daemon\n"
	      "  --json         'show' prints JSON; errors come as JSON on stdout\n"
	      "  --require-daemon  fail unless a daemon serves the store (never\n"
	      "                 run the engine in-process)\n"
	      "  --idempotent   adding what exists with the same content, or\n"
	      "                 deleting what does not exist, is not an error\n"
	      "  -c COMMANDS    run commands separated by ';' or newlines\n"
	      "  -f FILE        run the commands of FILE ('-': standard input)\n"
	      "  --help         this text\n"
	      "  --version      the version\n"
	      "  daemon         the event loop: libvirt events, the enforcer, the\n"
	      "                 client socket; it detaches once serving unless\n"
	      "                 --foreground.  Options after it:\n"
	      "    --pidfile PATH         (default: the socket's, .sock -> .pid)\n"
	      "    --foreground           stay attached, log to standard error\n"
	      "    --libvirt URI          (default qemu:///system)\n"
	      "    --no-libvirt           no libvirt provider\n"
	      "    --flow-ring N          flow records kept in memory (4096)\n"
	      "    --flow-retention TIME  hourly flow history kept (30d)\n"
	      "    --flow-json PATH|syslog  each flow record as a JSON line\n"
	      "    --counter-interval TIME  counter sampling (10s)\n"
	      "    --group-prefix PREFIX  role groups PREFIXadmin, PREFIXoperator,\n"
	      "                           PREFIXviewer (default " DAEMON_GROUP_PREFIX ")\n"
	      "  ssh-command    an authorized_keys forced command: runs\n"
	      "                 $SSH_ORIGINAL_COMMAND (show, help, add/delete tag,\n"
	      "                 quarantine, release) through the daemon, in JSON\n"
	      "  top            live TUI: workloads, rule hits, the flow log;\n"
	      "                 h in it lists the keys.  Options after it:\n"
	      "    --interval SECONDS     between refreshes (default 1)\n"
	      "    --no-color             monochrome (also $NO_COLOR)\n"
	      "\n"
	      "When a daemon serves the store, the shell and batch mode run their\n"
	      "commands through it; otherwise in-process.  Batch mode stops at the\n"
	      "first failing command.  Exit status: 0 ok, 1 a command failed, 2\n"
	      "usage error.  Type 'help' in the shell for the commands; see\n"
	      "bulkhead(8).\n", stdout);
}

/* A usage error: the message, the usage, status 2. */
static int usage_error(const char *fmt, const char *arg)
{
	fputs("bulkhead: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	usage(stderr);
	return 2;
}

/* Print a failure to reach the engine as main's errors go: JSON on
 * stdout with --json, else "bulkhead: ..." on stderr. */
static void fatal(const struct cmd_opts *o, const char *msg)
{
	if (o->json) {
		struct strbuf sb = STRBUF_INIT;
		struct json j;
		json_init(&j, &sb);
		json_obj_begin(&j);
		json_kstr(&j, "error", msg);
		json_obj_end(&j);
		printf("%s\n", sb_str(&sb));
		sb_free(&sb);
	} else {
		fprintf(stderr, "bulkhead: %s\n", msg);
	}
}

/* `bulkhead daemon ...`: argv[0] is "daemon". */
static int daemon_main(int argc, char **argv, const char *db,
                       const char *socket)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "libvirt", required_argument, NULL, 'L' },
		{ "no-libvirt", no_argument, NULL, 'N' },
		{ "group-prefix", required_argument, NULL, 'G' },
		{ "flow-ring", required_argument, NULL, 'r' },
		{ "flow-retention", required_argument, NULL, 'R' },
		{ "flow-json", required_argument, NULL, 'j' },
		{ "counter-interval", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_opts d = { 0 };
	struct flowlog_opts fo = { 0 };
	char err[BH_ERR_MAX];
	int64_t secs;
	char *end;
	int c, rc;

	d.db = db;
	d.socket = socket;
	optind = 0;      /* glibc: start a fresh scan of the new argv */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			d.socket = optarg;
			break;
		case 'p':
			d.pidfile = optarg;
			break;
		case 'F':
			d.foreground = 1;
			break;
		case 'L':
			d.libvirt_uri = optarg;
			break;
		case 'N':
			d.no_libvirt = 1;
			break;
		case 'G':
			d.group_prefix = optarg;
			break;
		case 'r':
			fo.ring = (size_t)strtoull(optarg, &end, 10);
			if (*end || !fo.ring || fo.ring > 10000000)
				return usage_error("daemon: --flow-ring: \"%s\" "
				                   "is not a count of records "
				                   "(1 to 10000000)", optarg);
			break;
		case 'R':
		case 'i':
			if (util_duration_parse(optarg, &secs, NULL, 0) < 0 ||
			    secs <= 0)
				return usage_error(c == 'R' ?
				                   "daemon: --flow-retention: \"%s\" "
				                   "is not a duration (2h, 30d)" :
				                   "daemon: --counter-interval: \"%s\" "
				                   "is not a duration (10s, 1m)", optarg);
			if (c == 'R')
				fo.retention = secs;
			else
				fo.sample = secs;
			break;
		case 'j':
			fo.json = optarg;
			break;
		case 'h':
			help();
			return 0;
		case ':':
			return usage_error("daemon: option \"%s\" needs an "
			                   "argument", argv[optind - 1]);
		default:
			return usage_error("daemon: unknown option \"%s\"",
			                   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("daemon: unexpected \"%s\"", argv[optind]);
	if (d.libvirt_uri && d.no_libvirt)
		return usage_error("daemon: give --libvirt or --no-libvirt%s",
		                   ", not both");
	d.flow = &fo;
	rc = daemon_run(&d, err, sizeof err);
	if (rc)
		fprintf(stderr, "bulkhead: daemon: %s\n", err);
	return rc;
}

/* `bulkhead top ...`: argv[0] is "top". */
static int top_main(int argc, char **argv, const char *db, const char *socket)
{
	static const struct option longopts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "no-color", no_argument, NULL, 'n' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct top_opts to = { 0 };
	char err[BH_ERR_MAX], *end;
	double secs;
	int c, rc;

	to.db = db;
	to.socket = socket;
	optind = 0;      /* glibc: start a fresh scan of the new argv */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			secs = strtod(optarg, &end);
			if (end == optarg || *end || !(secs >= 0.1 && secs <= 3600))
				return usage_error("top: --interval \"%s\": give "
				                   "seconds from 0.1 to 3600", optarg);
			to.interval_ms = (int)(secs * 1000 + 0.5);
			break;
		case 'n':
			to.no_color = 1;
			break;
		case 's':
			to.socket = optarg;
			break;
		case 'h':
			help();
			return 0;
		case ':':
			return usage_error("top: option \"%s\" needs an "
			                   "argument", argv[optind - 1]);
		default:
			return usage_error("top: unknown option \"%s\"",
			                   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("top: unexpected \"%s\"", argv[optind]);
	rc = top_run(&to, err, sizeof err);
	if (rc)
		fprintf(stderr, "bulkhead: %s\n", err);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "require-daemon", no_argument, NULL, 'R' },
		{ "idempotent", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_opts o = { 0 };
	struct client_opts co = { 0 };
	const char *db = NULL, *socket = NULL, *commands = NULL, *file = NULL;
	char err[BH_ERR_MAX];
	FILE *f = NULL;
	struct client *cl;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:c:f:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'D':
			db = optarg;
			break;
		case 's':
			socket = optarg;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'R':
			co.require_daemon = 1;
			break;
		case 'I':
			o.idempotent = 1;
			break;
		case 'c':
			if (commands || file)
				return usage_error("give one -c or -f%s", "");
			commands = optarg;
			break;
		case 'f':
			if (commands || file)
				return usage_error("give one -c or -f%s", "");
			file = optarg;
			break;
		case 'h':
			help();
			return 0;
		case 'V':
			printf("bulkhead %s\n", BH_VERSION);
			return 0;
		case ':':
			return usage_error("option \"%s\" needs an argument",
			                   argv[optind - 1]);
		default:
			return usage_error("unknown option \"%s\"",
			                   argv[optind - 1]);
		}
	}
	if (optind < argc) {
		const char *mode = argv[optind];
		if (strcmp(mode, "daemon") == 0) {
			if (commands || file || o.json)
				return usage_error("daemon: -c, -f and --json are "
				                   "for the shell%s", "");
			return daemon_main(argc - optind, argv + optind, db,
			                   socket);
		}
		/* an authorized_keys forced command: safeops.h */
		if (strcmp(mode, "ssh-command") == 0) {
			if (commands || file)
				return usage_error("ssh-command: it reads its "
				                   "commands from "
				                   "SSH_ORIGINAL_COMMAND%s", "");
			return sshcmd_main(argc - optind, argv + optind, db,
			                   socket);
		}
		/* libvirt's qemu hook: hook.h */
		if (strcmp(mode, "hook") == 0)
			return hook_main(argc - optind, argv + optind, db, stdin,
			                 stderr);
		if (strcmp(mode, "top") == 0) {
			if (commands || file || o.json)
				return usage_error("top: -c, -f and --json are "
				                   "for the shell%s", "");
			return top_main(argc - optind, argv + optind, db, socket);
		}
		if (commands || file)
			return usage_error("unexpected \"%s\" after the commands",
			                   mode);
		fprintf(stderr, "bulkhead: unknown mode \"%s\"; to run a command "
		        "give it with -c, e.g. bulkhead -c '%s ...'\n", mode, mode);
		usage(stderr);
		return 2;
	}

	/* Open the file before the store: a typo must not create a store. */
	if (file && strcmp(file, "-") != 0) {
		struct stat st;

		f = fopen(file, "r");
		if (f && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
			fclose(f);
			f = NULL;
			errno = EISDIR;
		}
		if (!f) {
			fprintf(stderr, "bulkhead: cannot open \"%s\": %s\n", file,
			        strerror(errno));
			return 2;
		}
	}

	/* The daemon when one serves the store, else the engine here. */
	co.db = db;
	co.socket = socket;
	cl = client_open(&co, err, sizeof err);
	if (!cl) {
		fatal(&o, err);
		if (f)
			fclose(f);
		return 1;
	}

	if (commands)
		rc = batch_run_client(cl, &o, NULL, NULL, commands);
	else if (f)
		rc = batch_run_client(cl, &o, f, file, NULL);
	else if (file || !isatty(STDIN_FILENO))
		rc = batch_run_client(cl, &o, stdin, "stdin", NULL);
	else
		rc = shell_run_client(cl, &o);

	if (f)
		fclose(f);
	client_close(cl);
	return rc;
}
