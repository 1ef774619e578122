/* A small JSON reader: recursive descent into a tree held in one chunked arena.
 *
 * Containers store their children contiguously (an array of nodes plus, for objects, an array of
 * key pointers). While a container is parsed its children sit on a growable scratch stack shared by
 * all nesting levels; when it closes they are copied into the arena. Strings are decoded straight
 * into the arena (a decoded string is never longer than its source). Nesting is limited to
 * M3AE_JSON_MAX_DEPTH so that hostile input cannot overflow the C stack. */
#include "common/json.h"

#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define M3AE_JSON_MAX_DEPTH 512
#define ARENA_BLOCK (64 * 1024)

struct m3ae_json {
    int type;
    union {
        double num;
        int b;
        struct {
            const char *s;
            size_t len;
        } str;
        struct {
            m3ae_json *items;  /* n nodes */
            const char **keys; /* n keys (objects only) */
            size_t n;
        } c;
    } u;
};

typedef struct block {
    struct block *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
} block;

/* The root node is the first member so that m3ae_json_free can find the document. */
typedef struct {
    m3ae_json root;
    block *blocks;
} doc;

typedef struct {
    const char *p, *end, *start;
    doc *d;
    m3ae_json *stack; /* scratch: children of the containers being parsed */
    const char **kstack;
    size_t sp, scap;
    m3ae_error *err;
    int failed;
} parser;

static void *arena_alloc(parser *ps, size_t n) {
    n = (n + 7) & ~(size_t)7;
    block *b = ps->d->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        block *nb = malloc(sizeof(block) + cap);
        if (!nb) return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        ps->d->blocks = nb;
        b = nb;
    }
    void *r = b->data + b->used;
    b->used += n;
    return r;
}

static int fail(parser *ps, const char *what) {
    if (ps->failed) return -1;
    ps->failed = 1;
    size_t line = 1, col = 1;
    for (const char *q = ps->start; q < ps->p && q < ps->end; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    if (ps->p >= ps->end)
        m3ae_error_set(ps->err, "JSON error at line %zu column %zu: %s (at end of input)", line, col, what);
    else
        m3ae_error_set(ps->err, "JSON error at line %zu column %zu: %s (near '%c')", line, col, what,
                       (*ps->p >= 0x20 && *ps->p < 0x7f) ? *ps->p : '?');
    return -1;
}

static int oom(parser *ps) { return fail(ps, "out of memory while parsing"); }

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

/* Pushes a slot on the scratch stack; returns its index or -1. */
static long push(parser *ps) {
    if (ps->sp == ps->scap) {
        size_t nc = ps->scap ? ps->scap * 2 : 256;
        m3ae_json *ns = realloc(ps->stack, nc * sizeof *ns);
        if (!ns) return -1;
        ps->stack = ns;
        const char **nk = realloc(ps->kstack, nc * sizeof *nk);
        if (!nk) return -1;
        ps->kstack = nk;
        ps->scap = nc;
    }
    ps->kstack[ps->sp] = NULL;
    return (long)ps->sp++;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(parser *ps, const char *q, unsigned *out) {
    if (ps->end - q < 4) return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)q[i]);
        if (h < 0) return -1;
        v = v * 16 + (unsigned)h;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* ps->p at the opening quote. Decodes into the arena; sets *out / *outlen. */
static int parse_string(parser *ps, const char **out, size_t *outlen) {
    const char *q = ps->p + 1;
    /* Find the closing quote to size the buffer. */
    const char *e = q;
    while (e < ps->end && *e != '"') {
        if (*e == '\\' && ps->end - e < 2) {
            e = ps->end;
            break;
        }
        e += *e == '\\' ? 2 : 1;
    }
    if (e >= ps->end) {
        ps->p = ps->end;
        return fail(ps, "unterminated string");
    }
    char *buf = arena_alloc(ps, (size_t)(e - q) + 1);
    if (!buf) return oom(ps);
    char *o = buf;
    while (q < e) {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20) {
            ps->p = q;
            return fail(ps, "control character in string (escape it)");
        }
        if (c != '\\') {
            *o++ = (char)c;
            q++;
            continue;
        }
        q++; /* q < e: the scan above skipped the escaped character */
        char esc = *q++;
        switch (esc) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp;
            if (e - q < 4 || read_hex4(ps, q, &cp) != 0) {
                ps->p = q;
                return fail(ps, "bad \\u escape (needs 4 hex digits)");
            }
            q += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (e - q >= 6 && q[0] == '\\' && q[1] == 'u' && read_hex4(ps, q + 2, &lo) == 0 &&
                    lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    q += 6;
                } else {
                    cp = 0xFFFD; /* lone high surrogate */
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD; /* lone low surrogate */
            }
            o = put_utf8(o, cp);
            break;
        }
        default:
            ps->p = q - 1;
            return fail(ps, "unknown escape in string");
        }
    }
    *o = '\0';
    *out = buf;
    *outlen = (size_t)(o - buf);
    ps->p = e + 1;
    return 0;
}

