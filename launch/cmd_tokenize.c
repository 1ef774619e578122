/* m3ae tokenize: RoBERTa BPE ids of each line of stdin (a debugging and scripting aid). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "io/tokenizer.h"
#include "launch/commands.h"

static void usage(FILE *f) {
    fprintf(f, "usage: m3ae tokenize --vocab DIR [--max-len N]\n\n"
               "Reads UTF-8 text from stdin, one caption per line, and prints the RoBERTa token ids of\n"
               "each line space-separated, as <s> ... </s> (ids 0 and 2), exactly as Hugging Face\n"
               "RobertaTokenizerFast does. Only the final '\\n' of a line is removed (a '\\r' is text).\n"
               "Invalid UTF-8 is read as U+FFFD, like Python's decode(errors=\"replace\").\n\n"
               "options:\n"
               "  --vocab DIR     folder with vocab.json and merges.txt (e.g. ../shared/data/vocab/roberta-base)\n"
               "  --max-len N     truncate to N ids (keeping </s>) and pad with <pad> (id 1) to N; N >= 2\n"
               "  -h, --help      this help\n");
}

int m3ae_cmd_tokenize(int argc, char **argv) {
    if (m3ae_cli_wants_help(argc, argv)) {
        usage(stdout);
        return M3AE_EXIT_OK;
    }
    const char *vocab = NULL;
    long max_len = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vocab") && i + 1 < argc) {
            vocab = argv[++i];
        } else if (!strcmp(argv[i], "--max-len") && i + 1 < argc) {
            char *end;
            errno = 0;
            max_len = strtol(argv[++i], &end, 10);
            if (errno || *end || max_len < 2 || max_len > 1000000) {
                fprintf(stderr, "m3ae: error: --max-len needs an integer from 2 to 1000000 (got '%s')\n", argv[i]);
                return M3AE_EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "m3ae: error: unknown or incomplete option '%s' (`m3ae tokenize --help`)\n", argv[i]);
            return M3AE_EXIT_USAGE;
        }
    }
    if (!vocab) {
        fprintf(stderr, "m3ae: error: `m3ae tokenize` needs --vocab DIR (a folder with vocab.json and merges.txt)\n");
        usage(stderr);
        return M3AE_EXIT_USAGE;
    }
    m3ae_error err;
    m3ae_tokenizer *tok = m3ae_tokenizer_load(vocab, &err);
    if (!tok) {
        fprintf(stderr, "m3ae: error: %s\n", err.msg);
        return M3AE_EXIT_DATA;
    }
    char *line = NULL;
    size_t lcap = 0;
    int32_t *ids = NULL;
    int cap = 0, rc = M3AE_EXIT_OK;
    ssize_t n;
    while ((n = getline(&line, &lcap, stdin)) >= 0) {
        if (n > 0 && line[n - 1] == '\n') n--;
        int k = m3ae_tokenizer_encode(tok, line, (size_t)n, ids, cap, (int)max_len, max_len > 0);
        int need = max_len > 0 ? (int)max_len : k;
        if (k >= 0 && need > cap) {
            cap = need;
            int32_t *ni = realloc(ids, (size_t)cap * sizeof *ids);
            if (!ni) {
                fprintf(stderr, "m3ae: error: out of memory for %d token ids\n", cap);
                rc = M3AE_EXIT_SYSTEM;
                break;
            }
            ids = ni;
            k = m3ae_tokenizer_encode(tok, line, (size_t)n, ids, cap, (int)max_len, max_len > 0);
        }
        if (k < 0) {
            fprintf(stderr, "m3ae: error: cannot tokenize a line of %zd bytes (out of memory?)\n", n);
            rc = M3AE_EXIT_FAIL;
            break;
        }
        for (int i = 0; i < need; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    }
    if (fflush(stdout) != 0 && rc == M3AE_EXIT_OK) {
        fprintf(stderr, "m3ae: error: cannot write the ids to stdout: %s\n", strerror(errno));
        rc = M3AE_EXIT_FAIL;
    }
    free(line);
    free(ids);
    m3ae_tokenizer_free(tok);
    return rc;
}
