/* The C model against the PyTorch reference fixture (tools/reference/make_model_fixtures.py):
 * parameters loaded by registry name (names and shapes must match exactly), the three passes run on
 * the fixture's inputs with dropout off, every /outputs tensor, every loss and every /grads tensor
 * compared (relative error max|a-b| / max|b| per tensor), plus the sin-cos decoder table, the MIM
 * argsort and the bicubic positional-embedding resize.
 * usage: test_model_fixtures <fixture.h5> */
#include <hdf5.h>
#include <stdint.h>
#include <string.h>

#include "common/sort.h"
#include "harness.h"
#include "model/config.h"
#include "model/m3ae.h"
#include "model/backend.h"
#include "model/registry.h"

#define TOL_OUT 1e-5
#define TOL_LOSS 1e-5
#define TOL_GRAD 1e-4

static hid_t file;

/* Reads a dataset as `type`; returns its element count (0 if missing) and its dims. */
static size_t ds_info(const char *path, int *ndim, hsize_t dims[8]) {
    if (H5Lexists(file, path, H5P_DEFAULT) <= 0) return 0;
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0) return 0;
    hid_t s = H5Dget_space(d);
    *ndim = H5Sget_simple_extent_ndims(s);
    H5Sget_simple_extent_dims(s, dims, NULL);
    size_t n = 1;
    for (int i = 0; i < *ndim; i++) n *= dims[i];
    H5Sclose(s);
    H5Dclose(d);
    return n;
}

static void *ds_read(const char *path, hid_t type, size_t elem, size_t *numel) {
    int nd;
    hsize_t dims[8];
    size_t n = ds_info(path, &nd, dims);
    T_CHECK(n > 0, "fixture lacks dataset %s", path);
    if (!n) {
        *numel = 0;
        return NULL;
    }
    void *buf = malloc(n * elem);
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    herr_t e = H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Dclose(d);
    T_CHECK(e >= 0, "reading %s failed", path);
    *numel = n;
    return buf;
}

static float *read_f32(const char *path, size_t *n) { return ds_read(path, H5T_NATIVE_FLOAT, sizeof(float), n); }

static int32_t *read_i32(const char *path, size_t *n) {
    int64_t *v = ds_read(path, H5T_NATIVE_INT64, sizeof(int64_t), n);
    if (!v) return NULL;
    int32_t *r = malloc(*n * sizeof(int32_t));
    for (size_t i = 0; i < *n; i++) r[i] = (int32_t)v[i];
    free(v);
    return r;
}

static double read_scalar(const char *path) {
    double v = NAN;
    size_t n;
    double *p = ds_read(path, H5T_NATIVE_DOUBLE, sizeof(double), &n);
    if (p) v = p[0];
    free(p);
    return v;
}

/* max|a-b| / max|b| (absolute max|a-b| when the reference is all zero). */
static double rel_err(const float *a, const float *b, size_t n, double *maxref) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs((double)b[i]) > mb) mb = fabs((double)b[i]);
    }
    if (maxref) *maxref = mb;
    return mb > 0 ? md / mb : md;
}

typedef struct {
    const char *kind;
    char worst[160];
    double worst_err;
    int n;
} summary;

static void note(summary *s, const char *name, double err) {
    s->n++;
    if (err > s->worst_err || isnan(err)) {
        s->worst_err = err;
        snprintf(s->worst, sizeof s->worst, "%s", name);
    }
}

/* collects the names of the datasets in a group */
typedef struct {
    char (*names)[160];
    int n, cap;
} namelist;

static herr_t collect(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)g;
    (void)info;
    namelist *l = op;
    if (l->n < l->cap) snprintf(l->names[l->n++], 160, "%s", name);
    return 0;
}

