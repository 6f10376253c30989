/*
 * json.c - the streaming JSON writer behind `--json` (front-end support,
 * below cmd.c and show.c).
 *
 * Output is compact (no blanks) and written straight into the caller's
 * strbuf.  The writer tracks, per nesting level, whether a comma is due and
 * whether a key is waiting for its value, so callers only say what comes
 * next.  Strings are escaped per RFC 8259: '"', '\' and every control
 * character (as \u00XX); valid UTF-8 passes through, and an invalid byte
 * becomes U+FFFD so the document stays valid whatever a libvirt domain or a
 * comment holds.  Misuse (unbalanced ends, nesting past JSON_DEPTH_MAX) is a
 * programmer error and asserts.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

/* Start writing into @sb (appended to, never reset). */
void json_init(struct json *j, struct strbuf *sb)
{
	memset(j, 0, sizeof *j);
	j->sb = sb;
}

/* Before any value or key: the comma between siblings.  A value that
 * follows its key needs none. */
static void before_item(struct json *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (j->count[j->depth]++ > 0 && j->depth > 0)
		sb_addc(j->sb, ',');
}

static void open_container(struct json *j, char c)
{
	before_item(j);
	sb_addc(j->sb, c);
	assert(j->depth + 1 < JSON_DEPTH_MAX);
	j->depth++;
	j->count[j->depth] = 0;
}

static void close_container(struct json *j, char c)
{
	assert(j->depth > 0 && !j->after_key);
	j->depth--;
	sb_addc(j->sb, c);
}

/* Open and close objects and arrays; an end must match its begin. */
void json_obj_begin(struct json *j) { open_container(j, '{'); }
void json_obj_end(struct json *j) { close_container(j, '}'); }
void json_arr_begin(struct json *j) { open_container(j, '['); }
void json_arr_end(struct json *j) { close_container(j, ']'); }

/* Length of the valid UTF-8 sequence at @s (1..4), or 0 when the bytes
 * there are not one (overlong forms and surrogates included). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void add_string(struct strbuf *sb, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	sb_addc(sb, '"');
	while (*s) {
		if (*s == '"' || *s == '\\') {
			sb_addc(sb, '\\');
			sb_addc(sb, (char)*s++);
		} else if (*s < 0x20) {
			sb_addf(sb, "\\u%04x", *s++);
		} else {
			size_t n = utf8_len(s);
			if (n == 0) {
				sb_add(sb, "\\ufffd");
				s++;
			} else {
				sb_addn(sb, (const char *)s, n);
				s += n;
			}
		}
	}
	sb_addc(sb, '"');
}

/* An object key; the next call must write its value. */
void json_key(struct json *j, const char *key)
{
	assert(!j->after_key);
	before_item(j);
	add_string(j->sb, key);
	sb_addc(j->sb, ':');
	j->after_key = 1;
}

/* A string value; NULL writes null. */
void json_str(struct json *j, const char *s)
{
	before_item(j);
	if (s)
		add_string(j->sb, s);
	else
		sb_add(j->sb, "null");
}

/* Scalar values: a number, true/false, null. */
void json_int(struct json *j, int64_t v)
{
	before_item(j);
	sb_addf(j->sb, "%" PRId64, v);
}

void json_bool(struct json *j, int v)
{
	before_item(j);
	sb_add(j->sb, v ? "true" : "false");
}

void json_null(struct json *j)
{
	before_item(j);
	sb_add(j->sb, "null");
}

/* The strings of @sv as one array. */
void json_strv(struct json *j, const struct strv *sv)
{
	json_arr_begin(j);
	for (size_t i = 0; i < sv->n; i++)
		json_str(j, sv->v[i]);
	json_arr_end(j);
}

/* Key and value in one call. */
void json_kstr(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_str(j, s);
}

void json_kint(struct json *j, const char *key, int64_t v)
{
	json_key(j, key);
	json_int(j, v);
}

void json_kbool(struct json *j, const char *key, int v)
{
	json_key(j, key);
	json_bool(j, v);
}
