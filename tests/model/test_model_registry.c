/* The parameter registry and configurations: exact base counts (spec 1.8), official names and
 * optimizer groups (spec 3.1), arena alignment, the FLOP model (spec 7) and the config setter;
 * the registry's facts: gradient flags, initialisation rules (spec 1.7) and initialisation keyed by
 * name, the backward order, the one group-name table. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/config.h"
#include "model/flops.h"
#include "model/init.h"
#include "model/m3ae.h"
#include "model/registry.h"

static size_t numel_of(const m3ae_registry *r, const char *name) {
    int i = m3ae_registry_find(r, name);
    return i < 0 ? 0 : r->p[i].numel;
}

static const m3ae_param *get(const m3ae_registry *r, const char *name) {
    int i = m3ae_registry_find(r, name);
    T_CHECK(i >= 0, "registry lacks '%s'", name);
    return i >= 0 ? &r->p[i] : NULL;
}

static void check_group(const m3ae_registry *r, const char *name, const char *group) {
    const m3ae_param *p = get(r, name);
    if (p) T_CHECK(!strcmp(m3ae_param_group_name(p), group), "%s: group %s, expected %s", name,
                   m3ae_param_group_name(p), group);
}

/* ---- registry facts ---- */

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* The spec 1.7 rule written as the name patterns of the official code (the way m3ae.c decided it
 * before the registry carried it): the registry's per-tensor rule must agree with it everywhere. */
static m3ae_init_rule reference_init(const char *name) {
    if (!strcmp(name, "mim_head.decoder_pos_embed")) return M3AE_INIT_SINCOS;
    if (ends_with(name, "bias")) return M3AE_INIT_ZEROS;
    if (strstr(name, "LayerNorm.") || strstr(name, ".ln_") || strstr(name, "_norm.")) return M3AE_INIT_ONES;
    if (ends_with(name, "in_proj_weight")) return M3AE_INIT_XAVIER_UNIFORM;
    if (ends_with(name, "class_embedding") || ends_with(name, "visual.positional_embedding"))
        return M3AE_INIT_NORMAL_WIDTH;
    return M3AE_INIT_NORMAL;
}

static int rank_of(const m3ae_registry *r, const char *name) {
    int i = m3ae_registry_find(r, name);
    T_CHECK(i >= 0, "registry lacks '%s'", name);
    return i >= 0 ? r->p[i].backward_rank : -1;
}

/* Largest and smallest backward rank among the tensors whose names start with prefix. */
static void rank_range(const m3ae_registry *r, const char *prefix, int *lo, int *hi) {
    *lo = r->n;
    *hi = -1;
    for (int i = 0; i < r->n; i++)
        if (!strncmp(r->p[i].name, prefix, strlen(prefix))) {
            if (r->p[i].backward_rank < *lo) *lo = r->p[i].backward_rank;
            if (r->p[i].backward_rank > *hi) *hi = r->p[i].backward_rank;
        }
    T_CHECK(*hi >= 0, "no tensor starts with '%s'", prefix);
}

/* "every a tensor finishes before every b tensor" */
static void check_before(const m3ae_registry *r, const char *a, const char *b) {
    int alo, ahi, blo, bhi;
    rank_range(r, a, &alo, &ahi);
    rank_range(r, b, &blo, &bhi);
    T_CHECK(ahi < blo, "backward: every %s* (ranks %d..%d) must come before every %s* (%d..%d)", a, alo, ahi, b,
            blo, bhi);
}

