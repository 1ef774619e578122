/* libFuzzer target for the manifest reader (io/manifest.c): any bytes as a dataset's manifest.json,
 * read with m3ae_manifest_read. It either fails with a message or gives a manifest whose counts
 * hold together (shards named, the sums of their records and samples equal the totals), which
 * m3ae_manifest_write can write and read back to the same manifest. Never a crash, a leak or an
 * out-of-bounds access. Built and run by tests/fuzz/run_fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/manifest.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], dir2[80], path[96], path2[112];

static void cleanup(void) {
    unlink(path);
    unlink(path2);
    rmdir(dir2);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    snprintf(dir, sizeof dir, "/tmp/m3ae-fuzz-manifest-XXXXXX");
    if (!mkdtemp(dir)) abort();
    snprintf(dir2, sizeof dir2, "%s/back", dir);
    if (mkdir(dir2, 0755) != 0) abort();
    atexit(cleanup);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    snprintf(path2, sizeof path2, "%s/manifest.json", dir2);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) abort();
    m3ae_manifest m;
    m3ae_error err;
    err.msg[0] = '\0';
    if (m3ae_manifest_read(dir, &m, &err) != 0) {
        if (!err.msg[0]) abort();
        return 0;
    }
    uint64_t records = 0, samples = 0;
    for (int s = 0; s < m.n_shards; s++) {
        if (!memchr(m.shards[s].name, 0, sizeof m.shards[s].name)) abort();
        records += m.shards[s].records, samples += m.shards[s].samples;
    }
    if (m.n_shards < 0 || records != m.records || samples != m.samples) {
        fprintf(stderr, "manifest accepted with %d shards of %llu records / %llu samples, totals %llu / %llu\n",
                m.n_shards, (unsigned long long)records, (unsigned long long)samples, (unsigned long long)m.records,
                (unsigned long long)m.samples);
        abort();
    }
    m3ae_manifest back;
    if (m3ae_manifest_write(dir2, &m, &err) != 0) abort();
    if (m3ae_manifest_read(dir2, &back, &err) != 0) {
        fprintf(stderr, "a manifest written from an accepted one does not read back: %s\n", err.msg);
        abort();
    }
    if (back.n_shards != m.n_shards || back.records != m.records || back.samples != m.samples ||
        (m.n_shards && memcmp(back.shards, m.shards, sizeof *m.shards * (size_t)m.n_shards)))
        abort();
    m3ae_manifest_free(&back);
    m3ae_manifest_free(&m);
    return 0;
}
