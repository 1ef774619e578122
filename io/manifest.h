/* manifest.json at the root of a converted dataset (io/FORMAT.md): the list of shards, in sample
 * order, with their record and sample counts and checksums. Written last and atomically (temporary
 * file, fsync, rename): a dataset without manifest.json is not a dataset. */
#ifndef M3AE_IO_MANIFEST_H
#define M3AE_IO_MANIFEST_H

#include <stdint.h>

#include "common/error.h"

#define M3AE_MANIFEST_FORMAT_VERSION 1
/* Version of the downstream keys (task, labels, ...), checked when "task" is present. */
#define M3AE_MANIFEST_DOWNSTREAM_VERSION 1

typedef struct {
    char name[64];       /* directory name under the dataset root, e.g. "shard-00000" */
    uint64_t records;    /* images */
    uint64_t samples;    /* (image, caption) pairs */
    uint64_t bytes;      /* size of data.mdb */
    uint32_t checksum;   /* CRC32C over the 4-byte LE CRCs of its records (= its schema's) */
} m3ae_manifest_shard;

/* Downstream datasets (io/FORMAT.md "Downstream datasets"): written when task[0] != 0. */
typedef struct {
    char name[32];       /* train, heldout, val, test */
    uint64_t questions;  /* entries (questions, captions) of that split in the input */
    uint64_t images;     /* distinct images among them */
} m3ae_manifest_split;

typedef struct {
    char path[1024];
    char sha256[65];
} m3ae_manifest_input;

typedef struct {
    char task[8];              /* "" (pretraining data), "vqa", "cls", "irtr" */
    char split[32];            /* the split this folder holds */
    char label_source[1100];   /* "train", "all" or the DATASET_DIR the labels were taken from */
    char **labels;             /* label i = labels[i] (answers for vqa, class names for cls) */
    uint32_t n_labels;
    m3ae_manifest_split splits[8];
    int n_splits;
    m3ae_manifest_input *inputs; /* every annotation file read, with its SHA-256 */
    int n_inputs;
    uint64_t questions, images; /* written: samples and distinct images */
    uint64_t unseen;           /* written samples whose answer/class is not a label (label -1) */
    uint64_t skipped;          /* input entries left out by design (another language, category C4) */
    char skipped_reason[128];
    char official[512];        /* with label_source "all": the comparison with the official counts */
    char targets[64];          /* the side table, "targets.jsonl" (vqa, cls) or "" */
} m3ae_manifest_task;

typedef struct {
    int format_version;
    char source[32];            /* jsonl, roco, medicat, phantom */
    char input[1024];           /* the converter's --input, for the record */
    char converter_version[32];
    int store_size;
    uint64_t records, samples, rejected;
    int n_shards;
    m3ae_manifest_shard *shards; /* malloc'ed */
    m3ae_manifest_task task;     /* downstream fields (task.task "" for pretraining data) */
    /* The group side table of `m3ae prep --format jsonl --group-key KEY` (io/FORMAT.md "Group
     * table"): its file name ("groups.jsonl", "" when none) and the JSON field it holds. */
    char groups[64];
    char group_key[128];
} m3ae_manifest;

/* Writes dir/manifest.json atomically (dir/manifest.json.tmp, fsync, rename, fsync dir). */
int m3ae_manifest_write(const char *dir, const m3ae_manifest *m, m3ae_error *err);
/* Reads and checks dir/manifest.json. A missing file gives a message saying the dataset is
 * incomplete (an interrupted `m3ae prep`) or DIR is not a dataset. */
int m3ae_manifest_read(const char *dir, m3ae_manifest *m, m3ae_error *err);
void m3ae_manifest_free(m3ae_manifest *m);
/* Frees the labels and inputs of a task (m3ae_manifest_free calls it). */
void m3ae_manifest_task_free(m3ae_manifest_task *t);

#endif
