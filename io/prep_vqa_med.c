/* `m3ae prep --format vqa-med-2019`: ImageCLEF VQA-Med 2019 as released. --input is the folder that
 * holds the three release folders side by side:
 *   ImageClef-2019-VQA-Med-Training/QAPairsByCategory/C1_Modality_train.txt, C2_Plane_train.txt,
 *     C3_Organ_train.txt (lines "imageID|question|answer"), images Train_images/<imageID>.jpg
 *   ImageClef-2019-VQA-Med-Validation/QAPairsByCategory/C1_Modality_val.txt, ... , Val_images/
 *   VQAMed2019Test/VQAMed2019_Test_Questions_w_Ref_Answers.txt (lines
 *     "imageID|category|question|answer", answers may hold '#'-separated alternatives),
 *     VQAMed2019Test/VQAMed2019_Test_Images/
 * As the official (spec m3ae.md 4.1): categories C1-C3 only, concatenated in the official order
 * Modality, Organ, Plane (C4 abnormality is left out and counted as skipped), every answer "open".
 * A test line whose category is none of modality, organ, plane, abnormality is rejected. */
#include <stdlib.h>
#include <string.h>

#include "io/prep_task.h"

static const char *const cats[] = {"modality", "organ", "plane"};
static const char *const cat_files[] = {"C1_Modality", "C3_Organ", "C2_Plane"};

static int add_line(m3ae_task_input *t, const char *split, const char *images, char *f[4], int n, uint64_t line,
                    m3ae_error *err) {
    char image[600], path[9000];
    snprintf(image, sizeof image, "%s.jpg", f[0]);
    snprintf(path, sizeof path, "%s/%s", images, image);
    const char *q = f[n - 2], *a = f[n - 1];
    return m3ae_task_add(t, split, image, path, q, strlen(q), a, strlen(a), NULL, 1, line, err);
}

/* Splits buf at '|' into at most 5 fields; returns the count. */
static int fields(char *buf, char *f[5]) {
    int n = 0;
    f[n++] = buf;
    for (char *c = buf; *c; c++)
        if (*c == '|') {
            *c = 0;
            if (n == 5) return 6;
            f[n++] = c + 1;
        }
    return n;
}

static int read_pairs(const char *file, const char *split, const char *images, int want, const char *category,
                      m3ae_task_input *t, m3ae_prep_list *l, m3ae_error *err) {
    FILE *fp = fopen(file, "rb");
    if (!fp) return m3ae_error_set(err, "cannot open '%s'; is --input the folder holding the VQA-Med 2019 release "
                                        "folders?", file),
                 M3AE_EXIT_DATA;
    char *buf = NULL;
    size_t cap = 0;
    long n;
    uint64_t line = 0;
    int rc = 0;
    while (!rc && (n = m3ae_prep_getline(&buf, &cap, fp)) >= 0) {
        line++;
        if (n == 0) continue;
        char *f[5];
        int nf = fields(buf, f);
        if (nf != want || !*f[0]) {
            if (want == 4 && strcmp(category, cats[0])) continue; /* the test file: rejected in the first pass */
            char reason[96];
            snprintf(reason, sizeof reason, "broken line: %d '|'-separated fields, expected %d", nf, want);
            m3ae_task_reject(t, l, split, line, nf ? f[0] : NULL, NULL, reason);
            continue;
        }
        if (want == 3) {
            rc = add_line(t, split, images, f, nf, line, err);
            continue;
        }
        /* the test file: one category per pass, so the order is the official's (modality, organ, plane) */
        int known = !strcmp(f[1], "abnormality");
        for (int c = 0; c < 3; c++) known |= !strcmp(f[1], cats[c]);
        if (!known) {
            if (!strcmp(category, cats[0])) { /* rejected once, in the first pass */
                char reason[160];
                snprintf(reason, sizeof reason, "unknown category '%.60s' (modality, organ, plane, abnormality)", f[1]);
                m3ae_task_reject(t, l, split, line, f[0], f[2], reason);
            }
            continue;
        }
        if (!strcmp(f[1], "abnormality")) {
            if (!strcmp(category, cats[0])) {
                t->skipped++;
                snprintf(t->skipped_reason, sizeof t->skipped_reason,
                         "category C4 abnormality, left out as the official");
            }
            continue;
        }
        if (!strcmp(f[1], category)) rc = add_line(t, split, images, f, nf, line, err);
    }
    free(buf);
    fclose(fp);
    return rc;
}

int m3ae_prep_parse_vqa_med(const m3ae_prep_options *o, m3ae_task_input *t, m3ae_prep_list *l, m3ae_error *err) {
    t->task = "vqa";
    t->alternatives = 1;
    t->official = (m3ae_task_official){"VQA-Med 2019 (C1-C3)", 79, 0, 0, 0};
    if (!m3ae_task_is_dir(o->input))
        return m3ae_error_set(err, "--input '%s' is not a folder: give the folder holding "
                                   "ImageClef-2019-VQA-Med-Training/, -Validation/ and VQAMed2019Test/", o->input),
               M3AE_EXIT_USAGE;
    static const char *const rel[] = {"ImageClef-2019-VQA-Med-Training", "ImageClef-2019-VQA-Med-Validation"};
    static const char *const img[] = {"Train_images", "Val_images"};
    static const char *const suf[] = {"train", "val"};
    char file[9000], images[9000];
    int rc = 0, any = 0;
    for (int s = 0; !rc && s < 2; s++) {
        snprintf(file, sizeof file, "%s/%s", o->input, rel[s]);
        if (!m3ae_task_is_dir(file)) continue;
        any = 1;
        snprintf(images, sizeof images, "%s/%s/%s", o->input, rel[s], img[s]);
        if (o->images) snprintf(images, sizeof images, "%s", o->images);
        for (int c = 0; !rc && c < 3; c++) {
            snprintf(file, sizeof file, "%s/%s/QAPairsByCategory/%s_%s.txt", o->input, rel[s], cat_files[c], suf[s]);
            if (!(rc = m3ae_task_add_input(t, file, err)))
                rc = read_pairs(file, suf[s], images, 3, NULL, t, l, err);
        }
    }
    snprintf(file, sizeof file, "%s/VQAMed2019Test/VQAMed2019_Test_Questions_w_Ref_Answers.txt", o->input);
    if (!rc && m3ae_task_is_file(file)) {
        any = 1;
        snprintf(images, sizeof images, "%s/VQAMed2019Test/VQAMed2019_Test_Images", o->input);
        if (o->images) snprintf(images, sizeof images, "%s", o->images);
        rc = m3ae_task_add_input(t, file, err);
        for (int c = 0; !rc && c < 3; c++) rc = read_pairs(file, "test", images, 4, cats[c], t, l, err);
    }
    if (!rc && !any)
        return m3ae_error_set(err, "'%s' holds no VQA-Med 2019 release folder (ImageClef-2019-VQA-Med-Training, "
                                   "-Validation, VQAMed2019Test)", o->input),
               M3AE_EXIT_DATA;
    return rc;
}
