/* Checkpoints on the registry: bitwise round trip of weights and AdamW moments with metadata, the run
 * folder (latest pointer, keep_last), weights-only loads, and clear refusals of a checkpoint of
 * another configuration (all mismatches counted, nothing loaded). */
#include <unistd.h>

#include "checkpoints/ckpt.h"
#include "common/arena.h"
#include "common/rng.h"
#include "harness.h"

/* Tensors equal bitwise (the arena's alignment padding is not part of any tensor). */
static int same_tensors(const m3ae_registry *r, const float *a, const float *b) {
    for (int i = 0; i < r->n; i++)
        if (memcmp(a + r->p[i].offset, b + r->p[i].offset, r->p[i].numel * 4)) return 0;
    return 1;
}

static void fill(float *x, size_t n, uint64_t seed) {
    m3ae_rng r = m3ae_rng_make(seed, 99, 0, 0);
    for (size_t i = 0; i < n; i++) x[i] = m3ae_rng_normal(&r, i);
}

int main(void) {
    m3ae_config cfg, other;
    m3ae_error err = {{0}};
    T_CHECK(m3ae_config_preset(&cfg, "tiny", &err) == 0, "%s", err.msg);
    m3ae_registry reg, reg2;
    m3ae_registry_build(&reg, &cfg);
    size_t n = reg.arena_floats;
    float *p = m3ae_alloc(n * 4, "p"), *m = m3ae_alloc(n * 4, "m"), *v = m3ae_alloc(n * 4, "v");
    float *p2 = m3ae_alloc(n * 4, "p2"), *m2 = m3ae_alloc(n * 4, "m2"), *v2 = m3ae_alloc(n * 4, "v2");
    fill(p, n, 1), fill(m, n, 2), fill(v, n, 3);
    char dir[] = "/tmp/m3ae-ckpt-XXXXXX", path[4200], cmd[300];
    T_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    m3ae_ckpt_meta meta = {.step = 0, .epoch = 3, .position = 1234, .seed = 42, .world_size = 4};
    snprintf(meta.config, sizeof meta.config, "preset = tiny\nlearning_rate = 0.0005\n");

    T_CHECK(m3ae_ckpt_latest(dir, path, sizeof path, &err) == 1, "a new run has no latest checkpoint");
    for (int s = 10; s <= 30; s += 10) {
        meta.step = s;
        T_CHECK(m3ae_ckpt_save_run(dir, 2, &reg, p, m, v, &meta, path, sizeof path, &err) == 0, "save: %s", err.msg);
    }
    snprintf(cmd, sizeof cmd, "test \"$(ls %s/checkpoints | tr '\\n' ' ')\" = \"latest step_0000020.h5 step_0000030.h5 \"", dir);
    T_CHECK(system(cmd) == 0, "keep_last=2 should leave steps 20 and 30 and latest");
    T_CHECK(m3ae_ckpt_latest(dir, path, sizeof path, &err) == 0 && strstr(path, "step_0000030.h5"), "latest: %s %s", path, err.msg);

    m3ae_ckpt_meta back;
    T_CHECK(m3ae_ckpt_load(path, &reg, p2, m2, v2, &back, 1, &err) == 0, "load: %s", err.msg);
    T_CHECK(same_tensors(&reg, p, p2), "weights differ after the round trip");
    /* moments of tensors that get gradients are restored; compare one trainable tensor exactly */
    int iq = m3ae_registry_find(&reg, "multi_modal_vision_layers.1.output.dense.weight");
    T_CHECK(iq >= 0 && !memcmp(m + reg.p[iq].offset, m2 + reg.p[iq].offset, reg.p[iq].numel * 4) &&
                !memcmp(v + reg.p[iq].offset, v2 + reg.p[iq].offset, reg.p[iq].numel * 4),
            "moments differ after the round trip");
    T_CHECK(back.step == 30 && back.epoch == 3 && back.position == 1234 && back.seed == 42 && back.world_size == 4 &&
                strstr(back.config, "learning_rate = 0.0005") && back.version[0],
            "metadata: step %lld epoch %lld position %lld", (long long)back.step, (long long)back.epoch,
            (long long)back.position);

    /* weights only */
    memset(p2, 0, n * 4);
    T_CHECK(m3ae_ckpt_load(path, &reg, p2, NULL, NULL, NULL, 1, &err) == 0 && same_tensors(&reg, p, p2), "weights-only: %s", err.msg);

    /* another configuration: refused, nothing loaded, message names the problem */
    other = cfg;
    T_CHECK(m3ae_config_set(&other, "image_size", "40", &err) == 0 && m3ae_config_set(&other, "text_layers", "3", &err) == 0,
            "%s", err.msg);
    m3ae_registry_build(&reg2, &other);
    float *q = m3ae_alloc(reg2.arena_floats * 4, "q");
    int rc = m3ae_ckpt_load(path, &reg2, q, NULL, NULL, NULL, 1, &err);
    printf("refusal: %s\n", err.msg);
    T_CHECK(rc != 0 && strstr(err.msg, "another shape") && strstr(err.msg, "positional_embedding") &&
                strstr(err.msg, "missing (first: /model/language_encoder.encoder.layer.2."),
            "mismatch message: %s", err.msg);
    int untouched = 1;
    for (size_t i = 0; i < reg2.arena_floats; i++) untouched &= q[i] == 0.0f;
    T_CHECK(untouched, "a refused checkpoint changed the parameters");
    m3ae_registry_free(&reg2);
    m3ae_free(q);

    /* missing keys tolerated only when not strict */
    other = cfg;
    m3ae_config_set(&other, "text_layers", "3", &err);
    m3ae_registry_build(&reg2, &other);
    q = m3ae_alloc(reg2.arena_floats * 4, "q");
    T_CHECK(m3ae_ckpt_load(path, &reg2, q, NULL, NULL, NULL, 1, &err) != 0, "strict load with missing keys succeeded");
    T_CHECK(m3ae_ckpt_load(path, &reg2, q, NULL, NULL, NULL, 0, &err) == 0, "non-strict load: %s", err.msg);
    int ia = m3ae_registry_find(&reg2, "itm_head.fc.weight"), ib = m3ae_registry_find(&reg, "itm_head.fc.weight");
    T_CHECK(!memcmp(q + reg2.p[ia].offset, p + reg.p[ib].offset, reg.p[ib].numel * 4), "non-strict load skipped a present tensor");
    m3ae_registry_free(&reg2);
    m3ae_free(q);

    /* a weights-only file cannot resume */
    snprintf(path, sizeof path, "%s/weights.h5", dir);
    T_CHECK(m3ae_ckpt_save(path, &reg, p, NULL, NULL, &meta, &err) == 0, "%s", err.msg);
    T_CHECK(m3ae_ckpt_load(path, &reg, p2, m2, v2, NULL, 1, &err) != 0 && strstr(err.msg, "--init-from"), "%s", err.msg);
    /* a broken latest pointer */
    snprintf(cmd, sizeof cmd, "echo step_0009999.h5 > %s/checkpoints/latest", dir);
    T_CHECK(system(cmd) == 0, "write latest");
    T_CHECK(m3ae_ckpt_latest(dir, path, sizeof path, &err) == -1 && strstr(err.msg, "step_0009999.h5"), "%s", err.msg);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    T_CHECK(system(cmd) == 0, "cleanup");
    m3ae_registry_free(&reg);
    m3ae_free(p), m3ae_free(m), m3ae_free(v), m3ae_free(p2), m3ae_free(m2), m3ae_free(v2);
    return t_done("test_ckpt");
}
