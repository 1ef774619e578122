/* The per-step watchdog (dist/watchdog.h). */
#include "dist/watchdog.h"

#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/sys.h"

/* A rank that waits without knowing for whom gives the ranks that know this much longer to report
 * first (their message names the rank that did not arrive). */
#define UNKNOWN_PEER_GRACE_S 3.0
/* How often the thread looks at the clock: the abort comes at most this late. */
#define POLL_S 0.1
#define ARRIVE_TAG 7781

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
} wd = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .peer = -1};

static void report_and_abort(int64_t step, double hung, const char *what, int peer) {
    char cause[300];
    if (!what[0]) snprintf(cause, sizeof cause, "while computing (not waiting for another rank)");
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
    pthread_mutex_lock(&wd.mu);
    while (!wd.stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long ns = until.tv_nsec + (long)(POLL_S * 1e9);
        until.tv_sec += ns / 1000000000L, until.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&wd.wake, &wd.mu, &until);
        if (wd.stopping || !wd.in_step) continue;
        double hung = m3ae_now_s() - wd.step_t0;
        double limit = wd.timeout_s + (wd.what[0] && wd.peer < 0 ? UNKNOWN_PEER_GRACE_S : 0);
        if (hung > limit) {
            char what[sizeof wd.what];
            memcpy(what, wd.what, sizeof what);
            int64_t step = wd.step;
            int peer = wd.peer;
            pthread_mutex_unlock(&wd.mu);
            report_and_abort(step, hung, what, peer);
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
    int rc = pthread_create(&wd.thread, NULL, watch, NULL);
    M3AE_CHECK(rc == 0, M3AE_EXIT_SYSTEM, "cannot start the watchdog thread: %s (watchdog_s = 0 runs without it)",
               strerror(rc));
    wd.running = 1;
}

void m3ae_watchdog_step_begin(int64_t step) {
    if (!wd.running) return;
    pthread_mutex_lock(&wd.mu);
    wd.in_step = 1, wd.step = step, wd.step_t0 = m3ae_now_s(), wd.what[0] = 0, wd.peer = -1;
    pthread_mutex_unlock(&wd.mu);
}

void m3ae_watchdog_step_end(void) {
    if (!wd.running) return;
    pthread_mutex_lock(&wd.mu);
    wd.in_step = 0, wd.what[0] = 0, wd.peer = -1;
    pthread_mutex_unlock(&wd.mu);
}

void m3ae_watchdog_waiting(const char *what, int peer_rank) {
    if (!wd.running) return;
    pthread_mutex_lock(&wd.mu);
    snprintf(wd.what, sizeof wd.what, "%s", what ? what : "");
    wd.peer = what ? peer_rank : -1;
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
}
