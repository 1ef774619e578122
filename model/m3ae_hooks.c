/* Gradient-ready groups and the hook (model/m3ae.h m3ae_model_set_grad_hook).
 *
 * The groups partition the registry into contiguous ranges that one piece of backward finishes
 * together (checked at creation: every entry in exactly one group). Which passes write a group is
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

enum { ALL_PASSES = 4 }; /* m3ae_pass values 0..3 */

#define BIT(p) (1u << (p))

/* The registry index of a name built from fmt; fatal if missing (the registry and this table disagree). */
static int find(const m3ae_registry *reg, const char *fmt, const char *a, int i) {
    char name[M3AE_PARAM_NAME_LEN];
    snprintf(name, sizeof name, fmt, a, i);
    int k = m3ae_registry_find(reg, name);
    M3AE_CHECK(k >= 0, M3AE_EXIT_FAIL, "gradient group: '%s' is not in the registry (a model bug)", name);
    return k;
}

/* Passes whose backward writes a tensor of `stream`'s encoder and projection (layer -1) or of fusion
 * layer `layer` of `stream`. */
static unsigned reach(const m3ae_config *c, int stream, int layer) {
    unsigned t = 0;
    for (int p = 0; p < ALL_PASSES; p++)
        if (m3ae_flops_reaches(c, p, stream, layer)) t |= BIT(p);
    return t;
}

static void set(m3ae_grad_groups *gg, const m3ae_registry *reg, m3ae_grad_group_kind kind, int stream, int layer,
                unsigned touch, const char *first_fmt, const char *last_fmt, const char *a, int i) {
    m3ae_grad_group *g = &gg->g[gg->base[kind] + stream * gg->layers[kind] + layer];
    const int lo = find(reg, first_fmt, a, i), hi = find(reg, last_fmt, a, i);
    M3AE_CHECK(hi >= lo, M3AE_EXIT_FAIL, "gradient group of '%s': its range is empty (a model bug)", reg->p[lo].name);
    g->first = lo;
    g->n = hi - lo + 1;
    g->touch = touch;
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
        [M3AE_GG_VISION_EMB] = 1};
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

    const unsigned mlm = BIT(M3AE_PASS_MLM) | BIT(M3AE_PASS_JOINT), mim = BIT(M3AE_PASS_MIM) | BIT(M3AE_PASS_JOINT);
    const unsigned itm = BIT(M3AE_PASS_ITM), text = reach(c, 0, -1), image = reach(c, 1, -1);
    /* heads */
    set(gg, reg, M3AE_GG_MLM_HEAD, 0, 0, mlm, "%smlm_head.transform.dense.weight", "%smlm_head.bias", "", 0);
    set(gg, reg, M3AE_GG_MIM_OUT, 0, 0, mim, "%smim_head.decoder_norm.weight", "%smim_head.decoder_pred.bias", "", 0);
    for (int i = 0; i < DL; i++)
        set(gg, reg, M3AE_GG_MIM_BLOCK, 0, i, mim, "%s%d.attn.in_proj_weight", "%s%d.ln_2.bias",
            "mim_head.decoder.resblocks.", i);
    set(gg, reg, M3AE_GG_MIM_IN, 0, 0, mim, "%smim_head.mask_token", "%smim_head.decoder_embed.bias", "", 0);
    set(gg, reg, M3AE_GG_ITM_HEAD, 0, 0, itm, "%sitm_head.fc.weight", "%sitm_head.fc.bias", "", 0);
    set(gg, reg, M3AE_GG_POOLERS, 0, 0, itm, "%smulti_modal_language_pooler.dense.weight",
        "%smulti_modal_vision_pooler.dense.bias", "", 0);
    /* fusion */
    static const char *streams[2] = {"multi_modal_language_layers.", "multi_modal_vision_layers."};
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < F; i++) {
            const unsigned t = reach(c, s, i);
            set(gg, reg, M3AE_GG_FUSION_FFN, s, i, t, "%s%d.intermediate.dense.weight", "%s%d.output.LayerNorm.bias",
                streams[s], i);
            set(gg, reg, M3AE_GG_FUSION_CROSS, s, i, t, "%s%d.crossattention.self.query.weight",
                "%s%d.crossattention.output.LayerNorm.bias", streams[s], i);
            set(gg, reg, M3AE_GG_FUSION_SELF, s, i, t, "%s%d.attention.self.query.weight",
                "%s%d.attention.output.LayerNorm.bias", streams[s], i);
        }
    set(gg, reg, M3AE_GG_PROJECTIONS, 0, 0, text | image, "%smulti_modal_language_proj.weight",
        "%smodality_type_embeddings.weight", "", 0);
    /* text encoder (the top ffn range runs on to the unused pooler, its registry neighbour) */
    for (int i = 0; i < TL; i++) {
        set(gg, reg, M3AE_GG_TEXT_FFN, 0, i, text, "%s%d.intermediate.dense.weight",
            i == TL - 1 ? "language_encoder.pooler.dense.bias" /* a, i unused */ : "%s%d.output.LayerNorm.bias",
            "language_encoder.encoder.layer.", i);
        set(gg, reg, M3AE_GG_TEXT_ATTN, 0, i, text, "%s%d.attention.self.query.weight",
            "%s%d.attention.output.LayerNorm.bias", "language_encoder.encoder.layer.", i);
    }
    set(gg, reg, M3AE_GG_TEXT_EMB, 0, 0, text, "%slanguage_encoder.embeddings.word_embeddings.weight",
        "%slanguage_encoder.embeddings.LayerNorm.bias", "", 0);
    /* vision encoder */
    set(gg, reg, M3AE_GG_LN_POST, 0, 0, image, "%svision_encoder.visual.ln_post.weight",
        "%svision_encoder.visual.ln_post.bias", "", 0);
    for (int i = 0; i < VL; i++)
        set(gg, reg, M3AE_GG_VISION_BLOCK, 0, i, image, "%s%d.attn.in_proj_weight", "%s%d.ln_2.bias",
            "vision_encoder.visual.transformer.resblocks.", i);
    set(gg, reg, M3AE_GG_VISION_EMB, 0, 0, image, "%svision_encoder.visual.class_embedding",
        "%svision_encoder.visual.ln_pre.bias", "", 0);

    /* a partition of the registry: every entry in exactly one group */
    int *owner = calloc((size_t)reg->n, sizeof *owner);
    M3AE_CHECK(owner, M3AE_EXIT_SYSTEM, "out of memory checking the gradient groups");
    for (int g = 0; g < gg->n; g++)
        for (int k = gg->g[g].first; k < gg->g[g].first + gg->g[g].n; k++) owner[k]++;
    for (int k = 0; k < reg->n; k++)
        M3AE_CHECK(owner[k] == 1, M3AE_EXIT_FAIL, "registry entry '%s' is in %d gradient groups, not 1 (a model bug)",
                   reg->p[k].name, owner[k]);
    free(owner);
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
