/* RoBERTa byte-level BPE tokenizer, bit-exact with Hugging Face RobertaTokenizerFast.
 *
 * encode(text):
 *   1. invalid UTF-8 -> U+FFFD per maximal invalid subsequence (Python errors="replace")
 *   2. split out the special tokens <s> <pad> </s> <unk> <mask> written literally in the text
 *      (HF's added vocabulary; <mask> also swallows the whitespace before it: lstrip=True)
 *   3. each remaining segment: GPT-2 pre-tokenization regex, emulated by hand
 *        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *      with \p{L}, \p{N} from utf8proc categories and \s = the Unicode White_Space property
 *   4. each pre-token: its bytes -> byte-level symbol ids -> BPE merges by rank (lowest rank
 *      first, leftmost first among equal ranks) -> vocabulary ids
 *   5. <s> ids </s>, truncation to max_len (the first max_len-2 content ids) and <pad> padding.
 * The loaded tables are read-only; encode keeps its state on the stack plus a per-thread cache of
 * word -> ids, so one loaded tokenizer serves any number of threads. */
#include "io/tokenizer.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common/json.h"

enum { CLS_L, CLS_N, CLS_W, CLS_O }; /* letter, number, whitespace, other */

/* vocabulary: token string -> id (open addressing) */
typedef struct {
    uint32_t off, len; /* into strpool */
    int32_t id;        /* -1: empty slot */
} vocab_slot;

/* merges: (left id, right id) -> (rank, merged id) (open addressing) */
typedef struct {
    uint64_t key; /* left << 32 | right; UINT64_MAX: empty */
    int32_t rank, id;
} pair_slot;

struct m3ae_tokenizer {
    char *strpool;
    vocab_slot *vocab;
    size_t vocab_mask;
    int n_vocab;
    pair_slot *pairs;
    size_t pair_mask;
    int n_merges;
    int32_t byte_id[256]; /* vocabulary id of each byte's byte-level character */
    int32_t bos, eos, pad, unk, mask;
    uint8_t *continuation; /* (max(n_vocab, largest id + 1)) 1 where the entry's string begins with "##" */
    uint64_t gen; /* unique per loaded tokenizer: tags the per-thread word caches */
};

/* Per-thread cache of short words -> ids: direct-mapped, tagged with the tokenizer's generation
 * (a thread that switches tokenizers starts a fresh cache). Freed when the thread exits, or by
 * m3ae_tokenizer_free for the calling thread. Most caption words repeat, so this skips most BPE. */
#define WC_SLOTS 16384
#define WC_WORD 22
#define WC_IDS 8
typedef struct {
    uint8_t len, n;
    char word[WC_WORD];
    int32_t ids[WC_IDS];
} wc_entry;
typedef struct {
    uint64_t gen;
    wc_entry e[WC_SLOTS];
} word_cache;

static pthread_key_t wc_key;
static pthread_once_t wc_once = PTHREAD_ONCE_INIT;
static int wc_ok;
static atomic_uint_fast64_t next_gen = 1;

static void wc_init(void) { wc_ok = pthread_key_create(&wc_key, free) == 0; }

static word_cache *wc_get(const m3ae_tokenizer *t) {
    pthread_once(&wc_once, wc_init);
    if (!wc_ok) return NULL;
    word_cache *c = pthread_getspecific(wc_key);
    if (!c) {
        c = malloc(sizeof *c);
        if (!c) return NULL;
        if (pthread_setspecific(wc_key, c) != 0) {
            free(c);
            return NULL;
        }
        c->gen = 0;
    }
    if (c->gen != t->gen) {
        for (size_t i = 0; i < WC_SLOTS; i++) c->e[i].len = 0;
        c->gen = t->gen;
    }
    return c;
}

