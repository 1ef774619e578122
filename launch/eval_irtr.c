/* Image-text retrieval evaluation (launch/eval_irtr.h). */
#include "launch/eval_irtr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoints/ckpt.h"
#include "checkpoints/h5file.h"
#include "common/log.h"
#include "io/manifest.h"
#include "launch/train/task_vqa.h"
#include "launch/train_config.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const int KS[3] = {1, 5, 10};

/* Adds the hits@k of one query: candidates c < n with score sc[c * stride], hit[c] set for its hits. */
static void rank_query(const float *sc, size_t stride, int n, const unsigned char *hit, double *acc) {
    float best = 0;
    int have = 0;
    for (int c = 0; c < n; c++)
        if (hit[c] && (!have || sc[(size_t)c * stride] > best)) best = sc[(size_t)c * stride], have = 1;
    if (!have) return; /* a query without hits cannot be ranked (never happens: the reader links both ways) */
    int rank = 0;
    for (int c = 0; c < n; c++) rank += !hit[c] && sc[(size_t)c * stride] >= best;
    for (int k = 0; k < 3; k++) acc[k] += rank < KS[k];
}

void m3ae_irtr_recall(const float *scores, const m3ae_irtr_split *s, m3ae_irtr_result *r) {
    const int NI = s->n_images, NT = s->n_texts;
    unsigned char *hit = calloc((size_t)(NI > NT ? NI : NT), 1);
    M3AE_CHECK(hit, M3AE_EXIT_SYSTEM, "out of memory (recall of %d x %d)", NI, NT);
    for (int k = 0; k < 3; k++) r->i2t[k] = r->t2i[k] = 0;
    for (int i = 0; i < NI; i++) { /* image query: rank the texts of row i */
        for (int h = s->img_first[i]; h < s->img_first[i + 1]; h++) hit[s->img_texts[h]] = 1;
        rank_query(scores + (size_t)i * NT, 1, NT, hit, r->i2t);
        for (int h = s->img_first[i]; h < s->img_first[i + 1]; h++) hit[s->img_texts[h]] = 0;
    }
    for (int t = 0; t < NT; t++) { /* text query: rank the images of column t */
        for (int h = s->txt_first[t]; h < s->txt_first[t + 1]; h++) hit[s->txt_images[h]] = 1;
        rank_query(scores + t, (size_t)NT, NI, hit, r->t2i);
        for (int h = s->txt_first[t]; h < s->txt_first[t + 1]; h++) hit[s->txt_images[h]] = 0;
    }
    for (int k = 0; k < 3; k++) r->i2t[k] /= NI, r->t2i[k] /= NT;
    r->n_images = NI, r->n_texts = NT, r->n_groups = s->n_groups;
    free(hit);
}

/* The image side of the read: a batch of up to B images, encoded into the cache when full. */
typedef struct {
    m3ae_model *m;
    float *batch;   /* (B,3,S,S) */
    int B, fill, first;
    char *cache;    /* (capacity, image feature) */
    int capacity;
} image_sink;

static void flush_images(image_sink *k) {
    if (!k->fill) return;
    m3ae_model_encode_images(k->m, k->batch, k->fill, k->cache + (size_t)k->first * m3ae_model_image_feature_bytes(k->m));
    k->first += k->fill, k->fill = 0;
}

static int on_image(void *ctx, int i, const float *img, m3ae_error *err) {
    image_sink *k = ctx;
    const int S = m3ae_model_config(k->m)->image_size;
    if (i >= k->capacity) return m3ae_error_set(err, "more images than the manifest's %d records", k->capacity);
    memcpy(k->batch + (size_t)k->fill * 3 * S * S, img, (size_t)3 * S * S * sizeof(float));
    if (++k->fill == k->B) flush_images(k);
    return 0;
}

