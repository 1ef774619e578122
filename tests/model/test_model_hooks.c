/* The gradient-ready hook (model/m3ae.h m3ae_model_set_grad_hook, issue 8 section 3): for both
 * objectives, accumulation 1 and 3, mim_layer 0, 1 and num_top_layer, tiny config with dropout on:
 *   - no report on a micro-batch that is not the last of the step;
 *   - every registry entry reported exactly once per step (fixed and gradient-less ones included);
 *   - after its report a tensor's gradient never changes again in the step (checksum of its gradient
 *     bytes inside the hook = checksum at the end of the step);
 *   - reports in backward order: each range's smallest backward_rank is above the largest of every
 *     earlier report (the registry's order is the real one, so buckets built by rank match);
 * plus a last micro-batch with no labelled MLM token (the MLM head is still final after its pass). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/sort.h"
#include "harness.h"
#include "model/m3ae.h"
#include "model/tasks/pretrain.h"

typedef struct {
    m3ae_model *m;
    const m3ae_registry *r;
    float *host;       /* (arena) gradient download */
    int *count;        /* (entries) reports this step */
    uint64_t *sum;     /* (entries) checksum at the report */
    int expect;        /* 1 while the last micro-batch's step runs */
    int max_rank;      /* largest backward_rank reported so far this step */
    int early, order;  /* failures seen (counted, printed once) */
    int reports;
} recorder;

