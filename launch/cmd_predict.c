/* m3ae predict: answers questions about images with a fine-tuned VQA checkpoint (--task vqa, the
 * default), or classifies image-caption pairs with a fine-tuned classification checkpoint (--task
 * cls), for people who want to look at the answers. A JSONL in ({"image": PATH, "question": TEXT} a
 * line; cls: "caption"), a JSONL out (the same fields plus "answer" (cls: "label"), the label of the
 * argmax, and "score", its sigmoid (cls: its softmax probability)). The image goes
 * the way of a prepared dataset: decoded, its shorter side resized to the vocabulary folder's
 * store_size (as m3ae prep stores it), then the evaluation transform (clip); the question is
 * cleaned as m3ae prep cleans it (whitespace runs -> one space, stripped) and tokenized. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"
#include "io/image.h"
#include "io/image_transform.h"
#include "io/manifest.h"
#include "io/tokenizer.h"
#include "launch/commands.h"
#include "launch/eval_model.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: m3ae predict [--task vqa|cls] --checkpoint FILE --labels DATASET_DIR --input Q.jsonl --out A.jsonl\n"
            "                    [key=value ...]\n\n"
            "Answers each question of Q.jsonl ({\"image\": PATH, \"question\": TEXT} a line; a relative PATH is read\n"
            "from Q.jsonl's folder) with a checkpoint of m3ae finetune --task vqa, one question at a time; with\n"
            "--task cls classifies each {\"image\": PATH, \"caption\": TEXT} with a checkpoint of --task cls.\n\n"
            "  --task vqa|cls       the checkpoint's task (default vqa)\n"
            "  --checkpoint FILE    the fine-tuned weights and configuration\n"
            "  --labels DIR         the prepared training split whose label vocabulary the head was trained on\n"
            "                       (its manifest's labels; also its store_size for the image resize)\n"
            "  --input Q.jsonl      questions (cls: captions)\n"
            "  --out A.jsonl        the input fields plus \"answer\" and \"score\" (sigmoid of the answer's logit);\n"
            "                       cls: \"label\" and \"score\" (its softmax probability)\n"
            "  key=value            threads, device, vocab (when the checkpoint's vocab path does not resolve)\n");
}

/* whitespace runs -> one space, stripped (ASCII whitespace; prep also folds Unicode spaces) */
static size_t clean(char *s) {
    size_t k = 0;
    int space = 0;
    for (size_t i = 0; s[i]; i++) {
        if (isspace((unsigned char)s[i])) {
            space = k > 0;
            continue;
        }
        if (space) s[k++] = ' ', space = 0;
        s[k++] = s[i];
    }
    s[k] = 0;
    return k;
}

