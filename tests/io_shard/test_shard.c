/* Unit tests of the shard format: CRC32C, record encode/decode, the LMDB writer and reader, the
 * manifest, the text cleaning rule of `m3ae prep`, and the errors for corrupt, truncated and
 * missing shards. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "io/crc32c.h"
#include "io/manifest.h"
#include "io/prep.h"
#include "io/shard.h"

static char tmpdir[256];

static void test_crc(void) {
    T_CHECK(m3ae_crc32c(0, "123456789", 9) == 0xE3069283u, "check value %08x", m3ae_crc32c(0, "123456789", 9));
    T_CHECK(m3ae_crc32c_sw(0, "123456789", 9) == 0xE3069283u, "sw check value");
    T_CHECK(m3ae_crc32c(0, "", 0) == 0, "empty");
    /* RFC 3720 B.4: 32 bytes of zeros -> 0x8A9136AA, of 0xFF -> 0x62A8AB43 */
    unsigned char z[32] = {0}, f[32];
    memset(f, 0xFF, sizeof f);
    T_CHECK(m3ae_crc32c(0, z, 32) == 0x8A9136AAu, "zeros %08x", m3ae_crc32c(0, z, 32));
    T_CHECK(m3ae_crc32c(0, f, 32) == 0x62A8AB43u, "ones %08x", m3ae_crc32c(0, f, 32));
    unsigned char buf[1031];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 131 + 7);
    int bad = 0;
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof buf; n += 97) {
            uint32_t a = m3ae_crc32c(0, buf + off, n), b = m3ae_crc32c_sw(0, buf + off, n);
            uint32_t c = m3ae_crc32c(m3ae_crc32c(0, buf + off, n / 3), buf + off + n / 3, n - n / 3);
            if (a != b || a != c) bad++;
        }
    T_CHECK(bad == 0, "hw/sw/incremental CRC disagree in %d cases (hw %d)", bad, m3ae_crc32c_hw());
}

static void make_record(int i, uint8_t **buf, size_t *len) {
    static uint8_t pix[7 * 5 * 3];
    for (size_t k = 0; k < sizeof pix; k++) pix[k] = (uint8_t)(k * 3 + i);
    char c0[64], c1[64];
    snprintf(c0, sizeof c0, "caption zero of record %d", i);
    snprintf(c1, sizeof c1, "second caption \xc3\xa9 %d", i);
    const char *caps[2] = {c0, c1};
    char id[32];
    snprintf(id, sizeof id, "images/%d.jpg", i);
    m3ae_record r = {.height = 7, .width = 5, .channels = 3, .pixels = pix, .image_id = id,
                     .n_captions = (uint32_t)(1 + i % 2), .captions = caps, .label = -1};
    if (i == 2) r.question = "what is shown?", r.answer = "a lung", r.label = 5;
    m3ae_error err;
    T_CHECK(m3ae_record_encode(&r, buf, len, &err) == 0, "encode %d: %s", i, err.msg);
}

