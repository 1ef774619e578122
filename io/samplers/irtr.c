/* The retrieval split reader (io/samplers/irtr.h). */
#include "io/samplers/irtr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/json.h"
#include "common/rng.h"
#include "io/image.h"
#include "io/image_transform.h"
#include "io/manifest.h"
#include "io/shard.h"

/* Growing arrays of the reader (sizes unknown until the end). */
typedef struct {
    int32_t *ids, *masks;   /* per text (L each) */
    char **text;            /* per text: the caption (caption grouping: the dedupe key) */
    size_t n_texts, cap_texts;
    int *pair_img, *pair_txt; /* per (image, text) hit */
    size_t n_hits, cap_hits;
    int *slot;              /* hash table of text indices (caption grouping), -1 empty */
    size_t n_slots;
} builder;

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem, m3ae_error *err) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? 2 * *cap : 256;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q) return m3ae_error_set(err, "out of memory reading a retrieval split (%zu entries)", need);
    *p = q, *cap = nc;
    return 0;
}

/* The slot of caption (s,n) in the open-addressing table: its text index there, or an empty slot. */
static size_t find_slot(const builder *b, const char *s, size_t n) {
    size_t i = (size_t)(fnv1a(s, n) % b->n_slots);
    while (b->slot[i] >= 0) {
        const char *t = b->text[b->slot[i]];
        if (strlen(t) == n && !memcmp(t, s, n)) break;
        i = (i + 1) % b->n_slots;
    }
    return i;
}

static int rehash(builder *b, m3ae_error *err) {
    const size_t ns = b->n_slots ? 2 * b->n_slots : 1024;
    int *slot = malloc(ns * sizeof *slot);
    if (!slot) return m3ae_error_set(err, "out of memory (caption table)");
    free(b->slot);
    b->slot = slot, b->n_slots = ns;
    for (size_t i = 0; i < ns; i++) slot[i] = -1;
    for (size_t t = 0; t < b->n_texts; t++) slot[find_slot(b, b->text[t], strlen(b->text[t]))] = (int)t;
    return 0;
}

/* The text index of caption (s,n) for image i, adding the text when it is new. */
static int add_text(builder *b, const m3ae_irtr_split_config *c, int L, const char *s, size_t n, int32_t *tmp,
                    int *out, m3ae_error *err) {
    size_t sl = 0;
    if (c->grouping != M3AE_IRTR_GROUP_PAIR) { /* caption and case: one text per distinct caption */
        if (2 * (b->n_texts + 1) > b->n_slots && rehash(b, err)) return -1;
        sl = find_slot(b, s, n);
        if (b->slot[sl] >= 0) return *out = b->slot[sl], 0;
    }
    if (b->n_texts == b->cap_texts) { /* the three per-text arrays grow together */
        const size_t nc = b->cap_texts ? 2 * b->cap_texts : 256;
        char **t = realloc(b->text, nc * sizeof *t);
        if (t) b->text = t;
        int32_t *ids = t ? realloc(b->ids, nc * L * sizeof *ids) : NULL;
        if (ids) b->ids = ids;
        int32_t *masks = ids ? realloc(b->masks, nc * L * sizeof *masks) : NULL;
        if (!masks) return m3ae_error_set(err, "out of memory reading a retrieval split (%zu texts)", nc);
        b->masks = masks, b->cap_texts = nc;
    }
    char *copy = malloc(n + 1);
    if (!copy) return m3ae_error_set(err, "out of memory (caption)");
    memcpy(copy, s, n), copy[n] = 0;
    const int k = m3ae_tokenizer_encode(c->tokenizer, s, n, tmp, L, L, 1);
    if (k < 0) {
        m3ae_error_set(err, "the tokenizer failed on caption \"%.60s\"", copy);
        return free(copy), -1;
    }
    for (int p = 0; p < L; p++) b->ids[b->n_texts * L + p] = tmp[p], b->masks[b->n_texts * L + p] = p < k;
    b->text[b->n_texts] = copy;
    if (c->grouping != M3AE_IRTR_GROUP_PAIR) b->slot[sl] = (int)b->n_texts;
    *out = (int)b->n_texts++;
    return 0;
}

