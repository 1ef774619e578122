/* `m3ae bench step`: times a full pretraining step (MLM, MIM and ITM passes, forward + backward,
 * dropout on) of a randomly initialised model on random synthetic inputs, after warm-up. Prints
 * ms/step (median over the timed steps, like experiments/bench/pytorch_step.py), samples/s, the
 * achieved GFLOP/s of the work FLOP model (model/flops.h: the MLM head on the labelled rows,
 * backward on the gradient path; the official-equivalent count is printed beside it) and that rate
 * as a fraction of the machine's single-precision GEMM rate, measured at start with a 1024^3 sgemm
 * (m3ae_backend_gemm_gflops, the probe the training log's MFU uses). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/sort.h"
#include "common/sys.h"
#include "common/error.h"
#include "common/rng.h"
#include "launch/bench.h"
#include "launch/metrics.h"
#include "model/config.h"
#include "model/flops.h"
#include "model/m3ae.h"
#include "model/backend.h"
#include "model/registry.h"
#include "model/tasks/pretrain.h"

static void usage(FILE *f) {
    fprintf(f, "usage: m3ae bench step [--config tiny|small|base] [--batch N] [--threads T] [--steps S]\n"
               "                       [--warmup W] [--device cpu|cuda]\n\n"
               "Times a full M3AE pretraining step (three passes, forward + backward, dropout on) on random\n"
               "inputs. Defaults: --config small --batch 8 --threads 0 (keep OpenMP's setting) --steps 5\n"
               "--warmup 1 --device cpu.\n");
}

int m3ae_bench_step(int argc, char **argv) {
    const char *preset = "small", *device = "cpu";
    int batch = 8, threads = 0, steps = 5, warmup = 1;
    m3ae_bench_args args = {.bench = "step", .usage = usage, .argc = argc, .argv = argv};
    while (m3ae_bench_next(&args) > 0) {
        const char *a = args.opt, *v = args.val;
        long x = args.num;
        int numeric = args.numeric;
        if (!strcmp(a, "--config"))
            preset = v;
        else if (!strcmp(a, "--device"))
            device = v;
        else if (!strcmp(a, "--batch") && numeric && x >= 1 && x <= 4096)
            batch = (int)x;
        else if (!strcmp(a, "--threads") && numeric && x >= 0 && x <= 1024)
            threads = (int)x;
        else if (!strcmp(a, "--steps") && numeric && x >= 1 && x <= 100000)
            steps = (int)x;
        else if (!strcmp(a, "--warmup") && numeric && x >= 0 && x <= 1000)
            warmup = (int)x;
        else
            return m3ae_bench_bad(&args, "(batch 1..4096, threads 0..1024, steps 1..100000, warmup 0..1000)");
    }
    if (args.code >= 0) return args.code;
    m3ae_config cfg;
    m3ae_error err;
    if (m3ae_config_preset(&cfg, preset, &err)) {
        fprintf(stderr, "m3ae: error: bench step: %s\n", err.msg);
        return M3AE_EXIT_USAGE;
    }
    m3ae_backend_options bopt = {.threads = threads, .act_dtype = M3AE_DTYPE_F32};
    m3ae_backend *be = m3ae_backend_open(device, &bopt, &err);
    if (!be) {
        fprintf(stderr, "m3ae: error: bench step: %s\n", err.msg);
        return M3AE_EXIT_USAGE;
    }
    char cpu[256];
    m3ae_cpu_name(cpu, sizeof cpu);
    printf("m3ae bench step: config %s, batch %d, threads %d (%s backend)\n", preset, batch, threads, be->name);
    double load = -1;
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (fscanf(lf, "%lf", &load) != 1) load = -1;
        fclose(lf);
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("machine: %s, %ld logical CPUs online, load average %.2f at start\n", cpu, ncpu, load);
    if (load > (double)ncpu && !getenv("OMP_WAIT_POLICY"))
        printf("note: the machine is busy (load %.1f > %ld CPUs); OpenMP's default spin-waiting then slows every\n"
               "      parallel region badly: set OMP_WAIT_POLICY=passive for meaningful timings\n",
               load, ncpu);
    double peak = m3ae_backend_gemm_gflops(be); /* the same probe as the training log's MFU */
    printf("sgemm 1024^3 rate at start: %.1f GFLOP/s (best of 3)\n", peak);

    m3ae_model *m = m3ae_model_create(&cfg, be, batch);
    m3ae_registry_print_summary(m3ae_model_registry(m), stdout);
    m3ae_model_memory_report(m, stdout);
    double t_init = m3ae_now_s();
    m3ae_model_init_params(m, 1);
    printf("random initialisation: %.1f s\n", m3ae_now_s() - t_init);
    m3ae_model_set_train(m, 1, 1);

    /* random synthetic batch: images N(0,1), captions of random length, ~15 % MLM, random patch order */
    const int L = cfg.max_text_len, N = m3ae_cfg_patches(&cfg), S = cfg.image_size, V = cfg.vocab_size;
    const size_t npix = (size_t)batch * 3 * S * S;
    float *img = malloc(npix * sizeof(float)), *img2 = malloc(npix * sizeof(float)), *noise = malloc(N * sizeof(float));
    int32_t *ids = malloc(sizeof(int32_t) * batch * L), *mids = malloc(sizeof(int32_t) * batch * L);
    int32_t *masks = malloc(sizeof(int32_t) * batch * L), *labels = malloc(sizeof(int32_t) * batch * L);
    int32_t *shuf = malloc(sizeof(int32_t) * batch * N), *itm = malloc(sizeof(int32_t) * batch);
    int64_t *sid = malloc(sizeof(int64_t) * batch);
    M3AE_CHECK(img && img2 && noise && ids && mids && masks && labels && shuf && itm && sid, M3AE_EXIT_SYSTEM,
               "out of memory for the synthetic batch");
    m3ae_rng r = m3ae_rng_make(2, 96, 0, 0);
    uint64_t k = 0;
    for (size_t i = 0; i < npix; i++) img[i] = m3ae_rng_normal(&r, k++), img2[i] = m3ae_rng_normal(&r, k++);
    for (int s = 0; s < batch; s++) {
        int len = L / 2 + (int)m3ae_rng_below(&r, k++, (uint32_t)(L / 2 + 1));
        for (int t = 0; t < L; t++) {
            int i = s * L + t;
            ids[i] = t == 0 ? 0 : t == len - 1 ? 2 : t < len ? 3 + (int)m3ae_rng_below(&r, k++, (uint32_t)V - 4) : 1;
            masks[i] = t < len;
            int pick = t > 0 && t < len - 1 && m3ae_rng_uniform(&r, k++) < 0.15f;
            labels[i] = pick ? ids[i] : -100;
            mids[i] = pick ? V - 1 : ids[i];
        }
        if (labels[s * L + 1] == -100) labels[s * L + 1] = ids[s * L + 1], mids[s * L + 1] = V - 1;
        for (int j = 0; j < N; j++) noise[j] = m3ae_rng_uniform(&r, k++);
        m3ae_argsort_stable(noise, shuf + s * N, N);
        itm[s] = s % 2;
        sid[s] = s;
    }
    m3ae_batch b = {.B = batch, .images = img, .itm_images = img2, .text_ids = ids, .text_masks = masks,
                    .mlm_ids = mids, .mlm_labels = labels, .mim_ids_shuffle = shuf, .itm_labels = itm,
                    .sample_ids = sid};
    m3ae_losses ls = {0};
    /* the separate objective's passes (official), timed pass by pass below */
    const m3ae_pass_list pl = m3ae_pretrain_passes(M3AE_OBJECTIVE_SEPARATE);
    for (int w = 0; w < warmup; w++) {
        b.step = (uint64_t)w;
        m3ae_model_zero_grads(m);
        m3ae_model_stage(m, &b);
        m3ae_model_step(m, &b, &pl, 1, &ls);
    }
    double best = 1e30, sum = 0, *times = malloc(sizeof(double) * steps);
    M3AE_CHECK(times, M3AE_EXIT_SYSTEM, "out of memory for %d step times", steps);
    double phase[3][2] = {{0}}; /* per pass: forward, backward seconds (summed over the timed steps) */
    for (int s = 0; s < steps; s++) {
        b.step = (uint64_t)(warmup + s);
        double t0 = m3ae_now_s();
        m3ae_model_zero_grads(m);
        m3ae_model_stage(m, &b); /* once per micro-batch, as in training: timed with the step */
        /* the step of m3ae_model_step (objective separate), pass by pass for the breakdown */
        M3AE_CHECK(pl.n == 3, M3AE_EXIT_FAIL, "the separate objective has %d passes, the breakdown expects 3", pl.n);
        double total = 0;
        float probe;
        for (int p = 0; p < pl.n; p++) {
            double ta = m3ae_now_s();
            total += m3ae_model_forward(m, pl.passes[p], &b);
            be->ops->download(be, &probe, m3ae_model_grads(m), sizeof probe); /* synchronises a device backend */
            double tb = m3ae_now_s();
            m3ae_model_backward(m, pl.passes[p], &b);
            be->ops->download(be, &probe, m3ae_model_grads(m), sizeof probe);
            phase[p][0] += tb - ta;
            phase[p][1] += m3ae_now_s() - tb;
        }
        m3ae_model_last_losses(m, &ls);
        ls.total = total;
        double t = m3ae_now_s() - t0;
        sum += t;
        times[s] = t;
        if (t < best) best = t;
    }
    double mean = sum / steps, median = m3ae_bench_median(times, steps);
    free(times);
    m3ae_flops fl;
    m3ae_flops_compute(&cfg, &fl);
    int labelled = 0;
    for (int i = 0; i < batch * L; i++) labelled += labels[i] != -100;
    m3ae_flops_work wk;
    m3ae_flops_work_compute(&cfg, (double)labelled / batch, &wk);
    double gflops = wk.train_total * batch / median / 1e9;
    printf("losses of the last step: mlm %.4f mim %.4f itm %.4f total %.4f\n", ls.mlm, ls.mim, ls.itm, ls.total);
    printf("FLOP model: work %.2f GFLOP/sample forward, %.2f training (MLM head on %.2f labelled rows, backward on the "
           "gradient path); official-equivalent %.2f forward, %.2f training (3 x forward)\n",
           wk.forward_total / 1e9, wk.train_total / 1e9, wk.mlm_rows, fl.forward_total / 1e9, fl.train_total / 1e9);
    static const char *pn[3] = {"MLM", "MIM", "ITM"};
    printf("per pass (mean ms forward / backward; model GFLOP forward per batch):");
    for (int p = 0; p < 3; p++)
        printf("  %s %.1f / %.1f (%.2f)", pn[p], 1e3 * phase[p][0] / steps, 1e3 * phase[p][1] / steps,
               wk.forward[p] * batch / 1e9);
    printf("\n");
    printf("\n| config | batch | threads | steps | ms/step (median) | mean | best | samples/s | GFLOP/s | of sgemm |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    printf("| %s | %d | %d | %d | %.1f | %.1f | %.1f | %.2f | %.1f | %.0f %% |\n", preset, batch, threads, steps,
           median * 1e3, mean * 1e3, best * 1e3, batch / median, gflops, 100.0 * gflops / peak);
    free(img);
    free(img2);
    free(noise);
    free(ids);
    free(mids);
    free(masks);
    free(labels);
    free(shuf);
    free(itm);
    free(sid);
    m3ae_model_destroy(m);
    m3ae_backend_close(be);
    return M3AE_EXIT_OK;
}
