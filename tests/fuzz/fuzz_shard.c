/* libFuzzer target for a shard as LMDB pages: a pristine one-shard dataset is written once, each
 * input is a list of (u32 LE offset, u8 value) patches applied to a copy of its data.mdb, and the
 * copy is opened and every record read and decoded with its CRC, as `m3ae prep inspect` does.
 * Any damage must end in an error message, never in a crash (io/shard_check.h walks the B-tree
 * before LMDB follows it). Built and run by tests/fuzz/run_fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/shard.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64], dir[80];
static uint8_t *pristine;
static size_t pristine_len;

static void cleanup(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    rmdir(dir);
    rmdir(base);
}

/* 40 records of 32 x 24 RGB pixels: overflow pages, one leaf page, the index and schema records. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    snprintf(base, sizeof base, "/tmp/m3ae-fuzz-shard-XXXXXX");
    if (!mkdtemp(base)) abort();
    atexit(cleanup);
    snprintf(dir, sizeof dir, "%s/s", base);
    m3ae_error err;
    m3ae_shard_writer *w = m3ae_shard_writer_open(dir, &err);
    if (!w) abort();
    uint8_t px[32 * 24 * 3];
    for (int r = 0; r < 40; r++) {
        for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 7 + r);
        const char *caps[2] = {"a chest radiograph", "an axial CT slice"};
        m3ae_record rec = {.height = 24, .width = 32, .channels = 3, .pixels = px, .image_id = "fuzz.png",
                           .n_captions = 1 + r % 2, .captions = caps, .label = -1};
        uint8_t *enc;
        size_t len;
        if (m3ae_record_encode(&rec, &enc, &len, &err) || m3ae_shard_writer_put(w, enc, len, &err)) abort();
        free(enc);
    }
    m3ae_shard_schema schema = {.shard = 0, .store_size = 32};
    snprintf(schema.source, sizeof schema.source, "fuzz");
    if (m3ae_shard_writer_finish(w, &schema, NULL, &err)) abort();
    char path[128];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END)) abort();
    pristine_len = (size_t)ftell(f);
    rewind(f);
    pristine = malloc(pristine_len);
    if (!pristine || fread(pristine, 1, pristine_len, f) != pristine_len) abort();
    fclose(f);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(pristine_len);
    memcpy(copy, pristine, pristine_len);
    for (size_t i = 0; i + 5 <= size && i < 5 * 64; i += 5) {
        uint32_t off = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 | (uint32_t)data[i + 2] << 16 |
                       (uint32_t)data[i + 3] << 24;
        copy[off % pristine_len] = data[i + 4];
    }
    char path[128];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(copy, 1, pristine_len, f) != pristine_len || fclose(f)) abort();
    free(copy);
    m3ae_error err;
    m3ae_shard *s = m3ae_shard_open(dir, "fuzz", &err);
    if (!s) return 0;
    m3ae_shard_reader *r = m3ae_shard_reader_begin(s, &err);
    for (uint64_t k = 0; r && k < m3ae_shard_info(s)->records; k++) {
        m3ae_record_view v;
        if (m3ae_shard_read(r, k, 1, &v, &err)) break;
    }
    m3ae_shard_reader_end(r);
    m3ae_shard_close(s);
    return 0;
}
