/* Image-text retrieval evaluation (spec 4.3): R@1/5/10 image-to-text and text-to-image by full
 * cross-encoder scoring of every image x text pair of a split. The unimodal encoders run once per
 * image and once per text (m3ae_model_encode_*), the fusion and the score once per pair, in batches
 * of the model's max_batch (m3ae_model_score_pairs). The score is the ITM head's match row: zero-
 * shot for a pretraining checkpoint (the official alias, spec 1.6), and for a fine-tuned one its
 * irtr_head, which m3ae_irtr_load_weights puts into that row.
 *
 * Recall, with ties counted against the query (pessimistic: a model whose scores are all equal gets
 * R@k = 0 unless a query has more than n - k hits): the rank of a query is the number of non-hit
 * candidates whose score is >= its best hit's score, and it counts for R@k when rank < k. */
#ifndef M3AE_LAUNCH_EVAL_IRTR_H
#define M3AE_LAUNCH_EVAL_IRTR_H

#include <stdint.h>

#include "io/samplers/irtr.h"
#include "io/tokenizer.h"
#include "model/m3ae.h"

typedef struct {
    double i2t[3], t2i[3]; /* R@1, R@5, R@10 */
    int n_images, n_texts;
    int n_groups;          /* the split's groups (cases for case grouping, else the texts) */
    uint64_t n_pairs;      /* the split's (image, caption) samples */
    uint64_t scored;       /* image x text pairs scored */
    double seconds;
} m3ae_irtr_result;

/* R@1/5/10 from scores (n_images, n_texts) and the split's hit lists; i2t / t2i in r. */
void m3ae_irtr_recall(const float *scores, const m3ae_irtr_split *s, m3ae_irtr_result *r);

/* The whole evaluation of model m (evaluation mode is set here) on dataset dir: read, encode, score
 * every pair, recall. progress = 1 logs pairs/s and the ETA about every 10 s. scores_path (or NULL)
 * receives the score matrix: float32 little-endian, row-major (n_images, n_texts), images in
 * manifest order, texts in order of first appearance. 0, or -1 with err. */
int m3ae_irtr_evaluate(m3ae_model *m, const m3ae_tokenizer *tok, const char *dir, m3ae_irtr_grouping grouping,
                       uint64_t max_images, int progress, const char *scores_path, m3ae_irtr_result *r,
                       m3ae_error *err);

/* The default groups of dataset dir: pair for a roco-retrieval folder (task irtr), case for a folder
 * with a group table (m3ae prep --group-key), caption for another pretraining folder; caption when
 * the manifest cannot be read (the read reports that). */
m3ae_irtr_grouping m3ae_irtr_grouping_of(const char *dir);

/* Loads checkpoint path into m (by name, positions resized: m3ae_vqa_load_weights); when it has an
 * irtr_head (fine-tuned), that head is copied into the ITM match row the scoring reads. *zero_shot
 * = 1 when it has none (a pretraining checkpoint: the ITM head itself). 0, or -1 with err. */
int m3ae_irtr_load_weights(const char *path, m3ae_model *m, int *zero_shot, m3ae_error *err);

/* m3ae evaluate --task irtr (launch/cmd_evaluate.c dispatches here). */
typedef struct {
    const char *ckpt, *dir, *json, *groups, *scores; /* groups, json, scores may be NULL */
    long max_images;                                 /* 0: all */
} m3ae_irtr_eval_args;
int m3ae_evaluate_irtr(const m3ae_irtr_eval_args *a, int n_over, char **over);

#endif