static int add_hit(builder *b, int img, int txt, m3ae_error *err) {
    for (size_t h = b->n_hits; h-- > 0 && b->pair_img[h] == img;) /* an image's captions repeat a text */
        if (b->pair_txt[h] == txt) return 0;
    size_t cap = b->cap_hits;
    if (grow((void **)&b->pair_img, &cap, b->n_hits + 1, sizeof(int), err)) return -1;
    cap = b->cap_hits;
    if (grow((void **)&b->pair_txt, &b->cap_hits, b->n_hits + 1, sizeof(int), err)) return -1;
    b->pair_img[b->n_hits] = img, b->pair_txt[b->n_hits++] = txt;
    return 0;
}

/* CSR of the hits grouped by key[] (n_keys groups), values val[]. */
static int csr(const int *key, const int *val, size_t n, int n_keys, int **first, int **items, m3ae_error *err) {
    *first = calloc((size_t)n_keys + 1, sizeof **first);
    *items = malloc((n ? n : 1) * sizeof **items);
    if (!*first || !*items) return m3ae_error_set(err, "out of memory (retrieval hits)");
    for (size_t h = 0; h < n; h++) (*first)[key[h] + 1]++;
    for (int k = 0; k < n_keys; k++) (*first)[k + 1] += (*first)[k];
    int *fill = malloc(((size_t)n_keys + 1) * sizeof *fill);
    if (!fill) return m3ae_error_set(err, "out of memory (retrieval hits)");
    memcpy(fill, *first, ((size_t)n_keys + 1) * sizeof *fill);
    for (size_t h = 0; h < n; h++) (*items)[fill[key[h]]++] = val[h];
    free(fill);
    return 0;
}

/* ---- case groups ---- */

/* The group of every record of dataset dir from its group table (io/FORMAT.md "Group table"):
 * (*groups)[r] for record r in manifest order, n entries (= the manifest's records), each the
 * group string followed by the record's image id after its NUL. 0, or -1. */
static int read_groups(const char *dir, const m3ae_manifest *man, char ***groups, uint64_t *n, m3ae_error *err) {
    *groups = NULL, *n = 0;
    if (!man->groups[0])
        return m3ae_error_set(err, "dataset %s has no group table: convert it with m3ae prep --format jsonl --group-key "
                              "KEY (MedPix-2.0: --group-key case), or evaluate with --groups caption", dir);
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, man->groups);
    FILE *f = fopen(path, "rb");
    if (!f) return m3ae_error_set(err, "cannot open the group table %s (named in %s/manifest.json)", path, dir);
    char **g = calloc(man->records ? man->records : 1, sizeof *g);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = g ? 0 : m3ae_error_set(err, "out of memory (%llu groups)", (unsigned long long)man->records);
    uint64_t r = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        if (r >= man->records) {
            rc = m3ae_error_set(err, "%s has more lines than the %llu records of the dataset; convert it again", path,
                                (unsigned long long)man->records);
            break;
        }
        m3ae_error e;
        m3ae_json *j = m3ae_json_parse(line, (size_t)len, &e);
        size_t gl = 0, il = 0;
        const char *gs = j ? m3ae_json_str(m3ae_json_get(j, "group"), &gl) : NULL;
        const char *is = j ? m3ae_json_str(m3ae_json_get(j, "image"), &il) : NULL;
        const double rec = j ? m3ae_json_num(m3ae_json_get(j, "record")) : -1;
        if (!gs || !is || rec != (double)r)
            rc = m3ae_error_set(err, "%s line %llu: expected {\"record\": %llu, \"image\": ..., \"group\": \"...\"}; "
                                "convert the dataset again", path, (unsigned long long)r + 1, (unsigned long long)r);
        else if (!(g[r] = malloc(gl + il + 2))) /* "group\0image\0": the image checks the record */
            rc = m3ae_error_set(err, "out of memory (groups)");
        else
            memcpy(g[r], gs, gl + 1), memcpy(g[r] + gl + 1, is, il + 1);
        m3ae_json_free(j);
        r++;
    }
    free(line);
    fclose(f);
    if (rc == 0 && r != man->records)
        rc = m3ae_error_set(err, "%s has %llu lines for %llu records; convert the dataset again", path,
                            (unsigned long long)r, (unsigned long long)man->records);
    if (rc) {
        for (uint64_t k = 0; g && k < man->records; k++) free(g[k]);
        return free(g), -1;
    }
    *groups = g, *n = r;
    return 0;
}

