/* The tokenizer against Hugging Face (vectors from tools/reference/make_tokenizer_vectors.py):
 * hard strings (incl. invalid UTF-8, special tokens, truncation/padding), every caption of the
 * shared data, the character classes of every code point, error paths and thread safety.
 * usage: test_tokenizer <folder with hard_vectors.jsonl, caption_vectors.txt, char_classes.txt> */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "common/json.h"
#include "harness.h"
#include "io/tokenizer.h"

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

static uint64_t fnv64(const int32_t *ids, int n) {
    uint64_t h = 0xCBF29CE484222325ULL;
    for (int i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int b = 0; b < 4; b++) {
            h ^= (v >> (8 * b)) & 0xFF;
            h *= 0x100000001B3ULL;
        }
    }
    return h;
}

/* Encodes with a buffer guarded by sentinels; checks nothing is written past cap. */
static int encode_checked(const m3ae_tokenizer *t, const char *s, size_t len, int32_t *ids, int cap, int max_len) {
    ids[cap] = -7;
    int n = m3ae_tokenizer_encode(t, s, len, ids, cap, max_len, max_len > 0);
    T_CHECK(ids[cap] == -7, "encode wrote past cap %d", cap);
    return n;
}

/* ---- hard strings ---- */
static void test_hard(const m3ae_tokenizer *t, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/hard_vectors.jsonl", dir);
    size_t len;
    char *text = slurp(path, &len);
    T_CHECK(text != NULL, "cannot read %s", path);
    if (!text) return;
    int cases = 0, ok = 0;
    int32_t *ids = malloc(8192 * sizeof *ids);
    char *bytes = malloc(1 << 16);
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        m3ae_error err;
        m3ae_json *v = m3ae_json_parse(line, ll, &err);
        T_CHECK(v != NULL, "bad vector line: %s", err.msg);
        line = nl ? nl + 1 : line + ll;
        if (!v) continue;
        size_t sl = 0;
        const char *s = m3ae_json_str(m3ae_json_get(v, "text"), &sl);
        if (!s) { /* invalid UTF-8 given as hex */
            const char *hex = m3ae_json_str(m3ae_json_get(v, "hex"), &sl);
            size_t k = 0;
            for (; hex && k < sl / 2; k++) {
                unsigned b;
                sscanf(hex + 2 * k, "%2x", &b);
                bytes[k] = (char)b;
            }
            s = bytes;
            sl = k;
        }
        int max_len = (int)m3ae_json_num(m3ae_json_get(v, "max_len"));
        int n_exp = (int)m3ae_json_num(m3ae_json_get(v, "n"));
        const m3ae_json *exp = m3ae_json_get(v, "ids");
        int n_ids = (int)m3ae_json_len(exp);
        int n = encode_checked(t, s, sl, ids, 8000, max_len);
        int good = n == n_exp && n_ids == (max_len ? max_len : n);
        for (int i = 0; good && i < n_ids; i++) good = ids[i] == (int32_t)m3ae_json_num(m3ae_json_at(exp, i));
        cases++;
        ok += good;
        if (!good) {
            fprintf(stderr, "hard string mismatch (max_len %d, %zu bytes): got n=%d:", max_len, sl, n);
            for (int i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", ids[i]);
            fprintf(stderr, "\n  expected n=%d:", n_exp);
            for (int i = 0; i < n_ids && i < 40; i++) fprintf(stderr, " %d", (int)m3ae_json_num(m3ae_json_at(exp, i)));
            fprintf(stderr, "\n  text: %.*s\n", (int)(sl < 200 ? sl : 200), s);
        }
        T_CHECK(good, "hard vector %d differs from Hugging Face", cases);
        /* a short buffer: same count (snprintf-style), only cap ids written, and they are a prefix */
        if (good && n_ids > 3) {
            int cap = n_ids / 2;
            int n2 = encode_checked(t, s, sl, ids, cap, max_len);
            int prefix = n2 == n_exp;
            for (int i = 0; prefix && i < cap; i++) prefix = ids[i] == (int32_t)m3ae_json_num(m3ae_json_at(exp, i));
            T_CHECK(prefix, "encode with cap %d: n=%d (want %d) or a wrong prefix", cap, n2, n_exp);
        }
        m3ae_json_free(v);
    }
    printf("hard strings: %d/%d vectors match Hugging Face (%.2f%%)\n", ok, cases, cases ? 100.0 * ok / cases : 0.0);
    T_CHECK(cases > 1000, "only %d hard vectors", cases);
    free(ids);
    free(bytes);
    free(text);
}

