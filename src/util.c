/*
 * util.c - the small pieces every layer shares: growable strings and string
 * vectors, the command-language tokenizer, validation of names, tags,
 * interface names, addresses, MACs, ports and durations, "did you mean"
 * suggestions, and time.
 *
 * This sits below every layer: it knows nothing of the store, the policy or
 * the kernel.  Parsers never print; they write a message into the caller's
 * buffer (without the "error: " prefix, worded as STYLE.md asks) and return
 * -1.  Allocation failure is a programmer-level condition here: the x*
 * allocators abort rather than make every caller handle it.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util.h"

/* ---- allocation -------------------------------------------------------- */

/* malloc that never returns NULL: aborts when memory is exhausted. */
void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		abort();
	return p;
}

/* calloc that never returns NULL. */
void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);

	if (!p)
		abort();
	return p;
}

/* realloc that never returns NULL; @p stays owned by the caller. */
void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		abort();
	return q;
}

/* strdup that never fails; NULL in gives NULL out.  Free with free(). */
char *xstrdup(const char *s)
{
	size_t n;
	char *d;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	d = xmalloc(n);
	memcpy(d, s, n);
	return d;
}

/* Write a message into a caller's error buffer (which may be absent) and
 * return -1, so parsers can `return seterr(...)`. */
static int seterr(char *err, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int seterr(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (err && n) {
		va_start(ap, fmt);
		vsnprintf(err, n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- growable string ------------------------------------------------- */

/* Make room for @extra more bytes plus the NUL. */
static void sb_grow(struct strbuf *sb, size_t extra)
{
	size_t need = sb->len + extra + 1;

	if (need <= sb->cap)
		return;
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < need)
		cap *= 2;
	sb->s = xrealloc(sb->s, cap);
	sb->cap = cap;
}

/* Append @n bytes of @s (which need not be NUL-terminated). */
void sb_addn(struct strbuf *sb, const char *s, size_t n)
{
	sb_grow(sb, n);
	if (n)
		memcpy(sb->s + sb->len, s, n);
	sb->len += n;
	sb->s[sb->len] = '\0';
}

/* Append the string @s; NULL appends nothing (but still allocates, so
 * sb->s is a valid string afterwards). */
void sb_add(struct strbuf *sb, const char *s)
{
	sb_addn(sb, s ? s : "", s ? strlen(s) : 0);
}

/* Append one character. */
void sb_addc(struct strbuf *sb, char c)
{
	sb_addn(sb, &c, 1);
}

/* Append printf-style text. */
void sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	sb_grow(sb, (size_t)n);
	vsnprintf(sb->s + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
}

/* Append printf-style text. */
void sb_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sb_vaddf(sb, fmt, ap);
	va_end(ap);
}

/* Empty the buffer but keep its memory for reuse. */
void sb_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->s)
		sb->s[0] = '\0';
}

/* Release the memory; the buffer is then as STRBUF_INIT. */
void sb_free(struct strbuf *sb)
{
	free(sb->s);
	sb->s = NULL;
	sb->len = sb->cap = 0;
}

/* The text so far; "" (a static string) when nothing was added. */
const char *sb_str(const struct strbuf *sb)
{
	return sb->s ? sb->s : "";
}

/*
 * A word may go out bare when the tokenizer gives it back unchanged and it
 * cannot be mistaken for punctuation, a comment, a list separator or a glob:
 * glob characters are quoted even though the tokenizer would not need it,
 * so that `name "*-test"` reads as one pattern.
 */
static int word_is_bare(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!isalnum(c) && !strchr("._:/=@+-", c))
			return 0;
	}
	return 1;
}

/* Append @s as one command-language word: bare when safe, otherwise in
 * double quotes with " and \ escaped, so tokenize() returns @s exactly. */
void sb_add_word(struct strbuf *sb, const char *s)
{
	if (!s)
		s = "";
	if (word_is_bare(s)) {
		sb_add(sb, s);
		return;
	}
	sb_addc(sb, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			sb_addc(sb, '\\');
		sb_addc(sb, *s);
	}
	sb_addc(sb, '"');
}

/* ---- vector of owned strings ----------------------------------------- */

