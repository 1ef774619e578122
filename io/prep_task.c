/* Downstream datasets: hold-out, label vocabulary, split selection (io/prep_task.h). */
#include "io/prep_task.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/sha256.h"
#include "io/answers.h"
#include "io/crc32c.h"

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n), d[n] = 0;
    return d;
}
static char *dup_s(const char *s) { return s ? dup_n(s, strlen(s)) : NULL; }

int m3ae_task_add_input(m3ae_task_input *t, const char *path, m3ae_error *err) {
    if (t->n_inputs >= (int)(sizeof t->inputs / sizeof t->inputs[0]))
        return m3ae_error_set(err, "too many input files (at '%s')", path), M3AE_EXIT_DATA;
    m3ae_manifest_input *in = &t->inputs[t->n_inputs];
    snprintf(in->path, sizeof in->path, "%s", path);
    if (m3ae_sha256_file(path, in->sha256))
        return m3ae_error_set(err, "cannot read the input file '%s'", path), M3AE_EXIT_DATA;
    t->n_inputs++;
    return 0;
}

int m3ae_task_add(m3ae_task_input *t, const char *split, const char *image, const char *path, const char *text,
                  size_t text_len, const char *answer, size_t answer_len, const char *qid, int answer_type,
                  uint64_t line, m3ae_error *err) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        m3ae_task_entry *e = realloc(t->e, cap * sizeof *e);
        if (!e) return m3ae_error_set(err, "out of memory reading the input"), M3AE_EXIT_SYSTEM;
        t->e = e;
        t->cap = cap;
    }
    m3ae_task_entry *e = &t->e[t->n];
    memset(e, 0, sizeof *e);
    e->split = dup_s(split);
    e->image = dup_s(image);
    e->path = dup_s(path);
    e->text = dup_n(text, text_len);
    e->answer = answer ? dup_n(answer, answer_len) : NULL;
    e->qid = dup_s(qid);
    e->answer_type = answer_type;
    e->line = line;
    t->n++;
    if (!e->split || !e->image || !e->path || !e->text || (answer && !e->answer) || (qid && !e->qid))
        return m3ae_error_set(err, "out of memory reading the input"), M3AE_EXIT_SYSTEM;
    return 0;
}

void m3ae_task_reject(const m3ae_task_input *t, m3ae_prep_list *l, const char *split, uint64_t line,
                      const char *image, const char *text, const char *reason) {
    const char *want = t->want_split ? t->want_split : "train";
    if (strcmp(split, want) && !(!strcmp(want, "heldout") && !strcmp(split, "train"))) return;
    l->input_texts++;
    l->rejected_texts++;
    m3ae_prep_reject(l, "line", line, image, text, reason);
}

void m3ae_task_input_free(m3ae_task_input *t) {
    for (size_t i = 0; i < t->n; i++) {
        m3ae_task_entry *e = &t->e[i];
        free(e->split), free(e->image), free(e->path), free(e->text), free(e->answer), free(e->qid), free(e->norm);
    }
    free(t->e);
    t->e = NULL;
    t->n = t->cap = 0;
}

/* Split order: the training split (and its held-out part) first, then val, then test, as the
 * official builds its vocabulary (train, val, test). */
static int split_rank(const char *s) {
    if (!strcmp(s, "train") || !strcmp(s, "heldout")) return 0;
    if (!strcmp(s, "val")) return 1;
    if (!strcmp(s, "test")) return 2;
    return 3;
}

typedef struct {
    uint32_t key;
    const char *name;
} hold_key;