/* ---- every caption of the shared data ---- */
typedef struct {
    char **cap;   /* caption of each line (NULL when none) */
    size_t *len;
    int n_lines;
    int is_tsv; /* JSONL captions are copies, freed one by one */
    char *buf;
} caption_file;

static int load_captions(const char *rel, caption_file *cf) {
    memset(cf, 0, sizeof *cf);
    size_t len;
    cf->buf = slurp(t_data(rel), &len);
    if (!cf->buf) return -1;
    int is_tsv = cf->is_tsv = strstr(rel, ".tsv") != NULL;
    int lines = 1;
    for (size_t i = 0; i < len; i++) lines += cf->buf[i] == '\n';
    cf->cap = calloc((size_t)lines + 1, sizeof *cf->cap);
    cf->len = calloc((size_t)lines + 1, sizeof *cf->len);
    char *p = cf->buf;
    for (int no = 1; p < cf->buf + len; no++) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        size_t ll = strlen(p);
        if (is_tsv) {
            char *tab = strchr(p, '\t');
            if (tab) {
                char *tab2 = strchr(tab + 1, '\t');
                cf->cap[no] = tab + 1;
                cf->len[no] = tab2 ? (size_t)(tab2 - tab - 1) : strlen(tab + 1);
            }
        } else if (ll) {
            m3ae_error err;
            m3ae_json *v = m3ae_json_parse(p, ll, &err);
            size_t cl;
            const char *c = m3ae_json_str(m3ae_json_get(v, "caption"), &cl);
            if (c) {
                cf->cap[no] = malloc(cl + 1);
                memcpy(cf->cap[no], c, cl + 1);
                cf->len[no] = cl;
            }
            m3ae_json_free(v);
        }
        cf->n_lines = no;
        p = nl ? nl + 1 : p + ll;
    }
    return 0;
}

static void free_captions(caption_file *cf) {
    if (!cf->is_tsv)
        for (int i = 0; i <= cf->n_lines; i++) free(cf->cap[i]);
    free(cf->cap);
    free(cf->len);
    free(cf->buf);
}

typedef struct {
    const m3ae_tokenizer *t;
    char **caps;
    size_t *lens;
    uint64_t *hash;
    int n, start, step;
    int mismatches;
} thread_job;

static void *thread_encode(void *arg) {
    thread_job *j = arg;
    int32_t ids[4096];
    for (int r = 0; r < 2; r++)
        for (int i = j->start; i < j->n; i += j->step) {
            int n = m3ae_tokenizer_encode(j->t, j->caps[i], j->lens[i], ids, 4096, 0, 0);
            if (n < 0 || fnv64(ids, n) != j->hash[i]) j->mismatches++;
        }
    return NULL;
}

