/* A retrieval split for evaluation (spec 4.3; io/FORMAT.md "Retrieval groups"): every record of a
 * dataset once, in manifest order. Each record is one image (CLIP `clip` transform at image_size,
 * handed to a callback so that the caller encodes it and the split never holds the pixels); its
 * captions, tokenized and padded to max_text_len, become the texts. Who counts as a hit:
 *  - M3AE_IRTR_GROUP_PAIR (ROCO, the official): every (image, caption) is its own text, the hit of an
 *    image is its own caption(s), the hit of a text its own image;
 *  - M3AE_IRTR_GROUP_CAPTION (MedPix, where the images of a case share a caption): one text per
 *    distinct caption string; an image hits every text among its captions and a text every image
 *    that has it, so a caption query counts any image described by it (any image of its case).
 * The hit lists are CSR arrays (first[i] .. first[i+1]). */
#ifndef M3AE_IO_SAMPLERS_IRTR_H
#define M3AE_IO_SAMPLERS_IRTR_H

#include <stdint.h>

#include "common/error.h"
#include "io/tokenizer.h"

typedef enum { M3AE_IRTR_GROUP_PAIR = 0, M3AE_IRTR_GROUP_CAPTION = 1 } m3ae_irtr_grouping;

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
} m3ae_irtr_split;

/* Called for image i (0, 1, ... in order) with its (3,S,S) CLIP-normalised pixels (valid during
 * the call); 0, or -1 with err to stop the read. */
typedef int (*m3ae_irtr_image_fn)(void *ctx, int i, const float *image, m3ae_error *err);

/* Reads dataset folder dir (a pretraining dataset of m3ae prep, or a downstream one of task irtr).
 * 0, or -1 with err (the split is then empty and needs no free). */
int m3ae_irtr_split_read(const char *dir, const m3ae_irtr_split_config *c, m3ae_irtr_image_fn fn, void *ctx,
                         m3ae_irtr_split *s, m3ae_error *err);
void m3ae_irtr_split_free(m3ae_irtr_split *s);

#endif
