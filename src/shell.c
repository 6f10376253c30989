/*
 * shell.c - the interactive shell (front end): libedit line editing over
 * the command language of cmd.c.
 *
 * TAB completes from cmd_complete() (listing the candidates when several
 * fit), '?' typed anywhere outside quotes shows cmd_help_next() for the
 * words so far and gives the line back unchanged, the prompt counts the
 * user's uncommitted changes (`bulkhead[+3]> `), and the history lives in
 * ~/.bulkhead_history (or $BULKHEAD_HISTORY), one command per line, each
 * command kept once (its newest use).
 *
 * The engine is reached through a struct client (client.h): in-process, or
 * the daemon when one runs, so commands, completion, `?` and the prompt
 * work the same either way; the client's notes (a daemon gone or back) are
 * shown before what follows them.
 */
#include <errno.h>
#include <histedit.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "policy.h"
#include "shell.h"

#define HISTORY_MAX 1000
#define PROMPT "bulkhead> "

struct shell {
	struct client *c;
	const struct cmd_opts *o;
	EditLine *el;
	History *hist;
	char prompt[64];
	char hist_path[PATH_MAX];
	struct strv lines;     /* the history, oldest first, no duplicates */
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* ---- history ------------------------------------------------------------ */

static void history_path(struct shell *sh)
{
	const char *env = getenv("BULKHEAD_HISTORY"), *home = getenv("HOME");
	struct passwd *pw;

	sh->hist_path[0] = '\0';
	if (env) {
		snprintf(sh->hist_path, sizeof sh->hist_path, "%s", env);
		return;
	}
	if (!home || !*home) {
		pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (home)
		snprintf(sh->hist_path, sizeof sh->hist_path,
		         "%s/.bulkhead_history", home);
}

/* Append @line as the newest entry, dropping an older copy of it. */
static void history_remember(struct shell *sh, const char *line)
{
	size_t k = 0;

	for (size_t i = 0; i < sh->lines.n; i++) {
		if (strcmp(sh->lines.v[i], line) == 0) {
			free(sh->lines.v[i]);
			continue;
		}
		sh->lines.v[k++] = sh->lines.v[i];
	}
	sh->lines.n = k;
	strv_push(&sh->lines, line);
	if (sh->lines.n > HISTORY_MAX) {
		size_t drop = sh->lines.n - HISTORY_MAX;
		for (size_t i = 0; i < drop; i++)
			free(sh->lines.v[i]);
		memmove(sh->lines.v, sh->lines.v + drop,
		        HISTORY_MAX * sizeof *sh->lines.v);
		sh->lines.n = HISTORY_MAX;
	}
}

/* libedit's copy mirrors sh->lines (cheap: at most HISTORY_MAX entries). */
static void history_sync(struct shell *sh)
{
	HistEvent ev;

	history(sh->hist, &ev, H_CLEAR);
	for (size_t i = 0; i < sh->lines.n; i++)
		history(sh->hist, &ev, H_ENTER, sh->lines.v[i]);
}

static void history_load(struct shell *sh)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!sh->hist_path[0] || !(f = fopen(sh->hist_path, "r")))
		return;
	while ((n = getline(&line, &cap, f)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n > 0)
			history_remember(sh, line);
	}
	free(line);
	fclose(f);
	history_sync(sh);
}

/* Rewrite the file (owner-only: commands may name internal hosts). */
static void history_save(struct shell *sh)
{
	FILE *f;
	mode_t old;

	if (!sh->hist_path[0])
		return;
	old = umask(077);
	f = fopen(sh->hist_path, "w");
	umask(old);
	if (!f)
		return;
	for (size_t i = 0; i < sh->lines.n; i++)
		fprintf(f, "%s\n", sh->lines.v[i]);
	fclose(f);
}

/* ---- prompt, completion, `?` --------------------------------------------- */

static struct shell *shell_of(EditLine *el)
{
	void *p = NULL;

	el_get(el, EL_CLIENTDATA, &p);
	return p;
}

static char *prompt_fn(EditLine *el)
{
	return shell_of(el)->prompt;
}

/* The client's note about the daemon (gone, back), on standard error. */
static void show_notice(struct shell *sh)
{
	const char *n = client_notice(sh->c);

	if (n) {
		fflush(stdout);
		fputs(n, stderr);
		fflush(stderr);
	}
}

/* Output of a command: the note first, if one came meanwhile. */
static void emit(void *ctx, int stream, const char *text)
{
	show_notice(ctx);
	client_emit_stdio(NULL, stream, text);
}

