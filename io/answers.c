/* The official VQA answer normalisation (normalize_word) and label vocabularies. */
#include "io/answers.h"

#include <stdlib.h>
#include <string.h>

#include "io/prep_source.h"

/* The official tables (prepro/glossary.py). Keys with capitals ("Im", "Ive", ...) can never match
 * because the words are lower-cased before the lookup; they are kept so the table is the official. */
static const char *const contractions[][2] = {
    {"aint", "ain't"}, {"arent", "aren't"}, {"cant", "can't"}, {"couldve", "could've"}, {"couldnt", "couldn't"},
    {"couldn'tve", "couldn't've"}, {"couldnt've", "couldn't've"}, {"didnt", "didn't"}, {"doesnt", "doesn't"},
    {"dont", "don't"}, {"hadnt", "hadn't"}, {"hadnt've", "hadn't've"}, {"hadn'tve", "hadn't've"},
    {"hasnt", "hasn't"}, {"havent", "haven't"}, {"hed", "he'd"}, {"hed've", "he'd've"}, {"he'dve", "he'd've"},
    {"hes", "he's"}, {"howd", "how'd"}, {"howll", "how'll"}, {"hows", "how's"}, {"Id've", "I'd've"},
    {"I'dve", "I'd've"}, {"Im", "I'm"}, {"Ive", "I've"}, {"isnt", "isn't"}, {"itd", "it'd"},
    {"itd've", "it'd've"}, {"it'dve", "it'd've"}, {"itll", "it'll"}, {"let's", "let's"}, {"maam", "ma'am"},
    {"mightnt", "mightn't"}, {"mightnt've", "mightn't've"}, {"mightn'tve", "mightn't've"},
    {"mightve", "might've"}, {"mustnt", "mustn't"}, {"mustve", "must've"}, {"neednt", "needn't"},
    {"notve", "not've"}, {"oclock", "o'clock"}, {"oughtnt", "oughtn't"}, {"ow's'at", "'ow's'at"},
    {"'ows'at", "'ow's'at"}, {"'ow'sat", "'ow's'at"}, {"shant", "shan't"}, {"shed've", "she'd've"},
    {"she'dve", "she'd've"}, {"she's", "she's"}, {"shouldve", "should've"}, {"shouldnt", "shouldn't"},
    {"shouldnt've", "shouldn't've"}, {"shouldn'tve", "shouldn't've"}, {"somebody'd", "somebodyd"},
    {"somebodyd've", "somebody'd've"}, {"somebody'dve", "somebody'd've"}, {"somebodyll", "somebody'll"},
    {"somebodys", "somebody's"}, {"someoned", "someone'd"}, {"someoned've", "someone'd've"},
    {"someone'dve", "someone'd've"}, {"someonell", "someone'll"}, {"someones", "someone's"},
    {"somethingd", "something'd"}, {"somethingd've", "something'd've"}, {"something'dve", "something'd've"},
    {"somethingll", "something'll"}, {"thats", "that's"}, {"thered", "there'd"}, {"thered've", "there'd've"},
    {"there'dve", "there'd've"}, {"therere", "there're"}, {"theres", "there's"}, {"theyd", "they'd"},
    {"theyd've", "they'd've"}, {"they'dve", "they'd've"}, {"theyll", "they'll"}, {"theyre", "they're"},
    {"theyve", "they've"}, {"twas", "'twas"}, {"wasnt", "wasn't"}, {"wed've", "we'd've"},
    {"we'dve", "we'd've"}, {"weve", "we've"}, {"werent", "weren't"}, {"whatll", "what'll"},
    {"whatre", "what're"}, {"whats", "what's"}, {"whatve", "what've"}, {"whens", "when's"},
    {"whered", "where'd"}, {"wheres", "where's"}, {"whereve", "where've"}, {"whod", "who'd"},
    {"whod've", "who'd've"}, {"who'dve", "who'd've"}, {"wholl", "who'll"}, {"whos", "who's"},
    {"whove", "who've"}, {"whyll", "why'll"}, {"whyre", "why're"}, {"whys", "why's"}, {"wont", "won't"},
    {"wouldve", "would've"}, {"wouldnt", "wouldn't"}, {"wouldnt've", "wouldn't've"},
    {"wouldn'tve", "wouldn't've"}, {"yall", "y'all"}, {"yall'll", "y'all'll"}, {"y'allll", "y'all'll"},
    {"yall'd've", "y'all'd've"}, {"y'alld've", "y'all'd've"}, {"y'all'dve", "y'all'd've"}, {"youd", "you'd"},
    {"youd've", "you'd've"}, {"you'dve", "you'd've"}, {"youll", "you'll"}, {"youre", "you're"},
    {"youve", "you've"}};
