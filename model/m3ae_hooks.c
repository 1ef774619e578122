/* Gradient-ready groups and the hook (model/m3ae.h m3ae_model_set_grad_hook).
 *
 * The groups partition the registry into contiguous ranges that one piece of backward finishes
 * together; the modules that register the tensors open the ranges (m3ae_builder_group), so no name
 * is spelled here (checked at creation: every group one contiguous, non-empty range). Which passes write a group is
 * decided here, once per model, from the same reach rule the FLOP model uses for the backward
 * (m3ae_flops_reaches, held to m3ae_pass.c by test_model_flops_reach) plus the heads each pass
 * runs; it depends on the pass and the configuration (mim_layer), never on the data: a group whose
 * pass writes nothing in a micro-batch (the MLM head with no labelled token) is still final after
 * that pass. m3ae_pass.c marks where backward finishes each group (m3ae_grad_final); a mark in a
 * pass that the table says does not write the group is a fatal model bug, as is a group not
 * reported exactly once at the end of a last micro-batch, so the table and the code cannot drift. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/flops.h"
#include "model/m3ae_internal.h"

enum { ALL_PASSES = M3AE_PASS_KINDS }; /* m3ae_pass values */

#define BIT(p) (1u << (p))

/* Passes whose backward writes a tensor of `stream`'s encoder and projection (layer -1) or of fusion
 * layer `layer` of `stream`. */
static unsigned reach(const m3ae_config *c, int stream, int layer) {
    unsigned t = 0;
    for (int p = 0; p < ALL_PASSES; p++)
        if (m3ae_flops_reaches(c, p, stream, layer)) t |= BIT(p);
    return t;
}

/* The passes whose backward writes group (kind, stream, layer): the heads by the passes that run
 * them, everything below by the reach rule. */
static unsigned touch_of(const m3ae_config *c, m3ae_grad_group_kind kind, int stream, int layer) {
    const unsigned mlm = BIT(M3AE_PASS_MLM) | BIT(M3AE_PASS_JOINT), mim = BIT(M3AE_PASS_MIM) | BIT(M3AE_PASS_JOINT);
    switch (kind) {
    case M3AE_GG_MLM_HEAD: return mlm;
    case M3AE_GG_MIM_OUT:
    case M3AE_GG_MIM_BLOCK:
    case M3AE_GG_MIM_IN: return mim;
    case M3AE_GG_ITM_HEAD: return BIT(M3AE_PASS_ITM);
    case M3AE_GG_POOLERS: return BIT(M3AE_PASS_ITM) | BIT(M3AE_PASS_VQA) | BIT(M3AE_PASS_CLS) | BIT(M3AE_PASS_IRTR); /* the pooled heads */
    case M3AE_GG_VQA_HEAD: return BIT(M3AE_PASS_VQA);
    case M3AE_GG_CLS_HEAD: return BIT(M3AE_PASS_CLS);
    case M3AE_GG_IRTR_HEAD: return BIT(M3AE_PASS_IRTR);
    case M3AE_GG_FUSION_FFN:
    case M3AE_GG_FUSION_CROSS:
    case M3AE_GG_FUSION_SELF: return reach(c, stream, layer);
    case M3AE_GG_PROJECTIONS: return reach(c, 0, -1) | reach(c, 1, -1);
    case M3AE_GG_TEXT_FFN:
    case M3AE_GG_TEXT_ATTN:
    case M3AE_GG_TEXT_EMB: return reach(c, 0, -1);
    case M3AE_GG_LN_POST:
    case M3AE_GG_VISION_BLOCK:
    case M3AE_GG_VISION_EMB: return reach(c, 1, -1);
    case M3AE_GG_KINDS: break;
    }
    return 0;
}