/* Append a copy of @s. */
void strv_push(struct strv *sv, const char *s)
{
	if (sv->n == sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 8;
		sv->v = xrealloc(sv->v, sv->cap * sizeof *sv->v);
	}
	sv->v[sv->n++] = xstrdup(s ? s : "");
}

/* 1 when an element equals @s.  O(n). */
int strv_contains(const struct strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return 1;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort in strcmp (byte) order, so output does not depend on the locale. */
void strv_sort(struct strv *sv)
{
	if (sv->n > 1)
		qsort(sv->v, sv->n, sizeof *sv->v, cmp_str);
}

/* Sort, then drop repeated elements. */
void strv_uniq(struct strv *sv)
{
	size_t i, j;

	strv_sort(sv);
	for (i = j = 0; i < sv->n; i++) {
		if (j > 0 && strcmp(sv->v[j - 1], sv->v[i]) == 0) {
			free(sv->v[i]);
			continue;
		}
		sv->v[j++] = sv->v[i];
	}
	sv->n = j;
}

/* Free every element and the array; the vector is then as STRV_INIT. */
void strv_free(struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

/* Deep copy of @src into the empty @dst. */
void strv_copy(struct strv *dst, const struct strv *src)
{
	for (size_t i = 0; i < src->n; i++)
		strv_push(dst, src->v[i]);
}

/* Append the elements to @sb separated by @sep. */
void strv_join(struct strbuf *sb, const struct strv *sv, const char *sep)
{
	for (size_t i = 0; i < sv->n; i++) {
		if (i)
			sb_add(sb, sep);
		sb_add(sb, sv->v[i]);
	}
	if (!sb->s)
		sb_add(sb, "");
}

static int is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

/* Append the comma-separated items of @s, trimmed, empty ones dropped. */
void strv_split_commas(struct strv *sv, const char *s)
{
	while (s && *s) {
		const char *end = strchr(s, ',');
		const char *b = s, *e = end ? end : s + strlen(s);

		while (b < e && is_blank((unsigned char)*b))
			b++;
		while (e > b && is_blank((unsigned char)e[-1]))
			e--;
		if (e > b) {
			char *item = xmalloc((size_t)(e - b) + 1);
			memcpy(item, b, (size_t)(e - b));
			item[e - b] = '\0';
			strv_push(sv, item);
			free(item);
		}
		if (!end)
			break;
		s = end + 1;
	}
}

/* ---- tokenizer --------------------------------------------------------- */

static void tokv_push(struct tokv *tv, const char *text, size_t len,
                      int quoted, int col)
{
	struct token *t;

	if (tv->n == tv->cap) {
		tv->cap = tv->cap ? tv->cap * 2 : 16;
		tv->v = xrealloc(tv->v, tv->cap * sizeof *tv->v);
	}
	t = &tv->v[tv->n++];
	t->text = xmalloc(len + 1);
	memcpy(t->text, text, len);
	t->text[len] = '\0';
	t->quoted = quoted;
	t->col = col;
}

/*
 * Split @line into tokens appended to @out (columns are 1-based byte
 * offsets into @line).  A newline is a blank here and ends a comment; the
 * callers that treat lines as commands split them first.  On error
 * (unterminated quote) returns -1 with the message in @err and @out holds
 * exactly what it held on entry.
 */
int tokenize(const char *line, struct tokv *out, char *err, size_t errlen)
{
	struct strbuf word = STRBUF_INIT;
	size_t first = out->n;
	size_t i = 0;

	while (line[i]) {
		unsigned char c = (unsigned char)line[i];
		if (is_blank(c)) {
			i++;
			continue;
		}
		if (c == '#') {
			while (line[i] && line[i] != '\n')
				i++;
			continue;
		}
		if (c == '(' || c == ')' || c == ';') {
			tokv_push(out, &line[i], 1, 0, (int)i + 1);
			i++;
			continue;
		}

		/* A word: bare runs and quoted runs glued together. */
		size_t start = i;
		int quoted = 0;
		sb_reset(&word);
		sb_add(&word, "");
		while (line[i] && !is_blank((unsigned char)line[i]) &&
		       !strchr("();", line[i])) {
			char q = line[i];
			if (q != '"' && q != '\'') {
				sb_addc(&word, q);
				i++;
				continue;
			}
			size_t qstart = i++;
			quoted = 1;
			while (line[i] && line[i] != q) {
				if (q == '"' && line[i] == '\\' &&
				    (line[i + 1] == '"' || line[i + 1] == '\\'))
					i++;
				sb_addc(&word, line[i]);
				i++;
			}
			if (!line[i]) {
				sb_free(&word);
				while (out->n > first)
					free(out->v[--out->n].text);
				return seterr(err, errlen,
				    "unterminated quote starting at column %zu",
				    qstart + 1);
			}
			i++;   /* the closing quote */
		}
		tokv_push(out, word.s, word.len, quoted, (int)start + 1);
	}
	sb_free(&word);
	return 0;
}

/* Free every token's text and the array; @tv is then as TOKV_INIT. */
void tokv_free(struct tokv *tv)
{
	for (size_t i = 0; i < tv->n; i++)
		free(tv->v[i].text);
	free(tv->v);
	tv->v = NULL;
	tv->n = tv->cap = 0;
}

/* ---- names ------------------------------------------------------------- */

/* Check an object name (workload, group, service); @kind names the kind of
 * object in the message: `group name "a b": use ...`. */
int util_name_check(const char *kind, const char *name, char *err, size_t n)
{
	size_t len = strlen(name);
	int ok = len >= 1 && len <= 63 && isalnum((unsigned char)name[0]);

	for (size_t i = 0; ok && i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			ok = 0;
	}
	if (!ok)
		return seterr(err, n, "%s name \"%s\": use 1-63 letters, "
		    "digits, '.', '_' or '-', starting with a letter or digit",
		    kind, name);
	/* "any" stands for every address in rules, so no group (nor anything
	 * else, to keep lists unambiguous) may take it. */
	if (strcmp(name, "any") == 0)
		return seterr(err, n, "%s name \"any\": \"any\" is reserved",
		    kind);
	return 0;
}

/* Check a workload tag. */
int util_tag_check(const char *tag, char *err, size_t n)
{
	size_t len = strlen(tag);
	int ok = len >= 1 && len <= 63 && isalnum((unsigned char)tag[0]);

	for (size_t i = 0; ok && i < len; i++) {
		unsigned char c = (unsigned char)tag[i];
		if (!isalnum(c) && !strchr("._:=/-", c))
			ok = 0;
	}
	if (!ok)
		return seterr(err, n, "tag \"%s\": use 1-63 letters, digits, "
		    "'.', '_', ':', '=', '/' or '-', starting with a letter or "
		    "digit", tag);
	return 0;
}

/* Check a host-side interface name the way the kernel does (dev_valid_name):
 * 1..15 bytes, no '/', ':' or white space, not "." or "..". */
int util_ifname_check(const char *ifname, char *err, size_t n)
{
	size_t len = strlen(ifname);
	int ok = len >= 1 && len <= 15 && strcmp(ifname, ".") != 0 &&
	         strcmp(ifname, "..") != 0;

	for (size_t i = 0; ok && i < len; i++) {
		unsigned char c = (unsigned char)ifname[i];
		if (c == '/' || c == ':' || isspace(c) || iscntrl(c))
			ok = 0;
	}
	if (!ok)
		return seterr(err, n, "interface name \"%s\": use 1-15 "
		    "characters, no '/', ':' or blanks", ifname);
	return 0;
}

/* ---- addresses ---------------------------------------------------------- */

/*
 * Parse "ADDR" or "ADDR/LEN".  The address part goes through inet_pton, so
 * anything it refuses (zone ids, blanks, octal or short IPv4 forms) is
 * refused here too, and the canonical text is inet_ntop's.
 */
int util_addr_parse(const char *text, int allow_prefix, char *canon,
                    size_t canonlen, int *family, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	char out[INET6_ADDRSTRLEN];
	unsigned char bin[16];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	int fam, bits, af, prefix;

	if (alen == 0 || alen >= sizeof addr)
		goto bad;
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, bin) == 1) {
		fam = 4, bits = 32, af = AF_INET;
	} else if (inet_pton(AF_INET6, addr, bin) == 1) {
		fam = 6, bits = 128, af = AF_INET6;
	} else {
		goto bad;
	}

	prefix = bits;
	if (slash) {
		const char *p = slash + 1;
		int v = 0;
		size_t nd = strspn(p, "0123456789");
		if (nd == 0 || nd > 3 || p[nd] != '\0')
			return seterr(err, errlen, "address \"%s\": the prefix "
			    "length must be a number 0-%d", text, bits);
		for (size_t i = 0; i < nd; i++)
			v = v * 10 + (p[i] - '0');
		if (v > bits)
			return seterr(err, errlen, "address \"%s\": prefix "
			    "length %d out of range 0-%d", text, v, bits);
		prefix = v;
	}
	if (prefix < bits && !allow_prefix)
		return seterr(err, errlen, "address \"%s\": a host address is "
		    "needed here, not a network", text);

	/* Host bits must be zero: a CIDR with them set is nearly always a
	 * typo for either the host or the network, so refuse and offer the
	 * network. */
	int set = 0;
	for (int b = prefix; b < bits; b++) {
		if (bin[b / 8] & (0x80 >> (b % 8))) {
			set = 1;
			bin[b / 8] &= (unsigned char)~(0x80 >> (b % 8));
		}
	}
	inet_ntop(af, bin, out, sizeof out);
	if (set)
		return seterr(err, errlen, "address \"%s\": host bits set "
		    "(did you mean %s/%d?)", text, out, prefix);

	if (prefix < bits)
		snprintf(canon, canonlen, "%s/%d", out, prefix);
	else
		snprintf(canon, canonlen, "%s", out);
	if (family)
		*family = fam;
	return 0;
bad:
	return seterr(err, errlen, "address \"%s\": not an IPv4 or IPv6 "
	    "address", text);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Parse a NIC's MAC: six pairs of hex digits separated by ':' or '-' (one
 * separator throughout).  Multicast and all-zero addresses are refused: no
 * NIC sends from them, and the spoof guard would then lock the NIC out.
 */
