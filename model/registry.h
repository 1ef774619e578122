/* The parameter registry: ONE description of every tensor of M3AE for a configuration.
 *
 * Each entry has the official PyTorch state_dict key (spec section 5), its shape, whether it is
 * trainable (mim_head.decoder_pos_embed is fixed) and whether it gets a gradient, its weight-decay
 * flag and learning-rate group by the official substring rules (spec 3.1), its initialisation rule
 * (spec 1.7), its place in the backward order, the module it is counted in, and its offset in the
 * parameter arena (each tensor 64-byte aligned; the gradient arena mirrors the layout).
 * These facts are decided once, when the module that owns the tensor registers it; no other file
 * recovers them from the name.
 * Parameter counts, the arena size, HDF5 names, optimizer groups and all-reduce buckets derive from
 * it; no parameter is addressed by a bare index. */
#ifndef M3AE_MODEL_REGISTRY_H
#define M3AE_MODEL_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model/config.h"

#define M3AE_PARAM_NAME_LEN 96
#define M3AE_PARAM_MAX_DIMS 4

/* Learning-rate groups (spec 3.1). */
typedef enum { M3AE_LR_BASE = 0, M3AE_LR_HEAD = 1, M3AE_LR_MULTI_MODAL = 2 } m3ae_lr_group;

/* Modules for parameter counts (spec 1.8). */
typedef enum {
    M3AE_MOD_VISION = 0,   /* CLIP visual */
    M3AE_MOD_TEXT,         /* RoBERTa incl. its (unused) pooler */
    M3AE_MOD_FUSION,       /* multi_modal_{language,vision}_layers */
    M3AE_MOD_PROJ_POOL,    /* projections, poolers, modality_type_embeddings */
    M3AE_MOD_MLM_HEAD,
    M3AE_MOD_MIM_HEAD,
    M3AE_MOD_ITM_HEAD,
    M3AE_MOD_VQA_HEAD,
    M3AE_MOD_CLS_HEAD,
    M3AE_MOD_IRTR_HEAD,
    M3AE_MOD_COUNT
} m3ae_module;

/* Initialisation rules (spec 1.7), decided by the registering module. */
typedef enum {
    M3AE_INIT_NORMAL = 0,     /* N(0, 0.02^2): linear and conv weights, embeddings, mask token */
    M3AE_INIT_ZEROS,          /* biases */
    M3AE_INIT_ONES,           /* LayerNorm weights */
    M3AE_INIT_XAVIER_UNIFORM, /* CLIP's fused attention in_proj_weight: U(-b, b), b = sqrt(6/(out+in)) */
    M3AE_INIT_NORMAL_WIDTH,   /* N(0, 1/width), width = last dim: CLIP class and positional embedding */
    M3AE_INIT_SINCOS,         /* the fixed 2-D sin-cos table (mim_head.decoder_pos_embed) */
    M3AE_INIT_COUNT
} m3ae_init_rule;

/* Backward order: backward_rank 0 is the first tensor whose gradient is final in a pretraining step,
 * i.e. the order in which m3ae_model_step reports its gradient-ready groups (model/m3ae_hooks.c) for
 * the pass lists of both objectives (MLM, MIM, ITM and JOINT, ITM: the same order, since the ITM
 * pass, last in both, reaches everything below the heads). Stages in this order:
 *   1. the MLM head (final after the MLM or JOINT pass),
 *   2. the MIM head (final after the MIM pass, or right after the MLM head in the JOINT pass),
 *   3. in the ITM pass: the ITM head, then the fusion poolers,
 *   4. the fusion layers, top-down; inside a layer the language stream before the vision stream
 *      (fusion_backward's order),
 *   5. the projections into the fusion width and the modality type embeddings,
 *   6. the text encoder, top-down (its unused pooler first), then the text embeddings,
 *   7. the vision encoder: ln_post, the blocks top-down, then CLIP's embeddings and ln_pre;
 * inside a stage (and inside one fusion layer of one stream), reverse registration order, because
 * every module registers its tensors from input to output and backward visits them from output to
 * input. The all-reduce buckets walk tensors in this order; test_model_hooks holds it to the reports. */