int m3ae_irtr_evaluate(m3ae_model *m, const m3ae_tokenizer *tok, const char *dir, m3ae_irtr_grouping grouping,
                       uint64_t max_images, int progress, const char *scores_path, m3ae_irtr_result *r,
                       m3ae_error *err) {
    const m3ae_config *c = m3ae_model_config(m);
    const int S = c->image_size, L = c->max_text_len;
    memset(r, 0, sizeof *r);
    const double t0 = now_s();
    /* the image cache is planned from the manifest's record count (capped by max_images) */
    m3ae_manifest man;
    if (m3ae_manifest_read(dir, &man, err)) return -1;
    uint64_t records = 0;
    for (int sh = 0; sh < man.n_shards; sh++) records += man.shards[sh].records;
    m3ae_manifest_free(&man);
    if (max_images && records > max_images) records = max_images;
    if (records == 0 || records > 1u << 30) return m3ae_error_set(err, "dataset %s: %llu images to retrieve", dir,
                                                                  (unsigned long long)records);
    m3ae_model_set_train(m, 0, 0);
    const int B = m3ae_model_max_batch(m); /* the pair batch: the largest the model's memory was planned for */
    const size_t ib = m3ae_model_image_feature_bytes(m), tb = m3ae_model_text_feature_bytes(m);
    image_sink k = {.m = m, .B = B, .capacity = (int)records};
    k.batch = malloc((size_t)B * 3 * S * S * sizeof(float));
    k.cache = malloc((size_t)records * ib);
    if (!k.batch || !k.cache) {
        free(k.batch), free(k.cache);
        return m3ae_error_set(err, "out of memory: the image features of %llu images need %.1f MB",
                              (unsigned long long)records, (double)records * ib / 1e6);
    }
    m3ae_irtr_split s;
    m3ae_irtr_split_config sc = {.tokenizer = tok, .image_size = S, .max_text_len = L, .grouping = grouping,
                                 .max_images = max_images};
    int rc = m3ae_irtr_split_read(dir, &sc, on_image, &k, &s, err);
    if (rc == 0) flush_images(&k);
    char *tcache = NULL;
    float *scores = NULL;
    if (rc == 0) {
        tcache = malloc((size_t)s.n_texts * tb);
        scores = malloc((size_t)s.n_images * s.n_texts * sizeof(float));
        if (!tcache || !scores)
            rc = m3ae_error_set(err, "out of memory: %d texts and %d x %d scores", s.n_texts, s.n_images, s.n_texts);
    }
    for (int t0i = 0; rc == 0 && t0i < s.n_texts; t0i += B) {
        const int n = s.n_texts - t0i < B ? s.n_texts - t0i : B;
        m3ae_model_encode_texts(m, s.text_ids + (size_t)t0i * L, s.text_masks + (size_t)t0i * L, n,
                                tcache + (size_t)t0i * tb);
    }
    const void **tp = rc == 0 ? malloc((size_t)B * sizeof *tp) : NULL, **ip = rc == 0 ? malloc((size_t)B * sizeof *ip) : NULL;
    const int32_t **mp = rc == 0 ? malloc((size_t)B * sizeof *mp) : NULL;
    if (rc == 0 && (!tp || !ip || !mp)) rc = m3ae_error_set(err, "out of memory");
    const uint64_t total = rc == 0 ? (uint64_t)s.n_images * (uint64_t)s.n_texts : 0;
    if (rc == 0 && progress)
        m3ae_info("retrieval: %d images x %d texts = %llu pairs, %d a batch (encoders ran once per image and text: "
                  "%.1f s)", s.n_images, s.n_texts, (unsigned long long)total, B, now_s() - t0);
    const double ts = now_s();
    double last = ts;
    for (uint64_t q0 = 0; rc == 0 && q0 < total; q0 += (uint64_t)B) {
        const int n = total - q0 < (uint64_t)B ? (int)(total - q0) : B;
        for (int j = 0; j < n; j++) { /* pair q = (image q / NT, text q % NT): scores in row-major order */
            const uint64_t q = q0 + (uint64_t)j;
            const int i = (int)(q / (uint64_t)s.n_texts), t = (int)(q % (uint64_t)s.n_texts);
            tp[j] = tcache + (size_t)t * tb, mp[j] = s.text_masks + (size_t)t * L, ip[j] = k.cache + (size_t)i * ib;
        }
        m3ae_model_score_pairs(m, tp, mp, ip, n, scores + q0);
        const double tn = now_s();
        if (progress && (tn - last > 10 || q0 + (uint64_t)n == total)) {
            const double done = (double)(q0 + (uint64_t)n), rate = done / (tn - ts > 1e-9 ? tn - ts : 1e-9);
            m3ae_info("retrieval: %llu/%llu pairs (%.1f%%), %.0f pairs/s, ETA %.0f s", (unsigned long long)(q0 + n),
                      (unsigned long long)total, 100.0 * done / (double)total, rate, ((double)total - done) / rate);
            last = tn;
        }
    }
    if (rc == 0) {
        m3ae_irtr_recall(scores, &s, r);
        r->n_pairs = s.n_pairs;
        r->scored = total;
        r->seconds = now_s() - t0;
    }
    if (rc == 0 && scores_path) {
        FILE *f = fopen(scores_path, "wb");
        if (!f || fwrite(scores, sizeof(float), (size_t)total, f) != (size_t)total || fclose(f) != 0)
            rc = m3ae_error_set(err, "cannot write the score matrix %s", scores_path);
    }
    free(tp), free(ip), free(mp), free(scores), free(tcache), free(k.batch), free(k.cache);
    m3ae_irtr_split_free(&s); /* zeroed when the read failed */
    return rc;
}

