/* The per-step watchdog (dist/watchdog.h). */
#include "dist/watchdog.h"

#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/sys.h"

/* A rank that waits without knowing for whom (or for a peer that is itself waiting) gives the ranks
 * that know this much longer to report first (their message names the rank that did not arrive). */
#define UNKNOWN_PEER_GRACE_S 3.0
/* How often the thread looks at the clock: the abort comes at most this late. */
#define POLL_S 0.1
#define ARRIVE_TAG 7781
/* A heartbeat older than this: the process did not run (stopped, swapped out). */
#define STALE_S 1.0

/* One slot per rank of this node, in memory the node's ranks share (MPI_Win_allocate_shared, set up
 * at start by the main thread; afterwards only plain atomic loads and stores, no MPI calls from the
 * watchdog thread). A rank that waits at a collective without knowing for whom looks here for a
 * rank of its node that stopped running (stale heartbeat) or is still computing the step. */
typedef struct {
    _Atomic int64_t beat_us; /* the watchdog thread's last tick */
    _Atomic int64_t step;
    _Atomic int state; /* 0 between steps, 1 computing, 2 waiting */
    _Atomic int rank;  /* world rank */
} node_slot;
enum { IDLE = 0, COMPUTING = 1, WAITING = 2 };

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t thread;
    int running, stopping;
    double timeout_s;
    int rank, world;
    int64_t arrivals; /* arrival number: the same on every rank at the same collective */
    /* the state, under mu */
    int in_step;
    int64_t step;
    double step_t0;
    char what[160];
    int peer;
    /* the node's slots */
    MPI_Win win;
    node_slot *slots; /* (local_world) */
    int local_rank, local_world;
} wd = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .peer = -1};

static int64_t now_us(void) { return (int64_t)(m3ae_now_s() * 1e6); }

static void publish(int state, int64_t step) {
    if (!wd.slots) return;
    atomic_store(&wd.slots[wd.local_rank].step, step);
    atomic_store(&wd.slots[wd.local_rank].state, state);
}

/* The node's slot of world rank r; NULL when r runs on another node. */
static node_slot *slot_of(int r) {
    for (int i = 0; wd.slots && i < wd.local_world; i++)
        if (atomic_load(&wd.slots[i].rank) == r) return &wd.slots[i];
    return NULL;
}

/* The rank of this node whose process has not run for longest, if that is over min_s; else -1.
 * A stopped rank is the cause of every other rank's wait, whatever peer a rank waits for. */
static int find_stopped(double min_s) {
    int64_t t = now_us();
    int who = -1;
    double worst = min_s;
    for (int i = 0; wd.slots && i < wd.local_world; i++) {
        if (i == wd.local_rank) continue;
        double stale = (double)(t - atomic_load(&wd.slots[i].beat_us)) / 1e6;
        if (stale > worst) worst = stale, who = atomic_load(&wd.slots[i].rank);
    }
    return who;
}

/* A rank of this node still computing the given step; -1 none. */
static int find_computing(int64_t step) {
    for (int i = 0; wd.slots && i < wd.local_world; i++)
        if (i != wd.local_rank && atomic_load(&wd.slots[i].state) == COMPUTING && atomic_load(&wd.slots[i].step) == step)
            return atomic_load(&wd.slots[i].rank);
    return -1;
}

/* The rank a waiting rank names after hanging past the timeout, and why (NULL: its own knowledge of
 * the peer it waits for). A stopped rank of the node comes first: in a ring the peer a rank waits for
 * may itself be waiting for the stopped one. *blocked_peer: the named peer runs on this node and is
 * itself waiting in the step (so it is not the cause; a rank that knows better reports first). */
static int find_culprit(int64_t step, int peer, double hung, const char **why, int *blocked_peer) {
    *why = NULL, *blocked_peer = 0;
    /* stale for most of the hang: not a live rank that the load delayed for a moment */
    double min_stale = hung / 2 > STALE_S ? hung / 2 : STALE_S;
    int r = find_stopped(min_stale);
    if (r >= 0) {
        *why = "its process has not run for a while: stopped, or swapped out";
        return r;
    }
    if (peer >= 0) {
        node_slot *p = slot_of(peer);
        *blocked_peer = p && atomic_load(&p->state) == WAITING && atomic_load(&p->step) == step;
        if (*blocked_peer) *why = "it is itself waiting in this step, for a rank that did not say so in time";
        return peer;
    }
    r = find_computing(step);
    if (r >= 0) *why = "it is still computing the step";
    return r;
}