static int parse_number(parser *ps, m3ae_json *v) {
    const char *q = ps->p, *s = q;
    if (q < ps->end && *q == '-') q++;
    if (q >= ps->end) return fail(ps, "bad number");
    if (*q == '0') {
        q++;
    } else if (*q >= '1' && *q <= '9') {
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    } else {
        return fail(ps, "bad number");
    }
    if (q < ps->end && *q == '.') {
        q++;
        if (q >= ps->end || !(*q >= '0' && *q <= '9')) {
            ps->p = q;
            return fail(ps, "bad number (digits must follow '.')");
        }
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < ps->end && (*q == '+' || *q == '-')) q++;
        if (q >= ps->end || !(*q >= '0' && *q <= '9')) {
            ps->p = q;
            return fail(ps, "bad number (digits must follow the exponent)");
        }
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    size_t n = (size_t)(q - s);
    char small[64];
    char *tmp = n < sizeof small ? small : malloc(n + 1);
    if (!tmp) return oom(ps);
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    /* strtod follows LC_NUMERIC: give it the locale's decimal point (JSON always uses '.') */
    const char *dp = localeconv()->decimal_point;
    if (dp && dp[0] != '.' && dp[0] != '\0' && dp[1] == '\0') {
        char *dot = memchr(tmp, '.', n);
        if (dot) *dot = dp[0];
    }
    v->type = M3AE_JSON_NUMBER;
    v->u.num = strtod(tmp, NULL);
    if (tmp != small) free(tmp);
    ps->p = q;
    return 0;
}

static int match_word(parser *ps, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0) return fail(ps, "unexpected character");
    ps->p += n;
    return 0;
}

static int parse_value(parser *ps, long slot, int depth);

/* Moves the children pushed since `base` into the arena, as the container in `slot`. */
static int close_container(parser *ps, long slot, size_t base, int is_obj) {
    size_t n = ps->sp - base;
    m3ae_json *items = NULL;
    const char **keys = NULL;
    if (n) {
        items = arena_alloc(ps, n * sizeof *items);
        if (!items) return oom(ps);
        memcpy(items, ps->stack + base, n * sizeof *items);
        if (is_obj) {
            keys = arena_alloc(ps, n * sizeof *keys);
            if (!keys) return oom(ps);
            memcpy(keys, ps->kstack + base, n * sizeof *keys);
        }
    }
    ps->sp = base;
    m3ae_json *v = &ps->stack[slot];
    v->type = is_obj ? M3AE_JSON_OBJECT : M3AE_JSON_ARRAY;
    v->u.c.items = items;
    v->u.c.keys = keys;
    v->u.c.n = n;
    return 0;
}

