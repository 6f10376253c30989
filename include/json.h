/*
 * json.h - a small streaming JSON writer for `--json` output.
 *
 * Commas and nesting are tracked for the caller: open an object, then
 * alternate json_key() with one value (or a nested container).  Strings are
 * escaped per RFC 8259; output is compact, one document per call sequence.
 */
#ifndef BH_JSON_H
#define BH_JSON_H

#include <stdint.h>
#include "util.h"

#define JSON_DEPTH_MAX 32

struct json {
	struct strbuf *sb;
	int depth;
	int count[JSON_DEPTH_MAX];   /* items written at each depth */
	int after_key;
};

void json_init(struct json *j, struct strbuf *sb);
void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_str(struct json *j, const char *s);     /* NULL -> null */
void json_int(struct json *j, int64_t v);
void json_bool(struct json *j, int v);
void json_null(struct json *j);
/* An array of strings. */
void json_strv(struct json *j, const struct strv *sv);
/* Shorthands for key + value. */
void json_kstr(struct json *j, const char *key, const char *s);
void json_kint(struct json *j, const char *key, int64_t v);
void json_kbool(struct json *j, const char *key, int v);

#endif
