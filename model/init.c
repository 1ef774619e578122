/* Parameter initialisation (spec 1.7): each tensor is filled by the rule its module registered
 * (m3ae_param.init), from a random stream keyed by the tensor's NAME.
 *
 * The stream of a tensor is m3ae_rng(seed, M3AE_RNG_INIT, a = FNV-1a 64 of its state_dict key, 0),
 * so a tensor's initial values depend only on the seed, its name and its shape: adding or removing
 * another tensor (a new head) changes no other tensor's initial values. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"
#include "model/init.h"
#include "model/m3ae_internal.h"

/* FNV-1a, 64 bits: a fixed, documented function of the name's bytes (changing it changes every
 * run's initial values). */
static uint64_t name_key(const char *name) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        h ^= *c;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* h[0..n) = std * N(0,1): Box-Muller on pairs of counter-based words (element pairs are independent
 * of the thread count, so the result is deterministic). */
static void fill_normal(float *h, size_t n, const m3ae_rng *r, float std) {
    const long long pairs = (long long)((n + 1) / 2);
#pragma omp parallel for schedule(static) if (pairs > 65536)
    for (long long k = 0; k < pairs; k++) {
        uint32_t a = m3ae_rng_u32(r, 2 * (uint64_t)k), b = m3ae_rng_u32(r, 2 * (uint64_t)k + 1);
        float u1 = (float)((a >> 8) + 1) * (1.0f / 16777216.0f); /* (0, 1] */
        float u2 = (float)(b >> 8) * (1.0f / 16777216.0f);       /* [0, 1) */
        float rad = sqrtf(-2.0f * logf(u1)), th = 6.2831853071795864f * u2;
        h[2 * k] = std * rad * cosf(th);
        if ((size_t)(2 * k + 1) < n) h[2 * k + 1] = std * rad * sinf(th);
    }
}

/* h[0..numel) = the initial values of p by its rule. */
static void init_tensor(float *h, const m3ae_param *p, const m3ae_config *cfg, uint64_t seed) {
    const m3ae_rng r = m3ae_rng_make(seed, M3AE_RNG_INIT, name_key(p->name), 0);
    switch (p->init) {
    case M3AE_INIT_NORMAL:
        fill_normal(h, p->numel, &r, 0.02f);
        return;
    case M3AE_INIT_ZEROS:
        memset(h, 0, p->numel * sizeof(float));
        return;
    case M3AE_INIT_ONES:
        for (size_t k = 0; k < p->numel; k++) h[k] = 1.0f;
        return;
    case M3AE_INIT_XAVIER_UNIFORM: { /* fan_out = shape[0], fan_in = shape[1] */
        M3AE_CHECK(p->ndim == 2, M3AE_EXIT_FAIL, "xavier initialisation of '%s' needs a matrix (it has %d dims)",
                   p->name, p->ndim);
        const double bound = sqrt(6.0 / (double)(p->shape[0] + p->shape[1]));
        for (size_t k = 0; k < p->numel; k++) h[k] = (float)((2.0 * m3ae_rng_uniform(&r, k) - 1.0) * bound);
        return;
    }
    case M3AE_INIT_NORMAL_WIDTH: /* CLIP: width ** -0.5, width = the embedding's last dimension */
        fill_normal(h, p->numel, &r, 1.0f / sqrtf((float)p->shape[p->ndim - 1]));
        return;
    case M3AE_INIT_SINCOS: /* [1, N+1, D]: the class row (zeros) and the grid of N patches */
        M3AE_CHECK(p->numel == (size_t)(m3ae_cfg_patches(cfg) + 1) * (size_t)cfg->mim_decoder_hidden_size,
                   M3AE_EXIT_FAIL, "sin-cos table '%s' does not have (patches + 1) x decoder width elements", p->name);
        m3ae_sincos_2d(h, cfg->mim_decoder_hidden_size, m3ae_cfg_grid(cfg));
        return;
    case M3AE_INIT_COUNT:
        break;
    }
    M3AE_FATAL(M3AE_EXIT_FAIL, "parameter '%s' has no initialisation rule (%d)", p->name, (int)p->init);
}

/* Calls sink(ctx, p, values) for every tensor of r, values in a host buffer reused between calls:
 * the one loop both initialisers share, so the arena and the model agree by construction. */
typedef void (*init_sink)(void *ctx, const m3ae_param *p, const float *values);

static void init_all(const m3ae_registry *r, const m3ae_config *cfg, uint64_t seed, init_sink sink, void *ctx) {
    size_t maxn = 1;
    for (int i = 0; i < r->n; i++)
        if (r->p[i].numel > maxn) maxn = r->p[i].numel;
    float *h = malloc(maxn * sizeof(float));
    M3AE_CHECK(h, M3AE_EXIT_SYSTEM, "out of memory allocating the %zu-float initialisation buffer", maxn);
    for (int i = 0; i < r->n; i++) {
        init_tensor(h, &r->p[i], cfg, seed);
        sink(ctx, &r->p[i], h);
    }
    free(h);
}

static void to_host_arena(void *ctx, const m3ae_param *p, const float *values) {
    memcpy((float *)ctx + p->offset, values, p->numel * sizeof(float));
}

void m3ae_init_arena(const m3ae_registry *r, const m3ae_config *cfg, uint64_t seed, float *arena) {
    init_all(r, cfg, seed, to_host_arena, arena);
}

static void to_model(void *ctx, const m3ae_param *p, const float *values) {
    m3ae_model *m = ctx;
    m->be->ops->upload(m->be, m->params + p->offset, values, p->numel * sizeof(float));
    m->be->ops->sync(m->be); /* the values buffer is reused for the next tensor */
}

void m3ae_model_init_params(m3ae_model *m, uint64_t seed) { init_all(&m->reg, &m->cfg, seed, to_model, m); }