static int cmp_hold(const void *a, const void *b) {
    const hold_key *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The held-out images: the training images ordered by CRC32C of their name (then by name), the
 * first round(F * n) of them. A pure function of the image names: the same file gives the same split. */
static int apply_holdout(double frac, m3ae_task_input *t, m3ae_error *err) {
    m3ae_vocab imgs = {0};
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->e[i].split, "train") && m3ae_vocab_add(&imgs, t->e[i].image) < 0) goto oom;
    hold_key *k = malloc((imgs.n ? imgs.n : 1) * sizeof *k);
    if (!k) goto oom;
    for (uint32_t i = 0; i < imgs.n; i++)
        k[i] = (hold_key){m3ae_crc32c(0, imgs.words[i], strlen(imgs.words[i])), imgs.words[i]};
    qsort(k, imgs.n, sizeof *k, cmp_hold);
    uint32_t nh = (uint32_t)(frac * imgs.n + 0.5);
    m3ae_vocab held = {0};
    for (uint32_t i = 0; i < nh; i++)
        if (m3ae_vocab_add(&held, k[i].name) < 0) {
            free(k);
            m3ae_vocab_free(&held);
            goto oom;
        }
    free(k);
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->e[i].split, "train") && m3ae_vocab_find(&held, t->e[i].image) >= 0) {
            free(t->e[i].split);
            if (!(t->e[i].split = dup_s("heldout"))) {
                m3ae_vocab_free(&held);
                goto oom;
            }
        }
    m3ae_vocab_free(&held);
    m3ae_vocab_free(&imgs);
    return 0;
oom:
    m3ae_vocab_free(&imgs);
    return m3ae_error_set(err, "out of memory"), M3AE_EXIT_SYSTEM;
}

/* The normalised answer: each '#' alternative (when the format has them) normalised, empty ones
 * dropped, joined by '#'. cls keeps the class name as it is (the official uses the raw values). */
static int normalise(const m3ae_task_input *t, m3ae_task_entry *e) {
    if (!e->answer) return 0;
    if (!strcmp(t->task, "cls")) return (e->norm = dup_s(e->answer)) ? 0 : -1;
    size_t len = strlen(e->answer);
    char *out = malloc(2 * len + 2);
    if (!out) return -1;
    size_t o = 0;
    const char *s = e->answer, *end = s + len;
    while (s <= end) {
        const char *h = t->alternatives ? memchr(s, '#', (size_t)(end - s)) : NULL;
        if (!h) h = end;
        char *n = m3ae_normalize_answer(s, (size_t)(h - s));
        if (!n) {
            free(out);
            return -1;
        }
        if (*n) {
            if (o) out[o++] = '#';
            size_t nl = strlen(n);
            memcpy(out + o, n, nl);
            o += nl;
        }
        free(n);
        s = h + 1;
    }
    out[o] = 0;
    e->norm = out;
    return 0;
}

/* Calls fn on each '#' alternative of norm. */
static int each_alternative(const char *norm, int (*fn)(void *, const char *), void *arg) {
    char buf[4096];
    const char *s = norm;
    while (*s) {
        const char *h = strchr(s, '#');
        size_t n = h ? (size_t)(h - s) : strlen(s);
        if (n >= sizeof buf) n = sizeof buf - 1;
        memcpy(buf, s, n);
        buf[n] = 0;
        if (fn(arg, buf)) return -1;
        s += n + (h ? 1 : 0);
    }
    return 0;
}

static int add_word(void *v, const char *w) { return m3ae_vocab_add(v, w) < 0 ? -1 : 0; }

typedef struct {
    const m3ae_vocab *v;
    int32_t *labels;
    uint32_t n;
} label_acc;

static int find_word(void *a, const char *w) {
    label_acc *acc = a;
    int32_t k = m3ae_vocab_find(acc->v, w);
    if (k < 0) return 0;
    for (uint32_t i = 0; i < acc->n; i++)
        if (acc->labels[i] == k) return 0;
    acc->labels[acc->n++] = k;
    return 0;
}

static int vocab_from_dataset(const char *dir, const char *task, m3ae_vocab *v, m3ae_error *err) {
    m3ae_manifest m;
    m3ae_error e;
    if (m3ae_manifest_read(dir, &m, &e))
        return m3ae_error_set(err, "--answer-vocab '%s' is neither train, all nor a prepared dataset: %s", dir, e.msg),
               M3AE_EXIT_USAGE;
    int rc = 0;
    if (strcmp(m.task.task, task))
        rc = m3ae_error_set(err, "--answer-vocab '%s' is a '%s' dataset, this conversion is '%s'; give the training "
                                 "split of the same dataset", dir, m.task.task[0] ? m.task.task : "pretraining", task),
        rc = M3AE_EXIT_USAGE;
    for (uint32_t i = 0; !rc && i < m.task.n_labels; i++)
        if (m3ae_vocab_add(v, m.task.labels[i]) < 0) rc = m3ae_error_set(err, "out of memory"), rc = M3AE_EXIT_SYSTEM;
    m3ae_manifest_free(&m);
    return rc;
}

