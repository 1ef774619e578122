/* The pretraining configuration: the model keys (model/config.h) plus the training keys below, read
 * from a file of `key = value` lines (`#` starts a comment) and overridden by `key=value` arguments.
 * Key names follow the official configuration where one exists (max_steps, warmup_steps,
 * learning_rate, weight_decay, batch_size, per_gpu_batchsize, lr_mult_head, ...). Every key is
 * validated: an unknown key is an error that suggests the closest valid one; a bad value names the
 * key and the accepted range. `preset` (base, small, tiny) must come first: it sets every model key;
 * `preset = custom` sets none: the model keys that follow describe the model (sizes no preset has,
 * as tools/convert_checkpoint.py writes them). */
#ifndef M3AE_LAUNCH_TRAIN_CONFIG_H
#define M3AE_LAUNCH_TRAIN_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "model/config.h"

typedef struct {
    m3ae_config model;
    char preset[32];
    /* optimisation (spec 3.1) */
    int64_t max_steps;
    double warmup_steps; /* < 1: a fraction of max_steps (official 0.1); >= 1: steps */
    double learning_rate, weight_decay, lr_mult_head, lr_mult_multi_modal;
    double adam_beta1, adam_beta2, adam_eps, grad_clip;
    int64_t batch_size;        /* global batch per optimizer step */
    int64_t per_gpu_batchsize; /* micro-batch per rank */
    int64_t seed;
    /* data */
    char vocab[1024];
    int64_t loader_threads;
    int64_t random_crop; /* 0: clip, 1: clip_resizedcrop */
    char mlm_mode[16];   /* official | bernoulli */
    /* events */
    int64_t log_every, val_every, val_batches, ckpt_every, keep_last, stop_after;
    /* machine */
    char device[16]; /* compute backend: cpu | cuda (model/backend.h) */
    int64_t threads; /* compute threads per rank (0: OpenMP default) */
    double peak_tflops; /* for MFU; 0: from the device table */
    /* gradient all-reduce (dist/ring.h, dist/buckets.h) */
    char allreduce[8]; /* auto | ring | hier | mpi */
    double bucket_mb;  /* gradient bucket size in MiB (the first bucket is smaller) */
    /* observability and faults */
    char trace[1024];        /* Chrome trace-event JSON of the run ("" off; relative: inside the run folder) */
    double watchdog_s;       /* a step longer than this ends the job (0 off) */
    int64_t straggler_every; /* steps between straggler lines (0 off) */
    /* retrieval fine-tuning and evaluation (launch/train/task_irtr.h, launch/eval_irtr.h) */
    int64_t irtr_candidates;      /* captions per image in training: the positive + irtr_candidates - 1 (official 16) */
    int64_t irtr_val_images;      /* validation recall on the first N images of the val split (0 = all) */
    int64_t irtr_eval_image_size; /* m3ae evaluate --task irtr image size (0 = image_size; official test script 288) */
} m3ae_train_config;

/* Defaults (the `small` model with the official optimizer); vocab_dir is the default vocabulary. */
void m3ae_train_config_defaults(m3ae_train_config *c);

/* Sets one key (training or model). Errors as described above. */
int m3ae_train_config_set(m3ae_train_config *c, const char *key, const char *value, m3ae_error *err);
/* Reads a file of `key = value` lines; errors name file:line. */
int m3ae_train_config_load(m3ae_train_config *c, const char *path, m3ae_error *err);
/* Applies `key = value` lines held in a string (a checkpoint's config attribute). */
int m3ae_train_config_from_text(m3ae_train_config *c, const char *text, m3ae_error *err);
/* Applies one "key=value" argument. */
int m3ae_train_config_override(m3ae_train_config *c, const char *arg, m3ae_error *err);
/* A command's configuration: the defaults, then the file `path` (NULL: none), then the n
 * "key=value" arguments in order. 0, or -1 with err naming the file line or the argument. */
int m3ae_train_config_build(m3ae_train_config *c, const char *path, char *const *overrides, int n, m3ae_error *err);
/* Checks relations (batch sizes, warm-up, model validation). world = number of ranks. */
int m3ae_train_config_validate(const m3ae_train_config *c, int world, m3ae_error *err);

/* Warm-up in steps, and gradient-accumulation micro-steps per optimizer step. */
int64_t m3ae_train_warmup_steps(const m3ae_train_config *c);
int64_t m3ae_train_accum(const m3ae_train_config *c, int world);

/* Writes every key as `key = value` (a file this parser reads back to the same configuration). */
void m3ae_train_config_write(const m3ae_train_config *c, FILE *f);
/* The same into a buffer (for checkpoint attributes); returns the length. */
size_t m3ae_train_config_text(const m3ae_train_config *c, char *buf, size_t n);

/* Resume: the checkpoint's configuration against this run's. Keys that would change the data order
 * or the model (every model key, seed, batch_size, random_crop, mlm_mode, ...) go to `refused`, the
 * free ones (1 from m3ae_train_config_resume_free: max_steps, log_every, learning_rate, ...; the
 * list is in train_config.c) to `free_keys`, each as "key: old -> new" joined by ", ". Returns the
 * number of refused differences. */
int m3ae_train_config_resume_diff(const m3ae_train_config *ckpt, const m3ae_train_config *now, char *refused,
                                  size_t refused_len, char *free_keys, size_t free_len);
int m3ae_train_config_resume_free(const char *key);

#endif