int util_mac_parse(const char *text, char *canon, size_t canonlen,
                   char *err, size_t errlen)
{
	unsigned char b[6];
	char sep = text[0] && text[1] ? text[2] : '\0';

	if (strlen(text) != 17 || (sep != ':' && sep != '-'))
		goto bad;
	for (int i = 0; i < 6; i++) {
		int hi = hexval((unsigned char)text[i * 3]);
		int lo = hexval((unsigned char)text[i * 3 + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != sep))
			goto bad;
		b[i] = (unsigned char)(hi << 4 | lo);
	}
	if (b[0] & 1)
		return seterr(err, errlen, "mac \"%s\": a multicast address "
		    "cannot be a NIC's own address", text);
	if (!(b[0] | b[1] | b[2] | b[3] | b[4] | b[5]))
		return seterr(err, errlen, "mac \"%s\": the all-zero address "
		    "cannot be a NIC's own address", text);
	snprintf(canon, canonlen, "%02x:%02x:%02x:%02x:%02x:%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5]);
	return 0;
bad:
	return seterr(err, errlen, "mac \"%s\": use six pairs of hex digits "
	    "separated by ':', like 52:54:00:12:34:56", text);
}

/* ---- ports --------------------------------------------------------------- */

struct port_range {
	int lo, hi;
};

static int cmp_range(const void *a, const void *b)
{
	const struct port_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return (x->hi > y->hi) - (x->hi < y->hi);
}

/* One port number of @len bytes at @s; -1 with a message when bad. */
static int port_number(const char *s, size_t len, const char *item,
                       char *err, size_t errlen)
{
	long v = 0;

	if (len == 0 || strspn(s, "0123456789") < len)
		return seterr(err, errlen, "port \"%s\": use a number 1-65535 "
		    "or a range like 8000-8080", item);
	for (size_t i = 0; i < len; i++) {
		v = v * 10 + (s[i] - '0');
		if (v > 65535)
			break;
	}
	if (v < 1 || v > 65535)
		return seterr(err, errlen, "port \"%.*s\" out of range 1-65535",
		    (int)len, s);
	return (int)v;
}

/*
 * Parse a port list.  Messages leave out the service: the caller prefixes
 * `service "web": `.  @canon is only written on success.
 */
int util_ports_parse(const char *text, char *canon, size_t canonlen,
                     char *err, size_t errlen)
{
	struct port_range *r = NULL;
	struct strbuf out = STRBUF_INIT;
	size_t n = 0, cap = 0;
	const char *s = text;
	int rc = -1;

	for (;;) {
		const char *end = strchr(s, ',');
		const char *b = s, *e = end ? end : s + strlen(s);
		char item[64];
		while (b < e && is_blank((unsigned char)*b))
			b++;
		while (e > b && is_blank((unsigned char)e[-1]))
			e--;
		if (e == b) {
			seterr(err, errlen, "ports \"%s\": use numbers 1-65535 "
			    "or ranges like 8000-8080, separated by commas",
			    text);
			goto done;
		}
		snprintf(item, sizeof item, "%.*s", (int)(e - b), b);
		const char *dash = memchr(b, '-', (size_t)(e - b));
		int lo, hi;
		lo = port_number(b, dash ? (size_t)(dash - b) : (size_t)(e - b),
		                 item, err, errlen);
		if (lo < 0)
			goto done;
		hi = lo;
		if (dash) {
			hi = port_number(dash + 1, (size_t)(e - dash - 1), item,
			                 err, errlen);
			if (hi < 0)
				goto done;
			if (hi < lo) {
				seterr(err, errlen, "port range \"%s\" is "
				    "reversed", item);
				goto done;
			}
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			r = xrealloc(r, cap * sizeof *r);
		}
		r[n].lo = lo;
		r[n].hi = hi;
		n++;
		if (!end)
			break;
		s = end + 1;
	}

	qsort(r, n, sizeof *r, cmp_range);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && r[i].lo <= r[i - 1].hi) {
			seterr(err, errlen, "port %d is listed twice", r[i].lo);
			goto done;
		}
		if (i)
			sb_addc(&out, ',');
		if (r[i].lo == r[i].hi)
			sb_addf(&out, "%d", r[i].lo);
		else
			sb_addf(&out, "%d-%d", r[i].lo, r[i].hi);
	}
	if (out.len + 1 > canonlen) {
		seterr(err, errlen, "ports \"%s\": too many items; the list "
		    "must fit in %zu characters: split it over several "
		    "services", text, canonlen ? canonlen - 1 : 0);
		goto done;
	}
	memcpy(canon, out.s, out.len + 1);
	rc = 0;
