/* The bounded set of open shards (io/shard_cache.h). */
#include "io/shard_cache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "common/log.h"

struct m3ae_shard_cache {
    m3ae_shard **shards;
    int n, cap, n_open, all_open;
    int *refs;           /* (n) readers holding each shard */
    uint64_t *last_used; /* (n) clock of the last acquire */
    uint64_t clock;
    pthread_mutex_t mu;
};

static int budget_of(long soft) {
    long b = (soft - M3AE_SHARD_FD_RESERVE) / 3;
    if (b < 4) b = 4;
    return b > INT32_MAX ? INT32_MAX : (int)b;
}

int m3ae_shard_fd_budget(int want, long *raised_from, long *raised_to) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) { /* unknown: assume the common default */
        *raised_from = *raised_to = 1024;
        return budget_of(1024);
    }
    long soft = rl.rlim_cur == RLIM_INFINITY ? INT32_MAX : (long)rl.rlim_cur;
    *raised_from = *raised_to = soft;
    if (budget_of(soft) >= want && rl.rlim_cur != RLIM_INFINITY) return budget_of(soft);
    if (rl.rlim_cur == RLIM_INFINITY) return budget_of(soft);
    /* raise only as far as needed (and allowed): the hard limit is the user's ceiling */
    rlim_t need = (rlim_t)want * 3 + M3AE_SHARD_FD_RESERVE;
    rlim_t target = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    if (target > rl.rlim_cur) {
        struct rlimit nl = {.rlim_cur = target, .rlim_max = rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &nl) == 0) *raised_to = (long)target;
    }
    return budget_of(*raised_to);
}

m3ae_shard_cache *m3ae_shard_cache_create(m3ae_shard **shards, int n, const char *what, m3ae_error *err) {
    m3ae_shard_cache *c = calloc(1, sizeof *c);
    if (c) c->refs = calloc((size_t)n + 1, sizeof *c->refs), c->last_used = calloc((size_t)n + 1, sizeof *c->last_used);
    if (!c || !c->refs || !c->last_used) {
        if (c) free(c->refs), free(c->last_used);
        free(c);
        return m3ae_error_set(err, "out of memory for the shard cache of %d shards", n), NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->shards = shards, c->n = n;
    long from, to;
    int budget = m3ae_shard_fd_budget(n, &from, &to);
    if (to != from)
        m3ae_info("%s: %d shards: raised the open-file limit (ulimit -n) from %ld to %ld", what, n, from, to);
    c->all_open = budget >= n;
    c->cap = c->all_open ? n : budget;
    if (!c->all_open)
        m3ae_info("%s: %d shards and an open-file limit of %ld: at most %d are kept open at once, the least recently "
                  "used closed first (`ulimit -n %d` or more keeps all open)", what, n, to, c->cap,
                  3 * n + M3AE_SHARD_FD_RESERVE);
    return c;
}

void m3ae_shard_cache_add(m3ae_shard_cache *c, int k, m3ae_shard *s) {
    c->shards[k] = s;
    if (c->all_open)
        c->n_open++;
    else
        m3ae_shard_suspend(s);
}

void m3ae_shard_cache_destroy(m3ae_shard_cache *c) {
    if (!c) return;
    pthread_mutex_destroy(&c->mu);
    free(c->refs);
    free(c->last_used);
    free(c);
}

/* Closes the least recently used open shard nobody holds; 0 when there is none (every open one is
 * held: more readers than the capacity, so the caller goes over it for a while). */
static int evict_one(m3ae_shard_cache *c) {
    int victim = -1;
    for (int k = 0; k < c->n; k++)
        if (c->refs[k] == 0 && m3ae_shard_is_open(c->shards[k]) &&
            (victim < 0 || c->last_used[k] < c->last_used[victim]))
            victim = k;
    if (victim < 0) return 0;
    m3ae_shard_suspend(c->shards[victim]);
    c->n_open--;
    return 1;
}

int m3ae_shard_cache_acquire(m3ae_shard_cache *c, int k, m3ae_error *err) {
    if (c->all_open) { /* nothing is ever closed: no lock needed */
        return 0;
    }
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    if (!m3ae_shard_is_open(c->shards[k])) {
        while (c->n_open >= c->cap && evict_one(c)) {
        }
        rc = m3ae_shard_resume(c->shards[k], err);
        if (rc == 0) c->n_open++;
    }
    if (rc == 0) {
        c->refs[k]++;
        c->last_used[k] = ++c->clock;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void m3ae_shard_cache_release(m3ae_shard_cache *c, int k) {
    if (c->all_open) return;
    pthread_mutex_lock(&c->mu);
    if (c->refs[k] > 0) c->refs[k]--;
    pthread_mutex_unlock(&c->mu);
}

int m3ae_shard_cache_all_open(const m3ae_shard_cache *c) { return c->all_open; }
int m3ae_shard_cache_capacity(const m3ae_shard_cache *c) { return c->cap; }
