/*
 * match.c - group match expressions: parser, canonical printer and
 * evaluator (the policy model layer).
 *
 * The parser is recursive descent over the tokenizer's tokens, so columns in
 * messages are those of the line the user typed.  It stops quietly at the
 * first token that cannot continue an expression at the outer level, which
 * is how the command parser learns where `match EXPR` ends.  Trees are kept
 * flattened (an `and` never has an `and` child, likewise `or`), which makes
 * the printed form canonical: parse(format(x)) prints as format(x).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"

enum match_op {
	MATCH_TAG,
	MATCH_NAME,
	MATCH_OS,
	MATCH_HOST,
	MATCH_GROUP,
	MATCH_NOT,
	MATCH_AND,
	MATCH_OR
};

static const char *const keys[] = { "tag", "name", "os", "host", "group" };
#define NKEYS (sizeof keys / sizeof keys[0])

struct match {
	enum match_op op;
	char *value;          /* keys: the word or glob */
	struct match **kids;  /* not: one; and/or: two or more */
	size_t nkids;
};

/* Deeper nesting than this is refused rather than risking the stack. */
#define MATCH_DEPTH_MAX 64

struct parser {
	const struct token *v;
	size_t n;
	size_t pos;
	char *err;
	size_t errlen;
	int failed;
};

static void fail(struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = 1;
	if (p->err && p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
}

/* The next token when it is the unquoted word @w, else NULL. */
static const struct token *peek_kw(const struct parser *p, const char *w)
{
	if (p->pos < p->n && !p->v[p->pos].quoted &&
	    strcmp(p->v[p->pos].text, w) == 0)
		return &p->v[p->pos];
	return NULL;
}

/* The index of @s in keys[], or -1. */
static int key_index(const char *s)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(s, keys[i]) == 0)
			return (int)i;
	return -1;
}

/* Words that a value may not be unless quoted: they read as structure. */
static int is_structure(const struct token *t)
{
	static const char *const words[] = { "and", "or", "not", "(", ")",
	                                     ";" };
	if (t->quoted)
		return 0;
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strcmp(t->text, words[i]) == 0)
			return 1;
	return 0;
}

static struct match *node_new(enum match_op op)
{
	struct match *m = xcalloc(1, sizeof *m);

	m->op = op;
	return m;
}

static void node_add(struct match *m, struct match *kid)
{
	m->kids = xrealloc(m->kids, (m->nkids + 1) * sizeof *m->kids);
	m->kids[m->nkids++] = kid;
}

/* Join @a and @b under @op, splicing children of the same operator so the
 * tree stays flat. */
static struct match *join(enum match_op op, struct match *a, struct match *b)
{
	struct match *m;

	if (a->op == op) {
		m = a;
	} else {
		m = node_new(op);
		node_add(m, a);
	}
	if (b->op == op) {
		for (size_t i = 0; i < b->nkids; i++)
			node_add(m, b->kids[i]);
		free(b->kids);
		free(b);
	} else {
		node_add(m, b);
	}
	return m;
}

/* Report that a term was expected at the current position. */
static void expected_term(struct parser *p)
{
	static const char what[] =
	    "expected tag, name, os, host, group, not or \"(\"";
	const struct token *prev = p->pos > 0 ? &p->v[p->pos - 1] : NULL;

	if (p->pos >= p->n ||
	    (!p->v[p->pos].quoted && strcmp(p->v[p->pos].text, ";") == 0)) {
		if (prev)
			fail(p, "%s after \"%s\" at column %d", what,
			     prev->text, prev->col);
		else
			fail(p, "empty match expression");
		return;
	}

	const struct token *t = &p->v[p->pos];
	const char *sugg = NULL;
	/* "and" and "or" out of place are misplaced structure, not typos of
	 * a key ("or" is one edit from "os"), so they get no suggestion. */
	if (!t->quoted && strcmp(t->text, "and") != 0 &&
	    strcmp(t->text, "or") != 0) {
		static const char *const words[] = { "tag", "name", "os",
		                                     "host", "group", "not" };
		sugg = util_suggest(t->text, words, 6);
	}
	if (t->quoted && (key_index(t->text) >= 0 ||
	                  strcmp(t->text, "not") == 0))
		fail(p, "%s at column %d, found \"%s\" in quotes (a quoted "
		     "word is always a value, never a keyword)", what, t->col,
		     t->text);
	else if (sugg)
		fail(p, "%s at column %d, found \"%s\" (did you mean \"%s\"?)",
		     what, t->col, t->text, sugg);
	else
		fail(p, "%s at column %d, found \"%s\"", what, t->col, t->text);
}

