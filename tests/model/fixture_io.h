/* What the downstream fixture tests share (test_model_vqa_fixture.c, test_model_irtr_fixture.c):
 * reading the fixture file written by tools/reference (datasets and attributes of the open `file`,
 * which the test defines), loading its parameters into the model, the relative error, and the
 * comparison of a named model output, and of the gradients, with the reference. Include once per
 * test program, after harness.h and model/m3ae.h, with TOL_OUT and TOL_GRAD defined. */
#ifndef M3AE_TESTS_MODEL_FIXTURE_IO_H
#define M3AE_TESTS_MODEL_FIXTURE_IO_H

#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

/* Every registry tensor, the heads included, from /params/<official name> of the fixture. */
static void load_params(m3ae_model *m, m3ae_backend *be, const m3ae_registry *r) {
    float *params = m3ae_model_params(m);
    for (int i = 0; i < r->n; i++) {
        char path[200];
        snprintf(path, sizeof path, "/params/%s", r->p[i].name);
        size_t n;
        float *v = read_f32(path, &n);
        T_CHECK(n == r->p[i].numel, "%s: %zu values, registry %zu", path, n, r->p[i].numel);
        if (v && n == r->p[i].numel) be->ops->upload(be, params + r->p[i].offset, v, n * sizeof(float));
        free(v);
    }
}

/* Every trainable tensor's gradient against /group/grads/<official name>: each within TOL_GRAD, and
 * every trainable tensor of the registry has its reference. */
static void compare_grads(m3ae_model *m, m3ae_backend *be, const m3ae_registry *r, const char *group) {
    const float *grads = m3ae_model_grads(m);
    double worst = 0;
    const char *worst_name = "";
    int checked = 0, n_trainable = 0;
    for (int i = 0; i < r->n; i++) {
        const m3ae_param *p = &r->p[i];
        if (!p->trainable) continue;
        n_trainable++;
        char path[200];
        snprintf(path, sizeof path, "/%s/grads/%s", group, p->name);
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
    T_CHECK(checked == n_trainable, "%d gradients compared, the registry has %d trainable tensors", checked, n_trainable);
}

#endif