/* `bulkhead[+N]> ` while the user's candidate holds N changes. */
static void prompt_update(struct shell *sh)
{
	struct candidate_state st;

	memset(&st, 0, sizeof st);
	if (client_candidate_state(sh->c, &st) == 0 && st.exists &&
	    st.changes > 0)
		snprintf(sh->prompt, sizeof sh->prompt, "bulkhead[+%d]> ",
		         st.changes);
	else
		snprintf(sh->prompt, sizeof sh->prompt, PROMPT);
	show_notice(sh);
}

/* The text before the cursor, as a string the caller frees. */
static char *text_before_cursor(EditLine *el)
{
	const LineInfo *li = el_line(el);
	size_t n = (size_t)(li->cursor - li->buffer);
	char *s = xmalloc(n + 1);

	memcpy(s, li->buffer, n);
	s[n] = '\0';
	return s;
}

/* The word being typed: after the last blank, '(' ')' or ';' (the same
 * split as cmd_complete's). */
static const char *word_start(const char *text)
{
	const char *p = text + strlen(text);

	while (p > text && !strchr(" \t\n();", p[-1]))
		p--;
	return p;
}

/* Candidates in columns under the line. */
static void list_columns(FILE *out, const struct strv *cands)
{
	size_t w = 0, cols, rows;

	for (size_t i = 0; i < cands->n; i++)
		if (strlen(cands->v[i]) > w)
			w = strlen(cands->v[i]);
	w += 2;
	cols = w < 80 ? 80 / w : 1;
	rows = (cands->n + cols - 1) / cols;
	fputc('\n', out);
	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < cols; c++) {
			size_t i = c * rows + r;
			if (i < cands->n)
				fprintf(out, "%-*s", (int)w, cands->v[i]);
		}
		fputc('\n', out);
	}
}

static unsigned char complete_fn(EditLine *el, int ch)
{
	struct shell *sh = shell_of(el);
	char *text = text_before_cursor(el);
	const char *word = word_start(text);
	size_t wlen = strlen(word), lcp;
	struct strv cands = STRV_INIT;
	unsigned char rc = CC_REFRESH;
	FILE *out = stdout;

	(void)ch;
	client_complete(sh->c, text, &cands);
	if (cands.n == 0) {
		rc = CC_REFRESH_BEEP;
	} else if (cands.n == 1) {
		const char *c = cands.v[0];
		size_t clen = strlen(c);
		if (clen >= wlen && strncmp(c, word, wlen) == 0) {
			el_insertstr(el, c + wlen);
			/* a finished word gets its blank; a list item may go on */
			if (clen && c[clen - 1] != ',')
				el_insertstr(el, " ");
		}
	} else {
		lcp = strlen(cands.v[0]);
		for (size_t i = 1; i < cands.n; i++) {
			size_t k = 0;
			while (k < lcp && cands.v[i][k] == cands.v[0][k])
				k++;
			lcp = k;
		}
		if (lcp > wlen && strncmp(cands.v[0], word, wlen) == 0) {
			char *ext = xmalloc(lcp - wlen + 1);
			memcpy(ext, cands.v[0] + wlen, lcp - wlen);
			ext[lcp - wlen] = '\0';
			el_insertstr(el, ext);
			free(ext);
		} else {
			el_get(el, EL_GETFP, 1, &out);
			list_columns(out, &cands);
			rc = CC_REDISPLAY;
		}
	}
	strv_free(&cands);
	free(text);
	return rc;
}

static unsigned char help_fn(EditLine *el, int ch)
{
	struct shell *sh = shell_of(el);
	char *text = text_before_cursor(el);
	struct tokv tv = TOKV_INIT;
	struct strbuf sb = STRBUF_INIT;
	char err[BH_ERR_MAX];
	FILE *out = stdout;

	(void)ch;
	/* Inside quotes '?' is just a character ("why?", "web-?"). */
	if (tokenize(text, &tv, err, sizeof err) < 0) {
		tokv_free(&tv);
		free(text);
		el_insertstr(el, "?");
		return CC_REFRESH;
	}
	tokv_free(&tv);
	client_help_next(sh->c, text, &sb);
	el_get(el, EL_GETFP, 1, &out);
	fprintf(out, "?\n%s", sb_str(&sb));
	sb_free(&sb);
	free(text);
	return CC_REDISPLAY;
}

/* ---- the loop ------------------------------------------------------------ */

/* 1 when the logical line goes on after @line (a trailing '\' or a list
 * whose last word ends in ','). */
static int goes_on(struct strbuf *line)
{
	struct tokv tv = TOKV_INIT;
	char err[BH_ERR_MAX];
	int more = 0;

	if (line->len && line->s[line->len - 1] == '\\') {
		line->s[line->len - 1] = ' ';
		return 1;
	}
	if (tokenize(sb_str(line), &tv, err, sizeof err) == 0 && tv.n) {
		const char *last = tv.v[tv.n - 1].text;
		size_t len = strlen(last);
		more = !tv.v[tv.n - 1].quoted && len && last[len - 1] == ',';
	}
	tokv_free(&tv);
	return more;
}

