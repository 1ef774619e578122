#include "io/shard.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/json.h"
#include "io/crc32c.h"
#include "io/shard_check.h"

/* What every message about a damaged record ends with. */
#define REPREP "the record is corrupt, convert the data again with `m3ae prep`"

static const char record_magic[4] = {'M', '3', 'A', 'R'};
/* The writer's map size (virtual address space only; the file grows as pages are written). */
#define WRITER_MAP_SIZE (1ull << 38)
/* Commit every this many records or bytes (fixed, so commits and thus files are deterministic). */
#define COMMIT_RECORDS 256
#define COMMIT_BYTES (64u << 20)

static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void key_bytes(uint64_t k, unsigned char out[8]) {
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)(k >> (56 - 8 * i));
}

/* ------------------------------------------------------------------ records */

int m3ae_record_encode(const m3ae_record *rec, uint8_t **out, size_t *len, m3ae_error *err) {
    *out = NULL;
    *len = 0;
    const char *id = rec->image_id ? rec->image_id : "";
    if (rec->n_captions < 1) return m3ae_error_set(err, "record '%s': no caption", id);
    if (rec->channels != 3 && rec->channels != 1)
        return m3ae_error_set(err, "record '%s': %u channels (1 or 3 supported)", id, rec->channels);
    if (!rec->pixels || rec->height == 0 || rec->width == 0)
        return m3ae_error_set(err, "record '%s': empty image", id);
    size_t id_len = strlen(id), text = 0;
    for (uint32_t i = 0; i < rec->n_captions; i++) {
        size_t l = strlen(rec->captions[i]);
        if (l > UINT32_MAX) return m3ae_error_set(err, "record '%s': caption %u too long", id, i);
        text += l;
    }
    size_t q_len = rec->question ? strlen(rec->question) : 0, a_len = rec->answer ? strlen(rec->answer) : 0;
    size_t npix = (size_t)rec->height * rec->width * rec->channels;
    size_t total = M3AE_RECORD_HEADER_SIZE + id_len + 4ull * rec->n_captions + text +
                   (rec->question ? 4 + q_len : 0) + (rec->answer ? 4 + a_len : 0) + npix + 4;
    if (text > UINT32_MAX || id_len > UINT32_MAX || total > UINT32_MAX)
        return m3ae_error_set(err, "record '%s': %zu bytes, over the 4 GiB limit of format 1", id, total);
    uint8_t *b = calloc(1, total);
    if (!b) return m3ae_error_set(err, "record '%s': out of memory for %zu bytes", id, total);
    uint32_t flags = (rec->question ? M3AE_FLAG_QUESTION : 0) | (rec->answer ? M3AE_FLAG_ANSWER : 0) |
                     (rec->label >= 0 ? M3AE_FLAG_LABEL : 0);
    memcpy(b, record_magic, 4);
    put_u16(b + 4, M3AE_RECORD_VERSION);
    put_u16(b + 6, M3AE_RECORD_HEADER_SIZE);
    put_u32(b + 8, rec->height);
    put_u32(b + 12, rec->width);
    put_u16(b + 16, (uint16_t)rec->channels);
    put_u16(b + 18, M3AE_PIXEL_U8);
    put_u32(b + 20, rec->n_captions);
    put_u32(b + 24, flags);
    put_u32(b + 28, (uint32_t)(rec->label >= 0 ? rec->label : -1));
    put_u32(b + 32, (uint32_t)id_len);
    put_u32(b + 36, (uint32_t)text);
    uint8_t *p = b + M3AE_RECORD_HEADER_SIZE;
    memcpy(p, id, id_len);
    p += id_len;
    for (uint32_t i = 0; i < rec->n_captions; i++, p += 4) put_u32(p, (uint32_t)strlen(rec->captions[i]));
    for (uint32_t i = 0; i < rec->n_captions; i++) {
        size_t l = strlen(rec->captions[i]);
        memcpy(p, rec->captions[i], l);
        p += l;
    }
    if (rec->question) {
        put_u32(p, (uint32_t)q_len);
        memcpy(p + 4, rec->question, q_len);
        p += 4 + q_len;
    }
    if (rec->answer) {
        put_u32(p, (uint32_t)a_len);
        memcpy(p + 4, rec->answer, a_len);
        p += 4 + a_len;
    }
    memcpy(p, rec->pixels, npix);
    p += npix;
    put_u32(p, m3ae_crc32c(0, b, total - 4));
    *out = b;
    *len = total;
    return 0;
}

