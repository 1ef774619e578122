#include "io/shard_check.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* LMDB 0.9 on-disk layout (mdb.c), 64-bit: a page starts with a 16-byte header
 *   u64 pgno, u16 pad, u16 flags, u16 lower, u16 upper   (overflow pages: u32 page count at 12)
 * followed by `lower - 16` / 2 u16 node offsets; a node is
 *   u16 lo, u16 hi, u16 flags, u16 key size, key, data
 * where a branch node's child page is lo | hi << 16 | flags << 32 and a leaf node's data size is
 * lo | hi << 16 (its data: inline, or with F_BIGDATA the u64 number of its first overflow page).
 * The two meta pages hold at 16: u32 magic, u32 version, the map address and size, the free and
 * the main database (48 bytes each: u32 pad (free db: the page size), u16 flags, u16 depth, four
 * u64 counts, u64 root), u64 last page, u64 transaction id. LMDB uses the meta of the larger id. */
#define PAGE_HEADER 16
#define NODE_HEADER 8
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_META 0x08
#define F_BIGDATA 0x01
#define MDB_MAGIC_NUMBER 0xBEEFC0DEu
#define MDB_DATA_VERSION_1 1u
#define KEY_BYTES 8 /* m3ae keys: u64 big-endian (io/FORMAT.md) */
#define MAX_DEPTH 32

static uint16_t u16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t u32(const unsigned char *p) { return (uint32_t)u16(p) | ((uint32_t)u16(p + 2) << 16); }
static uint64_t u64(const unsigned char *p) { return (uint64_t)u32(p) | ((uint64_t)u32(p + 4) << 32); }

typedef struct {
    int fd;
    const char *name;
    uint64_t psize, n_pages; /* pages the file holds */
    uint64_t visited;        /* bounds the walk even if a branch points back up */
    unsigned char *page[MAX_DEPTH + 1];
    unsigned char *ovf;      /* one overflow-page header */
    m3ae_error *err;
} walk;

static int damaged(walk *w, uint64_t pgno, const char *what) {
    return m3ae_error_set(w->err, "shard '%s': data.mdb is damaged (LMDB page %" PRIu64 ": %s); the shard is corrupt, "
                                  "convert the data again with `m3ae prep`", w->name, pgno, what);
}

/* The same for a record node, naming its key (u64 big-endian; the two metadata keys in hex). */
static int damaged_record(walk *w, uint64_t pgno, const unsigned char *key, const char *what) {
    uint64_t k = 0;
    for (int i = 0; i < KEY_BYTES; i++) k = k << 8 | key[i];
    return m3ae_error_set(w->err, "shard '%s' key %" PRIu64 ": data.mdb is damaged (LMDB page %" PRIu64 ": %s); the "
                                  "shard is corrupt, convert the data again with `m3ae prep`", w->name, k, pgno, what);
}

