#include "checkpoints/ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoints/h5file.h"
#include "common/sha256.h"
#include "common/sys.h"
#include "common/build_info.h"
#include "common/log.h"
#include "model/registry.h"

static const char *moment_group[2] = {"/optimizer/exp_avg/", "/optimizer/exp_avg_sq/"};

/* ------------------------------------------------------------------ attribute checksum */

/* The root attributes covered by attr_sha256: every one save() writes. The datasets have their
 * Fletcher32 checksums; these carry the run's state (a flipped bit in `step` or `position` would
 * otherwise resume at the wrong place with every dataset checksum good). */
static const struct {
    const char *name;
    int text;
} covered[] = {{"format", 1}, {"format_version", 0}, {"step", 0}, {"epoch", 0}, {"position", 0}, {"seed", 0},
               {"world_size", 0}, {"has_optimizer", 0}, {"config", 1}, {"data", 1}, {"metrics", 1}, {"kind", 1},
               {"m3ae_version", 1}, {"m3ae_commit", 1}};
#define ATTR_TEXT_MAX (1 << 20)

/* SHA-256 of the covered attributes as the file holds them: for each, its name, then "-" when absent,
 * "i<decimal>" for an integer, "s<length>:<bytes>" for a string; a newline after each. Used on the
 * file being written (after its attributes) and on the file read, so both sides agree by construction. */
static int attr_digest(m3ae_h5 *f, char hex[65], m3ae_error *err) {
    char *text = malloc(ATTR_TEXT_MAX);
    if (!text) return m3ae_error_set(err, "out of memory for the attribute checksum");
    m3ae_sha256 s;
    m3ae_sha256_init(&s);
    char num[64];
    for (size_t i = 0; i < sizeof covered / sizeof covered[0]; i++) {
        m3ae_sha256_update(&s, covered[i].name, strlen(covered[i].name) + 1);
        int64_t v;
        if (covered[i].text && m3ae_h5_get_attr_str(f, covered[i].name, text, ATTR_TEXT_MAX) == 0) {
            size_t len = strlen(text);
            snprintf(num, sizeof num, "s%zu:", len);
            m3ae_sha256_update(&s, num, strlen(num));
            m3ae_sha256_update(&s, text, len);
        } else if (!covered[i].text && m3ae_h5_get_attr_i64(f, covered[i].name, &v) == 0) {
            snprintf(num, sizeof num, "i%lld", (long long)v);
            m3ae_sha256_update(&s, num, strlen(num));
        } else {
            m3ae_sha256_update(&s, "-", 1);
        }
        m3ae_sha256_update(&s, "\n", 1);
    }
    m3ae_sha256_final(&s, hex);
    free(text);
    return 0;
}

static int save(const char *path, const m3ae_registry *r, const float *params, const float *exp_avg,
                const float *exp_avg_sq, const m3ae_ckpt_meta *meta, int bf16, m3ae_error *err) {
    m3ae_h5 *f = m3ae_h5_create(path, err);
    if (!f) return -1;
    char name[256];
    int rc = 0;
    for (int i = 0; i < r->n && rc == 0; i++) {
        const m3ae_param *p = &r->p[i];
        snprintf(name, sizeof name, "/model/%s", p->name);
        rc = m3ae_h5_write(f, name, p->ndim, p->shape, params + p->offset, bf16, err);
        const float *moments[2] = {exp_avg, exp_avg_sq};
        for (int k = 0; k < 2 && rc == 0 && exp_avg && p->has_grad; k++) {
            snprintf(name, sizeof name, "%s%s", moment_group[k], p->name);
            rc = m3ae_h5_write(f, name, p->ndim, p->shape, moments[k] + p->offset, 0, err);
        }
    }
    if (rc == 0)
        rc = m3ae_h5_attr_str(f, "format", "m3ae-checkpoint", err) ||
             m3ae_h5_attr_i64(f, "format_version", M3AE_CKPT_FORMAT_VERSION, err) ||
             m3ae_h5_attr_i64(f, "step", meta->step, err) || m3ae_h5_attr_i64(f, "epoch", meta->epoch, err) ||
             m3ae_h5_attr_i64(f, "position", meta->position, err) || m3ae_h5_attr_i64(f, "seed", meta->seed, err) ||
             m3ae_h5_attr_i64(f, "world_size", meta->world_size, err) ||
             m3ae_h5_attr_i64(f, "has_optimizer", exp_avg != NULL, err) ||
             m3ae_h5_attr_str(f, "config", meta->config, err) || m3ae_h5_attr_str(f, "data", meta->data, err) ||
             (meta->metrics[0] && m3ae_h5_attr_str(f, "metrics", meta->metrics, err)) ||
             m3ae_h5_attr_str(f, "kind", meta->kind[0] ? meta->kind : exp_avg ? "training" : "weights", err) ||
             m3ae_h5_attr_str(f, "m3ae_version", M3AE_VERSION, err) ||
             m3ae_h5_attr_str(f, "m3ae_commit", M3AE_GIT_COMMIT, err)
                 ? -1
                 : 0;
    char hex[65];
    if (rc == 0) rc = attr_digest(f, hex, err) || m3ae_h5_attr_str(f, M3AE_CKPT_ATTR_CHECKSUM, hex, err) ? -1 : 0;
    if (rc != 0) {
        m3ae_h5_abort(f);
        return -1;
    }
    return m3ae_h5_commit(f, err);
}

