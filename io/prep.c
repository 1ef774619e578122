/* `m3ae prep` pipeline: parse the input into images + texts, decode and resize the images on a
 * pthreads pool (chunk by chunk), write the records in input order into the shards, write the
 * manifest last and rename the whole dataset into place. */
#include "io/prep.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/image.h"
#include "io/manifest.h"
#include "io/prep_source.h"
#include "io/prep_task.h"
#include "io/shard.h"
#include "common/json.h"
#include "common/sys.h"
#include "io/answers.h"

typedef struct {
    uint8_t *buf;
    size_t len;
    int rejected;
    char reason[M3AE_ERROR_LEN];
} result;

/* Resized images by path: downstream datasets store one record per question, and an image has
 * several questions (VQA-RAD about 6), so each image is decoded and resized once while the cache
 * stays under its budget (the pixels are the same either way: the cache only saves time). */
typedef struct {
    char **path;
    m3ae_image *img;
    size_t cap, bytes, budget;
} img_cache;

typedef struct {
    pthread_mutex_t mu;
    img_cache cache;
    pthread_cond_t work_cv, done_cv;
    const m3ae_prep_list *list;
    result *results; /* indexed by item - begin */
    size_t begin, end, next, finished;
    uint64_t generation;
    int quit, store_size, min_words;
} pool;

/* Sets err and gives the exit code. */
#define FAIL(code, ...) (m3ae_error_set(err, __VA_ARGS__), (code))

