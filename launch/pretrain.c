#include "launch/pretrain.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoints/ckpt.h"
#include "common/sys.h"
#include "common/arena.h"
#include "common/build_info.h"
#include "common/error.h"
#include "common/log.h"
#include "dist/dist.h"
#include "io/loader.h"
#include "io/manifest.h"
#include "io/masks.h"
#include "io/tokenizer.h"
#include "launch/metrics.h"
#include "launch/signals.h"
#include "launch/train_config.h"
#include "model/flops.h"
#include "model/m3ae.h"
#include "model/optimizer.h"

/* One micro-batch copied out of the loader (whose batch is only valid until its next call), so that
 * a whole optimizer step's loss denominators are known before its first backward. */
typedef struct {
    int B, S, L, N;
    float *images, *itm_images;
    int32_t *text_ids, *text_masks, *mlm_ids, *mlm_labels, *mim_ids_shuffle, *itm_labels;
    int64_t *sample_ids;
    int64_t n_mlm_masked, n_mim_masked;
} micro_batch;

static void micro_alloc(micro_batch *m, int B, int S, int L, int N) {
    m->B = B, m->S = S, m->L = L, m->N = N;
    size_t img = (size_t)B * 3 * S * S * sizeof(float), txt = (size_t)B * L * sizeof(int32_t);
    m->images = m3ae_alloc(img, "step buffer (images)");
    m->itm_images = m3ae_alloc(img, "step buffer (ITM images)");
    m->text_ids = m3ae_alloc(txt, "step buffer"), m->text_masks = m3ae_alloc(txt, "step buffer");
    m->mlm_ids = m3ae_alloc(txt, "step buffer"), m->mlm_labels = m3ae_alloc(txt, "step buffer");
    m->mim_ids_shuffle = m3ae_alloc((size_t)B * N * sizeof(int32_t), "step buffer");
    m->itm_labels = m3ae_alloc((size_t)B * sizeof(int32_t), "step buffer");
    m->sample_ids = m3ae_alloc((size_t)B * sizeof(int64_t), "step buffer");
}

static void micro_free(micro_batch *m) {
    void *p[] = {m->images, m->itm_images, m->text_ids, m->text_masks, m->mlm_ids,
                 m->mlm_labels, m->mim_ids_shuffle, m->itm_labels, m->sample_ids};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) m3ae_free(p[i]);
}

static void micro_copy(micro_batch *m, const m3ae_loader_batch *b) {
    size_t img = (size_t)m->B * 3 * m->S * m->S * sizeof(float), txt = (size_t)m->B * m->L * sizeof(int32_t);
    memcpy(m->images, b->images, img);
    memcpy(m->itm_images, b->itm_images, img);
    memcpy(m->text_ids, b->text_ids, txt), memcpy(m->text_masks, b->text_masks, txt);
    memcpy(m->mlm_ids, b->mlm_ids, txt), memcpy(m->mlm_labels, b->mlm_labels, txt);
    memcpy(m->mim_ids_shuffle, b->mim_ids_shuffle, (size_t)m->B * m->N * sizeof(int32_t));
    memcpy(m->itm_labels, b->itm_labels, (size_t)m->B * sizeof(int32_t));
    memcpy(m->sample_ids, b->sample_ids, (size_t)m->B * sizeof(int64_t));
    m->n_mlm_masked = b->n_mlm_masked, m->n_mim_masked = b->n_mim_masked;
}

static m3ae_batch model_batch(const micro_batch *m, uint64_t step, double mlm_denom, double mim_denom, double itm_denom) {
    m3ae_batch b = {.B = m->B,
                    .images = m->images,
                    .itm_images = m->itm_images,
                    .text_ids = m->text_ids,
                    .text_masks = m->text_masks,
                    .mlm_ids = m->mlm_ids,
                    .mlm_labels = m->mlm_labels,
                    .mim_ids_shuffle = m->mim_ids_shuffle,
                    .itm_labels = m->itm_labels,
                    .sample_ids = m->sample_ids,
                    .step = step,
                    .mlm_denom = mlm_denom,
                    .mim_denom = mim_denom,
                    .itm_denom = itm_denom};
    return b;
}