int m3ae_ckpt_save(const char *path, const m3ae_registry *r, const float *params, const float *exp_avg,
                   const float *exp_avg_sq, const m3ae_ckpt_meta *meta, m3ae_error *err) {
    return save(path, r, params, exp_avg, exp_avg_sq, meta, 0, err);
}

int m3ae_ckpt_save_release(const char *path, const m3ae_registry *r, const float *params, const m3ae_ckpt_meta *meta,
                           int bf16, m3ae_error *err) {
    m3ae_ckpt_meta m = *meta;
    snprintf(m.kind, sizeof m.kind, "release");
    return save(path, r, params, NULL, NULL, &m, bf16, err);
}

static int read_meta(m3ae_h5 *f, const char *path, m3ae_ckpt_meta *meta, m3ae_error *err) {
    int64_t version = 0;
    char format[64] = "";
    if (m3ae_h5_get_attr_str(f, "format", format, sizeof format) != 0 || strcmp(format, "m3ae-checkpoint") != 0 ||
        m3ae_h5_get_attr_i64(f, "format_version", &version) != 0)
        return m3ae_error_set(err, "%s is not an m3ae checkpoint (no format attributes); for PyTorch checkpoints use "
                                   "tools/convert_checkpoint.py", path);
    if (version > M3AE_CKPT_FORMAT_VERSION)
        return m3ae_error_set(err, "%s has checkpoint format %lld, newer than this m3ae (%d): update m3ae", path,
                              (long long)version, M3AE_CKPT_FORMAT_VERSION);
    char want[80] = "", have[65];
    int checked = m3ae_h5_get_attr_str(f, M3AE_CKPT_ATTR_CHECKSUM, want, sizeof want) == 0;
    if (checked) {
        if (attr_digest(f, have, err) != 0) return -1;
        if (strcmp(want, have) != 0)
            return m3ae_error_set(err, "%s: the attribute checksum (%s) does not match its attributes (step, epoch, "
                                       "position, seed, world_size, config, data, kind, ...): they were changed or are "
                                       "corrupt; use another checkpoint", path, M3AE_CKPT_ATTR_CHECKSUM);
    }
    if (!meta) return 0;
    memset(meta, 0, sizeof *meta);
    meta->attr_checksum = checked;
    m3ae_h5_get_attr_i64(f, "step", &meta->step);
    m3ae_h5_get_attr_i64(f, "epoch", &meta->epoch);
    m3ae_h5_get_attr_i64(f, "position", &meta->position);
    m3ae_h5_get_attr_i64(f, "seed", &meta->seed);
    m3ae_h5_get_attr_i64(f, "world_size", &meta->world_size);
    m3ae_h5_get_attr_str(f, "config", meta->config, sizeof meta->config);
    m3ae_h5_get_attr_str(f, "data", meta->data, sizeof meta->data);
    m3ae_h5_get_attr_str(f, "kind", meta->kind, sizeof meta->kind);
    m3ae_h5_get_attr_str(f, "metrics", meta->metrics, sizeof meta->metrics);
    m3ae_h5_get_attr_str(f, "m3ae_version", meta->version, sizeof meta->version);
    m3ae_h5_get_attr_str(f, "m3ae_commit", meta->commit, sizeof meta->commit);
    int64_t has_opt = 0;
    if (m3ae_h5_get_attr_i64(f, "has_optimizer", &has_opt) == 0) meta->has_optimizer = has_opt != 0;
    return 0;
}