/* ---------------------------------------------------------------------------------------------
 * hashing */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_pair(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

static int vocab_find(const m3ae_tokenizer *t, const char *s, size_t n) {
    for (size_t i = hash_bytes(s, n) & t->vocab_mask;; i = (i + 1) & t->vocab_mask) {
        const vocab_slot *v = &t->vocab[i];
        if (v->id < 0) return -1;
        if (v->len == n && memcmp(t->strpool + v->off, s, n) == 0) return v->id;
    }
}

static const pair_slot *pair_find(const m3ae_tokenizer *t, int32_t a, int32_t b) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (size_t i = hash_pair(key) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        const pair_slot *p = &t->pairs[i];
        if (p->key == key) return p;
        if (p->key == UINT64_MAX) return NULL;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Unicode helpers */

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when s[0] starts an invalid one; *bad then
 * gets the length of the maximal invalid subpart to replace by one U+FFFD (Unicode's recommended
 * practice, which Python's decode(errors="replace") follows). */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t k = 1; k <= need; k++) {
        unsigned char ok_lo = k == 1 ? lo : 0x80, ok_hi = k == 1 ? hi : 0xBF;
        if (k >= n || s[k] < ok_lo || s[k] > ok_hi) {
            *bad = k;
            return 0;
        }
    }
    return need + 1;
}

/* Decodes one code point of valid UTF-8 at s; sets *len. */
static inline uint32_t utf8_decode(const unsigned char *s, size_t *len) {
    unsigned char c = s[0];
    if (c < 0x80) {
        *len = 1;
        return c;
    }
    if (c < 0xE0) {
        *len = 2;
        return (uint32_t)(c & 0x1F) << 6 | (s[1] & 0x3F);
    }
    if (c < 0xF0) {
        *len = 3;
        return (uint32_t)(c & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    }
    *len = 4;
    return (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 |
           (s[3] & 0x3F);
}

/* The Unicode White_Space property (what Oniguruma's \s and Rust's char::is_whitespace use). */
static inline int is_white_space(uint32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static const unsigned char ascii_class[128] = { /* 0 L, 1 N, 2 W, 3 other */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3,
    3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3,
    3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3,
};

/* Letters and numbers of Unicode 15.1/16.0, which the Oniguruma inside tokenizers 0.23 knows and
 * an older utf8proc reports as unassigned (Cn). Consulted only for code points utf8proc calls Cn;
 * tests/io_tokenizer/char_classes.txt (from the HF pre-tokenizer itself) checks every code point. */
static const struct {
    uint32_t lo, hi;
    int cls;
} newer_unicode[] = {
    {0x1C89, 0x1C8A, CLS_L}, {0xA7CB, 0xA7CD, CLS_L}, {0xA7DA, 0xA7DC, CLS_L}, {0x105C0, 0x105F3, CLS_L},
    {0x10D40, 0x10D49, CLS_N}, {0x10D4A, 0x10D65, CLS_L}, {0x10D6F, 0x10D85, CLS_L}, {0x10EC2, 0x10EC4, CLS_L},
    {0x11380, 0x11389, CLS_L}, {0x1138B, 0x1138B, CLS_L}, {0x1138E, 0x1138E, CLS_L}, {0x11390, 0x113B5, CLS_L},
    {0x113B7, 0x113B7, CLS_L}, {0x113D1, 0x113D1, CLS_L}, {0x113D3, 0x113D3, CLS_L}, {0x116D0, 0x116E3, CLS_N},
    {0x11BC0, 0x11BE0, CLS_L}, {0x11BF0, 0x11BF9, CLS_N}, {0x13460, 0x143FA, CLS_L}, {0x16100, 0x1611D, CLS_L},
    {0x16130, 0x16139, CLS_N}, {0x16D40, 0x16D6C, CLS_L}, {0x16D70, 0x16D79, CLS_N}, {0x18CFF, 0x18CFF, CLS_L},
    {0x1CCF0, 0x1CCF9, CLS_N}, {0x1E5D0, 0x1E5ED, CLS_L}, {0x1E5F0, 0x1E5F0, CLS_L}, {0x1E5F1, 0x1E5FA, CLS_N},
    {0x2EBF0, 0x2EE5D, CLS_L},
};

static int unassigned_class(uint32_t cp) {
    for (size_t i = 0; i < sizeof newer_unicode / sizeof newer_unicode[0]; i++)
        if (cp >= newer_unicode[i].lo && cp <= newer_unicode[i].hi) return newer_unicode[i].cls;
    return CLS_O;
}

static inline int char_class(uint32_t cp) {
    if (cp < 0x80) return ascii_class[cp];
    if (is_white_space(cp)) return CLS_W;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_CN: return unassigned_class(cp);
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: return CLS_L;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return CLS_N;
    default: return CLS_O;
    }
}

/* Class of the code point at s[i] (valid UTF-8, i < n); *len gets its byte length. */
static inline int class_at(const unsigned char *s, size_t i, size_t *len) {
    if (s[i] < 0x80) {
        *len = 1;
        return ascii_class[s[i]];
    }
    return char_class(utf8_decode(s + i, len));
}

/* ---------------------------------------------------------------------------------------------
 * loading */

static char *read_file(const char *path, size_t *len, m3ae_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        m3ae_error_set(err, "cannot open '%s': %s (the tokenizer folder needs vocab.json and merges.txt)", path,
                       strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
        } else {
            buf = nb;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) {
        m3ae_error_set(err, "out of memory reading '%s'", path);
        return NULL;
    }
    if (bad) {
        free(buf);
        m3ae_error_set(err, "cannot read '%s'", path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int load_vocab(m3ae_tokenizer *t, const char *path, m3ae_error *err) {
    size_t len;
    char *text = read_file(path, &len, err);
    if (!text) return -1;
    m3ae_error jerr;
    m3ae_json *root = m3ae_json_parse(text, len, &jerr);
    free(text);
    if (!root) return m3ae_error_set(err, "'%s' is not valid JSON: %s", path, jerr.msg);
    size_t n = m3ae_json_len(root);
    if (m3ae_json_type(root) != M3AE_JSON_OBJECT || n == 0 || n > (size_t)INT_MAX / 4) {
        m3ae_json_free(root);
        return m3ae_error_set(err, "'%s' must be a JSON object {\"token\": id, ...} with at least one token", path);
    }
    size_t pool = 0;
    for (size_t i = 0; i < n; i++) pool += strlen(m3ae_json_key_at(root, i)) + 1;
    if (pool > UINT32_MAX) {
        m3ae_json_free(root);
        return m3ae_error_set(err, "'%s' is too large (%zu bytes of tokens)", path, pool);
    }
    t->strpool = malloc(pool);
    size_t cap = pow2_at_least(2 * n);
    t->vocab = malloc(cap * sizeof *t->vocab);
    if (!t->strpool || !t->vocab) {
        m3ae_json_free(root);
        return m3ae_error_set(err, "out of memory loading '%s'", path);
    }
    t->vocab_mask = cap - 1;
    for (size_t i = 0; i < cap; i++) t->vocab[i].id = -1;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const char *key = m3ae_json_key_at(root, i);
        double v = m3ae_json_num(m3ae_json_at(root, i));
        if (!(v >= 0 && v < (double)INT_MAX) || v != (double)(int32_t)v) {
            m3ae_json_free(root);
            return m3ae_error_set(err, "'%s': the id of token \"%s\" must be an integer >= 0", path, key);
        }
        size_t kl = strlen(key);
        /* JSON keys may repeat: the last one wins (as in Python and serde). */
        size_t slot = hash_bytes(key, kl) & t->vocab_mask;
        while (t->vocab[slot].id >= 0 &&
               !(t->vocab[slot].len == kl && memcmp(t->strpool + t->vocab[slot].off, key, kl) == 0))
            slot = (slot + 1) & t->vocab_mask;
        if (t->vocab[slot].id < 0) {
            memcpy(t->strpool + off, key, kl + 1);
            t->vocab[slot].off = (uint32_t)off;
            t->vocab[slot].len = (uint32_t)kl;
            off += kl + 1;
            t->n_vocab++;
        }
        t->vocab[slot].id = (int32_t)v;
    }
    m3ae_json_free(root);
    return 0;
}

/* GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the others to U+0100.. */
static void byte_to_unicode(uint32_t table[256]) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        table[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
    }
}

static int load_merges(m3ae_tokenizer *t, const char *path, m3ae_error *err) {
    size_t len;
    char *text = read_file(path, &len, err);
    if (!text) return -1;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    size_t cap = pow2_at_least(2 * lines);
    t->pairs = malloc(cap * sizeof *t->pairs);
    if (!t->pairs) {
        free(text);
        return m3ae_error_set(err, "out of memory loading '%s'", path);
    }
    t->pair_mask = cap - 1;
    for (size_t i = 0; i < cap; i++) t->pairs[i].key = UINT64_MAX;
    char *buf = NULL;
    size_t bufcap = 0;
    size_t lineno = 0;
    int rc = 0;
    for (char *p = text, *end = text + len; p < end && rc == 0;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        lineno++;
        char *line = p;
        p = nl ? nl + 1 : end;
        if (le > line && le[-1] == '\r') le--;
        size_t ll = (size_t)(le - line);
        if (lineno == 1 && ll >= 8 && !memcmp(line, "#version", 8)) continue;
        if (ll == 0) continue;
        char *sp = memchr(line, ' ', ll);
        if (!sp || sp == line || sp + 1 == le || memchr(sp + 1, ' ', (size_t)(le - sp - 1))) {
            rc = m3ae_error_set(err, "'%s' line %zu: expected two tokens separated by one space", path, lineno);
            break;
        }
        size_t la = (size_t)(sp - line), lb = (size_t)(le - sp - 1);
        if (la + lb + 1 > bufcap) {
            bufcap = 2 * (la + lb + 1);
            char *nb = realloc(buf, bufcap);
            if (!nb) {
                rc = m3ae_error_set(err, "out of memory loading '%s'", path);
                break;
            }
            buf = nb;
        }
        memcpy(buf, line, la);
        memcpy(buf + la, sp + 1, lb);
        int a = vocab_find(t, line, la), b = vocab_find(t, sp + 1, lb), m = vocab_find(t, buf, la + lb);
        if (a < 0 || b < 0 || m < 0) {
            rc = m3ae_error_set(err, "'%s' line %zu: token \"%.*s\" is not in vocab.json (vocab and merges must come from "
                                     "the same tokenizer)", path, lineno, a < 0 ? (int)la : b < 0 ? (int)lb : (int)(la + lb),
                                a < 0 ? line : b < 0 ? sp + 1 : buf);
            break;
        }
        uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
        size_t slot = hash_pair(key) & t->pair_mask;
        while (t->pairs[slot].key != UINT64_MAX && t->pairs[slot].key != key) slot = (slot + 1) & t->pair_mask;
        t->pairs[slot].key = key; /* a repeated pair takes its later rank, as in HF */
        t->pairs[slot].rank = t->n_merges++;
        t->pairs[slot].id = m;
    }
    free(buf);
    free(text);
    return rc;
}

/* The WordPiece continuation marks that DataCollatorForWholeWordMask groups by (spec 8 item 11):
 * the id-indexed flags of the entries whose string begins with "##". Sized by the largest id so
 * that every id encode can return indexes it, even for a vocabulary with gaps. */
static int continuation_flags(m3ae_tokenizer *t, const char *dir, m3ae_error *err) {
    int32_t max_id = -1;
    for (size_t i = 0; i <= t->vocab_mask; i++)
        if (t->vocab[i].id > max_id) max_id = t->vocab[i].id;
    size_t n = (size_t)max_id + 1 > (size_t)t->n_vocab ? (size_t)max_id + 1 : (size_t)t->n_vocab;
    t->continuation = calloc(n, 1);
    if (!t->continuation) return m3ae_error_set(err, "out of memory loading the tokenizer from '%s'", dir);
    for (size_t i = 0; i <= t->vocab_mask; i++) {
        const vocab_slot *v = &t->vocab[i];
        if (v->id >= 0 && v->len >= 2 && t->strpool[v->off] == '#' && t->strpool[v->off + 1] == '#')
            t->continuation[v->id] = 1;
    }
    return 0;
}

m3ae_tokenizer *m3ae_tokenizer_load(const char *dir, m3ae_error *err) {
    if (!dir) {
        m3ae_error_set(err, "tokenizer: no folder given (it must hold vocab.json and merges.txt)");
        return NULL;
    }
    m3ae_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        m3ae_error_set(err, "out of memory loading the tokenizer from '%s'", dir);
        return NULL;
    }
    size_t dl = strlen(dir);
    char *path = malloc(dl + 16);
    if (!path) {
        free(t);
        m3ae_error_set(err, "out of memory loading the tokenizer from '%s'", dir);
        return NULL;
    }
    snprintf(path, dl + 16, "%s/vocab.json", dir);
    int rc = load_vocab(t, path, err);
    if (rc == 0) {
        uint32_t table[256];
        byte_to_unicode(table);
        for (int b = 0; b < 256 && rc == 0; b++) {
            char u[4];
            size_t ul = put_utf8(u, table[b]);
            t->byte_id[b] = vocab_find(t, u, ul);
            if (t->byte_id[b] < 0)
                rc = m3ae_error_set(err, "'%s' lacks the byte-level token for byte 0x%02x: not a byte-level BPE vocabulary",
                                    path, b);
        }
    }
    if (rc == 0) {
        snprintf(path, dl + 16, "%s/merges.txt", dir);
        rc = load_merges(t, path, err);
    }
    if (rc == 0) {
        snprintf(path, dl + 16, "%s/vocab.json", dir);
        static const char *names[] = {"<s>", "</s>", "<pad>", "<unk>", "<mask>"};
        int32_t *dst[] = {&t->bos, &t->eos, &t->pad, &t->unk, &t->mask};
        for (int i = 0; i < 5 && rc == 0; i++) {
            *dst[i] = vocab_find(t, names[i], strlen(names[i]));
            if (*dst[i] < 0) rc = m3ae_error_set(err, "'%s' lacks the special token %s (not a RoBERTa vocabulary)", path, names[i]);
        }
    }
    if (rc == 0) rc = continuation_flags(t, dir, err);
    free(path);
    if (rc != 0) {
        m3ae_tokenizer_free(t);
        return NULL;
    }
    t->gen = atomic_fetch_add(&next_gen, 1);
    return t;
}

void m3ae_tokenizer_free(m3ae_tokenizer *t) {
    if (!t) return;
    if (t->gen) { /* the calling thread's word cache (other threads free theirs when they exit) */
        pthread_once(&wc_once, wc_init);
        word_cache *c = wc_ok ? pthread_getspecific(wc_key) : NULL;
        if (c && c->gen == t->gen) {
            pthread_setspecific(wc_key, NULL);
            free(c);
        }
    }
    free(t->strpool);
    free(t->vocab);
    free(t->pairs);
    free(t->continuation);
    free(t);
}

int m3ae_tokenizer_vocab_size(const m3ae_tokenizer *t) { return t ? t->n_vocab : 0; }

const uint8_t *m3ae_tokenizer_continuation_flags(const m3ae_tokenizer *t) { return t ? t->continuation : NULL; }

int m3ae_tokenizer_char_class(uint32_t cp) {
    return cp > 0x10FFFF ? CLS_O : char_class(cp);
}

int m3ae_tokenizer_token_id(const m3ae_tokenizer *t, const char *token) {
    if (!t || !token) return -1;
    return vocab_find(t, token, strlen(token));
}

/* ---------------------------------------------------------------------------------------------
 * encoding */

typedef struct {
    int32_t *ids;
    int cap;
    int n;     /* ids produced so far (may exceed cap: then only counted) */
    int limit; /* stop after this many ids (INT_MAX: no truncation) */
} out_buf;

static inline void emit(out_buf *o, int32_t id) {
    if (o->n < o->cap) o->ids[o->n] = id;
    o->n++;
}

#define BPE_SMALL 64

/* BPE of one short pre-token: repeatedly merge the lowest-ranked adjacent pair (leftmost first).
 * Writes the ids to sym (BPE_SMALL slots); returns their count. */
static size_t bpe_small(const m3ae_tokenizer *t, const unsigned char *s, size_t m, int32_t *sym) {
    int32_t rank[BPE_SMALL], merged[BPE_SMALL];
    for (size_t i = 0; i < m; i++) sym[i] = t->byte_id[s[i]];
    for (size_t i = 0; i + 1 < m; i++) {
        const pair_slot *p = pair_find(t, sym[i], sym[i + 1]);
        rank[i] = p ? p->rank : INT32_MAX;
        merged[i] = p ? p->id : -1;
    }
    size_t n = m;
    while (n > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < n; i++)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == INT32_MAX) break;
        sym[best] = merged[best];
        for (size_t i = best + 1; i + 1 < n; i++) sym[i] = sym[i + 1];
        for (size_t i = best + 1; i + 2 < n; i++) {
            rank[i] = rank[i + 1];
            merged[i] = merged[i + 1];
        }
        n--;
        for (size_t i = best ? best - 1 : 0; i <= best && i + 1 < n; i++) {
            const pair_slot *p = pair_find(t, sym[i], sym[i + 1]);
            rank[i] = p ? p->rank : INT32_MAX;
            merged[i] = p ? p->id : -1;
        }
    }
    return n;
}

/* BPE of a long pre-token in O(m log m): symbols in a linked list, candidate merges in a min-heap
 * ordered by (rank, position), stale candidates skipped when popped (the HF algorithm). */
typedef struct {
    int32_t rank, pos, left, right;
} cand;

static inline int cand_less(const cand *a, const cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(cand *h, size_t *n, cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static cand heap_pop(cand *h, size_t *n) {
    cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const cand *mc = &last;
        if (l < *n && cand_less(&h[l], mc)) {
            m = l;
            mc = &h[l];
        }
        if (r < *n && cand_less(&h[r], mc)) m = r;
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    if (*n) h[i] = last;
    return top;
}

static int bpe_large(const m3ae_tokenizer *t, const unsigned char *s, size_t m, out_buf *o) {
    int32_t *sym = malloc(m * sizeof *sym);
    int32_t *next = malloc(m * sizeof *next);
    int32_t *prev = malloc(m * sizeof *prev);
    cand *heap = malloc(2 * m * sizeof *heap); /* at most m-1 initial + 2 per merge */
    if (!sym || !next || !prev || !heap) {
        free(sym);
        free(next);
        free(prev);
        free(heap);
        return -1;
    }
    size_t hn = 0;
    for (size_t i = 0; i < m; i++) {
        sym[i] = t->byte_id[s[i]];
        next[i] = i + 1 < m ? (int32_t)(i + 1) : -1;
        prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < m; i++) {
        const pair_slot *p = pair_find(t, sym[i], sym[i + 1]);
        if (p) heap_push(heap, &hn, (cand){p->rank, (int32_t)i, sym[i], sym[i + 1]});
    }
    while (hn) {
        cand c = heap_pop(heap, &hn);
        int32_t i = c.pos, j = next[i];
        if (sym[i] < 0 || j < 0 || sym[i] != c.left || sym[j] != c.right) continue; /* stale */
        const pair_slot *p = pair_find(t, sym[i], sym[j]);
        sym[i] = p->id;
        sym[j] = -1; /* removed */
        next[i] = next[j];
        if (next[j] >= 0) prev[next[j]] = i;
        if (prev[i] >= 0) {
            const pair_slot *q = pair_find(t, sym[prev[i]], sym[i]);
            if (q) heap_push(heap, &hn, (cand){q->rank, prev[i], sym[prev[i]], sym[i]});
        }
        if (next[i] >= 0) {
            const pair_slot *q = pair_find(t, sym[i], sym[next[i]]);
            if (q) heap_push(heap, &hn, (cand){q->rank, i, sym[i], sym[next[i]]});
        }
    }
    for (int32_t i = 0; i >= 0 && o->n < o->limit; i = next[i]) emit(o, sym[i]);
    free(sym);
    free(next);
    free(prev);
    free(heap);
    return 0;
}

static int bpe_word(const m3ae_tokenizer *t, const unsigned char *s, size_t m, out_buf *o, word_cache *wc) {
    if (m == 1) {
        emit(o, t->byte_id[s[0]]);
        return 0;
    }
    if (m > BPE_SMALL) return bpe_large(t, s, m, o);
    wc_entry *e = NULL;
    if (wc && m <= WC_WORD) {
        e = &wc->e[hash_bytes((const char *)s, m) & (WC_SLOTS - 1)];
        if (e->len == m && !memcmp(e->word, s, m)) {
            for (int i = 0; i < e->n && o->n < o->limit; i++) emit(o, e->ids[i]);
            return 0;
        }
    }
    int32_t sym[BPE_SMALL];
    size_t n = bpe_small(t, s, m, sym);
    if (e && n <= WC_IDS) {
        e->len = (uint8_t)m;
        e->n = (uint8_t)n;
        memcpy(e->word, s, m);
        memcpy(e->ids, sym, n * sizeof *sym);
    }
    for (size_t i = 0; i < n && o->n < o->limit; i++) emit(o, sym[i]);
    return 0;
}

/* Pre-tokenizes valid UTF-8 s[0..n) with the GPT-2 pattern and BPE-encodes every piece. */
static int encode_segment(const m3ae_tokenizer *t, const unsigned char *s, size_t n, out_buf *o, word_cache *wc) {
    size_t i = 0;
    while (i < n && o->n < o->limit) {
        size_t start = i, cl;
        /* 's|'t|'re|'ve|'m|'ll|'d */
        if (s[i] == '\'' && i + 1 < n) {
            unsigned char a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
            size_t k = 0;
            if (a == 's' || a == 't' || a == 'm' || a == 'd') k = 2;
            else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) k = 3;
            if (k) {
                if (bpe_word(t, s + i, k, o, wc)) return -1;
                i += k;
                continue;
            }
        }
        int k0 = class_at(s, i, &cl);
        int run_cls = -1;
        size_t j = i;
        if (s[i] == ' ' && i + 1 < n) {
            /* ' ?\p{L}+' | ' ?\p{N}+' | ' ?[^\s\p{L}\p{N}]+' with the space */
            size_t l1;
            int k1 = class_at(s, i + 1, &l1);
            if (k1 != CLS_W) {
                run_cls = k1;
                j = i + 1;
            }
        } else if (k0 != CLS_W) {
            run_cls = k0;
        }
        if (run_cls >= 0) {
            size_t l;
            while (j < n && class_at(s, j, &l) == run_cls) j += l;
        } else {
            /* \s+(?!\S) | \s+ : a whitespace run followed by a non-space gives up its last char
             * (which then joins the next piece), unless it is a single char */
            size_t l = cl, last = i;
            j = i;
            while (j < n && class_at(s, j, &l) == CLS_W) {
                last = j;
                j += l;
            }
            if (j < n && last > start) j = last;
        }
        if (bpe_word(t, s + start, j - start, o, wc)) return -1;
        i = j;
    }
    return 0;
}

/* Special tokens written in the text, as HF's added vocabulary finds them (leftmost match). */
static size_t special_at(const m3ae_tokenizer *t, const unsigned char *s, size_t n, int32_t *id) {
    if (n < 3 || s[0] != '<') return 0;
    static const struct {
        const char *str;
        size_t len;
    } names[] = {{"<s>", 3}, {"</s>", 4}, {"<pad>", 5}, {"<unk>", 5}, {"<mask>", 6}};
    const int32_t ids[] = {t->bos, t->eos, t->pad, t->unk, t->mask};
    for (int k = 0; k < 5; k++)
        if (n >= names[k].len && !memcmp(s, names[k].str, names[k].len)) {
            *id = ids[k];
            return names[k].len;
        }
    return 0;
}

/* Replaces invalid UTF-8 by U+FFFD; returns a malloc'd copy or NULL when s is already valid
 * (*ok = 0 on out-of-memory). */
static unsigned char *repair_utf8(const unsigned char *s, size_t n, size_t *outlen, int *ok) {
    *ok = 1;
    size_t i = 0, bad = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_seq(s + i, n - i, &bad);
        if (!l) break;
        i += l;
    }
    if (i == n) return NULL;
    unsigned char *o = malloc(3 * n + 1);
    if (!o) {
        *ok = 0;
        return NULL;
    }
    memcpy(o, s, i);
    size_t w = i;
    while (i < n) {
        size_t l = utf8_seq(s + i, n - i, &bad);
        if (l) {
            memcpy(o + w, s + i, l);
            w += l;
            i += l;
        } else {
            w += put_utf8((char *)o + w, 0xFFFD);
            i += bad;
        }
    }
    *outlen = w;
    return o;
}

int m3ae_tokenizer_encode(const m3ae_tokenizer *t, const char *text, size_t len, int32_t *ids, int cap, int max_len,
                          int pad) {
    if (!t || (!text && len) || cap < 0 || (cap > 0 && !ids) || max_len < 0 || max_len == 1 || (pad && max_len == 0))
        return -1;
    if (len > (size_t)INT_MAX / 4) return -1; /* the id count (up to 3 per byte) must fit an int */
    size_t n = len;
    int ok;
    unsigned char *fixed = repair_utf8((const unsigned char *)text, len, &n, &ok);
    if (!ok) return -1;
    const unsigned char *s = fixed ? fixed : (const unsigned char *)text;
    word_cache *wc = wc_get(t); /* NULL (no cache) is fine */
    out_buf o = {ids, cap, 0, max_len > 0 ? max_len - 1 : INT_MAX};
    emit(&o, t->bos);
    size_t seg = 0, i = 0;
    int rc = 0;
    while (i < n && o.n < o.limit) {
        const unsigned char *lt = memchr(s + i, '<', n - i);
        if (!lt) break;
        i = (size_t)(lt - s);
        int32_t sid;
        size_t sl = special_at(t, s + i, n - i, &sid);
        if (!sl) {
            i++;
            continue;
        }
        size_t seg_end = i;
        if (sid == t->mask) { /* lstrip: <mask> swallows the whitespace before it */
            while (seg_end > seg) {
                size_t b = seg_end - 1;
                while (b > seg && (s[b] & 0xC0) == 0x80) b--;
                size_t cl;
                if (!is_white_space(utf8_decode(s + b, &cl))) break;
                seg_end = b;
            }
        }
        if ((rc = encode_segment(t, s + seg, seg_end - seg, &o, wc)) != 0) break;
        if (o.n < o.limit) emit(&o, sid);
        i += sl;
        seg = i;
    }
    if (rc == 0 && seg < n) rc = encode_segment(t, s + seg, n - seg, &o, wc);
    free(fixed);
    if (rc != 0) return -1;
    if (o.n > o.limit) o.n = o.limit; /* defensive: emitters stop at the limit */
    o.limit = INT_MAX;
    emit(&o, t->eos);
    int real = o.n;
    if (pad)
        while (o.n < max_len) emit(&o, t->pad);
    return real;
}
