/* m3ae evaluate --task vqa: the accuracy of a fine-tuned checkpoint on a prepared split, every
 * question once, in the dataset's order (not the training pipeline's shuffled, batch-rounded order),
 * with the evaluation transform (clip). A prediction is the argmax of the VQA head; it is correct
 * when it is one of the sample's acceptable labels (targets.jsonl: VQA-Med 2019 '#' alternatives),
 * so an answer outside the training vocabulary (label -1) counts as wrong. Prints overall, open and
 * closed accuracy with their counts, and --json writes {"overall", "open", "closed", "n", ...}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoints/ckpt.h"
#include "common/error.h"
#include "common/log.h"
#include "io/manifest.h"
#include "io/samplers/vqa.h"
#include "io/shard.h"
#include "io/targets.h"
#include "io/tokenizer.h"
#include "launch/commands.h"
#include "launch/eval_irtr.h"
#include "launch/train/task_vqa.h"
#include "launch/train_config.h"
#include "model/m3ae.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: m3ae evaluate --task vqa --checkpoint FILE --data DIR [--json OUT] [key=value ...]\n\n"
            "Evaluates a fine-tuned checkpoint (m3ae finetune, or an official one converted with\n"
            "tools/convert_checkpoint.py) on a split prepared by `m3ae prep` with the training split's\n"
            "vocabulary (--answer-vocab TRAIN_DIR). Every question once, clip transform, argmax of the head;\n"
            "answers outside the vocabulary count as wrong.\n\n"
            "  --task vqa         VQA accuracy: overall, open, closed (answer_type of targets.jsonl)\n"
            "  --checkpoint FILE  the weights and the model configuration (its config text)\n"
            "  --data DIR         the split to evaluate (task vqa, the checkpoint's label count)\n"
            "  --json OUT         also write {\"overall\", \"open\", \"closed\", \"n\", \"n_open\", \"n_closed\"}\n"
            "  key=value          per_gpu_batchsize (evaluation batch), threads, device, vocab (when the\n"
            "                     checkpoint's relative vocab path does not resolve from here)\n\n"
            "usage: m3ae evaluate --task irtr --checkpoint FILE --data DIR [--json OUT] [--groups pair|caption]\n"
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
            "                     the images of a case share a caption). Default: pair for task irtr, else caption\n"
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
} vqa_score;

/* Scores the first b->B samples of the staged batch from the logits (B,n) on the host. */
static void score_batch(const float *logits, int B, int n, const m3ae_vqa_batch *b, const m3ae_targets *t, vqa_score *s) {
    for (int i = 0; i < B; i++) {
        const float *x = logits + (size_t)i * n;
        int arg = 0;
        for (int j = 1; j < n; j++)
            if (x[j] > x[arg]) arg = j;
        const uint64_t g = (uint64_t)b->sample_ids[i];
        int ok = 0;
        for (uint64_t k = t->first[g]; k < t->first[g + 1]; k++) ok |= t->all[k] == arg;
        const int type = t->answer_type[g]; /* 0 closed, 1 open */
        s->n[0]++, s->correct[0] += ok;
        if (type == 1) s->n[1]++, s->correct[1] += ok;
        if (type == 0) s->n[2]++, s->correct[2] += ok;
    }
}

static double acc(const vqa_score *s, int k) { return s->n[k] ? (double)s->correct[k] / (double)s->n[k] : 0.0; }

/* Runs the model on one built batch of B samples and scores it. */
static void run_batch(m3ae_model *m, m3ae_vqa_batch *vb, int B, float *hlog, const m3ae_targets *t, vqa_score *s) {
    const int n = m3ae_model_config(m)->vqa_labels;
    m3ae_batch mb = {.B = B, .images = vb->images, .text_ids = vb->text_ids, .text_masks = vb->text_masks,
                     .vqa_labels = vb->labels, .sample_ids = vb->sample_ids};
    m3ae_model_stage(m, &mb);
    m3ae_model_forward(m, M3AE_PASS_VQA, &mb);
    size_t numel = 0;
    const float *lg = m3ae_model_output(m, "vqa_logits", &numel);
    m3ae_backend *be = m3ae_model_backend(m);
    be->ops->download(be, hlog, lg, (size_t)B * n * sizeof(float));
    score_batch(hlog, B, n, vb, t, s);
}