void m3ae_grad_groups_build(m3ae_grad_groups *gg, const m3ae_config *c, const m3ae_registry *reg) {
    memset(gg, 0, sizeof *gg);
    const int F = c->num_top_layer, TL = c->text_layers, VL = c->vision_layers, DL = c->mim_decoder_num_layers;
    /* how many groups of each kind: (streams) x layers */
    const int count[M3AE_GG_KINDS] = {
        [M3AE_GG_MLM_HEAD] = 1,     [M3AE_GG_MIM_OUT] = 1,        [M3AE_GG_MIM_BLOCK] = DL,
        [M3AE_GG_MIM_IN] = 1,       [M3AE_GG_ITM_HEAD] = 1,       [M3AE_GG_POOLERS] = 1,
        [M3AE_GG_FUSION_FFN] = 2 * F, [M3AE_GG_FUSION_CROSS] = 2 * F, [M3AE_GG_FUSION_SELF] = 2 * F,
        [M3AE_GG_PROJECTIONS] = 1,  [M3AE_GG_TEXT_FFN] = TL,      [M3AE_GG_TEXT_ATTN] = TL,
        [M3AE_GG_TEXT_EMB] = 1,     [M3AE_GG_LN_POST] = 1,        [M3AE_GG_VISION_BLOCK] = VL,
        [M3AE_GG_VISION_EMB] = 1,   [M3AE_GG_VQA_HEAD] = c->vqa_labels > 0, [M3AE_GG_CLS_HEAD] = c->cls_labels > 0,
        [M3AE_GG_IRTR_HEAD] = c->irtr_head > 0};
    for (int k = 0; k < M3AE_GG_KINDS; k++) {
        gg->base[k] = gg->n;
        gg->n += count[k];
        gg->layers[k] = 1;
    }
    gg->layers[M3AE_GG_MIM_BLOCK] = DL;
    gg->layers[M3AE_GG_FUSION_FFN] = gg->layers[M3AE_GG_FUSION_CROSS] = gg->layers[M3AE_GG_FUSION_SELF] = F;
    gg->layers[M3AE_GG_TEXT_FFN] = gg->layers[M3AE_GG_TEXT_ATTN] = TL;
    gg->layers[M3AE_GG_VISION_BLOCK] = VL;
    gg->g = calloc((size_t)gg->n, sizeof *gg->g);
    gg->last_pass = calloc((size_t)gg->n, sizeof *gg->last_pass);
    gg->reports = calloc((size_t)gg->n, sizeof *gg->reports);
    M3AE_CHECK(gg->g && gg->last_pass && gg->reports, M3AE_EXIT_SYSTEM, "out of memory for %d gradient groups", gg->n);
    gg->pidx = -1;

    /* the ranges come from the registering modules (m3ae_builder_group in model/backbone.c and
     * model/heads/): each group must be one contiguous, non-empty run of entries */
    for (int k = 0; k < reg->n; k++) {
        const m3ae_param *p = &reg->p[k];
        const int kind = p->grad_group;
        M3AE_CHECK(kind >= 0 && kind < M3AE_GG_KINDS, M3AE_EXIT_FAIL,
                   "registry entry '%s' opened no gradient group (a model bug)", p->name);
        const int streams = count[kind] / gg->layers[kind];
        M3AE_CHECK(p->grad_stream >= 0 && p->grad_stream < streams && p->grad_layer >= 0 &&
                       p->grad_layer < gg->layers[kind],
                   M3AE_EXIT_FAIL, "registry entry '%s': gradient group (%d, %d, %d) out of range (a model bug)",
                   p->name, kind, p->grad_stream, p->grad_layer);
        m3ae_grad_group *g = &gg->g[gg->base[kind] + p->grad_stream * gg->layers[kind] + p->grad_layer];
        if (!g->n) {
            g->first = k;
            g->touch = touch_of(c, (m3ae_grad_group_kind)kind, p->grad_stream, p->grad_layer);
        }
        M3AE_CHECK(g->first + g->n == k, M3AE_EXIT_FAIL,
                   "registry entry '%s' is not contiguous with its gradient group starting at '%s' (a model bug)",
                   p->name, reg->p[g->first].name);
        g->n++;
    }
    for (int k = 0; k < M3AE_GG_KINDS; k++)
        for (int g = gg->base[k]; g < gg->base[k] + count[k]; g++)
            M3AE_CHECK(gg->g[g].n > 0, M3AE_EXIT_FAIL, "gradient group %d of kind %d has no tensor (a model bug)",
                       g - gg->base[k], k);
}

void m3ae_grad_groups_free(m3ae_grad_groups *gg) {
    free(gg->g);
    free(gg->last_pass);
    free(gg->reports);
    memset(gg, 0, sizeof *gg);
}

static void report(m3ae_model *m, int g) {
    m3ae_grad_groups *gg = &m->gg;
    gg->reports[g]++;
    /* CPU: every backend entry has returned, the gradient is in memory. The CUDA backend records an
     * event here (be->ops->event_record on the compute stream) before calling fn, and the all-reduce
     * waits on it. */
    if (gg->fn) gg->fn(gg->ctx, gg->g[g].first, gg->g[g].n);
}

void m3ae_grad_groups_begin(m3ae_model *m, const m3ae_pass *passes, int n, int last_micro) {
    m3ae_grad_groups *gg = &m->gg;
    gg->last_micro = last_micro;
    for (int g = 0; g < gg->n; g++) {
        gg->reports[g] = 0;
        gg->last_pass[g] = -1;
        for (int p = 0; p < n; p++)
            if (gg->g[g].touch & BIT(passes[p])) gg->last_pass[g] = p;
    }
    if (!last_micro) return;
    for (int g = 0; g < gg->n; g++) /* no pass of this list writes it: final now */
        if (gg->last_pass[g] < 0) report(m, g);
}

void m3ae_grad_groups_end(m3ae_model *m) {
    m3ae_grad_groups *gg = &m->gg;
    gg->pidx = -1;
    if (!gg->last_micro) return;
    for (int g = 0; g < gg->n; g++)
        M3AE_CHECK(gg->reports[g] == 1, M3AE_EXIT_FAIL,
                   "gradient group starting at '%s' was reported %d times in the step, not once (a model bug)",
                   m->reg.p[gg->g[g].first].name, gg->reports[g]);
}

void m3ae_grad_final(m3ae_model *m, m3ae_grad_group_kind kind, int stream, int layer) {
    m3ae_grad_groups *gg = &m->gg;
    if (gg->pidx < 0) return; /* a pass outside m3ae_model_step (tests, fixtures) */
    const int g = gg->base[kind] + stream * gg->layers[kind] + layer;
    M3AE_CHECK(gg->g[g].touch & BIT(gg->pass), M3AE_EXIT_FAIL,
               "pass %d wrote the gradient group starting at '%s', which the group table says it does not reach "
               "(a model bug: m3ae_flops_reaches and m3ae_pass.c disagree)",
               gg->pass, m->reg.p[gg->g[g].first].name);
    if (gg->last_micro && gg->last_pass[g] == gg->pidx) report(m, g);
}

void m3ae_model_set_grad_hook(m3ae_model *m, m3ae_grad_hook fn, void *ctx) {
    m->gg.fn = fn;
    m->gg.ctx = ctx;
}

void m3ae_model_set_pass_hook(m3ae_model *m, m3ae_pass_hook fn, void *ctx) {
    m->pass_fn = fn;
    m->pass_ctx = ctx;
}
