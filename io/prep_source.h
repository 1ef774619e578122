/* Internal to the prep converters (io/prep*.c): the list of images with their texts that a format
 * parser builds, and the rejection log. Not for other rooms. */
#ifndef M3AE_IO_PREP_SOURCE_H
#define M3AE_IO_PREP_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

typedef struct {
    char *path;       /* file to decode */
    char *image_id;   /* the image as named in the input (stored in the record) */
    char **captions;  /* cleaned texts kept */
    uint32_t n_captions, cap;
    uint32_t n_texts; /* texts read for this image (kept + dropped) */
    char *question, *answer; /* task fields (NULL when absent) */
    int32_t label;
    /* downstream (io/prep_task.c): question id, answer type (0 closed, 1 open, -1 none), the split
     * it came from, every acceptable label (VQA-Med 2019 '#' alternatives in the vocabulary) */
    char *qid, *split;
    int answer_type;
    int32_t *labels;
    uint32_t n_labels;
    uint64_t line;    /* first input line naming this image */
    int grouped;      /* in the image_id table (texts grouped by image) */
    char *group;      /* jsonl --group-key: the line's KEY value as text (NULL without the option) */
} m3ae_prep_item;

typedef struct {
    m3ae_prep_item *items;
    size_t n, cap;
    /* image_id -> item index (open addressing), for grouping texts by image */
    size_t *table;
    size_t table_cap;
    int min_words;
    uint64_t input_texts, rejected_texts;
    FILE *rejected; /* rejected.jsonl */
} m3ae_prep_list;

/* Adds one (image, text) pair: cleans the text, drops it (logged) when too short, groups it with
 * the image's earlier texts. path is where the image file is; image_id how the input names it.
 * group = 0 gives the pair its own item (task data with question/answer/label), group = 2 adds the
 * text to the last item. Returns the item index or -1 (out of memory). */
long m3ae_prep_add(m3ae_prep_list *l, const char *path, const char *image_id, const char *text, size_t text_len,
                   uint64_t line, int group, m3ae_error *err);
/* Logs a rejected entry to rejected.jsonl: kind "text" or "image", with its reason. */
void m3ae_prep_reject(m3ae_prep_list *l, const char *kind, uint64_t line, const char *image_id, const char *text,
                      const char *reason);
void m3ae_prep_list_free(m3ae_prep_list *l);

/* Length of the Unicode whitespace character (Python str.isspace) at s, 0 if none. */
size_t m3ae_prep_space_len(const unsigned char *s, size_t n);

/* Joins dir of `file` with rel (rel absolute: kept). */
void m3ae_prep_join(char *out, size_t cap, const char *file, const char *rel);

/* The format parsers: fill l from o->input. Return 0, or an exit code with err. */
/* group_key (or NULL): the JSON field every line must have (string or number), kept in item->group. */
int m3ae_prep_parse_jsonl(const char *input, const char *group_key, m3ae_prep_list *l, m3ae_error *err);
int m3ae_prep_parse_roco(const char *input, m3ae_prep_list *l, m3ae_error *err);
int m3ae_prep_parse_medicat(const char *input, m3ae_prep_list *l, m3ae_error *err);

/* Reads one line (any length) into *buf (grown as needed); returns its length or -1 at EOF. */
long m3ae_prep_getline(char **buf, size_t *cap, FILE *f);

#endif
