/* The parameter registry: the one description of every M3AE tensor (names = official state_dict
 * keys, spec section 5; groups = official substring rules, spec 3.1). */
#include "model/registry.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"

/* ---- the official rules ---- */

int m3ae_param_name_decays(const char *name) {
    static const char *no_decay[] = {"bias",        "LayerNorm.bias", "LayerNorm.weight", "norm.bias",
                                     "norm.weight", "norm1.",         "norm2."};
    for (size_t i = 0; i < sizeof no_decay / sizeof no_decay[0]; i++)
        if (strstr(name, no_decay[i])) return 0;
    return 1;
}

m3ae_lr_group m3ae_param_name_group(const char *name) {
    static const char *heads[] = {"mlm_head", "mim_head", "itm_head", "vqa_head", "cls_head", "irtr_head"};
    if (strstr(name, "multi_modal")) return M3AE_LR_MULTI_MODAL;
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
        if (strstr(name, heads[i])) return M3AE_LR_HEAD;
    return M3AE_LR_BASE;
}

const char *m3ae_module_name(m3ae_module m) {
    static const char *names[M3AE_MOD_COUNT] = {
        "CLIP visual", "RoBERTa (incl. pooler)", "fusion layers", "proj+pool+type", "MLM head", "MIM head",
        "ITM head"};
    return m >= 0 && m < M3AE_MOD_COUNT ? names[m] : "?";
}

int m3ae_param_group_index(const m3ae_param *p) { return (int)p->group * 2 + !p->decay; }

const char *m3ae_group_name(int index) {
    static const char *names[M3AE_N_OPT_GROUPS] = {"base/decay",        "base/no_decay",
                                                   "head/decay",        "head/no_decay",
                                                   "multi_modal/decay", "multi_modal/no_decay"};
    return index >= 0 && index < M3AE_N_OPT_GROUPS ? names[index] : "?";
}

const char *m3ae_param_group_name(const m3ae_param *p) { return m3ae_group_name(m3ae_param_group_index(p)); }

const char *m3ae_init_rule_name(m3ae_init_rule rule) {
    static const char *names[M3AE_INIT_COUNT] = {"normal(0.02)", "zeros", "ones", "xavier_uniform",
                                                 "normal(width^-1/2)", "sincos_2d"};
    return rule >= 0 && rule < M3AE_INIT_COUNT ? names[rule] : "?";
}

/* ---- building ---- */

/* The builder's current section: the module tensors are counted in, their backward stage, the
 * fusion layer and stream (sorting keys inside the fusion stage; 0 elsewhere), and whether the
 * section's tensors receive gradients. */
typedef struct {
    m3ae_registry *r;
    int cap;
    m3ae_module module;
    m3ae_backward_stage stage;
    int layer, stream;
    int has_grad;
    int *layer_of, *stream_of; /* per entry, the section's layer and stream (for the backward order) */
} builder;

enum { FIXED = 0, TRAINABLE = 1 };

static void add(builder *b, int trainable, m3ae_init_rule init, int ndim, const int64_t *shape, const char *fmt,
                ...) __attribute__((format(printf, 6, 7)));
static void add(builder *b, int trainable, m3ae_init_rule init, int ndim, const int64_t *shape, const char *fmt,
                ...) {
    m3ae_registry *r = b->r;
    if (r->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 256;
        r->p = realloc(r->p, (size_t)b->cap * sizeof *r->p);
        M3AE_CHECK(r->p, M3AE_EXIT_SYSTEM, "out of memory growing the parameter registry to %d entries", b->cap);
        b->layer_of = realloc(b->layer_of, (size_t)b->cap * sizeof *b->layer_of);
        b->stream_of = realloc(b->stream_of, (size_t)b->cap * sizeof *b->stream_of);
        M3AE_CHECK(b->layer_of && b->stream_of, M3AE_EXIT_SYSTEM,
                   "out of memory growing the parameter registry to %d entries", b->cap);
    }
    b->layer_of[r->n] = b->layer;
    b->stream_of[r->n] = b->stream;
    m3ae_param *p = &r->p[r->n++];
    memset(p, 0, sizeof *p);
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    M3AE_CHECK(len > 0 && len < (int)sizeof p->name, M3AE_EXIT_FAIL, "parameter name too long: %s", p->name);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    p->trainable = trainable;
    p->has_grad = trainable && b->has_grad;
    p->init = init;
    p->backward_stage = b->stage;
    p->decay = m3ae_param_name_decays(p->name);
    p->group = m3ae_param_name_group(p->name);
    p->module = b->module;
    p->offset = r->arena_floats;
    r->arena_floats += m3ae_align_up(p->numel * sizeof(float)) / sizeof(float);
}