static struct match *parse_or(struct parser *p, int depth);

static struct match *parse_term(struct parser *p, int depth)
{
	const struct token *t;
	struct match *m;
	int k;

	if (p->pos >= p->n) {
		expected_term(p);
		return NULL;
	}
	t = &p->v[p->pos];
	if (depth > MATCH_DEPTH_MAX) {
		fail(p, "match expression nested too deeply at column %d: "
		     "use at most %d levels of \"not\" and \"(\"", t->col,
		     MATCH_DEPTH_MAX);
		return NULL;
	}
	if (peek_kw(p, "not")) {
		p->pos++;
		struct match *kid = parse_term(p, depth + 1);
		if (!kid)
			return NULL;
		m = node_new(MATCH_NOT);
		node_add(m, kid);
		return m;
	}
	if (peek_kw(p, "(")) {
		p->pos++;
		m = parse_or(p, depth + 1);
		if (!m)
			return NULL;
		if (!peek_kw(p, ")")) {
			fail(p, "unbalanced \"(\" at column %d: missing \")\"",
			     t->col);
			match_free(m);
			return NULL;
		}
		p->pos++;
		return m;
	}
	k = t->quoted ? -1 : key_index(t->text);
	if (k < 0) {
		expected_term(p);
		return NULL;
	}
	p->pos++;
	if (p->pos >= p->n) {
		fail(p, "expected a value after \"%s\" at column %d", t->text,
		     t->col);
		return NULL;
	}
	if (is_structure(&p->v[p->pos])) {
		fail(p, "expected a value after \"%s\" at column %d, found "
		     "\"%s\" (quote it if it is the value)", t->text, t->col,
		     p->v[p->pos].text);
		return NULL;
	}
	m = node_new((enum match_op)(MATCH_TAG + k));
	m->value = xstrdup(p->v[p->pos].text);
	p->pos++;
	return m;
}

static struct match *parse_and(struct parser *p, int depth)
{
	struct match *m = parse_term(p, depth), *r;

	while (m && peek_kw(p, "and")) {
		p->pos++;
		if (!(r = parse_term(p, depth))) {
			match_free(m);
			return NULL;
		}
		m = join(MATCH_AND, m, r);
	}
	return m;
}

static struct match *parse_or(struct parser *p, int depth)
{
	struct match *m = parse_and(p, depth), *r;

	while (m && peek_kw(p, "or")) {
		p->pos++;
		if (!(r = parse_and(p, depth))) {
			match_free(m);
			return NULL;
		}
		m = join(MATCH_OR, m, r);
	}
	return m;
}

/*
 * Parse an expression from tokens v[0..n).  Stops before the first outer
 * token that cannot continue it (a word other than and/or, a quoted word,
 * ';'); an unquoted '(' or ')' there is an error, as no clause of any
 * command begins with one.  Returns NULL with the message in @err on error.
 */
struct match *match_parse_tokens(const struct token *v, size_t n,
                                 size_t *consumed, char *err, size_t errlen)
{
	struct parser p = { v, n, 0, err, errlen, 0 };
	struct match *m;

	if (consumed)
		*consumed = 0;
	m = parse_or(&p, 0);
	if (!m)
		return NULL;
	if (peek_kw(&p, ")") || peek_kw(&p, "(")) {
		fail(&p, "unexpected \"%s\" at column %d", v[p.pos].text,
		     v[p.pos].col);
		match_free(m);
		return NULL;
	}
	if (consumed)
		*consumed = p.pos;
	return m;
}

/* Parse all of @text as one expression; anything left over is an error. */
struct match *match_parse(const char *text, char *err, size_t errlen)
{
	struct tokv tv = TOKV_INIT;
	struct match *m;
	size_t used;

