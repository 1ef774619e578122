/* m3ae bench loader: samples/s of the pretraining loader (record read + CRC, CLIP transform,
 * tokenizer, MLM/MIM/ITM masks) for one or more loader thread counts. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/sys.h"
#include "common/error.h"
#include "io/loader.h"
#include "io/masks.h"
#include "io/tokenizer.h"
#include "launch/bench.h"

static void usage(FILE *f) {
    fprintf(f, "usage: m3ae bench loader --data DIR [--threads T[,T...]] [--image-size S] [--batch B]\n"
               "                         [--max-text-len L] [--seconds X] [--vocab DIR] [--random-crop]\n\n"
               "Runs the pretraining loader over a dataset written by `m3ae prep` for about X seconds\n"
               "(default 5) per thread count and prints samples/s and samples/s per loader thread. Each\n"
               "sample: record read + CRC32C check, CLIP transform to SxS (default 288), tokenization\n"
               "padded to L (default 64), MLM/MIM/ITM masks, and the ITM image of another sample for\n"
               "about half the samples.\n\n"
               "  --threads T,...  loader threads, e.g. 1,2,4 (default 1)\n"
               "  --batch B        samples per batch (default 32)\n"
               "  --vocab DIR      vocab.json + merges.txt (default $M3AE_DATA/vocab/roberta-base,\n"
               "                   M3AE_DATA defaulting to ../shared/data)\n");
}

int m3ae_bench_loader(int argc, char **argv) {
    const char *data = NULL, *vocab = NULL, *threads_s = "1";
    int image_size = 288, batch = 32, max_len = 64, random_crop = 0;
    double seconds = 5.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return M3AE_EXIT_OK;
        } else if (!strcmp(a, "--random-crop")) {
            random_crop = 1;
        } else if (i + 1 < argc && !strcmp(a, "--data")) {
            data = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--vocab")) {
            vocab = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--threads")) {
            threads_s = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--image-size")) {
            image_size = atoi(argv[++i]);
        } else if (i + 1 < argc && !strcmp(a, "--batch")) {
            batch = atoi(argv[++i]);
        } else if (i + 1 < argc && !strcmp(a, "--max-text-len")) {
            max_len = atoi(argv[++i]);
        } else if (i + 1 < argc && !strcmp(a, "--seconds")) {
            seconds = atof(argv[++i]);
        } else {
            fprintf(stderr, "m3ae: error: unknown or incomplete option '%s' (`m3ae bench loader --help`)\n", a);
            return M3AE_EXIT_USAGE;
        }
    }
    if (!data) {
        fprintf(stderr, "m3ae: error: `m3ae bench loader` needs --data DIR (a dataset written by `m3ae prep`)\n");
        return M3AE_EXIT_USAGE;
    }
    if (image_size < 16 || image_size % 16 || batch < 1 || max_len < 2 || !(seconds > 0)) {
        fprintf(stderr, "m3ae: error: --image-size must be a multiple of 16, --batch >= 1, --max-text-len >= 2, "
                        "--seconds > 0\n");
        return M3AE_EXIT_USAGE;
    }
    char vbuf[4096];
    if (!vocab) {
        const char *root = getenv("M3AE_DATA");
        snprintf(vbuf, sizeof vbuf, "%s/vocab/roberta-base", root ? root : "../shared/data");
        vocab = vbuf;
    }
    m3ae_error err;
    m3ae_tokenizer *tok = m3ae_tokenizer_load(vocab, &err);
    if (!tok) {
        fprintf(stderr, "m3ae: error: %s\n", err.msg);
        return M3AE_EXIT_DATA;
    }
    char host[256] = "unknown";
    gethostname(host, sizeof host - 1);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("m3ae bench loader  (host %s, %ld CPUs)\n", host, ncpu);
    printf("  data %s, image %d, batch %d, max_text_len %d, %s, ~%.0f s per row\n", data, image_size, batch, max_len,
           random_crop ? "clip_resizedcrop" : "clip", seconds);
    printf("| threads | batches | samples | seconds | samples/s | samples/s per thread | MLM tokens/batch |\n"
           "|---:|---:|---:|---:|---:|---:|---:|\n");
    int rc = M3AE_EXIT_OK;
    const char *p = threads_s;
    while (*p && rc == M3AE_EXIT_OK) {
        int t = atoi(p);
        if (t < 1) {
            fprintf(stderr, "m3ae: error: --threads expects positive integers separated by commas\n");
            rc = M3AE_EXIT_USAGE;
            break;
        }
        m3ae_loader_config c = {.data_dir = data, .tokenizer = tok, .batch_size = batch, .image_size = image_size,
                                .patch_size = 16, .max_text_len = max_len, .mim_ratio = 0.75f, .mlm_prob = 0.15f,
                                .mlm_mode = M3AE_MLM_OFFICIAL, .random_crop = random_crop, .seed = 0, .rank = 0,
                                .world = 1, .threads = t};
        m3ae_loader *l = m3ae_loader_open(&c, &err);
        if (!l) {
            fprintf(stderr, "m3ae: error: %s\n", err.msg);
            rc = M3AE_EXIT_DATA;
            break;
        }
        const m3ae_loader_batch *b;
        if (m3ae_loader_next(l, &b, &err)) { /* warm-up: page cache, first prefetch */
            fprintf(stderr, "m3ae: error: %s\n", err.msg);
            m3ae_loader_close(l);
            rc = M3AE_EXIT_DATA;
            break;
        }
        long long batches = 0, mlm = 0;
        double t0 = m3ae_now_s(), el = 0;
        do {
            if (m3ae_loader_next(l, &b, &err)) {
                fprintf(stderr, "m3ae: error: %s\n", err.msg);
                rc = M3AE_EXIT_DATA;
                break;
            }
            batches++;
            mlm += b->n_mlm_masked;
            el = m3ae_now_s() - t0;
        } while (el < seconds);
        m3ae_loader_close(l);
        if (rc) break;
        double sps = (double)batches * batch / el;
        printf("| %d | %lld | %lld | %.2f | %.1f | %.1f | %.2f |\n", t, batches, batches * batch, el, sps, sps / t,
               batches ? (double)mlm / (double)batches : 0.0);
        fflush(stdout);
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }
    m3ae_tokenizer_free(tok);
    return rc;
}