int m3ae_record_decode(const void *data, size_t len, int check_crc, const char *where, m3ae_record_view *v,
                       m3ae_error *err) {
    const uint8_t *b = data;
    memset(v, 0, sizeof *v);
    if (len < M3AE_RECORD_HEADER_SIZE + 4)
        return m3ae_error_set(err, "%s: record of %zu bytes is shorter than a header; the shard is corrupt, "
                                   "convert the data again with `m3ae prep`", where, len);
    if (memcmp(b, record_magic, 4))
        return m3ae_error_set(err, "%s: bad record magic (not an m3ae record); the shard is corrupt or not "
                                   "written by `m3ae prep`", where);
    if (check_crc) {
        uint32_t stored = get_u32(b + len - 4), actual = m3ae_crc32c(0, b, len - 4);
        if (stored != actual)
            return m3ae_error_set(err, "%s: CRC32C mismatch (stored %08x, computed %08x): the record is corrupt; "
                                       "convert the data again with `m3ae prep`", where, stored, actual);
    }
    v->version = get_u16(b + 4);
    if (v->version != M3AE_RECORD_VERSION || get_u16(b + 6) != M3AE_RECORD_HEADER_SIZE)
        return m3ae_error_set(err, "%s: record version %u, this m3ae reads version %d; convert the data again with "
                                   "`m3ae prep`",
                              where, v->version, M3AE_RECORD_VERSION);
    v->height = get_u32(b + 8);
    v->width = get_u32(b + 12);
    v->channels = get_u16(b + 16);
    v->pixel_type = get_u16(b + 18);
    v->n_captions = get_u32(b + 20);
    v->flags = get_u32(b + 24);
    v->label = (int32_t)get_u32(b + 28);
    v->image_id_len = get_u32(b + 32);
    uint64_t text = get_u32(b + 36);
    if (v->pixel_type != M3AE_PIXEL_U8 || (v->channels != 1 && v->channels != 3) || v->n_captions == 0)
        return m3ae_error_set(err, "%s: bad record header (pixel type %u, %u channels, %u captions); " REPREP, where,
                              v->pixel_type, v->channels, v->n_captions);
    uint64_t pos = M3AE_RECORD_HEADER_SIZE, end = len - 4;
    if (pos + v->image_id_len + 4ull * v->n_captions + text > end) goto short_record;
    v->image_id = (const char *)b + pos;
    pos += v->image_id_len;
    v->caption_lens = b + pos;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < v->n_captions; i++) sum += get_u32(b + pos + 4ull * i);
    if (sum != text) return m3ae_error_set(err, "%s: caption lengths do not add up; " REPREP, where);
    pos += 4ull * v->n_captions;
    v->caption_text = (const char *)b + pos;
    pos += text;
    if (v->flags & M3AE_FLAG_QUESTION) {
        if (pos + 4 > end || pos + 4 + get_u32(b + pos) > end) goto short_record;
        v->question_len = get_u32(b + pos);
        v->question = (const char *)b + pos + 4;
        pos += 4ull + v->question_len;
    }
    if (v->flags & M3AE_FLAG_ANSWER) {
        if (pos + 4 > end || pos + 4 + get_u32(b + pos) > end) goto short_record;
        v->answer_len = get_u32(b + pos);
        v->answer = (const char *)b + pos + 4;
        pos += 4ull + v->answer_len;
    }
    if (!(v->flags & M3AE_FLAG_LABEL)) v->label = -1;
    /* height x width alone may not exceed the bytes left (else the product with channels could wrap) */
    if ((uint64_t)v->height * v->width > end - pos ||
        pos + (uint64_t)v->height * v->width * v->channels != end)
        goto short_record;
    v->pixels = b + pos;
    v->crc = get_u32(b + end);
    return 0;