static const char *const *g_sort_groups; /* qsort context (the reader is not reentrant across threads) */
static int by_group(const void *a, const void *b) {
    const int x = *(const int *)a, y = *(const int *)b;
    const int c = strcmp(g_sort_groups[x], g_sort_groups[y]);
    return c ? c : (x > y) - (x < y);
}
static int by_pair(const void *a, const void *b) {
    const int *x = a, *y = b;
    return x[0] != y[0] ? (x[0] > y[0]) - (x[0] < y[0]) : (x[1] > y[1]) - (x[1] < y[1]);
}

/* Case hits: replaces the caption hits (img, txt) of b by (i, t) for every image i and every text t
 * that is a caption of some image of i's case. rep[i] is the first image of i's case. */
static int case_hits(builder *b, char **groups, int n_img, int *n_groups, m3ae_error *err) {
    int *order = malloc((size_t)n_img * sizeof *order), *rep = malloc((size_t)n_img * sizeof *rep);
    int *ct = malloc((b->n_hits ? b->n_hits : 1) * 2 * sizeof *ct); /* (case, text) pairs */
    int *cfirst = calloc((size_t)n_img + 1, sizeof *cfirst);
    int rc = order && rep && ct && cfirst ? 0 : m3ae_error_set(err, "out of memory (case groups)");
    if (rc == 0) {
        for (int i = 0; i < n_img; i++) order[i] = i;
        g_sort_groups = (const char *const *)groups;
        qsort(order, (size_t)n_img, sizeof *order, by_group); /* equal groups adjacent, first image first */
        *n_groups = 0;
        for (int k = 0; k < n_img; k++) {
            const int first = k == 0 || strcmp(groups[order[k]], groups[order[k - 1]]);
            rep[order[k]] = first ? order[k] : rep[order[k - 1]];
            *n_groups += first;
        }
        for (size_t h = 0; h < b->n_hits; h++) ct[2 * h] = rep[b->pair_img[h]], ct[2 * h + 1] = b->pair_txt[h];
        qsort(ct, b->n_hits, 2 * sizeof *ct, by_pair);
    }
    size_t n_ct = 0, total = 0;
    for (size_t h = 0; rc == 0 && h < b->n_hits; h++) /* unique (case, text), counted per case */
        if (n_ct == 0 || ct[2 * h] != ct[2 * (n_ct - 1)] || ct[2 * h + 1] != ct[2 * (n_ct - 1) + 1]) {
            ct[2 * n_ct] = ct[2 * h], ct[2 * n_ct + 1] = ct[2 * h + 1];
            cfirst[ct[2 * n_ct] + 1]++, n_ct++;
        }
    for (int i = 0; rc == 0 && i < n_img; i++) cfirst[i + 1] += cfirst[i];
    for (int i = 0; rc == 0 && i < n_img; i++) total += (size_t)(cfirst[rep[i] + 1] - cfirst[rep[i]]);
    int *pi = NULL, *pt = NULL;
    if (rc == 0 && (total > (size_t)INT32_MAX || !(pi = malloc((total ? total : 1) * sizeof *pi)) ||
                    !(pt = malloc((total ? total : 1) * sizeof *pt))))
        rc = m3ae_error_set(err, "out of memory (%zu case hits)", total);
    size_t h = 0;
    for (int i = 0; rc == 0 && i < n_img; i++) /* the case's texts, ascending: ct is sorted by (case, text) */
        for (int k = cfirst[rep[i]]; k < cfirst[rep[i] + 1]; k++) pi[h] = i, pt[h++] = ct[2 * k + 1];
    if (rc == 0) {
        free(b->pair_img), free(b->pair_txt);
        b->pair_img = pi, b->pair_txt = pt, b->n_hits = b->cap_hits = total;
    } else
        free(pi), free(pt);
    free(order), free(rep), free(ct), free(cfirst);
    return rc;
}

