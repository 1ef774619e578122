/* The parameter registry: ONE description of every tensor of M3AE for a configuration.
 *
 * Each entry has the official PyTorch state_dict key (spec section 5), its shape, whether it is
 * trainable (mim_head.decoder_pos_embed is fixed), its weight-decay flag and learning-rate group by
 * the official substring rules (spec 3.1), the module it is counted in, and its offset in the
 * parameter arena (each tensor 64-byte aligned; the gradient arena mirrors the layout).
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
    M3AE_MOD_COUNT
} m3ae_module;

typedef struct {
    char name[M3AE_PARAM_NAME_LEN]; /* official state_dict key */
    int ndim;
    int64_t shape[M3AE_PARAM_MAX_DIMS];
    size_t numel;
    size_t offset; /* in floats from the arena start; offset*4 is a multiple of 64 */
    int trainable;
    int decay;           /* 1: weight decay applies */
    m3ae_lr_group group; /* with decay: the six optimizer groups (group*2 + !decay) */
    m3ae_module module;
} m3ae_param;

typedef struct {
    m3ae_param *p;
    int n;
    size_t arena_floats; /* size of the parameter (and gradient) arena in floats */
} m3ae_registry;

/* Builds the registry for cfg (which must validate). Fatal on allocation failure. */
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
/* Optimizer group name, e.g. "multi_modal/no_decay", for group*2 + !decay. */
const char *m3ae_param_group_name(const m3ae_param *p);

/* The official no-decay substring rule and group rule, exposed for tests. */
int m3ae_param_name_decays(const char *name);
m3ae_lr_group m3ae_param_name_group(const char *name);

/* Prints a per-module table and totals (with and without the RoBERTa pooler). */
void m3ae_registry_print_summary(const m3ae_registry *r, FILE *f);

/* "[a, b, c]" into buf. */
const char *m3ae_param_shape_str(const m3ae_param *p, char *buf, size_t n);

#endif
