/* common/json: values, escapes, errors with line:column, the string writer (round trip), the real
 * 1 MB vocab.json, and fuzz-style robustness (every truncation, random mutations, garbage). */
#include <stdint.h>
#include <time.h>

#include "common/json.h"
#include "common/rng.h"
#include "harness.h"

static const char *doc =
    "{\n"
    "  \"name\": \"m3ae\", \"n\": -12.5e1, \"zero\": -0, \"int\": 50264, \"t\": true, \"f\": false,\n"
    "  \"nil\": null, \"arr\": [1, [2, [3, []]], {}, \"x\"],\n"
    "  \"esc\": \"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u00e9\\u4e2d \\ud83d\\ude00 \\ud800x \\udc00\",\n"
    "  \"nul\": \"a\\u0000b\", \"dup\": 1, \"dup\": 2, \"\\u0120the\": 5, \"utf8\": \"caf\xc3\xa9\"\n"
    "}\n";

static void test_values(void) {
    m3ae_error err;
    m3ae_json *v = m3ae_json_parse(doc, strlen(doc), &err);
    T_CHECK(v != NULL, "parse: %s", v ? "" : err.msg);
    if (!v) return;
    T_CHECK(m3ae_json_type(v) == M3AE_JSON_OBJECT, "root type");
    T_CHECK(m3ae_json_len(v) == 14, "members %zu", m3ae_json_len(v));
    size_t len;
    const char *s = m3ae_json_str(m3ae_json_get(v, "name"), &len);
    T_CHECK(s && len == 4 && !strcmp(s, "m3ae"), "name");
    T_CHECK(m3ae_json_num(m3ae_json_get(v, "n")) == -125.0, "n");
    T_CHECK(m3ae_json_num(m3ae_json_get(v, "int")) == 50264.0, "int");
    T_CHECK(m3ae_json_num(m3ae_json_get(v, "zero")) == 0.0, "zero");
    T_CHECK(m3ae_json_bool(m3ae_json_get(v, "t")) == 1 && m3ae_json_bool(m3ae_json_get(v, "f")) == 0, "bools");
    T_CHECK(m3ae_json_bool(m3ae_json_get(v, "int")) == -1, "bool of a number");
    T_CHECK(m3ae_json_type(m3ae_json_get(v, "nil")) == M3AE_JSON_NULL && m3ae_json_get(v, "nil"), "null");
    T_CHECK(m3ae_json_get(v, "absent") == NULL, "absent key");
    T_CHECK(isnan(m3ae_json_num(m3ae_json_get(v, "name"))), "num of a string is NAN");
    T_CHECK(m3ae_json_str(m3ae_json_get(v, "int"), &len) == NULL && len == 0, "str of a number");
    const m3ae_json *arr = m3ae_json_get(v, "arr");
    T_CHECK(m3ae_json_type(arr) == M3AE_JSON_ARRAY && m3ae_json_len(arr) == 4, "arr");
    T_CHECK(m3ae_json_num(m3ae_json_at(m3ae_json_at(m3ae_json_at(arr, 1), 1), 0)) == 3.0, "nested");
    T_CHECK(m3ae_json_len(m3ae_json_at(m3ae_json_at(m3ae_json_at(arr, 1), 1), 1)) == 0, "empty array");
    T_CHECK(m3ae_json_type(m3ae_json_at(arr, 2)) == M3AE_JSON_OBJECT && m3ae_json_len(m3ae_json_at(arr, 2)) == 0,
            "empty object");
    T_CHECK(m3ae_json_at(arr, 4) == NULL && m3ae_json_get(arr, "x") == NULL && m3ae_json_key_at(arr, 0) == NULL,
            "out of range / wrong type");
    T_CHECK(m3ae_json_len(m3ae_json_get(v, "name")) == 0, "len of a string");
    s = m3ae_json_str(m3ae_json_get(v, "esc"), &len);
    const char *want = "q\" b\\ s/ \b\f\n\r\t \xc3\xa9\xe4\xb8\xad \xf0\x9f\x98\x80 \xef\xbf\xbdx \xef\xbf\xbd";
    T_CHECK(s && len == strlen(want) && !memcmp(s, want, len), "escapes: got '%s'", s ? s : "(null)");
    s = m3ae_json_str(m3ae_json_get(v, "nul"), &len);
    T_CHECK(s && len == 3 && s[1] == '\0' && s[2] == 'b' && s[3] == '\0', "embedded NUL");
    T_CHECK(m3ae_json_num(m3ae_json_get(v, "dup")) == 2.0, "duplicate keys: the last wins");
    T_CHECK(m3ae_json_num(m3ae_json_get(v, "\xc4\xa0the")) == 5.0, "\\u0120 key");
    T_CHECK(!strcmp(m3ae_json_key_at(v, 0), "name") && m3ae_json_num(m3ae_json_at(v, 3)) == 50264.0, "key_at/at");
    s = m3ae_json_str(m3ae_json_get(v, "utf8"), &len);
    T_CHECK(s && !strcmp(s, "caf\xc3\xa9"), "raw UTF-8");
    m3ae_json_free(v);
    m3ae_json_free(NULL);
    T_CHECK(m3ae_json_type(NULL) == M3AE_JSON_NULL && m3ae_json_len(NULL) == 0 && m3ae_json_get(NULL, "a") == NULL,
            "NULL handles");

    const char *scalars[] = {"0", "-1", "1e2", "1E+2", "2.5e-3", "\"\"", "true", "null", " [ ] ", "123456789012345678901234567890"};
    double nums[] = {0, -1, 100, 100, 2.5e-3};
    for (int i = 0; i < 10; i++) {
        m3ae_json *x = m3ae_json_parse(scalars[i], strlen(scalars[i]), &err);
        T_CHECK(x != NULL, "scalar '%s': %s", scalars[i], x ? "" : err.msg);
        if (x && i < 5) T_CHECK(m3ae_json_num(x) == nums[i], "number '%s'", scalars[i]);
        m3ae_json_free(x);
    }
}