#define S1(a) 1, (const int64_t[]){(a)}
#define S2(a, b) 2, (const int64_t[]){(a), (b)}
#define S3(a, b, c) 3, (const int64_t[]){(a), (b), (c)}
#define S4(a, b, c, d) 4, (const int64_t[]){(a), (b), (c), (d)}

static void linear(builder *b, int64_t out, int64_t in, const char *prefix) {
    add(b, TRAINABLE, M3AE_INIT_NORMAL, S2(out, in), "%s.weight", prefix);
    add(b, TRAINABLE, M3AE_INIT_ZEROS, S1(out), "%s.bias", prefix);
}

static void layernorm(builder *b, int64_t c, const char *prefix) {
    add(b, TRAINABLE, M3AE_INIT_ONES, S1(c), "%s.weight", prefix);
    add(b, TRAINABLE, M3AE_INIT_ZEROS, S1(c), "%s.bias", prefix);
}

/* A CLIP ResidualAttentionBlock: fused in_proj, out_proj, ln_1, mlp c_fc/c_proj (4x), ln_2. */
static void clip_block(builder *b, int64_t w, const char *prefix) {
    char s[M3AE_PARAM_NAME_LEN];
    add(b, TRAINABLE, M3AE_INIT_XAVIER_UNIFORM, S2(3 * w, w), "%s.attn.in_proj_weight", prefix);
    add(b, TRAINABLE, M3AE_INIT_ZEROS, S1(3 * w), "%s.attn.in_proj_bias", prefix);
    snprintf(s, sizeof s, "%s.attn.out_proj", prefix);
    linear(b, w, w, s);
    snprintf(s, sizeof s, "%s.ln_1", prefix);
    layernorm(b, w, s);
    snprintf(s, sizeof s, "%s.mlp.c_fc", prefix);
    linear(b, 4 * w, w, s);
    snprintf(s, sizeof s, "%s.mlp.c_proj", prefix);
    linear(b, w, 4 * w, s);
    snprintf(s, sizeof s, "%s.ln_2", prefix);
    layernorm(b, w, s);
}

/* A BERT attention block (`attention` or `crossattention`): query/key/value, output dense + LayerNorm. */
static void bert_attention(builder *b, int64_t w, const char *prefix) {
    static const char *qkv[3] = {"query", "key", "value"};
    char s[M3AE_PARAM_NAME_LEN];
    for (int i = 0; i < 3; i++) {
        snprintf(s, sizeof s, "%s.self.%s", prefix, qkv[i]);
        linear(b, w, w, s);
    }
    snprintf(s, sizeof s, "%s.output.dense", prefix);
    linear(b, w, w, s);
    snprintf(s, sizeof s, "%s.output.LayerNorm", prefix);
    layernorm(b, w, s);
}

static void bert_ffn(builder *b, int64_t w, int64_t f, const char *prefix) {
    char s[M3AE_PARAM_NAME_LEN];
    snprintf(s, sizeof s, "%s.intermediate.dense", prefix);
    linear(b, f, w, s);
    snprintf(s, sizeof s, "%s.output.dense", prefix);
    linear(b, w, f, s);
    snprintf(s, sizeof s, "%s.output.LayerNorm", prefix);
    layernorm(b, w, s);
}

/* Backward ranks from the sections' stages (rule in registry.h): sort by (stage, fusion layer
 * descending, fusion stream ascending, registration index descending). */
typedef struct {
    int stage, layer, stream, index;
} backward_key;

static int backward_cmp(const void *x, const void *y) {
    const backward_key *p = x, *q = y;
    if (p->stage != q->stage) return p->stage < q->stage ? -1 : 1;
    if (p->layer != q->layer) return p->layer > q->layer ? -1 : 1;
    if (p->stream != q->stream) return p->stream < q->stream ? -1 : 1;
    return p->index > q->index ? -1 : p->index < q->index;
}

static void assign_backward_ranks(const builder *b) {
    m3ae_registry *r = b->r;
    backward_key *keys = malloc((size_t)r->n * sizeof *keys);
    M3AE_CHECK(keys, M3AE_EXIT_SYSTEM, "out of memory ordering %d registry entries", r->n);
    for (int i = 0; i < r->n; i++) keys[i] = (backward_key){(int)r->p[i].backward_stage, b->layer_of[i], b->stream_of[i], i};
    qsort(keys, (size_t)r->n, sizeof *keys, backward_cmp);
    for (int k = 0; k < r->n; k++) r->p[keys[k].index].backward_rank = k;
    free(keys);
}

static void section(builder *b, m3ae_module module, m3ae_backward_stage stage) {
    b->module = module;
    b->stage = stage;
    b->layer = b->stream = 0;
    b->has_grad = 1;
}

