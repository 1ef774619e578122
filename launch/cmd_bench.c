/* m3ae bench: dispatches to the benchmarks of launch/bench_*.c. */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "launch/bench.h"
#include "launch/commands.h"

static const m3ae_bench benches[] = {
    {"tokenizer", "single-thread tokenizer throughput (MB/s) on the ROCO captions", m3ae_bench_tokenizer},
    {"step", "one M3AE pretraining step (3 passes, fwd+bwd): ms/step, samples/s, GFLOP/s", m3ae_bench_step},
    {"loader", "pretraining loader samples/s per thread (read, CRC, transform, tokens, masks)", m3ae_bench_loader},
    {"allreduce", "gradient all-reduce under mpirun: ring, hier, MPI_Allreduce per size (time, algbw, busbw)",
     m3ae_bench_allreduce},
    /* benchmarks: add new entries above this line */
    {NULL, NULL, NULL}};

static void usage(FILE *f) {
    fprintf(f, "usage: m3ae bench <benchmark> [options]   (m3ae bench <benchmark> --help)\n\n"
               "Benchmarks print their results as a table with the machine, thread count and command,\n"
               "so that they can be pasted into experiments/.\n\nbenchmarks:\n");
    for (int i = 0; benches[i].name; i++) fprintf(f, "  %-10s %s\n", benches[i].name, benches[i].summary);
}

int m3ae_cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? M3AE_EXIT_USAGE : M3AE_EXIT_OK;
    }
    for (int i = 0; benches[i].name; i++)
        if (!strcmp(argv[1], benches[i].name)) return benches[i].run(argc - 1, argv + 1);
    fprintf(stderr, "m3ae: error: unknown benchmark '%s'; `m3ae bench --help` lists them\n", argv[1]);
    return M3AE_EXIT_USAGE;
}
