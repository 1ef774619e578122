#include "checkpoints/h5file.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sys.h"

/* HDF5 1.10 (Debian 12) and 1.12+ name the iteration API differently. */
#if H5_VERSION_GE(1, 12, 0)
typedef H5L_info2_t m3ae_h5_linfo;
typedef H5O_info2_t m3ae_h5_oinfo;
#define M3AE_H5_LITERATE H5Literate2
#define M3AE_H5_OVISIT(obj, cb, ctx) H5Ovisit3(obj, H5_INDEX_NAME, H5_ITER_INC, cb, ctx, H5O_INFO_BASIC)
#else
typedef H5L_info_t m3ae_h5_linfo;
typedef H5O_info_t m3ae_h5_oinfo;
#define M3AE_H5_LITERATE H5Literate
#define M3AE_H5_OVISIT(obj, cb, ctx) H5Ovisit2(obj, H5_INDEX_NAME, H5_ITER_INC, cb, ctx, H5O_INFO_BASIC)
#endif

struct m3ae_h5 {
    hid_t file;
    int writing;
    char path[4096]; /* final path */
    char tmp[4200];  /* temporary path while writing */
};

/* HDF5 prints its error stack by default; we collect the innermost message instead. Its exit-time
 * clean-up is switched off: after a failed write (a full disk) HDF5 1.10 cannot close the file, and
 * closing it again at exit crashes; every file m3ae writes is closed (or abandoned) explicitly. */
static void h5_quiet(void) {
    static int done = 0;
    if (!done) {
        H5dont_atexit();
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

static herr_t h5_err_walk(unsigned n, const H5E_error2_t *e, void *ctx) {
    char *buf = ctx;
    if (n == 0) snprintf(buf, 256, "%s", e->desc ? e->desc : "unknown HDF5 error");
    return 0;
}

static int h5_fail(m3ae_error *err, const char *fmt, const char *a, const char *b) {
    char why[256] = "unknown HDF5 error";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, h5_err_walk, why);
    H5Eclear2(H5E_DEFAULT);
    char what[1024];
    snprintf(what, sizeof what, fmt, a, b);
    return m3ae_error_set(err, "%s: %s", what, why);
}

m3ae_h5 *m3ae_h5_create(const char *path, m3ae_error *err) {
    h5_quiet();
    m3ae_h5 *f = calloc(1, sizeof *f);
    if (!f) return m3ae_error_set(err, "out of memory"), NULL;
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->tmp, sizeof f->tmp, "%s.tmp-%d", path, (int)getpid());
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE); /* room for the whole-file checksum (h5file_sum.c) */
    f->file = fcpl < 0 || H5Pset_userblock(fcpl, M3AE_H5_USERBLOCK) < 0
                  ? -1
                  : H5Fcreate(f->tmp, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (f->file < 0) {
        h5_fail(err, "cannot create %s (%s); check that the folder exists and is writable", f->tmp, "");
        free(f);
        return NULL;
    }
    f->writing = 1;
    return f;
}

/* Chunks of at most 1 MiB of float32: halve dimensions, first ones first, until small enough. */
static void chunk_dims(int ndim, const int64_t *shape, hsize_t *chunk) {
    hsize_t total = 1;
    for (int i = 0; i < ndim; i++) chunk[i] = (hsize_t)shape[i], total *= chunk[i];
    for (int i = 0; i < ndim && total > 262144; i++)
        while (chunk[i] > 1 && total > 262144) {
            total /= chunk[i];
            chunk[i] = (chunk[i] + 1) / 2;
            total *= chunk[i];
        }
}

static uint16_t f32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu)) return (uint16_t)((u >> 16) | 0x40); /* NaN */
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

