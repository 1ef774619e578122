/* manifest.json at the root of a converted dataset (io/FORMAT.md): the list of shards, in sample
 * order, with their record and sample counts and checksums. Written last and atomically (temporary
 * file, fsync, rename): a dataset without manifest.json is not a dataset. */
#ifndef M3AE_IO_MANIFEST_H
#define M3AE_IO_MANIFEST_H

#include <stdint.h>

#include "common/error.h"

#define M3AE_MANIFEST_FORMAT_VERSION 1

typedef struct {
    char name[64];       /* directory name under the dataset root, e.g. "shard-00000" */
    uint64_t records;    /* images */
    uint64_t samples;    /* (image, caption) pairs */
    uint64_t bytes;      /* size of data.mdb */
    uint32_t checksum;   /* CRC32C over the 4-byte LE CRCs of its records (= its schema's) */
} m3ae_manifest_shard;

typedef struct {
    int format_version;
    char source[32];            /* jsonl, roco, medicat, phantom */
    char input[1024];           /* the converter's --input, for the record */
    char converter_version[32];
    int store_size;
    uint64_t records, samples, rejected;
    int n_shards;
    m3ae_manifest_shard *shards; /* malloc'ed */
} m3ae_manifest;

/* Writes dir/manifest.json atomically (dir/manifest.json.tmp, fsync, rename, fsync dir). */
int m3ae_manifest_write(const char *dir, const m3ae_manifest *m, m3ae_error *err);
/* Reads and checks dir/manifest.json. A missing file gives a message saying the dataset is
 * incomplete (an interrupted `m3ae prep`) or DIR is not a dataset. */
int m3ae_manifest_read(const char *dir, m3ae_manifest *m, m3ae_error *err);
void m3ae_manifest_free(m3ae_manifest *m);

#endif
