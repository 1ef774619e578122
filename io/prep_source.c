/* The image/text list of the prep converters: cleaning, grouping by image, rejection log. */
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "io/prep.h"
#include "io/prep_source.h"

/* Python str.isspace() code points (what \s and str.strip()/split() use for str). */
static int is_space_cp(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Length of the whitespace character at s (0 if none). Only well-formed UTF-8 sequences count. */
size_t m3ae_prep_space_len(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    if (s[0] < 0x80) return is_space_cp(s[0]) ? 1 : 0;
    if (n >= 2 && s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0)) return 2;
    if (n >= 3 && (s[0] == 0xE1 || s[0] == 0xE2 || s[0] == 0xE3) && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
        uint32_t c = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return is_space_cp(c) ? 3 : 0;
    }
    return 0;
}

int m3ae_prep_clean_text(const char *text, size_t len, char *out) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, o = 0;
    int words = 0, pending = 0;
    while (i < len) {
        size_t sl = m3ae_prep_space_len(s + i, len - i);
        if (sl) {
            pending = 1;
            i += sl;
            continue;
        }
        if (pending && o > 0) out[o++] = ' ';
        if (pending || o == 0) words++;
        pending = 0;
        out[o++] = (char)s[i++];
    }
    out[o] = 0;
    return words;
}

void m3ae_prep_join(char *out, size_t cap, const char *file, const char *rel) {
    if (rel[0] == '/') {
        snprintf(out, cap, "%s", rel);
        return;
    }
    const char *slash = strrchr(file, '/');
    if (!slash)
        snprintf(out, cap, "%s", rel);
    else
        snprintf(out, cap, "%.*s/%s", (int)(slash - file), file, rel);
}

long m3ae_prep_getline(char **buf, size_t *cap, FILE *f) {
    size_t n = 0;
    int c;
    while ((c = getc(f)) != EOF) {
        if (n + 2 > *cap) {
            size_t nc = *cap ? *cap * 2 : 4096;
            char *b = realloc(*buf, nc);
            if (!b) return -1;
            *buf = b;
            *cap = nc;
        }
        if (c == '\n') break;
        (*buf)[n++] = (char)c;
    }
    if (c == EOF && n == 0) return -1;
    if (n > 0 && (*buf)[n - 1] == '\r') n--;
    (*buf)[n] = 0;
    return (long)n;
}

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int table_grow(m3ae_prep_list *l) {
    size_t cap = l->table_cap ? l->table_cap * 2 : 1024;
    size_t *t = malloc(cap * sizeof *t);
    if (!t) return -1;
    for (size_t i = 0; i < cap; i++) t[i] = SIZE_MAX;
    for (size_t k = 0; k < l->n; k++) {
        if (!l->items[k].grouped) continue;
        size_t h = hash_str(l->items[k].image_id) & (cap - 1);
        while (t[h] != SIZE_MAX) h = (h + 1) & (cap - 1);
        t[h] = k;
    }
    free(l->table);
    l->table = t;
    l->table_cap = cap;
    return 0;
}

void m3ae_prep_reject(m3ae_prep_list *l, const char *kind, uint64_t line, const char *image_id, const char *text,
                      const char *reason) {
    if (!l->rejected) return;
    FILE *f = l->rejected;
    fprintf(f, "{\"kind\": \"%s\", \"line\": %llu, \"image\": ", kind, (unsigned long long)line);
    m3ae_json_write_string(f, image_id ? image_id : "", image_id ? strlen(image_id) : 0);
    if (text) {
        fputs(", \"text\": ", f);
        m3ae_json_write_string(f, text, strlen(text));
    }
    fputs(", \"reason\": ", f);
    m3ae_json_write_string(f, reason, strlen(reason));
    fputs("}\n", f);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

long m3ae_prep_add(m3ae_prep_list *l, const char *path, const char *image_id, const char *text, size_t text_len,
                   uint64_t line, int group, m3ae_error *err) {
    l->input_texts++;
    char *clean = malloc(text_len + 1);
    if (!clean) return m3ae_error_set(err, "out of memory");
    int words = m3ae_prep_clean_text(text, text_len, clean);
    /* find or create the item */
    size_t idx = SIZE_MAX, slot = 0;
    if (group == 2 && l->n > 0) {
        idx = l->n - 1;
    } else if (group == 2) {
        group = 0;
    } else if (group) {
        if (l->n * 2 + 2 > l->table_cap && table_grow(l)) goto oom;
        slot = hash_str(image_id) & (l->table_cap - 1);
        while (l->table[slot] != SIZE_MAX) {
            if (!strcmp(l->items[l->table[slot]].image_id, image_id)) {
                idx = l->table[slot];
                break;
            }
            slot = (slot + 1) & (l->table_cap - 1);
        }
    }
    if (idx == SIZE_MAX) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? 2 * l->cap : 1024;
            m3ae_prep_item *it = realloc(l->items, cap * sizeof *it);
            if (!it) goto oom;
            l->items = it;
            l->cap = cap;
        }
        m3ae_prep_item *it = &l->items[l->n];
        memset(it, 0, sizeof *it);
        it->label = -1;
        it->answer_type = -1;
        it->line = line;
        it->path = dup_str(path);
        it->image_id = dup_str(image_id);
        if (!it->path || !it->image_id) {
            free(it->path);
            free(it->image_id);
            goto oom;
        }
        it->grouped = group == 1;
        idx = l->n++;
        if (group == 1) l->table[slot] = idx;
    }
    m3ae_prep_item *it = &l->items[idx];
    it->n_texts++;
    if (words < l->min_words) {
        char reason[96];
        snprintf(reason, sizeof reason, "text has %d words, fewer than --min-words %d", words, l->min_words);
        m3ae_prep_reject(l, "text", line, image_id, clean, reason);
        l->rejected_texts++;
        free(clean);
        return (long)idx;
    }
    if (it->n_captions == it->cap) {
        uint32_t cap = it->cap ? 2 * it->cap : 2;
        char **c = realloc(it->captions, cap * sizeof *c);
        if (!c) goto oom;
        it->captions = c;
        it->cap = cap;
    }
    it->captions[it->n_captions++] = clean;
    return (long)idx;
oom:
    free(clean);
    return m3ae_error_set(err, "out of memory while reading the input (at line %llu)", (unsigned long long)line);
}

void m3ae_prep_list_free(m3ae_prep_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        m3ae_prep_item *it = &l->items[i];
        for (uint32_t k = 0; k < it->n_captions; k++) free(it->captions[k]);
        free(it->captions);
        free(it->path);
        free(it->image_id);
        free(it->question);
        free(it->answer);
        free(it->qid);
        free(it->split);
        free(it->labels);
        free(it->group);
    }
    free(l->items);
    free(l->table);
    l->items = NULL;
    l->table = NULL;
    l->n = l->cap = l->table_cap = 0;
}
