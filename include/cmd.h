/*
 * cmd.h - the command language (front end): one grammar table drives
 * parsing, completion, `?` help and `help COMMAND`.
 *
 * The same entry points serve the interactive shell, batch mode, the
 * testfixture and (later) the daemon's socket.  Output goes into a strbuf;
 * nothing here prints.
 */
#ifndef BH_CMD_H
#define BH_CMD_H

#include "bulkhead.h"
#include "util.h"

struct cmd_opts {
	int json;          /* `show` prints JSON; errors become JSON */
	int idempotent;    /* --idempotent: an add of what exists with the
	                      same content says "exists unchanged", a delete
	                      of what does not exist "nothing to delete",
	                      and both succeed (src/idem.c) */
};

/*
 * Run every command of @line (commands separated by ';').  Stops at the
 * first failing command: returns -1 with the message in bh->err (without
 * the "error: " prefix).  Output of the commands that ran is appended to
 * @out.  Changing commands are audited, failures included.
 */
int cmd_exec(struct bh *bh, const struct cmd_opts *o, const char *line,
             struct strbuf *out);

/*
 * 1 when @line may change something (anything but show and help: what the
 * audit records), 0 for a read-only line.  Batch mode uses it to take the
 * store's write lock only when the first changing command comes.
 */
int cmd_changes(const char *line);

/*
 * Completion: the words that may follow the text @line (the word being
 * typed is its tail after the last blank).  Candidates are whole words,
 * sorted, deduplicated.
 */
int cmd_complete(struct bh *bh, const char *line, struct strv *out);

/* `?` help: what may come next after @line, one "word  help" per line. */
int cmd_help_next(struct bh *bh, const char *line, struct strbuf *out);

/* `help` and `help WORDS`: syntax and description of matching commands. */
int cmd_help(struct bh *bh, const char *words, struct strbuf *out);

/* Format bh->err as the front end shows it: "error: ..." or, with json,
 * {"error":"..."}; @where ("policy.bh:14") may be NULL. */
void cmd_format_error(const struct bh *bh, const struct cmd_opts *o,
                      const char *where, struct strbuf *out);

#endif