static uint64_t hash_path(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

/* Copies the cached image of path into out (0), or -1 when absent. Caller holds p->mu. */
static int cache_get(img_cache *c, const char *path, m3ae_image *out) {
    if (!c->cap) return -1;
    for (size_t h = hash_path(path) & (c->cap - 1);; h = (h + 1) & (c->cap - 1)) {
        if (!c->path[h]) return -1;
        if (strcmp(c->path[h], path)) continue;
        size_t n = (size_t)c->img[h].width * c->img[h].height * 3;
        if (!(out->rgb = malloc(n))) return -1;
        memcpy(out->rgb, c->img[h].rgb, n);
        out->width = c->img[h].width;
        out->height = c->img[h].height;
        return 0;
    }
}

/* Keeps a copy of img (best effort: skipped when over budget, full or out of memory). Holds p->mu. */
static void cache_put(img_cache *c, const char *path, const m3ae_image *img) {
    size_t n = (size_t)img->width * img->height * 3, used = 0;
    if (!c->cap || c->bytes + n > c->budget) return;
    size_t h = hash_path(path) & (c->cap - 1);
    while (c->path[h]) {
        if (!strcmp(c->path[h], path) || ++used == c->cap / 2) return;
        h = (h + 1) & (c->cap - 1);
    }
    char *pc = malloc(strlen(path) + 1);
    uint8_t *px = malloc(n);
    if (!pc || !px) {
        free(pc), free(px);
        return;
    }
    strcpy(pc, path);
    memcpy(px, img->rgb, n);
    c->path[h] = pc;
    c->img[h] = (m3ae_image){img->width, img->height, px};
    c->bytes += n;
}

static void cache_free(img_cache *c) {
    for (size_t i = 0; i < c->cap; i++)
        if (c->path[i]) free(c->path[i]), free(c->img[i].rgb);
    free(c->path);
    free(c->img);
}

static void process_item(pool *p, size_t i) {
    const m3ae_prep_item *it = &p->list->items[i];
    result *r = &p->results[i - p->begin];
    memset(r, 0, sizeof *r);
    if (it->n_captions == 0) {
        r->rejected = 1;
        snprintf(r->reason, sizeof r->reason, "no text with at least %d words", p->min_words);
        return;
    }
    m3ae_image img = {0}, small = {0};
    m3ae_error err;
    pthread_mutex_lock(&p->mu);
    int hit = cache_get(&p->cache, it->path, &small) == 0;
    pthread_mutex_unlock(&p->mu);
    if (!hit) {
        if (m3ae_image_decode_file(it->path, NULL, &img, &err) ||
            m3ae_image_resize_shorter(&img, p->store_size, &small, &err)) {
            r->rejected = 1;
            snprintf(r->reason, sizeof r->reason, "%s", err.msg);
            m3ae_image_free(&img);
            return;
        }
        m3ae_image_free(&img);
        pthread_mutex_lock(&p->mu);
        cache_put(&p->cache, it->path, &small);
        pthread_mutex_unlock(&p->mu);
    }
    m3ae_record rec = {.height = (uint32_t)small.height,
                       .width = (uint32_t)small.width,
                       .channels = 3,
                       .pixels = small.rgb,
                       .image_id = it->image_id,
                       .n_captions = it->n_captions,
                       .captions = (const char *const *)it->captions,
                       .question = it->question,
                       .answer = it->answer,
                       .label = it->label};
    if (m3ae_record_encode(&rec, &r->buf, &r->len, &err)) {
        r->rejected = 1;
        snprintf(r->reason, sizeof r->reason, "%s", err.msg);
    }
    m3ae_image_free(&small);
}

static void process_range(pool *p) {
    for (;;) {
        pthread_mutex_lock(&p->mu);
        if (p->next >= p->end) {
            pthread_mutex_unlock(&p->mu);
            return;
        }
        size_t i = p->next++;
        pthread_mutex_unlock(&p->mu);
        process_item(p, i);
        pthread_mutex_lock(&p->mu);
        if (++p->finished == p->end - p->begin) pthread_cond_broadcast(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static void *worker(void *arg) {
    pool *p = arg;
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->work_cv, &p->mu);
        seen = p->generation;
        int quit = p->quit;
        pthread_mutex_unlock(&p->mu);
        if (quit) return NULL;
        process_range(p);
    }
}

/* Runs items [begin, end) on the pool (the calling thread works too). */
static void run_chunk(pool *p, size_t begin, size_t end) {
    pthread_mutex_lock(&p->mu);
    p->begin = begin;
    p->end = end;
    p->next = begin;
    p->finished = 0;
    p->generation++;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    process_range(p);
    pthread_mutex_lock(&p->mu);
    while (p->finished < end - begin) pthread_cond_wait(&p->done_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static void progress(const m3ae_prep_options *o, int tty, size_t done, size_t total, double t0, double *last,
                     int final) {
    if (!o->progress) return;
    double t = m3ae_now_s();
    if (!final && t - *last < (tty ? 0.25 : 10.0)) return;
    *last = t;
    double rate = done / (t - t0 > 1e-9 ? t - t0 : 1e-9);
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "%sprep: %zu/%zu images (%.0f%%), %.1f images/s, ETA %.0f s%s", tty ? "\r" : "", done, total,
            total ? 100.0 * done / total : 100.0, rate, eta, tty && !final ? "   " : "\n");
    fflush(stderr);
}

/* One line of targets.jsonl for the sample of a downstream record (vqa, cls: one sample a record). */
static void write_target(FILE *f, uint64_t sample, const m3ae_prep_item *it, const m3ae_manifest_task *t) {
    fprintf(f, "{\"sample\": %llu, \"split\": ", (unsigned long long)sample);
    m3ae_json_write_string(f, it->split ? it->split : "", it->split ? strlen(it->split) : 0);
    fputs(", \"image\": ", f);
    m3ae_json_write_string(f, it->image_id, strlen(it->image_id));
    if (it->qid) {
        fputs(", \"qid\": ", f);
        m3ae_json_write_string(f, it->qid, strlen(it->qid));
    }
    if (it->answer_type >= 0) fprintf(f, ", \"answer_type\": \"%s\"", it->answer_type ? "open" : "closed");
    fputs(", \"answer\": ", f);
    m3ae_json_write_string(f, it->answer ? it->answer : "", it->answer ? strlen(it->answer) : 0);
    fprintf(f, ", \"label\": %d, \"labels\": [", (int)it->label);
    for (uint32_t k = 0; k < it->n_labels; k++) fprintf(f, "%s%d", k ? ", " : "", (int)it->labels[k]);
    fputs("], \"label_name\": ", f);
    const char *ln = it->label >= 0 && (uint32_t)it->label < t->n_labels ? t->labels[it->label] : "";
    m3ae_json_write_string(f, ln, strlen(ln));
    fputs("}\n", f);
}

/* One line of groups.jsonl (--group-key): record r of the dataset (manifest order), its image, its group. */
static void write_group(FILE *f, uint64_t record, const m3ae_prep_item *it) {
    fprintf(f, "{\"record\": %llu, \"image\": ", (unsigned long long)record);
    m3ae_json_write_string(f, it->image_id, strlen(it->image_id));
    fputs(", \"group\": ", f);
    m3ae_json_write_string(f, it->group ? it->group : "", it->group ? strlen(it->group) : 0);
    fputs("}\n", f);
}

static int too_many(const m3ae_prep_options *o, const m3ae_prep_list *l) {
    return (double)l->rejected_texts > o->max_reject * (double)l->input_texts;
}

int m3ae_prep_run(const m3ae_prep_options *o, m3ae_prep_summary *s, m3ae_error *err) {
    memset(s, 0, sizeof *s);
    double t0 = m3ae_now_s();
    if (o->shards < 1 || o->store_size < 16 || o->threads < 1 || o->min_words < 0 || !(o->max_reject >= 0))
        return m3ae_error_set(err, "bad prep options (shards %d, store size %d, threads %d, min words %d)", o->shards,
                              o->store_size, o->threads, o->min_words), M3AE_EXIT_USAGE;
    char out_buf[4096];
    snprintf(out_buf, sizeof out_buf, "%s", o->out);
    for (size_t k = strlen(out_buf); k > 1 && out_buf[k - 1] == '/'; k--) out_buf[k - 1] = 0; /* "DIR/" -> "DIR" */
    const char *out_dir = out_buf;
    struct stat st;
    if (stat(out_dir, &st) == 0)
        return m3ae_error_set(err, "the output '%s' already exists; remove it or choose another --out", out_dir),
               M3AE_EXIT_USAGE;
    snprintf(s->tmp_dir, sizeof s->tmp_dir, "%s.tmp-%ld", out_dir, (long)getpid());
    if (mkdir(s->tmp_dir, 0755) != 0) {
        int e = errno;
        s->tmp_dir[0] = 0;
        return m3ae_error_set(err, "cannot create '%s.tmp-%ld': %s", out_dir, (long)getpid(), strerror(e)),
               M3AE_EXIT_SYSTEM;
    }
    char path[4400], path2[4400];
    snprintf(path, sizeof path, "%s/rejected.jsonl", s->tmp_dir);
    m3ae_prep_list l = {.min_words = o->min_words};
    l.rejected = fopen(path, "w");
    if (!l.rejected) return m3ae_error_set(err, "cannot write '%s': %s", path, strerror(errno)), M3AE_EXIT_SYSTEM;

    int rc;
    m3ae_task_input task = {0};
    m3ae_manifest man = {.n_shards = o->shards};
    int (*task_parse)(const m3ae_prep_options *, m3ae_task_input *, m3ae_prep_list *, m3ae_error *) = NULL;
    if (!strcmp(o->format, "vqa-rad")) task_parse = m3ae_prep_parse_vqa_rad;
    if (!strcmp(o->format, "slake")) task_parse = m3ae_prep_parse_slake;
    if (!strcmp(o->format, "vqa-med-2019")) task_parse = m3ae_prep_parse_vqa_med;
    if (!strcmp(o->format, "melinda")) task_parse = m3ae_prep_parse_melinda;
    if (!strcmp(o->format, "roco-retrieval")) task_parse = m3ae_prep_parse_roco_retrieval;
    if (task_parse) {
        task.want_split = o->split ? o->split : "train";
        rc = task_parse(o, &task, &l, err);
        if (!rc) rc = m3ae_task_finish(o, &task, &l, &man.task, err);
        m3ae_task_input_free(&task);
    } else if (!strcmp(o->format, "jsonl"))
        rc = m3ae_prep_parse_jsonl(o->input, o->group_key, &l, err);
    else if (!strcmp(o->format, "roco"))
        rc = m3ae_prep_parse_roco(o->input, &l, err);
    else if (!strcmp(o->format, "medicat"))
        rc = m3ae_prep_parse_medicat(o->input, &l, err);
    else
        rc = FAIL(M3AE_EXIT_USAGE, "unknown --format '%s' (jsonl, roco, medicat, vqa-rad, slake, vqa-med-2019, "
                                   "melinda, roco-retrieval)", o->format);
    if (!rc && o->group_key && strcmp(o->format, "jsonl"))
        rc = FAIL(M3AE_EXIT_USAGE, "--group-key reads a field of --format jsonl lines; --format %s has none", o->format);
    if (!rc && l.input_texts == 0)
        rc = FAIL(M3AE_EXIT_DATA, "the input '%s' holds no image-text pair", o->input);

    pool p = {.list = &l, .store_size = o->store_size, .min_words = o->min_words};
    if (task_parse && !rc) { /* only downstream data repeats images across records */
        size_t cap = 16;
        while (cap < 2 * l.n + 2) cap *= 2;
        p.cache.path = calloc(cap, sizeof *p.cache.path);
        p.cache.img = calloc(cap, sizeof *p.cache.img);
        p.cache.cap = p.cache.path && p.cache.img ? cap : 0;
        p.cache.budget = (size_t)1 << 30; /* 1 GiB: VQA-RAD at 384 px needs about 160 MB */
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.work_cv, NULL);
    pthread_cond_init(&p.done_cv, NULL);
    int nthreads = o->threads - 1, started = 0;
    pthread_t *threads = calloc(nthreads > 0 ? (size_t)nthreads : 1, sizeof *threads);
    size_t chunk = 16 * (size_t)o->threads;
    p.results = calloc(chunk, sizeof *p.results);
    man.shards = calloc((size_t)o->shards, sizeof *man.shards);
    if (!rc && (!threads || !p.results || !man.shards)) rc = FAIL(M3AE_EXIT_SYSTEM, "out of memory");
    for (int t = 0; !rc && t < nthreads; t++) {
        if (pthread_create(&threads[t], NULL, worker, &p) != 0) {
            rc = FAIL(M3AE_EXIT_SYSTEM, "cannot start prep thread %d of %d", t + 1, o->threads);
            break;
        }
        started++;
    }
    s->input_images = l.n;
    FILE *targets = NULL; /* the downstream side table (io/FORMAT.md) */
    uint64_t sample = 0;
    m3ae_vocab written_images = {0};
    if (!rc && man.task.targets[0]) {
        snprintf(path, sizeof path, "%s/%s", s->tmp_dir, man.task.targets);
        if (!(targets = fopen(path, "w"))) rc = FAIL(M3AE_EXIT_SYSTEM, "cannot write '%s': %s", path, strerror(errno));
    }
    FILE *groups = NULL; /* --group-key: the group side table, one line a record (io/FORMAT.md) */
    uint64_t record = 0;
    if (!rc && o->group_key) {
        snprintf(man.groups, sizeof man.groups, "groups.jsonl");
        if (snprintf(man.group_key, sizeof man.group_key, "%s", o->group_key) >= (int)sizeof man.group_key)
            rc = FAIL(M3AE_EXIT_USAGE, "--group-key '%.40s...' is longer than %zu bytes", o->group_key,
                      sizeof man.group_key - 1);
        snprintf(path, sizeof path, "%s/%s", s->tmp_dir, man.groups);
        if (!rc && !(groups = fopen(path, "w"))) rc = FAIL(M3AE_EXIT_SYSTEM, "cannot write '%s': %s", path, strerror(errno));
    }
    int tty = isatty(2);
    double last = t0;
    for (int k = 0; !rc && k < o->shards; k++) {
        size_t b = (size_t)((uint64_t)l.n * k / o->shards), e = (size_t)((uint64_t)l.n * (k + 1) / o->shards);
        m3ae_manifest_shard *ms = &man.shards[k];
        snprintf(ms->name, sizeof ms->name, "shard-%05d", k);
        snprintf(path, sizeof path, "%s/%s.tmp", s->tmp_dir, ms->name);
        m3ae_shard_writer *w = m3ae_shard_writer_open(path, err);
        if (!w) {
            rc = M3AE_EXIT_SYSTEM;
            break;
        }
        for (size_t c = b; !rc && c < e; c += chunk) {
            size_t ce = c + chunk < e ? c + chunk : e;
            run_chunk(&p, c, ce);
            for (size_t i = c; i < ce; i++) {
                result *r = &p.results[i - c];
                m3ae_prep_item *it = &l.items[i];
                if (r->rejected) {
                    m3ae_prep_reject(&l, "image", it->line, it->image_id, NULL, r->reason);
                    l.rejected_texts += it->n_captions;
                    s->rejected_images++;
                } else if (!rc && m3ae_shard_writer_put(w, r->buf, r->len, err)) {
                    rc = M3AE_EXIT_SYSTEM;
                } else if (!rc && groups) {
                    write_group(groups, record++, it);
                } else if (!rc && man.task.task[0]) {
                    if (m3ae_vocab_add(&written_images, it->image_id) < 0) rc = FAIL(M3AE_EXIT_SYSTEM, "out of memory");
                    man.task.questions += it->n_captions;
                    if (targets) write_target(targets, sample, it, &man.task);
                    if (targets && it->label < 0) man.task.unseen++;
                    sample += it->n_captions;
                }
                free(r->buf);
                r->buf = NULL;
            }
            progress(o, tty, ce, l.n, t0, &last, 0);
            if (!rc && too_many(o, &l))
                rc = FAIL(M3AE_EXIT_DATA, "more than --max-reject %g%% of the input texts were rejected (%" PRIu64
                                         " of %" PRIu64 " so far); see %s/rejected.jsonl",
                                    100 * o->max_reject, l.rejected_texts, l.input_texts, s->tmp_dir);
        }
        if (rc) {
            m3ae_shard_writer_abort(w);
            break;
        }
        m3ae_shard_schema schema = {.shard = k, .store_size = o->store_size}, got;
        snprintf(schema.source, sizeof schema.source, "%s", o->format);
        snprintf(schema.converter_version, sizeof schema.converter_version, "%s", M3AE_PREP_CONVERTER_VERSION);
        if (m3ae_shard_writer_finish(w, &schema, &got, err)) {
            rc = M3AE_EXIT_SYSTEM;
            break;
        }
        snprintf(path2, sizeof path2, "%s/%s", s->tmp_dir, ms->name);
        if (rename(path, path2) != 0) {
            rc = FAIL(M3AE_EXIT_SYSTEM, "cannot rename '%s' to '%s': %s", path, path2, strerror(errno));
            break;
        }
        snprintf(path, sizeof path, "%s/data.mdb", path2);
        if (stat(path, &st) == 0) ms->bytes = (uint64_t)st.st_size;
        ms->records = got.records;
        ms->samples = got.samples;
        ms->checksum = got.checksum;
        s->records += got.records;
        s->samples += got.samples;
        s->bytes += ms->bytes;
    }
    if (!rc) progress(o, tty, l.n, l.n, t0, &last, 1);
    pthread_mutex_lock(&p.mu);
    p.quit = 1;
    pthread_cond_broadcast(&p.work_cv);
    pthread_mutex_unlock(&p.mu);
    for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
    free(threads);
    free(p.results);
    cache_free(&p.cache);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.work_cv);
    pthread_cond_destroy(&p.done_cv);

    s->input_texts = l.input_texts;
    s->rejected_texts = l.rejected_texts;
    man.task.images = written_images.n;
    m3ae_vocab_free(&written_images);
    if (targets && fclose(targets) != 0 && !rc)
        rc = FAIL(M3AE_EXIT_SYSTEM, "writing %s/%s failed (disk full?)", s->tmp_dir, man.task.targets);
    if (groups && fclose(groups) != 0 && !rc)
        rc = FAIL(M3AE_EXIT_SYSTEM, "writing %s/%s failed (disk full?)", s->tmp_dir, man.groups);
    if (!rc && man.task.task[0]) m3ae_task_log(stdout, &man.task);
    if (fclose(l.rejected) != 0 && !rc)
        rc = FAIL(M3AE_EXIT_SYSTEM, "writing %s/rejected.jsonl failed (disk full?)", s->tmp_dir);
    if (!rc) {
        man.format_version = M3AE_MANIFEST_FORMAT_VERSION;
        snprintf(man.source, sizeof man.source, "%s", o->format);
        snprintf(man.input, sizeof man.input, "%s", o->input);
        snprintf(man.converter_version, sizeof man.converter_version, "%s", M3AE_PREP_CONVERTER_VERSION);
        man.store_size = o->store_size;
        man.records = s->records;
        man.samples = s->samples;
        man.rejected = l.rejected_texts;
        if (m3ae_manifest_write(s->tmp_dir, &man, err)) rc = M3AE_EXIT_SYSTEM;
    }
    if (!rc) {
        if (rename(s->tmp_dir, out_dir) != 0)
            rc = FAIL(M3AE_EXIT_SYSTEM, "cannot rename '%s' to '%s': %s", s->tmp_dir, out_dir, strerror(errno));
        else
            s->tmp_dir[0] = 0;
    }
    free(man.shards);
    m3ae_manifest_task_free(&man.task);
    m3ae_prep_list_free(&l);
    s->seconds = m3ae_now_s() - t0;
    return rc;
}