int m3ae_irtr_split_read(const char *dir, const m3ae_irtr_split_config *c, m3ae_irtr_image_fn fn, void *ctx,
                         m3ae_irtr_split *out, m3ae_error *err) {
    memset(out, 0, sizeof *out);
    if (!c->tokenizer || c->image_size < 1 || c->max_text_len < 2)
        return m3ae_error_set(err, "bad retrieval split configuration (image %d, text %d)", c->image_size,
                              c->max_text_len);
    m3ae_manifest man;
    if (m3ae_manifest_read(dir, &man, err)) return -1;
    if (man.task.task[0] && strcmp(man.task.task, "irtr")) {
        m3ae_error_set(err, "dataset %s is a \"%s\" dataset: retrieval reads a pretraining dataset (m3ae prep --format "
                       "jsonl ...) or one of m3ae prep --format roco-retrieval", dir, man.task.task);
        m3ae_manifest_free(&man);
        return -1;
    }
    char **groups = NULL; /* case grouping: the group of every record */
    uint64_t n_groups_read = 0;
    if (c->grouping == M3AE_IRTR_GROUP_CASE && read_groups(dir, &man, &groups, &n_groups_read, err)) {
        m3ae_manifest_free(&man);
        return -1;
    }
    const int L = c->max_text_len, S = c->image_size;
    builder b = {0};
    float *img = malloc((size_t)3 * S * S * sizeof(float));
    int32_t *tmp = malloc((size_t)L * sizeof(int32_t));
    int rc = img && tmp ? 0 : m3ae_error_set(err, "out of memory");
    int n_img = 0;
    for (int sh = 0; rc == 0 && sh < man.n_shards; sh++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, man.shards[sh].name);
        m3ae_shard *s = m3ae_shard_open(path, man.shards[sh].name, err);
        m3ae_shard_reader *r = s ? m3ae_shard_reader_begin(s, err) : NULL;
        if (!r) rc = -1;
        for (uint64_t k = 0; rc == 0 && k < man.shards[sh].records; k++) {
            if (c->max_images && (uint64_t)n_img >= c->max_images) break;
            m3ae_record_view v;
            rc = m3ae_shard_read(r, k, 1, &v, err);
            m3ae_image im = {.width = (int)v.width, .height = (int)v.height, .rgb = (uint8_t *)v.pixels};
            if (rc == 0 && v.channels != 3)
                rc = m3ae_error_set(err, "%s record %llu (%.*s) has %u channels; retrieval reads RGB records (re-run "
                                    "m3ae prep)", man.shards[sh].name, (unsigned long long)k, (int)v.image_id_len,
                                    v.image_id, v.channels);
            if (rc == 0 && groups) { /* the table is in record order; its image names the record */
                const char *gi = groups[n_img] + strlen(groups[n_img]) + 1;
                if (strlen(gi) != v.image_id_len || memcmp(gi, v.image_id, v.image_id_len))
                    rc = m3ae_error_set(err, "%s/%s line %d names image %s, but record %d is %.*s; convert the dataset "
                                        "again", dir, man.groups, n_img + 1, gi, n_img, (int)v.image_id_len, v.image_id);
            }
            for (uint32_t ci = 0; rc == 0 && ci < v.n_captions; ci++) {
                uint32_t tl;
                const char *t = m3ae_record_caption(&v, ci, &tl);
                int ti = -1;
                rc = add_text(&b, c, L, t, tl, tmp, &ti, err);
                if (rc == 0) rc = add_hit(&b, n_img, ti, err);
                out->n_pairs++;
            }
            if (rc == 0 && fn) rc = m3ae_transform_clip(&im, S, img, err); /* no callback: captions only */
            if (rc == 0 && fn) rc = fn(ctx, n_img, img, err);
            n_img++;
        }
        if (r) m3ae_shard_reader_end(r);
        if (s) m3ae_shard_close(s);
    }
    m3ae_manifest_free(&man);
    if (rc == 0 && (n_img == 0 || b.n_texts == 0))
        rc = m3ae_error_set(err, "dataset %s holds no images or captions to retrieve", dir);
    out->n_groups = (int)b.n_texts;
    if (rc == 0 && groups) rc = case_hits(&b, groups, n_img, &out->n_groups, err);
    for (uint64_t k = 0; k < n_groups_read; k++) free(groups[k]);
    free(groups);
    if (rc == 0) {
        out->n_images = n_img, out->n_texts = (int)b.n_texts, out->L = L;
        out->text_ids = b.ids, out->text_masks = b.masks, b.ids = b.masks = NULL;
        rc = csr(b.pair_img, b.pair_txt, b.n_hits, n_img, &out->img_first, &out->img_texts, err);
        if (rc == 0) rc = csr(b.pair_txt, b.pair_img, b.n_hits, out->n_texts, &out->txt_first, &out->txt_images, err);
    }
    for (size_t t = 0; t < b.n_texts; t++) free(b.text[t]);
    free(b.text), free(b.ids), free(b.masks), free(b.pair_img), free(b.pair_txt), free(b.slot);
    free(img), free(tmp);
    if (rc != 0) m3ae_irtr_split_free(out);
    return rc;
}

