/* `m3ae bench allreduce` (under mpirun): the all-reduce algorithms of dist/ring.h side by side on
 * float buffers from --min to --max bytes (powers of --step). Per size and algorithm: the median
 * over --iters timed iterations of the slowest rank's time (each iteration starts after a barrier
 * from the same input), algbw = bytes / time and busbw = algbw * 2(n-1)/n (the nccl-tests
 * definitions), and the ring's busbw over MPI_Allreduce's. Before timing, each algorithm's result
 * is checked once per size against MPI_Allreduce: the inputs are small integers, whose sums are
 * exact in any order, so any difference is a wrong result and ends the benchmark with an error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/log.h"
#include "common/sys.h"
#include "dist/dist.h"
#include "dist/ring.h"
#include "launch/bench.h"

#define MAX_ALGOS 4

static void usage(FILE *f) {
    fprintf(f, "usage: mpirun -np N m3ae bench allreduce [--min BYTES] [--max BYTES] [--step 2|4]\n"
               "                                        [--algo ring,hier,mpi] [--iters N] [--warmup W]\n"
               "                                        [--chunk FLOATS] [--window W] [--json FILE]\n\n"
               "Times the gradient all-reduce (float sums, in place) per message size and algorithm: the median\n"
               "of the slowest rank's time, algbw = bytes/time, busbw = algbw * 2(n-1)/n (as nccl-tests), and\n"
               "the ring's busbw relative to MPI_Allreduce. Each result is checked against MPI_Allreduce first.\n"
               "Sizes take K, M, G suffixes (powers of 1024). Defaults: --min 1K --max 256M --step 4\n"
               "--algo ring,hier,mpi --iters 20 (sizes over 16M: a quarter, at least 3) --warmup 2, the ring's\n"
               "default chunk (%zu floats) and window (%d). hier splits ranks by node (M3AE_FAKE_NODES=K makes\n"
               "K nodes of one machine). --json FILE writes rows {algo, bytes, ranks, time_us, algbw_gbs,\n"
               "busbw_gbs}.\n", (size_t)M3AE_RING_CHUNK_FLOATS, M3AE_RING_WINDOW);
}

static int parse_bytes(const char *v, size_t *out) {
    char *end = NULL;
    double x = strtod(v, &end);
    if (!end || end == v || !isfinite(x) || x < 0) return -1;
    double mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1024, end++;
    else if (*end == 'M' || *end == 'm') mul = 1024.0 * 1024, end++;
    else if (*end == 'G' || *end == 'g') mul = 1024.0 * 1024 * 1024, end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end) return -1;
    x *= mul;
    if (x > 64.0 * 1024 * 1024 * 1024) return -1;
    *out = (size_t)x;
    return 0;
}

typedef struct {
    m3ae_ar_algo algo;
    m3ae_ring *g;
} algo_setup;

int m3ae_bench_allreduce(int argc, char **argv) {
    size_t min_b = 1024, max_b = (size_t)256 << 20, chunk = M3AE_RING_CHUNK_FLOATS;
    int step = 4, iters = 20, warmup = 2, window = M3AE_RING_WINDOW;
    const char *algos_arg = "ring,hier,mpi", *json = NULL;
    m3ae_bench_args args = {.bench = "allreduce", .usage = usage, .argc = argc, .argv = argv};
    while (m3ae_bench_next(&args) > 0) {
        const char *a = args.opt, *v = args.val;
        long x = args.num;
        int numeric = args.numeric;
        size_t bytes = 0;
        if (!strcmp(a, "--min") && parse_bytes(v, &bytes) == 0)
            min_b = bytes;
        else if (!strcmp(a, "--max") && parse_bytes(v, &bytes) == 0)
            max_b = bytes;
        else if (!strcmp(a, "--step") && numeric && (x == 2 || x == 4))
            step = (int)x;
        else if (!strcmp(a, "--algo"))
            algos_arg = v;
        else if (!strcmp(a, "--iters") && numeric && x >= 1 && x <= 100000)
            iters = (int)x;
        else if (!strcmp(a, "--warmup") && numeric && x >= 0 && x <= 1000)
            warmup = (int)x;
        else if (!strcmp(a, "--chunk") && numeric && x >= 1 && x <= (1L << 30))
            chunk = (size_t)x;
        else if (!strcmp(a, "--window") && numeric && x >= 1 && x <= 64)
            window = (int)x;
        else if (!strcmp(a, "--json"))
            json = v;
        else
            return m3ae_bench_bad(&args, "(sizes like 1K, 4M; step 2 or 4; iters 1..100000; warmup 0..1000; "
                                         "chunk 1..2^30 floats; window 1..64)");
    }
    if (args.code >= 0) return args.code;
    if (min_b < sizeof(float) || min_b > max_b) {
        fprintf(stderr, "m3ae: error: bench allreduce: --min %zu --max %zu: give 4 <= min <= max bytes\n", min_b, max_b);
        return M3AE_EXIT_USAGE;
    }
    algo_setup al[MAX_ALGOS];
    int na = 0;
    char list[256];
    snprintf(list, sizeof list, "%s", algos_arg);
    for (char *save = NULL, *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        if (na == MAX_ALGOS || m3ae_ar_algo_parse(s, &al[na].algo) != 0) {
            fprintf(stderr, "m3ae: error: bench allreduce: --algo '%s': give up to %d of ring, hier, mpi, auto separated "
                            "by commas\n", algos_arg, MAX_ALGOS);
            return M3AE_EXIT_USAGE;
        }
        na++;
    }

    m3ae_dist d;
    int dargc = 1;
    char *dargv0[] = {argv[0], NULL}, **dargv = dargv0;
    m3ae_dist_init(&d, &dargc, &dargv);
    int ring_i = -1, mpi_i = -1;
    for (int a = 0; a < na; a++) {
        al[a].g = m3ae_ring_create(al[a].algo);
        m3ae_ring_set_chunk(al[a].g, chunk, window);
        if (al[a].algo == M3AE_AR_RING && ring_i < 0) ring_i = a;
        if (al[a].algo == M3AE_AR_MPI && mpi_i < 0) mpi_i = a;
    }
    m3ae_ring *oracle = m3ae_ring_create(M3AE_AR_MPI);
    const size_t nmax = max_b / sizeof(float);
    float *src = m3ae_alloc(nmax * sizeof(float), "the all-reduce input");
    float *x = m3ae_alloc(nmax * sizeof(float), "the all-reduce buffer");
    float *want = m3ae_alloc(nmax * sizeof(float), "the oracle's result");
    double *t = m3ae_alloc((size_t)iters * sizeof(double), "the iteration times");
    /* small integers: exact sums in any order */
    for (size_t i = 0; i < nmax; i++) src[i] = (float)((int)((i * 7 + (size_t)d.rank * 13) % 101) - 50);

    char cpu[256];
    m3ae_cpu_name(cpu, sizeof cpu);
    if (d.rank == 0) {
        printf("m3ae bench allreduce: %d ranks", d.world);
        for (int a = 0; a < na; a++)
            printf("%s %s (%s, %d nodes)", a ? "," : ";", m3ae_ar_algo_name(al[a].algo),
                   m3ae_ar_algo_name(m3ae_ring_algo(al[a].g)), m3ae_ring_nodes(al[a].g));
        printf("; chunk %zu floats, window %d; %d iterations (median of the slowest rank), %d warm-up\n", chunk, window,
               iters, warmup);
        printf("machine: %s, %ld logical CPUs online\n\n", cpu, sysconf(_SC_NPROCESSORS_ONLN));
        printf("| bytes |");
        for (int a = 0; a < na; a++)
            printf(" %s us | %s algbw GB/s | %s busbw GB/s |", m3ae_ar_algo_name(al[a].algo),
                   m3ae_ar_algo_name(al[a].algo), m3ae_ar_algo_name(al[a].algo));
        if (ring_i >= 0 && mpi_i >= 0) printf(" ring / mpi busbw |");
        printf("\n|---|");
        for (int a = 0; a < na; a++) printf("---|---|---|");
        if (ring_i >= 0 && mpi_i >= 0) printf("---|");
        printf("\n");
    }
    size_t jcap = 1 << 16, jlen = 0;
    char *jtext = m3ae_alloc(jcap, "the JSON rows");
    jlen += (size_t)snprintf(jtext, jcap, "[\n");
    int code = M3AE_EXIT_OK;
    const double factor = d.world > 1 ? 2.0 * (d.world - 1) / d.world : 0.0;
    for (size_t bytes = min_b; bytes <= max_b && code == M3AE_EXIT_OK; bytes *= (size_t)step) {
        size_t n = bytes / sizeof(float);
        memcpy(want, src, n * sizeof(float));
        m3ae_ring_allreduce(oracle, want, n, 0);
        int it = bytes > ((size_t)16 << 20) ? (iters / 4 > 3 ? iters / 4 : (iters < 3 ? iters : 3)) : iters;
        double busbw[MAX_ALGOS];
        if (d.rank == 0) printf("| %zu |", bytes);
        for (int a = 0; a < na; a++) {
            memcpy(x, src, n * sizeof(float));
            m3ae_ring_allreduce(al[a].g, x, n, 0);
            double bad = 0;
            for (size_t i = 0; i < n; i++) bad += x[i] != want[i];
            m3ae_dist_sum_doubles(&bad, 1);
            if (bad > 0) {
                if (d.rank == 0)
                    fprintf(stderr, "\nm3ae: error: bench allreduce: %s gave %.0f wrong sums (of %zu per rank) at %zu bytes "
                                    "against MPI_Allreduce: the all-reduce is broken\n",
                            m3ae_ar_algo_name(al[a].algo), bad, n, bytes);
                code = M3AE_EXIT_FAIL;
                break;
            }
            for (int w = 0; w < warmup; w++) {
                memcpy(x, src, n * sizeof(float));
                m3ae_ring_allreduce(al[a].g, x, n, 0);
            }
            for (int k = 0; k < it; k++) {
                memcpy(x, src, n * sizeof(float));
                m3ae_dist_barrier();
                double t0 = m3ae_now_s();
                m3ae_ring_allreduce(al[a].g, x, n, 0);
                t[k] = m3ae_now_s() - t0;
            }
            m3ae_dist_max_doubles(t, it);
            double med = m3ae_bench_median(t, it);
            double algbw = (double)bytes / med / 1e9;
            busbw[a] = algbw * factor;
            if (d.rank == 0) {
                printf(" %.1f | %.3f | %.3f |", med * 1e6, algbw, busbw[a]);
                if (jlen + 512 > jcap) {
                    char *bigger = m3ae_alloc(jcap * 2, "the JSON rows");
                    memcpy(bigger, jtext, jlen + 1);
                    m3ae_free(jtext);
                    jtext = bigger, jcap *= 2;
                }
                jlen += (size_t)snprintf(jtext + jlen, jcap - jlen,
                                         "%s  {\"algo\": \"%s\", \"bytes\": %zu, \"ranks\": %d, \"time_us\": %.3f, "
                                         "\"algbw_gbs\": %.6f, \"busbw_gbs\": %.6f}",
                                         jlen > 2 ? ",\n" : "", m3ae_ar_algo_name(al[a].algo), bytes, d.world,
                                         med * 1e6, algbw, busbw[a]);
            }
        }
        if (d.rank == 0 && code == M3AE_EXIT_OK) {
            if (ring_i >= 0 && mpi_i >= 0)
                printf(" %.2f |", busbw[mpi_i] > 0 ? busbw[ring_i] / busbw[mpi_i] : 0.0);
            printf("\n");
            fflush(stdout);
        }
    }
    if (json && code == M3AE_EXIT_OK) {
        int rc = 0;
        m3ae_error err = {{0}};
        if (d.rank == 0) {
            snprintf(jtext + jlen, jcap - jlen, "\n]\n");
            rc = m3ae_write_file_atomic(json, jtext, &err);
            if (rc) fprintf(stderr, "m3ae: error: bench allreduce: %s\n", err.msg);
        }
        if (m3ae_dist_any(rc != 0)) code = M3AE_EXIT_SYSTEM;
    }
    m3ae_free(jtext);
    m3ae_free(t);
    m3ae_free(want);
    m3ae_free(x);
    m3ae_free(src);
    m3ae_ring_destroy(oracle);
    for (int a = 0; a < na; a++) m3ae_ring_destroy(al[a].g);
    m3ae_dist_finalize(&d);
    return code;
}
