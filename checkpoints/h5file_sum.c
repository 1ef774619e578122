/* The whole-file checksum block of m3ae's HDF5 files (checkpoints/h5file.h).
 *
 * Why: libhdf5 (1.10.8) trusts the bytes it parses; a damaged file can crash it (a SEGV in
 * H5_checksum_fletcher32, allocations of gigabytes: found by tests/fuzz/fuzz_ckpt.c), so m3ae checks
 * a file before handing it to the library. The block lives in the HDF5 user block (the first
 * M3AE_H5_USERBLOCK bytes, which HDF5 reserves for the application and never reads) and is text, so
 * that `head -c 512 FILE` shows it and other tools (tools/convert_checkpoint.py) write it simply:
 *
 *   m3ae-whole-file-sha256\n
 *   version 1\n
 *   length <bytes of the whole file, block included>\n
 *   sha256 <64 lowercase hex: SHA-256 of bytes [M3AE_H5_USERBLOCK, length)>\n
 *   NUL bytes up to M3AE_H5_USERBLOCK
 *
 * A reader regenerates the block from the length and hash it parsed and compares all
 * M3AE_H5_USERBLOCK bytes, so a flipped byte anywhere in the block (the padding included) is
 * refused too. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoints/h5file.h"
#include "common/log.h"
#include "common/sha256.h"

#define MAGIC_LINE "m3ae-whole-file-sha256\n"
#define BLOCK_VERSION 1

/* The HDF5 format signature: a file that starts with it has no user block (an older m3ae file, the
 * fixtures of tools/reference, plain h5py files). */
static const unsigned char hdf5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static void make_block(unsigned char block[M3AE_H5_USERBLOCK], int64_t length, const char hex[65]) {
    memset(block, 0, M3AE_H5_USERBLOCK);
    snprintf((char *)block, M3AE_H5_USERBLOCK, "%sversion %d\nlength %" PRId64 "\nsha256 %s\n", MAGIC_LINE,
             BLOCK_VERSION, length, hex);
}

/* SHA-256 of bytes [from, end) of fd; -1 on a read error or without memory (errno). */
static int hash_from(int fd, off_t from, char hex[65]) {
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK); /* not static thread-local: that would cost every thread 1 MiB */
    if (!buf) return -1;
    m3ae_sha256 s;
    m3ae_sha256_init(&s);
    off_t at = from;
    for (;;) {
        ssize_t n = pread(fd, buf, CHUNK, at);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            errno = e;
            return -1;
        }
        if (n == 0) break;
        m3ae_sha256_update(&s, buf, (size_t)n);
        at += n;
    }
    free(buf);
    m3ae_sha256_final(&s, hex);
    return 0;
}

int m3ae_h5_sum_write(const char *path, m3ae_error *err) {
    int fd = open(path, O_RDWR);
    if (fd < 0) return m3ae_error_set(err, "%s: cannot reopen to write its whole-file checksum: %s", path, strerror(errno));
    struct stat st;
    char hex[65];
    unsigned char block[M3AE_H5_USERBLOCK], old[M3AE_H5_USERBLOCK];
    int rc = 0;
    if (fstat(fd, &st) != 0 || hash_from(fd, M3AE_H5_USERBLOCK, hex) != 0)
        rc = m3ae_error_set(err, "%s: cannot read it back for its whole-file checksum: %s", path, strerror(errno));
    else if (st.st_size < M3AE_H5_USERBLOCK || pread(fd, old, sizeof old, 0) != (ssize_t)sizeof old ||
             memcmp(old + sizeof old - 8, "\0\0\0\0\0\0\0\0", 8) != 0)
        /* HDF5 leaves the user block zero-filled; anything else means it was not created with one */
        rc = m3ae_error_set(err, "%s: the file has no free %d-byte user block for its checksum (created without "
                                 "H5Pset_userblock?)", path, M3AE_H5_USERBLOCK);
    if (rc == 0) {
        make_block(block, (int64_t)st.st_size, hex);
        if (pwrite(fd, block, sizeof block, 0) != (ssize_t)sizeof block)
            rc = m3ae_error_set(err, "%s: writing its whole-file checksum failed: %s (is the disk full?)", path,
                                strerror(errno));
    }
    if (close(fd) != 0 && rc == 0)
        rc = m3ae_error_set(err, "%s: closing after its whole-file checksum failed: %s", path, strerror(errno));
    return rc;
}

/* The newest file that passed, so that a process that opens one file several times (ckpt verify,
 * resume) hashes it once. Checkpoints are replaced by rename (a new inode), and any write in place
 * changes the change time, so a file that differs from the one hashed is never taken for it. */
static struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    int valid;
} last_good;