int m3ae_ckpt_read_meta(const char *path, m3ae_ckpt_meta *meta, m3ae_error *err) {
    m3ae_h5 *f = m3ae_h5_open(path, err);
    if (!f) return -1;
    int rc = read_meta(f, path, meta, err);
    m3ae_h5_close(f);
    return rc;
}

/* Mismatch lines: the first MAX_NOTES are printed, the rest counted in the summary. */
#define MAX_NOTES 12
static int notes_printed;

static void note(const char *fmt, const char *a, const char *b, const char *c, const char *d) {
    if (notes_printed++ < MAX_NOTES) m3ae_warn(fmt, a, b, c, d);
    else if (notes_printed == MAX_NOTES + 1) m3ae_warn("... (more mismatches: see the summary)");
}

typedef struct {
    const m3ae_registry *r;
    int unexpected;
    char first[256];
} unexpected_ctx;

static int count_unexpected(const char *name, int ndim, const int64_t *shape, void *p) {
    (void)ndim, (void)shape;
    unexpected_ctx *c = p;
    if (m3ae_registry_find(c->r, name) < 0) {
        if (!c->unexpected) snprintf(c->first, sizeof c->first, "%s", name);
        c->unexpected++;
        note("checkpoint tensor %s is not part of this model%s%s%s", name, "", "", "");
    }
    return 0;
}

static int same_shape(const m3ae_param *p, int nd, const int64_t *shape) {
    if (nd != p->ndim) return 0;
    for (int d = 0; d < nd; d++)
        if (shape[d] != p->shape[d]) return 0;
    return 1;
}

int m3ae_ckpt_load(const char *path, const m3ae_registry *r, float *params, float *exp_avg, float *exp_avg_sq,
                   m3ae_ckpt_meta *meta, int strict, m3ae_error *err) {
    m3ae_h5 *f = m3ae_h5_open(path, err);
    if (!f) return -1;
    if (read_meta(f, path, meta, err) != 0) return m3ae_h5_close(f), -1;
    int64_t has_opt = 0;
    m3ae_h5_get_attr_i64(f, "has_optimizer", &has_opt);
    if (exp_avg && !has_opt) {
        m3ae_h5_close(f);
        return m3ae_error_set(err, "%s holds model weights only (a release?): it cannot resume training; use "
                                   "--init-from %s to start a new run from it", path, path);
    }
    /* pass 1: every name and shape, all mismatches counted */
    notes_printed = 0;
    int missing = 0, wrong = 0;
    char first_missing[256] = "", first_wrong[512] = "", name[256], buf1[64], buf2[64];
    for (int i = 0; i < r->n; i++) {
        const m3ae_param *p = &r->p[i];
        for (int k = -1; k < 2; k++) {
            if (k >= 0 && (!exp_avg || !p->has_grad)) continue;
            snprintf(name, sizeof name, "%s%s", k < 0 ? "/model/" : moment_group[k], p->name);
            int64_t shape[M3AE_H5_MAX_DIMS];
            int nd = m3ae_h5_shape(f, name, shape);
            if (nd < 0) {
                if (!missing) snprintf(first_missing, sizeof first_missing, "%s", name);
                missing++;
                note("checkpoint %s lacks %s %s%s", path, name, m3ae_param_shape_str(p, buf1, sizeof buf1), "");
            } else if (!same_shape(p, nd, shape)) {
                m3ae_param fake = *p;
                fake.ndim = nd;
                for (int d = 0; d < nd && d < M3AE_PARAM_MAX_DIMS; d++) fake.shape[d] = shape[d];
                if (!wrong)
                    snprintf(first_wrong, sizeof first_wrong, "%s is %s in the file, %s in the model", name,
                             m3ae_param_shape_str(&fake, buf2, sizeof buf2), m3ae_param_shape_str(p, buf1, sizeof buf1));
                wrong++;
                note("checkpoint %s: %s has shape %s, the model expects %s", path, name,
                     m3ae_param_shape_str(&fake, buf2, sizeof buf2), m3ae_param_shape_str(p, buf1, sizeof buf1));
            }
        }
    }
    unexpected_ctx uc = {r, 0, ""};
    m3ae_h5_list(f, "/model", count_unexpected, &uc);
    if (wrong || ((missing || uc.unexpected) && strict)) {
        m3ae_h5_close(f);
        return m3ae_error_set(err,
                              "checkpoint %s does not match the model: %d missing (first: %s), %d unexpected (first: "
                              "%s), %d of another shape (first: %s). Was it written with another configuration? "
                              "Its configuration is stored in its 'config' attribute (m3ae ckpt inspect)",
                              path, missing, missing ? first_missing : "-", uc.unexpected,
                              uc.unexpected ? uc.first : "-", wrong, wrong ? first_wrong : "-");
    }
    /* pass 2: read */
    for (int i = 0; i < r->n; i++) {
        const m3ae_param *p = &r->p[i];
        float *dst[3] = {params, exp_avg, exp_avg_sq};
        for (int k = -1; k < 2; k++) {
            if (k >= 0 && (!exp_avg || !p->has_grad)) continue;
            snprintf(name, sizeof name, "%s%s", k < 0 ? "/model/" : moment_group[k], p->name);
            if (m3ae_h5_exists(f, name) != 1) continue; /* tolerated missing (non-strict) */
            if (m3ae_h5_read(f, name, p->ndim, p->shape, dst[k + 1] + p->offset, err) != 0) {
                m3ae_h5_close(f);
                return -1;
            }
        }
    }
    m3ae_h5_close(f);
    return 0;
}

