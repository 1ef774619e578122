/* The bounded set of open shards (io/shard_cache.h) and shard suspend/resume (io/shard.h): the
 * soft open-file limit is raised when the hard one allows; under a low hard limit at most the budget
 * of shards hold a file descriptor (counted in /proc/self/fd), the least recently used unreferenced
 * shard is closed first, a held shard is never closed, every record stays readable, and a shard
 * file modified while suspended is refused by name. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "harness.h"
#include "io/shard.h"
#include "io/shard_cache.h"

enum { N = 7 };

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own */
}

static void write_shard(const char *dir, int k) {
    m3ae_error err;
    m3ae_shard_writer *w = m3ae_shard_writer_open(dir, &err);
    T_CHECK(w != NULL, "writer: %s", err.msg);
    if (!w) return;
    uint8_t px[8 * 8 * 3];
    memset(px, k, sizeof px);
    const char *cap[1] = {"a caption"};
    m3ae_record rec = {.height = 8, .width = 8, .channels = 3, .pixels = px, .image_id = "x.png", .n_captions = 1,
                       .captions = cap, .label = -1};
    uint8_t *enc;
    size_t len;
    T_CHECK(m3ae_record_encode(&rec, &enc, &len, &err) == 0 && m3ae_shard_writer_put(w, enc, len, &err) == 0, "put: %s",
            err.msg);
    free(enc);
    m3ae_shard_schema s = {.shard = k, .store_size = 8};
    snprintf(s.source, sizeof s.source, "test");
    T_CHECK(m3ae_shard_writer_finish(w, &s, NULL, &err) == 0, "finish: %s", err.msg);
}

static int n_open(m3ae_shard **sh) {
    int n = 0;
    for (int k = 0; k < N; k++) n += m3ae_shard_is_open(sh[k]);
    return n;
}

/* reads shard k's record through the cache: its first pixel is k */
static int read_through(m3ae_shard_cache *c, m3ae_shard **sh, int k, int keep) {
    m3ae_error err;
    if (m3ae_shard_cache_acquire(c, k, &err) != 0) {
        T_CHECK(0, "acquire %d: %s", k, err.msg);
        return -1;
    }
    m3ae_shard_reader *r = m3ae_shard_reader_begin(sh[k], &err);
    m3ae_record_view v;
    int ok = r && m3ae_shard_read(r, 0, 1, &v, &err) == 0 && v.pixels[0] == k;
    T_CHECK(ok, "shard %d through the cache: %s", k, err.msg);
    m3ae_shard_reader_end(r);
    if (!keep) m3ae_shard_cache_release(c, k);
    return ok ? 0 : -1;
}