static void test_captions(const m3ae_tokenizer *t, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/caption_vectors.txt", dir);
    FILE *f = fopen(path, "r");
    T_CHECK(f != NULL, "cannot open %s", path);
    if (!f) return;
    char *line = NULL;
    size_t lcap = 0;
    caption_file cf = {0};
    int have = 0;
    int vectors = 0, ok = 0, captions = 0;
    int32_t *ids = malloc(70000 * sizeof *ids);
    /* for the thread test: every plain (max_len 0) caption with its expected hash */
    int tn = 0, tcap = 1024;
    char **tcaps = malloc(tcap * sizeof *tcaps);
    size_t *tlens = malloc(tcap * sizeof *tlens);
    uint64_t *thash = malloc(tcap * sizeof *thash);
    caption_file *keep = NULL;
    int n_keep = 0;
    while (getline(&line, &lcap, f) >= 0) {
        if (line[0] == '#') continue;
        if (line[0] == '@') {
            line[strcspn(line, "\n")] = '\0';
            keep = realloc(keep, (size_t)(n_keep + 1) * sizeof *keep);
            if (have) keep[n_keep++] = cf;
            have = load_captions(line + 2, &cf) == 0;
            T_CHECK(have, "cannot read the captions of %s", line + 2);
            continue;
        }
        int no, max_len, n_exp, off = 0;
        unsigned long long h;
        if (sscanf(line, "%d %d %d %llx%n", &no, &max_len, &n_exp, &h, &off) != 4) {
            T_CHECK(0, "bad line in %s: %s", path, line);
            continue;
        }
        if (!have || no > cf.n_lines || !cf.cap[no]) {
            T_CHECK(0, "no caption at line %d", no);
            continue;
        }
        int n = encode_checked(t, cf.cap[no], cf.len[no], ids, 69999, max_len);
        int nout = max_len ? max_len : n;
        int good = n == n_exp && fnv64(ids, nout) == h;
        const char *full = line + off;
        while (*full == ' ') full++;
        if (good && *full && *full != '\n') {
            char *e;
            for (int i = 0; good && i < nout; i++) {
                good = strtol(full, &e, 10) == ids[i];
                full = *e == ',' ? e + 1 : e;
            }
        }
        vectors++;
        captions += max_len == 0;
        ok += good;
        if (!good) fprintf(stderr, "caption mismatch line %d (max_len %d): n=%d want %d: %.*s\n", no, max_len, n, n_exp,
                           (int)cf.len[no], cf.cap[no]);
        if (max_len == 0) {
            if (tn == tcap) {
                tcap *= 2;
                tcaps = realloc(tcaps, tcap * sizeof *tcaps);
                tlens = realloc(tlens, tcap * sizeof *tlens);
                thash = realloc(thash, tcap * sizeof *thash);
            }
            tcaps[tn] = cf.cap[no];
            tlens[tn] = cf.len[no];
            thash[tn++] = h;
        }
    }
    T_CHECK(ok == vectors, "%d of %d caption vectors differ from Hugging Face", vectors - ok, vectors);
    T_CHECK(captions > 18000, "only %d captions were checked", captions);
    printf("captions: %d/%d vectors match Hugging Face (%.2f%%) over %d captions\n", ok, vectors,
           vectors ? 100.0 * ok / vectors : 0.0, captions);

    /* the same tokenizer from 4 threads at once, interleaved captions, twice each */
    pthread_t th[4];
    thread_job jobs[4];
    for (int k = 0; k < 4; k++) {
        jobs[k] = (thread_job){t, tcaps, tlens, thash, tn, k, 4, 0};
        pthread_create(&th[k], NULL, thread_encode, &jobs[k]);
    }
    int bad = 0;
    for (int k = 0; k < 4; k++) {
        pthread_join(th[k], NULL);
        bad += jobs[k].mismatches;
    }
    T_CHECK(bad == 0, "%d mismatches when 4 threads share the tokenizer", bad);

    keep = realloc(keep, (size_t)(n_keep + 1) * sizeof *keep);
    if (have) keep[n_keep++] = cf;
    for (int k = 0; k < n_keep; k++) free_captions(&keep[k]);
    free(keep);
    free(tcaps);
    free(tlens);
    free(thash);
    free(ids);
    free(line);
    fclose(f);
}

/* ---- character classes of every code point ---- */
static void test_classes(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/char_classes.txt", dir);
    FILE *f = fopen(path, "r");
    T_CHECK(f != NULL, "cannot open %s", path);
    if (!f) return;
    unsigned char *want = malloc(0x110000);
    memset(want, 3, 0x110000);
    char line[256];
    int ranges = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned a, b;
        char k;
        if (line[0] == '#' || sscanf(line, "%x %x %c", &a, &b, &k) != 3 || b >= 0x110000) continue;
        for (unsigned c = a; c <= b; c++) want[c] = k == 'L' ? 0 : k == 'N' ? 1 : 2;
        ranges++;
    }
    fclose(f);
    int bad = 0;
    for (uint32_t c = 0x80; c < 0x110000; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        int got = m3ae_tokenizer_char_class(c);
        if (got != want[c]) {
            if (bad < 10) fprintf(stderr, "U+%04X: class %d, Hugging Face %d\n", c, got, want[c]);
            bad++;
        }
    }
    T_CHECK(ranges > 500, "only %d class ranges", ranges);
    T_CHECK(bad == 0, "%d code points are classified unlike the Hugging Face pre-tokenizer", bad);
    printf("character classes: %d code points differ\n", bad);
    free(want);
}

