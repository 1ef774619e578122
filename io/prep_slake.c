/* `m3ae prep --format slake`: SLAKE 1.0 (Liu et al. 2021) as released: a folder with train.json,
 * validate.json and test.json (JSON arrays of questions: img_name such as "xmlab102/source.jpg",
 * question, answer, answer_type OPEN/CLOSED, q_lang "en"/"zh", qid) and imgs/. --input is the folder
 * (or one of its JSON files); every split file present is read (train, val, test). Only English
 * questions by default (q_lang == "en", as the official; --lang zh|all). */
#include <string.h>

#include "io/prep_task.h"

int m3ae_prep_parse_slake(const m3ae_prep_options *o, m3ae_task_input *t, m3ae_prep_list *l, m3ae_error *err) {
    t->task = "vqa";
    t->official = (m3ae_task_official){"SLAKE (English)", 222, 0, 0, 0};
    char dir[4096], images[4200], file[4400];
    if (m3ae_task_is_dir(o->input))
        snprintf(dir, sizeof dir, "%s", o->input);
    else
        m3ae_task_dirname(dir, sizeof dir, o->input);
    snprintf(images, sizeof images, "%s", o->images ? o->images : dir);
    if (!o->images) snprintf(images, sizeof images, "%s/imgs", dir);
    static const char *const names[] = {"train.json", "validate.json", "test.json"};
    static const char *const splits[] = {"train", "val", "test"};
    int any = 0;
    for (int k = 0; k < 3; k++) {
        snprintf(file, sizeof file, "%s/%s", dir, names[k]);
        if (!m3ae_task_is_file(file)) continue;
        any = 1;
        int rc = m3ae_task_read_vqa_json(file, splits[k], images, "img_name", o->lang ? o->lang : "en", t, l, err);
        if (rc) return rc;
    }
    if (!any)
        return m3ae_error_set(err, "'%s' holds none of train.json, validate.json, test.json: give the SLAKE folder",
                              dir),
               M3AE_EXIT_DATA;
    return 0;
}