static int same_file(const struct stat *st) {
    return last_good.valid && st->st_dev == last_good.dev && st->st_ino == last_good.ino &&
           st->st_size == last_good.size && st->st_mtim.tv_sec == last_good.mtime.tv_sec &&
           st->st_mtim.tv_nsec == last_good.mtime.tv_nsec && st->st_ctim.tv_sec == last_good.ctime.tv_sec &&
           st->st_ctim.tv_nsec == last_good.ctime.tv_nsec;
}

void m3ae_h5_sum_forget(void) {
    last_good.valid = 0;
}

/* Files without a block: one warning per file and process. */
static void warn_no_block(const char *path) {
    static char warned[4096];
    if (!strcmp(warned, path)) return;
    snprintf(warned, sizeof warned, "%s", path);
    m3ae_warn("%s has no whole-file checksum (written by an older m3ae or another tool): it is read without the "
              "damage check; `m3ae ckpt verify` checks its datasets", path);
}

static int mismatch(m3ae_error *err, const char *path, const char *why) {
    return m3ae_error_set(err, "%s: whole-file checksum mismatch (%s): the file is damaged; use an older checkpoint",
                          path, why);
}

int m3ae_h5_sum_check(const char *path, int64_t *length, m3ae_error *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return m3ae_error_set(err, "cannot read %s: %s", path, strerror(errno));
    struct stat st;
    unsigned char block[M3AE_H5_USERBLOCK] = {0}, want[M3AE_H5_USERBLOCK];
    char why[160], hex[65];
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = m3ae_error_set(err, "cannot stat %s: %s", path, strerror(errno));
        goto done;
    }
    if (length) *length = (int64_t)st.st_size;
    if (same_file(&st)) goto done;
    ssize_t got = pread(fd, block, sizeof block, 0);
    if (got < 0) {
        rc = m3ae_error_set(err, "cannot read %s: %s", path, strerror(errno));
        goto done;
    }
    if (got >= 8 && !memcmp(block, hdf5_signature, 8)) { /* a plain HDF5 file: no block */
        warn_no_block(path);
        rc = 1;
        goto done;
    }
    unsigned char sig[8];
    if (got == (ssize_t)sizeof block && memcmp(block, MAGIC_LINE, strlen(MAGIC_LINE)) != 0 &&
        pread(fd, sig, sizeof sig, M3AE_H5_USERBLOCK) == (ssize_t)sizeof sig && !memcmp(sig, hdf5_signature, 8)) {
        rc = mismatch(err, path, "the checksum block at its start is damaged"); /* HDF5 after a user block */
        goto done;
    }
    if (got < (ssize_t)sizeof block || memcmp(block, MAGIC_LINE, strlen(MAGIC_LINE)) != 0) {
        rc = m3ae_error_set(err, "%s is neither an HDF5 file nor one with m3ae's whole-file checksum (its first bytes "
                                 "are damaged, or it is another kind of file); use an older checkpoint", path);
        goto done;
    }
    int version = 0;
    long long len = -1;
    char text[M3AE_H5_USERBLOCK + 1];
    memcpy(text, block, sizeof block);
    text[sizeof block] = 0;
    if (sscanf(text + strlen(MAGIC_LINE), "version %d\nlength %lld\nsha256 %64[0-9a-f]\n", &version, &len, hex) != 3) {
        rc = mismatch(err, path, "the checksum block at its start is damaged");
        goto done;
    }
    if (version != BLOCK_VERSION) {
        rc = m3ae_error_set(err, "%s: whole-file checksum block of version %d; this m3ae reads version %d (a newer "
                                 "m3ae wrote it?)", path, version, BLOCK_VERSION);
        goto done;
    }
    make_block(want, len, hex);
    if (memcmp(want, block, sizeof block) != 0) {
        rc = mismatch(err, path, "the checksum block at its start is damaged");
        goto done;
    }
    if (len != (long long)st.st_size) {
        snprintf(why, sizeof why, "it is %lld bytes, its checksum block says %lld: truncated or extended",
                 (long long)st.st_size, len);
        rc = mismatch(err, path, why);
        goto done;
    }
    char have[65];
    if (hash_from(fd, M3AE_H5_USERBLOCK, have) != 0) {
        rc = m3ae_error_set(err, "cannot read %s: %s", path, strerror(errno));
        goto done;
    }
    if (strcmp(have, hex) != 0) {
        snprintf(why, sizeof why, "the SHA-256 of its %lld bytes differs from the one written", len - M3AE_H5_USERBLOCK);
        rc = mismatch(err, path, why);
        goto done;
    }
    last_good.dev = st.st_dev, last_good.ino = st.st_ino, last_good.size = st.st_size;
    last_good.mtime = st.st_mtim, last_good.ctime = st.st_ctim, last_good.valid = 1;
done:
    close(fd);
    return rc;
}