void m3ae_registry_build(m3ae_registry *r, const m3ae_config *c) {
    memset(r, 0, sizeof *r);
    builder b = {.r = r};
    char s[M3AE_PARAM_NAME_LEN];
    const int64_t P = c->patch_size, N = m3ae_cfg_patches(c), Dv = c->vision_width, Dt = c->text_width;
    const int64_t H = c->hidden_size, Dd = c->mim_decoder_hidden_size;

    /* CLIP visual: its embeddings, then the transformer */
    section(&b, M3AE_MOD_VISION, M3AE_BWD_VISION);
    add(&b, TRAINABLE, M3AE_INIT_NORMAL_WIDTH, S1(Dv), "vision_encoder.visual.class_embedding");
    add(&b, TRAINABLE, M3AE_INIT_NORMAL_WIDTH, S2(N + 1, Dv), "vision_encoder.visual.positional_embedding");
    add(&b, TRAINABLE, M3AE_INIT_NORMAL, S4(Dv, 3, P, P), "vision_encoder.visual.conv1.weight");
    layernorm(&b, Dv, "vision_encoder.visual.ln_pre");
    for (int i = 0; i < c->vision_layers; i++) {
        snprintf(s, sizeof s, "vision_encoder.visual.transformer.resblocks.%d", i);
        clip_block(&b, Dv, s);
    }
    layernorm(&b, Dv, "vision_encoder.visual.ln_post");

    /* RoBERTa: embeddings, layers, and the pooler METER never calls (no gradient) */
    section(&b, M3AE_MOD_TEXT, M3AE_BWD_TEXT);
    add(&b, TRAINABLE, M3AE_INIT_NORMAL, S2(c->vocab_size, Dt), "language_encoder.embeddings.word_embeddings.weight");
    add(&b, TRAINABLE, M3AE_INIT_NORMAL, S2(c->max_position_embeddings, Dt),
        "language_encoder.embeddings.position_embeddings.weight");
    add(&b, TRAINABLE, M3AE_INIT_NORMAL, S2(1, Dt), "language_encoder.embeddings.token_type_embeddings.weight");
    layernorm(&b, Dt, "language_encoder.embeddings.LayerNorm");
    for (int i = 0; i < c->text_layers; i++) {
        snprintf(s, sizeof s, "language_encoder.encoder.layer.%d.attention", i);
        bert_attention(&b, Dt, s);
        snprintf(s, sizeof s, "language_encoder.encoder.layer.%d", i);
        bert_ffn(&b, Dt, c->text_ffn, s);
    }
    b.has_grad = 0;
    linear(&b, Dt, Dt, "language_encoder.pooler.dense");

    /* projections and type embeddings */
    section(&b, M3AE_MOD_PROJ_POOL, M3AE_BWD_PROJECTIONS);
    linear(&b, H, Dt, "multi_modal_language_proj");
    linear(&b, H, Dv, "multi_modal_vision_proj");
    add(&b, TRAINABLE, M3AE_INIT_NORMAL, S2(2, H), "modality_type_embeddings.weight");

    /* fusion */
    section(&b, M3AE_MOD_FUSION, M3AE_BWD_FUSION);
    static const char *streams[2] = {"multi_modal_language_layers", "multi_modal_vision_layers"};
    for (int st = 0; st < 2; st++)
        for (int i = 0; i < c->num_top_layer; i++) {
            b.layer = i;
            b.stream = st;
            snprintf(s, sizeof s, "%s.%d.attention", streams[st], i);
            bert_attention(&b, H, s);
            snprintf(s, sizeof s, "%s.%d.crossattention", streams[st], i);
            bert_attention(&b, H, s);
            snprintf(s, sizeof s, "%s.%d", streams[st], i);
            bert_ffn(&b, H, m3ae_cfg_fusion_ffn(c), s);
        }

    /* poolers (read by the ITM head only) */
    section(&b, M3AE_MOD_PROJ_POOL, M3AE_BWD_ITM_HEAD);
    linear(&b, H, H, "multi_modal_language_pooler.dense");
    linear(&b, H, H, "multi_modal_vision_pooler.dense");

    /* MLM head */
    section(&b, M3AE_MOD_MLM_HEAD, M3AE_BWD_MLM_HEAD);
    linear(&b, H, H, "mlm_head.transform.dense");
    layernorm(&b, H, "mlm_head.transform.LayerNorm");
    add(&b, TRAINABLE, M3AE_INIT_NORMAL, S2(c->vocab_size, H), "mlm_head.decoder.weight");
    add(&b, TRAINABLE, M3AE_INIT_ZEROS, S1(c->vocab_size), "mlm_head.bias");

    /* MIM head */
    section(&b, M3AE_MOD_MIM_HEAD, M3AE_BWD_MIM_HEAD);
    add(&b, TRAINABLE, M3AE_INIT_NORMAL, S3(1, 1, Dd), "mim_head.mask_token");
    add(&b, FIXED, M3AE_INIT_SINCOS, S3(1, N + 1, Dd), "mim_head.decoder_pos_embed");
    linear(&b, Dd, H, "mim_head.decoder_embed");
    for (int i = 0; i < c->mim_decoder_num_layers; i++) {
        snprintf(s, sizeof s, "mim_head.decoder.resblocks.%d", i);
        clip_block(&b, Dd, s);
    }
    layernorm(&b, Dd, "mim_head.decoder_norm");
    linear(&b, m3ae_cfg_patch_dim(c), Dd, "mim_head.decoder_pred");

    /* ITM head */
    section(&b, M3AE_MOD_ITM_HEAD, M3AE_BWD_ITM_HEAD);
    linear(&b, 2, 2 * H, "itm_head.fc");

    assign_backward_ranks(&b);
    free(b.layer_of);
    free(b.stream_of);
}

