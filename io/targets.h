/* Reader of a downstream dataset's targets.jsonl (io/FORMAT.md "Downstream datasets"): per sample
 * the answer type and every acceptable label, for training targets and open/closed accuracy. */
#ifndef M3AE_IO_TARGETS_H
#define M3AE_IO_TARGETS_H

#include <stdint.h>

#include "common/error.h"

typedef struct {
    uint64_t n;            /* samples (= the manifest's samples) */
    int8_t *answer_type;   /* [n]: 0 closed, 1 open, -1 none (cls) */
    int32_t *label;        /* [n]: the record's label, -1 when outside the vocabulary */
    uint64_t *first;       /* [n + 1]: labels of sample i are all[first[i] .. first[i+1]) */
    int32_t *all;          /* every acceptable label (VQA-Med 2019 '#' alternatives) */
} m3ae_targets;

/* Reads DIR/targets.jsonl; checks that line i is sample i and that every label is below n_labels.
 * Returns 0, or -1 with err naming the file and line. */
int m3ae_targets_read(const char *dir, uint32_t n_labels, m3ae_targets *t, m3ae_error *err);
void m3ae_targets_free(m3ae_targets *t);

#endif
