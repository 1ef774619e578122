#include "io/targets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "io/prep_source.h"

void m3ae_targets_free(m3ae_targets *t) {
    free(t->answer_type), free(t->label), free(t->first), free(t->all);
    memset(t, 0, sizeof *t);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

int m3ae_targets_read(const char *dir, uint32_t n_labels, m3ae_targets *t, m3ae_error *err) {
    memset(t, 0, sizeof *t);
    char path[4200];
    snprintf(path, sizeof path, "%s/targets.jsonl", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return m3ae_error_set(err, "cannot open '%s': %s; is '%s' a vqa/cls dataset from `m3ae prep`?", path,
                              strerror(errno), dir);
    char *buf = NULL;
    size_t cap = 0, cap_n = 0, cap_l = 0, cap_first = 0, cap_all = 0, n_all = 0;
    long len;
    int rc = 0;
    while (!rc && (len = m3ae_prep_getline(&buf, &cap, f)) >= 0) {
        m3ae_error e;
        m3ae_json *j = m3ae_json_parse(buf, (size_t)len, &e);
        const m3ae_json *labels = m3ae_json_get(j, "labels");
        double s = m3ae_json_num(m3ae_json_get(j, "sample")), lb = m3ae_json_num(m3ae_json_get(j, "label"));
        const char *at = m3ae_json_str(m3ae_json_get(j, "answer_type"), NULL);
        if (!j || s != (double)t->n || !(lb >= -1 && lb < n_labels) || m3ae_json_type(labels) != M3AE_JSON_ARRAY) {
            rc = m3ae_error_set(err, "'%s' line %llu: not sample %llu with a label in -1..%u and a labels array; "
                                     "convert the data again with `m3ae prep`",
                                path, (unsigned long long)t->n + 1, (unsigned long long)t->n, n_labels - 1);
            m3ae_json_free(j);
            break;
        }
        if (grow((void **)&t->answer_type, &cap_n, t->n + 1, 1) ||
            grow((void **)&t->label, &cap_l, t->n + 1, sizeof *t->label) ||
            grow((void **)&t->first, &cap_first, t->n + 2, sizeof *t->first) ||
            grow((void **)&t->all, &cap_all, n_all + m3ae_json_len(labels) + 1, sizeof *t->all)) {
            rc = m3ae_error_set(err, "out of memory reading '%s'", path);
            m3ae_json_free(j);
            break;
        }
        t->answer_type[t->n] = (int8_t)(at ? (!strcmp(at, "open") ? 1 : 0) : -1);
        t->label[t->n] = (int32_t)lb;
        t->first[t->n] = n_all;
        for (size_t k = 0; k < m3ae_json_len(labels); k++) {
            double v = m3ae_json_num(m3ae_json_at(labels, k));
            if (!(v >= 0 && v < n_labels)) {
                rc = m3ae_error_set(err, "'%s' line %llu: label %g outside 0..%u", path, (unsigned long long)t->n + 1,
                                    v, n_labels - 1);
                break;
            }
            t->all[n_all++] = (int32_t)v;
        }
        t->n++;
        t->first[t->n] = n_all;
        m3ae_json_free(j);
    }
    free(buf);
    fclose(f);
    if (rc) m3ae_targets_free(t);
    return rc;
}