done:
	free(r);
	sb_free(&out);
	return rc;
}

/* ---- durations -------------------------------------------------------- */

#define DURATION_MAX (365LL * 86400)

/* Parse "30s", "15m", "2h", "1d" or bare seconds; 0 < value <= 365d. */
int util_duration_parse(const char *text, int64_t *seconds, char *err,
                        size_t errlen)
{
	size_t nd = strspn(text, "0123456789");
	int64_t v = 0, unit = 1;

	if (nd == 0)
		goto bad;
	switch (text[nd]) {
	case '\0': unit = 1; break;
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	default: goto bad;
	}
	if (text[nd] && text[nd + 1])
		goto bad;
	/* Saturate rather than overflow: anything past the cap is refused
	 * as too long however many digits it has. */
	for (size_t i = 0; i < nd && v <= DURATION_MAX; i++)
		v = v * 10 + (text[i] - '0');
	if (v == 0)
		return seterr(err, errlen, "duration \"%s\": must be more than "
		    "zero", text);
	if (v > DURATION_MAX / unit)
		return seterr(err, errlen, "duration \"%s\": too long; at "
		    "most 365d", text);
	*seconds = v * unit;
	return 0;
bad:
	return seterr(err, errlen, "duration \"%s\": use a number with s, m, "
	    "h or d, like 30s, 15m, 2h or 1d", text);
}

