#include "launch/train_config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    KI(val_batches, 1, 1e9, "batches per validation (at most one pass over the split)"),
    KI(ckpt_every, 0, 1e12, "steps between checkpoints (0 = only at the end)"),
    KI(keep_last, 0, 1e9, "checkpoints kept (0 = all)"),
    KI(stop_after, 0, 1e12, "stop (with a checkpoint) after this step without changing the schedule (0 = off)"),
    KS(device, "cpu|cuda"), /* the compute backend (model/backend.h) */
    KI(threads, 0, 1024, "compute threads per rank (0 = OpenMP default)"),
    KD(peak_tflops, 0, 1e6, "peak TFLOP/s of one device for MFU (0 = from the device table)"),
    KS(allreduce, "auto|ring|hier|mpi"), /* gradient all-reduce: auto = hier when the job spans nodes, else ring */
    KD(bucket_mb, 0.001, 4096, "gradient bucket size in MiB for the all-reduce overlapped with backward"),
    KS(trace, ""), /* Chrome trace-event JSON of the run (empty = off; a relative path is inside the run folder) */
    KD(watchdog_s, 0, 1e9, "a step that takes longer ends the job with a diagnostic (0 = off)"),
    KI(straggler_every, 0, 1e12, "steps between straggler lines: min/median/max step time across ranks (0 = off)"),
    KI(irtr_candidates, 2, 4096, "retrieval fine-tuning: captions per image, the positive + random others (official 16)"),
    KI(irtr_val_images, 0, 1e9, "retrieval fine-tuning: validation recall on the first N val images (0 = all)"),
    KI(irtr_eval_image_size, 0, 4096, "m3ae evaluate --task irtr: image size (0 = image_size; official test 288)"),
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
    snprintf(c->allreduce, sizeof c->allreduce, "auto");
    c->bucket_mb = 25;
    c->watchdog_s = 600;
    c->straggler_every = 50;
    c->irtr_candidates = 16;
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
        /* "custom": sizes no preset has (tools/convert_checkpoint.py writes it); the model keys follow
         * and keep the values they have until then */
        if (!strcmp(value, "custom")) {
            snprintf(c->preset, sizeof c->preset, "custom");
            snprintf(c->model.name, sizeof c->model.name, "custom");
            return 0;
        }
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

static int load_stream(m3ae_train_config *c, FILE *f, const char *path, int *n_set, m3ae_error *err);

/* A configuration file is a few kB of text; anything this large is the wrong file. */
#define CONFIG_FILE_MAX (1 << 20)

/* The first byte that no `key = value` text holds (NUL, a control character other than white
 * space, DEL), or -1. Such a byte means a binary file (a checkpoint, an image, a shard). */
static long first_binary_byte(const unsigned char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((b[i] < 0x20 && !(b[i] >= '\t' && b[i] <= '\r')) || b[i] == 0x7f) return (long)i;
    return -1;
}

/* A folder, an empty file or a binary file given as --config must stop the run: read as text they
 * give zero keys, and the run would silently train the defaults. */
int m3ae_train_config_load(m3ae_train_config *c, const char *path, m3ae_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return m3ae_error_set(err, "cannot read the configuration file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        return m3ae_error_set(err, "cannot read the configuration file %s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        fclose(f);
        return m3ae_error_set(err, "the configuration file %s is a folder; give a file of `key = value` lines "
                                   "(e.g. experiments/configs/pretrain_tiny.cfg)", path);
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        return m3ae_error_set(err, "the configuration file %s is not a regular file; give a file of `key = value` "
                                   "lines", path);
    }
    if (st.st_size > CONFIG_FILE_MAX) {
        fclose(f);
        return m3ae_error_set(err, "the configuration file %s has %lld bytes, over the %d of a configuration: "
                                   "is it the right file?", path, (long long)st.st_size, CONFIG_FILE_MAX);
    }
    size_t cap = (size_t)st.st_size + 1;
    char *text = malloc(cap);
    if (!text) {
        fclose(f);
        return m3ae_error_set(err, "out of memory reading the configuration file %s", path);
    }
    size_t n = fread(text, 1, cap, f);
    int read_error = ferror(f);
    fclose(f);
    if (read_error) {
        free(text);
        return m3ae_error_set(err, "cannot read the configuration file %s: read error", path);
    }
    if (n > (size_t)CONFIG_FILE_MAX) n = CONFIG_FILE_MAX; /* grew while we read: judge what we have */
    long bad = first_binary_byte((const unsigned char *)text, n);
    if (bad >= 0) {
        int byte = (unsigned char)text[bad];
        free(text);
        return m3ae_error_set(err, "the configuration file %s is binary, not `key = value` text (byte %ld is 0x%02x); "
                                   "is it the right file?", path, bad, byte);
    }
    FILE *m = n ? fmemopen(text, n, "r") : NULL;
    int rc = 0, n_set = 0;
    if (n && !m) rc = m3ae_error_set(err, "out of memory reading the configuration file %s", path);
    if (m) rc = load_stream(c, m, path, &n_set, err);
    free(text);
    if (rc == 0 && n_set == 0)
        rc = m3ae_error_set(err, "the configuration file %s is empty (%s); give `key = value` lines or leave "
                                 "--config out to train the defaults", path,
                            n ? "only comments and blank lines" : "0 bytes");
    return rc;
}

