/* A checkpoint written by tools/convert_checkpoint.py (tests/fixtures/converted_tiny.h5: the reference
 * tiny model holding the parameters of tests/fixtures/model_tiny.h5 /params, saved as a Lightning .ckpt
 * and converted to-h5) is a valid m3ae checkpoint:
 *   - its attributes are those of checkpoints/ckpt.h (step 1000, epoch 2, weights only);
 *   - its `config` text is exactly what m3ae_config_print writes for the tiny preset, and applied line
 *     by line with m3ae_config_set (starting from another preset) gives the tiny configuration;
 *   - it loads strictly (weights only) into the registry built from that configuration, and every
 *     tensor equals /params of model_tiny.h5 bit for bit;
 *   - every dataset passes its Fletcher32 checksum; it cannot resume training (no optimizer moments).
 * Usage: test_converted_ckpt converted_tiny.h5 model_tiny.h5 */
#include <stdio.h>
#include <string.h>

#include "checkpoints/ckpt.h"
#include "checkpoints/h5file.h"
#include "common/arena.h"
#include "harness.h"
#include "model/config.h"
#include "model/registry.h"

/* Applies "key = value" lines to cfg. Returns the number of model keys set; *preset gets the preset line. */
static int apply_config_text(m3ae_config *cfg, const char *text, char *preset, size_t preset_len, int *seen) {
    char line[512];
    int n = 0;
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, "\n");
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
        p += len + (p[len] == '\n');
        char *eq = strchr(line, '=');
        if (!line[0]) continue;
        T_CHECK(eq != NULL, "config line '%s' is not 'key = value'", line);
        if (!eq) continue;
        *eq = 0;
        char *key = line, *val = eq + 1, *end;
        while (*key == ' ') key++;
        for (end = eq - 1; end >= key && *end == ' '; end--) *end = 0;
        while (*val == ' ') val++;
        for (end = val + strlen(val) - 1; end >= val && (*end == ' ' || *end == '\r'); end--) *end = 0;
        if (!strcmp(key, "preset")) {
            snprintf(preset, preset_len, "%s", val);
            continue;
        }
        m3ae_error err = {{0}};
        T_CHECK(m3ae_config_set(cfg, key, val, &err) == 0, "config line %s = %s: %s", key, val, err.msg);
        for (int i = 0; i < m3ae_config_n_keys(); i++)
            if (!strcmp(m3ae_config_key(i), key)) seen[i]++;
        n++;
    }
    return n;
}