static void list_group(const char *path, namelist *l) {
    l->n = 0;
    if (H5Lexists(file, path, H5P_DEFAULT) <= 0) return;
    hid_t g = H5Gopen2(file, path, H5P_DEFAULT);
    H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, collect, l);
    H5Gclose(g);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <fixture.h5>\n", argv[0]);
        return 2;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    file = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        fprintf(stderr, "FAIL: cannot open fixture %s (generate it with tools/reference/make_model_fixtures.py)\n",
                argv[1]);
        return 1;
    }
    printf("fixture %s\n", argv[1]);

    /* configuration from the root attributes */
    m3ae_config cfg;
    m3ae_error err;
    m3ae_config_preset(&cfg, "tiny", &err);
    for (int i = 0; i < m3ae_config_n_keys(); i++) {
        const char *k = m3ae_config_key(i);
        if (!strcmp(k, "objective")) continue; /* not a fixture attribute: separate passes */
        double v = NAN;
        hid_t at = H5Aopen(file, k, H5P_DEFAULT);
        T_CHECK(at >= 0, "fixture lacks attribute %s", k);
        if (at < 0) continue;
        H5Aread(at, H5T_NATIVE_DOUBLE, &v);
        H5Aclose(at);
        char val[64];
        snprintf(val, sizeof val, "%.17g", v);
        T_CHECK(m3ae_config_set(&cfg, k, val, &err) == 0, "%s", err.msg);
    }
    double bd = 0;
    hid_t at = H5Aopen(file, "batch", H5P_DEFAULT);
    H5Aread(at, H5T_NATIVE_DOUBLE, &bd);
    H5Aclose(at);
    const int B = (int)bd;
    T_CHECK(m3ae_config_validate(&cfg, &err) == 0, "fixture config: %s", err.msg);
    if (t_failures) return t_done("test_model_fixtures");

    m3ae_backend *be = m3ae_backend_open("cpu", NULL, &err);
    T_CHECK(be != NULL, "cpu backend: %s", err.msg);
    if (!be) return t_done("test_model_fixtures");
    m3ae_model *m = m3ae_model_create(&cfg, be, B + 1); /* planned for more than used: strides follow the batch */
    const m3ae_registry *r = m3ae_model_registry(m);
    float *params = m3ae_model_params(m);
    m3ae_model_memory_report(m, stdout);

    /* parameters: exact names and shapes both ways */
    namelist l = {malloc(4096 * 160), 0, 4096};
    list_group("/params", &l);
    int unexpected = 0, missing = 0;
    for (int i = 0; i < l.n; i++)
        if (m3ae_registry_find(r, l.names[i]) < 0) {
            unexpected++;
            T_CHECK(0, "fixture parameter %s is not in the registry", l.names[i]);
        }
    for (int i = 0; i < r->n; i++) {
        const m3ae_param *p = &r->p[i];
        char path[200];
        snprintf(path, sizeof path, "/params/%s", p->name);
        int nd;
        hsize_t dims[8];
        size_t n = ds_info(path, &nd, dims);
        if (!n) {
            missing++;
            T_CHECK(0, "registry parameter %s is missing from the fixture", p->name);
            continue;
        }
        int same = nd == p->ndim;
        for (int k = 0; same && k < nd; k++) same = (int64_t)dims[k] == p->shape[k];
        char sb[64];
        T_CHECK(same, "parameter %s: fixture shape differs from registry %s", p->name, m3ae_param_shape_str(p, sb, sizeof sb));
        if (!same) continue;
        float *v = read_f32(path, &n);
        be->ops->upload(be, params + p->offset, v, n * sizeof(float));
        free(v);
    }
    printf("params: %d in fixture, %d in registry, %d missing, %d unexpected\n", l.n, r->n, missing, unexpected);

    /* fixed sin-cos decoder table */
    {
        size_t n;
        float *ref = read_f32("/params/mim_head.decoder_pos_embed", &n);
        float *mine = malloc(n * sizeof(float));
        m3ae_sincos_2d(mine, cfg.mim_decoder_hidden_size, m3ae_cfg_grid(&cfg));
        double e = rel_err(mine, ref, n, NULL);
        printf("decoder_pos_embed sin-cos: rel err %.3g\n", e);
        T_CHECK(e <= 1e-6, "decoder_pos_embed sin-cos rel err %.3g", e);
        free(ref);
        free(mine);
    }

    /* inputs */
    size_t n;
    const int N = m3ae_cfg_patches(&cfg);
    float *images = read_f32("/inputs/images", &n);
    float *itm_images = read_f32("/inputs/itm_images", &n);
    int32_t *text_ids = read_i32("/inputs/text_ids", &n);
    int32_t *text_masks = read_i32("/inputs/text_masks", &n);
    int32_t *mlm_ids = read_i32("/inputs/mlm_ids", &n);
    int32_t *mlm_labels = read_i32("/inputs/mlm_labels", &n);
    int32_t *ids_shuffle = read_i32("/inputs/mim_ids_shuffle", &n);
    int32_t *itm_labels = read_i32("/inputs/itm_labels", &n);
    float *noise = read_f32("/inputs/mim_noise", &n);
    if (noise && ids_shuffle) {
        int32_t *ids = malloc((size_t)N * sizeof(int32_t));
        int same = 1;
        for (int s = 0; s < B; s++) {
            m3ae_argsort_stable(noise + (size_t)s * N, ids, N);
            for (int j = 0; j < N; j++) same &= ids[j] == ids_shuffle[s * N + j];
        }
        T_CHECK(same, "argsort(mim_noise) differs from mim_ids_shuffle");
        free(ids);
    }
    m3ae_batch batch = {.B = B,
                        .images = images,
                        .itm_images = itm_images,
                        .text_ids = text_ids,
                        .text_masks = text_masks,
                        .mlm_ids = mlm_ids,
                        .mlm_labels = mlm_labels,
                        .mim_ids_shuffle = ids_shuffle,
                        .itm_labels = itm_labels};
    m3ae_model_stage(m, &batch);

    /* the three passes, twice: the MLM head on every position (the official computation, whose
     * mlm_logits the fixture holds), then on the predicted positions only (the default) */
    static const char *pass_names[3] = {"mlm", "mim", "itm"};
    summary so = {"outputs", "", 0, 0}, sl = {"losses", "", 0, 0}, sg = {"grads", "", 0, 0};
    for (int all = 1; all >= 0; all--) {
    printf("MLM head on %s:\n", all ? "every position" : "the predicted positions only");
    m3ae_model_set_mlm_all_positions(m, all);
    m3ae_model_set_train(m, 0, 0);
    m3ae_model_zero_grads(m);
    double total = 0;
    for (int p = 0; p < 3; p++) {
        double loss = m3ae_model_forward(m, (m3ae_pass)p, &batch);
        total += loss;
        char path[200];
        snprintf(path, sizeof path, "/outputs/%s", pass_names[p]);
        list_group(path, &l);
        T_CHECK(l.n > 0, "fixture has no %s", path);
        for (int i = 0; i < l.n; i++) {
            size_t numel = 0;
            if (!all && !strcmp(l.names[i], "mlm_logits")) continue; /* only produced with all = 1 */
            const float *dev = m3ae_model_output(m, l.names[i], &numel);
            T_CHECK(dev != NULL, "model has no output %s in the %s pass", l.names[i], pass_names[p]);
            if (!dev) continue;
            snprintf(path, sizeof path, "/outputs/%s/%s", pass_names[p], l.names[i]);
            size_t rn;
            float *ref = read_f32(path, &rn);
            T_CHECK(rn == numel, "%s: %zu elements, model has %zu", path, rn, numel);
            if (ref && rn == numel) {
                float *mine = malloc(numel * sizeof(float));
                be->ops->download(be, mine, dev, numel * sizeof(float));
                double mref, e = rel_err(mine, ref, numel, &mref);
                printf("  %-28s rel err %.3g  (max|ref| %.3g)\n", path, e, mref);
                note(&so, path, e);
                T_CHECK(e <= TOL_OUT, "%s rel err %.3g > %.0e", path, e, TOL_OUT);
                free(mine);
            }
            free(ref);
        }
        snprintf(path, sizeof path, "/losses/%s", pass_names[p]);
        double ref = read_scalar(path), e = fabs(loss - ref) / fabs(ref);
        printf("  %-28s %.9f vs %.9f rel err %.3g\n", path, loss, ref, e);
        note(&sl, path, e);
        T_CHECK(e <= TOL_LOSS, "%s: %.9f vs reference %.9f (rel %.3g)", path, loss, ref, e);
        m3ae_model_backward(m, (m3ae_pass)p, &batch);
    }
    double rt = read_scalar("/losses/total"), et = fabs(total - rt) / fabs(rt);
    printf("  %-28s %.9f vs %.9f rel err %.3g\n", "/losses/total", total, rt, et);
    note(&sl, "/losses/total", et);
    T_CHECK(et <= TOL_LOSS, "total loss %.9f vs %.9f", total, rt);

    /* gradients of every trainable parameter; the fixture must have no other */
    list_group("/grads", &l);
    for (int i = 0; i < l.n; i++) {
        int k = m3ae_registry_find(r, l.names[i]);
        T_CHECK(k >= 0 && r->p[k].trainable, "fixture gradient %s is not a trainable registry parameter", l.names[i]);
    }
    float *grads = m3ae_model_grads(m);
    for (int i = 0; i < r->n; i++) {
        const m3ae_param *p = &r->p[i];
        if (!p->trainable) continue;
        char path[200];
        snprintf(path, sizeof path, "/grads/%s", p->name);
        size_t rn;
        float *ref = read_f32(path, &rn);
        if (!ref) continue;
        T_CHECK(rn == p->numel, "%s: %zu elements, registry %zu", path, rn, p->numel);
        if (rn == p->numel) {
            float *mine = malloc(rn * sizeof(float));
            be->ops->download(be, mine, grads + p->offset, rn * sizeof(float));
            double mref, e = rel_err(mine, ref, rn, &mref);
            if (mref == 0) e = e > 1e-7 ? e : 0; /* an all-zero reference: the absolute max must be ~0 */
            note(&sg, p->name, e);
            if (e > TOL_GRAD || getenv("M3AE_VERBOSE"))
                printf("  grad %-60s rel err %.3g (max|ref| %.3g)\n", p->name, e, mref);
            T_CHECK(e <= TOL_GRAD, "grad %s rel err %.3g > %.0e", p->name, e, TOL_GRAD);
            free(mine);
        }
        free(ref);
    }
    }

    /* bicubic positional-embedding resize */
    {
        float *in = read_f32("/extra/pos_resize/in", &n);
        int W = cfg.vision_width, gi = (int)lround(sqrt((double)(n / W - 1)));
        list_group("/extra/pos_resize", &l);
        int checked = 0;
        for (int i = 0; in && i < l.n; i++) {
            int go;
            if (sscanf(l.names[i], "out_%d", &go) != 1) continue;
            char path[200];
            snprintf(path, sizeof path, "/extra/pos_resize/%s", l.names[i]);
            size_t rn;
            float *ref = read_f32(path, &rn);
            float *mine = malloc(rn * sizeof(float));
            T_CHECK(rn == (size_t)(go * go + 1) * W, "%s shape", path);
            m3ae_pos_resize_bicubic(mine, go, in, gi, W);
            double e = rel_err(mine, ref, rn, NULL);
            printf("  pos_resize %d -> %d rel err %.3g\n", gi, go, e);
            T_CHECK(e <= 1e-6, "pos_resize %d -> %d rel err %.3g", gi, go, e);
            checked++;
            free(ref);
            free(mine);
        }
        T_CHECK(checked > 0, "no /extra/pos_resize/out_* checked");
        free(in);
    }

    printf("worst %s: %s rel err %.3g (%d tensors)\n", so.kind, so.worst, so.worst_err, so.n);
    printf("worst %s: %s rel err %.3g (%d)\n", sl.kind, sl.worst, sl.worst_err, sl.n);
    printf("worst %s: %s rel err %.3g (%d tensors)\n", sg.kind, sg.worst, sg.worst_err, sg.n);

    free(images);
    free(itm_images);
    free(text_ids);
    free(text_masks);
    free(mlm_ids);
    free(mlm_labels);
    free(ids_shuffle);
    free(itm_labels);
    free(noise);
    free(l.names);
    m3ae_model_destroy(m);
    m3ae_backend_close(be);
    H5Fclose(file);
    return t_done("test_model_fixtures");
}