int m3ae_train_config_from_text(m3ae_train_config *c, const char *text, m3ae_error *err) {
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    if (!f) return m3ae_error_set(err, "out of memory reading a configuration text");
    int n_set = 0;
    return load_stream(c, f, "(configuration text)", &n_set, err);
}

/* Reads `key = value` lines from f and closes it; errors name path:line. *n_set counts the keys set. */
static int load_stream(m3ae_train_config *c, FILE *f, const char *path, int *n_set, m3ae_error *err) {
    char line[4096];
    int lineno = 0, rc = 0;
    *n_set = 0;
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
        else (*n_set)++;
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

/* Bytes of host memory this machine has (0 when unknown). */
static double physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 0;
}

/* "2.3 TiB" */
static const char *human_bytes(double b, char *buf, size_t n) {
    const char *unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (b >= 1024 && u < 6) b /= 1024, u++;
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
    return buf;
}

/* Sizes are checked before anything is allocated: the keys that drive allocation, multiplied out
 * (in double, so that no product wraps), against the memory of this machine. Two facts, both lower
 * bounds of what a rank really uses:
 *   - the loader keeps a whole optimizer step's micro-batches staged (accum + 1 of them, io/pipeline.h
 *     leases), each sample with two images (B,3,S,S) float32, four (B,L) int32 text arrays and the
 *     (B,N) MIM noise and order: so batch_size / ranks samples are resident at once;
 *   - on the CPU backend the forward keeps at least one float32 activation of every layer per token
 *     for the backward: per sample (N+1) x vision_width x vision_layers + L x text_width x text_layers
 *     + 2 x (N+1+L) x hidden_size x num_top_layer values.
 * A configuration over these bounds cannot run here; saying so beats a crash in an allocation. */
static int check_memory(const m3ae_train_config *c, int world, m3ae_error *err) {
    double phys = physical_memory();
    if (phys <= 0) return 0;
    const m3ae_config *m = &c->model;
    double S = m->image_size, L = m->max_text_len, N = (double)m3ae_cfg_grid(m) * m3ae_cfg_grid(m);
    double per_sample = 2 * 3 * S * S * 4 + 4 * L * 4 + 2 * N * 4 + 28;
    double accum = (double)c->batch_size / ((double)c->per_gpu_batchsize * world);
    double staged = (accum + 1) * (double)c->per_gpu_batchsize * per_sample;
    char need[32], have[32];
    if (staged > phys)
        return m3ae_error_set(err,
                              "batch_size = %lld needs %s of staged batches per rank (the loader holds a step's %.0f "
                              "micro-batches of per_gpu_batchsize = %lld, %.0f bytes per sample at image_size = %d), "
                              "more than this machine's %s; lower batch_size (and per_gpu_batchsize)",
                              (long long)c->batch_size, human_bytes(staged, need, sizeof need), accum + 1,
                              (long long)c->per_gpu_batchsize, per_sample, m->image_size,
                              human_bytes(phys, have, sizeof have));
    if (strcmp(c->device, "cpu")) return 0; /* activations live on the device; its backend checks them */
    double act = 4 * ((N + 1) * m->vision_width * m->vision_layers + L * m->text_width * m->text_layers +
                      2 * (N + 1 + L) * m->hidden_size * m->num_top_layer);
    double model = (double)c->per_gpu_batchsize * act + staged;
    if (model > phys)
        return m3ae_error_set(err,
                              "per_gpu_batchsize = %lld needs at least %s per rank (%s of activations per sample at "
                              "image_size = %d, max_text_len = %d, plus the staged batches), more than this machine's "
                              "%s; lower per_gpu_batchsize (gradient accumulation keeps batch_size)",
                              (long long)c->per_gpu_batchsize, human_bytes(model, need, sizeof need),
                              human_bytes(act, have, sizeof have), m->image_size, m->max_text_len,
                              human_bytes(phys, (char[32]){0}, 32));
    return 0;
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
    return check_memory(c, world, err);
}

