/* `m3ae prep inspect`: verifies a converted dataset: the manifest, every shard's schema against it,
 * every record's CRC32C and header, the per-shard checksums. */
#ifndef M3AE_IO_PREP_INSPECT_H
#define M3AE_IO_PREP_INSPECT_H

#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

typedef struct {
    int shards;
    uint64_t records, samples, bytes;
} m3ae_inspect_summary;

/* Prints the manifest and one line per verified shard to out (may be NULL). Returns 0, or an exit
 * code (3: bad data; the message names the shard and the key) with err. */
int m3ae_prep_inspect(const char *dir, FILE *out, m3ae_inspect_summary *sum, m3ae_error *err);
/* The same, and for a downstream dataset (manifest "task") the task, split, label vocabulary and
 * inputs, then the first `show` records: image, question, answer, label and its name. */
int m3ae_prep_inspect_show(const char *dir, FILE *out, int show, m3ae_inspect_summary *sum, m3ae_error *err);

#endif
