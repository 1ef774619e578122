/* `m3ae prep --format jsonl`: one JSON object a line with "image" (path relative to the jsonl file)
 * and "caption" (string) or "captions" (array of strings); optional task fields "question",
 * "answer" (strings) and "label" (integer) make the line its own record (not grouped by image). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "io/prep_source.h"

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n), d[n] = 0;
    return d;
}

int m3ae_prep_parse_jsonl(const char *input, m3ae_prep_list *l, m3ae_error *err) {
    FILE *f = fopen(input, "rb");
    if (!f) return m3ae_error_set(err, "cannot open the input '%s': %s", input, strerror(errno)), 3;
    char *buf = NULL, path[8192];
    size_t cap = 0;
    long n;
    uint64_t line = 0;
    int rc = 0;
    while (!rc && (n = m3ae_prep_getline(&buf, &cap, f)) >= 0) {
        line++;
        size_t k = 0;
        while (k < (size_t)n && (buf[k] == ' ' || buf[k] == '\t')) k++;
        if (k == (size_t)n) continue; /* blank line */
        m3ae_error e;
        m3ae_json *j = m3ae_json_parse(buf, (size_t)n, &e);
        const char *image = j ? m3ae_json_str(m3ae_json_get(j, "image"), NULL) : NULL;
        const m3ae_json *cap1 = j ? m3ae_json_get(j, "caption") : NULL, *caps = j ? m3ae_json_get(j, "captions") : NULL;
        int ok_caps = cap1 ? m3ae_json_type(cap1) == M3AE_JSON_STRING
                           : (m3ae_json_type(caps) == M3AE_JSON_ARRAY && m3ae_json_len(caps) > 0);
        if (!j || !image || !*image || !ok_caps) {
            char reason[M3AE_ERROR_LEN + 64];
            if (!j)
                snprintf(reason, sizeof reason, "not valid JSON: %s", e.msg);
            else
                snprintf(reason, sizeof reason, "no \"image\" string or no \"caption\"/\"captions\" text");
            l->input_texts++;
            l->rejected_texts++;
            m3ae_prep_reject(l, "line", line, image, NULL, reason);
            m3ae_json_free(j);
            continue;
        }
        const m3ae_json *q = m3ae_json_get(j, "question"), *a = m3ae_json_get(j, "answer"), *lb = m3ae_json_get(j, "label");
        int task = q || a || lb;
        m3ae_prep_join(path, sizeof path, input, image);
        long idx = -2;
        size_t nc = cap1 ? 1 : m3ae_json_len(caps);
        for (size_t c = 0; c < nc && !rc; c++) {
            const m3ae_json *t = cap1 ? cap1 : m3ae_json_at(caps, c);
            size_t tl;
            const char *text = m3ae_json_str(t, &tl);
            if (!text) {
                l->input_texts++;
                l->rejected_texts++;
                m3ae_prep_reject(l, "text", line, image, NULL, "caption is not a string");
                continue;
            }
            /* further captions of a task line join its own item */
            idx = m3ae_prep_add(l, path, image, text, tl, line, task ? (idx >= 0 ? 2 : 0) : 1, err);
            if (idx < 0) rc = 5;
        }
        if (!rc && idx >= 0 && task) {
            m3ae_prep_item *it = &l->items[idx];
            size_t ql, al;
            const char *qs = m3ae_json_str(q, &ql), *as = m3ae_json_str(a, &al);
            if (qs) it->question = dup_n(qs, ql);
            if (as) it->answer = dup_n(as, al);
            double lv = m3ae_json_num(lb);
            if (lv >= 0 && lv < 2147483647.0) it->label = (int32_t)lv;
        }
        m3ae_json_free(j);
    }
    free(buf);
    fclose(f);
    return rc;
}
