/* `m3ae prep`: converts images + captions (jsonl, ROCO, MedICaT) into the shard format of
 * io/FORMAT.md. Deterministic: the same input gives byte-identical shards whatever --threads is
 * (threads only decode and resize; records are written in input order with MDB_APPEND).
 *
 * The output appears atomically: everything is written under OUT.tmp-<pid>/ (each shard as
 * shard-NNNNN.tmp/ renamed to shard-NNNNN/ when complete, then manifest.json), and that folder is
 * renamed to OUT at the end. An interrupted run leaves only OUT.tmp-<pid>/, never OUT. */
#ifndef M3AE_IO_PREP_H
#define M3AE_IO_PREP_H

#include <stdint.h>

#include "common/error.h"

#define M3AE_PREP_CONVERTER_VERSION "1"

typedef struct {
    const char *format;  /* "jsonl", "roco", "medicat" */
    const char *input;   /* jsonl file; ROCO captions file or folder; MedICaT release jsonl */
    const char *out;     /* dataset folder to create (must not exist) */
    int shards;          /* >= 1 */
    int store_size;      /* shorter image side stored (default 384) */
    int threads;         /* decode/resize threads (>= 1) */
    int min_words;       /* texts with fewer whitespace words are dropped (default 3) */
    double max_reject;   /* fail (exit 3) when more than this fraction of input texts is rejected */
    int progress;        /* 0: quiet; 1: progress lines on stderr (\r on a TTY) */
    /* downstream formats (vqa-rad, slake, vqa-med-2019, melinda, roco-retrieval; io/prep_task.h) */
    const char *split;       /* the split to write: train (default), val, test, heldout */
    const char *images;      /* image folder (NULL: the format's default beside the input) */
    const char *answer_vocab; /* "train" (default), "all" (official: every split), or a DATASET_DIR */
    const char *lang;        /* SLAKE q_lang kept: "en" (default), "zh" or "all" */
    const char *label_field; /* MELINDA label column (default p_meth_label) */
    double holdout;          /* > 0: this fraction of the training images becomes split "heldout" */
    int subset;              /* ROCO retrieval: val/test keep the first N pairs (default 2000; 0 = all) */
    const char *group_key;   /* jsonl: keep this field of every line as the record's group (groups.jsonl) */
} m3ae_prep_options;

typedef struct {
    uint64_t input_texts;      /* (image, text) pairs read from the input */
    uint64_t input_images;     /* distinct images referenced */
    uint64_t records, samples; /* written: images, (image, caption) pairs */
    uint64_t rejected_texts;   /* pairs not written: text too short, or image missing/corrupt */
    uint64_t rejected_images;  /* images not written: missing, corrupt, or without a usable text */
    uint64_t bytes;            /* total size of the data.mdb files */
    double seconds;
    char tmp_dir[4200];        /* where a failed run left its partial output ("" if none) */
} m3ae_prep_summary;

/* Runs the conversion. Returns M3AE_EXIT_OK, or an exit code (usage 2, data 3 incl. too many
 * rejected, system 5) with err set. */
int m3ae_prep_run(const m3ae_prep_options *o, m3ae_prep_summary *s, m3ae_error *err);

/* The cleaning rule of the official preprocessing: re.sub(r"\s+", " ", text.strip()), with Python's
 * Unicode whitespace. Writes the cleaned NUL-terminated text to out (capacity >= len + 1) and
 * returns the number of whitespace-separated words. */
int m3ae_prep_clean_text(const char *text, size_t len, char *out);

#endif