/* Read one logical line; NULL at EOF.  *intr is set after ^C. */
static int read_line(struct shell *sh, struct strbuf *line)
{
	const char *s;
	int count;

	sb_reset(line);
	prompt_update(sh);
	for (;;) {
		interrupted = 0;
		s = el_gets(sh->el, &count);
		if (!s) {
			if (interrupted || (count < 0 && errno == EINTR)) {
				/* ^C drops the line being typed */
				fputc('\n', stdout);
				el_reset(sh->el);
				sb_reset(line);
				prompt_update(sh);
				continue;
			}
			return -1;
		}
		sb_add(line, s);
		while (line->len && (line->s[line->len - 1] == '\n' ||
		                     line->s[line->len - 1] == '\r'))
			line->s[--line->len] = '\0';
		if (!goes_on(line))
			return 0;
		sb_addc(line, ' ');
		snprintf(sh->prompt, sizeof sh->prompt, "%*s", (int)strlen(PROMPT),
		         "> ");
	}
}

static int is_exit(const char *line)
{
	char word[8];
	char rest[2];

	return sscanf(line, " %7s %1s", word, rest) == 1 &&
	       (strcmp(word, "exit") == 0 || strcmp(word, "quit") == 0);
}

/* The interactive shell over a client; see client.h. */
int shell_run_client(struct client *c, const struct cmd_opts *o)
{
	struct shell sh;
	struct strbuf line = STRBUF_INIT;
	struct candidate_state st;
	struct sigaction sa, old_sa;
	HistEvent ev;

	memset(&sh, 0, sizeof sh);
	sh.c = c;
	sh.o = o;
	snprintf(sh.prompt, sizeof sh.prompt, PROMPT);

	/* ^C interrupts the read (no SA_RESTART) instead of the process. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_sa);

	sh.hist = history_init();
	history(sh.hist, &ev, H_SETSIZE, HISTORY_MAX);
	sh.el = el_init("bulkhead", stdin, stdout, stderr);
	el_set(sh.el, EL_CLIENTDATA, &sh);
	el_set(sh.el, EL_PROMPT, prompt_fn);
	el_set(sh.el, EL_EDITOR, "emacs");
	el_set(sh.el, EL_HIST, history, sh.hist);
	/* The wide-character form: libedit keeps these strings as they are,
	 * where el_set() would copy them and never free the copies. */
	el_wset(sh.el, EL_ADDFN, L"bh-complete", L"complete a command word",
	        complete_fn);
	el_wset(sh.el, EL_ADDFN, L"bh-help", L"show what may come next",
	        help_fn);
	el_set(sh.el, EL_BIND, "^I", "bh-complete", NULL);
	el_set(sh.el, EL_BIND, "?", "bh-help", NULL);
	el_source(sh.el, NULL);   /* ~/.editrc may rebind keys */

	history_path(&sh);
	history_load(&sh);

	printf("bulkhead %s: 'help' lists the commands, '?' shows what may "
	       "come next, TAB completes\n", BH_VERSION);
	if (client_daemon(c))
		printf("connected to the daemon at %s\n", client_daemon(c));
	while (read_line(&sh, &line) == 0) {
		const char *s = sb_str(&line);

		if (strspn(s, " \t") == strlen(s))
			continue;
		if (is_exit(s))
			break;
		history_remember(&sh, s);
		history_sync(&sh);
		history_save(&sh);
		interrupted = 0;
		client_exec(c, o, s, emit, &sh);
		/* ^C ended a command that streams (monitor flows): the
		 * prompt goes on a line of its own */
		if (interrupted)
			fputc('\n', stdout);
		fflush(stdout);
	}
	if (!is_exit(sb_str(&line)))
		fputc('\n', stdout);   /* EOF leaves the cursor after the prompt */

	memset(&st, 0, sizeof st);
	if (client_candidate_state(c, &st) == 0 && st.exists && st.changes > 0)
		fprintf(stderr, "note: %d uncommitted change%s remain%s in your "
		        "candidate\n", st.changes, st.changes == 1 ? "" : "s",
		        st.changes == 1 ? "s" : "");

	history_save(&sh);
	el_end(sh.el);
	history_end(sh.hist);
	strv_free(&sh.lines);
	sb_free(&line);
	sigaction(SIGINT, &old_sa, NULL);
	return 0;
}

/* The interactive shell in-process; see shell.h. */
int shell_run(struct bh *bh, const struct cmd_opts *o)
{
	struct client *c = client_wrap(bh);
	int rc = shell_run_client(c, o);

	client_close(c);
	return rc;
}