short_record:
    return m3ae_error_set(err, "%s: record sizes do not match its %zu bytes; " REPREP, where, len);
}

const char *m3ae_record_caption(const m3ae_record_view *v, uint32_t i, uint32_t *len) {
    uint64_t off = 0;
    for (uint32_t k = 0; k < i; k++) off += get_u32(v->caption_lens + 4ull * k);
    *len = get_u32(v->caption_lens + 4ull * i);
    return v->caption_text + off;
}

/* ------------------------------------------------------------------ schema */

int m3ae_shard_schema_json(const m3ae_shard_schema *s, char *buf, size_t cap) {
    int n = snprintf(buf, cap,
                     "{\"format\": \"m3ae-shard\", \"format_version\": %d, \"shard\": %d, \"records\": %" PRIu64
                     ", \"samples\": %" PRIu64 ", \"store_size\": %d, \"pixel_type\": \"uint8\", "
                     "\"checksum\": \"crc32c:%08x\", \"source\": \"%s\", \"converter\": \"m3ae prep\", "
                     "\"converter_version\": \"%s\", \"record_key\": \"uint64 big-endian\", "
                     "\"index_key\": \"fffffffffffffffe\", \"schema_key\": \"ffffffffffffffff\"}",
                     s->format_version, s->shard, s->records, s->samples, s->store_size, s->checksum, s->source,
                     s->converter_version);
    return (n < 0 || (size_t)n >= cap) ? -1 : n;
}

static void copy_str(char *dst, size_t cap, const m3ae_json *v) {
    const char *s = m3ae_json_str(v, NULL);
    snprintf(dst, cap, "%s", s ? s : "");
}

int m3ae_shard_schema_parse(const char *text, size_t len, m3ae_shard_schema *s, m3ae_error *err) {
    memset(s, 0, sizeof *s);
    m3ae_json *j = m3ae_json_parse(text, len, err);
    if (!j) return -1;
    const char *fmt = m3ae_json_str(m3ae_json_get(j, "format"), NULL);
    const char *ck = m3ae_json_str(m3ae_json_get(j, "checksum"), NULL);
    double fv = m3ae_json_num(m3ae_json_get(j, "format_version"));
    double rec = m3ae_json_num(m3ae_json_get(j, "records")), smp = m3ae_json_num(m3ae_json_get(j, "samples"));
    double shard = m3ae_json_num(m3ae_json_get(j, "shard")), store = m3ae_json_num(m3ae_json_get(j, "store_size"));
    int rc = 0;
    /* every number must fit its field before the conversion (a damaged schema may hold anything) */
    if (!fmt || strcmp(fmt, "m3ae-shard") || !ck || strncmp(ck, "crc32c:", 7) || !(rec >= 0 && rec <= 0x1p53) ||
        !(smp >= 0 && smp <= 0x1p53) || !(shard >= 0 && shard <= INT_MAX) || !(store >= 0 && store <= INT_MAX)) {
        rc = m3ae_error_set(err, "not an m3ae shard schema (format, shard, records, samples, store_size or checksum "
                                 "missing or out of range)");
    } else if (fv != M3AE_SHARD_FORMAT_VERSION) {
        rc = m3ae_error_set(err, "shard format version %g, this m3ae reads version %d; convert the data again "
                                 "with this version's `m3ae prep`", fv, M3AE_SHARD_FORMAT_VERSION);
    } else {
        s->format_version = (int)fv;
        s->shard = (int)shard;
        s->records = (uint64_t)rec;
        s->samples = (uint64_t)smp;
        s->store_size = (int)store;
        s->checksum = (uint32_t)strtoul(ck + 7, NULL, 16);
        copy_str(s->source, sizeof s->source, m3ae_json_get(j, "source"));
        copy_str(s->converter_version, sizeof s->converter_version, m3ae_json_get(j, "converter_version"));
    }
    m3ae_json_free(j);
    return rc;
}