static const char *const manual_map[][2] = {{"none", "0"}, {"zero", "0"}, {"one", "1"},   {"two", "2"},
                                            {"three", "3"}, {"four", "4"}, {"five", "5"},  {"six", "6"},
                                            {"seven", "7"}, {"eight", "8"}, {"nine", "9"}, {"ten", "10"}};
static const char *const articles[] = {"a", "an", "the"};
static const char punct[] = ";/[]\"{}()=+\\_-><@`,?!"; /* the official list, in its order */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int contains2(const char *s, size_t n, char a, char b) {
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == a && s[i + 1] == b) return 1;
    return 0;
}

static const char *lookup(const char *const (*table)[2], size_t n, const char *w, size_t wl) {
    for (size_t i = 0; i < n; i++)
        if (strlen(table[i][0]) == wl && !memcmp(table[i][0], w, wl)) return table[i][1];
    return NULL;
}

char *m3ae_normalize_word(const char *text, size_t len) {
    /* 1. punctuation: removed when it touches a space or the text has digit,comma,digit anywhere
     *    (tested on the original text for every mark), else replaced by a space. */
    int dcd = 0;
    for (size_t i = 0; i + 2 < len; i++)
        if (is_digit(text[i]) && text[i + 1] == ',' && is_digit(text[i + 2])) dcd = 1;
    int drop[256] = {0};
    for (const char *p = punct; *p; p++)
        drop[(unsigned char)*p] = 1 + (dcd || contains2(text, len, *p, ' ') || contains2(text, len, ' ', *p));
    char *a = malloc(len + 1), *b = malloc(len + 1);
    if (!a || !b) {
        free(a), free(b);
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (drop[c] == 2) continue;
        a[n++] = drop[c] == 1 ? ' ' : (char)c;
    }
    /* 2. periods not followed by a digit: the official period_strip.sub("", s, re.UNICODE) passes
     *    re.UNICODE (32) as the count, so only the first 32 are removed. Its "(?!<=\d)" is a
     *    lookahead that never matches at a '.', so it has no effect. */
    size_t m = 0;
    int removed = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i] == '.' && removed < 32 && !(i + 1 < n && is_digit(a[i + 1]))) {
            removed++;
            continue;
        }
        b[m++] = a[i];
    }
    /* 3. lower-case (ASCII and Latin-1 capitals), split on whitespace, number words, articles,
     *    contractions, join with single spaces, drop commas. */
    for (size_t i = 0; i < m; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c >= 'A' && c <= 'Z') b[i] = (char)(c + 32);
        if (c == 0xC3 && i + 1 < m) {
            unsigned char d = (unsigned char)b[i + 1];
            if (d >= 0x80 && d <= 0x9E && d != 0x97) b[i + 1] = (char)(d + 0x20);
            i++;
        }
    }
    char *out = malloc(2 * m + 8);
    if (!out) {
        free(a), free(b);
        return NULL;
    }
    size_t o = 0, i = 0;
    while (i < m) {
        size_t sl = m3ae_prep_space_len((const unsigned char *)b + i, m - i);
        if (sl) {
            i += sl;
            continue;
        }
        size_t s = i;
        while (i < m && !m3ae_prep_space_len((const unsigned char *)b + i, m - i)) i++;
        const char *w = b + s;
        size_t wl = i - s;
        const char *mapped = lookup(manual_map, sizeof manual_map / sizeof manual_map[0], w, wl);
        if (mapped) w = mapped, wl = strlen(mapped);
        int art = 0;
        for (size_t k = 0; k < 3; k++)
            if (strlen(articles[k]) == wl && !memcmp(articles[k], w, wl)) art = 1;
        if (art) continue;
        const char *c = lookup(contractions, sizeof contractions / sizeof contractions[0], w, wl);
        if (c) w = c, wl = strlen(c);
        if (o) out[o++] = ' ';
        for (size_t k = 0; k < wl; k++)
            if (w[k] != ',') out[o++] = w[k];
    }
    out[o] = 0;
    free(a);
    free(b);
    return out;
}

