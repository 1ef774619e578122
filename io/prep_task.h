/* Internal to the prep converters: the downstream datasets (VQA, classification, retrieval) of
 * io/FORMAT.md "Downstream datasets". A format parser (io/prep_vqa_rad.c, prep_slake.c,
 * prep_vqa_med.c, prep_melinda.c, prep_roco_retrieval.c) reads every split it can find into a list
 * of entries; m3ae_task_finish then applies the hold-out, builds the label vocabulary (from the
 * training split, from all splits as the official, or from a prepared dataset), picks the split to
 * write and hands its entries to the image list of io/prep_source.h with their labels. */
#ifndef M3AE_IO_PREP_TASK_H
#define M3AE_IO_PREP_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/json.h"
#include "io/manifest.h"
#include "io/prep.h"
#include "io/prep_source.h"

typedef struct {
    char *split;      /* train, val, test (heldout after the hold-out) */
    char *image;      /* the image as the input names it */
    char *path;       /* the image file */
    char *text;       /* question (vqa) or caption (cls, irtr) */
    char *answer;     /* raw answer (vqa), class name (cls), NULL (irtr) */
    char *qid;        /* question id as text (vqa), NULL otherwise */
    int answer_type;  /* 0 closed, 1 open, -1 none */
    uint64_t line;    /* input line (or 1-based entry of a JSON array) */
    char *norm;       /* normalised answer, alternatives joined by '#' (set by finish) */
} m3ae_task_entry;

/* What the official setup gives with --answer-vocab all (spec m3ae.md 4.1); 0 = not checked. */
typedef struct {
    const char *name;
    uint32_t labels;
    uint64_t train, val, test;
} m3ae_task_official;

typedef struct {
    const char *task;  /* "vqa", "cls", "irtr" */
    m3ae_task_entry *e;
    size_t n, cap;
    m3ae_manifest_input inputs[16];
    int n_inputs;
    uint64_t skipped;  /* left out by design (other language, C4), not rejects */
    char skipped_reason[128];
    int sort_labels;   /* cls: the class names sorted (the official sorted(set(...))) */
    int alternatives;  /* answers hold '#'-separated alternatives (VQA-Med 2019 test) */
    m3ae_task_official official;
    const char *want_split; /* the split being written (its input's broken lines are rejected) */
} m3ae_task_input;

/* A broken input line of split `split`: logged to rejected.jsonl and counted only when that split
 * is the one written (a broken test line does not count against the training dataset). */
void m3ae_task_reject(const m3ae_task_input *t, m3ae_prep_list *l, const char *split, uint64_t line,
                      const char *image, const char *text, const char *reason);

/* Records an annotation file read (its SHA-256 goes into the manifest). Returns 0 or an exit code. */
int m3ae_task_add_input(m3ae_task_input *t, const char *path, m3ae_error *err);
/* Adds one entry (strings copied; answer/qid may be NULL). Returns 0, or 5 (out of memory). */
int m3ae_task_add(m3ae_task_input *t, const char *split, const char *image, const char *path, const char *text,
                  size_t text_len, const char *answer, size_t answer_len, const char *qid, int answer_type,
                  uint64_t line, m3ae_error *err);
/* Hold-out, vocabulary, split selection; adds the chosen split's entries to l and fills mt (task,
 * split, label source, labels, split counts, inputs, official check). Returns 0 or an exit code. */
int m3ae_task_finish(const m3ae_prep_options *o, m3ae_task_input *t, m3ae_prep_list *l, m3ae_manifest_task *mt,
                     m3ae_error *err);
void m3ae_task_input_free(m3ae_task_input *t);
/* The log lines every converter prints (counts, images, vocabulary, SHA-256, official check). */
void m3ae_task_log(FILE *f, const m3ae_manifest_task *mt);

/* A JSON string, or a number as Python's str() writes an int (integral values) or a float (others,
 * shortest round-trip form), into buf; NULL for other types. */
const char *m3ae_task_json_text(const m3ae_json *v, char *buf, size_t cap, size_t *len);
/* Reads a whole file (NUL-terminated, malloc'ed). Returns 0, or an exit code with err. */
int m3ae_task_read_file(const char *path, char **text, size_t *len, m3ae_error *err);
/* dir of path ("." when it has none) into out. */
void m3ae_task_dirname(char *out, size_t cap, const char *path);
/* 1 when path is an existing directory / regular file. */
int m3ae_task_is_dir(const char *path);
int m3ae_task_is_file(const char *path);

/* Reads one JSON array of VQA questions (VQA-RAD, SLAKE): image_key names the image field; lang
 * (NULL: no filter) keeps q_lang == lang ("all": every language). */
int m3ae_task_read_vqa_json(const char *file, const char *split, const char *images, const char *image_key,
                            const char *lang, m3ae_task_input *t, m3ae_prep_list *l, m3ae_error *err);

/* The format parsers: read every split of o->input into t. Return 0 or an exit code with err. */
int m3ae_prep_parse_vqa_rad(const m3ae_prep_options *o, m3ae_task_input *t, m3ae_prep_list *l, m3ae_error *err);
int m3ae_prep_parse_slake(const m3ae_prep_options *o, m3ae_task_input *t, m3ae_prep_list *l, m3ae_error *err);
int m3ae_prep_parse_vqa_med(const m3ae_prep_options *o, m3ae_task_input *t, m3ae_prep_list *l, m3ae_error *err);
int m3ae_prep_parse_melinda(const m3ae_prep_options *o, m3ae_task_input *t, m3ae_prep_list *l, m3ae_error *err);
int m3ae_prep_parse_roco_retrieval(const m3ae_prep_options *o, m3ae_task_input *t, m3ae_prep_list *l,
                                   m3ae_error *err);

#endif