int m3ae_h5_write(m3ae_h5 *f, const char *path, int ndim, const int64_t *shape, const float *data, int as_bf16,
                  m3ae_error *err) {
    if (!f->writing) return m3ae_error_set(err, "%s: file is open for reading", f->path);
    if (ndim < 1 || ndim > M3AE_H5_MAX_DIMS) return m3ae_error_set(err, "%s: tensor %s has %d dimensions", f->path, path, ndim);
    hsize_t dims[M3AE_H5_MAX_DIMS], chunk[M3AE_H5_MAX_DIMS];
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) return m3ae_error_set(err, "%s: tensor %s has an empty dimension", f->path, path);
        dims[i] = (hsize_t)shape[i];
        count *= (size_t)shape[i];
    }
    chunk_dims(ndim, shape, chunk);
    hid_t space = H5Screate_simple(ndim, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    H5Pset_chunk(dcpl, ndim, chunk);
    H5Pset_fletcher32(dcpl);
    hid_t ftype = as_bf16 ? H5T_STD_U16LE : H5T_IEEE_F32LE;
    hid_t ds = H5Dcreate2(f->file, path, ftype, space, lcpl, dcpl, H5P_DEFAULT);
    int rc = 0;
    if (ds < 0) {
        rc = h5_fail(err, "%s: cannot create dataset %s", f->tmp, path);
    } else if (as_bf16) {
        uint16_t *buf = malloc(count * sizeof *buf);
        if (!buf) rc = m3ae_error_set(err, "out of memory converting %s to bfloat16", path);
        else {
            for (size_t i = 0; i < count; i++) buf[i] = f32_to_bf16(data[i]);
            if (H5Dwrite(ds, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
                rc = h5_fail(err, "%s: writing %s failed (is the disk full?)", f->tmp, path);
            free(buf);
        }
        if (rc == 0) {
            hid_t t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, 8);
            hid_t s = H5Screate(H5S_SCALAR);
            hid_t a = H5Acreate2(ds, "dtype", t, s, H5P_DEFAULT, H5P_DEFAULT);
            if (a < 0 || H5Awrite(a, t, "bfloat16") < 0) rc = h5_fail(err, "%s: tagging %s as bfloat16 failed", f->tmp, path);
            if (a >= 0) H5Aclose(a);
            H5Sclose(s);
            H5Tclose(t);
        }
    } else if (H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        rc = h5_fail(err, "%s: writing %s failed (is the disk full?)", f->tmp, path);
    }
    if (ds >= 0) H5Dclose(ds);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(space);
    return rc;
}

static int attr_write(m3ae_h5 *f, const char *name, hid_t type, const void *value, m3ae_error *err) {
    hid_t s = H5Screate(H5S_SCALAR);
    if (H5Aexists(f->file, name) > 0) H5Adelete(f->file, name);
    hid_t a = H5Acreate2(f->file, name, type, s, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (a < 0 || H5Awrite(a, type, value) < 0) rc = h5_fail(err, "%s: cannot write attribute %s", f->tmp, name);
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    return rc;
}

int m3ae_h5_attr_str(m3ae_h5 *f, const char *name, const char *value, m3ae_error *err) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int rc = attr_write(f, name, t, &value, err);
    H5Tclose(t);
    return rc;
}

int m3ae_h5_attr_i64(m3ae_h5 *f, const char *name, int64_t value, m3ae_error *err) {
    return attr_write(f, name, H5T_NATIVE_INT64, &value, err);
}

int m3ae_h5_attr_f64(m3ae_h5 *f, const char *name, double value, m3ae_error *err) {
    return attr_write(f, name, H5T_NATIVE_DOUBLE, &value, err);
}

int m3ae_h5_commit(m3ae_h5 *f, m3ae_error *err) {
    int rc = 0;
    if (H5Fflush(f->file, H5F_SCOPE_GLOBAL) < 0 || H5Fclose(f->file) < 0)
        rc = h5_fail(err, "%s: flushing failed (is the disk full?)%s", f->tmp, "");
    f->file = -1;
    if (rc == 0) rc = m3ae_h5_sum_write(f->tmp, err); /* only now, so a file cut short has no valid block */
    if (rc == 0 && m3ae_fsync_path(f->tmp, 0) != 0)
        rc = m3ae_error_set(err, "%s: fsync failed: %s (is the disk full?)", f->tmp, strerror(errno));
    if (rc == 0 && rename(f->tmp, f->path) != 0)
        rc = m3ae_error_set(err, "cannot rename %s to %s: %s", f->tmp, f->path, strerror(errno));
    if (rc == 0 && m3ae_fsync_parent(f->path) != 0)
        rc = m3ae_error_set(err, "fsync of the folder of %s failed: %s", f->path, strerror(errno));
    if (rc != 0) unlink(f->tmp);
    free(f);
    return rc;
}

void m3ae_h5_abort(m3ae_h5 *f) {
    if (!f) return;
    if (f->file >= 0) H5Fclose(f->file);
    unlink(f->tmp);
    free(f);
}

m3ae_h5 *m3ae_h5_open(const char *path, m3ae_error *err) {
    if (m3ae_h5_sum_check(path, NULL, err) < 0) return NULL; /* before libhdf5 reads a byte */
    h5_quiet();
    if (access(path, R_OK) != 0) return m3ae_error_set(err, "cannot read %s: %s", path, strerror(errno)), NULL;
    m3ae_h5 *f = calloc(1, sizeof *f);
    if (!f) return m3ae_error_set(err, "out of memory"), NULL;
    snprintf(f->path, sizeof f->path, "%s", path);
    f->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f->file < 0) {
        h5_fail(err, "%s is not a readable HDF5 file (truncated or corrupt?)%s", path, "");
        free(f);
        return NULL;
    }
    return f;
}

