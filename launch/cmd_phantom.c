/* m3ae phantom: writes the synthetic radiology corpus (io/phantom.h) as PNG files + captions.jsonl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "io/phantom.h"
#include "launch/commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: m3ae phantom --out DIR [--count N] [--seed S] [--size PX]\n\n"
            "Writes a synthetic radiology-like corpus: N grey CT/MRI \"scans\" of the chest, abdomen or\n"
            "head with zero to two lesions of random size, brightness, shape and position, as\n"
            "DIR/images/phantom_NNNNNN.png, and DIR/captions.jsonl with one caption per image that states\n"
            "them (\"Axial CT of the chest shows a large hyperdense round lesion in the left upper lobe.\").\n"
            "Convert it with: m3ae prep --format jsonl --input DIR/captions.jsonl --out DATA\n\n"
            "  --out DIR     output folder (created)\n"
            "  --count N     number of images (default 1000)\n"
            "  --seed S      corpus seed (default 0); image i is a pure function of (S, i)\n"
            "  --size PX     image side in pixels (default 160)\n");
}

int m3ae_cmd_phantom(int argc, char **argv) {
    if (m3ae_cli_wants_help(argc, argv)) return usage(stdout), M3AE_EXIT_OK;
    const char *out = NULL;
    long long count = 1000, seed = 0, size = 160;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--out") && v) out = v, i++;
        else if ((!strcmp(a, "--count") || !strcmp(a, "--seed") || !strcmp(a, "--size")) && v) {
            long long x = strtoll(v, &end, 10);
            if (*end || x < 0) {
                fprintf(stderr, "m3ae: error: %s expects a non-negative integer, got '%s'\n", a, v);
                return M3AE_EXIT_USAGE;
            }
            *(a[2] == 'c' ? &count : a[3] == 'e' ? &seed : &size) = x;
            i++;
        } else {
            fprintf(stderr, "m3ae: error: unknown or incomplete option '%s' for m3ae phantom\n", a);
            usage(stderr);
            return M3AE_EXIT_USAGE;
        }
    }
    if (!out) {
        fprintf(stderr, "m3ae: error: m3ae phantom needs --out DIR\n");
        return M3AE_EXIT_USAGE;
    }
    if (size < 32 || size > 4096 || count < 1) {
        fprintf(stderr, "m3ae: error: --size must be 32..4096 and --count at least 1\n");
        return M3AE_EXIT_USAGE;
    }
    m3ae_error err;
    if (m3ae_phantom_write_corpus(out, (uint64_t)seed, (uint64_t)count, (int)size, isatty(2) || count >= 500, &err)) {
        fprintf(stderr, "m3ae: error: %s\n", err.msg);
        return M3AE_EXIT_SYSTEM;
    }
    printf("phantom: wrote %lld images of %lldx%lld and %s/captions.jsonl (seed %lld)\n", count, size, size, out, seed);
    return M3AE_EXIT_OK;
}
