/* The parameter registry: the one description of every M3AE tensor (names = official state_dict
 * keys, spec section 5; groups = official substring rules, spec 3.1). */
#include "model/registry.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "model/backbone.h"

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
        "ITM head", "VQA head", "CLS head", "IRTR head"};
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

/* ---- the tensor builder (registry.h) ---- */

static void grow(m3ae_tensor_builder *b) {
    m3ae_registry *r = b->r;
    if (r->n < b->cap) return;
    b->cap = b->cap ? 2 * b->cap : 256;
    r->p = realloc(r->p, (size_t)b->cap * sizeof *r->p);
    b->layer_of = realloc(b->layer_of, (size_t)b->cap * sizeof *b->layer_of);
    b->stream_of = realloc(b->stream_of, (size_t)b->cap * sizeof *b->stream_of);
    M3AE_CHECK(r->p && b->layer_of && b->stream_of, M3AE_EXIT_SYSTEM,
               "out of memory growing the parameter registry to %d entries", b->cap);
}

static void register_tensor(m3ae_tensor_builder *b, int trainable, m3ae_init_rule init, int ndim,
                            const int64_t *shape, const char *name) {
    m3ae_registry *r = b->r;
    grow(b);
    b->layer_of[r->n] = b->layer;
    b->stream_of[r->n] = b->stream;
    m3ae_param *p = &r->p[r->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
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
    p->grad_group = b->group;
    p->grad_stream = b->group_stream;
    p->grad_layer = b->group_layer;
    p->offset = r->arena_floats;
    r->arena_floats += m3ae_align_up(p->numel * sizeof(float)) / sizeof(float);
}

/* BIND: the k-th call must be entry k, with the same shape; a difference means a module function
 * took a different path than at registration (a bug), so it is fatal and names both. */
static void bind_tensor(m3ae_tensor_builder *b, float **slot, int ndim, const int64_t *shape, const char *name) {
    const m3ae_registry *r = b->r;
    M3AE_CHECK(b->next < r->n, M3AE_EXIT_FAIL, "binding '%s': the registry has only %d tensors", name, r->n);
    const m3ae_param *p = &r->p[b->next];
    M3AE_CHECK(!strcmp(p->name, name), M3AE_EXIT_FAIL, "binding tensor %d: the module calls '%s', the registry has '%s'",
               b->next, name, p->name);
    int same = p->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = p->shape[i] == shape[i];
    M3AE_CHECK(same, M3AE_EXIT_FAIL, "binding '%s': its shape differs from the registry's", name);
    M3AE_CHECK(slot, M3AE_EXIT_FAIL, "binding '%s': no weight slot", name);
    *slot = b->arena + p->offset;
    b->next++;
}

void m3ae_tensor(m3ae_tensor_builder *b, float **slot, int trainable, m3ae_init_rule init, int ndim,
                 const int64_t *shape, const char *fmt, ...) {
    char name[M3AE_PARAM_NAME_LEN];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    M3AE_CHECK(len > 0 && len < (int)sizeof name, M3AE_EXIT_FAIL, "parameter name too long: %s", name);
    M3AE_CHECK(ndim >= 1 && ndim <= M3AE_PARAM_MAX_DIMS, M3AE_EXIT_FAIL, "parameter '%s': %d dims", name, ndim);
    if (b->mode == M3AE_BUILD_REGISTER)
        register_tensor(b, trainable, init, ndim, shape, name);
    else
        bind_tensor(b, slot, ndim, shape, name);
}

void m3ae_linear_tensors(m3ae_tensor_builder *b, float **w, float **bias, int64_t out, int64_t in,
                         const char *prefix) {
    m3ae_tensor(b, w, M3AE_TRAINABLE, M3AE_INIT_NORMAL, M3AE_S2(out, in), "%s.weight", prefix);
    m3ae_tensor(b, bias, M3AE_TRAINABLE, M3AE_INIT_ZEROS, M3AE_S1(out), "%s.bias", prefix);
}

void m3ae_layernorm_tensors(m3ae_tensor_builder *b, float **g, float **beta, int64_t c, const char *prefix) {
    m3ae_tensor(b, g, M3AE_TRAINABLE, M3AE_INIT_ONES, M3AE_S1(c), "%s.weight", prefix);
    m3ae_tensor(b, beta, M3AE_TRAINABLE, M3AE_INIT_ZEROS, M3AE_S1(c), "%s.bias", prefix);
}

void m3ae_builder_section(m3ae_tensor_builder *b, m3ae_module module, m3ae_backward_stage stage) {
    b->module = module;
    b->stage = stage;
    b->layer = b->stream = 0;
    b->has_grad = 1;
    b->group = -1;
    b->group_stream = b->group_layer = 0;
}

void m3ae_builder_group(m3ae_tensor_builder *b, int kind, int stream, int layer) {
    b->group = kind;
    b->group_stream = stream;
    b->group_layer = layer;
}

void m3ae_builder_fusion_layer(m3ae_tensor_builder *b, int layer, int stream) {
    b->layer = layer;
    b->stream = stream;
}

void m3ae_builder_no_grad(m3ae_tensor_builder *b) { b->has_grad = 0; }

void m3ae_builder_bind_begin(m3ae_tensor_builder *b, const m3ae_registry *r, float *arena) {
    memset(b, 0, sizeof *b);
    b->mode = M3AE_BUILD_BIND;
    b->r = (m3ae_registry *)r; /* read only in BIND mode */
    b->arena = arena;
}

void m3ae_builder_bind_end(const m3ae_tensor_builder *b) {
    M3AE_CHECK(b->next == b->r->n, M3AE_EXIT_FAIL, "binding: the modules bound %d tensors, the registry has %d",
               b->next, b->r->n);
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

static void assign_backward_ranks(const m3ae_tensor_builder *b) {
    m3ae_registry *r = b->r;
    backward_key *keys = malloc((size_t)(r->n ? r->n : 1) * sizeof *keys);
    M3AE_CHECK(keys, M3AE_EXIT_SYSTEM, "out of memory ordering %d registry entries", r->n);
    for (int i = 0; i < r->n; i++) keys[i] = (backward_key){(int)r->p[i].backward_stage, b->layer_of[i], b->stream_of[i], i};
    qsort(keys, (size_t)r->n, sizeof *keys, backward_cmp);
    for (int k = 0; k < r->n; k++) r->p[keys[k].index].backward_rank = k;
    free(keys);
}

void m3ae_registry_build(m3ae_registry *r, const m3ae_config *c) {
    memset(r, 0, sizeof *r);
    m3ae_tensor_builder b = {.mode = M3AE_BUILD_REGISTER, .r = r, .group = -1};
    m3ae_model_tensors(&b, c, NULL);
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