static void official_check(const m3ae_task_input *t, m3ae_manifest_task *mt) {
    const m3ae_task_official *of = &t->official;
    uint64_t got[3] = {0, 0, 0}, want[3] = {of->train, of->val, of->test};
    const char *names[3] = {"train", "val", "test"};
    for (int i = 0; i < mt->n_splits; i++) {
        int r = split_rank(mt->splits[i].name);
        if (r < 3) got[r] += mt->splits[i].questions;
    }
    char *o = mt->official;
    size_t cap = sizeof mt->official;
    int n = snprintf(o, cap, "official %s: %u labels", of->name, of->labels);
    for (int k = 0; k < 3; k++)
        if (want[k]) n += snprintf(o + n, cap - (size_t)n, ", %s %" PRIu64, names[k], want[k]);
    n += snprintf(o + n, cap - (size_t)n, "; here: %u labels", mt->n_labels);
    for (int k = 0; k < 3; k++)
        if (want[k]) n += snprintf(o + n, cap - (size_t)n, ", %s %" PRIu64, names[k], got[k]);
    int same = mt->n_labels == of->labels;
    for (int k = 0; k < 3; k++) same = same && (!want[k] || got[k] == want[k]);
    if (same) {
        snprintf(o + n, cap - (size_t)n, ": matches");
        return;
    }
    n += snprintf(o + n, cap - (size_t)n, ": differs (");
    int first = 1;
    if (mt->n_labels != of->labels)
        n += snprintf(o + n, cap - (size_t)n, "labels %+lld", (long long)mt->n_labels - (long long)of->labels),
            first = 0;
    for (int k = 0; k < 3; k++)
        if (want[k] && got[k] != want[k])
            n += snprintf(o + n, cap - (size_t)n, "%s%s %+lld", first ? "" : ", ", names[k],
                          (long long)got[k] - (long long)want[k]),
                first = 0;
    snprintf(o + n, cap - (size_t)n, "%s", ")");
}

