/*
 * batch.c - batch mode (front end): commands from a file, standard input
 * or a -c string, run in order until the first one fails.
 *
 * A command ends at ';' or at the end of a line, unless the line ends in a
 * backslash or its last word ends in ',' (a list going on: `member web1,`),
 * in which case the next line continues it.  Errors name the line where the
 * failing command starts (`policy.bh:14: ...`), so a file is read line by
 * line and each command is handed to cmd_exec() on its own.
 *
 * A batch is all or nothing (policy_batch_begin): when a command fails, the
 * ones before it are undone too, in the store and in the kernel.
 *
 * Output and messages go through a struct batch_io: standard output and
 * error for a batch run here, frames back to the client for a batch the
 * daemon runs (batch_run_io), which also checks each command against the
 * client's role.  A batch for the daemon is read whole by the client
 * (batch_run_client), with the client's own rights, and sent at once: the
 * daemon never opens a file a client names.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "daemon.h"
#include "policy.h"
#include "shell.h"

/* Where lines come from: a stream, or @left bytes at @s. */
struct source {
	FILE *f;
	const char *s;
	size_t left;
	char *buf;
	size_t cap;
};

static const struct batch_io stdio_io = { client_emit_stdio, NULL, NULL };

/* The next line without its line break, or NULL at the end. */
static const char *next_line(struct source *src)
{
	ssize_t n;

	if (src->f) {
		n = getline(&src->buf, &src->cap, src->f);
		if (n < 0)
			return NULL;
	} else {
		const char *nl;
		if (!src->s || !src->left)
			return NULL;
		nl = memchr(src->s, '\n', src->left);
		n = nl ? nl - src->s : (ssize_t)src->left;
		if ((size_t)n + 1 > src->cap) {
			src->cap = (size_t)n + 1;
			src->buf = xrealloc(src->buf, src->cap);
		}
		memcpy(src->buf, src->s, (size_t)n);
		src->buf[n] = '\0';
		src->left -= nl ? (size_t)n + 1 : (size_t)n;
		src->s = nl ? nl + 1 : NULL;
	}
	while (n > 0 && (src->buf[n - 1] == '\n' || src->buf[n - 1] == '\r'))
		src->buf[--n] = '\0';
	return src->buf;
}

/* 1 when @unit must go on on the next line: its last word ends in ','. */
static int list_goes_on(const char *unit)
{
	struct tokv tv = TOKV_INIT;
	char err[BH_ERR_MAX];
	int more = 0;

	if (tokenize(unit, &tv, err, sizeof err) == 0 && tv.n) {
		const char *last = tv.v[tv.n - 1].text;
		size_t len = strlen(last);
		more = !tv.v[tv.n - 1].quoted && len && last[len - 1] == ',';
	}
	tokv_free(&tv);
	return more;
}

/* Report bh->err at @name:@line (or as "error: " without a name). */
static void report(struct bh *bh, const struct cmd_opts *o,
                   const struct batch_io *io, const char *name, int line)
{
	struct strbuf sb = STRBUF_INIT;
	char where[PATH_MAX + 32];

	if (name)
		snprintf(where, sizeof where, "%s:%d", name, line);
	cmd_format_error(bh, o, name ? where : NULL, &sb);
	io->emit(io->ctx, o->json ? 1 : 2, sb_str(&sb));
	sb_free(&sb);
}

/*
 * Run the commands of @unit, whose first line is line @first of @name:
 * each ';'-separated command on its own, so a failure can name the line it
 * starts on.  Returns 0, or -1 after reporting a failure.
 */
static int run_unit(struct bh *bh, const struct cmd_opts *o,
                    const struct batch_io *io, const char *name,
                    const char *unit, int first)
{
	struct tokv tv = TOKV_INIT;
	struct strbuf out = STRBUF_INIT;
	char err[BH_ERR_MAX];
	size_t start = 0;
	int rc = 0;

	if (tokenize(unit, &tv, err, sizeof err) < 0) {
		tokv_free(&tv);
		/* cmd_exec words the error and audits the attempt */
		if (cmd_exec(bh, o, unit, &out) < 0)
			report(bh, o, io, name, first);
		sb_free(&out);
		return -1;
	}
	for (size_t i = 0; i <= tv.n && rc == 0; i++) {
		size_t from, to, bol;
		int line = first;
		char *cmd;

		if (i < tv.n && !(strcmp(tv.v[i].text, ";") == 0 &&
		                  !tv.v[i].quoted))
			continue;
		if (i == start) {
			start = i + 1;
			continue;
		}
		/* The command from the start of its first line, what precedes
		 * it there blanked, so columns in messages are the line's. */
		from = (size_t)tv.v[start].col - 1;
		to = i < tv.n ? (size_t)tv.v[i].col - 1 : strlen(unit);
		bol = 0;
		for (size_t k = 0; k < from; k++)
			if (unit[k] == '\n') {
				line++;
				bol = k + 1;
			}
		cmd = xmalloc(to - bol + 1);
		memset(cmd, ' ', from - bol);
		memcpy(cmd + (from - bol), unit + from, to - from);
		cmd[to - bol] = '\0';
		sb_reset(&out);
		if (io->check && io->check(io->ctx, bh, cmd) < 0)
			rc = -1;
		else
			rc = cmd_exec(bh, o, cmd, &out);
		if (out.len)
			io->emit(io->ctx, 1, sb_str(&out));
		if (rc < 0)
			report(bh, o, io, name, line);
		free(cmd);
		start = i + 1;
	}
	tokv_free(&tv);
	sb_free(&out);
	return rc;
}