static void report_and_abort(int64_t step, double hung, const char *what, int peer, const char *why, double frozen) {
    char cause[400];
    if (frozen > STALE_S)
        snprintf(cause, sizeof cause, "while this process itself did not run for %.0f s (stopped, or swapped out; it "
                 "was %s%s)", frozen, what[0] ? "waiting for " : "computing", what);
    else if (!what[0]) snprintf(cause, sizeof cause, "while computing (not waiting for another rank)");
    else if (peer >= 0 && why)
        snprintf(cause, sizeof cause, "while waiting for %s (rank %d did not arrive); seen in the node's heartbeats: %s", what,
                 peer, why);
    else if (peer >= 0) snprintf(cause, sizeof cause, "while waiting for %s (rank %d did not arrive)", what, peer);
    else
        snprintf(cause, sizeof cause, "while waiting for %s (the rank that did not arrive is named by another rank's "
                 "message, when one could tell)", what);
    fprintf(stderr,
            "m3ae: error: rank %d: step %lld hung for %.0f s %s; the watchdog (watchdog_s = %g) ends the job. A rank "
            "that is stopped, swapping or blocked on a file system hangs every other rank at the next collective; "
            "raise watchdog_s if a step is really this slow, 0 turns the watchdog off\n",
            wd.rank, (long long)step, hung, cause, wd.timeout_s);
    fflush(stderr);
    /* from this thread while the main thread may be inside MPI: Open MPI's abort goes to the runtime
     * (PMIx), which is thread safe, and ends every rank of the job */
    MPI_Abort(MPI_COMM_WORLD, M3AE_EXIT_SYSTEM);
    _exit(M3AE_EXIT_SYSTEM); /* not reached; the rank must not go on in any case */
}

static void *watch(void *unused) {
    (void)unused;
    double last_tick = m3ae_now_s();
    pthread_mutex_lock(&wd.mu);
    while (!wd.stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long ns = until.tv_nsec + (long)(POLL_S * 1e9);
        until.tv_sec += ns / 1000000000L, until.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&wd.wake, &wd.mu, &until);
        double now = m3ae_now_s(), frozen = now - last_tick;
        last_tick = now;
        if (wd.slots) atomic_store(&wd.slots[wd.local_rank].beat_us, now_us());
        if (wd.stopping || !wd.in_step) continue;
        double hung = now - wd.step_t0;
        int peer = wd.peer, blocked_peer = 0;
        const char *why = NULL;
        if (wd.what[0] && hung > wd.timeout_s) peer = find_culprit(wd.step, wd.peer, hung, &why, &blocked_peer);
        double limit = wd.timeout_s + (wd.what[0] && (peer < 0 || blocked_peer) ? UNKNOWN_PEER_GRACE_S : 0);
        if (hung > limit) {
            char what[sizeof wd.what];
            memcpy(what, wd.what, sizeof what);
            int64_t step = wd.step;
            pthread_mutex_unlock(&wd.mu);
            report_and_abort(step, hung, what, peer, why, frozen);
        }
    }
    pthread_mutex_unlock(&wd.mu);
    return NULL;
}