m3ae_irtr_grouping m3ae_irtr_grouping_of(const char *dir) {
    m3ae_manifest man;
    m3ae_error err;
    if (m3ae_manifest_read(dir, &man, &err)) return M3AE_IRTR_GROUP_CAPTION;
    const m3ae_irtr_grouping g = !strcmp(man.task.task, "irtr") ? M3AE_IRTR_GROUP_PAIR
                                 : man.groups[0]                ? M3AE_IRTR_GROUP_CASE
                                                                : M3AE_IRTR_GROUP_CAPTION;
    m3ae_manifest_free(&man);
    return g;
}

/* ---- the command ---- */

#define IRTR_W "/model/irtr_head.weight"
#define IRTR_B "/model/irtr_head.bias"

int m3ae_irtr_load_weights(const char *path, m3ae_model *m, int *zero_shot, m3ae_error *err) {
    if (m3ae_vqa_load_weights(path, m, NULL, err)) return -1;
    m3ae_h5 *f = m3ae_h5_open(path, err);
    if (!f) return -1;
    const int has_irtr = m3ae_h5_exists(f, IRTR_W) == 1 && m3ae_h5_exists(f, IRTR_B) == 1;
    const int has_itm = m3ae_h5_exists(f, "/model/itm_head.fc.weight") == 1;
    *zero_shot = !has_irtr;
    int rc = 0;
    if (!has_irtr && !has_itm)
        rc = m3ae_error_set(err, "checkpoint %s has neither an irtr_head (m3ae finetune --task irtr) nor an itm_head (a "
                            "pretraining checkpoint): nothing scores a pair", path);
    if (rc == 0 && has_irtr) { /* the fine-tuned head into the ITM match row: the official alias, reversed */
        const int H2 = 2 * m3ae_model_config(m)->hidden_size;
        const m3ae_registry *reg = m3ae_model_registry(m);
        const int kw = m3ae_registry_find(reg, "itm_head.fc.weight"), kb = m3ae_registry_find(reg, "itm_head.fc.bias");
        float *w = malloc((size_t)(H2 + 1) * sizeof(float));
        if (!w || kw < 0 || kb < 0) rc = m3ae_error_set(err, "out of memory");
        if (rc == 0) rc = m3ae_h5_read(f, IRTR_W, 2, (const int64_t[]){1, H2}, w, err);
        if (rc == 0) rc = m3ae_h5_read(f, IRTR_B, 1, (const int64_t[]){1}, w + H2, err);
        if (rc == 0) {
            m3ae_backend *be = m3ae_model_backend(m);
            float *params = m3ae_model_params(m);
            be->ops->upload(be, params + reg->p[kw].offset + H2, w, (size_t)H2 * sizeof(float)); /* row 1 */
            be->ops->upload(be, params + reg->p[kb].offset + 1, w + H2, sizeof(float));
            be->ops->sync(be);
        }
        free(w);
    }
    m3ae_h5_close(f);
    return rc;
}

