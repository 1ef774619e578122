/* `m3ae bench <what>`: the benchmarks. Each lives in launch/bench_<what>.c and is listed once in
 * the table of launch/cmd_bench.c. */
#ifndef M3AE_LAUNCH_BENCH_H
#define M3AE_LAUNCH_BENCH_H

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the benchmark's name */
} m3ae_bench;

/* benchmarks: add prototypes below this line */
int m3ae_bench_allreduce(int argc, char **argv);
int m3ae_bench_loader(int argc, char **argv);
int m3ae_bench_step(int argc, char **argv);
int m3ae_bench_tokenizer(int argc, char **argv);
#endif