/* Everything a run holds. */
typedef struct {
    m3ae_dist dist;
    m3ae_train_config cfg;
    const m3ae_pretrain_args *args;
    m3ae_tokenizer *tok;
    m3ae_loader *train, *val;
    m3ae_model *model;
    const m3ae_registry *reg;
    float *exp_avg, *exp_avg_sq;
    m3ae_adamw_config opt;
    micro_batch *micro;
    int64_t accum;
    FILE *metrics;
    char config_text[M3AE_CKPT_CONFIG_LEN];
} run;

/* Same outcome on every rank: a failure on any rank stops all of them with rank 0 printing. */
static int all_ok(run *r, int rc, const m3ae_error *err, int code) {
    if (rc != 0) fprintf(stderr, "m3ae: error: [rank %d] %s\n", r->dist.rank, err->msg);
    return m3ae_dist_any(rc != 0) ? code : 0;
}

static int open_loader(run *r, const char *dir, m3ae_loader **out, m3ae_error *err) {
    m3ae_manifest man;
    if (m3ae_manifest_read(dir, &man, err) != 0) return -1;
    int store = man.store_size;
    uint64_t samples = man.samples;
    m3ae_manifest_free(&man);
    if (samples == 0) return m3ae_error_set(err, "dataset %s holds no samples; convert a corpus with m3ae prep", dir);
    if (r->cfg.model.image_size > store)
        m3ae_warn("dataset %s stores images with a shorter side of %d px; image_size = %d upsamples them (re-run m3ae "
                  "prep with --store-size %d for full resolution)", dir, store, r->cfg.model.image_size,
                  r->cfg.model.image_size);
    m3ae_loader_config lc = {.data_dir = dir,
                             .tokenizer = r->tok,
                             .batch_size = (int)r->cfg.per_gpu_batchsize,
                             .image_size = r->cfg.model.image_size,
                             .patch_size = r->cfg.model.patch_size,
                             .max_text_len = r->cfg.model.max_text_len,
                             .mim_ratio = r->cfg.model.mim_prob,
                             .mlm_prob = (float)r->cfg.model.mlm_prob,
                             .mlm_mode = strcmp(r->cfg.mlm_mode, "bernoulli") ? M3AE_MLM_OFFICIAL : M3AE_MLM_BERNOULLI,
                             .random_crop = (int)r->cfg.random_crop,
                             .seed = (uint64_t)r->cfg.seed,
                             .rank = r->dist.rank,
                             .world = r->dist.world,
                             .threads = (int)r->cfg.loader_threads};
    *out = m3ae_loader_open(&lc, err);
    if (!*out) return -1;
    if (m3ae_loader_batches_per_epoch(*out) == 0)
        return m3ae_error_set(err, "dataset %s has %llu samples: fewer than one micro-batch of %lld per rank on %d ranks",
                              dir, (unsigned long long)samples, (long long)r->cfg.per_gpu_batchsize, r->dist.world);
    return 0;
}

static int make_run_dir(const char *dir, m3ae_error *err) {
    if (m3ae_mkdir_p(dir) != 0) return m3ae_error_set(err, "cannot create the run folder %s: %s", dir, strerror(errno));
    return 0;
}

/* Rank 0 writes the checkpoint; every rank learns whether it worked. */
static int save_checkpoint(run *r, int64_t done, m3ae_error *err) {
    int rc = 0;
    char path[4400] = "";
    if (r->dist.rank == 0) {
        uint64_t epoch, position;
        m3ae_loader_get_state(r->train, &epoch, &position);
        m3ae_ckpt_meta meta = {.step = done, .epoch = (int64_t)epoch, .position = (int64_t)position,
                               .seed = r->cfg.seed, .world_size = r->dist.world};
        snprintf(meta.config, sizeof meta.config, "%s", r->config_text);
        double t0 = m3ae_now_s();
        rc = m3ae_ckpt_save_run(r->args->out_dir, (int)r->cfg.keep_last, r->reg, m3ae_model_params(r->model),
                                r->exp_avg, r->exp_avg_sq, &meta, path, sizeof path, err);
        if (rc == 0) m3ae_info("checkpoint %s written (%.1f s)", path, m3ae_now_s() - t0);
    }
    return all_ok(r, rc, err, M3AE_EXIT_SYSTEM);
}