typedef enum {
    M3AE_BWD_MLM_HEAD = 0,
    M3AE_BWD_MIM_HEAD,
    M3AE_BWD_ITM_HEAD,
    M3AE_BWD_FUSION,
    M3AE_BWD_PROJECTIONS,
    M3AE_BWD_TEXT,
    M3AE_BWD_VISION,
    M3AE_BWD_STAGES
} m3ae_backward_stage;

typedef struct {
    char name[M3AE_PARAM_NAME_LEN]; /* official state_dict key */
    int ndim;
    int64_t shape[M3AE_PARAM_MAX_DIMS];
    size_t numel;
    size_t offset; /* in floats from the arena start; offset*4 is a multiple of 64 */
    int trainable;
    /* 1: the official model gives it a gradient (trainable and used: the RoBERTa pooler
     * language_encoder.pooler.* is never called, spec 1.2, so AdamW skips it; checkpoints store
     * optimizer moments only for these) */
    int has_grad;
    int decay;           /* 1: weight decay applies */
    m3ae_lr_group group; /* with decay: the six optimizer groups (group*2 + !decay) */
    m3ae_module module;
    m3ae_init_rule init;
    m3ae_backward_stage backward_stage;
    int backward_rank; /* 0..n-1, a permutation: position in the backward order (rule above) */
    /* the gradient-ready group the registering module opened for it (m3ae_builder_group): kind
     * (m3ae_grad_group_kind of model/m3ae_internal.h, -1 none), stream and layer */
    int grad_group, grad_stream, grad_layer;
} m3ae_param;

typedef struct {
    m3ae_param *p;
    int n;
    size_t arena_floats; /* size of the parameter (and gradient) arena in floats */
} m3ae_registry;

/* Builds the registry for cfg (which must validate) by running the model's tensor functions
 * (m3ae_model_tensors, model/m3ae.c) in REGISTER mode. Fatal on allocation failure. */
void m3ae_registry_build(m3ae_registry *r, const m3ae_config *cfg);
void m3ae_registry_free(m3ae_registry *r);

/* Index of the entry named `name`, or -1. */
int m3ae_registry_find(const m3ae_registry *r, const char *name);
/* Pointer to the tensor `name` inside an arena laid out by r; fatal error naming the key if missing. */
float *m3ae_registry_tensor(const m3ae_registry *r, float *arena, const char *name);

/* Parameter counts. */
size_t m3ae_registry_count(const m3ae_registry *r, int include_fixed, int include_text_pooler);
size_t m3ae_registry_module_count(const m3ae_registry *r, m3ae_module m, int include_fixed);
const char *m3ae_module_name(m3ae_module m);
/* The six optimizer groups, index group*2 + !decay, and their names ("multi_modal/no_decay"). */
#define M3AE_N_OPT_GROUPS 6
int m3ae_param_group_index(const m3ae_param *p);
const char *m3ae_group_name(int index);
const char *m3ae_param_group_name(const m3ae_param *p);
const char *m3ae_init_rule_name(m3ae_init_rule rule);

/* The official no-decay substring rule and group rule, exposed for tests. */
int m3ae_param_name_decays(const char *name);
m3ae_lr_group m3ae_param_name_group(const char *name);

/* Prints a per-module table and totals (with and without the RoBERTa pooler). */
void m3ae_registry_print_summary(const m3ae_registry *r, FILE *f);

/* "[a, b, c]" into buf. */
const char *m3ae_param_shape_str(const m3ae_param *p, char *buf, size_t n);