/* ------------------------------------------------------------------ writer */

struct m3ae_shard_writer {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    char dir[4096];
    uint64_t records, samples;
    uint32_t checksum;
    size_t txn_records, txn_bytes;
    uint32_t *counts;
    size_t counts_cap;
};

static int lmdb_fail(m3ae_error *err, const char *what, const char *dir, int rc) {
    return m3ae_error_set(err, "LMDB %s failed for '%s': %s", what, dir, mdb_strerror(rc));
}

m3ae_shard_writer *m3ae_shard_writer_open(const char *dir, m3ae_error *err) {
    m3ae_shard_writer *w = calloc(1, sizeof *w);
    if (!w) return m3ae_error_set(err, "out of memory"), NULL;
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    if (mkdir(dir, 0755) != 0) {
        m3ae_error_set(err, "cannot create the shard directory '%s': %s", dir, strerror(errno));
        free(w);
        return NULL;
    }
    int rc = mdb_env_create(&w->env);
    if (!rc) rc = mdb_env_set_mapsize(w->env, (size_t)WRITER_MAP_SIZE);
    if (!rc) rc = mdb_env_open(w->env, dir, MDB_NOLOCK | MDB_NOSYNC, 0644);
    if (!rc) rc = mdb_txn_begin(w->env, NULL, 0, &w->txn);
    if (!rc) rc = mdb_dbi_open(w->txn, NULL, 0, &w->dbi);
    if (rc) {
        lmdb_fail(err, "open for writing", dir, rc);
        if (w->txn) mdb_txn_abort(w->txn);
        if (w->env) mdb_env_close(w->env);
        free(w);
        return NULL;
    }
    return w;
}

uint64_t m3ae_shard_writer_records(const m3ae_shard_writer *w) { return w->records; }

static int put_key(m3ae_shard_writer *w, uint64_t k, const void *data, size_t len, m3ae_error *err) {
    unsigned char kb[8];
    key_bytes(k, kb);
    MDB_val key = {8, kb}, val = {len, (void *)data};
    int rc = mdb_put(w->txn, w->dbi, &key, &val, MDB_APPEND);
    if (rc) {
        char what[64];
        snprintf(what, sizeof what, "put of key %" PRIu64, k);
        return lmdb_fail(err, what, w->dir, rc);
    }
    return 0;
}

int m3ae_shard_writer_put(m3ae_shard_writer *w, const uint8_t *rec, size_t len, m3ae_error *err) {
    if (len < M3AE_RECORD_HEADER_SIZE + 4) return m3ae_error_set(err, "'%s': record too short", w->dir);
    if (w->records == w->counts_cap) {
        size_t cap = w->counts_cap ? 2 * w->counts_cap : 1024;
        uint32_t *c = realloc(w->counts, cap * sizeof *c);
        if (!c) return m3ae_error_set(err, "out of memory");
        w->counts = c;
        w->counts_cap = cap;
    }
    if (put_key(w, w->records, rec, len, err)) return -1;
    uint32_t n = get_u32(rec + 20);
    uint8_t crc[4];
    memcpy(crc, rec + len - 4, 4); /* stored little-endian */
    w->checksum = m3ae_crc32c(w->checksum, crc, 4);
    w->counts[w->records++] = n;
    w->samples += n;
    w->txn_records++;
    w->txn_bytes += len;
    if (w->txn_records >= COMMIT_RECORDS || w->txn_bytes >= COMMIT_BYTES) {
        int rc = mdb_txn_commit(w->txn);
        w->txn = NULL;
        if (!rc) rc = mdb_txn_begin(w->env, NULL, 0, &w->txn);
        if (rc) return lmdb_fail(err, "commit", w->dir, rc);
        w->txn_records = w->txn_bytes = 0;
    }
    return 0;
}

