/* Model configuration: presets, the key table, the setter with validation. */
#include "model/config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"

typedef enum { KEY_INT, KEY_DOUBLE, KEY_ENUM } key_type;

typedef struct {
    const char *name;
    key_type type;
    size_t offset;
    double min, max; /* inclusive range */
    const char *help;
    const char *const *names; /* KEY_ENUM: the value names, index = stored int */
} key_desc;

static const char *const objective_names[] = {"separate", "joint", NULL};

#define KI(field, lo, hi, h) {#field, KEY_INT, offsetof(m3ae_config, field), lo, hi, h, NULL}
#define KD(field, lo, hi, h) {#field, KEY_DOUBLE, offsetof(m3ae_config, field), lo, hi, h, NULL}
#define KE(field, names, h) {#field, KEY_ENUM, offsetof(m3ae_config, field), 0, 1, h, names}

static const key_desc keys[] = {
    KI(image_size, 8, 4096, "input image side in pixels"),
    KI(patch_size, 1, 256, "ViT patch side in pixels"),
    KI(vision_width, 8, 8192, "CLIP ViT width"),
    KI(vision_layers, 1, 128, "CLIP blocks built (CLIP layers - 1)"),
    KI(vision_heads, 1, 256, "CLIP attention heads"),
    KI(vocab_size, 8, 1000000, "text vocabulary size (<mask> = vocab_size - 1)"),
    KI(max_text_len, 2, 4096, "padded caption length"),
    KI(max_position_embeddings, 4, 65536, "RoBERTa position table rows (>= max_text_len + 2)"),
    KI(text_width, 8, 8192, "RoBERTa width"),
    KI(text_layers, 1, 128, "RoBERTa layers"),
    KI(text_heads, 1, 256, "RoBERTa attention heads"),
    KI(text_ffn, 8, 65536, "RoBERTa feed-forward width"),
    KI(hidden_size, 8, 8192, "fusion width"),
    KI(num_heads, 1, 256, "fusion attention heads"),
    KI(num_top_layer, 1, 128, "fusion layers per stream"),
    KI(mlp_ratio, 1, 64, "fusion feed-forward width / hidden_size"),
    KI(mim_decoder_hidden_size, 8, 8192, "MIM decoder width (even, divisible by 4)"),
    KI(mim_decoder_num_layers, 1, 128, "MIM decoder blocks built"),
    KI(mim_decoder_num_heads, 1, 256, "MIM decoder attention heads"),
    KI(mim_layer, 0, 128, "fusion layer index whose input feeds the MIM head (<= num_top_layer)"),
    KD(mim_prob, 0.0, 0.999, "fraction of patches removed in the MIM pass"),
    KD(mlm_prob, 0.0, 1.0, "fraction of text tokens predicted in the MLM pass"),
    KD(drop_rate, 0.0, 0.9, "dropout probability (RoBERTa and fusion layers)"),
    KE(objective, objective_names, "separate (official three passes) or joint (masked text and image in one pass)"),
};
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

/* The preset table: the contract's values. */
static const m3ae_config presets[] = {
    {
        .name = "base",
        .image_size = 288, .patch_size = 16, .vision_width = 768, .vision_layers = 11, .vision_heads = 12,
        .vocab_size = 50265, .max_text_len = 64, .max_position_embeddings = 514, .text_width = 768,
        .text_layers = 12, .text_heads = 12, .text_ffn = 3072,
        .hidden_size = 768, .num_heads = 12, .num_top_layer = 6, .mlp_ratio = 4,
        .mim_decoder_hidden_size = 384, .mim_decoder_num_layers = 4, .mim_decoder_num_heads = 6, .mim_layer = 3,
        .mim_prob = 0.75, .mlm_prob = 0.15, .drop_rate = 0.1, .objective = M3AE_OBJECTIVE_SEPARATE,
    },
    {
        .name = "small",
        .image_size = 128, .patch_size = 16, .vision_width = 128, .vision_layers = 2, .vision_heads = 2,
        .vocab_size = 50265, .max_text_len = 32, .max_position_embeddings = 514, .text_width = 128,
        .text_layers = 2, .text_heads = 2, .text_ffn = 512,
        .hidden_size = 128, .num_heads = 2, .num_top_layer = 2, .mlp_ratio = 4,
        .mim_decoder_hidden_size = 64, .mim_decoder_num_layers = 2, .mim_decoder_num_heads = 2, .mim_layer = 1,
        .mim_prob = 0.75, .mlm_prob = 0.15, .drop_rate = 0.1, .objective = M3AE_OBJECTIVE_SEPARATE,
    },
    {
        .name = "tiny",
        .image_size = 32, .patch_size = 8, .vision_width = 24, .vision_layers = 2, .vision_heads = 2,
        .vocab_size = 1000, .max_text_len = 16, .max_position_embeddings = 18, .text_width = 40,
        .text_layers = 2, .text_heads = 2, .text_ffn = 64,
        .hidden_size = 32, .num_heads = 2, .num_top_layer = 2, .mlp_ratio = 4,
        .mim_decoder_hidden_size = 16, .mim_decoder_num_layers = 2, .mim_decoder_num_heads = 2, .mim_layer = 1,
        .mim_prob = 0.75, .mlm_prob = 0.15, .drop_rate = 0.1, .objective = M3AE_OBJECTIVE_SEPARATE,
    },
};

#define N_PRESETS ((int)(sizeof presets / sizeof presets[0]))

int m3ae_config_preset(m3ae_config *cfg, const char *name, m3ae_error *err) {
    for (int i = 0; i < N_PRESETS; i++)
        if (!strcmp(presets[i].name, name)) {
            *cfg = presets[i];
            return 0;
        }
    return m3ae_error_set(err, "unknown model configuration '%s'; the presets are base, small, tiny", name);
}