static void validate(run *r, int64_t done) {
    m3ae_error err;
    m3ae_model_set_train(r->model, 0, (uint64_t)r->cfg.seed);
    if (m3ae_loader_set_state(r->val, 0, 0, &err) != 0) M3AE_FATAL(M3AE_EXIT_DATA, "%s", err.msg);
    double sums[7] = {0}; /* mlm_loss*count, mlm_count, mlm_correct, mim_loss*count, mim_count, itm_loss*B, itm_correct */
    double n_itm = 0;
    micro_batch *mb = &r->micro[0];
    for (int64_t i = 0; i < r->cfg.val_batches; i++) {
        const m3ae_loader_batch *lb;
        if (m3ae_loader_next(r->val, &lb, &err) != 0) M3AE_FATAL(M3AE_EXIT_DATA, "%s", err.msg);
        micro_copy(mb, lb);
        m3ae_batch b = model_batch(mb, (uint64_t)done, 0, 0, 0);
        for (int p = 0; p < 3; p++) m3ae_model_forward(r->model, (m3ae_pass)p, &b);
        m3ae_losses l;
        m3ae_model_last_losses(r->model, &l);
        sums[0] += l.mlm * l.mlm_count, sums[1] += l.mlm_count, sums[2] += l.mlm_correct;
        sums[3] += l.mim * l.mim_count, sums[4] += l.mim_count;
        sums[5] += l.itm * mb->B, sums[6] += l.itm_correct;
        n_itm += mb->B;
    }
    m3ae_dist_sum_doubles(sums, 7);
    m3ae_dist_sum_doubles(&n_itm, 1);
    m3ae_val_metrics v = {.step = done,
                          .mlm_acc = sums[2] / fmax(1, sums[1]),
                          .mlm_loss = sums[0] / fmax(1, sums[1]),
                          .mim_loss = sums[3] / fmax(1, sums[4]),
                          .itm_loss = sums[5] / fmax(1, n_itm),
                          .itm_acc = sums[6] / fmax(1, n_itm)};
    if (r->dist.rank == 0) {
        m3ae_metrics_print_val(stdout, &v);
        m3ae_metrics_json_val(r->metrics, &v);
    }
    m3ae_model_set_train(r->model, 1, (uint64_t)r->cfg.seed);
}

