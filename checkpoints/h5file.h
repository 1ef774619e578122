/* HDF5 tensor files: the storage layer of checkpoints, releases and imports.
 *
 * A file holds float32 tensors at paths like "/model/<official state_dict key>" (chunked, with the
 * Fletcher32 checksum filter) and small attributes on the root group. Writing is atomic: data goes to
 * "<path>.tmp-<pid>", which m3ae_h5_commit flushes, fsyncs, renames to <path> and fsyncs the folder;
 * until then <path> is untouched, and a crash leaves at most a stray temporary file.
 * Whole-file checksum: every file m3ae writes starts with a user block of M3AE_H5_USERBLOCK bytes
 * (HDF5 never reads it) holding the file's length and the SHA-256 of the rest (h5file_sum.c gives the
 * layout). It is written after HDF5 closed the file and before the fsync and rename, so a file under
 * its final name has a valid block only when whole. m3ae_h5_open checks it BEFORE libhdf5 parses a
 * byte (libhdf5 1.10 crashes on some damaged files) and refuses a mismatch by name. A file without a
 * block (it starts with the HDF5 signature: an older m3ae, tools/reference fixtures, plain h5py
 * files) gets one warning line and is read as before, unchecked.
 * This layer knows nothing of the model: callers (checkpoints/ckpt.c) walk the parameter registry. */
#ifndef M3AE_CHECKPOINTS_H5FILE_H
#define M3AE_CHECKPOINTS_H5FILE_H

#include <stdint.h>

#include "common/error.h"

#define M3AE_H5_MAX_DIMS 8

typedef struct m3ae_h5 m3ae_h5;

/* ---- writing ---- */
m3ae_h5 *m3ae_h5_create(const char *path, m3ae_error *err);
/* Writes tensor `path` ("/group/name": intermediate groups are created) of float32 values.
 * as_bf16 stores bfloat16 (round to nearest even) as uint16 with attribute dtype="bfloat16". */
int m3ae_h5_write(m3ae_h5 *f, const char *path, int ndim, const int64_t *shape, const float *data, int as_bf16,
                  m3ae_error *err);
int m3ae_h5_attr_str(m3ae_h5 *f, const char *name, const char *value, m3ae_error *err);
int m3ae_h5_attr_i64(m3ae_h5 *f, const char *name, int64_t value, m3ae_error *err);
int m3ae_h5_attr_f64(m3ae_h5 *f, const char *name, double value, m3ae_error *err);
/* Closes, fsyncs and renames the temporary file into place. On failure the temporary is removed. */
int m3ae_h5_commit(m3ae_h5 *f, m3ae_error *err);
/* Drops an unfinished file (removes the temporary). */
void m3ae_h5_abort(m3ae_h5 *f);

/* ---- the whole-file checksum (h5file_sum.c) ---- */
#define M3AE_H5_USERBLOCK 512
/* Checks the block: 0 good, 1 no block (a plain HDF5 file: warned once), -1 damaged or unreadable
 * (err: "PATH: whole-file checksum mismatch (why): the file is damaged; use an older checkpoint").
 * *length (may be NULL) gets the file's size. Libhdf5 is not called. */
int m3ae_h5_sum_check(const char *path, int64_t *length, m3ae_error *err);
/* Hashes bytes [M3AE_H5_USERBLOCK, end) of a closed HDF5 file created with that user block and writes
 * the block. Called by m3ae_h5_commit before the fsync; exposed for the fuzz target (which re-seals a
 * damaged file to fuzz libhdf5's parse of damaged content) and tests. */
int m3ae_h5_sum_write(const char *path, m3ae_error *err);
/* A process checks each file once while it is unchanged (same inode, size, modification and change
 * times); this forgets that, for a caller that rewrites one file in place faster than the clock
 * ticks (the fuzz target). */
void m3ae_h5_sum_forget(void);

/* ---- reading ---- */
/* Checks the whole-file checksum first (m3ae_h5_sum_check), then opens with libhdf5. Every reader of
 * m3ae (checkpoints, releases, imports, ckpt verify/inspect) opens files here. */
m3ae_h5 *m3ae_h5_open(const char *path, m3ae_error *err);
void m3ae_h5_close(m3ae_h5 *f);
/* 1 when the dataset exists. Shape query: returns ndim (fills shape), -1 when absent. */
int m3ae_h5_exists(m3ae_h5 *f, const char *path);
int m3ae_h5_shape(m3ae_h5 *f, const char *path, int64_t *shape);
/* Reads a float32 (or bfloat16-stored) tensor whose shape must equal `shape`; checksums are verified. */
int m3ae_h5_read(m3ae_h5 *f, const char *path, int ndim, const int64_t *shape, float *out, m3ae_error *err);
/* Attributes: return 0, or -1 when absent or of another type. */
int m3ae_h5_get_attr_str(m3ae_h5 *f, const char *name, char *buf, size_t n);
int m3ae_h5_get_attr_i64(m3ae_h5 *f, const char *name, int64_t *v);
int m3ae_h5_get_attr_f64(m3ae_h5 *f, const char *name, double *v);
/* Calls fn for every dataset under `group` ("/model"), in name order, with its name relative to the
 * group. Stops and returns fn's value when it is non-zero. */
int m3ae_h5_list(m3ae_h5 *f, const char *group, int (*fn)(const char *name, int ndim, const int64_t *shape, void *ctx),
                 void *ctx);
/* Reads every dataset of the file (all checksums); returns the number of bad datasets, names the
 * first ones in err. *n_datasets and *n_values count what was read. */
int m3ae_h5_verify(const char *path, long *n_datasets, long *n_values, m3ae_error *err);

#endif