static int evaluate_vqa(const char *ckpt, const char *dir, const char *json, int n_over, char **over) {
    m3ae_error err = {{0}};
    m3ae_ckpt_meta *meta = calloc(1, sizeof *meta);
    m3ae_train_config *cfg = calloc(1, sizeof *cfg);
    if (!meta || !cfg) return free(meta), free(cfg), fprintf(stderr, "m3ae: error: out of memory\n"), M3AE_EXIT_SYSTEM;
    int rc = m3ae_ckpt_read_meta(ckpt, meta, &err), code = M3AE_EXIT_CKPT;
    m3ae_train_config_defaults(cfg);
    if (rc == 0) rc = m3ae_train_config_from_text(cfg, meta->config, &err);
    free(meta);
    for (int i = 0; rc == 0 && i < n_over; i++) rc = m3ae_train_config_override(cfg, over[i], &err);
    m3ae_manifest man;
    int have_man = 0;
    if (rc == 0) {
        code = M3AE_EXIT_DATA;
        rc = m3ae_manifest_read(dir, &man, &err);
        have_man = rc == 0;
    }
    if (rc == 0 && strcmp(man.task.task, "vqa"))
        rc = m3ae_error_set(&err, "dataset %s is not a VQA dataset (no task \"vqa\" in its manifest)", dir);
    m3ae_targets t = {0};
    m3ae_tokenizer *tok = NULL;
    m3ae_backend *be = NULL;
    m3ae_model *m = NULL;
    void *batch = NULL;
    float *hlog = NULL;
    vqa_score sc = {{0}, {0}};
    if (rc == 0) {
        cfg->model.vqa_labels = (int)man.task.n_labels;
        rc = m3ae_targets_read(dir, man.task.n_labels, &t, &err);
    }
    if (rc == 0 && !(tok = m3ae_tokenizer_load(cfg->vocab, &err))) rc = -1;
    if (rc == 0) {
        code = M3AE_EXIT_USAGE;
        m3ae_backend_options bopt = {.threads = (int)cfg->threads, .act_dtype = M3AE_DTYPE_F32};
        if (!(be = m3ae_backend_open(cfg->device, &bopt, &err))) rc = -1;
    }
    const int B = (int)cfg->per_gpu_batchsize;
    if (rc == 0) {
        code = M3AE_EXIT_CKPT;
        m = m3ae_model_create(&cfg->model, be, B);
        m3ae_model_init_params(m, 0);
        m3ae_model_set_train(m, 0, 0);
        int fresh_head = 0;
        rc = m3ae_vqa_load_weights(ckpt, m, &fresh_head, &err);
        if (rc == 0 && fresh_head)
            rc = m3ae_error_set(&err, "checkpoint %s has no VQA head (vqa_head.*): evaluate a checkpoint of m3ae finetune "
                                "--task vqa", ckpt);
    }
    m3ae_vqa_sampler smp;
    m3ae_vqa_sampler_config smc = {.tokenizer = tok, .image_size = cfg->model.image_size,
                                   .max_text_len = cfg->model.max_text_len, .random_crop = 0,
                                   .n_labels = cfg->model.vqa_labels, .seed = 0};
    if (rc == 0) {
        code = M3AE_EXIT_DATA;
        rc = m3ae_vqa_sampler_init(&smp, &smc, &err);
    }
    int32_t *scratch = NULL;
    if (rc == 0) {
        batch = m3ae_vqa_batch_alloc(&smp, B);
        hlog = malloc((size_t)B * cfg->model.vqa_labels * sizeof(float));
        scratch = malloc((size_t)cfg->model.max_text_len * sizeof(int32_t));
        if (!hlog || !scratch) rc = m3ae_error_set(&err, "out of memory");
    }
    /* every record of every shard in manifest order: sample g = record g (one question a record) */
    uint64_t g = 0;
    int fill = 0;
    for (int sh = 0; rc == 0 && sh < man.n_shards; sh++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, man.shards[sh].name);
        m3ae_shard *s = m3ae_shard_open(path, man.shards[sh].name, &err);
        m3ae_shard_reader *r = s ? m3ae_shard_reader_begin(s, &err) : NULL;
        if (!r) rc = -1;
        for (uint64_t k = 0; rc == 0 && k < man.shards[sh].records; k++, g++) {
            m3ae_record_view v;
            rc = m3ae_shard_read(r, k, 1, &v, &err);
            if (rc == 0 && g >= t.n) rc = m3ae_error_set(&err, "dataset %s: more records than targets.jsonl lines", dir);
            if (rc == 0) rc = m3ae_vqa_sample_build(&smp, &v, 0, 0, g, batch, fill, scratch, &err);
            if (rc == 0 && ++fill == B) run_batch(m, batch, fill, hlog, &t, &sc), fill = 0;
        }
        if (r) m3ae_shard_reader_end(r);
        if (s) m3ae_shard_close(s);
    }
    if (rc == 0 && fill) run_batch(m, batch, fill, hlog, &t, &sc);
    if (rc == 0 && g != t.n)
        rc = m3ae_error_set(&err, "dataset %s: %llu records but %llu targets.jsonl lines", dir, (unsigned long long)g,
                            (unsigned long long)t.n);
    if (rc == 0) {
        printf("VQA evaluation of %s on %s (%llu questions, %d labels, unseen answers wrong)\n", ckpt, dir,
               (unsigned long long)g, cfg->model.vqa_labels);
        printf("%-8s %9s %7s\n", "split", "accuracy", "n");
        static const char *names[3] = {"overall", "open", "closed"};
        for (int k = 0; k < 3; k++) printf("%-8s %9.4f %7ld\n", names[k], acc(&sc, k), sc.n[k]);
        if (json) {
            char text[512];
            snprintf(text, sizeof text,
                     "{\"task\": \"vqa\", \"overall\": %.6f, \"open\": %.6f, \"closed\": %.6f, \"n\": %ld, \"n_open\": %ld, "
                     "\"n_closed\": %ld, \"correct\": %ld}\n",
                     acc(&sc, 0), acc(&sc, 1), acc(&sc, 2), sc.n[0], sc.n[1], sc.n[2], sc.correct[0]);
            FILE *f = fopen(json, "w");
            if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
                rc = m3ae_error_set(&err, "cannot write %s", json);
                code = M3AE_EXIT_SYSTEM;
            }
        }
    }
    if (rc != 0) fprintf(stderr, "m3ae: error: %s\n", err.msg);
    free(scratch);
    free(hlog);
    if (batch) m3ae_vqa_batch_free(batch);
    if (m) m3ae_model_destroy(m);
    if (be) m3ae_backend_close(be);
    if (tok) m3ae_tokenizer_free(tok);
    m3ae_targets_free(&t);
    if (have_man) m3ae_manifest_free(&man);
    free(cfg);
    return rc == 0 ? M3AE_EXIT_OK : code;
}