static void test_record(void) {
    uint8_t *b;
    size_t n;
    make_record(2, &b, &n);
    m3ae_record_view v;
    m3ae_error err;
    T_CHECK(m3ae_record_decode(b, n, 1, "test", &v, &err) == 0, "decode: %s", err.msg);
    T_CHECK(v.height == 7 && v.width == 5 && v.channels == 3 && v.n_captions == 1, "header");
    T_CHECK(v.label == 5 && v.question_len == 14 && !memcmp(v.question, "what is shown?", 14), "question, label");
    T_CHECK(v.answer_len == 6 && !memcmp(v.answer, "a lung", 6), "answer");
    T_CHECK(v.image_id_len == 12 && !memcmp(v.image_id, "images/2.jpg", 12), "image id");
    uint32_t cl;
    const char *c = m3ae_record_caption(&v, 0, &cl);
    T_CHECK(cl == strlen("caption zero of record 2") && !memcmp(c, "caption zero of record 2", cl), "caption");
    T_CHECK(v.pixels[0] == 2 && v.pixels[104] == (uint8_t)(104 * 3 + 2), "pixels");
    T_CHECK(n == (size_t)M3AE_RECORD_HEADER_SIZE + 12 + 4 + 24 + 4 + 14 + 4 + 6 + 105 + 4, "record size %zu", n);
    /* every single flipped byte is detected */
    int undetected = 0;
    for (size_t k = 0; k < n; k++) {
        b[k] ^= 0x10;
        if (m3ae_record_decode(b, n, 1, "shard-x key 9", &v, &err) == 0) undetected++;
        b[k] ^= 0x10;
    }
    T_CHECK(undetected == 0, "%d flipped bytes not detected", undetected);
    b[60] ^= 1;
    T_CHECK(m3ae_record_decode(b, n, 1, "shard-x key 9", &v, &err) != 0 && strstr(err.msg, "shard-x key 9") &&
                strstr(err.msg, "CRC32C"), "CRC message: %s", err.msg);
    b[60] ^= 1;
    T_CHECK(m3ae_record_decode(b, n - 10, 0, "t", &v, &err) != 0, "short record accepted");
    T_CHECK(m3ae_record_decode(b, 20, 1, "t", &v, &err) != 0, "tiny record accepted");
    free(b);
    m3ae_record bad = {.height = 1, .width = 1, .channels = 3, .pixels = (const uint8_t *)"abc", .n_captions = 0};
    T_CHECK(m3ae_record_encode(&bad, &b, &n, &err) != 0, "no captions accepted");
}

