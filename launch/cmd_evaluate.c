/* m3ae evaluate --task vqa|cls (irtr: launch/eval_irtr.c): the accuracy of a fine-tuned checkpoint on a prepared split, every
 * sample once, in the dataset's order (not the training pipeline's shuffled, batch-rounded order),
 * with the evaluation transform (clip). A prediction is the argmax of the task's head; it is correct
 * when it is one of the sample's acceptable labels (targets.jsonl: VQA-Med 2019 '#' alternatives),
 * so a label outside the training vocabulary (-1) counts as wrong.
 *   vqa: overall, open and closed accuracy with their counts; --json {"overall", "open", "closed", "n", ...}
 *   cls: accuracy and the counts per class; --json {"accuracy", "n", "correct", "per_class", ...}
 * The tasks are the rows of launch/eval_model.c; each has its report here (reports[]). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "io/manifest.h"
#include "io/samplers/labelled.h"
#include "io/shard.h"
#include "io/targets.h"
#include "launch/commands.h"
#include "launch/eval_irtr.h"
#include "launch/eval_model.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: m3ae evaluate --task vqa|cls --checkpoint FILE --data DIR [--json OUT] [key=value ...]\n\n"
            "Evaluates a fine-tuned checkpoint (m3ae finetune, or an official one converted with\n"
            "tools/convert_checkpoint.py) on a split prepared by `m3ae prep` with the training split's\n"
            "vocabulary (--answer-vocab TRAIN_DIR). Every sample once, clip transform, argmax of the head;\n"
            "labels outside the vocabulary count as wrong.\n\n"
            "  --task vqa         VQA accuracy: overall, open, closed (answer_type of targets.jsonl)\n"
            "  --task cls         classification accuracy (MELINDA, m3ae prep --format melinda) and per class\n"
            "  --checkpoint FILE  the weights and the model configuration (its config text)\n"
            "  --data DIR         the split to evaluate (of the task, with the checkpoint's label count)\n"
            "  --json OUT         also write the numbers: vqa {\"overall\", \"open\", \"closed\", \"n\", \"n_open\",\n"
            "                     \"n_closed\", \"correct\"}; cls {\"accuracy\", \"n\", \"correct\", \"per_class\":\n"
            "                     {LABEL: {\"n\", \"correct\"}}}\n"
            "  key=value          per_gpu_batchsize (evaluation batch), threads, device, vocab (when the\n"
            "                     checkpoint's relative vocab path does not resolve from here)\n\n"
            "usage: m3ae evaluate --task irtr --checkpoint FILE --data DIR [--json OUT] [--groups pair|caption|case]\n"
            "                     [--max-images N] [--scores OUT] [key=value ...]\n\n"
            "Image-text retrieval: R@1/5/10 image-to-text and text-to-image by full cross-encoder scoring of\n"
            "every image x text pair of the split (the encoders run once per image and once per text, the\n"
            "fusion once per pair, per_gpu_batchsize pairs a batch; progress with pairs/s and the ETA). A\n"
            "checkpoint of m3ae finetune --task irtr scores with its irtr_head; a PRETRAINING checkpoint is\n"
            "zero-shot: the ITM head's match row (the official alias). Ties count against the query.\n\n"
            "  --data DIR         m3ae prep --format roco-retrieval (groups pair), or a pretraining dataset of\n"
            "                     m3ae prep --format jsonl such as MedPix (groups caption)\n"
            "  --groups G         pair: each image-caption pair its own group (ROCO, the official);\n"
            "                     caption: one text per distinct caption, any image having it is a hit (MedPix:\n"
            "                     the images of a case share a caption); case: any image of the right case (m3ae prep\n"
            "                     --group-key case: groups.jsonl). Default: case with a group table, pair for\n"
            "                     task irtr, else caption\n"
            "  --max-images N     only the first N images (and their captions) of the split\n"
            "  --scores OUT       write the score matrix: float32 LE, row-major (images, texts), images in the\n"
            "                     dataset's order, texts in order of first appearance\n"
            "  --json OUT         also write {\"i2t_r1\", \"i2t_r5\", \"i2t_r10\", \"t2i_r1\", \"t2i_r5\",\n"
            "                     \"t2i_r10\", \"n_images\", \"n_texts\", \"n\" (image-caption pairs), \"zero_shot\"}\n"
            "  key=value          image_size (288 as the official test script), per_gpu_batchsize, threads,\n"
            "                     device, vocab\n");
}

typedef struct {
    long n[3], correct[3]; /* overall, open, closed */
    long *class_n, *class_correct; /* [n_labels] by the sample's label (label -1: not counted) */
} score;