void m3ae_h5_close(m3ae_h5 *f) {
    if (!f) return;
    if (f->writing) {
        m3ae_h5_abort(f);
        return;
    }
    if (f->file >= 0) H5Fclose(f->file);
    free(f);
}

int m3ae_h5_exists(m3ae_h5 *f, const char *path) {
    /* H5Lexists fails on missing intermediate groups: check each level. */
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = 0;
        int e = H5Lexists(f->file, buf, H5P_DEFAULT) > 0;
        *p = '/';
        if (!e) return 0;
    }
    return H5Lexists(f->file, path, H5P_DEFAULT) > 0;
}

int m3ae_h5_shape(m3ae_h5 *f, const char *path, int64_t *shape) {
    if (!m3ae_h5_exists(f, path)) return -1;
    hid_t ds = H5Dopen2(f->file, path, H5P_DEFAULT);
    if (ds < 0) return H5Eclear2(H5E_DEFAULT), -1;
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[M3AE_H5_MAX_DIMS];
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd > M3AE_H5_MAX_DIMS) nd = -1;
    else {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        for (int i = 0; i < nd; i++) shape[i] = (int64_t)dims[i];
    }
    H5Sclose(sp);
    H5Dclose(ds);
    return nd;
}

static int is_bf16(hid_t ds) {
    if (H5Aexists(ds, "dtype") <= 0) return 0;
    char buf[16] = {0};
    hid_t a = H5Aopen(ds, "dtype", H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    int ok = H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t) && H5Tget_size(t) < sizeof buf &&
             H5Aread(a, t, buf) >= 0 && !strcmp(buf, "bfloat16");
    H5Tclose(t);
    H5Aclose(a);
    return ok;
}

