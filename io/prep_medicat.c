/* `m3ae prep --format medicat`: the MedICaT release jsonl
 * (s2_full_figures_oa_nonroco_combined_medical_top4_public.jsonl), as the official preprocessing
 * (spec m3ae.md 3.3) reads it: only figures with "radiology": true; texts = "s2_caption" plus every
 * inline reference of "s2orc_references"; image = figures/{pdf_hash}_{fig_uri} beside the jsonl.
 * Unlike the official script, no shuffle or split here: the file order is kept (split the input
 * beforehand if a validation set is wanted). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "io/prep_source.h"

int m3ae_prep_parse_medicat(const char *input, m3ae_prep_list *l, m3ae_error *err) {
    FILE *f = fopen(input, "rb");
    if (!f) return m3ae_error_set(err, "cannot open the MedICaT file '%s': %s", input, strerror(errno)), 3;
    char *buf = NULL, rel[4200], path[8400];
    size_t cap = 0;
    long n;
    uint64_t line = 0;
    int rc = 0;
    while (!rc && (n = m3ae_prep_getline(&buf, &cap, f)) >= 0) {
        line++;
        if (n == 0) continue;
        m3ae_error e;
        m3ae_json *j = m3ae_json_parse(buf, (size_t)n, &e);
        if (!j) {
            char reason[M3AE_ERROR_LEN + 32];
            snprintf(reason, sizeof reason, "not valid JSON: %s", e.msg);
            l->input_texts++;
            l->rejected_texts++;
            m3ae_prep_reject(l, "line", line, NULL, NULL, reason);
            continue;
        }
        if (m3ae_json_bool(m3ae_json_get(j, "radiology")) != 1) { /* the radiology filter */
            m3ae_json_free(j);
            continue;
        }
        const char *hash = m3ae_json_str(m3ae_json_get(j, "pdf_hash"), NULL);
        const char *uri = m3ae_json_str(m3ae_json_get(j, "fig_uri"), NULL);
        size_t cl;
        const char *caption = m3ae_json_str(m3ae_json_get(j, "s2_caption"), &cl);
        if (!hash || !uri || !caption) {
            l->input_texts++;
            l->rejected_texts++;
            m3ae_prep_reject(l, "line", line, NULL, NULL, "no \"pdf_hash\", \"fig_uri\" or \"s2_caption\" string");
            m3ae_json_free(j);
            continue;
        }
        snprintf(rel, sizeof rel, "figures/%s_%s", hash, uri);
        m3ae_prep_join(path, sizeof path, input, rel);
        if (m3ae_prep_add(l, path, rel, caption, cl, line, 1, err) < 0) rc = 5;
        const m3ae_json *refs = m3ae_json_get(j, "s2orc_references");
        for (size_t i = 0; !rc && i < m3ae_json_len(refs) && m3ae_json_type(refs) == M3AE_JSON_ARRAY; i++) {
            size_t rl;
            const char *r = m3ae_json_str(m3ae_json_at(refs, i), &rl);
            if (r && m3ae_prep_add(l, path, rel, r, rl, line, 1, err) < 0) rc = 5;
        }
        m3ae_json_free(j);
    }
    free(buf);
    fclose(f);
    return rc;
}