int m3ae_task_finish(const m3ae_prep_options *o, m3ae_task_input *t, m3ae_prep_list *l, m3ae_manifest_task *mt,
                     m3ae_error *err) {
    const char *split = o->split ? o->split : "train";
    const char *mode = o->answer_vocab ? o->answer_vocab : "train";
    int vqa = !strcmp(t->task, "vqa"), cls = !strcmp(t->task, "cls"), irtr = !strcmp(t->task, "irtr");
    int rc = 0;
    m3ae_vocab v = {0};
    snprintf(mt->task, sizeof mt->task, "%s", t->task);
    snprintf(mt->split, sizeof mt->split, "%s", split);
    snprintf(mt->targets, sizeof mt->targets, "%s", irtr ? "" : "targets.jsonl");
    mt->skipped = t->skipped;
    snprintf(mt->skipped_reason, sizeof mt->skipped_reason, "%s", t->skipped_reason);
    if (!strcmp(split, "heldout") && !(o->holdout > 0))
        return m3ae_error_set(err, "--split heldout needs --holdout F (the fraction of training images held out)"),
               M3AE_EXIT_USAGE;
    if (o->holdout > 0 && (rc = apply_holdout(o->holdout, t, err))) return rc;
    for (size_t i = 0; i < t->n; i++)
        if (normalise(t, &t->e[i])) return m3ae_error_set(err, "out of memory"), M3AE_EXIT_SYSTEM;

    /* the vocabulary */
    if (!irtr) {
        if (strcmp(mode, "train") && strcmp(mode, "all")) {
            if ((rc = vocab_from_dataset(mode, t->task, &v, err))) goto done;
        } else {
            int all = !strcmp(mode, "all");
            for (int r = 0; r < 3; r++)
                for (size_t i = 0; i < t->n; i++) {
                    m3ae_task_entry *e = &t->e[i];
                    if (split_rank(e->split) != r || !e->norm || (!all && strcmp(e->split, "train"))) continue;
                    if (each_alternative(e->norm, add_word, &v)) {
                        rc = m3ae_error_set(err, "out of memory"), rc = M3AE_EXIT_SYSTEM;
                        goto done;
                    }
                }
            if (t->sort_labels && m3ae_vocab_sort(&v)) {
                rc = m3ae_error_set(err, "out of memory"), rc = M3AE_EXIT_SYSTEM;
                goto done;
            }
        }
    }
    snprintf(mt->label_source, sizeof mt->label_source, "%s", irtr ? "" : mode);

    /* counts per split, in the order train, heldout, val, test */
    static const char *const order[] = {"train", "heldout", "val", "test"};
    for (int k = 0; k < 4; k++) {
        m3ae_vocab imgs = {0};
        uint64_t q = 0;
        for (size_t i = 0; i < t->n; i++)
            if (!strcmp(t->e[i].split, order[k])) {
                q++;
                if (m3ae_vocab_add(&imgs, t->e[i].image) < 0) rc = M3AE_EXIT_SYSTEM;
            }
        if (q && mt->n_splits < 8) mt->splits[mt->n_splits++] = (m3ae_manifest_split){"", q, imgs.n};
        if (q) snprintf(mt->splits[mt->n_splits - 1].name, sizeof mt->splits[0].name, "%s", order[k]);
        m3ae_vocab_free(&imgs);
        if (rc) {
            m3ae_error_set(err, "out of memory");
            goto done;
        }
    }
    int found = 0;
    char have[128] = "";
    for (int i = 0; i < mt->n_splits; i++) {
        found |= !strcmp(mt->splits[i].name, split);
        size_t hl = strlen(have);
        snprintf(have + hl, sizeof have - hl, "%s%s", i ? ", " : "", mt->splits[i].name);
    }
    if (!found) {
        rc = m3ae_error_set(err, "the input '%s' holds no '%s' split (it holds: %s); choose another --split", o->input,
                            split, mt->n_splits ? have : "nothing"),
        rc = M3AE_EXIT_DATA;
        goto done;
    }

    /* the chosen split's entries go to the image list */
    l->min_words = irtr ? o->min_words : 1;
    for (size_t i = 0; i < t->n; i++) {
        m3ae_task_entry *e = &t->e[i];
        if (strcmp(e->split, split)) continue;
        if (!irtr && (!e->norm || !*e->norm)) {
            char reason[300];
            snprintf(reason, sizeof reason, "%s '%.200s' %s", vqa ? "the answer" : "the class",
                     e->answer ? e->answer : "", vqa ? "normalises to nothing" : "is empty");
            m3ae_prep_reject(l, "text", e->line, e->image, e->text, reason);
            l->input_texts++;
            l->rejected_texts++;
            continue;
        }
        long idx = m3ae_prep_add(l, e->path, e->image, e->text, strlen(e->text), e->line, irtr ? 1 : 0, err);
        if (idx < 0) {
            rc = M3AE_EXIT_SYSTEM;
            goto done;
        }
        if (irtr) continue;
        m3ae_prep_item *it = &l->items[idx];
        it->question = vqa ? dup_s(e->text) : NULL;
        it->answer = dup_s(e->norm);
        it->qid = dup_s(e->qid);
        it->split = dup_s(e->split);
        it->answer_type = e->answer_type;
        uint32_t nalt = 1;
        for (const char *c = e->norm; *c; c++) nalt += *c == '#';
        label_acc acc = {&v, malloc(nalt * sizeof(int32_t)), 0};
        if (!it->answer || !it->split || (vqa && !it->question) || (e->qid && !it->qid) || !acc.labels) {
            free(acc.labels);
            rc = m3ae_error_set(err, "out of memory"), rc = M3AE_EXIT_SYSTEM;
            goto done;
        }
        if (cls) {
            int32_t k = m3ae_vocab_find(&v, e->norm);
            if (k >= 0) acc.labels[acc.n++] = k;
        } else {
            each_alternative(e->norm, find_word, &acc);
        }
        it->labels = acc.labels;
        it->n_labels = acc.n;
        it->label = acc.n ? acc.labels[0] : -1;
    }
    /* the labels for the manifest */
    mt->labels = calloc(v.n ? v.n : 1, sizeof *mt->labels);
    mt->inputs = calloc((size_t)t->n_inputs + 1, sizeof *mt->inputs);
    if (!mt->labels || !mt->inputs) {
        rc = m3ae_error_set(err, "out of memory"), rc = M3AE_EXIT_SYSTEM;
        goto done;
    }
    for (uint32_t i = 0; i < v.n; i++) {
        mt->labels[i] = v.words[i];
        v.words[i] = NULL;
    }
    mt->n_labels = v.n;
    v.n = 0;
    memcpy(mt->inputs, t->inputs, (size_t)t->n_inputs * sizeof *mt->inputs);
    mt->n_inputs = t->n_inputs;
    if (!strcmp(mode, "all") && t->official.name) official_check(t, mt);
done:
    m3ae_vocab_free(&v);
    return rc;
}

