/* libFuzzer target for the shard record parser and the schema parser: any bytes either decode into
 * a record whose views all lie inside the input, or fail with a message; never a crash.
 * Built and run by tests/fuzz/run_fuzz.sh (clang -fsanitize=fuzzer,address,undefined). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/crc32c.h"
#include "io/shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const void *p, size_t n, const uint8_t *data, size_t size) {
    if (!p) return;
    const uint8_t *q = p;
    if (q < data || q + n > data + size) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    m3ae_error err;
    m3ae_record_view v;
    for (int check = 0; check < 2; check++) {
        if (m3ae_record_decode(data, size, check, "fuzz", &v, &err) != 0) continue;
        inside(v.pixels, (size_t)v.height * v.width * v.channels, data, size);
        inside(v.image_id, v.image_id_len, data, size);
        inside(v.question, v.question_len, data, size);
        inside(v.answer, v.answer_len, data, size);
        for (uint32_t i = 0; i < v.n_captions; i++) {
            uint32_t len = 0;
            const char *c = m3ae_record_caption(&v, i, &len);
            inside(c, len, data, size);
        }
    }
    /* a valid record made from the input bytes must round-trip */
    if (size >= 4) {
        uint32_t w = 1 + data[0] % 8, h = 1 + data[1] % 8, nc = 1 + data[2] % 3;
        size_t need = (size_t)w * h * 3;
        uint8_t *px = calloc(need, 1);
        memcpy(px, data, need < size ? need : size);
        char *caps[3], text[64];
        size_t tl = size - 3 < 63 ? size - 3 : 63;
        memcpy(text, data + 3, tl);
        text[tl] = 0;
        for (uint32_t i = 0; i < nc; i++) caps[i] = text;
        m3ae_record rec = {.height = h, .width = w, .channels = 3, .pixels = px, .image_id = "fuzz",
                           .n_captions = nc, .captions = (const char *const *)caps, .label = -1};
        uint8_t *enc = NULL;
        size_t len = 0;
        if (m3ae_record_encode(&rec, &enc, &len, &err) == 0) {
            if (m3ae_record_decode(enc, len, 1, "round trip", &v, &err) != 0) abort();
            if (v.width != w || v.height != h || v.n_captions != nc || memcmp(v.pixels, px, need)) abort();
            enc[len / 2] ^= 0x40; /* one flipped bit: the CRC must catch it */
            if (m3ae_record_decode(enc, len, 1, "flipped", &v, &err) == 0) abort();
            free(enc);
        }
        free(px);
    }
    m3ae_shard_schema s;
    m3ae_shard_schema_parse((const char *)data, size, &s, &err);
    return 0;
}
