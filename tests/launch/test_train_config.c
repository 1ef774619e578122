/* The pretraining configuration: files, overrides, validation messages, suggestions for unknown keys,
 * and the written text reading back to the same configuration. */
#include <unistd.h>

#include "launch/train_config.h"
#include "harness.h"

int main(void) {
    m3ae_train_config c, d;
    m3ae_error err = {{0}};
    m3ae_train_config_defaults(&c);
    T_CHECK(c.adam_beta2 == 0.98 && c.weight_decay == 0.01 && c.lr_mult_head == 5 && m3ae_train_warmup_steps(&c) == 10000,
            "official optimizer defaults");
    char path[] = "/tmp/m3ae-cfg-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# a comment\npreset = tiny\n\nmax_steps = 200   # trailing comment\nwarmup_steps = 0.25\n"
               "learning_rate=5e-4\nbatch_size = 8\nper_gpu_batchsize = 4\nhidden_size = 48\nnum_heads = 3\n");
    fclose(f);
    T_CHECK(m3ae_train_config_load(&c, path, &err) == 0, "load: %s", err.msg);
    T_CHECK(c.max_steps == 200 && m3ae_train_warmup_steps(&c) == 50 && c.learning_rate == 5e-4 &&
                c.model.hidden_size == 48 && c.model.num_heads == 3 && c.model.image_size == 32,
            "values from the file");
    T_CHECK(m3ae_train_config_override(&c, "max_steps=300", &err) == 0 && c.max_steps == 300, "override: %s", err.msg);
    T_CHECK(m3ae_train_config_validate(&c, 2, &err) == 0 && m3ae_train_accum(&c, 2) == 1, "validate: %s", err.msg);
    T_CHECK(m3ae_train_config_validate(&c, 1, &err) == 0 && m3ae_train_accum(&c, 1) == 2, "accumulation");
    T_CHECK(m3ae_train_config_validate(&c, 3, &err) != 0 && strstr(err.msg, "batch_size = 8"), "batch check: %s", err.msg);

    /* errors */
    T_CHECK(m3ae_train_config_override(&c, "learning_rat=1", &err) != 0 && strstr(err.msg, "did you mean 'learning_rate'"),
            "suggestion: %s", err.msg);
    T_CHECK(m3ae_train_config_override(&c, "hiden_size=1", &err) != 0 && strstr(err.msg, "did you mean 'hidden_size'"),
            "model-key suggestion: %s", err.msg);
    T_CHECK(m3ae_train_config_override(&c, "adam_beta2=1.5", &err) != 0 && strstr(err.msg, "adam_beta2") &&
                strstr(err.msg, "range"),
            "range: %s", err.msg);
    T_CHECK(m3ae_train_config_override(&c, "max_steps=ten", &err) != 0 && strstr(err.msg, "not a number"), "%s", err.msg);
    T_CHECK(m3ae_train_config_override(&c, "max_steps=1.5", &err) != 0 && strstr(err.msg, "integer"), "%s", err.msg);
    T_CHECK(m3ae_train_config_override(&c, "mlm_mode=sometimes", &err) != 0 && strstr(err.msg, "official|bernoulli"),
            "%s", err.msg);
    T_CHECK(m3ae_train_config_override(&c, "image_size=100000", &err) != 0 && strstr(err.msg, "image_size"), "%s", err.msg);
    T_CHECK(m3ae_train_config_override(&c, "noequals", &err) != 0, "no '=' accepted");
    f = fopen(path, "w");
    fprintf(f, "max_steps = 10\nbogus_key = 3\n");
    fclose(f);
    T_CHECK(m3ae_train_config_load(&c, path, &err) != 0 && strstr(err.msg, ":2:") && strstr(err.msg, "bogus_key"),
            "file:line in '%s'", err.msg);

    /* a folder, an empty file and a binary file are errors naming the file, never the defaults */
    T_CHECK(m3ae_train_config_load(&c, "/tmp", &err) != 0 && strstr(err.msg, "/tmp") && strstr(err.msg, "folder"),
            "folder: %s", err.msg);
    f = fopen(path, "w");
    fclose(f);
    T_CHECK(m3ae_train_config_load(&c, path, &err) != 0 && strstr(err.msg, path) && strstr(err.msg, "empty"),
            "empty file: %s", err.msg);
    f = fopen(path, "w");
    fputs("# nothing but a comment\n\n", f);
    fclose(f);
    T_CHECK(m3ae_train_config_load(&c, path, &err) != 0 && strstr(err.msg, "empty"), "comments only: %s", err.msg);
    f = fopen(path, "wb");
    fwrite("\0\0\0\0\x89PNG\r\n", 1, 10, f);
    fclose(f);
    T_CHECK(m3ae_train_config_load(&c, path, &err) != 0 && strstr(err.msg, path) && strstr(err.msg, "binary"),
            "binary file: %s", err.msg);

    /* written text reads back to the same configuration */
    m3ae_train_config_defaults(&c);
    m3ae_train_config_override(&c, "preset=tiny", &err);
    m3ae_train_config_override(&c, "mim_prob=0.123456789012", &err);
    m3ae_train_config_override(&c, "seed=12345", &err);
    m3ae_train_config_override(&c, "mlm_mode=bernoulli", &err);
    f = fopen(path, "w");
    m3ae_train_config_write(&c, f);
    fclose(f);
    m3ae_train_config_defaults(&d);
    T_CHECK(m3ae_train_config_load(&d, path, &err) == 0, "reload: %s", err.msg);
    T_CHECK(!memcmp(&c.model.image_size, &d.model.image_size, sizeof c.model - offsetof(m3ae_config, image_size)) &&
                c.seed == d.seed && !strcmp(d.mlm_mode, "bernoulli") && d.model.mim_prob == c.model.mim_prob &&
                c.max_steps == d.max_steps && c.learning_rate == d.learning_rate,
            "round trip of the configuration text");
    char text[16384];
    T_CHECK(m3ae_train_config_text(&c, text, sizeof text) > 100 && strstr(text, "preset = tiny\n"), "text");
    unlink(path);
    return t_done("test_train_config");
}