/* ---- API and error paths ---- */
static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_api(const m3ae_tokenizer *t) {
    T_CHECK(m3ae_tokenizer_vocab_size(t) == 50265, "vocab size %d", m3ae_tokenizer_vocab_size(t));
    T_CHECK(m3ae_tokenizer_token_id(t, "<s>") == 0, "<s>");
    T_CHECK(m3ae_tokenizer_token_id(t, "<pad>") == 1, "<pad>");
    T_CHECK(m3ae_tokenizer_token_id(t, "</s>") == 2, "</s>");
    T_CHECK(m3ae_tokenizer_token_id(t, "<unk>") == 3, "<unk>");
    T_CHECK(m3ae_tokenizer_token_id(t, "<mask>") == 50264, "<mask>");
    T_CHECK(m3ae_tokenizer_token_id(t, "\xc4\xa0the") == 5, "Gthe");
    T_CHECK(m3ae_tokenizer_token_id(t, "no such token!!") == -1, "absent token");
    int32_t ids[80];
    T_CHECK(m3ae_tokenizer_encode(t, "abc", 3, ids, 80, 1, 0) == -1, "max_len 1 is an error");
    T_CHECK(m3ae_tokenizer_encode(t, "abc", 3, ids, 80, 0, 1) == -1, "pad without max_len is an error");
    T_CHECK(m3ae_tokenizer_encode(t, NULL, 3, ids, 80, 0, 0) == -1, "NULL text");
    T_CHECK(m3ae_tokenizer_encode(t, NULL, 0, ids, 80, 0, 0) == 2, "NULL empty text");
    T_CHECK(m3ae_tokenizer_encode(t, "abc", 3, NULL, 0, 0, 0) == 3, "counting only (cap 0)");
    int n = m3ae_tokenizer_encode(t, "hello world", 11, ids, 80, 64, 1);
    T_CHECK(n == 4 && ids[0] == 0 && ids[1] == 42891 && ids[2] == 232 && ids[3] == 2 && ids[4] == 1 && ids[63] == 1,
            "hello world padded to 64: n=%d", n);
    n = m3ae_tokenizer_encode(t, "hello world", 11, ids, 80, 3, 0);
    T_CHECK(n == 3 && ids[0] == 0 && ids[1] == 42891 && ids[2] == 2, "truncation without padding: n=%d", n);

    m3ae_error err;
    T_CHECK(m3ae_tokenizer_load("/nonexistent/vocab", &err) == NULL && strstr(err.msg, "vocab.json"),
            "missing folder: %s", err.msg);
    char dir[] = "/tmp/m3ae_tok_XXXXXX";
    if (!mkdtemp(dir)) return;
    char vp[256], mp[256];
    snprintf(vp, sizeof vp, "%s/vocab.json", dir);
    snprintf(mp, sizeof mp, "%s/merges.txt", dir);
    write_file(vp, "{\"a\": 0, \"b\": ");
    T_CHECK(m3ae_tokenizer_load(dir, &err) == NULL && strstr(err.msg, "vocab.json") && strstr(err.msg, "line 1"),
            "truncated vocab.json: %s", err.msg);
    write_file(vp, "[1, 2]");
    T_CHECK(m3ae_tokenizer_load(dir, &err) == NULL && strstr(err.msg, "vocab.json"), "array vocab: %s", err.msg);
    write_file(vp, "{\"a\": 0}");
    T_CHECK(m3ae_tokenizer_load(dir, &err) == NULL && strstr(err.msg, "byte"), "no byte tokens: %s", err.msg);
    /* a complete byte-level vocabulary of 256 bytes + the specials, then a bad merge */
    FILE *f = fopen(vp, "w");
    if (f) {
        fputs("{", f);
        int nb = 0;
        for (int b = 0; b < 256; b++) {
            int pr = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            unsigned cp = pr ? (unsigned)b : 256u + (unsigned)nb++;
            char u[4];
            int ul = cp < 0x80 ? 1 : 2;
            if (cp < 0x80) u[0] = (char)cp;
            else {
                u[0] = (char)(0xC0 | (cp >> 6));
                u[1] = (char)(0x80 | (cp & 0x3F));
            }
            fputs(b ? "," : "", f);
            m3ae_json_write_string(f, u, (size_t)ul);
            fprintf(f, ": %d", b + 5);
        }
        fputs(", \"<s>\": 0, \"<pad>\": 1, \"</s>\": 2, \"<unk>\": 3, \"<mask>\": 4, \"ab\": 261}", f);
        fclose(f);
    }
    write_file(mp, "#version: 0.2\na b\nx y\n");
    T_CHECK(m3ae_tokenizer_load(dir, &err) == NULL && strstr(err.msg, "merges.txt") && strstr(err.msg, "line 3"),
            "merge of unknown tokens: %s", err.msg);
    write_file(mp, "#version: 0.2\na b\nab\n");
    T_CHECK(m3ae_tokenizer_load(dir, &err) == NULL && strstr(err.msg, "merges.txt") && strstr(err.msg, "line 3"),
            "malformed merge line: %s", err.msg);
    write_file(mp, "#version: 0.2\na b\n");
    m3ae_tokenizer *small = m3ae_tokenizer_load(dir, &err);
    T_CHECK(small != NULL, "a small valid tokenizer: %s", small ? "" : err.msg);
    if (small) {
        n = m3ae_tokenizer_encode(small, "aab", 3, ids, 80, 0, 0);
        T_CHECK(n == 4 && ids[1] == 'a' + 5 && ids[2] == 261, "small tokenizer: n=%d", n);
        const uint8_t *fl = m3ae_tokenizer_continuation_flags(small);
        int nf = 0;
        for (int i = 0; fl && i < m3ae_tokenizer_vocab_size(small); i++) nf += fl[i];
        T_CHECK(fl && nf == 0, "small tokenizer (no \"##\" entry): %d continuation flags", nf);
        m3ae_tokenizer_free(small);
    }
    /* continuation flags of a vocabulary with a gap in its ids: "##b" at id 300 > its 265 entries */
    size_t text_len = 0;
    char *text = slurp(vp, &text_len);
    char *end = text ? strrchr(text, '}') : NULL;
    if (end) {
        *end = 0;
        f = fopen(vp, "w");
        if (f) {
            fprintf(f, "%s, \"#a\": 262, \"b##\": 263, \"##b\": 300}", text);
            fclose(f);
        }
    }
    free(text);
    small = m3ae_tokenizer_load(dir, &err);
    T_CHECK(small != NULL, "tokenizer with an id gap: %s", small ? "" : err.msg);
    if (small) {
        const uint8_t *fl = m3ae_tokenizer_continuation_flags(small);
        int nf = 0;
        for (int i = 0; fl && i <= 300; i++) nf += fl[i];
        T_CHECK(fl && fl[300] == 1 && fl[262] == 0 && fl[263] == 0 && fl[261] == 0 && nf == 1,
                "id-gap vocabulary: flags 300=%d 262=%d 263=%d, %d flagged (only \"##b\")", fl ? fl[300] : -1,
                fl ? fl[262] : -1, fl ? fl[263] : -1, nf);
        m3ae_tokenizer_free(small);
    }
    unlink(vp);
    unlink(mp);
    rmdir(dir);
}