/* The value of training key i as text that m3ae_train_config_set reads back exactly. */
static const char *format_key(const m3ae_train_config *c, int i, char *value, size_t n) {
    const char *field = (const char *)c + keys[i].offset;
    if (keys[i].type == T_INT) snprintf(value, n, "%lld", (long long)*(const int64_t *)field);
    else if (keys[i].type == T_DOUBLE) {
        double v = *(const double *)field;
        snprintf(value, n, "%.15g", v);
        if (strtod(value, NULL) != v) snprintf(value, n, "%.17g", v);
    } else snprintf(value, n, "%s", field);
    return value;
}

void m3ae_train_config_write(const m3ae_train_config *c, FILE *f) {
    fprintf(f, "preset = %s\n", c->preset);
    char value[1100];
    for (int i = 0; i < m3ae_config_n_keys(); i++) {
        m3ae_config_format(&c->model, m3ae_config_key(i), value, sizeof value);
        fprintf(f, "%s = %s\n", m3ae_config_key(i), value);
    }
    for (int i = 0; i < N_KEYS; i++) fprintf(f, "%s = %s\n", keys[i].name, format_key(c, i, value, sizeof value));
}

/* The training keys a resume may change: none of them changes the data order (seed, global batch,
 * dataset), the masks, the augmentation or the model; they steer the schedule, the optimizer, the
 * events and the machine. per_gpu_batchsize is here because resuming at another world size with
 * the same global batch changes it. vocab is a path: the vocabulary's identity is vocab_size (a
 * model key) and the tokenised text. Every other key (all model keys, seed, batch_size,
 * random_crop, mlm_mode, and any key added later) must match the checkpoint's. */
static const char *const resume_free_keys[] = {
    "max_steps", "warmup_steps", "learning_rate", "weight_decay", "lr_mult_head", "lr_mult_multi_modal",
    "adam_beta1", "adam_beta2", "adam_eps", "grad_clip", "per_gpu_batchsize", "vocab", "loader_threads",
    "log_every", "val_every", "val_batches", "ckpt_every", "keep_last", "stop_after", "device", "threads",
    "peak_tflops", "irtr_val_images", "irtr_eval_image_size",
};

int m3ae_train_config_resume_free(const char *key) {
    for (size_t i = 0; i < sizeof resume_free_keys / sizeof resume_free_keys[0]; i++)
        if (!strcmp(resume_free_keys[i], key)) return 1;
    return 0;
}

static void append(char *buf, size_t n, const char *key, const char *was, const char *is) {
    size_t len = strlen(buf);
    if (len < n) snprintf(buf + len, n - len, "%s%s: %s -> %s", len ? ", " : "", key, was, is);
}

int m3ae_train_config_resume_diff(const m3ae_train_config *ckpt, const m3ae_train_config *now, char *refused,
                                  size_t refused_len, char *free_keys, size_t free_len) {
    char a[1100], b[1100];
    int n = 0;
    refused[0] = free_keys[0] = 0;
    for (int i = 0; i < m3ae_config_n_keys(); i++) {
        const char *k = m3ae_config_key(i);
        m3ae_config_format(&ckpt->model, k, a, sizeof a);
        m3ae_config_format(&now->model, k, b, sizeof b);
        if (strcmp(a, b)) append(refused, refused_len, k, a, b), n++;
    }
    for (int i = 0; i < N_KEYS; i++) {
        format_key(ckpt, i, a, sizeof a);
        format_key(now, i, b, sizeof b);
        if (!strcmp(a, b)) continue;
        if (m3ae_train_config_resume_free(keys[i].name)) append(free_keys, free_len, keys[i].name, a, b);
        else append(refused, refused_len, keys[i].name, a, b), n++;
    }
    return n;
}

size_t m3ae_train_config_text(const m3ae_train_config *c, char *buf, size_t n) {
    FILE *f = fmemopen(buf, n, "w");
    if (!f) return 0;
    m3ae_train_config_write(c, f);
    long len = ftell(f);
    fclose(f);
    return len > 0 ? (size_t)len : 0;
}

int m3ae_train_config_build(m3ae_train_config *c, const char *path, char *const *overrides, int n, m3ae_error *err) {
    m3ae_train_config_defaults(c);
    if (path && m3ae_train_config_load(c, path, err) != 0) return -1;
    for (int i = 0; i < n; i++)
        if (m3ae_train_config_override(c, overrides[i], err) != 0) return -1;
    return 0;
}
