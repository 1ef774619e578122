/* io/targets.c on a prepared dataset: test_targets DIR N_LABELS "LABEL:TYPE:ALT,ALT ..." checks
 * every sample's label, answer type and acceptable labels against the expected list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "io/targets.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: test_targets DIR N_LABELS EXPECTED\n");
        return 2;
    }
    m3ae_targets t;
    m3ae_error err;
    int rc = m3ae_targets_read(argv[1], (uint32_t)atoi(argv[2]), &t, &err);
    T_CHECK(rc == 0, "%s", rc ? err.msg : "");
    char *exp = strdup(argv[3]), *save = NULL;
    uint64_t i = 0;
    for (char *tok = strtok_r(exp, " ", &save); !rc && tok; tok = strtok_r(NULL, " ", &save), i++) {
        T_CHECK(i < t.n, "sample %llu missing", (unsigned long long)i);
        if (i >= t.n) break;
        int label, type;
        char alts[256] = "", got[256] = "";
        sscanf(tok, "%d:%d:%255s", &label, &type, alts);
        for (uint64_t k = t.first[i]; k < t.first[i + 1]; k++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", k > t.first[i] ? "," : "", t.all[k]);
        T_CHECK(t.label[i] == label && t.answer_type[i] == type && !strcmp(got, alts),
                "sample %llu: label %d type %d labels '%s', expected %s", (unsigned long long)i, t.label[i],
                t.answer_type[i], got, tok);
    }
    T_CHECK(rc || i == t.n, "%llu samples, expected %llu", (unsigned long long)t.n, (unsigned long long)i);
    /* a bad file is refused with its line named */
    m3ae_targets bad;
    T_CHECK(m3ae_targets_read(argv[1], 0, &bad, &err) != 0 && strstr(err.msg, " line "),
            "with 0 labels a labelled sample must be refused, naming its line");
    free(exp);
    m3ae_targets_free(&t);
    return t_done("test_targets");
}
