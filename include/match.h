/*
 * match.h - group match expressions (the policy model layer).
 *
 *   expr   := term { ("and" | "or") term }   "and" binds tighter than "or"
 *   term   := "not" term | "(" expr ")" | key value
 *   key    := "tag" | "name" | "os" | "host" | "group"
 *
 * name, os and host take shell globs; tag and group take exact words.
 * Keywords are case-sensitive and never quoted; a quoted value is always a
 * value.  The canonical text (match_format) is what the store keeps and what
 * `show config` prints: minimal parentheses, values quoted only when needed.
 */
#ifndef BH_MATCH_H
#define BH_MATCH_H

#include <stddef.h>
#include "util.h"

struct match;   /* an expression tree, opaque */

/*
 * Parse tokens v[0..n) as an expression.  Parsing stops at the first token
 * that cannot continue the expression (so `match tag web member db1`
 * consumes three tokens); *consumed says how many were used.  On error
 * returns NULL and writes e.g. `expected a value after "tag" at column 17`
 * using the tokens' columns.  Free the result with match_free().
 */
struct match *match_parse_tokens(const struct token *v, size_t n,
                                 size_t *consumed, char *err, size_t errlen);
/* Parse a whole string; trailing tokens are an error. */
struct match *match_parse(const char *text, char *err, size_t errlen);
void match_free(struct match *m);

/* Canonical text of @m appended to @sb. */
void match_format(const struct match *m, struct strbuf *sb);

/* What a workload looks like to an expression. */
struct match_subject {
	const char *name;
	const char *os;          /* "" when unknown */
	const char *host;        /* "" when unknown */
	const struct strv *tags;
	/* 1 when the subject is a member of group @group.  The caller resolves
	 * group references (and has already refused cycles). */
	int (*in_group)(void *ctx, const char *group);
	void *ctx;
};
/* 1 when @s matches @m, else 0. */
int match_eval(const struct match *m, const struct match_subject *s);

/* Append the names of groups referenced by `group NAME` terms to @out. */
void match_groups(const struct match *m, struct strv *out);

#endif
