/* m3ae ckpt inspect|verify|release: look into, check and publish HDF5 checkpoints. */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoints/ckpt.h"
#include "checkpoints/h5file.h"
#include "common/sys.h"
#include "common/arena.h"
#include "common/build_info.h"
#include "common/error.h"
#include "common/sha256.h"
#include "launch/commands.h"
#include "launch/train_config.h"
#include "model/registry.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: m3ae ckpt inspect FILE\n"
            "       m3ae ckpt verify FILE\n"
            "       m3ae ckpt release FILE --out NAME.h5 [--bf16] [--metrics RUN_DIR/metrics.jsonl]\n\n"
            "inspect  prints the step, loader state, seed, world size, m3ae version, the configuration and\n"
            "         the tensor and parameter counts per module.\n"
            "verify   reads every dataset (Fletcher32 checksums included) and checks every name and shape\n"
            "         against the model its configuration describes; exit 4 when anything is wrong.\n"
            "release  writes what a lab publishes: the model weights only (float32, or bfloat16 with --bf16)\n"
            "         with the configuration, data summary and final metrics as attributes, NAME.sha256 and\n"
            "         a model card NAME.md. The release loads with `m3ae pretrain --init-from NAME.h5` and\n"
            "         in PyTorch through tools/convert_checkpoint.py to-pt.\n");
}

/* The registry of the configuration stored in a checkpoint. */
static int registry_of(const m3ae_ckpt_meta *meta, m3ae_train_config *c, m3ae_registry *r, const char *path, m3ae_error *err) {
    m3ae_train_config_defaults(c);
    if (m3ae_train_config_from_text(c, meta->config, err) != 0) return -1;
    if (m3ae_config_validate(&c->model, err) != 0)
        return m3ae_error_set(err, "%s: its configuration is invalid: %s", path, err->msg);
    m3ae_registry_build(r, &c->model);
    return 0;
}

typedef struct {
    long n;
    long long values;
} tally;

static int count(const char *name, int ndim, const int64_t *shape, void *ctx) {
    (void)name;
    tally *t = ctx;
    long long v = 1;
    for (int i = 0; i < ndim; i++) v *= shape[i];
    t->n++, t->values += v;
    return 0;
}

static void print_attr_checksum(const char *path, const m3ae_ckpt_meta *meta) {
    if (meta->attr_checksum) printf("%s: attribute checksum good (step, loader state, seed, configuration, data)\n", path);
    else printf("%s: no attribute checksum (written by an older m3ae or another tool): its attributes are unchecked\n",
                path);
}