static void test_shard_rw(void) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/shard-00000", tmpdir);
    m3ae_error err;
    m3ae_shard_writer *w = m3ae_shard_writer_open(dir, &err);
    T_CHECK(w != NULL, "writer: %s", err.msg);
    if (!w) return;
    const int n = 600; /* > one commit of 256 */
    uint64_t samples = 0;
    for (int i = 0; i < n; i++) {
        uint8_t *b;
        size_t len;
        make_record(i, &b, &len);
        T_CHECK(m3ae_shard_writer_put(w, b, len, &err) == 0, "put %d: %s", i, err.msg);
        samples += 1 + i % 2;
        free(b);
    }
    m3ae_shard_schema sc = {.shard = 0, .store_size = 5, .source = "test", .converter_version = "1"}, got;
    T_CHECK(m3ae_shard_writer_finish(w, &sc, &got, &err) == 0, "finish: %s", err.msg);
    T_CHECK(got.records == (uint64_t)n && got.samples == samples, "counts %llu %llu", (unsigned long long)got.records,
            (unsigned long long)got.samples);
    T_CHECK(m3ae_shard_writer_open(dir, &err) == NULL && strstr(err.msg, dir), "existing dir accepted");

    m3ae_shard *s = m3ae_shard_open(dir, "shard-00000", &err);
    T_CHECK(s != NULL, "open: %s", err.msg);
    if (!s) return;
    const m3ae_shard_schema *i = m3ae_shard_info(s);
    T_CHECK(i->records == (uint64_t)n && i->samples == samples && i->checksum == got.checksum && i->store_size == 5 &&
                !strcmp(i->source, "test") && i->format_version == 1, "schema");
    m3ae_shard_reader *r = m3ae_shard_reader_begin(s, &err);
    uint32_t ck = 0;
    int bad = 0;
    for (int k = 0; k < n; k++) {
        m3ae_record_view v;
        if (m3ae_shard_read(r, (uint64_t)k, 1, &v, &err)) {
            bad++;
            continue;
        }
        char want[64];
        snprintf(want, sizeof want, "caption zero of record %d", k);
        uint32_t cl;
        const char *c = m3ae_record_caption(&v, 0, &cl);
        if (v.n_captions != (uint32_t)(1 + k % 2) || cl != strlen(want) || memcmp(c, want, cl) ||
            m3ae_shard_caption_counts(s)[k] != v.n_captions)
            bad++;
        uint8_t cb[4] = {(uint8_t)v.crc, (uint8_t)(v.crc >> 8), (uint8_t)(v.crc >> 16), (uint8_t)(v.crc >> 24)};
        ck = m3ae_crc32c(ck, cb, 4);
    }
    T_CHECK(bad == 0, "%d records read back wrong", bad);
    T_CHECK(ck == got.checksum, "checksum of CRCs");
    m3ae_record_view v;
    T_CHECK(m3ae_shard_read(r, (uint64_t)n, 1, &v, &err) != 0 && strstr(err.msg, "shard-00000"), "out of range key");
    m3ae_shard_reader_end(r);
    m3ae_shard_close(s);

    /* manifest round trip */
    m3ae_manifest_shard ms = {.name = "shard-00000", .records = (uint64_t)n, .samples = samples, .bytes = 1, .checksum = got.checksum};
    m3ae_manifest m = {.source = "test", .input = "in \"quoted\"", .converter_version = "1", .store_size = 5,
                       .records = (uint64_t)n, .samples = samples, .rejected = 3, .n_shards = 1, .shards = &ms};
    T_CHECK(m3ae_manifest_write(tmpdir, &m, &err) == 0, "manifest write: %s", err.msg);
    m3ae_manifest m2;
    T_CHECK(m3ae_manifest_read(tmpdir, &m2, &err) == 0, "manifest read: %s", err.msg);
    T_CHECK(m2.n_shards == 1 && m2.shards && m2.shards[0].checksum == got.checksum && m2.records == (uint64_t)n &&
                m2.rejected == 3 && !strcmp(m2.input, "in \"quoted\""), "manifest fields");
    m3ae_manifest_free(&m2);
    snprintf(path, sizeof path, "%s/manifest.json.tmp", tmpdir);
    T_CHECK(access(path, F_OK) != 0, "temporary manifest left behind");
    T_CHECK(m3ae_manifest_read("/nonexistent-m3ae", &m2, &err) != 0 && strstr(err.msg, "m3ae prep"), "missing manifest: %s",
            err.msg);

    /* truncated shard: clear error, no crash */
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    T_CHECK(truncate(path, size / 2) == 0, "truncate");
    T_CHECK(m3ae_shard_open(dir, "shard-00000", &err) == NULL && strstr(err.msg, "truncated") &&
                strstr(err.msg, "shard-00000"), "truncated shard: %s", err.msg);
    T_CHECK(unlink(path) == 0, "unlink");
    T_CHECK(m3ae_shard_open(dir, "shard-00000", &err) == NULL && strstr(err.msg, "missing") &&
                strstr(err.msg, "shard-00000"), "missing shard: %s", err.msg);
    rmdir(dir);
    snprintf(path, sizeof path, "%s/manifest.json", tmpdir);
    unlink(path);
}

static void test_clean(void) {
    char out[256];
    int w = m3ae_prep_clean_text("  Axial  CT\t of the\n\nchest. ", 28, out);
    T_CHECK(w == 5 && !strcmp(out, "Axial CT of the chest."), "clean: '%s' %d", out, w);
    w = m3ae_prep_clean_text("a\xc2\xa0" "b\xe3\x80\x80" "c\xe2\x80\x89", 11, out); /* NBSP, ideographic, thin space */
    T_CHECK(w == 3 && !strcmp(out, "a b c"), "unicode spaces: '%s' %d", out, w);
    w = m3ae_prep_clean_text("\x1f x \xc3\xa9t\xc3\xa9 ", 10, out);
    T_CHECK(w == 2 && !strcmp(out, "x \xc3\xa9t\xc3\xa9"), "unit separator + accents: '%s' %d", out, w);
    w = m3ae_prep_clean_text("   ", 3, out);
    T_CHECK(w == 0 && out[0] == 0, "blank");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/m3ae_test_shard_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_crc();
    test_record();
    test_shard_rw();
    test_clean();
    rmdir(tmpdir);
    return t_done("test_shard");
}