static int ckpt_dir(const char *run_dir, char *dir, size_t n, m3ae_error *err) {
    snprintf(dir, n, "%s/checkpoints", run_dir);
    if (mkdir(run_dir, 0755) != 0 && errno != EEXIST)
        return m3ae_error_set(err, "cannot create the run folder %s: %s", run_dir, strerror(errno));
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return m3ae_error_set(err, "cannot create %s: %s", dir, strerror(errno));
    return 0;
}

/* The step of a checkpoint file name "step_<digits>.h5", or -1 for any other name (temporaries
 * "step_....h5.tmp-<pid>", latest, foreign files). */
static int64_t step_of(const char *name) {
    if (strncmp(name, "step_", 5) != 0) return -1;
    const char *p = name + 5;
    int64_t v = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 18; p++, digits++) v = v * 10 + (*p - '0');
    return digits > 0 && !strcmp(p, ".h5") ? v : -1;
}

static int cmp_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The steps of the step files in dir, newest first; returns how many (at most max). */
static int list_steps(const char *dir, int64_t *steps, int max) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        int64_t s = step_of(e->d_name);
        if (s >= 0) steps[n++] = s;
    }
    closedir(d);
    qsort(steps, (size_t)n, sizeof *steps, cmp_desc);
    return n;
}

static void step_path(const char *dir, int64_t step, char *path, size_t n) {
    snprintf(path, n, "%s/step_%07lld.h5", dir, (long long)step);
}

#define MAX_STEP_FILES 65536

/* Keeps the newest `keep` checkpoints of the run's own history, the steps up to `written` (the one
 * just written): step files of later steps are leftovers of another branch of the run (latest was
 * pointed back, or a newer file was broken) and ranking them would delete the new checkpoint at
 * once. Never deletes `written` or the file `latest` names. */
static void prune(const char *dir, int keep, int64_t written) {
    int64_t *steps = malloc(MAX_STEP_FILES * sizeof *steps);
    if (!steps) return;
    int n = list_steps(dir, steps, MAX_STEP_FILES), kept = 0;
    char latest[4200], name[256] = "", path[4200];
    snprintf(latest, sizeof latest, "%s/latest", dir);
    FILE *fp = fopen(latest, "r");
    if (fp) {
        if (!fgets(name, sizeof name, fp)) name[0] = 0;
        fclose(fp);
        name[strcspn(name, "\r\n")] = 0;
    }
    int64_t named = step_of(name);
    for (int i = 0; i < n; i++) {
        if (steps[i] > written) continue; /* not this run's history */
        if (kept++ < keep || steps[i] == written || steps[i] == named) continue;
        step_path(dir, steps[i], path, sizeof path);
        if (unlink(path) != 0) m3ae_warn("could not delete old checkpoint %s: %s", path, strerror(errno));
    }
    free(steps);
}

int m3ae_ckpt_check_whole(const char *path, m3ae_error *err) {
    long nd = 0, nv = 0;
    int bad = m3ae_h5_verify(path, &nd, &nv, err);
    if (bad != 0) return -1; /* err names the first bad dataset, or why the file does not open */
    return m3ae_ckpt_read_meta(path, NULL, err);
}