static int parse_container(parser *ps, long slot, int depth, int is_obj) {
    if (depth >= M3AE_JSON_MAX_DEPTH) return fail(ps, "nesting deeper than 512 levels");
    char close = is_obj ? '}' : ']';
    ps->p++;
    size_t base = ps->sp;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return close_container(ps, slot, base, is_obj);
    }
    for (;;) {
        skip_ws(ps);
        long child = push(ps);
        if (child < 0) return oom(ps);
        if (is_obj) {
            if (ps->p >= ps->end || *ps->p != '"') return fail(ps, "expected a string key");
            const char *key;
            size_t klen;
            if (parse_string(ps, &key, &klen)) return -1;
            ps->kstack[child] = key;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') return fail(ps, "expected ':' after the key");
            ps->p++;
        }
        if (parse_value(ps, child, depth + 1)) return -1;
        skip_ws(ps);
        if (ps->p >= ps->end) return fail(ps, is_obj ? "unterminated object" : "unterminated array");
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            return close_container(ps, slot, base, is_obj);
        }
        return fail(ps, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

/* Parses one value into ps->stack[slot] (the stack may move: always index it). */
static int parse_value(parser *ps, long slot, int depth) {
    skip_ws(ps);
    if (ps->p >= ps->end) return fail(ps, "expected a value");
    m3ae_json v;
    memset(&v, 0, sizeof v);
    switch (*ps->p) {
    case '{': return parse_container(ps, slot, depth, 1);
    case '[': return parse_container(ps, slot, depth, 0);
    case '"':
        v.type = M3AE_JSON_STRING;
        if (parse_string(ps, &v.u.str.s, &v.u.str.len)) return -1;
        break;
    case 't':
        if (match_word(ps, "true")) return -1;
        v.type = M3AE_JSON_BOOL;
        v.u.b = 1;
        break;
    case 'f':
        if (match_word(ps, "false")) return -1;
        v.type = M3AE_JSON_BOOL;
        v.u.b = 0;
        break;
    case 'n':
        if (match_word(ps, "null")) return -1;
        v.type = M3AE_JSON_NULL;
        break;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
            if (parse_number(ps, &v)) return -1;
            break;
        }
        return fail(ps, "unexpected character (expected a value)");
    }
    ps->stack[slot] = v;
    return 0;
}

static void free_blocks(block *b) {
    while (b) {
        block *n = b->next;
        free(b);
        b = n;
    }
}

m3ae_json *m3ae_json_parse(const char *text, size_t len, m3ae_error *err) {
    if (!text && len) {
        m3ae_error_set(err, "JSON error: NULL text");
        return NULL;
    }
    doc *d = calloc(1, sizeof *d);
    if (!d) {
        m3ae_error_set(err, "JSON error: out of memory");
        return NULL;
    }
    parser ps = {.p = text, .end = text + len, .start = text, .d = d, .err = err};
    long root = push(&ps);
    int rc = root < 0 ? oom(&ps) : parse_value(&ps, root, 0);
    if (rc == 0) {
        skip_ws(&ps);
        if (ps.p != ps.end) rc = fail(&ps, "trailing characters after the JSON value");
    }
    if (rc == 0) d->root = ps.stack[root];
    free(ps.stack);
    free(ps.kstack);
    if (rc != 0) {
        free_blocks(d->blocks);
        free(d);
        return NULL;
    }
    return &d->root;
}

void m3ae_json_free(m3ae_json *v) {
    if (!v) return;
    doc *d = (doc *)v; /* the root is the first member of its document */
    free_blocks(d->blocks);
    free(d);
}

int m3ae_json_type(const m3ae_json *v) { return v ? v->type : M3AE_JSON_NULL; }

const m3ae_json *m3ae_json_get(const m3ae_json *obj, const char *key) {
    if (!obj || obj->type != M3AE_JSON_OBJECT || !key) return NULL;
    /* The last duplicate wins, as in Python's json module. */
    for (size_t i = obj->u.c.n; i-- > 0;)
        if (!strcmp(obj->u.c.keys[i], key)) return &obj->u.c.items[i];
    return NULL;
}

size_t m3ae_json_len(const m3ae_json *v) {
    if (!v || (v->type != M3AE_JSON_ARRAY && v->type != M3AE_JSON_OBJECT)) return 0;
    return v->u.c.n;
}

const m3ae_json *m3ae_json_at(const m3ae_json *v, size_t i) {
    if (i >= m3ae_json_len(v)) return NULL;
    return &v->u.c.items[i];
}

const char *m3ae_json_key_at(const m3ae_json *obj, size_t i) {
    if (!obj || obj->type != M3AE_JSON_OBJECT || i >= obj->u.c.n) return NULL;
    return obj->u.c.keys[i];
}

const char *m3ae_json_str(const m3ae_json *v, size_t *len) {
    if (!v || v->type != M3AE_JSON_STRING) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->u.str.len;
    return v->u.str.s;
}

double m3ae_json_num(const m3ae_json *v) { return (v && v->type == M3AE_JSON_NUMBER) ? v->u.num : NAN; }

int m3ae_json_bool(const m3ae_json *v) { return (v && v->type == M3AE_JSON_BOOL) ? v->u.b : -1; }

void m3ae_json_write_string(FILE *f, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                fputs("\\u00", f);
                fputc(hex[c >> 4], f);
                fputc(hex[c & 15], f);
            } else {
                fputc(c, f);
            }
        }
    }
    fputc('"', f);
}
