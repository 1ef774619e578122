/* `m3ae bench <what>`: the benchmarks. Each lives in launch/bench_<what>.c and is listed once in
 * the table of launch/cmd_bench.c. */
#ifndef M3AE_LAUNCH_BENCH_H
#define M3AE_LAUNCH_BENCH_H

#include <stdio.h>

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the benchmark's name */
} m3ae_bench;

/* ---- shared plumbing of the benchmarks (launch/bench_util.c) ---- */
/* The `--option value` loop of a benchmark's command line:
 *     m3ae_bench_args a = {.bench = "step", .usage = usage, .argc = argc, .argv = argv};
 *     while (m3ae_bench_next(&a) > 0) {
 *         if (!strcmp(a.opt, "--batch") && a.numeric && a.num >= 1) batch = (int)a.num;
 *         else return m3ae_bench_bad(&a, "(batch 1..4096)");
 *     }
 *     if (a.code >= 0) return a.code;
 * m3ae_bench_next gives the next option and its value (num and numeric: the value as a whole decimal
 * number), 0 at the end, -1 after printing the usage for --help (code M3AE_EXIT_OK) or an error for
 * an option without a value (code M3AE_EXIT_USAGE). */
typedef struct {
    const char *bench;       /* "step": named in the errors */
    void (*usage)(FILE *f);  /* the benchmark's usage text */
    int argc;
    char **argv;             /* argv[0] is the benchmark's name */
    int i;                   /* internal: the last argument read */
    const char *opt, *val;   /* the option and its value */
    long num;                /* val as a decimal number, when numeric */
    int numeric;
    int code;                /* after the loop: an exit code to return, or -1 to continue */
} m3ae_bench_args;
int m3ae_bench_next(m3ae_bench_args *a);
/* Prints "bad option or value 'OPT VAL' RANGES" and the usage on stderr; returns M3AE_EXIT_USAGE. */
int m3ae_bench_bad(const m3ae_bench_args *a, const char *ranges);
/* The median of t (n >= 1 timings, sorted in place ascending): the middle one, or the mean of the
 * two middle ones when n is even. */
double m3ae_bench_median(double *t, int n);

/* benchmarks: add prototypes below this line */
int m3ae_bench_allreduce(int argc, char **argv);
int m3ae_bench_loader(int argc, char **argv);
int m3ae_bench_step(int argc, char **argv);
int m3ae_bench_tokenizer(int argc, char **argv);
#endif
