/*
 * jsonr.c - the TUI's JSON reader (front end): a recursive-descent parser
 * of RFC 8259 text into a tree (jsonr.h).  It reads what the engine's
 * writer (src/json.c) produces, and anything else that is valid JSON, so
 * that fields added by newer daemons are skipped rather than fatal.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"
#include "util.h"

struct rd {
	const char *p, *start, *end;
	int depth;
	char *err;
	size_t errlen;
};

static int fail(struct rd *r, const char *what)
{
	if (r->err && !r->err[0])
		snprintf(r->err, r->errlen, "offset %ld: %s",
		         (long)(r->p - r->start), what);
	return -1;
}

static void ws(struct rd *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' ||
	                         *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int lit(struct rd *r, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return fail(r, "unexpected text");
	r->p += n;
	return 0;
}

static int hex4(struct rd *r, unsigned *out)
{
	unsigned v = 0;

	if (r->end - r->p < 4)
		return fail(r, "short \\u escape");
	for (int i = 0; i < 4; i++) {
		char c = r->p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return fail(r, "bad \\u escape");
	}
	r->p += 4;
	*out = v;
	return 0;
}

static void utf8(struct strbuf *sb, unsigned cp)
{
	char b[4];

	if (cp < 0x80) {
		b[0] = (char)cp;
		sb_addn(sb, b, 1);
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		sb_addn(sb, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		sb_addn(sb, b, 3);
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		sb_addn(sb, b, 4);
	}
}

/* A string at r->p (the opening quote): its bytes into a new buffer. */
static int string(struct rd *r, char **out, size_t *outlen)
{
	struct strbuf sb = STRBUF_INIT;

	r->p++;
	for (;;) {
		const char *q = r->p;

		while (q < r->end && *q != '"' && *q != '\\' &&
		       (unsigned char)*q >= 0x20)
			q++;
		if (q > r->p)
			sb_addn(&sb, r->p, (size_t)(q - r->p));
		r->p = q;
		if (r->p >= r->end) {
			sb_free(&sb);
			return fail(r, "unterminated string");
		}
		if (*r->p == '"') {
			r->p++;
			break;
		}
		if (*r->p != '\\') {
			sb_free(&sb);
			return fail(r, "control character in a string");
		}
		r->p++;
		if (r->p >= r->end) {
			sb_free(&sb);
			return fail(r, "unterminated string");
		}
		switch (*r->p++) {
		case '"': sb_addc(&sb, '"'); break;
		case '\\': sb_addc(&sb, '\\'); break;
		case '/': sb_addc(&sb, '/'); break;
		case 'b': sb_addc(&sb, '\b'); break;
		case 'f': sb_addc(&sb, '\f'); break;
		case 'n': sb_addc(&sb, '\n'); break;
		case 'r': sb_addc(&sb, '\r'); break;
		case 't': sb_addc(&sb, '\t'); break;
		case 'u': {
			unsigned cp, lo;

			if (hex4(r, &cp) < 0) {
				sb_free(&sb);
				return -1;
			}
			/* a high surrogate must be followed by a low one */
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (r->end - r->p < 6 || r->p[0] != '\\' ||
				    r->p[1] != 'u') {
					sb_free(&sb);
					return fail(r, "lone surrogate");
				}
				r->p += 2;
				if (hex4(r, &lo) < 0) {
					sb_free(&sb);
					return -1;
				}
				if (lo < 0xdc00 || lo > 0xdfff) {
					sb_free(&sb);
					return fail(r, "lone surrogate");
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				sb_free(&sb);
				return fail(r, "lone surrogate");
			}
			utf8(&sb, cp);
			break;
		}
		default:
			r->p--;
			sb_free(&sb);
			return fail(r, "bad escape");
		}
	}
	*outlen = sb.len;
	*out = sb.s ? sb.s : xstrdup("");
	return 0;
}

