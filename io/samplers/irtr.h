/* A retrieval split for evaluation (spec 4.3; io/FORMAT.md "Retrieval groups"): every record of a
 * dataset once, in manifest order. Each record is one image (CLIP `clip` transform at image_size,
 * handed to a callback so that the caller encodes it and the split never holds the pixels); its
 * captions, tokenized and padded to max_text_len, become the texts. Who counts as a hit:
 *  - M3AE_IRTR_GROUP_PAIR (ROCO, the official): every (image, caption) is its own text, the hit of an
 *    image is its own caption(s), the hit of a text its own image;
 *  - M3AE_IRTR_GROUP_CAPTION (MedPix, where the images of a case share a caption): one text per
 *    distinct caption string; an image hits every text among its captions and a text every image
 *    that has it, so a caption query counts any image described by it;
 *  - M3AE_IRTR_GROUP_CASE (MedPix by case, the dataset's group table of m3ae prep --group-key): the
 *    texts are the distinct captions as for CAPTION; an image hits every caption of any image of its
 *    case (group), a text every image of every case that has it.
 * The hit lists are CSR arrays (first[i] .. first[i+1]). */
#ifndef M3AE_IO_SAMPLERS_IRTR_H
#define M3AE_IO_SAMPLERS_IRTR_H

#include <stdint.h>

#include "common/error.h"
#include "io/pipeline.h"
#include "io/tokenizer.h"

typedef enum { M3AE_IRTR_GROUP_PAIR = 0, M3AE_IRTR_GROUP_CAPTION = 1, M3AE_IRTR_GROUP_CASE = 2 } m3ae_irtr_grouping;

typedef struct {
    const m3ae_tokenizer *tokenizer; /* borrowed */
    int image_size, max_text_len;
    m3ae_irtr_grouping grouping;
    uint64_t max_images; /* read at most this many records (0: all): validation subsets for speed */
} m3ae_irtr_split_config;

typedef struct {
    int n_images, n_texts, L;
    int32_t *text_ids, *text_masks; /* (n_texts,L) <s> caption </s> <pad>..., 1 real 0 padding */
    int *img_first, *img_texts;     /* (n_images+1), hits: the texts of image i */
    int *txt_first, *txt_images;    /* (n_texts+1), hits: the images of text j */
    uint64_t n_pairs;               /* (image, caption) pairs read (the samples) */
    int n_groups;                   /* case: the distinct groups (cases) among the images; else n_texts */
} m3ae_irtr_split;

/* Called for image i (0, 1, ... in order) with its (3,S,S) CLIP-normalised pixels (valid during
 * the call); 0, or -1 with err to stop the read. */
typedef int (*m3ae_irtr_image_fn)(void *ctx, int i, const float *image, m3ae_error *err);

/* Reads dataset folder dir (a pretraining dataset of m3ae prep, or a downstream one of task irtr).
 * 0, or -1 with err (the split is then empty and needs no free). */
int m3ae_irtr_split_read(const char *dir, const m3ae_irtr_split_config *c, m3ae_irtr_image_fn fn, void *ctx,
                         m3ae_irtr_split *s, m3ae_error *err);
void m3ae_irtr_split_free(m3ae_irtr_split *s);

/* ---- training: the sampler of retrieval fine-tuning (a m3ae_sampler of io/pipeline.h) ----
 * A sample is an (image, caption) pair of the split, as the official dataset enumerates them. Its
 * image through the CLIP transform (clip_resizedcrop when random_crop = 1, the official training
 * transform, drawn from (seed, M3AE_RNG_CROP, epoch, sample)); its K candidate texts: the positive
 * caption first, then K - 1 (official draw_false_text = 15) captions of OTHER images of the split,
 * each uniform over them from (seed, M3AE_RNG_IRTR, epoch, sample, k), so that a resumed run and any
 * rank count draw the same negatives. Every caption of the split is tokenized once at init. */
typedef struct {
    const m3ae_tokenizer *tokenizer; /* borrowed */
    int image_size, max_text_len;
    int random_crop;
    int candidates; /* K >= 2 */
    uint64_t seed;
} m3ae_irtr_sampler_config;

/* One batch, read in place by the caller while leased: B images, B * K pairs (row i * K + k). */
typedef struct {
    int B, S, L, K;
    float *images;            /* (B,3,S,S) CLIP-normalised */
    int32_t *text_ids;        /* (B*K,L) */
    int32_t *text_masks;      /* (B*K,L) */
    int64_t *sample_ids;      /* (B*K) pair ids sample * K + k: the dropout counter */
    int64_t *samples;         /* (B) global sample indices */
    uint64_t epoch, position; /* where this batch starts (pipeline state before it) */
} m3ae_irtr_batch;

typedef struct {
    m3ae_irtr_sampler_config cfg;
    m3ae_irtr_split texts; /* pair groups: text t = sample t */
    int *image_of;         /* (n_texts) the image of text t */
} m3ae_irtr_sampler;

/* Reads every caption of dataset dir (no pixels); 0, or -1 with err. */
int m3ae_irtr_sampler_init(m3ae_irtr_sampler *s, const char *dir, const m3ae_irtr_sampler_config *c, m3ae_error *err);
void m3ae_irtr_sampler_free(m3ae_irtr_sampler *s);
/* The vtable over s (borrowed: s must outlive the pipeline). */
m3ae_sampler m3ae_irtr_sampler_table(m3ae_irtr_sampler *s);
/* The text of candidate k of sample g in epoch (k = 0: g itself): exposed for tests. */
int m3ae_irtr_candidate(const m3ae_irtr_sampler *s, uint64_t epoch, uint64_t g, int k);

#endif
