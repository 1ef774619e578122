/* io/answers.c: normalize_word on hand-picked cases (each quirk of the official), the vocabulary,
 * and, given a file of {"raw": ..., "norm": ...} lines from tools/reference/normalize_word.py, every
 * answer against the Python reference (the worst mismatch is named). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "harness.h"
#include "io/answers.h"
#include "io/prep_source.h"

#define CK(c) T_CHECK(c, "%s", "(details above)")

static int check(const char *in, const char *want) {
    char *got = m3ae_normalize_answer(in, strlen(in));
    int ok = got && !strcmp(got, want);
    if (!ok) fprintf(stderr, "normalize(\"%s\") = \"%s\", expected \"%s\"\n", in, got ? got : "(null)", want);
    free(got);
    return ok;
}

int main(int argc, char **argv) {
    CK(check("Yes", "yes"));
    CK(check("The left lung.", "left lung"));
    CK(check("  Two  ", "2"));
    CK(check("none", "0"));
    CK(check("an apple, a pear", "apple pear"));           /* ", " touches a space: removed */
    CK(check("left-sided", "left sided"));                  /* no space next to '-': a space */
    CK(check("left - sided", "left sided"));                /* "- " found: '-' removed */
    CK(check("1,000 x-ray", "1000 xray"));                  /* digit,digit anywhere: all removed */
    CK(check("2.5 cm.", "2.5 cm"));                         /* a period before a digit stays */
    CK(check("dont know", "don't know"));
    CK(check("Ive", "ive"));                                /* capital keys never match */
    CK(check("t2/flair", "t2 flair"));
    CK(check("the", ""));                                   /* normalises to nothing */
    CK(check("4", "4"));
    /* only the first 32 periods go (re.UNICODE passed as count) */
    char dots[64];
    memset(dots, '.', 40);
    dots[40] = 'a';
    dots[41] = 0;
    CK(check(dots, "........a"));

    m3ae_vocab v = {0};
    CK(m3ae_vocab_add(&v, "yes") == 0 && m3ae_vocab_add(&v, "no") == 1 && m3ae_vocab_add(&v, "yes") == 0);
    char w[32];
    for (int i = 0; i < 300; i++) {
        snprintf(w, sizeof w, "w%d", i);
        CK(m3ae_vocab_add(&v, w) == i + 2);
    }
    CK(m3ae_vocab_find(&v, "w299") == 301 && m3ae_vocab_find(&v, "absent") == -1);
    CK(m3ae_vocab_sort(&v) == 0 && !strcmp(v.words[0], "no") && m3ae_vocab_find(&v, "yes") == (int)v.n - 1);
    m3ae_vocab_free(&v);

    if (argc > 1) { /* the reference's output on every answer of a real file */
        FILE *f = fopen(argv[1], "rb");
        CK(f != NULL);
        char *buf = NULL;
        size_t cap = 0;
        long n, lines = 0, bad = 0;
        while (f && (n = m3ae_prep_getline(&buf, &cap, f)) >= 0) {
            m3ae_error e;
            m3ae_json *j = m3ae_json_parse(buf, (size_t)n, &e);
            size_t rl;
            const char *raw = m3ae_json_str(m3ae_json_get(j, "raw"), &rl), *want = m3ae_json_str(m3ae_json_get(j, "norm"), NULL);
            CK(raw && want);
            char *got = m3ae_normalize_answer(raw, rl);
            if (!got || strcmp(got, want)) {
                if (bad++ < 10) fprintf(stderr, "answer %ld \"%s\": C \"%s\", Python \"%s\"\n", lines + 1, raw, got, want);
            }
            free(got);
            m3ae_json_free(j);
            lines++;
        }
        free(buf);
        if (f) fclose(f);
        fprintf(stderr, "%ld answers compared with the Python reference, %ld differ\n", lines, bad);
        CK(bad == 0 && lines > 0);
        if (argc > 2) CK(lines == atol(argv[2]));
    }
    return t_done("test_answers");
}
