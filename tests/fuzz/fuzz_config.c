/* libFuzzer target for the configuration parser (launch/train_config.c): any bytes as a --config
 * file's text (m3ae_train_config_from_text) and, line by line, as `key=value` arguments
 * (m3ae_train_config_override), then validation and writing the result back as text. Each call
 * either succeeds or fails with a message; a configuration that parsed and validated must read back
 * from its own text to the same text (the run folder's config.cfg is read on resume). Never a
 * crash, a leak or an out-of-bounds access. Built and run by tests/fuzz/run_fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch/train_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char text_a[65536], text_b[65536];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 16384) return 0;
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    static m3ae_train_config c, back;
    m3ae_error err;
    err.msg[0] = '\0';
    m3ae_train_config_defaults(&c);
    if (m3ae_train_config_from_text(&c, s, &err) != 0 && !err.msg[0]) abort();
    /* each line as an override of the defaults (the command line's key=value arguments) */
    m3ae_train_config_defaults(&c);
    int all_ok = 1;
    for (char *save = NULL, *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        err.msg[0] = '\0';
        if (m3ae_train_config_override(&c, line, &err) != 0) {
            if (!err.msg[0]) abort();
            all_ok = 0;
        }
    }
    if (all_ok && m3ae_train_config_validate(&c, 1, &err) == 0) {
        size_t n = m3ae_train_config_text(&c, text_a, sizeof text_a);
        if (n >= sizeof text_a) abort();
        m3ae_train_config_defaults(&back);
        if (m3ae_train_config_from_text(&back, text_a, &err) != 0) {
            fprintf(stderr, "a valid configuration does not read back from its own text: %s\n%s\n", err.msg, text_a);
            abort();
        }
        m3ae_train_config_text(&back, text_b, sizeof text_b);
        if (strcmp(text_a, text_b) != 0) {
            fprintf(stderr, "the configuration text changed on reading it back:\n%s\n---\n%s\n", text_a, text_b);
            abort();
        }
    }
    free(s);
    return 0;
}