int m3ae_cmd_evaluate(int argc, char **argv) {
    if (m3ae_cli_wants_help(argc, argv)) return usage(stdout), M3AE_EXIT_OK;
    const char *task = NULL, *ckpt = NULL, *dir = NULL, *json = NULL, *groups = NULL, *scores = NULL;
    long max_images = 0;
    char **over = calloc((size_t)argc, sizeof *over);
    int n_over = 0;
    if (!over) return fprintf(stderr, "m3ae: error: out of memory\n"), M3AE_EXIT_SYSTEM;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "--task") && v) task = v, i++;
        else if (!strcmp(s, "--checkpoint") && v) ckpt = v, i++;
        else if (!strcmp(s, "--data") && v) dir = v, i++;
        else if (!strcmp(s, "--json") && v) json = v, i++;
        else if (!strcmp(s, "--groups") && v) groups = v, i++;
        else if (!strcmp(s, "--scores") && v) scores = v, i++;
        else if (!strcmp(s, "--max-images") && v && atol(v) > 0) max_images = atol(v), i++;
        else if (s[0] != '-' && strchr(s, '=')) over[n_over++] = argv[i];
        else {
            fprintf(stderr, "m3ae: error: unknown or incomplete argument '%s' for m3ae evaluate (see --help)\n", s);
            free(over);
            return M3AE_EXIT_USAGE;
        }
    }
    int code = M3AE_EXIT_USAGE;
    if (!task || !ckpt || !dir)
        fprintf(stderr, "m3ae: error: m3ae evaluate needs --task vqa|irtr, --checkpoint FILE and --data DIR (see --help)\n");
    else if (!strcmp(task, "irtr"))
        code = m3ae_evaluate_irtr(&(m3ae_irtr_eval_args){ckpt, dir, json, groups, scores, max_images}, n_over, over);
    else if (strcmp(task, "vqa"))
        fprintf(stderr, "m3ae: error: --task %s is not available: this build evaluates --task vqa and irtr (cls is not "
                        "implemented yet)\n", task);
    else
        code = evaluate_vqa(ckpt, dir, json, n_over, over);
    free(over);
    return code;
}
