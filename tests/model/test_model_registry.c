/* The parameter registry and configurations: exact base counts (spec 1.8), official names and
 * optimizer groups (spec 3.1), arena alignment, the FLOP model (spec 7) and the config setter. */
#include <string.h>

#include "harness.h"
#include "model/config.h"
#include "model/flops.h"
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
    return t_done("test_model_registry");
}
