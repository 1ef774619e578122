/* Issue 10's observability pieces on real MPI ranks: the gathers of dist/ (doubles; bytes of
 * different lengths per rank, streamed to rank 0 in rank order), the straggler summary (median of
 * odd and even counts, the slowest rank), the watchdog's arrival exchange over many collectives
 * (the same arrival number on every rank; no abort while steps are short), and the trace: every
 * rank's events in one JSON file that python3 reads back. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sys.h"
#include "dist/dist.h"
#include "dist/watchdog.h"
#include "harness.h"
#include "launch/metrics.h"
#include "launch/trace.h"

typedef struct {
    int calls, order_ok;
    size_t total;
    char first[64];
} sink_seen;

static void sink(void *ctx, int rank, const void *bytes, size_t n) {
    sink_seen *s = ctx;
    if (rank != s->calls) s->order_ok = 0;
    if (n != (size_t)(rank + 1) * 1000) s->order_ok = 0;
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)bytes)[i] != (unsigned char)(rank * 7 + 1)) s->order_ok = 0;
    s->calls++, s->total += n;
}

int main(int argc, char **argv) {
    m3ae_dist d;
    m3ae_dist_init(&d, &argc, &argv);

    /* gather of doubles */
    double mine[2] = {(double)d.rank, 10.0 + d.rank}, all[2 * 64];
    m3ae_dist_gather_doubles(mine, 2, d.rank == 0 ? all : NULL);
    if (d.rank == 0)
        for (int r = 0; r < d.world; r++)
            T_CHECK(all[2 * r] == r && all[2 * r + 1] == 10.0 + r, "gathered doubles of rank %d: %g %g", r, all[2 * r],
                    all[2 * r + 1]);

    /* gather of bytes: rank r sends (r + 1) * 1000 bytes of value r * 7 + 1 */
    size_t n = (size_t)(d.rank + 1) * 1000;
    unsigned char *buf = malloc(n);
    memset(buf, d.rank * 7 + 1, n);
    sink_seen seen = {.order_ok = 1};
    m3ae_dist_gather_bytes(buf, n, sink, &seen);
    free(buf);
    if (d.rank == 0)
        T_CHECK(seen.calls == d.world && seen.order_ok && seen.total == (size_t)d.world * (d.world + 1) / 2 * 1000,
                "byte gather: %d calls, order/content ok %d, %zu bytes", seen.calls, seen.order_ok, seen.total);

    /* straggler summary */
    m3ae_straggler s;
    m3ae_straggler_summarise((double[]){5, 9, 1}, 3, &s);
    T_CHECK(s.min_ms == 1 && s.median_ms == 5 && s.max_ms == 9 && s.slowest_rank == 1 && s.ranks == 3,
            "odd summary %g %g %g rank %d", s.min_ms, s.median_ms, s.max_ms, s.slowest_rank);
    m3ae_straggler_summarise((double[]){4, 2, 8, 6}, 4, &s);
    T_CHECK(s.min_ms == 2 && s.median_ms == 5 && s.max_ms == 8 && s.slowest_rank == 2, "even summary %g %g %g rank %d",
            s.min_ms, s.median_ms, s.max_ms, s.slowest_rank);

    /* the watchdog: 200 arrivals at collectives in short steps, no abort */
    m3ae_watchdog_start(30);
    for (int step = 1; step <= 200; step++) {
        m3ae_watchdog_step_begin(step);
        m3ae_watchdog_arrive("a test collective");
        T_CHECK(m3ae_dist_any(step == 100 && d.rank == 0) == (step == 100), "flag agreement at step %d", step);
        m3ae_watchdog_waiting(NULL, -1);
        m3ae_watchdog_step_end();
    }
    m3ae_watchdog_stop();

    /* the trace: two events per rank, one file on rank 0 */
    char path[256] = "";
    if (d.rank == 0) snprintf(path, sizeof path, "/tmp/m3ae-test-obs-%ld.json", (long)getpid());
    m3ae_dist_broadcast(path, sizeof path);
    m3ae_trace *t = m3ae_trace_open(path, d.rank, d.world, 2);
    double t0 = m3ae_now_s();
    m3ae_trace_add(t, "forward \"MLM\"", "compute", M3AE_TRACE_MAIN, 1, t0, t0 + 0.001);
    m3ae_trace_add(t, "allreduce", "comm", M3AE_TRACE_COMM, 1, t0 + 0.001, t0 + 0.002);
    m3ae_trace_add(t, "dropped", "comm", M3AE_TRACE_COMM, 1, t0, t0); /* over the capacity of 2 */
    m3ae_error err = {{0}};
    T_CHECK(m3ae_trace_write(t, &err) == 0, "trace write: %s", err.msg);
    m3ae_trace_close(t);
    T_CHECK(m3ae_trace_open(NULL, d.rank, d.world, 2) == NULL, "a trace without a path is not off");
    if (d.rank == 0) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c 'import json,sys; d=json.load(open(\"%s\")); ev=d[\"traceEvents\"]; "
                 "x=[e for e in ev if e[\"ph\"]==\"X\"]; m=[e for e in ev if e[\"name\"]==\"process_name\"]; "
                 "assert d[\"displayTimeUnit\"]==\"ms\"; assert len(x)==2*%d, len(x); "
                 "assert sorted(e[\"pid\"] for e in m)==list(range(%d)); "
                 "assert all(e[\"args\"][\"dropped_events\"]==1 for e in m); "
                 "assert all(abs(e[\"dur\"]-1000)<50 for e in x), x; "
                 "assert {e[\"name\"] for e in x}=={\"forward \\\"MLM\\\"\",\"allreduce\"}'",
                 path, d.world, d.world);
        T_CHECK(system(cmd) == 0, "python3 does not read the trace %s as expected (command: %s)", path, cmd);
        unlink(path);
    }

    int fails = t_failures;
    MPI_Allreduce(MPI_IN_PLACE, &fails, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int rc = d.rank == 0 ? t_done("test_obs") : 0;
    m3ae_dist_finalize(&d);
    return fails ? 1 : rc;
}
