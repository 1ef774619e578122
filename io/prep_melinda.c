/* `m3ae prep --format melinda`: MELINDA (Wu et al. 2021) as released: a folder with train.csv,
 * dev.csv, test.csv (header row; columns figure_file, caption, i_meth, p_meth, i_meth_label,
 * p_meth_label; RFC 4180 quoting as pandas reads it) and melinda_images/. One sample per row:
 * the caption with its figure, the class of --label-field (default p_meth_label, 7 classes, as the
 * official scripts). The class names are sorted (the official sorted(set(...)), here by code point). */
#include <stdlib.h>
#include <string.h>

#include "io/prep_task.h"

/* One CSV record from *p: fields into f (at most nmax; more are counted), in place (quotes removed,
 * "" unescaped). Returns the field count, 0 at the end. *line advances by the newlines read. */
static int csv_record(char **p, char **f, int nmax, uint64_t *line) {
    char *s = *p;
    if (!*s) return 0;
    int n = 0;
    for (;;) {
        char *out = s, *start = s;
        if (*s == '"') {
            s++;
            for (;;) {
                if (!*s) break;
                if (*s == '"' && s[1] == '"') {
                    *out++ = '"';
                    s += 2;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    if (*s == '\n') (*line)++;
                    *out++ = *s++;
                }
            }
            while (*s && *s != ',' && *s != '\n' && *s != '\r') *out++ = *s++; /* text after a closing quote */
        } else {
            while (*s && *s != ',' && *s != '\n' && *s != '\r') out++, s++;
            out = s;
        }
        char c = *s;
        if (n < nmax) f[n] = start;
        n++;
        if (c == '\r' && s[1] == '\n') *s++ = 0;
        *out = 0;
        if (c == ',') {
            s++;
            continue;
        }
        if (c) s++;
        if (c == '\n' || c == '\r') (*line)++;
        break;
    }
    *p = s;
    return n;
}

static int col(char **h, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(h[i], name)) return i;
    return -1;
}

#define MAXCOL 64

static int read_csv(const char *file, const char *split, const char *images, const char *field, m3ae_task_input *t,
                    m3ae_prep_list *l, m3ae_error *err) {
    char *text;
    size_t len;
    int rc = m3ae_task_read_file(file, &text, &len, err);
    if (rc || (rc = m3ae_task_add_input(t, file, err))) {
        if (!rc) free(text);
        return rc;
    }
    char *p = text, *h[MAXCOL], *f[MAXCOL], path[9000];
    uint64_t line = 1, start;
    int nh = csv_record(&p, h, MAXCOL, &line);
    int ci = col(h, nh, "figure_file"), cc = col(h, nh, "caption"), cl = col(h, nh, field);
    if (nh > MAXCOL || ci < 0 || cc < 0 || cl < 0) {
        free(text);
        return m3ae_error_set(err, "'%s': the header has no figure_file, caption or %s column; is it a MELINDA CSV?",
                              file, field),
               M3AE_EXIT_DATA;
    }
    int n;
    while (!rc && (start = line, n = csv_record(&p, f, MAXCOL, &line)) > 0) {
        if (n == 1 && !*f[0]) continue; /* blank line */
        if (n != nh) {
            char reason[96];
            snprintf(reason, sizeof reason, "broken line: %d fields, the header has %d", n, nh);
            m3ae_task_reject(t, l, split, start, n > ci ? f[ci] : NULL, NULL, reason);
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", images, f[ci]);
        rc = m3ae_task_add(t, split, f[ci], path, f[cc], strlen(f[cc]), f[cl], strlen(f[cl]), NULL, -1, start, err);
    }
    free(text);
    return rc;
}

int m3ae_prep_parse_melinda(const m3ae_prep_options *o, m3ae_task_input *t, m3ae_prep_list *l, m3ae_error *err) {
    t->task = "cls";
    t->sort_labels = 1;
    const char *field = o->label_field ? o->label_field : "p_meth_label";
    static const char *const fields[] = {"p_meth_label", "i_meth_label", "p_meth", "i_meth"};
    static const uint32_t classes[] = {7, 15, 45, 85}; /* spec m3ae.md 3.4 */
    int fi = -1;
    for (int k = 0; k < 4; k++)
        if (!strcmp(field, fields[k])) fi = k;
    if (fi < 0)
        return m3ae_error_set(err, "--label-field '%s' is not a MELINDA label column (p_meth_label, i_meth_label, "
                                   "p_meth, i_meth)", field),
               M3AE_EXIT_USAGE;
    t->official = (m3ae_task_official){"MELINDA", classes[fi], 0, 0, 0};
    if (!m3ae_task_is_dir(o->input))
        return m3ae_error_set(err, "--input '%s' is not a folder: give the MELINDA folder with train.csv, dev.csv, "
                                   "test.csv", o->input),
               M3AE_EXIT_USAGE;
    char file[9000], images[9000];
    snprintf(images, sizeof images, "%s", o->images ? o->images : "");
    if (!o->images) snprintf(images, sizeof images, "%s/melinda_images", o->input);
    static const char *const names[] = {"train.csv", "dev.csv", "test.csv"};
    static const char *const splits[] = {"train", "val", "test"};
    int rc = 0, any = 0;
    for (int k = 0; !rc && k < 3; k++) {
        snprintf(file, sizeof file, "%s/%s", o->input, names[k]);
        if (!m3ae_task_is_file(file)) continue;
        any = 1;
        rc = read_csv(file, splits[k], images, field, t, l, err);
    }
    if (!rc && !any)
        return m3ae_error_set(err, "'%s' holds none of train.csv, dev.csv, test.csv", o->input), M3AE_EXIT_DATA;
    return rc;
}