void m3ae_task_log(FILE *f, const m3ae_manifest_task *mt) {
    fprintf(f, "prep: task %s, split %s: %" PRIu64 " %s written, %" PRIu64 " distinct images", mt->task, mt->split,
            mt->questions, !strcmp(mt->task, "vqa") ? "questions" : "samples", mt->images);
    if (strcmp(mt->task, "irtr"))
        fprintf(f, ", %" PRIu64 " with an answer outside the vocabulary (label -1)", mt->unseen);
    fprintf(f, "\n");
    for (int i = 0; i < mt->n_splits; i++)
        fprintf(f, "prep:   input split %-8s %7" PRIu64 " entries, %6" PRIu64 " distinct images\n", mt->splits[i].name,
                mt->splits[i].questions, mt->splits[i].images);
    if (mt->skipped) fprintf(f, "prep:   skipped by design: %" PRIu64 " (%s)\n", mt->skipped, mt->skipped_reason);
    if (strcmp(mt->task, "irtr")) {
        const char *src = mt->label_source;
        fprintf(f, "prep:   label vocabulary: %u labels, from %s\n", mt->n_labels,
                !strcmp(src, "all") ? "all splits (train+val+test answers, the official setup: it includes the "
                                      "test answers)"
                : !strcmp(src, "train") ? "the training split"
                                        : src);
    }
    if (mt->official[0]) fprintf(f, "prep:   %s\n", mt->official);
    for (int i = 0; i < mt->n_inputs; i++)
        fprintf(f, "prep:   input %s sha256 %s\n", mt->inputs[i].path, mt->inputs[i].sha256);
}

const char *m3ae_task_json_text(const m3ae_json *v, char *buf, size_t cap, size_t *len) {
    if (m3ae_json_type(v) == M3AE_JSON_STRING) return m3ae_json_str(v, len);
    if (m3ae_json_type(v) != M3AE_JSON_NUMBER) return NULL;
    double d = m3ae_json_num(v);
    if (d == (double)(long long)d && d > -9e15 && d < 9e15) {
        snprintf(buf, cap, "%lld", (long long)d);
    } else {
        for (int p = 1; p <= 17; p++) {
            snprintf(buf, cap, "%.*g", p, d);
            if (strtod(buf, NULL) == d) break;
        }
    }
    *len = strlen(buf);
    return buf;
}

int m3ae_task_read_file(const char *path, char **text, size_t *len, m3ae_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return m3ae_error_set(err, "cannot open the input '%s': %s", path, strerror(errno)), M3AE_EXIT_DATA;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *nb = realloc(b, cap *= 2);
        if (!nb) free(b);
        b = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (!b) return m3ae_error_set(err, "out of memory reading '%s'", path), M3AE_EXIT_SYSTEM;
    if (bad) {
        free(b);
        return m3ae_error_set(err, "reading '%s' failed", path), M3AE_EXIT_DATA;
    }
    b[n] = 0;
    *text = b;
    *len = n;
    return 0;
}

void m3ae_task_dirname(char *out, size_t cap, const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

int m3ae_task_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int m3ae_task_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