/* ---- the tensor builder: ONE set of module functions, two modes ----
 * Every module (model/backbone.c, model/heads/) has a tensors function that takes the builder and a
 * pointer to its weight struct and calls m3ae_tensor once per tensor, from input to output, spelling
 * each name once. REGISTER (m3ae_registry_build) adds the entry: name, shape, init rule, trainable,
 * and the facts of the current section (module, backward stage, fusion layer / stream, has_grad).
 * BIND (m3ae_builder_bind_begin) walks the same calls in the same order over a finished registry: the
 * k-th call is entry k (its name and shape are checked, a mismatch is fatal) and `arena + offset` is
 * written into the call's slot. In REGISTER mode the weight struct may be NULL (slots are ignored). */
typedef enum { M3AE_BUILD_REGISTER = 0, M3AE_BUILD_BIND } m3ae_build_mode;

typedef struct {
    m3ae_build_mode mode;
    m3ae_registry *r;
    float *arena; /* BIND: the arena laid out by r */
    int next;     /* BIND: the entry the next call must match */
    /* REGISTER: the current section and the per-entry sort keys of the backward order */
    int cap;
    m3ae_module module;
    m3ae_backward_stage stage;
    int layer, stream;
    int has_grad;
    int group, group_stream, group_layer; /* the open gradient-ready group (-1 none) */
    int *layer_of, *stream_of;
} m3ae_tensor_builder;

enum { M3AE_FIXED = 0, M3AE_TRAINABLE = 1 };

/* Slot of field f of weight struct w, or NULL when w is NULL (REGISTER without a struct). */
#define M3AE_SLOT(w, f) ((w) ? &(w)->f : NULL)

/* Starts a section: later tensors are counted in `module`, sit in backward stage `stage`, get
 * gradients (until m3ae_builder_no_grad) and have fusion layer / stream 0. */
void m3ae_builder_section(m3ae_tensor_builder *b, m3ae_module module, m3ae_backward_stage stage);
/* Fusion layer and stream of the tensors that follow (sorting keys inside the fusion stage). */
void m3ae_builder_fusion_layer(m3ae_tensor_builder *b, int layer, int stream);
/* Opens gradient-ready group (kind, stream, layer) for the tensors that follow, until the next group
 * or section (model/m3ae_hooks.c turns these ranges into the groups the backward reports). */
void m3ae_builder_group(m3ae_tensor_builder *b, int kind, int stream, int layer);
/* The tensors that follow in this section receive no gradient (the unused RoBERTa pooler). */
void m3ae_builder_no_grad(m3ae_tensor_builder *b);
/* One tensor, named by fmt; shape (ndim dims). */
void m3ae_tensor(m3ae_tensor_builder *b, float **slot, int trainable, m3ae_init_rule init, int ndim,
                 const int64_t *shape, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* prefix.weight (out,in) normal, prefix.bias (out) zeros. */
void m3ae_linear_tensors(m3ae_tensor_builder *b, float **w, float **bias, int64_t out, int64_t in,
                         const char *prefix);
/* prefix.weight (c) ones, prefix.bias (c) zeros. */
void m3ae_layernorm_tensors(m3ae_tensor_builder *b, float **g, float **beta, int64_t c, const char *prefix);
/* BIND mode over r and arena; _end checks every entry was bound (fatal otherwise). */
void m3ae_builder_bind_begin(m3ae_tensor_builder *b, const m3ae_registry *r, float *arena);
void m3ae_builder_bind_end(const m3ae_tensor_builder *b);

/* Shape literals for m3ae_tensor: S2(out, in) expands to the ndim and the shape array. */
#define M3AE_S1(a) 1, (const int64_t[]){(a)}
#define M3AE_S2(a, b) 2, (const int64_t[]){(a), (b)}
#define M3AE_S3(a, b, c) 3, (const int64_t[]){(a), (b), (c)}
#define M3AE_S4(a, b, c, d) 4, (const int64_t[]){(a), (b), (c), (d)}

#endif