void m3ae_irtr_split_free(m3ae_irtr_split *s) {
    free(s->text_ids), free(s->text_masks), free(s->img_first), free(s->img_texts), free(s->txt_first),
        free(s->txt_images);
    memset(s, 0, sizeof *s);
}

/* ---- training sampler ---- */

int m3ae_irtr_sampler_init(m3ae_irtr_sampler *s, const char *dir, const m3ae_irtr_sampler_config *c, m3ae_error *err) {
    memset(s, 0, sizeof *s);
    if (c->candidates < 2)
        return m3ae_error_set(err, "retrieval fine-tuning needs at least 2 candidates a image (irtr_candidates = %d)",
                              c->candidates);
    s->cfg = *c;
    m3ae_irtr_split_config sc = {.tokenizer = c->tokenizer, .image_size = c->image_size,
                                 .max_text_len = c->max_text_len, .grouping = M3AE_IRTR_GROUP_PAIR};
    if (m3ae_irtr_split_read(dir, &sc, NULL, NULL, &s->texts, err)) return -1;
    const m3ae_irtr_split *t = &s->texts;
    s->image_of = malloc((size_t)t->n_texts * sizeof *s->image_of);
    if (!s->image_of) return m3ae_irtr_split_free(&s->texts), m3ae_error_set(err, "out of memory");
    int max_own = 0;
    for (int i = 0; i < t->n_images; i++) {
        const int own = t->img_first[i + 1] - t->img_first[i];
        if (own > max_own) max_own = own;
        for (int h = t->img_first[i]; h < t->img_first[i + 1]; h++) s->image_of[t->img_texts[h]] = i;
    }
    if (t->n_texts - max_own < 1) {
        m3ae_irtr_sampler_free(s);
        return m3ae_error_set(err, "dataset %s: retrieval fine-tuning needs captions of at least two images", dir);
    }
    return 0;
}

void m3ae_irtr_sampler_free(m3ae_irtr_sampler *s) {
    m3ae_irtr_split_free(&s->texts);
    free(s->image_of);
    s->image_of = NULL;
}

int m3ae_irtr_candidate(const m3ae_irtr_sampler *s, uint64_t epoch, uint64_t g, int k) {
    if (k == 0) return (int)g;
    const m3ae_irtr_split *t = &s->texts;
    const int i = s->image_of[g], first = t->img_first[i], own = t->img_first[i + 1] - first;
    /* uniform over the texts of the other images: skip the image's own contiguous run */
    const m3ae_rng r = m3ae_rng_make(s->cfg.seed, M3AE_RNG_IRTR, epoch, g);
    int u = (int)m3ae_rng_below(&r, (uint64_t)k, (uint32_t)(t->n_texts - own));
    return u >= first ? u + own : u;
}

static void *batch_alloc(void *ctx, int B) {
    const m3ae_irtr_sampler *s = ctx;
    const int S = s->cfg.image_size, L = s->cfg.max_text_len, K = s->cfg.candidates;
    m3ae_irtr_batch *b = m3ae_alloc(sizeof *b, "IRTR batch");
    b->B = B, b->S = S, b->L = L, b->K = K;
    b->images = m3ae_alloc((size_t)B * 3 * S * S * sizeof(float), "loader images (B,3,S,S)");
    b->text_ids = m3ae_alloc((size_t)B * K * L * sizeof(int32_t), "loader candidate ids (B*K,L)");
    b->text_masks = m3ae_alloc((size_t)B * K * L * sizeof(int32_t), "loader candidate masks (B*K,L)");
    b->sample_ids = m3ae_alloc((size_t)B * K * sizeof(int64_t), "loader pair ids (B*K)");
    b->samples = m3ae_alloc((size_t)B * sizeof(int64_t), "loader sample ids (B)");
    return b;
}