/* Scores the B samples of the batch from the logits (B,n) on the host. */
static void score_batch(const float *logits, int B, int n, const m3ae_label_batch *b, const m3ae_targets *t, score *s) {
    for (int i = 0; i < B; i++) {
        const float *x = logits + (size_t)i * n;
        int arg = 0;
        for (int j = 1; j < n; j++)
            if (x[j] > x[arg]) arg = j;
        const uint64_t g = (uint64_t)b->sample_ids[i];
        int ok = 0;
        for (uint64_t k = t->first[g]; k < t->first[g + 1]; k++) ok |= t->all[k] == arg;
        const int type = t->answer_type[g]; /* 0 closed, 1 open, -1 none */
        s->n[0]++, s->correct[0] += ok;
        if (type == 1) s->n[1]++, s->correct[1] += ok;
        if (type == 0) s->n[2]++, s->correct[2] += ok;
        if (t->label[g] >= 0) s->class_n[t->label[g]]++, s->class_correct[t->label[g]] += ok;
    }
}

static double acc(long correct, long n) { return n ? (double)correct / (double)n : 0.0; }

/* Runs the model on one built batch of B samples and scores it. */
static void run_batch(const m3ae_eval_task *task, m3ae_model *m, m3ae_label_batch *vb, int B, int n, float *hlog,
                      const m3ae_targets *t, score *s) {
    m3ae_batch mb = m3ae_eval_task_batch(task, B, vb->images, vb->text_ids, vb->text_masks, vb->labels, vb->sample_ids);
    m3ae_model_stage(m, &mb);
    m3ae_model_forward(m, task->pass, &mb);
    size_t numel = 0;
    const float *lg = m3ae_model_output(m, task->logits, &numel);
    m3ae_backend *be = m3ae_model_backend(m);
    be->ops->download(be, hlog, lg, (size_t)B * n * sizeof(float));
    score_batch(hlog, B, n, vb, t, s);
}

/* ---- the reports: a table on stdout and the JSON text ---- */

static int write_json(const char *path, const char *text, m3ae_error *err) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) return m3ae_error_set(err, "cannot write %s", path);
    return 0;
}

static int report_vqa(const score *sc, const m3ae_manifest *man, const char *json, m3ae_error *err) {
    (void)man;
    printf("%-8s %9s %7s\n", "split", "accuracy", "n");
    static const char *names[3] = {"overall", "open", "closed"};
    for (int k = 0; k < 3; k++) printf("%-8s %9.4f %7ld\n", names[k], acc(sc->correct[k], sc->n[k]), sc->n[k]);
    if (!json) return 0;
    char text[512];
    snprintf(text, sizeof text,
             "{\"task\": \"vqa\", \"overall\": %.6f, \"open\": %.6f, \"closed\": %.6f, \"n\": %ld, \"n_open\": %ld, "
             "\"n_closed\": %ld, \"correct\": %ld}\n",
             acc(sc->correct[0], sc->n[0]), acc(sc->correct[1], sc->n[1]), acc(sc->correct[2], sc->n[2]), sc->n[0],
             sc->n[1], sc->n[2], sc->correct[0]);
    return write_json(json, text, err);
}

static int report_cls(const score *sc, const m3ae_manifest *man, const char *json, m3ae_error *err) {
    const uint32_t n = man->task.n_labels;
    printf("%-24s %9s %7s\n", "class", "accuracy", "n");
    for (uint32_t k = 0; k < n; k++)
        printf("%-24s %9.4f %7ld\n", man->task.labels[k], acc(sc->class_correct[k], sc->class_n[k]), sc->class_n[k]);
    printf("%-24s %9.4f %7ld\n", "all", acc(sc->correct[0], sc->n[0]), sc->n[0]);
    if (!json) return 0;
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp", json);
    FILE *f = fopen(tmp, "w");
    if (!f) return m3ae_error_set(err, "cannot create %s", tmp);
    fprintf(f, "{\"task\": \"cls\", \"accuracy\": %.6f, \"n\": %ld, \"correct\": %ld, \"per_class\": {",
            acc(sc->correct[0], sc->n[0]), sc->n[0], sc->correct[0]);
    for (uint32_t k = 0; k < n; k++) {
        if (k) fputs(", ", f);
        m3ae_json_write_string(f, man->task.labels[k], strlen(man->task.labels[k]));
        fprintf(f, ": {\"n\": %ld, \"correct\": %ld}", sc->class_n[k], sc->class_correct[k]);
    }
    fputs("}}\n", f);
    if (ferror(f) | (fclose(f) != 0) || rename(tmp, json) != 0) return remove(tmp), m3ae_error_set(err, "cannot write %s", json);
    return 0;
}

