/*
 * util.h - small pieces every layer uses: growable strings and string
 * vectors, the command-line tokenizer, validation of names, addresses, MACs
 * and ports, "did you mean" suggestions, durations and time.
 *
 * Nothing here touches the store or the kernel.  Parsers write a message
 * into the caller's buffer and return -1 on bad input.
 */
#ifndef BH_UTIL_H
#define BH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

/* ---- growable string ------------------------------------------------ */
struct strbuf {
	char *s;      /* always NUL-terminated once anything was added */
	size_t len;
	size_t cap;
};
#define STRBUF_INIT { NULL, 0, 0 }
void sb_add(struct strbuf *sb, const char *s);
void sb_addn(struct strbuf *sb, const char *s, size_t n);
void sb_addc(struct strbuf *sb, char c);
void sb_addf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
void sb_reset(struct strbuf *sb);         /* empty, keeps the memory */
void sb_free(struct strbuf *sb);
const char *sb_str(const struct strbuf *sb); /* "" when empty */
/* Append @s as a command-language word: bare when it is a safe word,
 * otherwise double-quoted with " and \ escaped. */
void sb_add_word(struct strbuf *sb, const char *s);

/* ---- vector of owned strings ----------------------------------------- */
struct strv {
	char **v;
	size_t n;
	size_t cap;
};
#define STRV_INIT { NULL, 0, 0 }
void strv_push(struct strv *sv, const char *s);          /* copies s */
int strv_contains(const struct strv *sv, const char *s);
void strv_sort(struct strv *sv);                         /* strcmp order */
void strv_uniq(struct strv *sv);                         /* sort + dedupe */
void strv_free(struct strv *sv);
void strv_copy(struct strv *dst, const struct strv *src); /* dst must be empty */
/* Join with @sep into @sb. */
void strv_join(struct strbuf *sb, const struct strv *sv, const char *sep);
/* Split @s on commas, trimming blanks and dropping empty items. */
void strv_split_commas(struct strv *sv, const char *s);

/* ---- tokenizer --------------------------------------------------------- */
/*
 * The shell, batch files and match expressions share one lexical form:
 * words separated by blanks; "double" or 'single' quotes group blanks (in
 * double quotes \" and \\ escape); unquoted ( ) and ; are tokens of their
 * own; an unquoted # at the start of a word begins a comment that runs to
 * the end of the line.  A ';' token separates commands.
 */
struct token {
	char *text;   /* unquoted text, owned */
	int quoted;   /* 1 when any part was quoted: never a keyword */
	int col;      /* 1-based column of the token's first character */
};
struct tokv {
	struct token *v;
	size_t n;
	size_t cap;
};
#define TOKV_INIT { NULL, 0, 0 }
/* Returns 0, or -1 with "unterminated quote at column N" style text. */
int tokenize(const char *line, struct tokv *out, char *err, size_t errlen);
void tokv_free(struct tokv *tv);

/* ---- validation -------------------------------------------------------- */
/*
 * Object names: 1..63 characters of [A-Za-z0-9._-], starting with a letter
 * or digit, and not a reserved word ("any").  @kind ("group", "workload"...)
 * goes into the message: group name "a b": ... .
 */
int util_name_check(const char *kind, const char *name, char *err, size_t n);
/* Tags: 1..63 characters of [A-Za-z0-9._:=/-], starting alphanumeric. */
int util_tag_check(const char *tag, char *err, size_t n);
/* Interface names: 1..15 characters, no '/', blanks or ':'. */
int util_ifname_check(const char *ifname, char *err, size_t n);

/*
 * Parse an IPv4/IPv6 address, or with @allow_prefix a CIDR.  Writes the
 * canonical text (inet_ntop form; "/N" kept only for prefixes shorter than
 * the full length; host bits must be zero) into @canon and the family (4 or
 * 6) into *family.
 */
int util_addr_parse(const char *text, int allow_prefix, char *canon,
                    size_t canonlen, int *family, char *err, size_t errlen);
/* MAC "aa:bb:cc:dd:ee:ff" (any case, '-' accepted) -> lowercase ':' form. */
int util_mac_parse(const char *text, char *canon, size_t canonlen,
                   char *err, size_t errlen);
/*
 * Ports "443", "8000-8080,9000": each 1..65535, ranges low-high, no
 * duplicates; canonical text is sorted, comma-separated, no blanks.
 */
int util_ports_parse(const char *text, char *canon, size_t canonlen,
                     char *err, size_t errlen);
/* "30s", "15m", "2h", "1d", or bare seconds -> seconds (> 0). */
int util_duration_parse(const char *text, int64_t *seconds, char *err,
                        size_t errlen);
/* seconds -> the shortest exact form of the above ("2h", "90s"). */
void util_duration_format(int64_t seconds, char *buf, size_t len);

/* Shell-style glob (fnmatch without flags): 1 on match. */
int util_glob(const char *pattern, const char *s);

/*
 * The candidate closest to @word by edit distance, or NULL when none is
 * close enough (distance <= max(1, strlen(word) / 3), or a prefix match).
 */
const char *util_suggest(const char *word, const char *const *cands,
                         size_t n);
const char *util_suggest_strv(const char *word, const struct strv *cands);

/* ---- time -------------------------------------------------------------- */
int64_t util_now_ms(void);
/* "2026-11-27 09:13:22" in local time. */
void util_time_format(int64_t ms, char *buf, size_t len);

void *xmalloc(size_t n);          /* abort on OOM (programmer-level) */
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);     /* NULL -> NULL */

#endif