void m3ae_registry_free(m3ae_registry *r) {
    free(r->p);
    memset(r, 0, sizeof *r);
}

int m3ae_registry_find(const m3ae_registry *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->p[i].name, name)) return i;
    return -1;
}

float *m3ae_registry_tensor(const m3ae_registry *r, float *arena, const char *name) {
    int i = m3ae_registry_find(r, name);
    M3AE_CHECK(i >= 0, M3AE_EXIT_FAIL, "parameter '%s' is not in the registry (a bug: the layer and the registry disagree)",
               name);
    return arena + r->p[i].offset;
}

/* The unused RoBERTa pooler is the one trainable tensor set without a gradient. */
static int is_text_pooler(const m3ae_param *p) { return p->trainable && !p->has_grad; }

size_t m3ae_registry_count(const m3ae_registry *r, int include_fixed, int include_text_pooler) {
    size_t n = 0;
    for (int i = 0; i < r->n; i++) {
        if (!include_fixed && !r->p[i].trainable) continue;
        if (!include_text_pooler && is_text_pooler(&r->p[i])) continue;
        n += r->p[i].numel;
    }
    return n;
}

size_t m3ae_registry_module_count(const m3ae_registry *r, m3ae_module m, int include_fixed) {
    size_t n = 0;
    for (int i = 0; i < r->n; i++)
        if (r->p[i].module == m && (include_fixed || r->p[i].trainable)) n += r->p[i].numel;
    return n;
}

const char *m3ae_param_shape_str(const m3ae_param *p, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < p->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)p->shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

static void commas(size_t v, char *buf, size_t n) {
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%zu", v), k = 0;
    for (int i = 0; i < len && k + 2 < (int)n; i++) {
        if (i && (len - i) % 3 == 0) buf[k++] = ',';
        buf[k++] = tmp[i];
    }
    buf[k] = '\0';
}

void m3ae_registry_print_summary(const m3ae_registry *r, FILE *f) {
    char a[32], b2[32];
    fprintf(f, "%-26s %15s %12s\n", "module", "parameters", "of which fixed");
    for (int m = 0; m < M3AE_MOD_COUNT; m++) {
        size_t all = m3ae_registry_module_count(r, (m3ae_module)m, 1);
        size_t fixed = all - m3ae_registry_module_count(r, (m3ae_module)m, 0);
        commas(all, a, sizeof a);
        commas(fixed, b2, sizeof b2);
        fprintf(f, "%-26s %15s %12s\n", m3ae_module_name((m3ae_module)m), a, b2);
    }
    size_t with = m3ae_registry_count(r, 1, 1), without = m3ae_registry_count(r, 1, 0);
    size_t trainable = m3ae_registry_count(r, 0, 1);
    commas(with, a, sizeof a);
    fprintf(f, "%-26s %15s  (%.1f M)\n", "total incl. text pooler", a, with / 1e6);
    commas(without, a, sizeof a);
    fprintf(f, "%-26s %15s  (%.1f M)\n", "total excl. text pooler", a, without / 1e6);
    commas(trainable, a, sizeof a);
    fprintf(f, "%-26s %15s  (%.1f M)\n", "trainable", a, trainable / 1e6);
    size_t groups[M3AE_N_OPT_GROUPS] = {0};
    for (int i = 0; i < r->n; i++)
        if (r->p[i].trainable) groups[m3ae_param_group_index(&r->p[i])] += r->p[i].numel;
    for (int g = 0; g < M3AE_N_OPT_GROUPS; g++) {
        commas(groups[g], a, sizeof a);
        fprintf(f, "  group %-19s %15s\n", m3ae_group_name(g), a);
    }
    fprintf(f, "%d tensors, arena %.1f MiB (64-byte aligned)\n", r->n, r->arena_floats * 4.0 / (1 << 20));
}