char *m3ae_normalize_answer(const char *text, size_t len) {
    /* lower() first, as the official str(answer).lower(); normalize_word lower-cases again */
    char *low = malloc(len + 1);
    if (!low) return NULL;
    for (size_t i = 0; i < len; i++) low[i] = (text[i] >= 'A' && text[i] <= 'Z') ? (char)(text[i] + 32) : text[i];
    low[len] = 0;
    char *r = m3ae_normalize_word(low, len);
    free(low);
    return r;
}

static uint64_t hash_word(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int rebuild(m3ae_vocab *v, uint32_t cap) {
    uint32_t *t = malloc((size_t)cap * sizeof *t);
    if (!t) return -1;
    for (uint32_t i = 0; i < cap; i++) t[i] = UINT32_MAX;
    for (uint32_t k = 0; k < v->n; k++) {
        uint32_t h = (uint32_t)(hash_word(v->words[k]) & (cap - 1));
        while (t[h] != UINT32_MAX) h = (h + 1) & (cap - 1);
        t[h] = k;
    }
    free(v->table);
    v->table = t;
    v->table_cap = cap;
    return 0;
}

int32_t m3ae_vocab_find(const m3ae_vocab *v, const char *word) {
    if (!v->table_cap) return -1;
    uint32_t h = (uint32_t)(hash_word(word) & (v->table_cap - 1));
    while (v->table[h] != UINT32_MAX) {
        if (!strcmp(v->words[v->table[h]], word)) return (int32_t)v->table[h];
        h = (h + 1) & (v->table_cap - 1);
    }
    return -1;
}

int32_t m3ae_vocab_add(m3ae_vocab *v, const char *word) {
    int32_t f = m3ae_vocab_find(v, word);
    if (f >= 0) return f;
    if (v->n == v->cap) {
        uint32_t cap = v->cap ? 2 * v->cap : 64;
        char **w = realloc(v->words, cap * sizeof *w);
        if (!w) return -1;
        v->words = w;
        v->cap = cap;
    }
    size_t l = strlen(word);
    char *d = malloc(l + 1);
    if (!d) return -1;
    memcpy(d, word, l + 1);
    v->words[v->n++] = d;
    if ((uint64_t)v->n * 2 > v->table_cap) {
        if (rebuild(v, v->table_cap ? 2 * v->table_cap : 128)) return -1;
    } else {
        uint32_t h = (uint32_t)(hash_word(d) & (v->table_cap - 1));
        while (v->table[h] != UINT32_MAX) h = (h + 1) & (v->table_cap - 1);
        v->table[h] = v->n - 1;
    }
    return (int32_t)(v->n - 1);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int m3ae_vocab_sort(m3ae_vocab *v) {
    if (v->n) qsort(v->words, v->n, sizeof *v->words, cmp_str);
    return v->table_cap ? rebuild(v, v->table_cap) : 0;
}

void m3ae_vocab_free(m3ae_vocab *v) {
    for (uint32_t i = 0; i < v->n; i++) free(v->words[i]);
    free(v->words);
    free(v->table);
    memset(v, 0, sizeof *v);
}