static int read_all(hid_t ds, size_t count, float *out) {
    if (is_bf16(ds)) {
        uint16_t *buf = malloc(count * sizeof *buf);
        if (!buf) return -1;
        int rc = H5Dread(ds, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 ? -1 : 0;
        for (size_t i = 0; rc == 0 && i < count; i++) out[i] = bf16_to_f32(buf[i]);
        free(buf);
        return rc;
    }
    return H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0 ? -1 : 0;
}

int m3ae_h5_read(m3ae_h5 *f, const char *path, int ndim, const int64_t *shape, float *out, m3ae_error *err) {
    int64_t have[M3AE_H5_MAX_DIMS];
    int nd = m3ae_h5_shape(f, path, have);
    if (nd < 0) return m3ae_error_set(err, "%s: tensor %s is missing", f->path, path);
    int same = nd == ndim;
    size_t count = 1;
    for (int i = 0; same && i < nd; i++) same = have[i] == shape[i], count *= (size_t)shape[i];
    if (!same) {
        char a[128] = "", b[128] = "";
        for (int i = 0; i < nd; i++) snprintf(a + strlen(a), sizeof a - strlen(a), "%s%lld", i ? "," : "", (long long)have[i]);
        for (int i = 0; i < ndim; i++) snprintf(b + strlen(b), sizeof b - strlen(b), "%s%lld", i ? "," : "", (long long)shape[i]);
        return m3ae_error_set(err, "%s: tensor %s has shape [%s], expected [%s]", f->path, path, a, b);
    }
    hid_t ds = H5Dopen2(f->file, path, H5P_DEFAULT);
    int rc = ds < 0 || read_all(ds, count, out) != 0
                 ? h5_fail(err, "%s: reading %s failed (checksum error: the file is corrupt)", f->path, path)
                 : 0;
    if (ds >= 0) H5Dclose(ds);
    return rc;
}

static hid_t attr_open(m3ae_h5 *f, const char *name) {
    if (H5Aexists(f->file, name) <= 0) return -1;
    return H5Aopen(f->file, name, H5P_DEFAULT);
}

int m3ae_h5_get_attr_str(m3ae_h5 *f, const char *name, char *buf, size_t n) {
    hid_t a = attr_open(f, name);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    int rc = -1;
    if (H5Tget_class(t) == H5T_STRING) {
        if (H5Tis_variable_str(t)) {
            char *s = NULL;
            if (H5Aread(a, t, &s) >= 0 && s) {
                snprintf(buf, n, "%s", s);
                H5free_memory(s);
                rc = 0;
            }
        } else {
            size_t sz = H5Tget_size(t);
            char *s = calloc(1, sz + 1);
            if (s && H5Aread(a, t, s) >= 0) {
                snprintf(buf, n, "%s", s);
                rc = 0;
            }
            free(s);
        }
    }
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

static int attr_num(m3ae_h5 *f, const char *name, hid_t memtype, H5T_class_t cls, void *v) {
    hid_t a = attr_open(f, name);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    int rc = H5Tget_class(t) == cls && H5Aread(a, memtype, v) >= 0 ? 0 : -1;
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

int m3ae_h5_get_attr_i64(m3ae_h5 *f, const char *name, int64_t *v) {
    return attr_num(f, name, H5T_NATIVE_INT64, H5T_INTEGER, v);
}

int m3ae_h5_get_attr_f64(m3ae_h5 *f, const char *name, double *v) {
    return attr_num(f, name, H5T_NATIVE_DOUBLE, H5T_FLOAT, v);
}

typedef struct {
    m3ae_h5 *f;
    const char *group;
    int (*fn)(const char *, int, const int64_t *, void *);
    void *ctx;
} list_ctx;

static herr_t list_cb(hid_t g, const char *name, const m3ae_h5_linfo *info, void *p) {
    (void)g, (void)info;
    list_ctx *c = p;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", c->group, name);
    int64_t shape[M3AE_H5_MAX_DIMS];
    int nd = m3ae_h5_shape(c->f, path, shape);
    if (nd < 0) return 0; /* a group, not a dataset */
    return c->fn(name, nd, shape, c->ctx);
}

int m3ae_h5_list(m3ae_h5 *f, const char *group, int (*fn)(const char *name, int ndim, const int64_t *shape, void *ctx),
                 void *ctx) {
    if (!m3ae_h5_exists(f, group)) return 0;
    hid_t g = H5Gopen2(f->file, group, H5P_DEFAULT);
    if (g < 0) return H5Eclear2(H5E_DEFAULT), 0;
    list_ctx c = {f, group, fn, ctx};
    hsize_t idx = 0;
    herr_t rc = M3AE_H5_LITERATE(g, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &c);
    H5Gclose(g);
    return (int)rc;
}

typedef struct {
    long datasets, values, bad;
    m3ae_error *err;
    const char *path;
} verify_ctx;

static herr_t verify_cb(hid_t obj, const char *name, const m3ae_h5_oinfo *info, void *p) {
    verify_ctx *c = p;
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t ds = H5Dopen2(obj, name, H5P_DEFAULT);
    hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
    hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    float *buf = n > 0 ? malloc((size_t)n * sizeof(float)) : NULL;
    int ok = ds >= 0 && n >= 0 && (n == 0 || (buf && read_all(ds, (size_t)n, buf) == 0));
    if (!ok) {
        if (c->bad == 0) h5_fail(c->err, "%s: dataset %s is unreadable (checksum error: the file is corrupt)", c->path, name);
        c->bad++;
        H5Eclear2(H5E_DEFAULT);
    } else {
        c->values += n;
    }
    c->datasets++;
    free(buf);
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    return 0;
}

int m3ae_h5_verify(const char *path, long *n_datasets, long *n_values, m3ae_error *err) {
    m3ae_h5 *f = m3ae_h5_open(path, err);
    if (!f) return -1;
    verify_ctx c = {0, 0, 0, err, path};
    if (M3AE_H5_OVISIT(f->file, verify_cb, &c) < 0) {
        h5_fail(err, "%s: walking the file failed (corrupt?)%s", path, "");
        c.bad++;
    }
    m3ae_h5_close(f);
    if (n_datasets) *n_datasets = c.datasets;
    if (n_values) *n_values = c.values;
    return (int)c.bad;
}