int m3ae_ckpt_find_whole(const char *run_dir, char *path, size_t n, m3ae_error *err) {
    char dir[4200], file[4400];
    snprintf(dir, sizeof dir, "%s/checkpoints", run_dir);
    int64_t *steps = malloc(MAX_STEP_FILES * sizeof *steps);
    if (!steps) return m3ae_error_set(err, "out of memory listing %s", dir);
    int count = list_steps(dir, steps, MAX_STEP_FILES), rc = 1;
    char first[M3AE_ERROR_LEN] = "";
    for (int i = 0; i < count && rc != 0; i++) {
        m3ae_error why = {{0}};
        step_path(dir, steps[i], file, sizeof file);
        if (m3ae_ckpt_check_whole(file, &why) == 0) {
            snprintf(path, n, "%s", file);
            rc = 0;
        } else {
            m3ae_warn("checkpoint %s is not whole (%s); skipping it", file, why.msg);
            if (!first[0]) snprintf(first, sizeof first, "%s", why.msg);
        }
    }
    free(steps);
    if (rc != 0 && count > 0)
        return m3ae_error_set(err, "%s holds %d step file(s), none of them whole (newest: %.300s); restore a copy, "
                                   "or move them away to start the run afresh", dir, count, first);
    return rc;
}

int64_t m3ae_ckpt_newest_step(const char *run_dir) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/checkpoints", run_dir);
    int64_t *steps = malloc(MAX_STEP_FILES * sizeof *steps);
    if (!steps) return -1;
    int count = list_steps(dir, steps, MAX_STEP_FILES);
    int64_t newest = count > 0 ? steps[0] : -1;
    free(steps);
    return newest;
}

/* Phase 1 of a run's checkpoint: the step file, not yet `latest`. */
int m3ae_ckpt_save_step(const char *run_dir, const m3ae_registry *r, const float *params, const float *exp_avg,
                        const float *exp_avg_sq, const m3ae_ckpt_meta *meta, char *written, size_t written_len,
                        m3ae_error *err) {
    char dir[4096], path[4200];
    if (ckpt_dir(run_dir, dir, sizeof dir, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/step_%07lld.h5", dir, (long long)meta->step);
    if (m3ae_ckpt_save(path, r, params, exp_avg, exp_avg_sq, meta, err) != 0) return -1;
    if (written) snprintf(written, written_len, "%s", path);
    return 0;
}

/* Phase 2: `latest` names the step file, then the old ones go (only now: until latest moves, the
 * previous checkpoint is the one a resume needs). */
int m3ae_ckpt_publish(const char *run_dir, int64_t step, int keep_last, m3ae_error *err) {
    char dir[4096], file[64], latest[4200], text[80];
    if (ckpt_dir(run_dir, dir, sizeof dir, err) != 0) return -1;
    snprintf(file, sizeof file, "step_%07lld.h5", (long long)step);
    snprintf(latest, sizeof latest, "%s/latest", dir);
    snprintf(text, sizeof text, "%s\n", file);
    if (m3ae_write_file_atomic(latest, text, err) != 0) return -1;
    if (keep_last > 0) prune(dir, keep_last, step);
    return 0;
}

int m3ae_ckpt_save_run(const char *run_dir, int keep_last, const m3ae_registry *r, const float *params,
                       const float *exp_avg, const float *exp_avg_sq, const m3ae_ckpt_meta *meta, char *written,
                       size_t written_len, m3ae_error *err) {
    if (m3ae_ckpt_save_step(run_dir, r, params, exp_avg, exp_avg_sq, meta, written, written_len, err) != 0) return -1;
    return m3ae_ckpt_publish(run_dir, meta->step, keep_last, err);
}

int m3ae_ckpt_remove_stale(const char *run_dir) {
    char dir[4200], path[4400];
    snprintf(dir, sizeof dir, "%s/checkpoints", run_dir);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) == 0) n++;
        }
    closedir(d);
    return n;
}

int m3ae_ckpt_latest(const char *run_dir, char *path, size_t n, m3ae_error *err) {
    char latest[4200], name[256] = "";
    snprintf(latest, sizeof latest, "%s/checkpoints/latest", run_dir);
    FILE *fp = fopen(latest, "r");
    if (!fp) {
        if (errno == ENOENT) return 1;
        return m3ae_error_set(err, "cannot read %s: %s", latest, strerror(errno));
    }
    int ok = fgets(name, sizeof name, fp) != NULL;
    fclose(fp);
    name[strcspn(name, "\r\n")] = 0;
    if (!ok || !name[0] || strchr(name, '/'))
        return m3ae_error_set(err, "%s is empty or malformed; point it at a step_*.h5 file of that folder", latest);
    snprintf(path, n, "%s/checkpoints/%s", run_dir, name);
    if (access(path, R_OK) != 0)
        return m3ae_error_set(err, "%s names %s, which cannot be read: %s", latest, path, strerror(errno));
    return 0;
}