void m3ae_watchdog_start(double timeout_s) {
    if (timeout_s <= 0 || wd.running) return;
    MPI_Comm_rank(MPI_COMM_WORLD, &wd.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &wd.world);
    wd.timeout_s = timeout_s, wd.stopping = 0, wd.in_step = 0, wd.what[0] = 0, wd.peer = -1, wd.arrivals = 0;
    /* the node's shared slots (a collective over every rank) */
    MPI_Comm node;
    int rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, wd.rank, MPI_INFO_NULL, &node);
    M3AE_CHECK(rc == MPI_SUCCESS, M3AE_EXIT_SYSTEM, "the watchdog's node split failed (MPI error %d)", rc);
    MPI_Comm_rank(node, &wd.local_rank);
    MPI_Comm_size(node, &wd.local_world);
    node_slot *mine = NULL;
    rc = MPI_Win_allocate_shared((MPI_Aint)sizeof(node_slot), (int)sizeof(node_slot), MPI_INFO_NULL, node, &mine,
                                 &wd.win);
    M3AE_CHECK(rc == MPI_SUCCESS, M3AE_EXIT_SYSTEM, "the watchdog's shared memory of the node failed (MPI error %d)", rc);
    MPI_Aint size;
    int unit;
    rc = MPI_Win_shared_query(wd.win, 0, &size, &unit, &wd.slots); /* slot 0: the start of the node's block */
    M3AE_CHECK(rc == MPI_SUCCESS, M3AE_EXIT_SYSTEM, "the watchdog's shared memory query failed (MPI error %d)", rc);
    atomic_store(&mine->beat_us, now_us());
    atomic_store(&mine->step, -1);
    atomic_store(&mine->state, IDLE);
    atomic_store(&mine->rank, wd.rank);
    MPI_Barrier(node); /* every slot is set before anyone reads it */
    MPI_Comm_free(&node);
    rc = pthread_create(&wd.thread, NULL, watch, NULL);
    M3AE_CHECK(rc == 0, M3AE_EXIT_SYSTEM, "cannot start the watchdog thread: %s (watchdog_s = 0 runs without it)",
               strerror(rc));
    wd.running = 1;
}

void m3ae_watchdog_step_begin(int64_t step) {
    if (!wd.running) return;
    pthread_mutex_lock(&wd.mu);
    wd.in_step = 1, wd.step = step, wd.step_t0 = m3ae_now_s(), wd.what[0] = 0, wd.peer = -1;
    publish(COMPUTING, step);
    pthread_mutex_unlock(&wd.mu);
}

void m3ae_watchdog_step_end(void) {
    if (!wd.running) return;
    pthread_mutex_lock(&wd.mu);
    wd.in_step = 0, wd.what[0] = 0, wd.peer = -1;
    publish(IDLE, -1);
    pthread_mutex_unlock(&wd.mu);
}

void m3ae_watchdog_waiting(const char *what, int peer_rank) {
    if (!wd.running) return;
    pthread_mutex_lock(&wd.mu);
    snprintf(wd.what, sizeof wd.what, "%s", what ? what : "");
    wd.peer = what ? peer_rank : -1;
    if (wd.in_step) publish(what ? WAITING : COMPUTING, wd.step);
    pthread_mutex_unlock(&wd.mu);
}

void m3ae_watchdog_arrive(const char *what) {
    if (!wd.running) return;
    if (wd.world > 1) {
        int left = (wd.rank + wd.world - 1) % wd.world, right = (wd.rank + 1) % wd.world;
        int64_t mine = ++wd.arrivals, theirs = -1;
        m3ae_watchdog_waiting(what, left);
        int rc = MPI_Sendrecv(&mine, 1, MPI_INT64_T, right, ARRIVE_TAG, &theirs, 1, MPI_INT64_T, left, ARRIVE_TAG,
                              MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        M3AE_CHECK(rc == MPI_SUCCESS, M3AE_EXIT_SYSTEM, "rank %d: the arrival exchange before %s failed (MPI error %d)",
                   wd.rank, what, rc);
        M3AE_CHECK(theirs == mine, M3AE_EXIT_FAIL,
                   "rank %d arrived at its collective number %lld (%s) while rank %d is at its number %lld: the ranks "
                   "call different collectives and would deadlock (a bug in the caller's control flow)",
                   wd.rank, (long long)mine, what, left, (long long)theirs);
    }
    m3ae_watchdog_waiting(what, -1);
}

void m3ae_watchdog_stop(void) {
    if (!wd.running) return;
    pthread_mutex_lock(&wd.mu);
    wd.stopping = 1;
    pthread_cond_signal(&wd.wake);
    pthread_mutex_unlock(&wd.mu);
    pthread_join(wd.thread, NULL);
    wd.running = 0;
    wd.slots = NULL;
    MPI_Win_free(&wd.win); /* a collective: every rank stops its watchdog at the same point */
}