/* The "##" entries of roberta-base: 6, each flagged, nothing else; a caption containing "##"
 * encodes to a flagged id (the whole-word grouping of the MLM collator sees it). */
static void test_continuation(const m3ae_tokenizer *t) {
    const uint8_t *fl = m3ae_tokenizer_continuation_flags(t);
    T_CHECK(fl != NULL, "no continuation flags");
    if (!fl) return;
    int n = 0;
    for (int i = 0; i < m3ae_tokenizer_vocab_size(t); i++) n += fl[i];
    T_CHECK(n == 6, "roberta-base has %d entries beginning with \"##\", expected 6", n);
    static const char *marked[] = {"##", "###", "####", "########", "################",
                                   "################################"};
    for (int i = 0; i < 6; i++) {
        int id = m3ae_tokenizer_token_id(t, marked[i]);
        T_CHECK(id >= 0 && fl[id] == 1, "\"%s\" (id %d) is not flagged", marked[i], id);
    }
    static const char *plain[] = {"<s>", "<pad>", "</s>", "<unk>", "<mask>", "#", "\xc4\xa0##", "\xc4\xa0the"};
    for (int i = 0; i < 8; i++) {
        int id = m3ae_tokenizer_token_id(t, plain[i]);
        T_CHECK(id < 0 || fl[id] == 0, "\"%s\" (id %d) is flagged", plain[i], id);
    }
    int32_t ids[32];
    int k = m3ae_tokenizer_encode(t, "C## code", 8, ids, 32, 32, 1), seen = 0;
    for (int i = 0; i < k && i < 32; i++) seen += fl[ids[i]];
    T_CHECK(k > 0 && seen >= 1, "\"C## code\" encodes to no flagged id (%d ids)", k);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/io_tokenizer";
    m3ae_error err;
    m3ae_tokenizer *t = m3ae_tokenizer_load(t_data("vocab/roberta-base"), &err);
    T_CHECK(t != NULL, "load: %s", t ? "" : err.msg);
    if (!t) return t_done("test_tokenizer");
    test_api(t);
    test_continuation(t);
    test_hard(t, dir);
    test_classes(dir);
    test_captions(t, dir);
    m3ae_tokenizer_free(t);
    return t_done("test_tokenizer");
}
