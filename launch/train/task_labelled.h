/* What the fine-tuning tasks with one label per sample share (VQA: launch/train/task_vqa.h;
 * classification: launch/train/task_cls.h): the labelled sampler's source over a downstream folder
 * (clip_resizedcrop only for the training folder when random_crop = 1, clip for validation), the
 * FLOPs of a pooled-head pass, and the start from a checkpoint (m3ae_task_load_weights: every
 * backbone tensor by name, the vision position embeddings resized bicubically when the checkpoint
 * has another image size, the head fresh unless the checkpoint has it). */
#ifndef M3AE_LAUNCH_TRAIN_TASK_LABELLED_H
#define M3AE_LAUNCH_TRAIN_TASK_LABELLED_H

#include <stddef.h>

#include "io/tokenizer.h"
#include "launch/train/trainer.h"
#include "launch/train_config.h"

/* cfg (with its head's label count set) and tok are borrowed and must outlive the task's use. */
typedef struct {
    const m3ae_train_config *cfg;
    const m3ae_tokenizer *tok;
    const char *train_dir; /* the folder whose source gets clip_resizedcrop (random_crop = 1); NULL: none */
} m3ae_label_task_ctx;

/* The source of a labelled task over dir: its manifest must be of `task` ("vqa", "cls") with
 * n_labels labels (what / formats for the messages, as m3ae_task_dataset_read). */
m3ae_task_source *m3ae_label_source_open(const m3ae_label_task_ctx *t, const char *dir, int leases, int rank, int world,
                                         const char *task, const char *what, const char *formats, int n_labels,
                                         m3ae_error *err);

/* FLOPs per training sample of a pooled-head pass with n_labels outputs: the ITM pass's backbone
 * (text + full image, fusion to the poolers) with the classifier head instead of the ITM head;
 * its backward reaches everything, like ITM: 3 x forward. */
void m3ae_label_flops(const m3ae_train_config *c, int n_labels, const char *what, double *work, double *official,
                      char *detail, size_t detail_len);

/* Loads the weights of checkpoint `path` (a pretraining or fine-tuning checkpoint of any image size)
 * into model m: every tensor of the checkpoint that m has, by name; the CLIP positional embedding
 * resized from the checkpoint's grid to m's (CLS row kept, bicubic as F.interpolate, align_corners
 * False); tensors of m that the checkpoint lacks (a fresh head) keep their values and are listed in
 * the log; a checkpoint tensor that m lacks is skipped; fixed tables of another grid (the MIM
 * decoder's sin-cos) keep m's own. Other shapes must agree. *fresh_head (may be NULL) receives the
 * number of tensors named head.* ("cls_head") that the checkpoint lacked (evaluation requires 0).
 * 0, or -1 with err. */
int m3ae_task_load_weights(const char *path, m3ae_model *m, const char *head, int *fresh_head, m3ae_error *err);

#endif