static void batch_free(void *ctx, void *batch) {
    (void)ctx;
    m3ae_irtr_batch *b = batch;
    void *p[] = {b->images, b->text_ids, b->text_masks, b->sample_ids, b->samples};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) m3ae_free(p[i]);
    m3ae_free(b);
}

static int build(void *ctx, m3ae_pipeline_worker *w, void *batch, int i, uint64_t epoch, uint64_t g, m3ae_error *err) {
    const m3ae_irtr_sampler *s = ctx;
    m3ae_irtr_batch *b = batch;
    const int S = b->S, L = b->L, K = b->K;
    const m3ae_irtr_split *t = &s->texts;
    if (g >= (uint64_t)t->n_texts)
        return m3ae_error_set(err, "sample %llu is outside the %d captions read at start", (unsigned long long)g,
                              t->n_texts);
    m3ae_record_view v;
    uint32_t c;
    if (m3ae_pipeline_read(w, g, &v, &c, err)) return -1;
    /* the text table must number the captions as the pipeline does (record-major, manifest order) */
    int32_t *tmp = m3ae_pipeline_worker_scratch(w);
    uint32_t tl;
    const char *text = m3ae_record_caption(&v, c, &tl);
    const int n = m3ae_tokenizer_encode(s->cfg.tokenizer, text, tl, tmp, L, L, 1);
    if (n < 0 || memcmp(tmp, t->text_ids + (size_t)g * L, (size_t)L * sizeof(int32_t)))
        return m3ae_error_set(err, "sample %llu (%.*s): its caption is not text %llu of the split (the dataset changed "
                              "since the start? re-run)", (unsigned long long)g, (int)v.image_id_len, v.image_id,
                              (unsigned long long)g);
    m3ae_image img = {.width = (int)v.width, .height = (int)v.height, .rgb = (uint8_t *)v.pixels};
    if (v.channels != 3)
        return m3ae_error_set(err, "sample %llu (%.*s): %u channels, retrieval reads RGB records", (unsigned long long)g,
                              (int)v.image_id_len, v.image_id, v.channels);
    float *out = b->images + (size_t)3 * S * S * i;
    int rc;
    if (s->cfg.random_crop) {
        m3ae_rng r = m3ae_rng_make(s->cfg.seed, M3AE_RNG_CROP, epoch, g);
        rc = m3ae_transform_clip_resizedcrop(&img, S, &r, out, err);
    } else {
        rc = m3ae_transform_clip(&img, S, out, err);
    }
    if (rc) return -1;
    b->samples[i] = (int64_t)g;
    for (int k = 0; k < K; k++) {
        const int tk = m3ae_irtr_candidate(s, epoch, g, k);
        const size_t row = (size_t)i * K + k;
        memcpy(b->text_ids + row * L, t->text_ids + (size_t)tk * L, (size_t)L * sizeof(int32_t));
        memcpy(b->text_masks + row * L, t->text_masks + (size_t)tk * L, (size_t)L * sizeof(int32_t));
        b->sample_ids[row] = (int64_t)(g * (uint64_t)K + (uint64_t)k);
    }
    return 0;
}

static void finish(void *ctx, void *batch, uint64_t epoch, uint64_t position) {
    (void)ctx;
    m3ae_irtr_batch *b = batch;
    b->epoch = epoch, b->position = position;
}

m3ae_sampler m3ae_irtr_sampler_table(m3ae_irtr_sampler *s) {
    return (m3ae_sampler){.ctx = s,
                          .scratch_bytes = sizeof(int32_t) * (size_t)s->cfg.max_text_len,
                          .batch_alloc = batch_alloc,
                          .batch_free = batch_free,
                          .build = build,
                          .finish = finish};
}