static int predict(const m3ae_eval_task *task, const char *ckpt, const char *labels_dir, const char *in, const char *out,
                   int n_over, char **over) {
    m3ae_error err = {{0}};
    m3ae_eval_model e;
    const int is_cls = task->pass == M3AE_PASS_CLS;
    int code = M3AE_EXIT_CKPT;
    int rc = m3ae_eval_model_config(&e, ckpt, n_over, over, &err);
    if (!e.cfg) return fprintf(stderr, "m3ae: error: %s\n", err.msg), M3AE_EXIT_SYSTEM;
    m3ae_manifest man;
    int have_man = 0;
    if (rc == 0) code = M3AE_EXIT_DATA, rc = m3ae_manifest_read(labels_dir, &man, &err), have_man = rc == 0;
    if (rc == 0 && (strcmp(man.task.task, task->name) || man.task.n_labels < 1))
        rc = m3ae_error_set(&err, "%s is not a prepared %s dataset with labels", labels_dir, task->what);
    if (rc == 0) {
        *m3ae_eval_task_labels(task, &e.cfg->model) = (int)man.task.n_labels;
        rc = m3ae_eval_model_open(&e, task, ckpt, 1, &code, &err);
    }
    const m3ae_train_config *cfg = e.cfg;
    m3ae_model *m = e.m;
    m3ae_backend *be = e.be;
    m3ae_tokenizer *tok = e.tok;
    const int S = cfg->model.image_size, L = cfg->model.max_text_len, n = (int)(have_man ? man.task.n_labels : 1);
    const char *text_key = is_cls ? "caption" : "question", *out_key = is_cls ? "label" : "answer";
    FILE *fi = NULL, *fo = NULL;
    float *img = rc == 0 ? malloc((size_t)3 * S * S * sizeof(float)) : NULL;
    float *logits = rc == 0 ? malloc((size_t)n * sizeof(float)) : NULL;
    int32_t ids[4096], mask[4096];
    if (rc == 0 && (!img || !logits || L > 4096)) rc = m3ae_error_set(&err, "out of memory");
    if (rc == 0) code = M3AE_EXIT_DATA;
    if (rc == 0 && !(fi = fopen(in, "r"))) rc = m3ae_error_set(&err, "cannot open %s", in);
    if (rc == 0 && !(fo = fopen(out, "w"))) rc = m3ae_error_set(&err, "cannot create %s", out), code = M3AE_EXIT_SYSTEM;
    char base[4096];
    snprintf(base, sizeof base, "%s", in);
    char *slash = strrchr(base, '/');
    if (slash) slash[1] = 0;
    else base[0] = 0;
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0, answered = 0;
    while (rc == 0 && getline(&line, &cap, fi) > 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        m3ae_json *j = m3ae_json_parse(line, strlen(line), &err);
        const char *path = j ? m3ae_json_str(m3ae_json_get(j, "image"), NULL) : NULL;
        const char *qs = j ? m3ae_json_str(m3ae_json_get(j, text_key), NULL) : NULL;
        if (!j) rc = m3ae_error_set(&err, "%s line %ld: %s", in, lineno, err.msg);
        else if (!path || !qs)
            rc = m3ae_error_set(&err, "%s line %ld: needs string fields \"image\" and \"%s\"", in, lineno, text_key);
        char full[8300], q[4096];
        m3ae_image raw = {0}, stored = {0};
        if (rc == 0) {
            snprintf(full, sizeof full, "%s%s", path[0] == '/' ? "" : base, path);
            snprintf(q, sizeof q, "%s", qs);
            rc = m3ae_image_decode_file(full, NULL, &raw, &err);
        }
        if (rc == 0) rc = m3ae_image_resize_shorter(&raw, man.store_size, &stored, &err);
        if (rc == 0) rc = m3ae_transform_clip(&stored, S, img, &err);
        size_t ql = rc == 0 ? clean(q) : 0;
        int nt = rc == 0 ? m3ae_tokenizer_encode(tok, q, (uint32_t)ql, ids, L, L, 1) : 0;
        if (rc == 0 && nt < 0) rc = m3ae_error_set(&err, "%s line %ld: the tokenizer failed on the %s", in, lineno, text_key);
        if (rc == 0) {
            for (int t = 0; t < L; t++) mask[t] = t < nt;
            int32_t lab = -1;
            m3ae_batch b = m3ae_eval_task_batch(task, 1, img, ids, mask, &lab, NULL);
            m3ae_model_stage(m, &b);
            m3ae_model_forward(m, task->pass, &b);
            size_t numel;
            be->ops->download(be, logits, m3ae_model_output(m, task->logits, &numel), (size_t)n * sizeof(float));
            int arg = 0;
            for (int k = 1; k < n; k++)
                if (logits[k] > logits[arg]) arg = k;
            double score = 1.0 / (1.0 + exp(-(double)logits[arg])); /* VQA: sigmoid; cls: softmax below */
            if (is_cls) {
                double z = 0;
                for (int k = 0; k < n; k++) z += exp((double)logits[k] - logits[arg]);
                score = 1.0 / z;
            }
            fputs("{\"image\": ", fo);
            m3ae_json_write_string(fo, path, strlen(path));
            fprintf(fo, ", \"%s\": ", text_key);
            m3ae_json_write_string(fo, qs, strlen(qs));
            fprintf(fo, ", \"%s\": ", out_key);
            m3ae_json_write_string(fo, man.task.labels[arg], strlen(man.task.labels[arg]));
            fprintf(fo, ", \"score\": %.6f}\n", score);
            answered++;
        }
        m3ae_image_free(&raw);
        m3ae_image_free(&stored);
        m3ae_json_free(j);
    }
    free(line);
    if (fi) fclose(fi);
    if (fo && fclose(fo) != 0 && rc == 0) rc = m3ae_error_set(&err, "cannot write %s", out), code = M3AE_EXIT_SYSTEM;
    if (rc == 0) fprintf(stderr, "answered %ld %s(s) into %s\n", answered, text_key, out);
    else fprintf(stderr, "m3ae: error: %s\n", err.msg);
    free(img);
    free(logits);
    m3ae_eval_model_close(&e);
    if (have_man) m3ae_manifest_free(&man);
    return rc == 0 ? M3AE_EXIT_OK : code;
}

int m3ae_cmd_predict(int argc, char **argv) {
    if (m3ae_cli_wants_help(argc, argv)) return usage(stdout), M3AE_EXIT_OK;
    const char *task = "vqa", *ckpt = NULL, *labels = NULL, *in = NULL, *out = NULL;
    char **over = calloc((size_t)argc, sizeof *over);
    int n_over = 0;
    if (!over) return fprintf(stderr, "m3ae: error: out of memory\n"), M3AE_EXIT_SYSTEM;
    const m3ae_cli_opt opts[] = {
        {"--task", &task}, {"--checkpoint", &ckpt}, {"--labels", &labels}, {"--input", &in}, {"--out", &out}};
    if (m3ae_eval_parse_args(argc, argv, "predict", opts, 5, over, &n_over) != 0) return free(over), M3AE_EXIT_USAGE;
    int code = M3AE_EXIT_USAGE;
    const m3ae_eval_task *t = m3ae_eval_task_find(task);
    if (!ckpt || !labels || !in || !out)
        fprintf(stderr, "m3ae: error: m3ae predict needs --checkpoint, --labels, --input and --out (see --help)\n");
    else if (!t)
        fprintf(stderr, "m3ae: error: --task %s is not available: m3ae predict knows --task vqa|cls\n", task);
    else
        code = predict(t, ckpt, labels, in, out, n_over, over);
    free(over);
    return code;
}