static void check_facts(const m3ae_config *cfg) {
    m3ae_registry r;
    m3ae_registry_build(&r, cfg);

    /* has_grad: trainable and used */
    for (int i = 0; i < r.n; i++) {
        const m3ae_param *p = &r.p[i];
        const int pooler = !strncmp(p->name, "language_encoder.pooler.", 24);
        T_CHECK(p->has_grad == (p->trainable && !pooler), "%s: has_grad %d", p->name, p->has_grad);
        T_CHECK(p->init == reference_init(p->name), "%s: init %s, spec 1.7 says %s", p->name,
                m3ae_init_rule_name(p->init), m3ae_init_rule_name(reference_init(p->name)));
    }
    T_CHECK(!get(&r, "mim_head.decoder_pos_embed")->has_grad, "decoder_pos_embed has no gradient");
    T_CHECK(!get(&r, "language_encoder.pooler.dense.weight")->has_grad, "text pooler has no gradient");
    T_CHECK(get(&r, "multi_modal_language_pooler.dense.weight")->has_grad, "fusion pooler has a gradient");

    /* backward order: a permutation, in the documented stage order */
    int *seen = calloc((size_t)r.n, sizeof *seen);
    T_CHECK(seen != NULL, "calloc");
    for (int i = 0; seen && i < r.n; i++) {
        const int k = r.p[i].backward_rank;
        T_CHECK(k >= 0 && k < r.n && !seen[k], "%s: backward rank %d repeated or out of range", r.p[i].name, k);
        if (k >= 0 && k < r.n) seen[k] = 1;
    }
    free(seen);
    /* stages in order: the last rank of a stage comes before the first rank of every later stage */
    for (int s = M3AE_BWD_MLM_HEAD; s < M3AE_BWD_VISION; s++) {
        int last = -1, first_later = r.n;
        for (int i = 0; i < r.n; i++) {
            if ((int)r.p[i].backward_stage == s && r.p[i].backward_rank > last) last = r.p[i].backward_rank;
            if ((int)r.p[i].backward_stage > s && r.p[i].backward_rank < first_later)
                first_later = r.p[i].backward_rank;
        }
        T_CHECK(last >= 0 && last < first_later, "stage %d ends at rank %d, a later stage starts at %d", s, last,
                first_later);
    }
    char a[96], b[96];
    const int L = cfg->num_top_layer;
    for (int hi = L - 1; hi > 0; hi--)
        for (int st = 0; st < 2; st++)
            for (int st2 = 0; st2 < 2; st2++) {
                static const char *s[2] = {"multi_modal_language_layers", "multi_modal_vision_layers"};
                snprintf(a, sizeof a, "%s.%d.", s[st], hi);
                snprintf(b, sizeof b, "%s.%d.", s[st2], hi - 1);
                check_before(&r, a, b);
            }
    check_before(&r, "itm_head.", "multi_modal_");
    check_before(&r, "mlm_head.", "multi_modal_language_layers.");
    check_before(&r, "mim_head.", "multi_modal_vision_layers.");
    check_before(&r, "multi_modal_vision_pooler.", "multi_modal_vision_layers.");
    check_before(&r, "multi_modal_vision_layers.0.", "multi_modal_vision_proj.");
    check_before(&r, "multi_modal_language_proj.", "language_encoder.encoder.");
    check_before(&r, "modality_type_embeddings.", "language_encoder.encoder.");
    snprintf(a, sizeof a, "language_encoder.encoder.layer.%d.", cfg->text_layers - 1);
    check_before(&r, a, "language_encoder.encoder.layer.0.");
    check_before(&r, "language_encoder.encoder.layer.0.", "vision_encoder.visual.transformer.");
    check_before(&r, "vision_encoder.visual.ln_post.", "vision_encoder.visual.transformer.");
    snprintf(a, sizeof a, "vision_encoder.visual.transformer.resblocks.%d.", cfg->vision_layers - 1);
    check_before(&r, a, "vision_encoder.visual.transformer.resblocks.0.");
    /* the real order of the step's reports (test_model_hooks): the text embeddings finish right after
     * the text encoder, before the vision encoder; the MLM head before the MIM head */
    check_before(&r, "language_encoder.encoder.layer.0.", "language_encoder.embeddings.");
    check_before(&r, "language_encoder.embeddings.", "vision_encoder.visual.ln_post.");
    check_before(&r, "mlm_head.", "mim_head.");
    check_before(&r, "mim_head.", "itm_head.");
    check_before(&r, "mim_head.decoder_pred.", "mim_head.decoder_embed.");
    check_before(&r, "multi_modal_language_pooler.", "multi_modal_language_layers.");
    check_before(&r, "vision_encoder.visual.transformer.resblocks.0.", "vision_encoder.visual.conv1.");
    /* inside a layer, output first: the FFN's output LayerNorm before the attention's query */
    T_CHECK(rank_of(&r, "multi_modal_language_layers.0.output.LayerNorm.weight") <
                rank_of(&r, "multi_modal_language_layers.0.attention.self.query.weight"),
            "fusion layer 0: output before attention");
    /* inside a fusion layer the language stream finishes before the vision stream */
    T_CHECK(rank_of(&r, "multi_modal_language_layers.0.attention.self.query.weight") <
                rank_of(&r, "multi_modal_vision_layers.0.output.LayerNorm.weight"),
            "fusion layer 0: language stream before vision stream");
    T_CHECK(rank_of(&r, "vision_encoder.visual.conv1.weight") > rank_of(&r, "vision_encoder.visual.ln_post.weight"),
            "conv1 last-ish, after ln_post");

    /* the one group-name table */
    for (int g = 0; g < M3AE_N_OPT_GROUPS; g++)
        for (int h = g + 1; h < M3AE_N_OPT_GROUPS; h++)
            T_CHECK(strcmp(m3ae_group_name(g), m3ae_group_name(h)), "group names %d and %d differ", g, h);
    for (int i = 0; i < r.n; i++)
        T_CHECK(m3ae_param_group_name(&r.p[i]) == m3ae_group_name(m3ae_param_group_index(&r.p[i])),
                "%s: group name from the one table", r.p[i].name);
    m3ae_registry_free(&r);
}

