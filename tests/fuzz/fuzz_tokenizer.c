/* libFuzzer target for the tokenizer: arbitrary bytes (invalid UTF-8, special tokens, huge
 * whitespace runs, long words) must never crash and must always give well-formed output.
 *
 * Not wired into CMake. Build and run by hand, e.g.:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c17 -D_POSIX_C_SOURCE=200809L -I. \
 *     tests/fuzz/fuzz_tokenizer.c io/tokenizer.c common/json.c common/error.c -lutf8proc -o fuzz_tokenizer
 *   M3AE_VOCAB=../shared/data/vocab/roberta-base ./fuzz_tokenizer -max_total_time=60 -max_len=4096
 * The first input byte picks max_len (0 = none, else 2..65) and padding; the rest is the text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/tokenizer.h"

static const m3ae_tokenizer *tok;

static void load(void) {
    const char *dir = getenv("M3AE_VOCAB");
    if (!dir) dir = "../shared/data/vocab/roberta-base";
    m3ae_error err;
    m3ae_tokenizer *t = m3ae_tokenizer_load(dir, &err);
    if (!t) {
        fprintf(stderr, "fuzz_tokenizer: %s (set M3AE_VOCAB to the roberta-base folder)\n", err.msg);
        abort();
    }
    tok = t; /* kept for the whole run */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!tok) load();
    if (size == 0) return 0;
    int max_len = data[0] % 65 ? 1 + data[0] % 65 : 0; /* 0 or 2..65 */
    int pad = max_len && (data[0] & 0x80);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    /* worst case without truncation: an invalid byte becomes U+FFFD (3 bytes, at most 3 ids) */
    int full_cap = 3 * (int)len + 2;
    int cap = full_cap > max_len ? full_cap : max_len;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return 0;
    int n = m3ae_tokenizer_encode(tok, text, len, ids, cap, max_len, pad);
    int vocab = m3ae_tokenizer_vocab_size(tok);
    if (n < 2 || n > cap || ids[0] != 0 || ids[n - 1] != 2) abort();
    if (max_len && n > max_len) abort();
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab) abort();
    if (pad)
        for (int i = n; i < max_len; i++)
            if (ids[i] != 1) abort();
    /* truncation keeps a prefix of the untruncated encoding */
    if (max_len) {
        int32_t *full = malloc((size_t)full_cap * sizeof *full);
        if (full) {
            int nf = m3ae_tokenizer_encode(tok, text, len, full, full_cap, 0, 0);
            if (nf < n) abort();
            for (int i = 1; i < n - 1; i++)
                if (full[i] != ids[i]) abort();
            free(full);
        }
    }
    /* a too-small buffer: same count, no write past cap */
    if (n > 3) {
        int n2 = m3ae_tokenizer_encode(tok, text, len, ids, n / 2, max_len, pad);
        if (n2 != n) abort();
    }
    free(ids);
    return 0;
}