typedef int (*report_fn)(const score *sc, const m3ae_manifest *man, const char *json, m3ae_error *err);

/* Every record of every shard of dir in manifest order (sample g = record g), in batches of B. */
static int evaluate_records(const m3ae_eval_task *task, m3ae_model *m, const m3ae_label_sampler *smp,
                            const char *dir, const m3ae_manifest *man, const m3ae_targets *t, int B, score *sc,
                            uint64_t *count, m3ae_error *err) {
    const m3ae_config *c = m3ae_model_config(m);
    const int n = *m3ae_eval_task_labels(task, (m3ae_config *)c);
    void *batch = m3ae_label_batch_alloc(smp, B);
    float *hlog = malloc((size_t)B * n * sizeof(float));
    int32_t *scratch = malloc((size_t)c->max_text_len * sizeof(int32_t));
    int rc = hlog && scratch ? 0 : m3ae_error_set(err, "out of memory");
    uint64_t g = 0;
    int fill = 0;
    for (int sh = 0; rc == 0 && sh < man->n_shards; sh++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, man->shards[sh].name);
        m3ae_shard *s = m3ae_shard_open(path, man->shards[sh].name, err);
        m3ae_shard_reader *r = s ? m3ae_shard_reader_begin(s, err) : NULL;
        if (!r) rc = -1;
        for (uint64_t k = 0; rc == 0 && k < man->shards[sh].records; k++, g++) {
            m3ae_record_view v;
            rc = m3ae_shard_read(r, k, 1, &v, err);
            if (rc == 0 && g >= t->n) rc = m3ae_error_set(err, "dataset %s: more records than targets.jsonl lines", dir);
            if (rc == 0) rc = m3ae_label_sample_build(smp, &v, 0, 0, g, batch, fill, scratch, err);
            if (rc == 0 && ++fill == B) run_batch(task, m, batch, fill, n, hlog, t, sc), fill = 0;
        }
        if (r) m3ae_shard_reader_end(r);
        if (s) m3ae_shard_close(s);
    }
    if (rc == 0 && fill) run_batch(task, m, batch, fill, n, hlog, t, sc);
    if (rc == 0 && g != t->n)
        rc = m3ae_error_set(err, "dataset %s: %llu records but %llu targets.jsonl lines", dir, (unsigned long long)g,
                            (unsigned long long)t->n);
    *count = g;
    free(scratch);
    free(hlog);
    m3ae_label_batch_free(batch);
    return rc;
}

/* The evaluation of a task with a classifier head (launch/eval_model.h) and its report. */
static int evaluate_labelled(const char *name, report_fn report, const char *ckpt, const char *dir, const char *json,
                             int n_over, char **over) {
    const m3ae_eval_task *task = m3ae_eval_task_find(name);
    m3ae_error err = {{0}};
    m3ae_eval_model e;
    int code = M3AE_EXIT_CKPT;
    int rc = m3ae_eval_model_config(&e, ckpt, n_over, over, &err);
    if (!e.cfg) return fprintf(stderr, "m3ae: error: %s\n", err.msg), M3AE_EXIT_SYSTEM;
    m3ae_manifest man;
    int have_man = 0;
    if (rc == 0) {
        code = M3AE_EXIT_DATA;
        rc = m3ae_manifest_read(dir, &man, &err);
        have_man = rc == 0;
    }
    if (rc == 0 && strcmp(man.task.task, task->name))
        rc = m3ae_error_set(&err, "dataset %s is not a %s dataset (no task \"%s\" in its manifest): convert it with m3ae "
                            "prep --format %s", dir, task->what, task->name, task->formats);
    m3ae_targets t = {0};
    score sc = {{0}, {0}, NULL, NULL};
    if (rc == 0) {
        *m3ae_eval_task_labels(task, &e.cfg->model) = (int)man.task.n_labels;
        rc = m3ae_targets_read(dir, man.task.n_labels, &t, &err);
    }
    if (rc == 0) {
        sc.class_n = calloc(man.task.n_labels + 1, sizeof *sc.class_n);
        sc.class_correct = calloc(man.task.n_labels + 1, sizeof *sc.class_correct);
        if (!sc.class_n || !sc.class_correct) rc = m3ae_error_set(&err, "out of memory"), code = M3AE_EXIT_SYSTEM;
    }
    const int B = (int)e.cfg->per_gpu_batchsize;
    if (rc == 0) rc = m3ae_eval_model_open(&e, task, ckpt, B, &code, &err);
    m3ae_label_sampler smp;
    if (rc == 0) {
        code = M3AE_EXIT_DATA;
        m3ae_label_sampler_config smc = {.tokenizer = e.tok, .image_size = e.cfg->model.image_size,
                                         .max_text_len = e.cfg->model.max_text_len, .random_crop = 0,
                                         .n_labels = (int)man.task.n_labels, .seed = 0};
        rc = m3ae_label_sampler_init(&smp, &smc, &err);
    }
    uint64_t count = 0;
    if (rc == 0) rc = evaluate_records(task, e.m, &smp, dir, &man, &t, B, &sc, &count, &err);
    if (rc == 0) {
        printf("%s evaluation of %s on %s (%llu samples, %u labels, labels outside the vocabulary wrong)\n", task->what,
               ckpt, dir, (unsigned long long)count, man.task.n_labels);
        if (report(&sc, &man, json, &err) != 0) rc = -1, code = M3AE_EXIT_SYSTEM;
    }
    if (rc != 0) fprintf(stderr, "m3ae: error: %s\n", err.msg);
    free(sc.class_n);
    free(sc.class_correct);
    m3ae_eval_model_close(&e);
    m3ae_targets_free(&t);
    if (have_man) m3ae_manifest_free(&man);
    return rc == 0 ? M3AE_EXIT_OK : code;
}

