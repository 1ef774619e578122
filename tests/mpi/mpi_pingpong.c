/* A ping-pong between two ranks: for each message size, the round-trip time of a message sent from
 * rank 0 to rank PEER and back, the one-way time (half of it) and the bandwidth S / one-way. It
 * measures the links of the simulated cluster (experiments/scaling/netns_cluster.sh) and feeds the
 * alpha-beta fit of the cost model (experiments/scaling/cost_model.py). The other ranks wait.
 * With --exchange both ranks send at once (MPI_Sendrecv), as every rank does in a ring step, so the
 * link carries data both ways: the time per exchange is what the cost model's ring step costs.
 * Every reply is checked byte for byte, so as a test it also proves the path carries data intact.
 *   mpi_pingpong [--peer R] [--exchange] [--min BYTES] [--max BYTES] [--json FILE] (sizes double) */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static size_t parse_size(const char *s) {
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || v < 0) return (size_t)-1;
    if (*end == 'K' || *end == 'k') v *= 1024;
    else if (*end == 'M' || *end == 'm') v *= 1024 * 1024;
    else if (*end != '\0') return (size_t)-1;
    return (size_t)v;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank = 0, world = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    int peer = world - 1;
    size_t lo = 8, hi = 4u << 20;
    const char *json = NULL;
    int exchange = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--exchange")) { exchange = 1; continue; }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            if (rank == 0)
                printf("usage: mpi_pingpong [--peer R] [--exchange] [--min BYTES] [--max BYTES] [--json FILE]\n"
                       "  round trips between rank 0 and rank R (default: the last rank) for sizes\n"
                       "  min, 2 min, ... max (K and M suffixes); prints bytes, round trip, one-way\n"
                       "  time and bandwidth; --json writes the rows (bytes, rtt_us, best_rtt_us,\n"
                       "  median_rtt_us, oneway_us, bw_gbs). --exchange: both ranks send at once\n"
                       "  (MPI_Sendrecv); the \"round trip\" columns are then 2 x the exchange time\n");
            MPI_Finalize();
            return 0;
        }
        if (i + 1 >= argc) { if (rank == 0) fprintf(stderr, "mpi_pingpong: %s needs a value\n", argv[i]); MPI_Finalize(); return 2; }
        if (!strcmp(argv[i], "--peer")) peer = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min")) lo = parse_size(argv[++i]);
        else if (!strcmp(argv[i], "--max")) hi = parse_size(argv[++i]);
        else if (!strcmp(argv[i], "--json")) json = argv[++i];
        else { if (rank == 0) fprintf(stderr, "mpi_pingpong: unknown option %s (see --help)\n", argv[i]); MPI_Finalize(); return 2; }
    }
    if (world < 2 || peer <= 0 || peer >= world || lo == (size_t)-1 || hi == (size_t)-1 || lo < 1 || hi < lo ||
        hi > (size_t)1 << 30) {
        if (rank == 0) fprintf(stderr, "mpi_pingpong: need 2+ ranks, --peer 1..%d, 1 <= min <= max <= 1G\n", world - 1);
        MPI_Finalize();
        return 2;
    }
    unsigned char *buf = malloc(hi), *want = malloc(hi), *sendb = malloc(hi);
    T_CHECK(buf && want && sendb, "rank %d: no memory for %zu-byte messages", rank, hi);
    if (!buf || !want || !sendb) MPI_Abort(MPI_COMM_WORLD, 5);
    FILE *out = NULL;
    if (rank == 0 && json) {
        out = fopen(json, "w");
        T_CHECK(out != NULL, "cannot write %s", json);
    }
    if (rank == 0)
        printf("%12s %12s %12s %10s   (rank 0 <-> rank %d%s)\n", "bytes", "rtt_us", "oneway_us", "GB/s", peer,
               exchange ? ", both sending at once" : "");
    for (size_t s = lo; s <= hi; s *= 2) {
        /* Enough round trips for ~0.2 s of data at 1 Gbit/s, at least 5, at most 200. */
        int reps = (int)(25000000.0 / (double)s);
        reps = reps < 5 ? 5 : reps > 200 ? 200 : reps;
        for (size_t i = 0; i < s; i++) want[i] = (unsigned char)((i * 131u + s) & 0xff);
        double best = 1e30, sum = 0, times[200];
        int bad = 0;
        for (int r = -2; r < reps; r++) { /* two warm-up round trips */
            MPI_Barrier(MPI_COMM_WORLD);
            if (exchange && (rank == 0 || rank == peer)) {
                int other = rank == 0 ? peer : 0;
                memcpy(sendb, want, s);
                double t0 = MPI_Wtime();
                MPI_Sendrecv(sendb, (int)s, MPI_BYTE, other, 3, buf, (int)s, MPI_BYTE, other, 3, MPI_COMM_WORLD,
                             MPI_STATUS_IGNORE);
                double t = 2 * (MPI_Wtime() - t0); /* reported as a round trip: 2 one-way times */
                if (r >= 0 && rank == 0) { sum += t; times[r] = t; if (t < best) best = t; }
                bad += memcmp(buf, want, s) != 0;
            } else if (!exchange && rank == 0) {
                memcpy(buf, want, s);
                double t0 = MPI_Wtime();
                MPI_Send(buf, (int)s, MPI_BYTE, peer, 1, MPI_COMM_WORLD);
                MPI_Recv(buf, (int)s, MPI_BYTE, peer, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                double t = MPI_Wtime() - t0;
                if (r >= 0) { sum += t; times[r] = t; if (t < best) best = t; }
                bad += memcmp(buf, want, s) != 0;
            } else if (!exchange && rank == peer) {
                MPI_Recv(buf, (int)s, MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Send(buf, (int)s, MPI_BYTE, 0, 2, MPI_COMM_WORLD);
            }
        }
        if (exchange && rank == peer) T_CHECK(bad == 0, "rank %d: %zu-byte messages arrived changed %d times", rank, s, bad);
        if (rank == 0) {
            T_CHECK(bad == 0, "%zu-byte messages came back changed %d times", s, bad);
            /* The median is what the cost model fits (m3ae bench allreduce reports medians); the
             * mean and the best show how loaded the machine was. */
            double mean = sum / reps, oneway = mean / 2;
            qsort(times, (size_t)reps, sizeof times[0], cmp_double);
            double median = reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
            printf("%12zu %12.1f %12.1f %10.4f   best rtt %.1f us, median %.1f us\n", s, mean * 1e6, oneway * 1e6,
                   (double)s / oneway / 1e9, best * 1e6, median * 1e6);
            if (out)
                fprintf(out, "{\"bytes\": %zu, \"reps\": %d, \"rtt_us\": %.3f, \"best_rtt_us\": %.3f, \"median_rtt_us\": %.3f, "
                             "\"oneway_us\": %.3f, \"bw_gbs\": %.6f, \"peer\": %d, \"ranks\": %d, \"exchange\": %d}\n",
                        s, reps, mean * 1e6, best * 1e6, median * 1e6, oneway * 1e6, (double)s / oneway / 1e9, peer, world, exchange);
        }
        if (s > hi / 2) break;
    }
    if (out) T_CHECK(fclose(out) == 0, "writing %s failed", json);
    int fails = t_failures;
    MPI_Allreduce(MPI_IN_PLACE, &fails, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int rc = rank == 0 ? t_done("mpi_pingpong") : 0;
    free(buf);
    free(want);
    free(sendb);
    MPI_Finalize();
    return fails ? 1 : rc;
}