static int read_at(walk *w, void *buf, size_t n, uint64_t off) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(w->fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static int check_page(walk *w, uint64_t pgno, int level, int depth);

/* The leaf node at `off` of page p (pgno): a plain 8-byte key, its data inline or on overflow pages
 * that lie inside the file and are as large as the size claims. */
static int check_leaf_node(walk *w, const unsigned char *p, uint64_t pgno, size_t off) {
    const unsigned char *node = p + off;
    uint64_t dsize = u16(node) | ((uint64_t)u16(node + 2) << 16);
    unsigned flags = u16(node + 4), ksize = u16(node + 6);
    if (ksize != KEY_BYTES) return damaged(w, pgno, "a record key is not 8 bytes");
    const unsigned char *key = node + NODE_HEADER;
    if (off + NODE_HEADER + ksize > w->psize) return damaged(w, pgno, "a record node runs past its page");
    if (flags != 0 && flags != F_BIGDATA) return damaged_record(w, pgno, key, "a record node has unknown flags");
    size_t room = (size_t)(w->psize - off - NODE_HEADER - ksize);
    if (flags == 0) return dsize <= room ? 0 : damaged_record(w, pgno, key, "an inline record runs past its page");
    if (room < 8) return damaged_record(w, pgno, key, "an overflow reference runs past its page");
    uint64_t first = u64(node + NODE_HEADER + ksize);
    if (first < 2 || first >= w->n_pages)
        return damaged_record(w, pgno, key, "a record points to a page outside the file");
    if (read_at(w, w->ovf, PAGE_HEADER, first * w->psize)) return damaged_record(w, first, key, "unreadable");
    uint64_t count = u32(w->ovf + 12);
    if (u64(w->ovf) != first || u16(w->ovf + 10) != P_OVERFLOW || count == 0 || count > w->n_pages - first)
        return damaged_record(w, first, key, "a bad overflow-page header");
    if (dsize > count * w->psize - PAGE_HEADER)
        return damaged_record(w, pgno, key, "a record is larger than its overflow pages");
    return 0;
}

/* Page pgno at tree level `level` (0 = root) of a tree `depth` levels deep. */
static int check_page(walk *w, uint64_t pgno, int level, int depth) {
    if (pgno < 2 || pgno >= w->n_pages) return damaged(w, pgno, "a page number outside the file");
    if (++w->visited > w->n_pages) return damaged(w, pgno, "the tree visits more pages than the file holds");
    unsigned char *p = w->page[level];
    if (read_at(w, p, (size_t)w->psize, pgno * w->psize)) return damaged(w, pgno, "unreadable");
    int leaf = level == depth - 1;
    unsigned flags = u16(p + 10), lower = u16(p + 12), upper = u16(p + 14);
    if (u64(p) != pgno) return damaged(w, pgno, "its header names another page");
    if (flags != (leaf ? P_LEAF : P_BRANCH)) return damaged(w, pgno, leaf ? "not a leaf page" : "not a branch page");
    if (lower < PAGE_HEADER || (lower - PAGE_HEADER) % 2 || lower > upper || upper > w->psize)
        return damaged(w, pgno, "bad free-space bounds");
    size_t n = (lower - PAGE_HEADER) / 2;
    if (n == 0) return damaged(w, pgno, "an empty page inside the tree");
    for (size_t i = 0; i < n; i++) {
        size_t off = u16(p + PAGE_HEADER + 2 * i);
        if (off < upper || off + NODE_HEADER > w->psize) return damaged(w, pgno, "a node offset outside the page");
        const unsigned char *node = p + off;
        if (leaf) {
            if (check_leaf_node(w, p, pgno, off)) return -1;
            continue;
        }
        unsigned ksize = u16(node + 6);
        if ((ksize != 0 && ksize != KEY_BYTES) || off + NODE_HEADER + ksize > w->psize) /* the first is empty */
            return damaged(w, pgno, "a branch key of the wrong size");
        uint64_t child = u16(node) | ((uint64_t)u16(node + 2) << 16) | ((uint64_t)u16(node + 4) << 32);
        if (check_page(w, child, level + 1, depth)) return -1;
        /* the child's walk reused the deeper buffers only; p (this level's) is intact */
    }
    return 0;
}

int m3ae_shard_check_tree(const char *path, const char *name, m3ae_error *err) {
    walk w = {.fd = -1, .name = name, .err = err};
    unsigned char meta[2][PAGE_HEADER + 136];
    int rc = -1;
    w.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (w.fd < 0) return m3ae_error_set(err, "shard '%s': cannot open %s: %s", name, path, strerror(errno));
    struct stat st;
    if (fstat(w.fd, &st) != 0) {
        m3ae_error_set(err, "shard '%s': cannot stat %s: %s", name, path, strerror(errno));
        goto done;
    }
    if (read_at(&w, meta[0], sizeof meta[0], 0)) {
        damaged(&w, 0, "the first meta page is unreadable");
        goto done;
    }
    w.psize = u32(meta[0] + PAGE_HEADER + 24); /* the free database's pad holds the page size */
    if (w.psize < 512 || w.psize > 65536 || (w.psize & (w.psize - 1))) {
        damaged(&w, 0, "an impossible page size");
        goto done;
    }
    if (read_at(&w, meta[1], sizeof meta[1], w.psize)) {
        damaged(&w, 1, "the second meta page is unreadable");
        goto done;
    }
    /* LMDB takes the page size from the meta it picks: both must agree with the one read first */
    for (int i = 0; i < 2; i++)
        if (u16(meta[i] + 10) != P_META || u32(meta[i] + PAGE_HEADER) != MDB_MAGIC_NUMBER ||
            u32(meta[i] + PAGE_HEADER + 4) != MDB_DATA_VERSION_1 || u32(meta[i] + PAGE_HEADER + 24) != w.psize) {
            damaged(&w, (uint64_t)i, "not an LMDB meta page");
            goto done;
        }
    const unsigned char *m = meta[u64(meta[0] + PAGE_HEADER + 128) < u64(meta[1] + PAGE_HEADER + 128)] + PAGE_HEADER;
    const unsigned char *main_db = m + 72; /* after magic, version, address, map size and the free db */
    uint64_t last = u64(m + 120), root = u64(main_db + 40);
    int depth = u16(main_db + 6);
    w.n_pages = (uint64_t)st.st_size / w.psize;
    if (last >= w.n_pages) {
        m3ae_error_set(err, "shard '%s' is truncated (%s has %lld bytes, its pages need %llu); convert the data "
                            "again with `m3ae prep`", name, path, (long long)st.st_size,
                       (unsigned long long)((last + 1) * w.psize));
        goto done;
    }
    w.n_pages = last + 1; /* LMDB reads no page past the last one */
    if (u16(main_db + 4) != 0) {
        damaged(&w, root, "the main database has flags m3ae never writes");
        goto done;
    }
    if (depth < 1 || depth > MAX_DEPTH) {
        damaged(&w, root, "an impossible tree depth");
        goto done;
    }
    for (int i = 0; i < depth; i++)
        if (!(w.page[i] = malloc((size_t)w.psize))) {
            m3ae_error_set(err, "out of memory");
            goto done;
        }
    if (!(w.ovf = malloc(PAGE_HEADER))) {
        m3ae_error_set(err, "out of memory");
        goto done;
    }
    rc = check_page(&w, root, 0, depth);
done:
    for (int i = 0; i <= MAX_DEPTH; i++) free(w.page[i]);
    free(w.ovf);
    close(w.fd);
    return rc;
}
