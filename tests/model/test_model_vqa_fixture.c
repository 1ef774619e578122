/* The downstream classifier passes against the PyTorch reference (tests/fixtures/{vqa,cls}_tiny.h5,
 * written by tools/reference/make_vqa_fixture.py): the tiny model of the model fixtures plus the
 * official head (Linear, LayerNorm eps 1e-5, GELU erf, Linear), the unmasked text + full image, and
 *   vqa: vqa_head, the loss BCEWithLogits(logits, one-hot) * n_labels with one unseen answer (-1);
 *   cls: cls_head, the loss F.cross_entropy(logits, labels) (mean over the batch).
 * Checks the pooled features, the logits, the loss and the gradient of every trainable parameter
 * (dropout off) with the model fixtures' tolerances.
 *   test_model_vqa_fixture FILE.h5 [vqa|cls]   (default vqa) */
#include <hdf5.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "model/m3ae.h"

#define TOL_OUT 1e-5
#define TOL_LOSS 1e-5
#define TOL_GRAD 1e-4

static hid_t file;

static void *ds_read(const char *path, hid_t type, size_t elem, size_t *numel) {
    *numel = 0;
    if (H5Lexists(file, path, H5P_DEFAULT) <= 0) {
        T_CHECK(0, "fixture lacks dataset %s", path);
        return NULL;
    }
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT), s = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    H5Sclose(s);
    void *buf = malloc((size_t)n * elem);
    herr_t e = H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Dclose(d);
    T_CHECK(e >= 0, "reading %s failed", path);
    *numel = (size_t)n;
    return buf;
}

static float *read_f32(const char *path, size_t *n) { return ds_read(path, H5T_NATIVE_FLOAT, sizeof(float), n); }

static int32_t *read_i32(const char *path, size_t *n) {
    int64_t *v = ds_read(path, H5T_NATIVE_INT64, sizeof(int64_t), n);
    int32_t *r = malloc((*n ? *n : 1) * sizeof(int32_t));
    for (size_t i = 0; v && i < *n; i++) r[i] = (int32_t)v[i];
    free(v);
    return r;
}

static double attr(const char *name) {
    double v = NAN;
    hid_t at = H5Aopen(file, name, H5P_DEFAULT);
    T_CHECK(at >= 0, "fixture lacks attribute %s", name);
    if (at >= 0) H5Aread(at, H5T_NATIVE_DOUBLE, &v), H5Aclose(at);
    return v;
}

/* max|a-b| / max|b| (absolute when the reference is all zero) */
static double rel_err(const float *a, const float *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        md = isnan(d) ? INFINITY : fmax(md, d);
        mb = fmax(mb, fabs((double)b[i]));
    }
    return mb > 0 ? md / mb : (md > 1e-7 ? md : 0);
}

static void compare_output(m3ae_model *m, m3ae_backend *be, const char *name, const char *path) {
    size_t n = 0, rn = 0;
    const float *out = m3ae_model_output(m, name, &n);
    float *ref = read_f32(path, &rn);
    T_CHECK(out && n == rn, "%s: %zu values, reference %zu", name, n, rn);
    if (out && ref && n == rn) {
        float *mine = malloc(n * sizeof(float));
        be->ops->download(be, mine, out, n * sizeof(float));
        double e = rel_err(mine, ref, n);
        printf("  %-12s rel err %.3g\n", name, e);
        T_CHECK(e <= TOL_OUT, "%s rel err %.3g > %.0e", name, e, TOL_OUT);
        free(mine);
    }
    free(ref);
}

