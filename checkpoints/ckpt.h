/* Training checkpoints on the parameter registry (issue 5 format, version 1):
 *   /model/<official state_dict key>                 float32, every tensor of the registry
 *   /optimizer/exp_avg/<key>, /optimizer/exp_avg_sq/<key>   the AdamW moments (tensors that get a gradient)
 *   root attributes: format ("m3ae-checkpoint"), format_version, step, epoch, position, seed,
 *   world_size, config (the configuration text), data (dataset summary), kind (training|release),
 *   has_optimizer, m3ae_version, m3ae_commit, and attr_sha256: the SHA-256 of all of these, checked by
 *   every reader (files without it were written by an older m3ae and are accepted, attributes unchecked)
 * Files are written atomically (checkpoints/h5file.h). In a run folder they are
 * RUN_DIR/checkpoints/step_0001000.h5 with RUN_DIR/checkpoints/latest holding the newest file name.
 * No MPI here: launch/ decides that rank 0 writes. */
#ifndef M3AE_CHECKPOINTS_CKPT_H
#define M3AE_CHECKPOINTS_CKPT_H

#include <stdint.h>

#include "common/error.h"
#include "model/registry.h"

#define M3AE_CKPT_FORMAT_VERSION 1
#define M3AE_CKPT_CONFIG_LEN 16384
#define M3AE_CKPT_ATTR_CHECKSUM "attr_sha256"

typedef struct {
    int64_t step;             /* optimizer steps done */
    int64_t epoch, position;  /* loader state */
    int64_t seed;
    int64_t world_size;
    char config[M3AE_CKPT_CONFIG_LEN]; /* configuration text (key = value lines) */
    char data[1024];                   /* what it was trained on ("DIR: N samples, ...") */
    char kind[32];                     /* "training" (with optimizer state) or "release" */
    char metrics[8192];                /* releases: the final metrics (JSON lines) */
    char version[64], commit[64];      /* filled on load */
    int has_optimizer;                 /* filled on load: the file holds the AdamW moments */
    int attr_checksum;                 /* filled on load: 1 attributes verified, 0 no checksum (an older file) */
} m3ae_ckpt_meta;

/* Saves params (and, when exp_avg is not NULL, the AdamW moments) to `path` atomically. */
int m3ae_ckpt_save(const char *path, const m3ae_registry *r, const float *params, const float *exp_avg,
                   const float *exp_avg_sq, const m3ae_ckpt_meta *meta, m3ae_error *err);

/* Model weights only (float32, or bfloat16 when bf16), kind = "release": what a lab publishes. */
int m3ae_ckpt_save_release(const char *path, const m3ae_registry *r, const float *params, const m3ae_ckpt_meta *meta,
                           int bf16, m3ae_error *err);

/* Loads into arenas laid out by r. Every name, shape and dtype is checked first; all mismatches are
 * printed (missing, unexpected, other shape) and summarised in err, and nothing is loaded then.
 * exp_avg == NULL loads the weights only (`--init-from`); strict == 0 then tolerates missing and
 * unexpected keys (reported as warnings) but never a shape mismatch. meta may be NULL. */
int m3ae_ckpt_load(const char *path, const m3ae_registry *r, float *params, float *exp_avg, float *exp_avg_sq,
                   m3ae_ckpt_meta *meta, int strict, m3ae_error *err);

/* Reads only the attributes. */
int m3ae_ckpt_read_meta(const char *path, m3ae_ckpt_meta *meta, m3ae_error *err);

/* RUN_DIR/checkpoints/step_<step>.h5: save, then point `latest` at it, then delete all but the
 * newest keep_last step files of the run's history (steps up to this one; keep_last <= 0 keeps
 * all). Step files of later steps (another branch of the run) are left alone; the file just written
 * and the one `latest` names are never deleted. */
int m3ae_ckpt_save_run(const char *run_dir, int keep_last, const m3ae_registry *r, const float *params,
                       const float *exp_avg, const float *exp_avg_sq, const m3ae_ckpt_meta *meta, char *written,
                       size_t written_len, m3ae_error *err);
/* The same in two phases, for runs of several ranks, where a checkpoint may become `latest` only
 * when every rank has reached it: save_step writes the step file (the path in `written`), and
 * publish, called once every rank confirmed the step, points `latest` at it and prunes. A failure
 * between the two leaves `latest` at the previous checkpoint (the step file is overwritten when the
 * resumed run reaches that step again). */
int m3ae_ckpt_save_step(const char *run_dir, const m3ae_registry *r, const float *params, const float *exp_avg,
                        const float *exp_avg_sq, const m3ae_ckpt_meta *meta, char *written, size_t written_len,
                        m3ae_error *err);
int m3ae_ckpt_publish(const char *run_dir, int64_t step, int keep_last, m3ae_error *err);
/* Removes the temporary files of checkpoints whose writing was killed (RUN_DIR/checkpoints/
 * *.tmp-<pid>); returns how many. Call before a run writes its own. */
int m3ae_ckpt_remove_stale(const char *run_dir);
/* Path of the checkpoint `latest` points to: 0 found, 1 no checkpoint yet, -1 broken (err says why). */
int m3ae_ckpt_latest(const char *run_dir, char *path, size_t n, m3ae_error *err);

/* The file is whole: every dataset reads with its checksum, and the attributes are an m3ae
 * checkpoint's with a matching attribute checksum (or none: an older file). 0, or -1 with err. */
int m3ae_ckpt_check_whole(const char *path, m3ae_error *err);
/* When `latest` is missing or broken: the newest whole step file of RUN_DIR/checkpoints (each one
 * skipped is named with its reason on stderr). 0 found (path filled), 1 no step files at all, -1 step
 * files exist but none is whole (err says so). */
int m3ae_ckpt_find_whole(const char *run_dir, char *path, size_t n, m3ae_error *err);
/* The highest step of the step files in RUN_DIR/checkpoints, or -1 when there are none. */
int64_t m3ae_ckpt_newest_step(const char *run_dir);

#endif