	if (tokenize(text, &tv, err, errlen) < 0) {
		tokv_free(&tv);
		return NULL;
	}
	m = match_parse_tokens(tv.v, tv.n, &used, err, errlen);
	if (m && used < tv.n) {
		const struct token *t = &tv.v[used];
		if (!t->quoted && strcmp(t->text, ";") == 0)
			snprintf(err, errlen, "unexpected \";\" at column %d",
			         t->col);
		else
			snprintf(err, errlen, "unexpected \"%s\" at column %d: "
			         "join terms with \"and\" or \"or\"", t->text,
			         t->col);
		match_free(m);
		m = NULL;
	}
	tokv_free(&tv);
	return m;
}

/* Free a tree from match_parse*; NULL is fine. */
void match_free(struct match *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nkids; i++)
		match_free(m->kids[i]);
	free(m->kids);
	free(m->value);
	free(m);
}

/* ---- canonical text ---------------------------------------------------- */

/* A value is quoted when it would otherwise read as a keyword, besides
 * whatever sb_add_word quotes. */
static void add_value(struct strbuf *sb, const char *v)
{
	static const char *const reserved[] = { "and", "or", "not", "tag",
	                                        "name", "os", "host", "group" };

	for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
		if (strcmp(v, reserved[i]) == 0) {
			sb_addf(sb, "\"%s\"", v);
			return;
		}
	}
	sb_add_word(sb, v);
}

static void format_node(const struct match *m, struct strbuf *sb)
{
	switch (m->op) {
	case MATCH_TAG:
	case MATCH_NAME:
	case MATCH_OS:
	case MATCH_HOST:
	case MATCH_GROUP:
		sb_add(sb, keys[m->op - MATCH_TAG]);
		sb_addc(sb, ' ');
		add_value(sb, m->value);
		break;
	case MATCH_NOT:
		sb_add(sb, "not ");
		if (m->kids[0]->op == MATCH_AND || m->kids[0]->op == MATCH_OR) {
			sb_addc(sb, '(');
			format_node(m->kids[0], sb);
			sb_addc(sb, ')');
		} else {
			format_node(m->kids[0], sb);
		}
		break;
	case MATCH_AND:
	case MATCH_OR:
		for (size_t i = 0; i < m->nkids; i++) {
			const struct match *k = m->kids[i];
			/* Only an `or` under an `and` needs parentheses: the
			 * tree is flat, and `and` binds tighter anyway. */
			int paren = m->op == MATCH_AND && k->op == MATCH_OR;
			if (i)
				sb_add(sb, m->op == MATCH_AND ? " and " :
				       " or ");
			if (paren)
				sb_addc(sb, '(');
			format_node(k, sb);
			if (paren)
				sb_addc(sb, ')');
		}
		break;
	}
}

/* Append the canonical text of @m: single blanks, minimal parentheses,
 * values quoted only when they need it. */
void match_format(const struct match *m, struct strbuf *sb)
{
	if (!m) {
		sb_add(sb, "");
		return;
	}
	format_node(m, sb);
}

/* ---- evaluation -------------------------------------------------------- */

/* 1 when @s matches @m.  O(size of the tree) plus the group callbacks. */
int match_eval(const struct match *m, const struct match_subject *s)
{
	switch (m->op) {
	case MATCH_TAG:
		return s->tags && strv_contains(s->tags, m->value);
	case MATCH_NAME:
		return util_glob(m->value, s->name ? s->name : "");
	case MATCH_OS:
		return util_glob(m->value, s->os ? s->os : "");
	case MATCH_HOST:
		return util_glob(m->value, s->host ? s->host : "");
	case MATCH_GROUP:
		return s->in_group ? s->in_group(s->ctx, m->value) != 0 : 0;
	case MATCH_NOT:
		return !match_eval(m->kids[0], s);
	case MATCH_AND:
		for (size_t i = 0; i < m->nkids; i++)
			if (!match_eval(m->kids[i], s))
				return 0;
		return 1;
	case MATCH_OR:
		for (size_t i = 0; i < m->nkids; i++)
			if (match_eval(m->kids[i], s))
				return 1;
		return 0;
	}
	return 0;
}

/* Append each group named by a `group` term, once, in order of first
 * appearance. */
void match_groups(const struct match *m, struct strv *out)
{
	if (m->op == MATCH_GROUP) {
		if (!strv_contains(out, m->value))
			strv_push(out, m->value);
		return;
	}
	for (size_t i = 0; i < m->nkids; i++)
		match_groups(m->kids[i], out);
}
