/*
 * main.c - the bulkhead program: options, the choice of front end, exit
 * status.
 *
 *   bulkhead [--db PATH] [--json]                interactive shell
 *   bulkhead [--db PATH] [--json] -c 'CMD; CMD'  batch from a string
 *   bulkhead [--db PATH] [--json] -f FILE|-      batch from a file or stdin
 *   bulkhead [--db PATH] daemon | top            (later issues)
 *
 * This is the only place that prints a fatal message and exits.  Exit
 * status: 0 ok, 1 a command failed (or the store could not be opened),
 * 2 a usage error (bad option, missing file, unknown mode).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead.h"
#include "cmd.h"
#include "engine.h"
#include "json.h"
#include "shell.h"
#include "util.h"

static void usage(FILE *f)
{
	fputs("usage: bulkhead [--db PATH] [--json] [-c COMMANDS | -f FILE|-]\n"
	      "       bulkhead [--db PATH] daemon | top\n"
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
	      "  --json         'show' prints JSON; errors come as JSON on stdout\n"
	      "  -c COMMANDS    run commands separated by ';' or newlines\n"
	      "  -f FILE        run the commands of FILE ('-': standard input)\n"
	      "  --help         this text\n"
	      "  --version      the version\n"
	      "  daemon         the event loop (not in this build yet)\n"
	      "  top            live flows and counters (not in this build yet)\n"
	      "\n"
	      "Batch mode stops at the first failing command.  Exit status: 0 ok,\n"
	      "1 a command failed, 2 usage error.  Type 'help' in the shell for\n"
	      "the commands; see bulkhead(8).\n", stdout);
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

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_opts o = { 0 };
	const char *db = NULL, *commands = NULL, *file = NULL;
	char err[BH_ERR_MAX];
	FILE *f = NULL;
	struct bh *bh;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:c:f:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'D':
			db = optarg;
			break;
		case 'j':
			o.json = 1;
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
		if (strcmp(mode, "daemon") == 0 || strcmp(mode, "top") == 0) {
			fprintf(stderr, "bulkhead: '%s' is not available in this "
			        "build yet\n", mode);
			return 2;
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

	bh = engine_open(db, ENGINE_KERNEL_AUTO, err, sizeof err);
	if (!bh) {
		if (o.json) {
			struct strbuf sb = STRBUF_INIT;
			struct json j;
			json_init(&j, &sb);
			json_obj_begin(&j);
			json_kstr(&j, "error", err);
			json_obj_end(&j);
			printf("%s\n", sb_str(&sb));
			sb_free(&sb);
		} else {
			fprintf(stderr, "bulkhead: %s\n", err);
		}
		if (f)
			fclose(f);
		return 1;
	}

	if (commands)
		rc = batch_run_string(bh, &o, commands);
	else if (f)
		rc = batch_run_file(bh, &o, f, file);
	else if (file || !isatty(STDIN_FILENO))
		rc = batch_run_file(bh, &o, stdin, "stdin");
	else
		rc = shell_run(bh, &o);

	if (f)
		fclose(f);
	engine_close(bh);
	return rc;
}