static int check_tensor(const char *name, int ndim, const int64_t *shape, void *ctx) {
    (void)ndim, (void)shape;
    const m3ae_registry *r = ctx;
    T_CHECK(m3ae_registry_find(r, name) >= 0, "converted file holds /model/%s, which the registry lacks", name);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s converted_tiny.h5 model_tiny.h5\n", argv[0]);
        return 2;
    }
    const char *conv = argv[1], *fixture = argv[2];
    m3ae_error err = {{0}};

    /* attributes */
    static m3ae_ckpt_meta meta;
    T_CHECK(m3ae_ckpt_read_meta(conv, &meta, &err) == 0, "read meta: %s", err.msg);
    T_CHECK(meta.step == 1000 && meta.epoch == 2 && meta.position == 0 && meta.seed == 0 && meta.world_size == 1,
            "meta: step %lld epoch %lld position %lld seed %lld world_size %lld", (long long)meta.step,
            (long long)meta.epoch, (long long)meta.position, (long long)meta.seed, (long long)meta.world_size);
    T_CHECK(!strcmp(meta.version, "converter") && !strcmp(meta.commit, "converter"), "version '%s' commit '%s'",
            meta.version, meta.commit);

    /* the config text: exactly m3ae_config_print of the tiny preset */
    m3ae_config tiny, cfg;
    T_CHECK(m3ae_config_preset(&tiny, "tiny", &err) == 0, "%s", err.msg);
    FILE *tf = tmpfile();
    T_CHECK(tf != NULL, "tmpfile");
    static char printed[M3AE_CKPT_CONFIG_LEN];
    if (tf) {
        m3ae_config_print(&tiny, tf, "");
        rewind(tf);
        size_t got = fread(printed, 1, sizeof printed - 1, tf);
        printed[got] = 0;
        fclose(tf);
    }
    T_CHECK(!strcmp(printed, meta.config), "config text differs from m3ae_config_print(tiny):\n--- file\n%s--- print\n%s",
            meta.config, printed);

    /* ... and applied key by key from ANOTHER preset it gives tiny (so every key must be in the text) */
    T_CHECK(m3ae_config_preset(&cfg, "base", &err) == 0, "%s", err.msg);
    char preset[32] = "";
    int seen[64] = {0};
    int n = apply_config_text(&cfg, meta.config, preset, sizeof preset, seen);
    T_CHECK(n == m3ae_config_n_keys(), "config text sets %d keys, m3ae has %d", n, m3ae_config_n_keys());
    for (int i = 0; i < m3ae_config_n_keys(); i++) {
        double a = 0, b = 0;
        m3ae_config_get(&cfg, m3ae_config_key(i), &a);
        m3ae_config_get(&tiny, m3ae_config_key(i), &b);
        T_CHECK(seen[i] == 1, "key %s appears %d times in the config text", m3ae_config_key(i), seen[i]);
        T_CHECK(a == b, "key %s: %g from the file, %g in the tiny preset", m3ae_config_key(i), a, b);
    }
    T_CHECK(!strcmp(preset, "tiny"), "preset line '%s'", preset);
    T_CHECK(m3ae_config_validate(&cfg, &err) == 0, "validate: %s", err.msg);

    /* strict weights-only load */
    m3ae_registry reg;
    m3ae_registry_build(&reg, &cfg);
    float *params = m3ae_alloc(reg.arena_floats * sizeof(float), "params");
    float *want = m3ae_alloc(reg.arena_floats * sizeof(float), "fixture params");
    float *m = m3ae_alloc(reg.arena_floats * sizeof(float), "m"), *v = m3ae_alloc(reg.arena_floats * sizeof(float), "v");
    memset(params, 0, reg.arena_floats * sizeof(float));
    memset(want, 0xff, reg.arena_floats * sizeof(float));
    T_CHECK(m3ae_ckpt_load(conv, &reg, params, NULL, NULL, NULL, 1, &err) == 0, "strict load: %s", err.msg);

    /* bitwise against model_tiny.h5 /params */
    m3ae_h5 *f = m3ae_h5_open(fixture, &err);
    T_CHECK(f != NULL, "open %s: %s", fixture, err.msg);
    int same = 0;
    size_t values = 0;
    char name[256];
    for (int i = 0; f && i < reg.n; i++) {
        const m3ae_param *p = &reg.p[i];
        snprintf(name, sizeof name, "/params/%s", p->name);
        int rc = m3ae_h5_read(f, name, p->ndim, p->shape, want + p->offset, &err);
        T_CHECK(rc == 0, "fixture %s: %s", name, err.msg);
        if (rc) continue;
        int eq = !memcmp(want + p->offset, params + p->offset, p->numel * sizeof(float));
        T_CHECK(eq, "%s differs from the fixture", p->name);
        same += eq;
        values += p->numel;
    }
    m3ae_h5_close(f);
    T_CHECK(same == reg.n && reg.n == 223, "%d of %d tensors bit-identical (223 expected)", same, reg.n);
    T_CHECK(values == 203130, "%zu values compared (203130 expected)", values);

    /* nothing else under /model, every checksum good */
    m3ae_h5 *c = m3ae_h5_open(conv, &err);
    T_CHECK(c != NULL, "%s", err.msg);
    if (c) {
        m3ae_h5_list(c, "/model", check_tensor, &reg);
        T_CHECK(m3ae_h5_exists(c, "/optimizer") == 0, "a weights-only conversion has no /optimizer group");
        m3ae_h5_close(c);
    }
    long nd = 0, nv = 0;
    T_CHECK(m3ae_h5_verify(conv, &nd, &nv, &err) == 0 && nd == 223 && nv == 203130, "verify: %ld datasets %ld values %s",
            nd, nv, err.msg);

    /* weights only: resuming (with moments) is refused with the --init-from advice */
    T_CHECK(m3ae_ckpt_load(conv, &reg, params, m, v, NULL, 1, &err) != 0 && strstr(err.msg, "--init-from"),
            "resume from a weights-only conversion: %s", err.msg);

    m3ae_free(params), m3ae_free(want), m3ae_free(m), m3ae_free(v);
    m3ae_registry_free(&reg);
    return t_done("test_converted_ckpt");
}