void m3ae_shard_writer_abort(m3ae_shard_writer *w) {
    if (!w) return;
    if (w->txn) mdb_txn_abort(w->txn);
    mdb_env_close(w->env);
    free(w->counts);
    free(w);
}

int m3ae_shard_writer_finish(m3ae_shard_writer *w, const m3ae_shard_schema *schema, m3ae_shard_schema *schema_out,
                             m3ae_error *err) {
    m3ae_shard_schema s = *schema;
    s.format_version = M3AE_SHARD_FORMAT_VERSION;
    s.records = w->records;
    s.samples = w->samples;
    s.checksum = w->checksum;
    char json[2048];
    int n = m3ae_shard_schema_json(&s, json, sizeof json);
    int rc = 0;
    if (n < 0) rc = m3ae_error_set(err, "'%s': schema too long", w->dir);
    uint8_t *index = NULL;
    if (!rc) {
        index = malloc(4 * (w->records ? w->records : 1));
        if (!index) rc = m3ae_error_set(err, "out of memory");
        for (uint64_t i = 0; !rc && i < w->records; i++) put_u32(index + 4 * i, w->counts[i]);
    }
    if (!rc) rc = put_key(w, M3AE_SHARD_INDEX_KEY, index, 4 * w->records, err);
    if (!rc) rc = put_key(w, M3AE_SHARD_SCHEMA_KEY, json, (size_t)n, err);
    free(index);
    if (!rc) {
        int lrc = mdb_txn_commit(w->txn);
        w->txn = NULL;
        if (!lrc) lrc = mdb_env_sync(w->env, 1);
        if (lrc) rc = lmdb_fail(err, "commit", w->dir, lrc);
    }
    if (!rc && schema_out) *schema_out = s;
    m3ae_shard_writer_abort(w);
    return rc;
}

/* ------------------------------------------------------------------ reader */

struct m3ae_shard {
    MDB_env *env; /* NULL while suspended */
    MDB_dbi dbi;
    char dir[4096], name[256];
    m3ae_shard_schema schema;
    uint32_t *counts;
    /* the data.mdb that was checked at open: a resume re-opens only this very file */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct m3ae_shard_reader {
    m3ae_shard *s;
    MDB_txn *txn;
};

static int read_meta(m3ae_shard *s, MDB_txn *txn, uint64_t k, MDB_val *val, const char *what, m3ae_error *err) {
    unsigned char kb[8];
    key_bytes(k, kb);
    MDB_val key = {8, kb};
    int rc = mdb_get(txn, s->dbi, &key, val);
    if (rc == MDB_NOTFOUND)
        return m3ae_error_set(err, "shard '%s' has no %s record (key %016" PRIx64 "): it was not finished by "
                                   "`m3ae prep`; convert the data again", s->dir, what, k);
    if (rc)
        return m3ae_error_set(err, "shard '%s': LMDB read of the %s record failed: %s; the shard is corrupt, "
                                   "convert the data again with `m3ae prep`", s->name, what, mdb_strerror(rc));
    return 0;
}

/* Opens s's LMDB environment read-only on the checked file (s->size) and its main database. */
static int env_open(m3ae_shard *s, m3ae_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", s->dir);
    size_t map = ((size_t)s->size + (1u << 20)) & ~(size_t)((1u << 20) - 1);
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&s->env);
    if (!rc) rc = mdb_env_set_mapsize(s->env, map);
    if (!rc) rc = mdb_env_open(s->env, s->dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0644);
    if (rc) {
        m3ae_error_set(err, "shard '%s': cannot open LMDB environment '%s': %s; %s", s->name, s->dir, mdb_strerror(rc),
                       rc == EMFILE || rc == ENFILE ? "too many open files: raise `ulimit -n`"
                                                    : "if the shard is damaged, convert the data again with `m3ae prep`");
        goto fail;
    }
    /* A truncated file would make LMDB read past its end (SIGBUS): check the last page first. */
    MDB_envinfo info;
    MDB_stat est;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &est);
    if ((uint64_t)(info.me_last_pgno + 1) * est.ms_psize > (uint64_t)s->size) {
        m3ae_error_set(err, "shard '%s' is truncated (%s has %lld bytes, its pages need %llu); convert the data "
                            "again with `m3ae prep`", s->name, path, (long long)s->size,
                       (unsigned long long)(info.me_last_pgno + 1) * est.ms_psize);
        goto fail;
    }
    rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (!rc) rc = mdb_dbi_open(txn, NULL, 0, &s->dbi);
    if (txn) mdb_txn_abort(txn);
    if (rc) {
        m3ae_error_set(err, "shard '%s': LMDB read transaction failed: %s", s->name, mdb_strerror(rc));
        goto fail;
    }
    return 0;
