/* `m3ae prep --format roco`: ROCO's captions file (one "ROCO_id<TAB>caption" a line; --input is the
 * file, or a folder holding captions.txt) with the images in images/<id>.jpg beside it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/prep_source.h"

int m3ae_prep_parse_roco(const char *input, m3ae_prep_list *l, m3ae_error *err) {
    char file[4200];
    struct stat st;
    if (stat(input, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(file, sizeof file, "%s/captions.txt", input);
    else
        snprintf(file, sizeof file, "%s", input);
    FILE *f = fopen(file, "rb");
    if (!f) return m3ae_error_set(err, "cannot open the ROCO captions file '%s': %s", file, strerror(errno)), 3;
    char *buf = NULL, rel[4200], path[8400];
    size_t cap = 0;
    long n;
    uint64_t line = 0;
    int rc = 0;
    while (!rc && (n = m3ae_prep_getline(&buf, &cap, f)) >= 0) {
        line++;
        if (n == 0) continue;
        char *tab = memchr(buf, '\t', (size_t)n);
        if (!tab || tab == buf) {
            l->input_texts++;
            l->rejected_texts++;
            m3ae_prep_reject(l, "line", line, NULL, NULL, "not \"id<TAB>caption\"");
            continue;
        }
        *tab = 0;
        snprintf(rel, sizeof rel, "images/%s.jpg", buf);
        m3ae_prep_join(path, sizeof path, file, rel);
        const char *text = tab + 1;
        if (m3ae_prep_add(l, path, rel, text, (size_t)(buf + n - text), line, 1, err) < 0) rc = 5;
    }
    free(buf);
    fclose(f);
    return rc;
}
