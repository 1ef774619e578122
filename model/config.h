/* The model configuration: every architecture and objective key of M3AE, the presets `base`
 * (the released pretraining model), `small` and `tiny` (tests, benchmarks), and a setter by key name
 * with validation, used by presets, .cfg files and `key=value` overrides alike.
 * Key names are the ones of the model contract (fixture attributes use them too). */
#ifndef M3AE_MODEL_CONFIG_H
#define M3AE_MODEL_CONFIG_H

#include <stdio.h>

#include "common/error.h"
#include "common/facts.h"

typedef struct {
    char name[32]; /* preset it started from ("base", "small", "tiny", or "custom") */
    /* vision encoder (CLIP ViT as modified by METER) */
    int image_size;
    int patch_size;
    int vision_width;
    int vision_layers; /* blocks actually built (CLIP's layers-1) */
    int vision_heads;
    /* text encoder (RoBERTa) */
    int vocab_size;
    int max_text_len;
    int max_position_embeddings;
    int text_width;
    int text_layers;
    int text_heads;
    int text_ffn;
    /* fusion */
    int hidden_size;
    int num_heads;
    int num_top_layer; /* fusion layers per stream */
    int mlp_ratio;
    /* MIM decoder */
    int mim_decoder_hidden_size;
    int mim_decoder_num_layers; /* blocks built */
    int mim_decoder_num_heads;
    int mim_layer; /* MIM head reads the image stream entering fusion layer mim_layer */
    /* objectives */
    double mim_prob;
    double mlm_prob;
    double drop_rate;
    int objective; /* M3AE_OBJECTIVE_SEPARATE (official: MLM, MIM, ITM passes) or _JOINT */
    /* Downstream heads (fine-tuning): 0 = not built. NOT configuration keys (not in the key table,
     * the config text of checkpoints or the fixtures): the fine-tuning commands set them from the
     * dataset's label vocabulary, or from the shape of the checkpoint's head (vqa_head.3.bias, cls_head.3.bias). */
    int vqa_labels; /* answer labels of the vqa_head (model/heads/vqa.h) */
    int cls_labels; /* classes of the cls_head (model/heads/cls.h) */
    int irtr_head;  /* 1: the irtr_head (model/heads/irtr.h) and a frozen itm_head (retrieval fine-tuning) */
} m3ae_config;

/* objective = separate: the official three passes (spec 2.1); joint: one pass with masked text AND
 * masked image feeding both the MLM and MIM heads (the paper's description, spec 9), plus ITM. */
enum { M3AE_OBJECTIVE_SEPARATE = 0, M3AE_OBJECTIVE_JOINT = 1 };

/* Fills *cfg with the preset `name` ("base", "small", "tiny"); -1 with a message listing them otherwise. */
int m3ae_config_preset(m3ae_config *cfg, const char *name, m3ae_error *err);

/* Sets one key from its text value. Unknown key: error suggesting the closest valid key.
 * Bad value: error naming the key, the value and the allowed range. */
int m3ae_config_set(m3ae_config *cfg, const char *key, const char *value, m3ae_error *err);

/* Checks the relations between keys (widths divisible by heads, image divisible by patch, ...). */
int m3ae_config_validate(const m3ae_config *cfg, m3ae_error *err);

/* Prints every key = value, one per line, with `prefix` before each line. */
void m3ae_config_print(const m3ae_config *cfg, FILE *f, const char *prefix);

/* The value of `key` as text that m3ae_config_set reads back exactly (enum names, integers, the
 * shortest round-tripping decimal); -1 when the key is unknown. */
int m3ae_config_format(const m3ae_config *cfg, const char *key, char *buf, size_t n);

/* Number of keys and the i-th key's name (for listings and fixture attribute checks). */
int m3ae_config_n_keys(void);
const char *m3ae_config_key(int i);
/* Value of a key as double (ints and enums converted); -1 when the key is unknown. */
int m3ae_config_get(const m3ae_config *cfg, const char *key, double *value);

/* Derived sizes. */
static inline int m3ae_cfg_grid(const m3ae_config *c) { return c->image_size / c->patch_size; }
static inline int m3ae_cfg_patches(const m3ae_config *c) { return m3ae_cfg_grid(c) * m3ae_cfg_grid(c); }
static inline int m3ae_cfg_patch_dim(const m3ae_config *c) { return 3 * c->patch_size * c->patch_size; }
/* Patches kept by MIM: the one keep count of common/facts.h (the loader uses the same). */
static inline int m3ae_cfg_mim_keep(const m3ae_config *c) {
    return m3ae_mim_keep_count(m3ae_cfg_patches(c), c->mim_prob);
}
static inline int m3ae_cfg_fusion_ffn(const m3ae_config *c) { return c->hidden_size * c->mlp_ratio; }

#endif
