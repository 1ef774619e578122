/* The labelled sampler (a m3ae_sampler of io/pipeline.h) over a downstream dataset with one class
 * label per record (io/FORMAT.md "Downstream datasets"): task "vqa" (the record's caption is the
 * question, the label its answer) and task "cls" (MELINDA: the caption, the method class). Per
 * sample: the image through the CLIP transform (clip, or clip_resizedcrop in training as the
 * official fine-tuning: io/samplers/common.h), the text tokenized and padded to max_text_len (32 VQA,
 * 128 MELINDA), and the record's label (-1: a label outside the training vocabulary). No masking. */
#ifndef M3AE_IO_SAMPLERS_LABELLED_H
#define M3AE_IO_SAMPLERS_LABELLED_H

#include <stdint.h>

#include "common/error.h"
#include "io/pipeline.h"
#include "io/tokenizer.h"

typedef struct {
    const m3ae_tokenizer *tokenizer; /* borrowed; must outlive the sampler */
    int image_size;                  /* 384 fine-tuning */
    int max_text_len;                /* 32 (official VQA), 128 (official MELINDA) */
    int random_crop;                 /* 1: clip_resizedcrop, 0: clip (evaluation) */
    int n_labels;                    /* labels of the dataset's vocabulary: every record label < n_labels */
    uint64_t seed;
} m3ae_label_sampler_config;

/* One batch, read in place by the caller while leased. */
typedef struct {
    int B, S, L;
    float *images;            /* (B,3,S,S) CLIP-normalised */
    int32_t *text_ids;        /* (B,L) <s> text </s> <pad>... */
    int32_t *text_masks;      /* (B,L) 1 real, 0 padding */
    int32_t *labels;          /* (B) label, -1 unseen */
    int64_t *sample_ids;      /* (B) global sample indices (= targets.jsonl lines) */
    int64_t n_labelled;       /* samples with label >= 0 */
    uint64_t epoch, position; /* where this batch starts (pipeline state before it) */
} m3ae_label_batch;

typedef struct {
    m3ae_label_sampler_config cfg;
} m3ae_label_sampler;

/* Checks the configuration; 0, or -1 with err. */
int m3ae_label_sampler_init(m3ae_label_sampler *s, const m3ae_label_sampler_config *cfg, m3ae_error *err);
/* The vtable over s (borrowed: s must outlive the pipeline). */
m3ae_sampler m3ae_label_sampler_table(m3ae_label_sampler *s);

/* Outside a pipeline (evaluation reads every record once, in order): a batch of capacity B, and
 * sample i of it built from record view v (caption c) as global sample g of epoch; scratch holds
 * max_text_len ids. 0, or -1 with err. */
void *m3ae_label_batch_alloc(const m3ae_label_sampler *s, int B);
void m3ae_label_batch_free(void *batch);
int m3ae_label_sample_build(const m3ae_label_sampler *s, const m3ae_record_view *v, uint32_t c, uint64_t epoch,
                            uint64_t g, m3ae_label_batch *b, int i, int32_t *scratch, m3ae_error *err);

#endif
