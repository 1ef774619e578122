/* `m3ae prep --format roco-retrieval`: the ROCO image-caption retrieval subsets of the official
 * (prepro_finetuning_data.py prepro_irtr_roco). --input is the ROCO data folder holding
 * train/radiology/, validation/radiology/ (or val/) and test/radiology/, each with captions.txt
 * ("ROCO_ID<TAB>caption"), dlinks.txt and images/.
 *
 * The official shuffling, reproduced exactly: random.seed(42) once, then for train, val, test in
 * that order: lines = file.read().strip().split("\n"); random.shuffle(lines); a line counts when
 * line.strip().split("\t") has two fields and the caption has >= 3 words; val and test stop after
 * 2,000 such pairs (--subset). Python's shuffle is ported bit for bit (MT19937 init_by_array([42]),
 * _randbelow by getrandbits rejection), so the val and test subsets need the line counts of the
 * earlier splits' captions.txt (the random stream runs through them). One difference: the caption is
 * cleaned as the pretraining converter does (also stripped; the official keeps the space after the
 * tab as a leading space).
 *
 * Images: images/<ROCO_ID>.jpg; when that file is absent, the name dlinks.txt gives
 * ("ROCO_ID<TAB>... <url>/<PMCID>.tar.gz<TAB><file>") as images/<PMCID>_<file> or images/<file>. */
#include <stdlib.h>
#include <string.h>

#include "io/prep_task.h"

/* ---- MT19937 as CPython's random module ---- */
typedef struct {
    uint32_t mt[624];
    int i;
} mt19937;

static void mt_init(mt19937 *m, uint32_t s) {
    m->mt[0] = s;
    for (int i = 1; i < 624; i++) m->mt[i] = 1812433253u * (m->mt[i - 1] ^ (m->mt[i - 1] >> 30)) + (uint32_t)i;
    m->i = 624;
}