static uint64_t checksum(const float *x, size_t n) { /* FNV-1a over the bytes */
    const unsigned char *p = (const unsigned char *)x;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n * sizeof(float); i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void hook(void *ctx, int first, int n) {
    recorder *rc = ctx;
    const m3ae_registry *r = rc->r;
    rc->reports++;
    if (!rc->expect && rc->early++ == 0)
        T_CHECK(0, "'%s' reported on a micro-batch that is not the last", r->p[first].name);
    T_CHECK(n >= 1 && first >= 0 && first + n <= r->n, "report of range [%d, %d) outside the registry", first,
            first + n);
    m3ae_backend *be = m3ae_model_backend(rc->m);
    be->ops->download(be, rc->host, m3ae_model_grads(rc->m), r->arena_floats * sizeof(float));
    int lo = r->n, hi = -1;
    for (int k = first; k < first + n; k++) {
        if (rc->count[k]++ == 0) rc->sum[k] = checksum(rc->host + r->p[k].offset, r->p[k].numel); /* the first */
        if (r->p[k].backward_rank < lo) lo = r->p[k].backward_rank;
        if (r->p[k].backward_rank > hi) hi = r->p[k].backward_rank;
    }
    if (lo <= rc->max_rank && rc->order++ == 0)
        T_CHECK(0, "report of '%s'.. (backward ranks %d..%d) after a report up to rank %d: not in backward order",
                r->p[first].name, lo, hi, rc->max_rank);
    if (hi > rc->max_rank) rc->max_rank = hi;
}

/* One synthetic micro-batch (arrays owned by the caller's buffers), different per `seed`. */
typedef struct {
    float *img, *img2, *noise;
    int32_t *ids, *mids, *masks, *labels, *shuf, *itm;
    int64_t *sid;
} buffers;

static m3ae_batch make_batch(const m3ae_config *c, int B, uint64_t seed, int labelled, buffers *u) {
    const int L = c->max_text_len, N = m3ae_cfg_patches(c), S = c->image_size, V = c->vocab_size;
    m3ae_rng g = m3ae_rng_make(seed, 7, 0, 0);
    uint64_t k = 0;
    for (int i = 0; i < B * 3 * S * S; i++) u->img[i] = m3ae_rng_normal(&g, k++), u->img2[i] = m3ae_rng_normal(&g, k++);
    for (int s = 0; s < B; s++) {
        const int len = L - 3 * s;
        for (int t = 0; t < L; t++) {
            const int i = s * L + t;
            u->ids[i] = t == 0 ? 0 : t == len - 1 ? 2 : t < len ? 3 + (int)m3ae_rng_below(&g, k++, (uint32_t)V - 4) : 1;
            u->masks[i] = t < len;
            u->labels[i] = -100;
            u->mids[i] = u->ids[i];
            if (labelled && t > 0 && t < len - 1 && t % 3 == 1) u->labels[i] = u->ids[i], u->mids[i] = V - 1;
        }
        for (int j = 0; j < N; j++) u->noise[j] = m3ae_rng_uniform(&g, k++);
        m3ae_argsort_stable(u->noise, u->shuf + s * N, N);
        u->itm[s] = (int)((seed + (uint64_t)s) % 2);
        u->sid[s] = (int64_t)(seed * 16 + (uint64_t)s);
    }
    return (m3ae_batch){.B = B, .images = u->img, .itm_images = u->img2, .text_ids = u->ids, .text_masks = u->masks,
                        .mlm_ids = u->mids, .mlm_labels = u->labels, .mim_ids_shuffle = u->shuf, .itm_labels = u->itm,
                        .sample_ids = u->sid};
}

static void run_case(const char *objective, int mim_layer, int accum, int last_unlabelled) {
    m3ae_config cfg;
    m3ae_error err;
    m3ae_config_preset(&cfg, "tiny", &err);
    char ml[16];
    snprintf(ml, sizeof ml, "%d", mim_layer);
    T_CHECK(m3ae_config_set(&cfg, "objective", objective, &err) == 0, "%s", err.msg);
    T_CHECK(m3ae_config_set(&cfg, "mim_layer", ml, &err) == 0, "%s", err.msg);
    T_CHECK(m3ae_config_set(&cfg, "drop_rate", "0.1", &err) == 0, "%s", err.msg);
    printf("objective %s, mim_layer %d, accumulation %d%s\n", objective, mim_layer, accum,
           last_unlabelled ? ", last micro-batch without MLM labels" : "");
    const int B = 2, L = cfg.max_text_len, N = m3ae_cfg_patches(&cfg), S = cfg.image_size;
    m3ae_backend *be = m3ae_backend_open("cpu", NULL, &err);
    T_CHECK(be != NULL, "cpu backend: %s", err.msg);
    if (!be) return;
    m3ae_model *m = m3ae_model_create(&cfg, be, B);
    const m3ae_registry *r = m3ae_model_registry(m);
    m3ae_model_init_params(m, 3);
    m3ae_model_set_train(m, 1, 17);
    recorder rc = {.m = m, .r = r};
    rc.host = malloc(r->arena_floats * sizeof(float));
    rc.count = calloc((size_t)r->n, sizeof *rc.count);
    rc.sum = calloc((size_t)r->n, sizeof *rc.sum);
    buffers u = {.img = malloc(sizeof(float) * B * 3 * S * S), .img2 = malloc(sizeof(float) * B * 3 * S * S),
                 .noise = malloc(sizeof(float) * N), .ids = malloc(sizeof(int32_t) * B * L),
                 .mids = malloc(sizeof(int32_t) * B * L), .masks = malloc(sizeof(int32_t) * B * L),
                 .labels = malloc(sizeof(int32_t) * B * L), .shuf = malloc(sizeof(int32_t) * B * N),
                 .itm = malloc(sizeof(int32_t) * B), .sid = malloc(sizeof(int64_t) * B)};
    m3ae_model_set_grad_hook(m, hook, &rc);
    const m3ae_pass_list pl = m3ae_pretrain_passes(cfg.objective);
    for (int step = 0; step < 2; step++) { /* two optimizer steps: the state resets between them */
        memset(rc.count, 0, (size_t)r->n * sizeof *rc.count);
        rc.max_rank = -1;
        rc.reports = 0;
        m3ae_model_zero_grads(m);
        for (int j = 0; j < accum; j++) {
            const int last = j == accum - 1;
            m3ae_batch b = make_batch(&cfg, B, (uint64_t)(step * 10 + j + 1), !(last && last_unlabelled), &u);
            b.step = (uint64_t)step;
            b.mlm_denom = 4.0 * accum, b.mim_denom = (double)B * accum * 3, b.itm_denom = (double)B * accum;
            rc.expect = last;
            m3ae_model_stage(m, &b);
            m3ae_losses l;
            m3ae_model_step(m, &b, &pl, last, &l);
            T_CHECK(last || rc.reports == 0, "%d reports on micro-batch %d of %d", rc.reports, j, accum);
            if (last && last_unlabelled) T_CHECK(l.mlm_count == 0, "the last micro-batch has no labelled token");
        }
        rc.expect = 0;
        be->ops->download(be, rc.host, m3ae_model_grads(m), r->arena_floats * sizeof(float));
        int missing = 0, twice = 0, changed = 0;
        for (int k = 0; k < r->n; k++) {
            if (rc.count[k] == 0 && missing++ == 0) T_CHECK(0, "'%s' was never reported", r->p[k].name);
            if (rc.count[k] > 1 && twice++ == 0) T_CHECK(0, "'%s' was reported %d times", r->p[k].name, rc.count[k]);
            if (rc.count[k] == 1 && checksum(rc.host + r->p[k].offset, r->p[k].numel) != rc.sum[k] && changed++ == 0)
                T_CHECK(0, "the gradient of '%s' changed after its report", r->p[k].name);
        }
        T_CHECK(!missing && !twice && !changed, "step %d: %d never reported, %d more than once, %d changed after "
                "the report (of %d tensors, %d reports)", step, missing, twice, changed, r->n, rc.reports);
    }
    T_CHECK(rc.early == 0 && rc.order == 0, "%d early reports, %d out of backward order", rc.early, rc.order);
    printf("  %d tensors in %d reports per step\n", r->n, rc.reports);
    free(u.img), free(u.img2), free(u.noise), free(u.ids), free(u.mids), free(u.masks), free(u.labels);
    free(u.shuf), free(u.itm), free(u.sid);
    free(rc.host), free(rc.count), free(rc.sum);
    m3ae_model_destroy(m);
    m3ae_backend_close(be);
}

int main(void) {
    m3ae_config tiny;
    m3ae_error err;
    m3ae_config_preset(&tiny, "tiny", &err);
    const int mim_layers[3] = {0, 1, tiny.num_top_layer};
    static const char *objectives[2] = {"separate", "joint"};
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < 3; i++)
            for (int a = 1; a <= 3; a += 2) run_case(objectives[o], mim_layers[i], a, 0);
    run_case("separate", tiny.mim_layer, 1, 1);
    run_case("joint", tiny.mim_layer, 3, 1);
    return t_done("test_model_hooks");
}