static void print_startup(run *r, double gemm_gflops, const m3ae_flops *fl) {
    if (r->dist.rank != 0) return;
    const m3ae_train_config *c = &r->cfg;
    printf("m3ae pretrain %s (commit %s)\n", M3AE_VERSION, M3AE_GIT_COMMIT);
    printf("  ranks %d x micro-batch %lld x accumulation %lld = global batch %lld\n", r->dist.world,
           (long long)c->per_gpu_batchsize, (long long)r->accum, (long long)c->batch_size);
    printf("  data %s: %llu samples, %llu per rank and epoch, %llu steps per epoch\n", r->args->data_dir,
           (unsigned long long)m3ae_loader_num_samples(r->train), (unsigned long long)m3ae_loader_samples_per_rank(r->train),
           (unsigned long long)(m3ae_loader_batches_per_epoch(r->train) / (uint64_t)r->accum));
    if (r->val) printf("  validation %s: %lld batches every %lld steps\n", r->args->val_dir, (long long)c->val_batches, (long long)c->val_every);
    printf("  schedule: %lld steps, warm-up %lld, peak lr %.3g (heads x%g, multi-modal x%g), weight decay %g\n",
           (long long)c->max_steps, (long long)m3ae_train_warmup_steps(c), c->learning_rate, c->lr_mult_head,
           c->lr_mult_multi_modal, c->weight_decay);
    /* the work at the official draw count of labelled rows (the log's MFU uses each interval's count) */
    const double rows = fmax(1, nearbyint(c->model.max_text_len * c->model.mlm_prob));
    m3ae_flops_work w;
    m3ae_flops_work_compute(&c->model, rows, &w);
    printf("  FLOP model: %.2f GFLOP work per training sample (MLM head on %.0f labelled rows, backward on the gradient "
           "path), %.2f official-equivalent (3 x forward); MFU of the work against %s %.1f GFLOP/s per rank\n",
           w.train_total / 1e9, rows, fl->train_total / 1e9, c->peak_tflops > 0 ? "peak_tflops =" : "the measured SGEMM rate",
           c->peak_tflops > 0 ? c->peak_tflops * 1e3 : gemm_gflops);
    printf("configuration (also in %s/config.cfg):\n", r->args->out_dir);
    /* the key = value lines in two columns */
    char *lines[128];
    int n = 0;
    static char text[M3AE_CKPT_CONFIG_LEN];
    snprintf(text, sizeof text, "%s", r->config_text);
    for (char *save = NULL, *t = strtok_r(text, "\n", &save); t && n < 128; t = strtok_r(NULL, "\n", &save)) lines[n++] = t;
    int half = (n + 1) / 2;
    for (int i = 0; i < half; i++) printf("  %-40s %s\n", lines[i], i + half < n ? lines[i + half] : "");
    m3ae_registry_print_summary(r->reg, stdout);
    m3ae_model_memory_report(r->model, stdout);
    fflush(stdout);
}

/* Resume from RUN_DIR's latest checkpoint, or start from --init-from weights, or from the
 * initialisation; rank 0 reads, every rank receives. Returns the first step to run. */
static int64_t restore(run *r, int *code) {
    m3ae_error err = {{0}};
    char latest[4400] = "";
    int found = 0, rc = 0;
    m3ae_ckpt_meta *meta = calloc(1, sizeof *meta);
    float *params = m3ae_model_params(r->model);
    size_t bytes = r->reg->arena_floats * sizeof(float);
    int64_t state[3] = {0, 0, 0}; /* step, epoch, position */
    if (r->dist.rank == 0) {
        int stale = m3ae_ckpt_remove_stale(r->args->out_dir);
        if (stale) m3ae_info("removed %d unfinished checkpoint file(s) of an interrupted run", stale);
        int l = m3ae_ckpt_latest(r->args->out_dir, latest, sizeof latest, &err);
        if (l < 0) rc = -1;
        else if (l == 0) {
            found = 1;
            rc = m3ae_ckpt_load(latest, r->reg, params, r->exp_avg, r->exp_avg_sq, meta, 1, &err);
            if (rc == 0) {
                state[0] = meta->step, state[1] = meta->epoch, state[2] = meta->position;
                m3ae_info("resuming %s from %s: step %lld, epoch %lld, position %lld (written by %lld ranks)",
                          r->args->out_dir, latest, (long long)meta->step, (long long)meta->epoch,
                          (long long)meta->position, (long long)meta->world_size);
                if (meta->world_size != r->dist.world)
                    m3ae_warn("the checkpoint was written by %lld ranks and this run has %d: the data order continues "
                              "from the same position, rounded to this run's batch boundary",
                              (long long)meta->world_size, r->dist.world);
            }
        } else if (r->args->init_from) {
            rc = m3ae_ckpt_load(r->args->init_from, r->reg, params, NULL, NULL, NULL, 1, &err);
            if (rc == 0) m3ae_info("initialised the weights from %s", r->args->init_from);
        }
    }
    free(meta);
    if ((*code = all_ok(r, rc, &err, M3AE_EXIT_CKPT))) return 0;
    m3ae_dist_broadcast(params, bytes);
    m3ae_dist_broadcast(&found, sizeof found);
    if (found) {
        m3ae_dist_broadcast(r->exp_avg, bytes);
        m3ae_dist_broadcast(r->exp_avg_sq, bytes);
    }
    m3ae_dist_broadcast(state, sizeof state);
    if (found) {
        rc = m3ae_loader_set_state(r->train, (uint64_t)state[1], (uint64_t)state[2], &err);
        if ((*code = all_ok(r, rc, &err, M3AE_EXIT_CKPT))) return 0;
    }
    return state[0];
}

