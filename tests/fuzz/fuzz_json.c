/* libFuzzer target for common/json: any bytes either parse into a tree that can be walked, or
 * fail with a "line L column C" message; never a crash, a leak or an out-of-bounds read.
 *
 * Not wired into CMake. Build and run by hand, e.g.:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c17 -D_POSIX_C_SOURCE=200809L -I. \
 *     tests/fuzz/fuzz_json.c common/json.c common/error.c -lm -o fuzz_json
 *   ./fuzz_json -max_total_time=60 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

static size_t walk(const m3ae_json *v, int depth) {
    size_t n = 1;
    if (depth > 600) abort(); /* the parser limits nesting to 512 */
    size_t len;
    const char *s = m3ae_json_str(v, &len);
    if (s && s[len] != '\0') abort();
    for (size_t i = 0; i < m3ae_json_len(v); i++) {
        if (m3ae_json_type(v) == M3AE_JSON_OBJECT) {
            const char *k = m3ae_json_key_at(v, i);
            if (!k || m3ae_json_get(v, k) == NULL) abort();
        }
        n += walk(m3ae_json_at(v, i), depth + 1);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    m3ae_error err;
    err.msg[0] = '\0';
    m3ae_json *v = m3ae_json_parse((const char *)data, size, &err);
    if (!v) {
        if (!strstr(err.msg, "line ")) abort();
        return 0;
    }
    walk(v, 0);
    m3ae_json_free(v);
    return 0;
}
