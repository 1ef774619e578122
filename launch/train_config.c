#include "launch/train_config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"

typedef enum { T_INT, T_DOUBLE, T_STRING } key_type;

typedef struct {
    const char *name;
    key_type type;
    size_t offset, size;
    double min, max;
    const char *help; /* for strings: the accepted values, "" = any */
} train_key;

#define KI(f, lo, hi, h) {#f, T_INT, offsetof(m3ae_train_config, f), 0, lo, hi, h}
#define KD(f, lo, hi, h) {#f, T_DOUBLE, offsetof(m3ae_train_config, f), 0, lo, hi, h}
#define KS(f, h) {#f, T_STRING, offsetof(m3ae_train_config, f), sizeof(((m3ae_train_config *)0)->f), 0, 0, h}

static const train_key keys[] = {
    KI(max_steps, 1, 1e12, "optimizer steps of the run"),
    KD(warmup_steps, 0, 1e12, "linear warm-up: a fraction of max_steps when < 1, else steps"),
    KD(learning_rate, 0, 10, "peak learning rate of the encoders"),
    KD(weight_decay, 0, 10, "decoupled weight decay of the decay groups"),
    KD(lr_mult_head, 0, 1e6, "learning-rate multiplier of the heads"),
    KD(lr_mult_multi_modal, 0, 1e6, "learning-rate multiplier of the fusion layers, projections, poolers"),
    KD(adam_beta1, 0, 0.999999, "AdamW beta1"),
    KD(adam_beta2, 0, 0.999999, "AdamW beta2"),
    KD(adam_eps, 0, 1, "AdamW epsilon"),
    KD(grad_clip, 0, 1e12, "global gradient-norm clipping (0 = off)"),
    KI(batch_size, 1, 1e9, "global batch per optimizer step"),
    KI(per_gpu_batchsize, 1, 1e6, "micro-batch per rank"),
    KI(seed, 0, 9.2e18, "seed of the run (data order, masks, initialisation, dropout)"),
    KS(vocab, ""),
    KI(loader_threads, 1, 256, "loader threads per rank"),
    KI(random_crop, 0, 1, "1: clip_resizedcrop augmentation, 0: clip (official pretraining)"),
    KS(mlm_mode, "official|bernoulli"),
    KI(log_every, 1, 1e12, "steps between log lines"),
    KI(val_every, 0, 1e12, "steps between validations (0 = never)"),
    KI(val_batches, 1, 1e9, "batches per validation"),
    KI(ckpt_every, 0, 1e12, "steps between checkpoints (0 = only at the end)"),
    KI(keep_last, 0, 1e9, "checkpoints kept (0 = all)"),
    KI(stop_after, 0, 1e12, "stop (with a checkpoint) after this step without changing the schedule (0 = off)"),
    KS(device, "cpu|cuda"), /* the compute backend (model/backend.h) */
    KI(threads, 0, 1024, "compute threads per rank (0 = OpenMP default)"),
    KD(peak_tflops, 0, 1e6, "peak TFLOP/s of one device for MFU (0 = from the device table)"),
};
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

void m3ae_train_config_defaults(m3ae_train_config *c) {
    memset(c, 0, sizeof *c);
    m3ae_config_preset(&c->model, "small", NULL);
    snprintf(c->preset, sizeof c->preset, "small");
    c->max_steps = 100000;
    c->warmup_steps = 0.1;
    c->learning_rate = 1e-5;
    c->weight_decay = 0.01;
    c->lr_mult_head = 5;
    c->lr_mult_multi_modal = 5;
    c->adam_beta1 = 0.9;
    c->adam_beta2 = 0.98;
    c->adam_eps = 1e-8;
    c->batch_size = 256;
    c->per_gpu_batchsize = 32;
    snprintf(c->vocab, sizeof c->vocab, "../shared/data/vocab/roberta-base");
    c->loader_threads = 2;
    snprintf(c->mlm_mode, sizeof c->mlm_mode, "official");
    snprintf(c->device, sizeof c->device, "cpu");
    c->log_every = 10;
    c->val_every = 1000;
    c->val_batches = 10;
    c->ckpt_every = 1000;
    c->keep_last = 3;
}

static const train_key *find(const char *name) {
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].name, name)) return &keys[i];
    return NULL;
}

static int suggest(const char *key, m3ae_error *err) {
    const char *names[128];
    int n = 0;
    names[n++] = "preset";
    for (int i = 0; i < N_KEYS; i++) names[n++] = keys[i].name;
    for (int i = 0; i < m3ae_config_n_keys() && n < 128; i++) names[n++] = m3ae_config_key(i);
    int best = m3ae_closest(key, names, n);
    return m3ae_error_set(err, "unknown configuration key '%s'; did you mean '%s'? (`m3ae pretrain --help` lists them)",
                          key, names[best]);
}