int main(void) {
    char base[] = "/tmp/m3ae-shard-cache-XXXXXX", dir[N][64], name[N][16];
    T_CHECK(mkdtemp(base) != NULL, "mkdtemp");
    for (int k = 0; k < N; k++) {
        snprintf(dir[k], sizeof dir[k], "%s/s%d", base, k);
        snprintf(name[k], sizeof name[k], "s%d", k);
        write_shard(dir[k], k);
    }
    struct rlimit rl;
    T_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit");
    const rlim_t low = M3AE_SHARD_FD_RESERVE + 3 * 4; /* a budget of 4 shards */

    /* a low soft limit under a higher hard one is raised as far as needed, and said so */
    long from, to;
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= 3 * 100 + M3AE_SHARD_FD_RESERVE) {
        struct rlimit soft = {.rlim_cur = low, .rlim_max = rl.rlim_max};
        T_CHECK(setrlimit(RLIMIT_NOFILE, &soft) == 0, "lower the soft limit");
        int b = m3ae_shard_fd_budget(100, &from, &to);
        T_CHECK(from == (long)low && to == 3 * 100 + M3AE_SHARD_FD_RESERVE && b >= 100,
                "raise: from %ld to %ld, budget %d", from, to, b);
        T_CHECK(getrlimit(RLIMIT_NOFILE, &soft) == 0 && soft.rlim_cur == (rlim_t)to, "the soft limit is now %ld",
                (long)soft.rlim_cur);
    }
    /* a hard limit that low too: a budget of 4 for 7 shards, nothing raised */
    struct rlimit hard = {.rlim_cur = low, .rlim_max = low};
    T_CHECK(setrlimit(RLIMIT_NOFILE, &hard) == 0, "lower the hard limit");
    T_CHECK(m3ae_shard_fd_budget(N, &from, &to) == 4 && from == to && from == (long)low, "budget %d (%ld -> %ld)",
            m3ae_shard_fd_budget(N, &from, &to), from, to);

    m3ae_shard *sh[N] = {0};
    m3ae_error err;
    m3ae_shard_cache *c = m3ae_shard_cache_create(sh, N, "test", &err);
    T_CHECK(c != NULL && !m3ae_shard_cache_all_open(c) && m3ae_shard_cache_capacity(c) == 4, "cache: %s",
            c ? "" : err.msg);
    if (!c) return t_done("test_shard_cache");
    int fds0 = open_fds();
    for (int k = 0; k < N; k++) {
        sh[k] = m3ae_shard_open(dir[k], name[k], &err);
        T_CHECK(sh[k] != NULL, "open %d: %s", k, err.msg);
        if (!sh[k]) return t_done("test_shard_cache");
        m3ae_shard_cache_add(c, k, sh[k]);
    }
    T_CHECK(n_open(sh) == 0 && open_fds() == fds0, "after opening: %d shards open, %d more fds", n_open(sh),
            open_fds() - fds0);
    T_CHECK(m3ae_shard_info(sh[3])->records == 1 && m3ae_shard_caption_counts(sh[3])[0] == 1,
            "a suspended shard keeps its schema and counts");
    m3ae_shard_reader *none = m3ae_shard_reader_begin(sh[0], &err);
    T_CHECK(none == NULL && strstr(err.msg, "suspended"), "a reader on a suspended shard: %s", err.msg);

    /* every shard twice in turn: never more than 4 open, never more than 4 descriptors */
    int worst = 0, worst_fd = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < N; k++) {
            read_through(c, sh, k, 0);
            if (n_open(sh) > worst) worst = n_open(sh);
            if (open_fds() - fds0 > worst_fd) worst_fd = open_fds() - fds0;
        }
    T_CHECK(worst == 4 && worst_fd <= 4, "at most %d shards and %d descriptors open (capacity 4)", worst, worst_fd);
    /* now open: 3 4 5 6 (0 1 2 closed); touching 3 makes 4 the least recently used */
    read_through(c, sh, 3, 0);
    read_through(c, sh, 0, 0);
    T_CHECK(m3ae_shard_is_open(sh[3]) && !m3ae_shard_is_open(sh[4]) && m3ae_shard_is_open(sh[0]),
            "LRU: 3 %d 4 %d 0 %d open", m3ae_shard_is_open(sh[3]), m3ae_shard_is_open(sh[4]), m3ae_shard_is_open(sh[0]));
    /* held shards are never closed: hold 0 1 2 3 4, the capacity is exceeded for a while */
    for (int k = 0; k < 5; k++) read_through(c, sh, k, 1);
    T_CHECK(n_open(sh) == 5, "five held shards open: %d", n_open(sh));
    for (int k = 0; k < 5; k++) m3ae_shard_cache_release(c, k);
    read_through(c, sh, 6, 0);
    T_CHECK(n_open(sh) <= 5 && !m3ae_shard_is_open(sh[5]), "after release: %d open", n_open(sh));

    /* a suspended shard whose file changed is refused by name */
    char path[128];
    snprintf(path, sizeof path, "%s/data.mdb", dir[5]);
    struct timespec ts[2] = {{.tv_sec = 1000000000, .tv_nsec = 0}, {.tv_sec = 1000000000, .tv_nsec = 0}};
    T_CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0, "utimensat");
    T_CHECK(m3ae_shard_cache_acquire(c, 5, &err) == -1 && strstr(err.msg, "'s5'") && strstr(err.msg, "modified"),
            "a modified shard: %s", err.msg);

    m3ae_shard_cache_destroy(c);
    for (int k = 0; k < N; k++) m3ae_shard_close(sh[k]);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", base);
    return t_done("test_shard_cache");
}
