/* `m3ae prep --format vqa-rad`: VQA-RAD (Lau et al. 2018) as released, or the MEVF split.
 *  - the official release JSON (`VQA_RAD Dataset Public.json`): one array of questions; the split is
 *    in `phrase_type`: freeform|para = train, test_freeform|test_para = test;
 *  - the MEVF files `trainset.json` / `valset.json` / `testset.json` (the split the official M3AE
 *    uses, 3,064 / 451): given one of them, every sibling of the three that exists is read (valset is
 *    a copy of testset, it only matters for --answer-vocab all, as in the official).
 * Fields used: image_name, question, answer (string or number, taken as Python's str()),
 * answer_type (CLOSED/OPEN, stripped and case-folded as the official), qid. Images: --images, else
 * images/ beside the file (or the release's "VQA_RAD Image Folder"). */
#include <stdlib.h>
#include <string.h>

#include "io/prep_task.h"

static const char *file_split(const char *base) {
    if (!strcmp(base, "testset.json")) return "test";
    if (!strcmp(base, "valset.json")) return "val";
    return "train";
}

/* VQA-RAD and SLAKE share the layout; entries with a broken field are rejected (line = 1-based entry). */
int m3ae_task_read_vqa_json(const char *file, const char *split, const char *images, const char *image_key,
                            const char *lang, m3ae_task_input *t, m3ae_prep_list *l, m3ae_error *err) {
    char *text;
    size_t len;
    int rc = m3ae_task_read_file(file, &text, &len, err);
    if (rc) return rc;
    if ((rc = m3ae_task_add_input(t, file, err))) {
        free(text);
        return rc;
    }
    m3ae_error e;
    m3ae_json *j = m3ae_json_parse(text, len, &e);
    free(text);
    if (!j || m3ae_json_type(j) != M3AE_JSON_ARRAY) {
        m3ae_json_free(j);
        return m3ae_error_set(err, "'%s' is not a JSON array of questions%s%s; give the official release file", file,
                              j ? "" : ": ", j ? "" : e.msg),
               M3AE_EXIT_DATA;
    }
    char path[8400], qbuf[64], abuf[64];
    for (size_t k = 0; !rc && k < m3ae_json_len(j); k++) {
        const m3ae_json *q = m3ae_json_at(j, k);
        size_t ql = 0, al = 0, il = 0, dummy;
        const char *image = m3ae_json_str(m3ae_json_get(q, image_key), &il);
        const char *question = m3ae_json_str(m3ae_json_get(q, "question"), &ql);
        const char *answer = m3ae_task_json_text(m3ae_json_get(q, "answer"), abuf, sizeof abuf, &al);
        const char *qid = m3ae_task_json_text(m3ae_json_get(q, "qid"), qbuf, sizeof qbuf, &dummy);
        const char *atype = m3ae_json_str(m3ae_json_get(q, "answer_type"), NULL);
        const char *phrase = m3ae_json_str(m3ae_json_get(q, "phrase_type"), NULL);
        const char *qlang = m3ae_json_str(m3ae_json_get(q, "q_lang"), NULL);
        if (lang && strcmp(lang, "all") && (!qlang || strcmp(qlang, lang))) {
            t->skipped++;
            snprintf(t->skipped_reason, sizeof t->skipped_reason, "q_lang is not '%s' (--lang)", lang);
            continue;
        }
        char reason[160] = "";
        int type = -1;
        if (!image || !*image || !question || !answer)
            snprintf(reason, sizeof reason, "entry %zu has no %s string, \"question\" string or \"answer\"", k + 1,
                     image_key);
        else if (atype) {
            char at[16] = "";
            size_t a = 0, b = strlen(atype);
            while (a < b && (atype[a] == ' ' || atype[a] == '\t' || atype[a] == '\n')) a++;
            while (b > a && (atype[b - 1] == ' ' || atype[b - 1] == '\t' || atype[b - 1] == '\n')) b--;
            for (size_t c = a; c < b && c - a < sizeof at - 1; c++)
                at[c - a] = (char)((atype[c] >= 'A' && atype[c] <= 'Z') ? atype[c] + 32 : atype[c]);
            if (b - a < sizeof at && !strcmp(at, "closed")) type = 0;
            else if (b - a < sizeof at && !strcmp(at, "open")) type = 1;
            else snprintf(reason, sizeof reason, "unknown answer_type '%.40s' (CLOSED or OPEN)", atype);
        } else
            snprintf(reason, sizeof reason, "entry %zu has no \"answer_type\" (CLOSED or OPEN)", k + 1);
        const char *sp = phrase && !strncmp(phrase, "test_", 5) ? "test" : split;
        if (reason[0]) {
            m3ae_task_reject(t, l, sp, k + 1, image, question, reason);
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", images, image);
        rc = m3ae_task_add(t, sp, image, path, question, ql, answer, al, qid, type, k + 1, err);
    }
    m3ae_json_free(j);
    return rc;
}

int m3ae_prep_parse_vqa_rad(const m3ae_prep_options *o, m3ae_task_input *t, m3ae_prep_list *l, m3ae_error *err) {
    t->task = "vqa";
    t->official = (m3ae_task_official){"VQA-RAD (MEVF split)", 498, 3064, 0, 451};
    if (!m3ae_task_is_file(o->input))
        return m3ae_error_set(err, "--input '%s' is not a file: give `VQA_RAD Dataset Public.json` or the MEVF "
                                   "trainset.json", o->input),
               M3AE_EXIT_USAGE;
    char dir[4096], images[4200], file[4400];
    m3ae_task_dirname(dir, sizeof dir, o->input);
    if (o->images)
        snprintf(images, sizeof images, "%s", o->images);
    else {
        snprintf(images, sizeof images, "%s/images", dir);
        if (!m3ae_task_is_dir(images)) snprintf(images, sizeof images, "%s/VQA_RAD Image Folder", dir);
    }
    const char *slash = strrchr(o->input, '/');
    const char *base = slash ? slash + 1 : o->input;
    int mevf = !strcmp(base, "trainset.json") || !strcmp(base, "valset.json") || !strcmp(base, "testset.json");
    if (!mevf) return m3ae_task_read_vqa_json(o->input, "train", images, "image_name", NULL, t, l, err);
    static const char *const names[] = {"trainset.json", "valset.json", "testset.json"};
    for (int k = 0; k < 3; k++) {
        snprintf(file, sizeof file, "%s/%s", dir, names[k]);
        if (strcmp(names[k], base) && !m3ae_task_is_file(file)) continue;
        int rc = m3ae_task_read_vqa_json(file, file_split(names[k]), images, "image_name", NULL, t, l, err);
        if (rc) return rc;
    }
    return 0;
}
