/* A small JSON reader (RFC 8259) and string writer, used for vocab.json, manifests and configs.
 *
 * m3ae_json_parse builds an immutable tree in one allocation arena; free it with m3ae_json_free.
 * Values are looked up by type-checked accessors that never crash on a wrong type (they return
 * NULL / 0 / NAN / -1). Member lookup by key is linear; callers that need many lookups build
 * their own hash map. Strings are decoded to UTF-8 (\u escapes and surrogate pairs included; a
 * lone surrogate becomes U+FFFD) and are NUL-terminated; they may contain NUL bytes (use len). */
#ifndef M3AE_COMMON_JSON_H
#define M3AE_COMMON_JSON_H

#include <stddef.h>
#include <stdio.h>

#include "common/error.h"

typedef struct m3ae_json m3ae_json;
enum { M3AE_JSON_NULL, M3AE_JSON_BOOL, M3AE_JSON_NUMBER, M3AE_JSON_STRING, M3AE_JSON_ARRAY, M3AE_JSON_OBJECT };

/* Parses len bytes of text. Returns NULL and sets err (with line:column) on bad JSON. */
m3ae_json *m3ae_json_parse(const char *text, size_t len, m3ae_error *err);
void m3ae_json_free(m3ae_json *v);
int m3ae_json_type(const m3ae_json *v);
const m3ae_json *m3ae_json_get(const m3ae_json *obj, const char *key);   /* NULL when absent or not an object */
size_t m3ae_json_len(const m3ae_json *v);                               /* elements of an array / members of an object, else 0 */
const m3ae_json *m3ae_json_at(const m3ae_json *v, size_t i);            /* i-th element (array) or i-th member value (object) */
const char *m3ae_json_key_at(const m3ae_json *obj, size_t i);           /* i-th member key */
const char *m3ae_json_str(const m3ae_json *v, size_t *len);             /* UTF-8 (\u escapes + surrogate pairs decoded), NUL-terminated; NULL if not a string */
double m3ae_json_num(const m3ae_json *v);                               /* NAN if not a number */
int m3ae_json_bool(const m3ae_json *v);                                 /* 1/0, -1 if not a bool */
void m3ae_json_write_string(FILE *f, const char *s, size_t len);        /* writes a quoted, escaped JSON string */

#endif