/* Format @seconds in the largest unit that divides it exactly. */
void util_duration_format(int64_t seconds, char *buf, size_t len)
{
	if (seconds > 0 && seconds % 86400 == 0)
		snprintf(buf, len, "%" PRId64 "d", seconds / 86400);
	else if (seconds > 0 && seconds % 3600 == 0)
		snprintf(buf, len, "%" PRId64 "h", seconds / 3600);
	else if (seconds > 0 && seconds % 60 == 0)
		snprintf(buf, len, "%" PRId64 "m", seconds / 60);
	else
		snprintf(buf, len, "%" PRId64 "s", seconds);
}

/* ---- globs and suggestions ------------------------------------------ */

/* Shell-style glob: * ? [...] with no special treatment of '/' or '.'. */
int util_glob(const char *pattern, const char *s)
{
	return fnmatch(pattern, s ? s : "", 0) == 0;
}

/* Optimal string alignment distance (Damerau-Levenshtein with adjacent
 * transpositions): a transposed pair is one typo, not two.  O(|a|*|b|). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *d = xmalloc((la + 1) * (lb + 1) * sizeof *d);
	size_t w = lb + 1, r;

#define D(i, j) d[(i) * w + (j)]
	for (size_t i = 0; i <= la; i++)
		D(i, 0) = i;
	for (size_t j = 0; j <= lb; j++)
		D(0, j) = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t v = D(i - 1, j) + 1;
			if (D(i, j - 1) + 1 < v)
				v = D(i, j - 1) + 1;
			if (D(i - 1, j - 1) + cost < v)
				v = D(i - 1, j - 1) + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && D(i - 2, j - 2) + 1 < v)
				v = D(i - 2, j - 2) + 1;
			D(i, j) = v;
		}
	}
	r = D(la, lb);
#undef D
	free(d);
	return r;
}

/* 1 when the letters of @word appear in order in @cand, starting with the
 * same letter: "grp" abbreviates "group", "svc" "service". */
