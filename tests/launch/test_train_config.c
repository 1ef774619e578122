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

    /* preset = custom (tools/convert_checkpoint.py writes it for sizes no preset has): the model keys
     * follow; a configuration text of a changed tiny model reads back through it */
    m3ae_train_config_override(&c, "hidden_size=48", &err);
    m3ae_train_config_text(&c, text, sizeof text);
    char *custom = strstr(text, "preset = tiny\n");
    T_CHECK(custom != NULL, "preset line");
    char buf[16384];
    snprintf(buf, sizeof buf, "preset = custom\n%s", custom + strlen("preset = tiny\n"));
    m3ae_train_config_defaults(&d);
    T_CHECK(m3ae_train_config_from_text(&d, buf, &err) == 0, "preset = custom: %s", err.msg);
    T_CHECK(!memcmp(&c.model.image_size, &d.model.image_size, sizeof c.model - offsetof(m3ae_config, image_size)) &&
                d.model.hidden_size == 48 && !strcmp(d.preset, "custom") && m3ae_config_validate(&d.model, &err) == 0,
            "preset = custom does not give the keys that follow it (hidden_size %d, preset %s)", d.model.hidden_size,
            d.preset);

    /* resume: which differences refuse and which are free */
    char refused[1024], freek[1024];
    d = c;
    d.seed = c.seed + 1, d.learning_rate = c.learning_rate / 2, d.max_steps = c.max_steps + 5;
    d.model.drop_rate = 0.25;
    T_CHECK(m3ae_train_config_resume_diff(&c, &d, refused, sizeof refused, freek, sizeof freek) == 2 &&
                strstr(refused, "seed: 12345 -> 12346") && strstr(refused, "drop_rate: 0.1 -> 0.25") &&
                strstr(freek, "learning_rate") && strstr(freek, "max_steps") && !strstr(refused, "learning_rate"),
            "resume diff: refused '%s', free '%s'", refused, freek);
    d = c;
    d.per_gpu_batchsize = 2, d.keep_last = 9;
    T_CHECK(m3ae_train_config_resume_diff(&c, &d, refused, sizeof refused, freek, sizeof freek) == 0 && !refused[0],
            "per_gpu_batchsize and keep_last must stay free: refused '%s'", refused);
    unlink(path);
    return t_done("test_train_config");
}