/* random.seed(n) for a small non-negative int n: init_by_array with the key [n]. */
static void mt_seed_python(mt19937 *m, uint32_t n) {
    mt_init(m, 19650218u);
    int i = 1;
    for (int k = 624; k; k--) {
        m->mt[i] = (m->mt[i] ^ ((m->mt[i - 1] ^ (m->mt[i - 1] >> 30)) * 1664525u)) + n; /* + key[0] + j(=0) */
        if (++i >= 624) m->mt[0] = m->mt[623], i = 1;
    }
    for (int k = 623; k; k--) {
        m->mt[i] = (m->mt[i] ^ ((m->mt[i - 1] ^ (m->mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        if (++i >= 624) m->mt[0] = m->mt[623], i = 1;
    }
    m->mt[0] = 0x80000000u;
    m->i = 624;
}

static uint32_t mt_next(mt19937 *m) {
    if (m->i >= 624) {
        for (int k = 0; k < 624; k++) {
            uint32_t y = (m->mt[k] & 0x80000000u) | (m->mt[(k + 1) % 624] & 0x7fffffffu);
            m->mt[k] = m->mt[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        m->i = 0;
    }
    uint32_t y = m->mt[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

/* random._randbelow(n) for 1 <= n < 2^32: getrandbits(n.bit_length()) until below n. */
static uint32_t mt_below(mt19937 *m, uint32_t n) {
    int k = 0;
    while (k < 32 && (n >> k)) k++;
    for (;;) {
        uint32_t r = mt_next(m) >> (32 - k);
        if (r < n) return r;
    }
}

/* random.shuffle(x) applied to the indices 0..n-1. */
static void py_shuffle(mt19937 *m, size_t *x, size_t n) {
    for (size_t i = n; i-- > 1;) {
        size_t j = mt_below(m, (uint32_t)(i + 1));
        size_t t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

/* Python str.strip() bounds of [s, s+n). */
static void py_strip(const char *s, size_t n, size_t *b, size_t *e) {
    size_t i = 0, last = 0;
    while (i < n) {
        size_t sl = m3ae_prep_space_len((const unsigned char *)s + i, n - i);
        if (!sl) break;
        i += sl;
    }
    *b = i;
    last = i;
    while (i < n) {
        size_t sl = m3ae_prep_space_len((const unsigned char *)s + i, n - i);
        if (sl)
            i += sl;
        else
            last = ++i;
    }
    *e = last;
}

typedef struct {
    char **id, **name; /* dlinks: ROCO id -> (PMCID_file, file) */
    size_t n;
} dlinks;

static void dlinks_free(dlinks *d) {
    for (size_t i = 0; i < d->n; i++) free(d->id[i]), free(d->name[i]);
    free(d->id);
    free(d->name);
}

static int dlinks_read(const char *file, dlinks *d, m3ae_task_input *t, m3ae_error *err) {
    if (!m3ae_task_is_file(file)) return 0;
    int rc = m3ae_task_add_input(t, file, err);
    if (rc) return rc;
    FILE *f = fopen(file, "rb");
    if (!f) return m3ae_error_set(err, "cannot open '%s'", file), M3AE_EXIT_DATA;
    char *buf = NULL;
    size_t cap = 0, dcap = 0;
    long n;
    while ((n = m3ae_prep_getline(&buf, &cap, f)) >= 0) {
        char *t1 = strchr(buf, '\t'), *t2 = t1 ? strrchr(buf, '\t') : NULL;
        if (!t1 || t2 == t1) continue;
        *t1 = 0;
        *t2 = 0;
        char *file_name = t2 + 1, *tar = strstr(t1 + 1, ".tar.gz");
        while (*file_name == ' ') file_name++;
        if (!tar) continue;
        char *b = tar;
        while (b > t1 + 1 && b[-1] != '/' && b[-1] != ' ') b--;
        char *id = buf;
        while (*id == ' ') id++;
        if (d->n == dcap) {
            dcap = dcap ? 2 * dcap : 1024;
            char **a = realloc(d->id, dcap * sizeof *a), **c = a ? realloc(d->name, dcap * sizeof *c) : NULL;
            if (a) d->id = a;
            if (!a || !c) {
                rc = M3AE_EXIT_SYSTEM;
                break;
            }
            d->name = c;
        }
        size_t pl = (size_t)(tar - b), fl = strlen(file_name);
        d->id[d->n] = malloc(strlen(id) + 1);
        d->name[d->n] = malloc(pl + fl + 2);
        if (!d->id[d->n] || !d->name[d->n]) {
            free(d->id[d->n]), free(d->name[d->n]);
            rc = M3AE_EXIT_SYSTEM;
            break;
        }
        strcpy(d->id[d->n], id);
        memcpy(d->name[d->n], b, pl);
        d->name[d->n][pl] = '_';
        memcpy(d->name[d->n] + pl + 1, file_name, fl + 1);
        d->n++;
    }
    free(buf);
    fclose(f);
    if (rc) m3ae_error_set(err, "out of memory reading '%s'", file);
    return rc;
}

static const char *dlinks_find(const dlinks *d, const char *id) {
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->id[i], id)) return d->name[i];
    return NULL;
}

/* The folder of split k (0 train, 1 val, 2 test) under root, or "" when absent. */
static void split_dir(const char *root, int k, char *out, size_t cap) {
    static const char *const names[3][2] = {{"train", "train"}, {"validation", "val"}, {"test", "test"}};
    for (int a = 0; a < 2; a++) {
        snprintf(out, cap, "%s/%s/radiology", root, names[k][a]);
        if (m3ae_task_is_dir(out)) return;
    }
    out[0] = 0;
}

int m3ae_prep_parse_roco_retrieval(const m3ae_prep_options *o, m3ae_task_input *t, m3ae_prep_list *l,
                                   m3ae_error *err) {
    t->task = "irtr";
    const char *split = o->split ? o->split : "train";
    int target = !strcmp(split, "train") ? 0 : !strcmp(split, "val") ? 1 : !strcmp(split, "test") ? 2 : -1;
    if (target < 0)
        return m3ae_error_set(err, "--split '%s': ROCO retrieval has train, val and test", split), M3AE_EXIT_USAGE;
    if (!m3ae_task_is_dir(o->input))
        return m3ae_error_set(err, "--input '%s' is not a folder: give the ROCO data folder holding train/, "
                                   "validation/ and test/", o->input),
               M3AE_EXIT_USAGE;
    mt19937 m;
    mt_seed_python(&m, 42);
    char dir[4400], file[4500];
    int rc = 0;
    for (int k = 0; !rc && k <= target; k++) {
        static const char *const names[] = {"train", "val", "test"};
        split_dir(o->input, k, dir, sizeof dir);
        if (!dir[0])
            return m3ae_error_set(err, "'%s' has no %s/radiology/ folder; the official %s subset depends on the "
                                       "shuffle of every earlier split's captions.txt (train, then val, then test)",
                                  o->input, names[k], split),
                   M3AE_EXIT_DATA;
        snprintf(file, sizeof file, "%s/captions.txt", dir);
        char *text;
        size_t len;
        if ((rc = m3ae_task_read_file(file, &text, &len, err)) || (rc = m3ae_task_add_input(t, file, err))) break;
        size_t b, e;
        py_strip(text, len, &b, &e);
        size_t n = 1;
        for (size_t i = b; i < e; i++) n += text[i] == '\n';
        size_t *idx = malloc(n * sizeof *idx), *start = malloc((n + 1) * sizeof *start);
        if (!idx || !start) {
            free(idx), free(start), free(text);
            return m3ae_error_set(err, "out of memory"), M3AE_EXIT_SYSTEM;
        }
        size_t c = 0;
        start[c++] = b;
        for (size_t i = b; i < e; i++)
            if (text[i] == '\n') start[c++] = i + 1;
        start[c] = e + 1; /* line i is [start[i], start[i+1]-1) */
        for (size_t i = 0; i < n; i++) idx[i] = i;
        py_shuffle(&m, idx, n);
        if (k == target) {
            dlinks dl = {0};
            snprintf(file, sizeof file, "%s/dlinks.txt", dir);
            rc = dlinks_read(file, &dl, t, err);
            size_t kept = 0;
            char *clean = malloc(e - b + 2), rel[4200], path[8800];
            if (!clean) rc = M3AE_EXIT_SYSTEM, m3ae_error_set(err, "out of memory");
            for (size_t q = 0; !rc && q < n; q++) {
                if (target > 0 && o->subset > 0 && kept == (size_t)o->subset) break;
                size_t ls = start[idx[q]], le = start[idx[q] + 1] - 1, sb, se;
                py_strip(text + ls, le - ls, &sb, &se);
                char *line = text + ls + sb;
                size_t ll = se - sb;
                char *tab = memchr(line, '\t', ll);
                uint64_t lineno = idx[q] + 1;
                if (!tab || memchr(tab + 1, '\t', ll - (size_t)(tab + 1 - line))) {
                    l->input_texts++;
                    l->rejected_texts++;
                    m3ae_prep_reject(l, "line", lineno, NULL, NULL, "not \"ROCO_ID<TAB>caption\" (two fields)");
                    continue;
                }
                size_t cl = ll - (size_t)(tab + 1 - line);
                int words = m3ae_prep_clean_text(tab + 1, cl, clean);
                snprintf(rel, sizeof rel, "%.*s", (int)(tab - line), line);
                if (words < o->min_words) {
                    char reason[96];
                    snprintf(reason, sizeof reason, "text has %d words, fewer than --min-words %d", words,
                             o->min_words);
                    l->input_texts++;
                    l->rejected_texts++;
                    m3ae_prep_reject(l, "text", lineno, rel, clean, reason);
                    continue;
                }
                char id[4200];
                snprintf(id, sizeof id, "%s", rel);
                snprintf(rel, sizeof rel, "images/%s.jpg", id);
                snprintf(path, sizeof path, "%s/%s", dir, rel);
                const char *alt = m3ae_task_is_file(path) ? NULL : dlinks_find(&dl, id);
                if (alt) { /* renamed through dlinks.txt */
                    char rel2[4200], path2[8800];
                    snprintf(rel2, sizeof rel2, "images/%s", alt);
                    snprintf(path2, sizeof path2, "%s/%s", dir, rel2);
                    if (!m3ae_task_is_file(path2)) {
                        const char *us = strchr(alt, '_');
                        snprintf(rel2, sizeof rel2, "images/%s", us ? us + 1 : alt);
                        snprintf(path2, sizeof path2, "%s/%s", dir, rel2);
                    }
                    if (m3ae_task_is_file(path2)) {
                        snprintf(rel, sizeof rel, "%s", rel2);
                        snprintf(path, sizeof path, "%s", path2);
                    }
                }
                rc = m3ae_task_add(t, split, rel, path, tab + 1, cl, NULL, 0, NULL, -1, lineno, err);
                kept++;
            }
            free(clean);
            dlinks_free(&dl);
        }
        free(idx);
        free(start);
        free(text);
    }
    return rc;
}