static int number(struct rd *r, struct jsonr *v)
{
	const char *q = r->p;
	char buf[64];
	int integral = 1;

	if (q < r->end && *q == '-')
		q++;
	if (q >= r->end || *q < '0' || *q > '9')
		return fail(r, "bad number");
	if (*q == '0')
		q++;
	else
		while (q < r->end && *q >= '0' && *q <= '9')
			q++;
	if (q < r->end && *q == '.') {
		integral = 0;
		q++;
		if (q >= r->end || *q < '0' || *q > '9')
			return fail(r, "bad number");
		while (q < r->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < r->end && (*q == 'e' || *q == 'E')) {
		integral = 0;
		q++;
		if (q < r->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= r->end || *q < '0' || *q > '9')
			return fail(r, "bad number");
		while (q < r->end && *q >= '0' && *q <= '9')
			q++;
	}
	if ((size_t)(q - r->p) >= sizeof buf)
		return fail(r, "number too long");
	memcpy(buf, r->p, (size_t)(q - r->p));
	buf[q - r->p] = '\0';
	v->type = JSONR_NUM;
	v->num = strtod(buf, NULL);
	if (integral) {
		errno = 0;
		v->i = strtoll(buf, NULL, 10);
		v->is_int = errno == 0;
	}
	r->p = q;
	return 0;
}

static void clear(struct jsonr *v)
{
	free(v->s);
	for (size_t k = 0; k < v->n && v->items; k++) {
		clear(&v->items[k]);
		if (v->keys)
			free(v->keys[k]);
	}
	free(v->items);
	free(v->keys);
	memset(v, 0, sizeof *v);
}

static int value(struct rd *r, struct jsonr *v);

/* Members or items of a container at r->p (its opening bracket). */
static int container(struct rd *r, struct jsonr *v, int obj)
{
	size_t cap = 0;
	char close = obj ? '}' : ']';

	if (++r->depth > JSONR_DEPTH_MAX)
		return fail(r, "nested too deep");
	v->type = obj ? JSONR_OBJ : JSONR_ARR;
	r->p++;
	ws(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		r->depth--;
		return 0;
	}
	for (;;) {
		char *key = NULL;
		size_t klen;

		if (obj) {
			ws(r);
			if (r->p >= r->end || *r->p != '"')
				return fail(r, "expected a member name");
			if (string(r, &key, &klen) < 0)
				return -1;
			ws(r);
			if (r->p >= r->end || *r->p != ':') {
				free(key);
				return fail(r, "expected ':'");
			}
			r->p++;
		}
		if (v->n == cap) {
			cap = cap ? 2 * cap : 8;
			v->items = xrealloc(v->items, cap * sizeof *v->items);
			if (obj)
				v->keys = xrealloc(v->keys, cap * sizeof *v->keys);
		}
		memset(&v->items[v->n], 0, sizeof v->items[0]);
		if (obj)
			v->keys[v->n] = key;
		v->n++;
		if (value(r, &v->items[v->n - 1]) < 0)
			return -1;
		ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == close) {
			r->p++;
			r->depth--;
			return 0;
		}
		return fail(r, obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int value(struct rd *r, struct jsonr *v)
{
	ws(r);
	if (r->p >= r->end)
		return fail(r, "unexpected end");
	switch (*r->p) {
	case '{':
		return container(r, v, 1);
	case '[':
		return container(r, v, 0);
	case '"':
		v->type = JSONR_STR;
		return string(r, &v->s, &v->n);
	case 't':
		v->type = JSONR_BOOL;
		v->b = 1;
		return lit(r, "true");
	case 'f':
		v->type = JSONR_BOOL;
		return lit(r, "false");
	case 'n':
		v->type = JSONR_NULL;
		return lit(r, "null");
	default:
		return number(r, v);
	}
}

struct jsonr *jsonr_parse(const char *text, size_t len, char *err,
                          size_t errlen)
{
	struct rd r = { text, text, text + len, 0, err, errlen };
	struct jsonr *v = xcalloc(1, sizeof *v);

	if (err && errlen)
		err[0] = '\0';
	if (value(&r, v) == 0) {
		ws(&r);
		if (r.p == r.end)
			return v;
		fail(&r, "text after the document");
	}
	jsonr_free(v);
	return NULL;
}

void jsonr_free(struct jsonr *v)
{
	if (!v)
		return;
	clear(v);
	free(v);
}

const struct jsonr *jsonr_get(const struct jsonr *v, const char *key)
{
	if (!v || v->type != JSONR_OBJ)
		return NULL;
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->keys[i], key) == 0)
			return &v->items[i];
	return NULL;
}

const struct jsonr *jsonr_at(const struct jsonr *v, size_t i)
{
	if (!v || v->type != JSONR_ARR || i >= v->n)
		return NULL;
	return &v->items[i];
}

const char *jsonr_str(const struct jsonr *v)
{
	return v && v->type == JSONR_STR ? v->s : NULL;
}

int64_t jsonr_int(const struct jsonr *v, int64_t dflt)
{
	if (v && v->type == JSONR_NUM) {
		if (v->is_int)
			return v->i;
		if (isfinite(v->num) && fabs(v->num) < 9.2e18)
			return (int64_t)v->num;
	}
	if (v && v->type == JSONR_BOOL)
		return v->b;
	return dflt;
}

double jsonr_num(const struct jsonr *v, double dflt)
{
	return v && v->type == JSONR_NUM ? v->num : dflt;
}

const char *jsonr_kstr(const struct jsonr *obj, const char *key)
{
	return jsonr_str(jsonr_get(obj, key));
}

int64_t jsonr_kint(const struct jsonr *obj, const char *key, int64_t dflt)
{
	return jsonr_int(jsonr_get(obj, key), dflt);
}
