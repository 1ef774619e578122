/* m3ae bench tokenizer: single-thread tokenizer throughput on the ROCO captions (or a file). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/sys.h"
#include "common/error.h"
#include "io/tokenizer.h"
#include "launch/bench.h"

static void usage(FILE *f) {
    fprintf(f, "usage: m3ae bench tokenizer [--vocab DIR] [--input FILE] [--seconds S] [--max-len N]\n\n"
               "Encodes every caption again and again on one thread for about S seconds (default 3) and\n"
               "prints MB/s of UTF-8 text, captions/s and tokens/s.\n\n"
               "  --vocab DIR    vocab.json + merges.txt (default $M3AE_DATA/vocab/roberta-base,\n"
               "                 M3AE_DATA defaulting to ../shared/data)\n"
               "  --input FILE   text to encode: a .tsv gives its second column, anything else one\n"
               "                 caption a line (default: the two ROCO caption files of the shared data)\n"
               "  --max-len N    truncate and pad to N as training does (default 0: full length, no padding)\n"
               "Compare with experiments/bench/hf_tokenizer_speed.py (Hugging Face, same text).\n");
}

typedef struct {
    char *buf;
    size_t *off, *len;
    size_t n, cap, bytes;
} corpus;

static int add_file(corpus *c, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "m3ae: error: cannot open '%s' (give the text with --input FILE)\n", path);
        return -1;
    }
    int tsv = strlen(path) > 4 && !strcmp(path + strlen(path) - 4, ".tsv");
    char *line = NULL;
    size_t lcap = 0;
    ssize_t ll;
    while ((ll = getline(&line, &lcap, f)) >= 0) {
        if (ll > 0 && line[ll - 1] == '\n') line[--ll] = '\0';
        char *s = line;
        size_t sl = (size_t)ll;
        if (tsv) {
            char *tab = strchr(line, '\t');
            if (!tab) continue;
            s = tab + 1;
            char *tab2 = strchr(s, '\t');
            sl = tab2 ? (size_t)(tab2 - s) : strlen(s);
        }
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 4096;
            c->off = realloc(c->off, c->cap * sizeof *c->off);
            c->len = realloc(c->len, c->cap * sizeof *c->len);
            M3AE_CHECK(c->off && c->len, M3AE_EXIT_SYSTEM, "out of memory reading '%s'", path);
        }
        c->buf = realloc(c->buf, c->bytes + sl + 1);
        M3AE_CHECK(c->buf, M3AE_EXIT_SYSTEM, "out of memory reading '%s'", path);
        memcpy(c->buf + c->bytes, s, sl);
        c->off[c->n] = c->bytes;
        c->len[c->n++] = sl;
        c->bytes += sl;
    }
    free(line);
    fclose(f);
    return 0;
}

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int m3ae_bench_tokenizer(int argc, char **argv) {
    const char *vocab = NULL, *input = NULL;
    double seconds = 3.0;
    int max_len = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return M3AE_EXIT_OK;
        } else if (!strcmp(argv[i], "--vocab") && i + 1 < argc) {
            vocab = argv[++i];
        } else if (!strcmp(argv[i], "--input") && i + 1 < argc) {
            input = argv[++i];
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--max-len") && i + 1 < argc) {
            max_len = atoi(argv[++i]);
        } else {
            fprintf(stderr, "m3ae: error: unknown or incomplete option '%s' (`m3ae bench tokenizer --help`)\n", argv[i]);
            return M3AE_EXIT_USAGE;
        }
    }
    if (!(seconds > 0) || max_len < 0 || max_len == 1) {
        fprintf(stderr, "m3ae: error: --seconds must be > 0 and --max-len 0 or >= 2\n");
        return M3AE_EXIT_USAGE;
    }
    const char *data = getenv("M3AE_DATA");
    if (!data) data = "../shared/data";
    char vbuf[4096], ibuf[2][4096];
    if (!vocab) {
        snprintf(vbuf, sizeof vbuf, "%s/vocab/roberta-base", data);
        vocab = vbuf;
    }
    corpus c = {0};
    if (input) {
        if (add_file(&c, input)) return M3AE_EXIT_DATA;
    } else {
        snprintf(ibuf[0], sizeof ibuf[0], "%s/roco_text/test_radiology_captions.tsv", data);
        snprintf(ibuf[1], sizeof ibuf[1], "%s/roco_text/validation_radiology_captions.tsv", data);
        if (add_file(&c, ibuf[0]) || add_file(&c, ibuf[1])) return M3AE_EXIT_DATA;
    }
    if (!c.n) {
        fprintf(stderr, "m3ae: error: no text to encode in the input\n");
        return M3AE_EXIT_DATA;
    }
    m3ae_error err;
    double t0 = m3ae_now_s();
    m3ae_tokenizer *tok = m3ae_tokenizer_load(vocab, &err);
    double load_s = m3ae_now_s() - t0;
    if (!tok) {
        fprintf(stderr, "m3ae: error: %s\n", err.msg);
        return M3AE_EXIT_DATA;
    }
    int cap = 1 << 16;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    M3AE_CHECK(ids, M3AE_EXIT_SYSTEM, "out of memory");
    long long tokens = 0, caps = 0, passes = 0;
    double bytes = 0, t_start = m3ae_now_s(), el = 0, cpu_start = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    do {
        for (size_t i = 0; i < c.n; i++) {
            int n = m3ae_tokenizer_encode(tok, c.buf + c.off[i], c.len[i], ids, cap, max_len, max_len > 0);
            M3AE_CHECK(n >= 0 && n <= cap, M3AE_EXIT_FAIL, "encoding caption %zu failed", i);
            tokens += n;
        }
        caps += (long long)c.n;
        bytes += (double)c.bytes;
        passes++;
        el = m3ae_now_s() - t_start;
    } while (el < seconds);
    double cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
    char cpu[256];
    m3ae_cpu_name(cpu, sizeof cpu);
    printf("m3ae bench tokenizer  (%s, 1 thread)\n", cpu);
    printf("  input      %s (%zu captions, %.2f MB)\n", input ? input : "ROCO captions (test + validation)", c.n,
           (double)c.bytes / 1e6);
    printf("  vocab      %s (%d tokens), loaded in %.1f ms\n", vocab, m3ae_tokenizer_vocab_size(tok), 1e3 * load_s);
    printf("  max_len    %d%s\n", max_len, max_len ? " (truncate + pad)" : " (full length)");
    printf("  command    m3ae bench");
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\n");
    printf("MB/s and the rates are per wall-clock second; 'MB/s per CPU s' divides by the process CPU time\n"
           "instead (steadier on a shared machine).\n");
    printf("| passes | seconds | MB/s | MB/s per CPU s | captions/s | tokens/s |\n|---:|---:|---:|---:|---:|---:|\n");
    printf("| %lld | %.2f | %.2f | %.2f | %.0f | %.0f |\n", passes, el, bytes / 1e6 / el, bytes / 1e6 / cpu_s,
           (double)caps / el, (double)tokens / el);
    free(ids);
    m3ae_tokenizer_free(tok);
    free(c.buf);
    free(c.off);
    free(c.len);
    return M3AE_EXIT_OK;
}
