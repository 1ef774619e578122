/* What every sampler of io/samplers/ does to one record: the image through the CLIP transform and
 * the caption tokenized and padded. One place, so that pretraining, VQA, classification and
 * retrieval read a record the same way.
 *
 *   m3ae_sample_image   record pixels (grey replicated to RGB) -> (3,S,S) CLIP-normalised: clip, or
 *                       clip_resizedcrop (RandomResizedCrop scale (0.9,1.0), bicubic) drawn from
 *                       (seed, M3AE_RNG_CROP, epoch, sample), so that resume, rank and thread
 *                       counts give the same crops
 *   m3ae_sample_arrays_alloc / _free  the images, texts and sample ids of a batch
 *   m3ae_sample_text    caption c of the record -> ids (L) <s> ... </s> <pad>... and mask (L) 1 real,
 *                       0 padding; scratch holds L ids (the pipeline worker's scratch) */
#ifndef M3AE_IO_SAMPLERS_COMMON_H
#define M3AE_IO_SAMPLERS_COMMON_H

#include <stdint.h>

#include "common/error.h"
#include "io/shard.h"
#include "io/tokenizer.h"

/* The arrays every sampler's batch has: images (B,3,S,S), text ids and masks (B,L), sample ids (B),
 * allocated with m3ae_alloc (fatal when out of memory, naming the array) and freed together. */
void m3ae_sample_arrays_alloc(int B, int S, int L, float **images, int32_t **text_ids, int32_t **text_masks,
                              int64_t **sample_ids);
void m3ae_sample_arrays_free(float *images, int32_t *text_ids, int32_t *text_masks, int64_t *sample_ids);

/* 0, or -1 with err (out of memory, a transform error). */
int m3ae_sample_image(const m3ae_record_view *v, int size, int random_crop, uint64_t seed, uint64_t epoch,
                      uint64_t sample, float *out, m3ae_error *err);
/* The number of real tokens, or -1 with err naming sample g and its image id. */
int m3ae_sample_text(const m3ae_tokenizer *tok, const m3ae_record_view *v, uint32_t c, int L, uint64_t g,
                     int32_t *scratch, int32_t *ids, int32_t *mask, m3ae_error *err);

#endif
