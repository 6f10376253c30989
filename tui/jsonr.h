/*
 * jsonr.h - a small JSON reader for the TUI (front end): a whole document
 * parsed into a tree of values, for the `--json` answers of `show`
 * commands.  The writer is include/json.h; this is its counterpart on the
 * client side.
 *
 * Numbers keep both a double and, when the text is an integer that fits,
 * an int64_t.  Strings are decoded to UTF-8 (\uXXXX escapes and surrogate
 * pairs included); a string holding NUL keeps its length in n.
 */
#ifndef BH_JSONR_H
#define BH_JSONR_H

#include <stddef.h>
#include <stdint.h>

#define JSONR_DEPTH_MAX 64

enum jsonr_type {
	JSONR_NULL, JSONR_BOOL, JSONR_NUM, JSONR_STR, JSONR_ARR, JSONR_OBJ
};

struct jsonr {
	enum jsonr_type type;
	int b;                /* JSONR_BOOL */
	double num;           /* JSONR_NUM */
	int64_t i;            /* JSONR_NUM: the integer value, when is_int */
	int is_int;
	char *s;              /* JSONR_STR (NUL-terminated, n bytes) */
	size_t n;             /* JSONR_STR: bytes; ARR/OBJ: items */
	struct jsonr *items;  /* JSONR_ARR, JSONR_OBJ: n values */
	char **keys;          /* JSONR_OBJ: n keys, parallel to items */
};

/*
 * Parse the JSON document of @len bytes at @text (trailing white space
 * allowed, nothing else).  Returns the tree, freed with jsonr_free(), or
 * NULL with "offset N: what is wrong" in @err.
 */
struct jsonr *jsonr_parse(const char *text, size_t len, char *err,
                          size_t errlen);
void jsonr_free(struct jsonr *v);

/* Member @key of object @v; NULL when @v is not an object or lacks it.
 * O(members): the objects read here are small. */
const struct jsonr *jsonr_get(const struct jsonr *v, const char *key);
/* Item @i of array @v, NULL when out of range or not an array. */
const struct jsonr *jsonr_at(const struct jsonr *v, size_t i);
/* The string of @v, or NULL when it is not a string. */
const char *jsonr_str(const struct jsonr *v);
/* The integer value of @v (a number; a bool reads 0/1), else @dflt. */
int64_t jsonr_int(const struct jsonr *v, int64_t dflt);
/* The number of @v as a double, else @dflt. */
double jsonr_num(const struct jsonr *v, double dflt);
/* Shorthands: member @key of @obj as a string / integer. */
const char *jsonr_kstr(const struct jsonr *obj, const char *key);
int64_t jsonr_kint(const struct jsonr *obj, const char *key, int64_t dflt);

#endif