int m3ae_train_config_set(m3ae_train_config *c, const char *key, const char *value, m3ae_error *err) {
    if (!strcmp(key, "preset")) {
        if (m3ae_config_preset(&c->model, value, err) != 0) return -1;
        snprintf(c->preset, sizeof c->preset, "%s", value);
        return 0;
    }
    const train_key *k = find(key);
    if (!k) {
        double unused;
        if (m3ae_config_get(&c->model, key, &unused) == 0) {
            if (m3ae_config_set(&c->model, key, value, err) != 0) return -1;
            snprintf(c->model.name, sizeof c->model.name, "custom");
            return 0;
        }
        return suggest(key, err);
    }
    char *field = (char *)c + k->offset;
    if (k->type == T_STRING) {
        if (k->help[0]) { /* an enumeration "a|b" */
            int ok = 0;
            size_t len = strlen(value);
            for (const char *p = k->help; *p;) {
                size_t w = strcspn(p, "|");
                if (w == len && !strncmp(p, value, len)) ok = 1;
                p += w + (p[w] == '|');
            }
            if (!ok) return m3ae_error_set(err, "configuration key '%s': '%s' is not one of %s", key, value, k->help);
        }
        if (strlen(value) >= k->size) return m3ae_error_set(err, "configuration key '%s': value too long", key);
        snprintf(field, k->size, "%s", value);
        return 0;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end || !isfinite(v))
        return m3ae_error_set(err, "configuration key '%s': '%s' is not a number (%s; range %g..%g)", key, value,
                              k->help, k->min, k->max);
    if (v < k->min || v > k->max)
        return m3ae_error_set(err, "configuration key '%s': %s is out of range %g..%g (%s)", key, value, k->min, k->max,
                              k->help);
    if (k->type == T_INT) {
        if (v != floor(v))
            return m3ae_error_set(err, "configuration key '%s': '%s' is not an integer (%s)", key, value, k->help);
        *(int64_t *)field = (int64_t)v;
    } else {
        *(double *)field = v;
    }
    return 0;
}

static int load_stream(m3ae_train_config *c, FILE *f, const char *path, m3ae_error *err);

int m3ae_train_config_load(m3ae_train_config *c, const char *path, m3ae_error *err) {
    FILE *f = fopen(path, "r");
    if (!f) return m3ae_error_set(err, "cannot read the configuration file %s: %s", path, strerror(errno));
    return load_stream(c, f, path, err);
}

int m3ae_train_config_from_text(m3ae_train_config *c, const char *text, m3ae_error *err) {
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    if (!f) return m3ae_error_set(err, "out of memory reading a configuration text");
    return load_stream(c, f, "(configuration text)", err);
}

/* Reads `key = value` lines from f and closes it; errors name path:line. */
static int load_stream(m3ae_train_config *c, FILE *f, const char *path, m3ae_error *err) {
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "#")] = 0;
        m3ae_trim(line);
        if (!line[0]) continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            rc = m3ae_error_set(err, "%s:%d: expected `key = value`, got '%s'", path, lineno, line);
            break;
        }
        *eq = 0;
        char *key = m3ae_trim(line), *value = m3ae_trim(eq + 1);
        m3ae_error inner;
        if (m3ae_train_config_set(c, key, value, &inner) != 0) rc = m3ae_error_set(err, "%s:%d: %s", path, lineno, inner.msg);
    }
    fclose(f);
    return rc;
}

int m3ae_train_config_override(m3ae_train_config *c, const char *arg, m3ae_error *err) {
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", arg);
    char *eq = strchr(buf, '=');
    if (!eq) return m3ae_error_set(err, "expected key=value, got '%s'", arg);
    *eq = 0;
    return m3ae_train_config_set(c, m3ae_trim(buf), m3ae_trim(eq + 1), err);
}

int64_t m3ae_train_warmup_steps(const m3ae_train_config *c) {
    return c->warmup_steps < 1 ? (int64_t)(c->warmup_steps * (double)c->max_steps) : (int64_t)c->warmup_steps;
}

int64_t m3ae_train_accum(const m3ae_train_config *c, int world) {
    int64_t per_step = c->per_gpu_batchsize * world;
    return c->batch_size / (per_step > 0 ? per_step : 1);
}

int m3ae_train_config_validate(const m3ae_train_config *c, int world, m3ae_error *err) {
    if (m3ae_config_validate(&c->model, err) != 0) return -1;
    int64_t per_step = c->per_gpu_batchsize * world;
    if (c->batch_size % per_step != 0)
        return m3ae_error_set(err,
                              "batch_size = %lld is not a multiple of per_gpu_batchsize x ranks = %lld x %d; choose "
                              "batch_size as a multiple of %lld (gradient accumulation covers the rest)",
                              (long long)c->batch_size, (long long)c->per_gpu_batchsize, world, (long long)per_step);
    if (m3ae_train_warmup_steps(c) > c->max_steps)
        return m3ae_error_set(err, "warmup_steps (%lld) exceeds max_steps (%lld)", (long long)m3ae_train_warmup_steps(c),
                              (long long)c->max_steps);
    return 0;
}

void m3ae_train_config_write(const m3ae_train_config *c, FILE *f) {
    fprintf(f, "preset = %s\n", c->preset);
    char value[64];
    for (int i = 0; i < m3ae_config_n_keys(); i++) {
        m3ae_config_format(&c->model, m3ae_config_key(i), value, sizeof value);
        fprintf(f, "%s = %s\n", m3ae_config_key(i), value);
    }
    for (int i = 0; i < N_KEYS; i++) {
        const char *field = (const char *)c + keys[i].offset;
        if (keys[i].type == T_INT) fprintf(f, "%s = %lld\n", keys[i].name, (long long)*(const int64_t *)field);
        else if (keys[i].type == T_DOUBLE) {
            double v = *(const double *)field;
            snprintf(value, sizeof value, "%.15g", v);
            if (strtod(value, NULL) != v) snprintf(value, sizeof value, "%.17g", v);
            fprintf(f, "%s = %s\n", keys[i].name, value);
        }
        else fprintf(f, "%s = %s\n", keys[i].name, field);
    }
}

size_t m3ae_train_config_text(const m3ae_train_config *c, char *buf, size_t n) {
    FILE *f = fmemopen(buf, n, "w");
    if (!f) return 0;
    m3ae_train_config_write(c, f);
    long len = ftell(f);
    fclose(f);
    return len > 0 ? (size_t)len : 0;
}