static int is_abbrev(const char *word, const char *cand)
{
	if (word[0] != cand[0])
		return 0;
	for (; *word; word++) {
		cand = strchr(cand, *word);
		if (!cand)
			return 0;
		cand++;
	}
	return 1;
}

/*
 * The candidate @word most likely meant, trying in turn: @word itself;
 * the same word in another case; the closest within max(1, len/3) edits
 * (ties go to the earlier candidate); the only candidate @word is a prefix
 * of; the only candidate @word abbreviates.  NULL when none fits or @word
 * is empty.  The result points into @cands.  O(n * len^2), for lists of
 * names at human scale.
 */
const char *util_suggest(const char *word, const char *const *cands,
                         size_t n)
{
	size_t len = strlen(word), limit = len / 3 > 1 ? len / 3 : 1;
	size_t best_d = (size_t)-1, nprefix = 0, nabbrev = 0;
	const char *best = NULL, *prefix = NULL, *abbrev = NULL;

	if (len == 0)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (cands[i] && strcmp(cands[i], word) == 0)
			return cands[i];
	for (size_t i = 0; i < n; i++)
		if (cands[i] && strcasecmp(cands[i], word) == 0)
			return cands[i];
	for (size_t i = 0; i < n; i++) {
		if (!cands[i])
			continue;
		size_t d = edit_distance(word, cands[i]);
		if (d < best_d) {
			best_d = d;
			best = cands[i];
		}
		if (strncmp(cands[i], word, len) == 0) {
			nprefix++;
			prefix = cands[i];
		}
		if (len >= 2 && is_abbrev(word, cands[i])) {
			nabbrev++;
			abbrev = cands[i];
		}
	}
	if (best && best_d <= limit)
		return best;
	if (nprefix == 1)
		return prefix;
	if (nabbrev == 1)
		return abbrev;
	return NULL;
}

/* util_suggest over a strv. */
const char *util_suggest_strv(const char *word, const struct strv *cands)
{
	return util_suggest(word, (const char *const *)cands->v, cands->n);
}

/* ---- time -------------------------------------------------------------- */

/* Wall-clock milliseconds since the epoch. */
int64_t util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "2026-11-27 09:13:22" in local time. */
void util_time_format(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S",
	                                       &tm)) {
		if (len)
			buf[0] = '\0';
	}
}
