/* The m3ae shard format (io/FORMAT.md, version 1): one LMDB environment per shard, one record per
 * image, keys = 8-byte big-endian record indices, plus an index record and a schema record.
 *
 * Records are encoded/decoded here (with their CRC32C); the writer appends records in key order
 * (MDB_APPEND, deterministic commits, so the same input gives byte-identical data.mdb files); the
 * reader opens a shard read-only (MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, explicit map size), checks
 * its schema and hands out zero-copy views of records. */
#ifndef M3AE_IO_SHARD_H
#define M3AE_IO_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define M3AE_SHARD_FORMAT_VERSION 1
#define M3AE_RECORD_VERSION 1
#define M3AE_RECORD_HEADER_SIZE 40
#define M3AE_PIXEL_U8 1
/* Keys of the two metadata records (after every record key). */
#define M3AE_SHARD_INDEX_KEY 0xFFFFFFFFFFFFFFFEull  /* u32 LE caption count per record */
#define M3AE_SHARD_SCHEMA_KEY 0xFFFFFFFFFFFFFFFFull /* JSON text, see FORMAT.md */
#define M3AE_FLAG_QUESTION 1u
#define M3AE_FLAG_ANSWER 2u
#define M3AE_FLAG_LABEL 4u

/* What the writer encodes. Strings are NUL-terminated UTF-8. */
typedef struct {
    uint32_t height, width, channels; /* pixels: (height, width, channels) uint8, row-major */
    const uint8_t *pixels;
    const char *image_id;  /* the source image path relative to the input (for messages) */
    uint32_t n_captions;   /* >= 1 */
    const char *const *captions;
    const char *question;  /* NULL when absent (fine-tuning fields) */
    const char *answer;    /* NULL when absent */
    int32_t label;         /* < 0 when absent */
} m3ae_record;

/* A decoded record: views into the encoded bytes (valid while those bytes are). */
typedef struct {
    uint32_t version, height, width, channels, pixel_type, n_captions, flags;
    int32_t label;
    const char *image_id;
    uint32_t image_id_len;
    const unsigned char *caption_lens; /* n_captions u32 LE (unaligned: use m3ae_record_caption) */
    const char *caption_text;          /* captions concatenated, no NUL */
    const char *question, *answer;     /* NULL when absent; not NUL-terminated */
    uint32_t question_len, answer_len;
    const uint8_t *pixels; /* (height, width, channels) */
    uint32_t crc;          /* the stored CRC32C */
} m3ae_record_view;

/* Encodes rec into a malloc'ed buffer (*out, *len), CRC appended. Returns 0, or -1 with err. */
int m3ae_record_encode(const m3ae_record *rec, uint8_t **out, size_t *len, m3ae_error *err);
/* Parses and checks an encoded record (magic, version, sizes; the CRC when check_crc). `where`
 * names the record in messages (e.g. "shard-00003 key 17"). */
int m3ae_record_decode(const void *data, size_t len, int check_crc, const char *where, m3ae_record_view *v,
                       m3ae_error *err);
/* Caption i of a decoded record: pointer (not NUL-terminated) and length. */
const char *m3ae_record_caption(const m3ae_record_view *v, uint32_t i, uint32_t *len);

/* The schema record of a shard. */
typedef struct {
    int format_version;
    int shard;            /* index within the dataset */
    uint64_t records, samples;
    int store_size;
    uint32_t checksum;    /* CRC32C over the 4-byte LE CRCs of all records, in key order */
    char source[32];      /* converter format: jsonl, roco, medicat, phantom */
    char converter_version[32];
} m3ae_shard_schema;

/* ---- writing ---- */
typedef struct m3ae_shard_writer m3ae_shard_writer;
/* Creates directory dir (must not exist) holding data.mdb. */
m3ae_shard_writer *m3ae_shard_writer_open(const char *dir, m3ae_error *err);
/* Appends an encoded record under the next key (0, 1, ...). Samples counted from its header. */
int m3ae_shard_writer_put(m3ae_shard_writer *w, const uint8_t *rec, size_t len, m3ae_error *err);
/* Writes the index and schema records (records, samples and checksum filled in from what was put),
 * commits, syncs and closes. schema_out (may be NULL) receives the final schema. Frees w. */
int m3ae_shard_writer_finish(m3ae_shard_writer *w, const m3ae_shard_schema *schema, m3ae_shard_schema *schema_out,
                             m3ae_error *err);
/* Closes without completing (the caller removes the directory). Frees w. */
void m3ae_shard_writer_abort(m3ae_shard_writer *w);
uint64_t m3ae_shard_writer_records(const m3ae_shard_writer *w);

/* ---- reading ---- */
typedef struct m3ae_shard m3ae_shard;
/* Opens dir read-only, reads and checks the schema and index records. name labels messages. */
m3ae_shard *m3ae_shard_open(const char *dir, const char *name, m3ae_error *err);
void m3ae_shard_close(m3ae_shard *s);
const m3ae_shard_schema *m3ae_shard_info(const m3ae_shard *s);
const char *m3ae_shard_name(const m3ae_shard *s);
/* Caption count of each record (n = records). */
const uint32_t *m3ae_shard_caption_counts(const m3ae_shard *s);

/* Suspend closes the LMDB environment (its file descriptor and map) and keeps the schema and caption
 * counts, so that a dataset of many shards need not hold them all open (io/shard_cache.h); no reader
 * may be active. Resume re-opens it, refusing a file that changed since the open checked it (device,
 * inode, size, modification time); 0, or -1 with err. Both are not thread-safe on one shard. */
void m3ae_shard_suspend(m3ae_shard *s);
int m3ae_shard_resume(m3ae_shard *s, m3ae_error *err);
int m3ae_shard_is_open(const m3ae_shard *s);

/* A read transaction; one per thread (the environment is MDB_NOTLS); the shard must be open. */
typedef struct m3ae_shard_reader m3ae_shard_reader;
m3ae_shard_reader *m3ae_shard_reader_begin(m3ae_shard *s, m3ae_error *err);
void m3ae_shard_reader_end(m3ae_shard_reader *r);
/* Raw bytes of record `index` (valid until the reader ends). */
int m3ae_shard_get(m3ae_shard_reader *r, uint64_t index, const void **data, size_t *len, m3ae_error *err);
/* Gets and decodes record `index`, checking the CRC when check_crc. Errors name shard and key. */
int m3ae_shard_read(m3ae_shard_reader *r, uint64_t index, int check_crc, m3ae_record_view *v, m3ae_error *err);

/* Schema as JSON text (NUL-terminated, into buf of cap bytes); returns length or -1. */
int m3ae_shard_schema_json(const m3ae_shard_schema *s, char *buf, size_t cap);
int m3ae_shard_schema_parse(const char *text, size_t len, m3ae_shard_schema *s, m3ae_error *err);

#endif