int main(int argc, char **argv) {
    if (argc < 2) return fprintf(stderr, "usage: test_model_vqa_fixture FILE.h5 [vqa|cls]\n"), 1;
    const char *task = argc > 2 ? argv[2] : "vqa";
    const int is_cls = !strcmp(task, "cls");
    if (!is_cls && strcmp(task, "vqa")) return fprintf(stderr, "FAIL: task %s is neither vqa nor cls\n", task), 1;
    const m3ae_pass pass = is_cls ? M3AE_PASS_CLS : M3AE_PASS_VQA;
    char key[64];
    file = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return fprintf(stderr, "FAIL: cannot open %s (tools/reference/make_vqa_fixture.py)\n", argv[1]), 1;
    m3ae_config cfg;
    m3ae_error err;
    m3ae_config_preset(&cfg, "tiny", &err);
    for (int i = 0; i < m3ae_config_n_keys(); i++) {
        const char *k = m3ae_config_key(i);
        if (!strcmp(k, "objective")) continue;
        char val[64];
        snprintf(val, sizeof val, "%.17g", attr(k));
        T_CHECK(m3ae_config_set(&cfg, k, val, &err) == 0, "%s", err.msg);
    }
    snprintf(key, sizeof key, "%s_labels", task);
    *(is_cls ? &cfg.cls_labels : &cfg.vqa_labels) = (int)attr(key);
    const int B = (int)attr("batch");
    T_CHECK(m3ae_config_validate(&cfg, &err) == 0, "fixture config: %s", err.msg);
    if (t_failures) return t_done("test_model_vqa_fixture");
    m3ae_backend *be = m3ae_backend_open("cpu", NULL, &err);
    T_CHECK(be != NULL, "cpu backend: %s", err.msg);
    if (!be) return t_done("test_model_vqa_fixture");
    m3ae_model *m = m3ae_model_create(&cfg, be, B);
    const m3ae_registry *r = m3ae_model_registry(m);
    float *params = m3ae_model_params(m);
    for (int i = 0; i < r->n; i++) { /* every registry tensor, the head included, from the fixture */
        char path[200];
        snprintf(path, sizeof path, "/params/%s", r->p[i].name);
        size_t n;
        float *v = read_f32(path, &n);
        T_CHECK(n == r->p[i].numel, "%s: %zu values, registry %zu", path, n, r->p[i].numel);
        if (v && n == r->p[i].numel) be->ops->upload(be, params + r->p[i].offset, v, n * sizeof(float));
        free(v);
    }
    size_t n;
    float *images = read_f32("/inputs/images", &n);
    int32_t *ids = read_i32("/inputs/text_ids", &n), *masks = read_i32("/inputs/text_masks", &n);
    snprintf(key, sizeof key, "/inputs/%s_labels", task);
    int32_t *labels = read_i32(key, &n);
    T_CHECK(n == (size_t)B, "%s has %zu entries, batch %d", key, n, B);
    if (t_failures) return t_done("test_model_vqa_fixture");
    m3ae_batch b = {.B = B, .images = images, .text_ids = ids, .text_masks = masks};
    *(is_cls ? &b.cls_labels : &b.vqa_labels) = labels;
    m3ae_model_stage(m, &b);
    m3ae_model_set_train(m, 0, 0);
    m3ae_model_zero_grads(m);
    double loss = m3ae_model_forward(m, pass, &b);
    char out_name[64], path_feats[64], path_logits[64], path_loss[64];
    snprintf(out_name, sizeof out_name, "%s_logits", task);
    snprintf(path_feats, sizeof path_feats, "/%s/cls_feats", task);
    snprintf(path_logits, sizeof path_logits, "/%s/logits", task);
    snprintf(path_loss, sizeof path_loss, "/%s/loss", task);
    compare_output(m, be, "cls_feats", path_feats);
    compare_output(m, be, out_name, path_logits);
    size_t one;
    double *rl = ds_read(path_loss, H5T_NATIVE_DOUBLE, sizeof(double), &one);
    if (rl) {
        double e = fabs(loss - rl[0]) / fabs(rl[0]);
        printf("  loss %.9f vs reference %.9f rel err %.3g\n", loss, rl[0], e);
        T_CHECK(e <= TOL_LOSS, "%s loss %.9f vs reference %.9f (rel %.3g)", task, loss, rl[0], e);
    }
    free(rl);
    m3ae_model_backward(m, pass, &b);
    float *grads = m3ae_model_grads(m);
    double worst = 0;
    const char *worst_name = "";
    int checked = 0;
    for (int i = 0; i < r->n; i++) {
        const m3ae_param *p = &r->p[i];
        if (!p->trainable) continue;
        char path[200];
        snprintf(path, sizeof path, "/%s/grads/%s", task, p->name);
        size_t rn;
        float *ref = read_f32(path, &rn);
        if (ref && rn == p->numel) {
            float *mine = malloc(rn * sizeof(float));
            be->ops->download(be, mine, grads + p->offset, rn * sizeof(float));
            double e = rel_err(mine, ref, rn);
            if (e > worst) worst = e, worst_name = p->name;
            T_CHECK(e <= TOL_GRAD, "grad %s rel err %.3g > %.0e", p->name, e, TOL_GRAD);
            checked++;
            free(mine);
        }
        free(ref);
    }
    printf("  %d gradients, worst %s rel err %.3g\n", checked, worst_name, worst);
    free(images), free(ids), free(masks), free(labels);
    m3ae_model_destroy(m);
    m3ae_backend_close(be);
    H5Fclose(file);
    return t_done("test_model_vqa_fixture");
}