int m3ae_config_n_keys(void) { return N_KEYS; }
const char *m3ae_config_key(int i) { return i >= 0 && i < N_KEYS ? keys[i].name : NULL; }

static const key_desc *find_key(const char *key) {
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].name, key)) return &keys[i];
    return NULL;
}

int m3ae_config_get(const m3ae_config *cfg, const char *key, double *value) {
    const key_desc *k = find_key(key);
    if (!k) return -1;
    const char *base = (const char *)cfg + k->offset;
    *value = k->type == KEY_DOUBLE ? *(const double *)base : (double)*(const int *)base;
    return 0;
}

int m3ae_config_set(m3ae_config *cfg, const char *key, const char *value, m3ae_error *err) {
    const key_desc *k = find_key(key);
    if (!k) {
        int best = -1, bd = 1 << 30;
        for (int i = 0; i < N_KEYS; i++) {
            int d = m3ae_edit_distance(key, keys[i].name);
            if (d < bd) bd = d, best = i;
        }
        return m3ae_error_set(err, "unknown model configuration key '%s'; did you mean '%s'? (%s)", key,
                              keys[best].name, keys[best].help);
    }
    if (k->type == KEY_ENUM) {
        for (int i = 0; k->names[i]; i++)
            if (!strcmp(value, k->names[i])) {
                *(int *)((char *)cfg + k->offset) = i;
                return 0;
            }
        return m3ae_error_set(err, "model configuration key '%s': '%s' is not one of %s, %s (%s)", key, value,
                              k->names[0], k->names[1], k->help);
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end != '\0' || !isfinite(v))
        return m3ae_error_set(err, "model configuration key '%s': '%s' is not a number (%s, range %g..%g)",
                              key, value, k->help, k->min, k->max);
    if (k->type == KEY_INT && v != floor(v))
        return m3ae_error_set(err, "model configuration key '%s': '%s' is not an integer (range %g..%g)", key,
                              value, k->min, k->max);
    if (v < k->min || v > k->max)
        return m3ae_error_set(err, "model configuration key '%s': %s is out of range %g..%g (%s)", key, value,
                              k->min, k->max, k->help);
    char *base = (char *)cfg + k->offset;
    if (k->type == KEY_INT)
        *(int *)base = (int)v;
    else
        *(double *)base = v;
    return 0;
}

int m3ae_config_validate(const m3ae_config *c, m3ae_error *err) {
    for (int i = 0; i < N_KEYS; i++) {
        double v = 0;
        m3ae_config_get(c, keys[i].name, &v);
        if (v < keys[i].min || v > keys[i].max)
            return m3ae_error_set(err, "model configuration key '%s' = %g is out of range %g..%g", keys[i].name,
                                  v, keys[i].min, keys[i].max);
    }
    if (c->image_size % c->patch_size)
        return m3ae_error_set(err, "model configuration: image_size %d is not a multiple of patch_size %d",
                              c->image_size, c->patch_size);
#define DIV(w, h)                                                                                          \
    if (c->w % c->h)                                                                                       \
        return m3ae_error_set(err, "model configuration: " #w " %d is not divisible by " #h " %d", c->w, c->h);
    DIV(vision_width, vision_heads)
    DIV(text_width, text_heads)
    DIV(hidden_size, num_heads)
    DIV(mim_decoder_hidden_size, mim_decoder_num_heads)
#undef DIV
    if (c->mim_decoder_hidden_size % 4)
        return m3ae_error_set(err, "model configuration: mim_decoder_hidden_size %d must be a multiple of 4 "
                                   "(2-D sin-cos position embedding)",
                              c->mim_decoder_hidden_size);
    if (c->max_position_embeddings < c->max_text_len + 2)
        return m3ae_error_set(err, "model configuration: max_position_embeddings %d must be >= max_text_len + 2 = %d "
                                   "(RoBERTa positions start at 2)",
                              c->max_position_embeddings, c->max_text_len + 2);
    if (c->mim_layer > c->num_top_layer)
        return m3ae_error_set(err, "model configuration: mim_layer %d must be <= num_top_layer %d", c->mim_layer,
                              c->num_top_layer);
    if (m3ae_cfg_mim_keep(c) < 1)
        return m3ae_error_set(err, "model configuration: mim_prob %g keeps no patch of %d", c->mim_prob,
                              m3ae_cfg_patches(c));
    return 0;
}

void m3ae_config_print(const m3ae_config *c, FILE *f, const char *prefix) {
    fprintf(f, "%s%-24s = %s\n", prefix, "preset", c->name);
    for (int i = 0; i < N_KEYS; i++) {
        double v = 0;
        m3ae_config_get(c, keys[i].name, &v);
        if (keys[i].type == KEY_ENUM)
            fprintf(f, "%s%-24s = %s\n", prefix, keys[i].name, keys[i].names[(int)v]);
        else if (keys[i].type == KEY_INT)
            fprintf(f, "%s%-24s = %d\n", prefix, keys[i].name, (int)v);
        else
            fprintf(f, "%s%-24s = %g\n", prefix, keys[i].name, v);
    }
}

int m3ae_config_format(const m3ae_config *c, const char *key, char *buf, size_t n) {
    const key_desc *k = find_key(key);
    if (!k) return -1;
    double v = 0;
    m3ae_config_get(c, key, &v);
    if (k->type == KEY_ENUM) snprintf(buf, n, "%s", k->names[(int)v]);
    else if (k->type == KEY_INT) snprintf(buf, n, "%d", (int)v);
    else {
        /* the shortest text that reads back to the same double */
        snprintf(buf, n, "%.15g", v);
        if (strtod(buf, NULL) != v) snprintf(buf, n, "%.17g", v);
    }
    return 0;
}