fail:
    if (s->env) mdb_env_close(s->env);
    s->env = NULL;
    return -1;
}

m3ae_shard *m3ae_shard_open(const char *dir, const char *name, m3ae_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    struct stat st;
    if (stat(path, &st) != 0)
        return m3ae_error_set(err, "shard '%s' is missing (%s: %s); the dataset is incomplete, convert it again "
                                   "with `m3ae prep`", name, path, strerror(errno)), NULL;
    if (st.st_size < 8192)
        return m3ae_error_set(err, "shard '%s' is truncated (%s has %lld bytes); convert the data again with "
                                   "`m3ae prep`",
                              name, path, (long long)st.st_size), NULL;
    /* LMDB trusts its pages; a damaged one must be found before LMDB follows it (io/shard_check.h) */
    if (m3ae_shard_check_tree(path, name, err)) return NULL;
    m3ae_shard *s = calloc(1, sizeof *s);
    if (!s) return m3ae_error_set(err, "out of memory"), NULL;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->dev = st.st_dev, s->ino = st.st_ino, s->size = st.st_size, s->mtime = st.st_mtim;
    MDB_txn *txn = NULL;
    if (env_open(s, err)) goto fail;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        m3ae_error_set(err, "shard '%s': LMDB read transaction failed: %s", name, mdb_strerror(rc));
        goto fail;
    }
    MDB_val v;
    m3ae_error e2;
    if (read_meta(s, txn, M3AE_SHARD_SCHEMA_KEY, &v, "schema", err)) goto fail;
    if (m3ae_shard_schema_parse(v.mv_data, v.mv_size, &s->schema, &e2)) {
        m3ae_error_set(err, "shard '%s': its schema record is unreadable (%s); the shard is corrupt, convert the data "
                            "again with `m3ae prep`", name, e2.msg);
        goto fail;
    }
    if (read_meta(s, txn, M3AE_SHARD_INDEX_KEY, &v, "index", err)) goto fail;
    if (v.mv_size != 4 * s->schema.records) {
        m3ae_error_set(err, "shard '%s': index record has %zu bytes for %" PRIu64 " records; the shard is corrupt, "
                            "convert the data again with `m3ae prep`",
                       name, v.mv_size, s->schema.records);
        goto fail;
    }
    s->counts = malloc(4 * (s->schema.records ? s->schema.records : 1));
    if (!s->counts) {
        m3ae_error_set(err, "out of memory");
        goto fail;
    }
    uint64_t sum = 0;
    for (uint64_t i = 0; i < s->schema.records; i++) sum += s->counts[i] = get_u32((const uint8_t *)v.mv_data + 4 * i);
    if (sum != s->schema.samples) {
        m3ae_error_set(err, "shard '%s': index counts %" PRIu64 " samples, schema says %" PRIu64 "; the shard is "
                            "corrupt, convert the data again with `m3ae prep`", name,
                       sum, s->schema.samples);
        goto fail;
    }
    MDB_stat dst;
    mdb_stat(txn, s->dbi, &dst);
    if (dst.ms_entries != s->schema.records + 2) {
        m3ae_error_set(err, "shard '%s' holds %zu entries, its schema says %" PRIu64 " records (+2); the shard is "
                            "corrupt, convert the data again with `m3ae prep`", name,
                       dst.ms_entries, s->schema.records);
        goto fail;
    }
    mdb_txn_abort(txn);
    return s;