/* Initial values by rule (statistics on the tiny model) and keyed by name: a registry with an extra
 * tensor inserted in the middle gives every common tensor the same values. */
static void check_init(const m3ae_config *cfg) {
    m3ae_registry r, x;
    m3ae_registry_build(&r, cfg);
    m3ae_registry_build(&x, cfg);
    /* x: a hypothetical head's tensor inserted at the middle, the arena laid out again */
    const int mid = x.n / 2;
    m3ae_param *grown = realloc(x.p, (size_t)(x.n + 1) * sizeof *grown);
    T_CHECK(grown != NULL, "realloc");
    if (!grown) return;
    x.p = grown;
    memmove(&x.p[mid + 1], &x.p[mid], (size_t)(x.n - mid) * sizeof *x.p);
    m3ae_param extra = x.p[mid];
    snprintf(extra.name, sizeof extra.name, "vqa_head.inserted.weight");
    extra.init = M3AE_INIT_NORMAL;
    x.p[mid] = extra;
    x.n++;
    x.arena_floats = 0;
    for (int i = 0; i < x.n; i++) {
        x.p[i].offset = x.arena_floats;
        x.arena_floats += (x.p[i].numel + 15) / 16 * 16;
    }
    float *ar = calloc(r.arena_floats, sizeof(float)), *ax = calloc(x.arena_floats, sizeof(float));
    float *ar2 = calloc(r.arena_floats, sizeof(float));
    T_CHECK(ar && ax && ar2, "calloc");
    if (!ar || !ax || !ar2) return;
    m3ae_init_arena(&r, cfg, 42, ar);
    m3ae_init_arena(&x, cfg, 42, ax);
    m3ae_init_arena(&r, cfg, 43, ar2);
    int same = 0, differs_by_seed = 0, random_tensors = 0;
    for (int i = 0; i < r.n; i++) {
        const m3ae_param *p = &r.p[i];
        const float *v = ar + p->offset, *w = ax + x.p[m3ae_registry_find(&x, p->name)].offset;
        same += !memcmp(v, w, p->numel * sizeof(float));
        if (p->init == M3AE_INIT_NORMAL || p->init == M3AE_INIT_XAVIER_UNIFORM || p->init == M3AE_INIT_NORMAL_WIDTH) {
            random_tensors++;
            differs_by_seed += memcmp(v, ar2 + p->offset, p->numel * sizeof(float)) != 0;
        }
        /* the rule's values */
        double sum = 0, sq = 0, mx = 0;
        for (size_t k = 0; k < p->numel; k++) {
            sum += v[k];
            sq += (double)v[k] * v[k];
            if (fabs(v[k]) > mx) mx = fabs(v[k]);
        }
        const double rms = sqrt(sq / (double)p->numel);
        switch (p->init) {
        case M3AE_INIT_ZEROS: T_CHECK(mx == 0, "%s: zeros", p->name); break;
        case M3AE_INIT_ONES: T_CHECK(sum == (double)p->numel && mx == 1, "%s: ones", p->name); break;
        case M3AE_INIT_NORMAL:
            if (p->numel >= 1000) T_CLOSE(rms, 0.02, 0, 0.1, "%s: rms %.4f, std 0.02", p->name, rms);
            break;
        case M3AE_INIT_NORMAL_WIDTH:
            if (p->numel >= 200)
                T_CLOSE(rms, 1.0 / sqrt((double)cfg->vision_width), 0, 0.15, "%s: rms %.4f, std width^-1/2", p->name,
                        rms);
            break;
        case M3AE_INIT_XAVIER_UNIFORM: {
            const double bound = sqrt(6.0 / (double)(p->shape[0] + p->shape[1]));
            T_CHECK(mx <= bound && mx > 0.9 * bound, "%s: max %.4f in the xavier bound %.4f", p->name, mx, bound);
            break;
        }
        case M3AE_INIT_SINCOS: {
            float *t = malloc(p->numel * sizeof(float));
            T_CHECK(t != NULL, "malloc");
            if (t) {
                m3ae_sincos_2d(t, cfg->mim_decoder_hidden_size, m3ae_cfg_grid(cfg));
                T_CHECK(!memcmp(t, v, p->numel * sizeof(float)), "%s: the sin-cos table", p->name);
                free(t);
            }
            break;
        }
        default: T_CHECK(0, "%s: unknown rule", p->name);
        }
    }
    T_CHECK(same == r.n, "inserting a tensor changed %d of %d other tensors' initial values", r.n - same, r.n);
    T_CHECK(differs_by_seed == random_tensors, "the seed changes every random tensor (%d of %d)", differs_by_seed,
            random_tensors);
    /* two random tensors of one shape and rule get different values (the name keys the stream) */
    const m3ae_param *q = get(&r, "multi_modal_language_layers.0.attention.self.query.weight");
    const m3ae_param *k = get(&r, "multi_modal_language_layers.0.attention.self.key.weight");
    if (q && k) T_CHECK(memcmp(ar + q->offset, ar + k->offset, q->numel * sizeof(float)), "query and key differ");
    free(ar);
    free(ax);
    free(ar2);
    m3ae_registry_free(&r);
    m3ae_registry_free(&x);
}