static void test_errors(void) {
    const char *bad[] = {"",       "   ",      "{",         "[1,]",      "{\"a\" 1}", "01",      "1.",      "-",
                         "1e",     "tru",      "nul",       "\"abc",     "\"\\x\"",   "\"\\u12\"", "[1] x",   "{\"a\":1,}",
                         "\"a\tb\"", "{1: 2}", "[1 2]",     "\"\\",      "\"\\u",     "+1",      ".5",      "[-]",
                         "{\"a\"}", "{\"a\":}", "[,1]",     "\xef\xbb\xbf{}", "NaN",  "Infinity", "'a'",     "[\"a\\ud800\\\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m3ae_error err = {{0}};
        m3ae_json *v = m3ae_json_parse(bad[i], strlen(bad[i]), &err);
        T_CHECK(v == NULL, "'%s' must not parse", bad[i]);
        T_CHECK(strstr(err.msg, "line ") && strstr(err.msg, "column "), "'%s': message '%s'", bad[i], err.msg);
        m3ae_json_free(v);
    }
    m3ae_error err;
    const char *multi = "{\n  \"a\": 1,\n  \"b\": ,\n}";
    T_CHECK(m3ae_json_parse(multi, strlen(multi), &err) == NULL && strstr(err.msg, "line 3 column 8"),
            "line:column: %s", err.msg);
    /* nesting: 512 levels are refused cleanly, not a stack overflow */
    char deep[4001];
    memset(deep, '[', 4000);
    deep[4000] = '\0';
    T_CHECK(m3ae_json_parse(deep, 4000, &err) == NULL && strstr(err.msg, "nesting"), "deep nesting: %s", err.msg);
    char ok[401];
    for (int i = 0; i < 200; i++) {
        ok[i] = '[';
        ok[200 + i] = ']';
    }
    m3ae_json *v = m3ae_json_parse(ok, 400, &err);
    T_CHECK(v != NULL, "200 levels parse");
    m3ae_json_free(v);
    /* the length is honoured: no read past len, even without a NUL */
    v = m3ae_json_parse("[1]garbage", 3, &err);
    T_CHECK(v != NULL && m3ae_json_len(v) == 1, "len honoured");
    m3ae_json_free(v);
}

static void test_writer(void) {
    const char *strs[] = {"plain", "", "q\"uote\\back/slash", "\n\r\t\b\f\x01\x1f\x7f", "caf\xc3\xa9 \xf0\x9f\x98\x80",
                          "\xc4\xa0the"};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        char *buf = NULL;
        size_t blen = 0;
        FILE *f = open_memstream(&buf, &blen);
        m3ae_json_write_string(f, strs[i], strlen(strs[i]));
        fclose(f);
        m3ae_error err;
        m3ae_json *v = m3ae_json_parse(buf, blen, &err);
        size_t len;
        const char *s = m3ae_json_str(v, &len);
        T_CHECK(s && len == strlen(strs[i]) && !memcmp(s, strs[i], len), "round trip of string %zu: %s", i, buf);
        for (size_t k = 0; k < blen; k++) T_CHECK((unsigned char)buf[k] >= 0x20, "raw control character written");
        m3ae_json_free(v);
        free(buf);
    }
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    m3ae_json_write_string(f, "a\0b", 3);
    fclose(f);
    T_CHECK(!strcmp(buf, "\"a\\u0000b\""), "NUL written as \\u0000: %s", buf);
    free(buf);
}