fail:
    if (txn) mdb_txn_abort(txn);
    m3ae_shard_close(s);
    return NULL;
}

void m3ae_shard_close(m3ae_shard *s) {
    if (!s) return;
    if (s->env) mdb_env_close(s->env);
    free(s->counts);
    free(s);
}

void m3ae_shard_suspend(m3ae_shard *s) {
    if (s->env) mdb_env_close(s->env);
    s->env = NULL;
}

int m3ae_shard_resume(m3ae_shard *s, m3ae_error *err) {
    if (s->env) return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", s->dir);
    struct stat st;
    if (stat(path, &st) != 0)
        return m3ae_error_set(err, "shard '%s' disappeared during the run (%s: %s); restore the dataset", s->name, path,
                              strerror(errno));
    /* the B-tree and index were checked at open; a changed file would need that again */
    if (st.st_dev != s->dev || st.st_ino != s->ino || st.st_size != s->size || st.st_mtim.tv_sec != s->mtime.tv_sec ||
        st.st_mtim.tv_nsec != s->mtime.tv_nsec)
        return m3ae_error_set(err, "shard '%s' (%s) was replaced or modified during the run; the dataset must not "
                                   "change while it is read: restart the run", s->name, path);
    return env_open(s, err);
}

int m3ae_shard_is_open(const m3ae_shard *s) { return s->env != NULL; }

const m3ae_shard_schema *m3ae_shard_info(const m3ae_shard *s) { return &s->schema; }
const char *m3ae_shard_name(const m3ae_shard *s) { return s->name; }
const uint32_t *m3ae_shard_caption_counts(const m3ae_shard *s) { return s->counts; }

m3ae_shard_reader *m3ae_shard_reader_begin(m3ae_shard *s, m3ae_error *err) {
    if (!s->env)
        return m3ae_error_set(err, "shard '%s' is suspended: resume it before reading (a loader bug)", s->name), NULL;
    m3ae_shard_reader *r = calloc(1, sizeof *r);
    if (!r) return m3ae_error_set(err, "out of memory"), NULL;
    r->s = s;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r->txn);
    if (rc) {
        m3ae_error_set(err, "shard '%s': LMDB read transaction failed: %s", s->name, mdb_strerror(rc));
        free(r);
        return NULL;
    }
    return r;
}

void m3ae_shard_reader_end(m3ae_shard_reader *r) {
    if (!r) return;
    mdb_txn_abort(r->txn);
    free(r);
}

int m3ae_shard_get(m3ae_shard_reader *r, uint64_t index, const void **data, size_t *len, m3ae_error *err) {
    if (index >= r->s->schema.records)
        return m3ae_error_set(err, "shard '%s' key %" PRIu64 ": out of range (%" PRIu64 " records)", r->s->name, index,
                              r->s->schema.records);
    unsigned char kb[8];
    key_bytes(index, kb);
    MDB_val key = {8, kb}, val;
    int rc = mdb_get(r->txn, r->s->dbi, &key, &val);
    if (rc)
        return m3ae_error_set(err, "shard '%s' key %" PRIu64 ": %s; the shard is corrupt, convert the data again "
                                   "with `m3ae prep`", r->s->name, index, mdb_strerror(rc));
    *data = val.mv_data;
    *len = val.mv_size;
    return 0;
}

int m3ae_shard_read(m3ae_shard_reader *r, uint64_t index, int check_crc, m3ae_record_view *v, m3ae_error *err) {
    const void *data;
    size_t len;
    if (m3ae_shard_get(r, index, &data, &len, err)) return -1;
    char where[320];
    snprintf(where, sizeof where, "shard '%s' key %" PRIu64, r->s->name, index);
    return m3ae_record_decode(data, len, check_crc, where, v, err);
}
