/* `m3ae prep --format jsonl`: one JSON object a line with "image" (path relative to the jsonl file)
 * and "caption" (string) or "captions" (array of strings); optional task fields "question",
 * "answer" (strings) and "label" (integer) make the line its own record (not grouped by image).
 * With --group-key KEY every line must also have the field KEY, a string or a number (MedPix-2.0:
 * "case"); its value becomes the record's group (io/prep.c writes it to groups.jsonl). */
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

/* The group value v as a new string in *out: a string as it is, a number as Python's str()
 * of an int when integral (12 -> "12"), else with 17 significant digits.
 * 0; -1 when v is missing or another type; -2 out of memory. */
static int group_text(const m3ae_json *v, char **out) {
    size_t n;
    const char *s = m3ae_json_str(v, &n);
    if (s) return (*out = dup_n(s, n)) ? 0 : -2;
    if (m3ae_json_type(v) != M3AE_JSON_NUMBER) return -1;
    const double d = m3ae_json_num(v);
    char b[64];
    if (d == (double)(long long)d && d > -1e18 && d < 1e18) snprintf(b, sizeof b, "%lld", (long long)d);
    else snprintf(b, sizeof b, "%.17g", d);
    return (*out = dup_n(b, strlen(b))) ? 0 : -2;
}

int m3ae_prep_parse_jsonl(const char *input, const char *group_key, m3ae_prep_list *l, m3ae_error *err) {
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
        char *group = NULL;
        const int gr = j && image && *image && ok_caps && group_key ? group_text(m3ae_json_get(j, group_key), &group) : 0;
        if (gr == -2) {
            m3ae_json_free(j);
            rc = 5, m3ae_error_set(err, "out of memory (group of line %llu)", (unsigned long long)line);
            break;
        }
        if (!j || !image || !*image || !ok_caps || gr) {
            char reason[M3AE_ERROR_LEN + 64];
            if (!j)
                snprintf(reason, sizeof reason, "not valid JSON: %s", e.msg);
            else if (gr)
                snprintf(reason, sizeof reason, "no \"%.60s\" string or number (--group-key %.60s)", group_key, group_key);
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
        if (!rc && idx >= 0 && group) { /* an image named by several lines keeps one group: they must agree */
            m3ae_prep_item *it = &l->items[idx];
            if (!it->group) it->group = group, group = NULL;
            else if (strcmp(it->group, group))
                rc = 3, m3ae_error_set(err, "%s line %llu: image %s has %s \"%.60s\", but line %llu gave it \"%.60s\"; an "
                                       "image belongs to one group (fix the input or drop --group-key)", input,
                                       (unsigned long long)line, image, group_key, group,
                                       (unsigned long long)it->line, it->group);
        }
        free(group);
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
