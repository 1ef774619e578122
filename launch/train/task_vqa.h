/* The VQA fine-tuning task for the trainer (spec 3.4): the VQA pass list (model/tasks/vqa.h), the
 * VQA sampler (io/samplers/vqa.h: clip_resizedcrop in training when random_crop = 1, clip for
 * validation), one loss denominator (the samples of the global step: the official
 * BCEWithLogits * n_labels is a mean over the batch), the VQA loss and accuracy metrics, and the
 * start from a PRETRAINING checkpoint (m3ae_vqa_init_from): every backbone tensor by name, the
 * vision position embeddings resized bicubically when the checkpoint has another image size, the
 * VQA head fresh (the official builds it after loading). */
#ifndef M3AE_LAUNCH_TRAIN_TASK_VQA_H
#define M3AE_LAUNCH_TRAIN_TASK_VQA_H

#include "io/tokenizer.h"
#include "launch/train/trainer.h"
#include "launch/train_config.h"

/* cfg (with cfg->model.vqa_labels set) and tok are borrowed and must outlive the task's use. */
typedef struct {
    const m3ae_train_config *cfg;
    const m3ae_tokenizer *tok;
    const char *train_dir; /* the folder whose source gets clip_resizedcrop (random_crop = 1); NULL: none */
} m3ae_vqa_task_ctx;

m3ae_task m3ae_task_vqa(m3ae_vqa_task_ctx *ctx);

/* Loads the weights of checkpoint `path` (a pretraining or fine-tuning checkpoint of any image size)
 * into model m: every tensor of the checkpoint that m has, by name; the CLIP positional embedding
 * resized from the checkpoint's grid to m's (CLS row kept, bicubic as F.interpolate, align_corners
 * False); tensors of m that the checkpoint lacks (the VQA head) keep their values and are listed in
 * the log; a checkpoint tensor that m lacks is skipped; fixed tables of another grid (the MIM
 * decoder's sin-cos) keep m's own. Other shapes must agree. 0, or -1 with err. */
int m3ae_vqa_init_from(void *ctx, const char *path, m3ae_model *m, m3ae_error *err);
/* The same; *fresh_head (may be NULL) receives the number of vqa_head tensors the checkpoint lacked
 * (evaluation requires 0). */
int m3ae_vqa_load_weights(const char *path, m3ae_model *m, int *fresh_head, m3ae_error *err);

#endif