static int train(run *r, int64_t start) {
    const m3ae_train_config *c = &r->cfg;
    m3ae_error err = {{0}};
    m3ae_flops fl;
    m3ae_flops_compute(&c->model, &fl);
    double gemm = m3ae_measure_gemm_gflops(m3ae_model_ops(r->model));
    double peak = c->peak_tflops > 0 ? c->peak_tflops * 1e12 : gemm * 1e9; /* per rank */
    print_startup(r, gemm, &fl);
    if (r->dist.rank == 0) m3ae_metrics_print_header(stdout);
    float *params = m3ae_model_params(r->model), *grads = m3ae_model_grads(r->model);
    double t_log = m3ae_now_s(), t_start = t_log;
    int64_t steps_since_log = 0, done = start;
    double acc[7] = {0}; /* loss mlm, mim, itm, mlm_correct, mlm_count, itm_correct, itm_count over a log interval */
    int code = 0;
    for (int64_t step = start; step < c->max_steps; step++) {
        m3ae_model_zero_grads(r->model);
        /* the step's micro-batches, and their global loss denominators */
        double counts[3] = {0, 0, 0};
        for (int64_t k = 0; k < r->accum; k++) {
            const m3ae_loader_batch *lb;
            int rc = m3ae_loader_next(r->train, &lb, &err);
            if ((code = all_ok(r, rc, &err, M3AE_EXIT_DATA))) return code;
            micro_copy(&r->micro[k], lb);
            counts[0] += (double)lb->n_mlm_masked, counts[1] += (double)lb->n_mim_masked, counts[2] += lb->B;
        }
        m3ae_dist_sum_doubles(counts, 3);
        double stats[7] = {0};
        for (int64_t k = 0; k < r->accum; k++) {
            m3ae_batch b = model_batch(&r->micro[k], (uint64_t)step, fmax(1, counts[0]), fmax(1, counts[1]), counts[2]);
            m3ae_losses l;
            m3ae_model_step(r->model, &b, &l);
            stats[0] += l.mlm, stats[1] += l.mim, stats[2] += l.itm;
            stats[3] += l.mlm_correct, stats[4] += l.mlm_count, stats[5] += l.itm_correct, stats[6] += b.B;
        }
        if (r->dist.world > 1) m3ae_dist_allreduce_sum(grads, r->reg->arena_floats);
        double gnorm = m3ae_adamw_step(&r->opt, r->reg, params, grads, r->exp_avg, r->exp_avg_sq, step);
        m3ae_dist_sum_doubles(stats, 7);
        for (int i = 0; i < 7; i++) acc[i] += stats[i];
        done = step + 1;
        steps_since_log++;

        int stop_signal = m3ae_dist_any(m3ae_signals_pending());
        int stop_after = c->stop_after > 0 && done >= c->stop_after;
        if (done % c->log_every == 0 || done == c->max_steps || done == start + 1 || stop_signal || stop_after) {
            double t = m3ae_now_s(), dt = (t - t_log) / (double)steps_since_log;
            uint64_t epoch, position;
            m3ae_loader_get_state(r->train, &epoch, &position);
            double n = (double)steps_since_log;
            m3ae_step_metrics m = {.step = done,
                                   .max_steps = c->max_steps,
                                   .epoch = epoch,
                                   .mlm_loss = acc[0] / n,
                                   .mim_loss = acc[1] / n,
                                   .itm_loss = acc[2] / n,
                                   .loss = (acc[0] + acc[1] + acc[2]) / n,
                                   .mlm_acc = acc[3] / fmax(1, acc[4]),
                                   .itm_acc = acc[5] / fmax(1, acc[6]),
                                   .lr = m3ae_lr_schedule(step, r->opt.warmup_steps, r->opt.max_steps) * c->learning_rate,
                                   .grad_norm = gnorm,
                                   .samples_per_s = (double)c->batch_size / dt};
            m3ae_flops_work work; /* the MLM head on this interval's labelled rows per sample */
            m3ae_flops_work_compute(&c->model, acc[4] / fmax(1, acc[6]), &work);
            m.mfu = m.samples_per_s * work.train_total / (peak * r->dist.world);
            m.eta_s = dt * (double)(c->max_steps - done);
            if (r->dist.rank == 0) {
                m3ae_metrics_print(stdout, &m);
                m3ae_metrics_json(r->metrics, &m);
            }
            memset(acc, 0, sizeof acc);
            steps_since_log = 0;
        }
        if (r->val && c->val_every > 0 && (done % c->val_every == 0 || done == c->max_steps)) validate(r, done);
        int ckpt = (c->ckpt_every > 0 && done % c->ckpt_every == 0) || done == c->max_steps || stop_signal || stop_after;
        if (ckpt && (code = save_checkpoint(r, done, &err))) return code;
        if (steps_since_log == 0) t_log = m3ae_now_s(); /* speed excludes validation and checkpoint time */
        if (stop_signal) {
            m3ae_info("stopped on %s after step %lld: the checkpoint is written; run the same command again to resume "
                      "from %s", m3ae_signal_name(m3ae_signals_pending() ? m3ae_signals_pending() : 0),
                      (long long)done, r->args->out_dir);
            return M3AE_EXIT_OK;
        }
        if (stop_after && done < c->max_steps) {
            m3ae_info("stopped after step %lld (stop_after = %lld); run the same command again to resume from %s",
                      (long long)done, (long long)c->stop_after, r->args->out_dir);
            return M3AE_EXIT_OK;
        }
    }
    char dur[32], marker[4400], text[128];
    m3ae_info("pretraining finished: %lld steps in %s; checkpoints in %s/checkpoints", (long long)done,
              m3ae_format_duration(m3ae_now_s() - t_start, dur, sizeof dur), r->args->out_dir);
    /* RUN_DIR/finished tells job scripts (launch/slurm/pretrain.sbatch) not to requeue */
    int rc = 0;
    if (r->dist.rank == 0) {
        snprintf(marker, sizeof marker, "%s/finished", r->args->out_dir);
        snprintf(text, sizeof text, "%lld\n", (long long)done);
        rc = m3ae_write_file_atomic(marker, text, &err);
    }
    return all_ok(r, rc, &err, M3AE_EXIT_SYSTEM);
}