int m3ae_evaluate_irtr(const m3ae_irtr_eval_args *a, int n_over, char **over) {
    const char *ckpt = a->ckpt, *dir = a->dir, *json = a->json, *groups = a->groups;
    const long max_images = a->max_images;
    m3ae_error err = {{0}};
    m3ae_ckpt_meta *meta = calloc(1, sizeof *meta);
    m3ae_train_config *cfg = calloc(1, sizeof *cfg);
    if (!meta || !cfg) return free(meta), free(cfg), fprintf(stderr, "m3ae: error: out of memory\n"), M3AE_EXIT_SYSTEM;
    int rc = m3ae_ckpt_read_meta(ckpt, meta, &err), code = M3AE_EXIT_CKPT;
    m3ae_train_config_defaults(cfg);
    if (rc == 0) rc = m3ae_train_config_from_text(cfg, meta->config, &err);
    free(meta);
    /* the run's evaluation size (official test script: 288), unless image_size is given below */
    if (rc == 0 && cfg->irtr_eval_image_size > 0) cfg->model.image_size = (int)cfg->irtr_eval_image_size;
    for (int i = 0; rc == 0 && i < n_over; i++) rc = m3ae_train_config_override(cfg, over[i], &err);
    if (rc != 0 && code == M3AE_EXIT_CKPT && n_over) code = M3AE_EXIT_USAGE;
    /* grouping: the dataset's kind unless --groups says */
    m3ae_irtr_grouping g = M3AE_IRTR_GROUP_CAPTION;
    m3ae_manifest man;
    if (rc == 0) {
        code = M3AE_EXIT_DATA;
        rc = m3ae_manifest_read(dir, &man, &err);
        if (rc == 0) m3ae_manifest_free(&man), g = m3ae_irtr_grouping_of(dir);
    }
    if (rc == 0 && groups) {
        if (!strcmp(groups, "pair")) g = M3AE_IRTR_GROUP_PAIR;
        else if (!strcmp(groups, "caption")) g = M3AE_IRTR_GROUP_CAPTION;
        else if (!strcmp(groups, "case")) g = M3AE_IRTR_GROUP_CASE;
        else rc = m3ae_error_set(&err, "--groups %s: expected pair, caption or case", groups), code = M3AE_EXIT_USAGE;
    }
    m3ae_tokenizer *tok = NULL;
    m3ae_backend *be = NULL;
    m3ae_model *m = NULL;
    if (rc == 0 && !(tok = m3ae_tokenizer_load(cfg->vocab, &err))) rc = -1;
    if (rc == 0) {
        code = M3AE_EXIT_USAGE;
        m3ae_backend_options bopt = {.threads = (int)cfg->threads, .act_dtype = M3AE_DTYPE_F32};
        if (!(be = m3ae_backend_open(cfg->device, &bopt, &err))) rc = -1;
    }
    int zero_shot = 0;
    if (rc == 0) {
        code = M3AE_EXIT_CKPT;
        cfg->model.vqa_labels = 0; /* no VQA head: the score is the ITM match row */
        m = m3ae_model_create(&cfg->model, be, (int)cfg->per_gpu_batchsize);
        m3ae_model_init_params(m, 0);
        rc = m3ae_irtr_load_weights(ckpt, m, &zero_shot, &err);
    }
    if (rc == 0) {
        if (zero_shot)
            m3ae_info("zero-shot retrieval: %s has no irtr_head; scoring with the ITM head's match row "
                      "(itm_head.fc.weight[1] . cls_feats + itm_head.fc.bias[1], the official alias, spec 1.6)", ckpt);
        else
            m3ae_info("fine-tuned retrieval: scoring with the irtr_head of %s", ckpt);
        m3ae_info("groups: %s", g == M3AE_IRTR_GROUP_PAIR ? "pair (each image-caption pair is its own group)"
                                : g == M3AE_IRTR_GROUP_CASE
                                    ? "case (one text per distinct caption; an image hits every caption of any image "
                                      "of its case, a caption every image of every case that has it)"
                                    : "caption (one text per distinct caption; an image hits "
                                      "every caption it has, a caption every image that has it)");
    }
    m3ae_irtr_result r;
    if (rc == 0) {
        code = M3AE_EXIT_DATA;
        rc = m3ae_irtr_evaluate(m, tok, dir, g, max_images > 0 ? (uint64_t)max_images : 0, 1, a->scores, &r, &err);
    }
    if (rc == 0) {
        printf("retrieval evaluation of %s on %s (%s, %d images x %d texts, %d px, %.1f s)\n", ckpt, dir,
               zero_shot ? "zero-shot" : "fine-tuned", r.n_images, r.n_texts, cfg->model.image_size, r.seconds);
        printf("%-14s %7s %7s %7s %7s\n", "direction", "R@1", "R@5", "R@10", "queries");
        printf("%-14s %7.4f %7.4f %7.4f %7d\n", "image-to-text", r.i2t[0], r.i2t[1], r.i2t[2], r.n_images);
        printf("%-14s %7.4f %7.4f %7.4f %7d\n", "text-to-image", r.t2i[0], r.t2i[1], r.t2i[2], r.n_texts);
        if (json) {
            char text[768];
            snprintf(text, sizeof text,
                     "{\"task\": \"irtr\", \"i2t_r1\": %.6f, \"i2t_r5\": %.6f, \"i2t_r10\": %.6f, \"t2i_r1\": %.6f, "
                     "\"t2i_r5\": %.6f, \"t2i_r10\": %.6f, \"n_images\": %d, \"n_texts\": %d, \"n\": %llu, "
                     "\"pairs_scored\": %llu, \"zero_shot\": %s, \"groups\": \"%s\", \"n_groups\": %d, \"image_size\": %d}\n",
                     r.i2t[0], r.i2t[1], r.i2t[2], r.t2i[0], r.t2i[1], r.t2i[2], r.n_images, r.n_texts,
                     (unsigned long long)r.n_pairs, (unsigned long long)r.scored, zero_shot ? "true" : "false",
                     g == M3AE_IRTR_GROUP_PAIR ? "pair" : g == M3AE_IRTR_GROUP_CASE ? "case" : "caption", r.n_groups,
                     cfg->model.image_size);
            FILE *f = fopen(json, "w");
            if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
                rc = m3ae_error_set(&err, "cannot write %s", json);
                code = M3AE_EXIT_SYSTEM;
            }
        }
    }
    if (rc != 0) fprintf(stderr, "m3ae: error: %s\n", err.msg);
    if (m) m3ae_model_destroy(m);
    if (be) m3ae_backend_close(be);
    if (tok) m3ae_tokenizer_free(tok);
    free(cfg);
    return rc == 0 ? M3AE_EXIT_OK : code;
}