/*
 * All or nothing: the batch's transaction (policy_batch_begin) starts at
 * its first changing command, so a batch of shows never takes the store's
 * write lock and never waits for another writer.
 */
static int run_batch_unit(struct bh *bh, const struct cmd_opts *o,
                          const struct batch_io *io, const char *name,
                          const char *unit, int first, int *begun)
{
	if (!*begun && cmd_changes(unit)) {
		if (policy_batch_begin(bh)) {
			report(bh, o, io, name, first);
			return -1;
		}
		*begun = 1;
	}
	return run_unit(bh, o, io, name, unit, first);
}

static int run_source(struct bh *bh, const struct cmd_opts *o,
                      const struct batch_io *io, struct source *src,
                      const char *name)
{
	struct strbuf unit = STRBUF_INIT;
	const char *line;
	int lineno = 0, first = 0, rc = 0, undone = 0, begun = 0;

	while (rc == 0 && (line = next_line(src))) {
		size_t len = strlen(line);
		int more = 0;

		lineno++;
		if (unit.len == 0)
			first = lineno;
		else
			sb_addc(&unit, '\n');
		if (len && line[len - 1] == '\\') {
			/* a continuation: the backslash becomes a blank */
			sb_addn(&unit, line, len - 1);
			sb_addc(&unit, ' ');
			more = 1;
		} else {
			sb_add(&unit, line);
			more = list_goes_on(sb_str(&unit));
		}
		if (more)
			continue;
		rc = run_batch_unit(bh, o, io, name, sb_str(&unit), first,
		                    &begun);
		sb_reset(&unit);
	}
	if (rc == 0 && unit.len)
		rc = run_batch_unit(bh, o, io, name, sb_str(&unit), first,
		                    &begun);
	if (rc == 0 && src->f && ferror(src->f)) {
		/* a read error must not pass for the end of the commands */
		bh_error(bh, "cannot read: %s", strerror(errno));
		report(bh, o, io, name, lineno + 1);
		rc = -1;
	}
	sb_free(&unit);
	free(src->buf);
	if (begun && policy_batch_end(bh, rc == 0, &undone) < 0) {
		if (rc == 0) {
			report(bh, o, io, name, lineno);  /* the commit failed */
			rc = -1;
		} else if (undone) {
			io->emit(io->ctx, 2, "note: nothing was changed: a batch "
			         "is applied whole or not at all\n");
		}
	}
	return rc < 0 ? 1 : 0;
}

/* Batch from a stream; see shell.h. */
int batch_run_file(struct bh *bh, const struct cmd_opts *o, FILE *f,
                   const char *name)
{
	struct source src = { f, NULL, 0, NULL, 0 };

	return run_source(bh, o, &stdio_io, &src, name ? name : "stdin");
}

/* Batch from a -c string; see shell.h. */
int batch_run_string(struct bh *bh, const struct cmd_opts *o,
                     const char *commands)
{
	struct source src = { NULL, commands, commands ? strlen(commands) : 0,
	                      NULL, 0 };

	return run_source(bh, o, &stdio_io, &src, NULL);
}

/* A batch the daemon runs for a client; see daemon.h. */
int batch_run_io(struct bh *bh, const struct cmd_opts *o, const char *text,
                 size_t len, const char *name, const struct batch_io *io)
{
	struct source src = { NULL, text, len, NULL, 0 };

	return run_source(bh, o, io, &src, name);
}

/* The whole of @f into @sb; -1 with errno on a read error, *lines set to
 * the lines read so far (the message names the line after them). */
static int slurp(FILE *f, struct strbuf *sb, int *lines)
{
	char chunk[65536];
	size_t n;

	*lines = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		for (size_t i = 0; i < n; i++)
			*lines += chunk[i] == '\n';
		sb_addn(sb, chunk, n);
	}
	return ferror(f) ? -1 : 0;
}

/* Batch mode over a client; see client.h. */
int batch_run_client(struct client *c, const struct cmd_opts *o, FILE *f,
                     const char *name, const char *commands)
{
	struct strbuf text = STRBUF_INIT;
	struct bh *local = client_bh(c);
	int rc, lines;

	if (local)
		return f ? batch_run_file(local, o, f, name)
		         : batch_run_string(local, o, commands);
	if (!f)
		return client_batch(c, o, commands, strlen(commands), NULL,
		                    client_emit_stdio, NULL);
	if (!name)
		name = "stdin";
	if (slurp(f, &text, &lines) < 0) {
		/* Nothing was sent, so nothing ran: the batch fails whole. */
		struct bh tmp;
		struct strbuf sb = STRBUF_INIT;
		char where[PATH_MAX + 32];

		memset(&tmp, 0, sizeof tmp);
		bh_error(&tmp, "cannot read: %s", strerror(errno));
		snprintf(where, sizeof where, "%s:%d", name, lines + 1);
		cmd_format_error(&tmp, o, where, &sb);
		client_emit_stdio(NULL, o->json ? 1 : 2, sb_str(&sb));
		sb_free(&sb);
		sb_free(&text);
		return 1;
	}
	rc = client_batch(c, o, text.s ? text.s : "", text.len, name,
	                  client_emit_stdio, NULL);
	sb_free(&text);
	return rc;
}