int m3ae_pretrain_run(const m3ae_pretrain_args *a, int *argc, char ***argv) {
    run r;
    memset(&r, 0, sizeof r);
    r.args = a;
    m3ae_dist_init(&r.dist, argc, argv);
    m3ae_signals_install();
    m3ae_error err = {{0}};
    int code = 0, rc = 0;

    /* configuration: the same on every rank */
    m3ae_train_config_defaults(&r.cfg);
    if (a->config_path) rc = m3ae_train_config_load(&r.cfg, a->config_path, &err);
    for (int i = 0; rc == 0 && i < a->n_overrides; i++) rc = m3ae_train_config_override(&r.cfg, a->overrides[i], &err);
    if (rc == 0) rc = m3ae_train_config_validate(&r.cfg, r.dist.world, &err);
    if (rc != 0) {
        if (r.dist.rank == 0) fprintf(stderr, "m3ae: error: %s\n", err.msg);
        m3ae_dist_finalize(&r.dist);
        return M3AE_EXIT_USAGE;
    }
    m3ae_train_config_text(&r.cfg, r.config_text, sizeof r.config_text);
    r.accum = m3ae_train_accum(&r.cfg, r.dist.world);
    r.opt = m3ae_adamw_official();
    r.opt.learning_rate = r.cfg.learning_rate, r.opt.weight_decay = r.cfg.weight_decay;
    r.opt.lr_mult_head = r.cfg.lr_mult_head, r.opt.lr_mult_multi_modal = r.cfg.lr_mult_multi_modal;
    r.opt.beta1 = r.cfg.adam_beta1, r.opt.beta2 = r.cfg.adam_beta2, r.opt.eps = r.cfg.adam_eps;
    r.opt.grad_clip = r.cfg.grad_clip;
    r.opt.warmup_steps = m3ae_train_warmup_steps(&r.cfg), r.opt.max_steps = r.cfg.max_steps;

    /* run folder, data */
    rc = r.dist.rank == 0 ? make_run_dir(a->out_dir, &err) : 0;
    if ((code = all_ok(&r, rc, &err, M3AE_EXIT_SYSTEM))) goto out;
    r.tok = m3ae_tokenizer_load(r.cfg.vocab, &err);
    if ((code = all_ok(&r, r.tok == NULL, &err, M3AE_EXIT_DATA))) goto out;
    rc = open_loader(&r, a->data_dir, &r.train, &err);
    if ((code = all_ok(&r, rc, &err, M3AE_EXIT_DATA))) goto out;
    if (a->val_dir && r.cfg.val_every > 0) {
        rc = open_loader(&r, a->val_dir, &r.val, &err);
        if ((code = all_ok(&r, rc, &err, M3AE_EXIT_DATA))) goto out;
    }

    /* model and optimizer state: planned and allocated once */
    r.model = m3ae_model_create(&r.cfg.model, m3ae_ops_cpu((int)r.cfg.threads), (int)r.cfg.per_gpu_batchsize);
    r.reg = m3ae_model_registry(r.model);
    m3ae_model_init_params(r.model, (uint64_t)r.cfg.seed);
    m3ae_model_set_train(r.model, 1, (uint64_t)r.cfg.seed);
    r.exp_avg = m3ae_alloc(r.reg->arena_floats * sizeof(float), "AdamW first moments");
    r.exp_avg_sq = m3ae_alloc(r.reg->arena_floats * sizeof(float), "AdamW second moments");
    int N = m3ae_cfg_patches(&r.cfg.model);
    r.micro = calloc((size_t)r.accum, sizeof *r.micro);
    for (int64_t k = 0; k < r.accum; k++)
        micro_alloc(&r.micro[k], (int)r.cfg.per_gpu_batchsize, r.cfg.model.image_size, r.cfg.model.max_text_len, N);

    int64_t start = restore(&r, &code);
    if (code) goto out;
    if (r.dist.rank == 0) {
        char path[4400];
        snprintf(path, sizeof path, "%s/config.cfg", a->out_dir);
        rc = m3ae_write_file_atomic(path, r.config_text, &err);
        snprintf(path, sizeof path, "%s/metrics.jsonl", a->out_dir);
        if (rc == 0 && !(r.metrics = fopen(path, "a"))) rc = m3ae_error_set(&err, "cannot open %s: %s", path, strerror(errno));
    }
    if ((code = all_ok(&r, rc, &err, M3AE_EXIT_SYSTEM))) goto out;
    if (start >= r.cfg.max_steps) {
        m3ae_info("%s has finished all %lld steps already; nothing to do (raise max_steps to train on)", a->out_dir,
                  (long long)r.cfg.max_steps);
        goto out;
    }
    code = train(&r, start);

out:
    if (r.metrics) fclose(r.metrics);
    if (r.micro) {
        for (int64_t k = 0; k < r.accum; k++) micro_free(&r.micro[k]);
        free(r.micro);
    }
    m3ae_free(r.exp_avg), m3ae_free(r.exp_avg_sq);
    if (r.model) m3ae_model_destroy(r.model);
    if (r.val) m3ae_loader_close(r.val);
    if (r.train) m3ae_loader_close(r.train);
    if (r.tok) m3ae_tokenizer_free(r.tok);
    m3ae_dist_barrier();
    m3ae_dist_finalize(&r.dist);
    return code;
}