/* ---- identity: the registry's layout is frozen ----
 * An FNV-1a checksum over every fact of every entry (name, shape, offset, init rule, trainable,
 * has_grad, backward stage and rank, group, decay, module) plus the entry count and arena size. The
 * expected values were computed from main before the registry was rebuilt from the module tensor
 * functions (model/backbone.c, model/heads/): any change of order, offset, rule or rank fails here. */
static uint64_t fnv(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static uint64_t fnv_i64(uint64_t h, int64_t v) { return fnv(h, &v, sizeof v); }

static uint64_t registry_checksum(const m3ae_registry *r) {
    uint64_t h = 14695981039346656037ull;
    h = fnv_i64(h, r->n);
    h = fnv_i64(h, (int64_t)r->arena_floats);
    for (int i = 0; i < r->n; i++) {
        const m3ae_param *p = &r->p[i];
        h = fnv(h, p->name, strlen(p->name) + 1);
        h = fnv_i64(h, p->ndim);
        for (int d = 0; d < p->ndim; d++) h = fnv_i64(h, p->shape[d]);
        h = fnv_i64(h, (int64_t)p->offset);
        h = fnv_i64(h, p->init);
        h = fnv_i64(h, p->trainable);
        h = fnv_i64(h, p->has_grad);
        h = fnv_i64(h, p->backward_stage);
        h = fnv_i64(h, p->backward_rank);
        h = fnv_i64(h, p->group);
        h = fnv_i64(h, p->decay);
        h = fnv_i64(h, p->module);
    }
    return h;
}

static void check_identity(void) {
    static const struct {
        const char *preset;
        uint64_t sum;
    } want[] = {{"base", 0xd38e365c891f57b7ull}, {"small", 0x53f8d4b1dd333493ull}, {"tiny", 0xc19f2dcfa2279176ull}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        m3ae_config cfg;
        m3ae_error err;
        T_CHECK(m3ae_config_preset(&cfg, want[i].preset, &err) == 0, "%s preset", want[i].preset);
        m3ae_registry r;
        m3ae_registry_build(&r, &cfg);
        uint64_t got = registry_checksum(&r);
        T_CHECK(got == want[i].sum, "%s: registry checksum 0x%016llxull, expected 0x%016llxull (entries, order, "
                "offsets, init rules, has_grad or backward ranks changed)", want[i].preset,
                (unsigned long long)got, (unsigned long long)want[i].sum);
        m3ae_registry_free(&r);
    }
}

int main(void) {
    m3ae_config cfg;
    m3ae_error err;
    T_CHECK(m3ae_config_preset(&cfg, "base", &err) == 0, "base preset");
    T_CHECK(m3ae_config_validate(&cfg, &err) == 0, "base validates: %s", err.msg);
    m3ae_registry r;
    m3ae_registry_build(&r, &cfg);
    m3ae_registry_print_summary(&r, stdout);

    /* spec 1.8 */
    T_CHECK(m3ae_registry_module_count(&r, M3AE_MOD_VISION, 1) == 78809856, "CLIP visual %zu",
            m3ae_registry_module_count(&r, M3AE_MOD_VISION, 1));
    T_CHECK(m3ae_registry_module_count(&r, M3AE_MOD_TEXT, 1) == 124645632, "RoBERTa %zu",
            m3ae_registry_module_count(&r, M3AE_MOD_TEXT, 1));
    T_CHECK(m3ae_registry_module_count(&r, M3AE_MOD_FUSION, 1) == 113421312, "fusion %zu",
            m3ae_registry_module_count(&r, M3AE_MOD_FUSION, 1));
    T_CHECK(m3ae_registry_module_count(&r, M3AE_MOD_PROJ_POOL, 1) == 2363904, "proj+pool+type %zu",
            m3ae_registry_module_count(&r, M3AE_MOD_PROJ_POOL, 1));
    T_CHECK(m3ae_registry_module_count(&r, M3AE_MOD_MLM_HEAD, 1) == 39245913, "MLM head %zu",
            m3ae_registry_module_count(&r, M3AE_MOD_MLM_HEAD, 1));
    T_CHECK(m3ae_registry_module_count(&r, M3AE_MOD_MIM_HEAD, 1) == 7814784, "MIM head %zu",
            m3ae_registry_module_count(&r, M3AE_MOD_MIM_HEAD, 1));
    T_CHECK(m3ae_registry_module_count(&r, M3AE_MOD_MIM_HEAD, 0) == 7814784 - 124800, "MIM head trainable %zu",
            m3ae_registry_module_count(&r, M3AE_MOD_MIM_HEAD, 0));
    T_CHECK(m3ae_registry_module_count(&r, M3AE_MOD_ITM_HEAD, 1) == 3074, "ITM head %zu",
            m3ae_registry_module_count(&r, M3AE_MOD_ITM_HEAD, 1));
    T_CHECK(m3ae_registry_count(&r, 1, 1) == 366304475, "total incl. pooler %zu", m3ae_registry_count(&r, 1, 1));
    T_CHECK(m3ae_registry_count(&r, 1, 0) == 365713883, "total excl. pooler %zu", m3ae_registry_count(&r, 1, 0));
    T_CHECK(numel_of(&r, "language_encoder.pooler.dense.weight") == 589824, "pooler weight present");
    T_CHECK(numel_of(&r, "vision_encoder.visual.transformer.resblocks.10.attn.in_proj_weight") == 2304 * 768,
            "last CLIP block is 10");
    T_CHECK(m3ae_registry_find(&r, "vision_encoder.visual.transformer.resblocks.11.ln_1.weight") < 0,
            "CLIP block 11 is not built");
    T_CHECK(numel_of(&r, "vision_encoder.visual.positional_embedding") == 325 * 768, "pos 325x768");
    T_CHECK(m3ae_registry_find(&r, "vision_encoder.token_embedding.weight") < 0, "no CLIP text leftovers");
    T_CHECK(numel_of(&r, "language_encoder.encoder.layer.0.attention.self.query.weight") == 768 * 768, "query");
    T_CHECK(numel_of(&r, "multi_modal_vision_layers.2.crossattention.self.key.bias") == 768, "cross key bias");
    T_CHECK(numel_of(&r, "mim_head.decoder_pred.weight") == 768 * 384, "decoder_pred");
    T_CHECK(numel_of(&r, "mim_head.decoder.resblocks.3.attn.in_proj_weight") == 1152 * 384, "decoder block 3");

    /* unique names, aligned offsets, no overlap */
    for (int i = 0; i < r.n; i++) {
        T_CHECK(r.p[i].offset * 4 % 64 == 0, "%s offset %zu not 64-byte aligned", r.p[i].name, r.p[i].offset);
        if (i + 1 < r.n)
            T_CHECK(r.p[i].offset + r.p[i].numel <= r.p[i + 1].offset, "%s overlaps the next tensor", r.p[i].name);
        for (int j = i + 1; j < r.n; j++)
            if (!strcmp(r.p[i].name, r.p[j].name)) T_CHECK(0, "duplicate name %s", r.p[i].name);
    }
    T_CHECK(r.p[r.n - 1].offset + r.p[r.n - 1].numel <= r.arena_floats, "arena holds the last tensor");

    /* spec 3.1 groups */
    check_group(&r, "vision_encoder.visual.ln_pre.weight", "base/decay");
    check_group(&r, "vision_encoder.visual.transformer.resblocks.0.ln_1.weight", "base/decay");
    check_group(&r, "vision_encoder.visual.transformer.resblocks.0.ln_1.bias", "base/no_decay");
    check_group(&r, "vision_encoder.visual.class_embedding", "base/decay");
    check_group(&r, "language_encoder.embeddings.LayerNorm.weight", "base/no_decay");
    check_group(&r, "modality_type_embeddings.weight", "base/decay");
    check_group(&r, "multi_modal_language_proj.weight", "multi_modal/decay");
    check_group(&r, "multi_modal_vision_layers.0.output.LayerNorm.weight", "multi_modal/no_decay");
    check_group(&r, "multi_modal_vision_pooler.dense.bias", "multi_modal/no_decay");
    check_group(&r, "mim_head.decoder_norm.weight", "head/no_decay");
    check_group(&r, "mim_head.decoder.resblocks.0.ln_1.weight", "head/decay");
    check_group(&r, "mim_head.mask_token", "head/decay");
    check_group(&r, "mlm_head.bias", "head/no_decay");
    check_group(&r, "mlm_head.transform.LayerNorm.weight", "head/no_decay");
    check_group(&r, "itm_head.fc.weight", "head/decay");
    const m3ae_param *pe = get(&r, "mim_head.decoder_pos_embed");
    if (pe) T_CHECK(!pe->trainable, "decoder_pos_embed is fixed");
    T_CHECK(m3ae_param_name_decays("x.norm1.weight") == 0 && m3ae_param_name_decays("x.norm2.bias") == 0, "norm1/2");

    /* spec 7 FLOP model */
    m3ae_flops fl;
    m3ae_flops_compute(&cfg, &fl);
    T_CLOSE(fl.forward_total / 1e9, 277.78, 0.02, 0, "forward GFLOP/sample %.3f (spec 277.78)", fl.forward_total / 1e9);
    T_CLOSE(fl.forward[0] / 1e9, 117.90, 0.02, 0, "MLM pass %.3f (spec 117.90)", fl.forward[0] / 1e9);
    T_CLOSE(fl.forward[1] / 1e9, 46.99, 0.02, 0, "MIM pass %.3f (spec 46.99)", fl.forward[1] / 1e9);
    T_CLOSE(fl.forward[2] / 1e9, 112.88, 0.02, 0, "ITM pass %.3f (spec 112.88)", fl.forward[2] / 1e9);
    T_CLOSE(fl.train_total / 1e9, 833.3, 0.1, 0, "training GFLOP/sample %.2f (spec 833.3)", fl.train_total / 1e9);
    m3ae_config joint = cfg;
    joint.objective = M3AE_OBJECTIVE_JOINT;
    m3ae_flops fj;
    m3ae_flops_compute(&joint, &fj);
    /* joint: one pass over 82 image tokens with both heads (47.0 + 5.0) + the ITM pass (112.9) */
    T_CLOSE(fj.forward_total / 1e9, 46.99 + 5.017 + 112.88, 0.05, 0, "joint forward GFLOP/sample %.3f",
            fj.forward_total / 1e9);
    m3ae_registry_free(&r);

    /* config setter */
    T_CHECK(m3ae_config_set(&cfg, "hiden_size", "64", &err) == -1, "unknown key rejected");
    T_CHECK(strstr(err.msg, "'hidden_size'") != NULL, "suggests hidden_size: %s", err.msg);
    T_CHECK(m3ae_config_set(&cfg, "mim_prob", "1.5", &err) == -1, "range checked");
    T_CHECK(strstr(err.msg, "mim_prob") && strstr(err.msg, "0.999"), "names key and range: %s", err.msg);
    T_CHECK(m3ae_config_set(&cfg, "num_heads", "2.5", &err) == -1, "integer checked");
    T_CHECK(m3ae_config_set(&cfg, "num_heads", "abc", &err) == -1, "number checked");
    T_CHECK(m3ae_config_set(&cfg, "num_heads", "10", &err) == 0, "set ok");
    T_CHECK(cfg.num_heads == 10, "value set");
    T_CHECK(m3ae_config_validate(&cfg, &err) == -1 && strstr(err.msg, "num_heads"), "768 %% 10 rejected: %s", err.msg);
    T_CHECK(m3ae_config_preset(&cfg, "huge", &err) == -1 && strstr(err.msg, "base"), "unknown preset lists presets");
    const char *names[] = {"small", "tiny"};
    for (int i = 0; i < 2; i++) {
        T_CHECK(m3ae_config_preset(&cfg, names[i], &err) == 0, "%s preset", names[i]);
        T_CHECK(m3ae_config_validate(&cfg, &err) == 0, "%s validates: %s", names[i], err.msg);
    }
    T_CHECK(m3ae_config_set(&cfg, "objective", "both", &err) == -1 && strstr(err.msg, "joint"), "enum checked: %s",
            err.msg);
    T_CHECK(m3ae_config_set(&cfg, "objective", "joint", &err) == 0 && cfg.objective == M3AE_OBJECTIVE_JOINT,
            "objective joint");
    T_CHECK(cfg.vocab_size == 1000 && cfg.max_position_embeddings == 18 && cfg.text_width == 40, "tiny values");

    /* registry facts on base (6 fusion layers) and tiny; initial values on tiny */
    T_CHECK(m3ae_config_preset(&cfg, "base", &err) == 0, "base preset");
    check_facts(&cfg);
    T_CHECK(m3ae_config_preset(&cfg, "tiny", &err) == 0, "tiny preset");
    check_facts(&cfg);
    check_init(&cfg);
    check_identity();
    return t_done("test_model_registry");
}