/* --task dispatch: one row per task. */
static const struct {
    const char *task;
    report_fn report; /* for evaluate_labelled */
    int (*run)(const char *task, report_fn report, const char *ckpt, const char *dir, const char *json, int n_over,
               char **over);
} tasks[] = {
    {"vqa", report_vqa, evaluate_labelled},
    {"cls", report_cls, evaluate_labelled},
};

int m3ae_cmd_evaluate(int argc, char **argv) {
    if (m3ae_cli_wants_help(argc, argv)) return usage(stdout), M3AE_EXIT_OK;
    const char *task = NULL, *ckpt = NULL, *dir = NULL, *json = NULL, *groups = NULL, *scores = NULL;
    long max_images = 0;
    char **over = calloc((size_t)argc, sizeof *over);
    int n_over = 0;
    if (!over) return fprintf(stderr, "m3ae: error: out of memory\n"), M3AE_EXIT_SYSTEM;
    const char *max_str = NULL;
    const m3ae_cli_opt opts[] = {{"--task", &task},     {"--checkpoint", &ckpt}, {"--data", &dir},
                                 {"--json", &json},     {"--groups", &groups},   {"--scores", &scores},
                                 {"--max-images", &max_str}};
    if (m3ae_eval_parse_args(argc, argv, "evaluate", opts, 7, over, &n_over) != 0) return free(over), M3AE_EXIT_USAGE;
    if (max_str) {
        char *end = NULL;
        max_images = strtol(max_str, &end, 10);
        if (!*max_str || *end || max_images < 1) {
            fprintf(stderr, "m3ae: error: --max-images %s: expected a positive number of images\n", max_str);
            return free(over), M3AE_EXIT_USAGE;
        }
    }
    int code = M3AE_EXIT_USAGE, row = -1;
    for (int i = 0; task && i < (int)(sizeof tasks / sizeof tasks[0]); i++)
        if (!strcmp(tasks[i].task, task)) row = i;
    if (!task || !ckpt || !dir)
        fprintf(stderr, "m3ae: error: m3ae evaluate needs --task vqa|cls|irtr, --checkpoint FILE and --data DIR (see --help)\n");
    else if (!strcmp(task, "irtr"))
        code = m3ae_evaluate_irtr(&(m3ae_irtr_eval_args){ckpt, dir, json, groups, scores, max_images}, n_over, over);
    else if (groups || scores || max_str)
        fprintf(stderr, "m3ae: error: --groups, --scores and --max-images are options of --task irtr (see --help)\n");
    else if (row < 0)
        fprintf(stderr, "m3ae: error: --task %s is not known: m3ae evaluate has --task vqa|cls|irtr (see --help)\n", task);
    else
        code = tasks[row].run(task, tasks[row].report, ckpt, dir, json, n_over, over);
    free(over);
    return code;
}