static int inspect(const char *path) {
    m3ae_error err;
    m3ae_ckpt_meta *meta = calloc(1, sizeof *meta);
    if (m3ae_ckpt_read_meta(path, meta, &err) != 0) {
        fprintf(stderr, "m3ae: error: %s\n", err.msg);
        free(meta);
        return M3AE_EXIT_CKPT;
    }
    printf("checkpoint %s\n  kind %s, step %lld, epoch %lld, position %lld, seed %lld, world size %lld\n", path,
           meta->kind[0] ? meta->kind : meta->has_optimizer ? "training" : "weights", (long long)meta->step, (long long)meta->epoch,
           (long long)meta->position, (long long)meta->seed, (long long)meta->world_size);
    printf("  written by m3ae %s (commit %s)\n", meta->version, meta->commit);
    print_attr_checksum(path, meta);
    if (meta->data[0]) printf("  data: %s\n", meta->data);
    if (meta->metrics[0]) printf("  final metrics:\n%s\n", meta->metrics);
    m3ae_h5 *f = m3ae_h5_open(path, &err);
    tally model = {0, 0}, m1 = {0, 0}, m2 = {0, 0};
    if (f) {
        m3ae_h5_list(f, "/model", count, &model);
        m3ae_h5_list(f, "/optimizer/exp_avg", count, &m1);
        m3ae_h5_list(f, "/optimizer/exp_avg_sq", count, &m2);
        m3ae_h5_close(f);
    }
    printf("  tensors: /model %ld (%lld values), /optimizer/exp_avg %ld, /optimizer/exp_avg_sq %ld\n", model.n,
           model.values, m1.n, m2.n);
    m3ae_train_config c;
    m3ae_registry r;
    int code = M3AE_EXIT_OK;
    if (registry_of(meta, &c, &r, path, &err) == 0) {
        printf("configuration:\n");
        for (char *save = NULL, *line = strtok_r(meta->config, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            printf("  %s\n", line);
        m3ae_registry_print_summary(&r, stdout);
        m3ae_registry_free(&r);
    } else {
        fprintf(stderr, "m3ae: warning: %s\n", err.msg);
        code = M3AE_EXIT_CKPT;
    }
    free(meta);
    return code;
}

/* Counts the NaN and Inf values of one tensor; prints it when it holds any. Returns 1 when it does. */
static int report_nonfinite(const char *path, const char *group, const m3ae_param *t, const float *arena) {
    size_t nan = 0, inf = 0, first = 0;
    const float *x = arena + t->offset;
    for (size_t i = 0; i < t->numel; i++)
        if (!isfinite(x[i])) {
            if (nan + inf == 0) first = i;
            if (isnan(x[i])) nan++;
            else inf++;
        }
    if (nan + inf == 0) return 0;
    fprintf(stderr, "m3ae: error: %s: tensor %s/%s holds %zu NaN and %zu Inf of %zu values (first at flat index %zu)\n",
            path, group, t->name, nan, inf, t->numel, first);
    return 1;
}

/* Every tensor finite: weights, and the AdamW moments of the tensors that have them. A NaN or Inf
 * checkpoint has all checksums good (it was written faithfully) yet cannot train or serve. */
static int count_nonfinite(const char *path, const m3ae_registry *r, const float *p, const float *m, const float *v) {
    int bad = 0;
    for (int i = 0; i < r->n; i++) {
        bad += report_nonfinite(path, "/model", &r->p[i], p);
        if (m && r->p[i].has_grad) bad += report_nonfinite(path, "/optimizer/exp_avg", &r->p[i], m);
        if (v && r->p[i].has_grad) bad += report_nonfinite(path, "/optimizer/exp_avg_sq", &r->p[i], v);
    }
    return bad;
}

static int verify(const char *path) {
    m3ae_error err = {{0}};
    long nd = 0, nv = 0;
    int64_t bytes = 0; /* the whole-file check first: a damaged file never reaches libhdf5 */
    int whole = m3ae_h5_sum_check(path, &bytes, &err);
    if (whole < 0) {
        fprintf(stderr, "m3ae: error: %s\n", err.msg);
        return M3AE_EXIT_CKPT;
    }
    if (whole == 0) printf("%s: whole-file checksum good (SHA-256 of %lld bytes)\n", path, (long long)bytes);
    int bad = m3ae_h5_verify(path, &nd, &nv, &err);
    if (bad != 0) {
        fprintf(stderr, "m3ae: error: %s: %d of %ld datasets unreadable: %s\n", path, bad < 0 ? 1 : bad, nd, err.msg);
        return M3AE_EXIT_CKPT;
    }
    printf("%s: %ld datasets, %ld values, all dataset checksums good\n", path, nd, nv);
    m3ae_ckpt_meta *meta = calloc(1, sizeof *meta);
    m3ae_train_config c;
    m3ae_registry r;
    int code = M3AE_EXIT_OK;
    if (m3ae_ckpt_read_meta(path, meta, &err) != 0) {
        fprintf(stderr, "m3ae: error: %s\n", err.msg);
        free(meta);
        return M3AE_EXIT_CKPT;
    }
    print_attr_checksum(path, meta);
    if (registry_of(meta, &c, &r, path, &err) != 0) {
        fprintf(stderr, "m3ae: error: %s\n", err.msg);
        free(meta);
        return M3AE_EXIT_CKPT;
    }
    float *p = m3ae_alloc(r.arena_floats * sizeof(float), "verification");
    /* moments when the file says it has them (converted files carry no kind) */
    int training = meta->has_optimizer && strcmp(meta->kind, "release") && strcmp(meta->kind, "weights");
    float *m = training ? m3ae_alloc(r.arena_floats * sizeof(float), "verification") : NULL;
    float *v = training ? m3ae_alloc(r.arena_floats * sizeof(float), "verification") : NULL;
    if (m3ae_ckpt_load(path, &r, p, m, v, NULL, 1, &err) != 0) {
        fprintf(stderr, "m3ae: error: %s\n", err.msg);
        code = M3AE_EXIT_CKPT;
    } else {
        printf("%s: every tensor of the %s model is present with its shape%s\n", path, c.preset,
               training ? " (weights and AdamW moments)" : "");
        int bad = count_nonfinite(path, &r, p, m, v);
        if (bad) {
            fprintf(stderr, "m3ae: error: %s: %d tensors hold NaN or Inf; resume from an earlier checkpoint\n", path,
                    bad);
            code = M3AE_EXIT_CKPT;
        } else {
            printf("%s: every value is finite\n", path);
        }
    }
    m3ae_free(p), m3ae_free(m), m3ae_free(v);
    m3ae_registry_free(&r);
    free(meta);
    return code;
}

/* The last line of metrics.jsonl with "split": "<split>" (empty when none). */
static void last_metrics(const char *path, const char *split, char *out, size_t n) {
    out[0] = 0;
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) return;
    char line[4096], key[64];
    snprintf(key, sizeof key, "\"split\": \"%s\"", split);
    while (fgets(line, sizeof line, f))
        if (strstr(line, key)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(out, n, "%s", line);
        }
    fclose(f);
}

static int release(const char *path, const char *out, int bf16, const char *metrics_path) {
    m3ae_error err = {{0}};
    m3ae_ckpt_meta *meta = calloc(1, sizeof *meta);
    m3ae_train_config c;
    m3ae_registry r;
    if (m3ae_ckpt_read_meta(path, meta, &err) != 0 || registry_of(meta, &c, &r, path, &err) != 0) {
        fprintf(stderr, "m3ae: error: %s\n", err.msg);
        free(meta);
        return M3AE_EXIT_CKPT;
    }
    float *p = m3ae_alloc(r.arena_floats * sizeof(float), "release weights");
    int code = M3AE_EXIT_OK;
    /* default metrics: RUN_DIR/metrics.jsonl beside RUN_DIR/checkpoints/step_*.h5 */
    char guess[4200], dir[4200], train_line[4096], val_line[4096];
    snprintf(dir, sizeof dir, "%s", path);
    snprintf(guess, sizeof guess, "%s/../metrics.jsonl", dirname(dir));
    if (!metrics_path && access(guess, R_OK) == 0) metrics_path = guess;
    last_metrics(metrics_path, "train", train_line, sizeof train_line);
    last_metrics(metrics_path, "val", val_line, sizeof val_line);
    snprintf(meta->metrics, sizeof meta->metrics, "%s\n%s", train_line, val_line);
    if (m3ae_ckpt_load(path, &r, p, NULL, NULL, NULL, 1, &err) != 0 ||
        m3ae_ckpt_save_release(out, &r, p, meta, bf16, &err) != 0) {
        fprintf(stderr, "m3ae: error: %s\n", err.msg);
        code = M3AE_EXIT_CKPT;
    }
    if (code == 0) { /* beside the release: its checksum and the model card */
        char hex[65], side[4300], base[4200];
        snprintf(base, sizeof base, "%s", out);
        size_t len = strlen(base);
        if (len > 3 && !strcmp(base + len - 3, ".h5")) base[len - 3] = 0;
        if (m3ae_sha256_file(out, hex) != 0) {
            fprintf(stderr, "m3ae: error: cannot read back %s\n", out);
            code = M3AE_EXIT_SYSTEM;
        } else {
            char text[8192], name[4200];
            snprintf(name, sizeof name, "%s", out);
            snprintf(text, sizeof text, "%s  %s\n", hex, basename(name));
            snprintf(side, sizeof side, "%s.sha256", base);
            if (m3ae_write_file_atomic(side, text, &err) != 0) code = M3AE_EXIT_SYSTEM;
            size_t total = m3ae_registry_count(&r, 1, 1);
            snprintf(side, sizeof side, "%s.md", base);
            FILE *md = fopen(side, "w");
            if (!md) code = M3AE_EXIT_SYSTEM;
            else {
                fprintf(md, "# %s\n\n", basename(name));
                fprintf(md, "M3AE (Multi-Modal Masked Autoencoders for medical vision-and-language pretraining, Chen et al., "
                            "MICCAI 2022) pretrained with m3ae %s (commit %s).\n\n", M3AE_VERSION, M3AE_GIT_COMMIT);
                fprintf(md, "| | |\n|---|---|\n| architecture | `%s` preset: %d px images, patch %d, vision %d x %d blocks, "
                            "text %d x %d layers, fusion %d x (%d + %d) layers, MIM decoder %d x %d |\n",
                        c.preset, c.model.image_size, c.model.patch_size, c.model.vision_width, c.model.vision_layers,
                        c.model.text_width, c.model.text_layers, c.model.hidden_size, c.model.num_top_layer,
                        c.model.num_top_layer, c.model.mim_decoder_hidden_size, c.model.mim_decoder_num_layers);
                fprintf(md, "| parameters | %zu (%s weights) |\n| steps | %lld (global batch %lld) |\n", total,
                        bf16 ? "bfloat16" : "float32", (long long)meta->step, (long long)c.batch_size);
                fprintf(md, "| data | %s |\n| sha256 | `%s` |\n\n", meta->data[0] ? meta->data : "(not recorded)", hex);
                fprintf(md, "## Final metrics\n\n```\n%s\n%s\n```\n\n", train_line[0] ? train_line : "(no metrics.jsonl found)",
                        val_line);
                fprintf(md, "## Loading\n\n- m3ae: `m3ae pretrain --init-from %s ...` (weights, strict names and shapes)\n"
                            "- PyTorch: `python3 tools/convert_checkpoint.py to-pt %s --out model.ckpt`, then\n"
                            "  `model.load_state_dict(torch.load(\"model.ckpt\")[\"state_dict\"])`; tensor names are the\n"
                            "  official M3AE `state_dict` keys.\n- h5py: `h5py.File(\"%s\")[\"model\"]`.\n\n"
                            "## Configuration\n\n```\n%s```\n",
                        basename(name), basename(name), basename(name), meta->config);
                if (fclose(md) != 0) code = M3AE_EXIT_SYSTEM;
            }
            if (code == 0) printf("released %s (%s), %s.sha256, %s.md\n", out, bf16 ? "bfloat16" : "float32", base, base);
            else fprintf(stderr, "m3ae: error: writing the release side files beside %s failed\n", out);
        }
    }
    m3ae_free(p);
    m3ae_registry_free(&r);
    free(meta);
    return code;
}

int m3ae_cmd_ckpt(int argc, char **argv) {
    if (m3ae_cli_wants_help(argc, argv)) return usage(stdout), M3AE_EXIT_OK;
    if (argc < 3) return usage(stderr), M3AE_EXIT_USAGE;
    const char *what = argv[1], *file = argv[2];
    if (!strcmp(what, "inspect") && argc == 3) return inspect(file);
    if (!strcmp(what, "verify") && argc == 3) return verify(file);
    if (!strcmp(what, "release")) {
        const char *out = NULL, *metrics = NULL;
        int bf16 = 0;
        for (int i = 3; i < argc; i++) {
            if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
            else if (!strcmp(argv[i], "--metrics") && i + 1 < argc) metrics = argv[++i];
            else if (!strcmp(argv[i], "--bf16")) bf16 = 1;
            else return fprintf(stderr, "m3ae: error: unknown option '%s' for m3ae ckpt release\n", argv[i]), M3AE_EXIT_USAGE;
        }
        if (!out) return fprintf(stderr, "m3ae: error: m3ae ckpt release needs --out NAME.h5\n"), M3AE_EXIT_USAGE;
        return release(file, out, bf16, metrics);
    }
    usage(stderr);
    return M3AE_EXIT_USAGE;
}