static void test_vocab(void) {
    const char *path = t_data("vocab/roberta-base/vocab.json");
    FILE *f = fopen(path, "rb");
    T_CHECK(f != NULL, "open %s", path);
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n);
    T_CHECK(fread(text, 1, (size_t)n, f) == (size_t)n, "read");
    fclose(f);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    m3ae_error err;
    m3ae_json *v = m3ae_json_parse(text, (size_t)n, &err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    T_CHECK(v && m3ae_json_len(v) == 50265, "vocab.json: %zu members", m3ae_json_len(v));
    T_CHECK(m3ae_json_num(m3ae_json_get(v, "<mask>")) == 50264.0, "<mask>");
    T_CHECK(m3ae_json_num(m3ae_json_get(v, "\xc4\xa0the")) == 5.0, "Gthe");
    printf("vocab.json (%ld bytes, 50265 members) parsed in %.1f ms\n", n, ms);
    m3ae_json_free(v);
    free(text);
}

/* Every truncation of a valid document, random byte mutations and random JSON-ish garbage: each
 * either parses or fails with a message; the sanitizer build checks nothing is read out of bounds. */
static void test_fuzz(void) {
    size_t n = strlen(doc);
    int failed = 0, parsed = 0;
    for (size_t k = 0; k < n; k++) {
        char *p = malloc(k ? k : 1); /* exact size: ASan catches a read past len */
        memcpy(p, doc, k);
        m3ae_error err;
        m3ae_json *v = m3ae_json_parse(p, k, &err);
        if (v) parsed++;
        else failed++;
        m3ae_json_free(v);
        free(p);
    }
    /* doc ends in "}\n": only the prefix without the final newline is complete */
    T_CHECK(parsed == 1 && failed == (int)n - 1, "every prefix of an object before its '}' must fail (%d parsed)", parsed);
    m3ae_rng r = m3ae_rng_make(42, 0, 0, 0);
    static const char alphabet[] = "{}[]\",:\\u0123456789abcdefe-+.tfnrl \n\t\xc3\xa9\xff";
    uint64_t w = 0;
    int ok = 0;
    for (int it = 0; it < 20000; it++) {
        size_t len = it < 10000 ? n : 1 + m3ae_rng_below(&r, w++, 64);
        char *p = malloc(len);
        if (it < 10000) {
            memcpy(p, doc, n);
            int muts = 1 + (int)m3ae_rng_below(&r, w++, 4);
            for (int m = 0; m < muts; m++) {
                size_t at = m3ae_rng_below(&r, w++, (uint32_t)n);
                p[at] = m3ae_rng_below(&r, w++, 2) ? (char)m3ae_rng_below(&r, w++, 256)
                                                   : alphabet[m3ae_rng_below(&r, w++, sizeof alphabet - 1)];
            }
        } else {
            for (size_t k = 0; k < len; k++) p[k] = alphabet[m3ae_rng_below(&r, w++, sizeof alphabet - 1)];
        }
        m3ae_error err;
        err.msg[0] = '\0';
        m3ae_json *v = m3ae_json_parse(p, len, &err);
        if (v) {
            ok++;
            /* walk it */
            for (size_t i = 0; i < m3ae_json_len(v); i++) {
                size_t sl;
                (void)m3ae_json_str(m3ae_json_at(v, i), &sl);
                (void)m3ae_json_key_at(v, i);
            }
        } else {
            T_CHECK(strstr(err.msg, "line "), "fuzz case %d failed without a message", it);
        }
        m3ae_json_free(v);
        free(p);
    }
    printf("fuzz: %d of 20000 mutated/garbage inputs parsed, the rest failed cleanly\n", ok);
    T_CHECK(ok > 0 && ok < 20000, "fuzz outcome %d", ok);
}

int main(void) {
    test_values();
    test_errors();
    test_writer();
    test_fuzz();
    test_vocab();
    return t_done("test_json");
}
