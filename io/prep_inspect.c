#include "io/prep_inspect.h"

#include <inttypes.h>
#include <string.h>

#include "common/error.h"
#include "io/crc32c.h"
#include "io/manifest.h"
#include "io/shard.h"

static int verify_shard(const char *dir, const m3ae_manifest_shard *ms, FILE *out, m3ae_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, ms->name);
    m3ae_shard *s = m3ae_shard_open(path, ms->name, err);
    if (!s) return M3AE_EXIT_DATA;
    const m3ae_shard_schema *sc = m3ae_shard_info(s);
    int rc = 0;
    if (sc->records != ms->records || sc->samples != ms->samples || sc->checksum != ms->checksum) {
        rc = M3AE_EXIT_DATA;
        m3ae_error_set(err, "shard '%s': its schema (%" PRIu64 " records, %" PRIu64 " samples, crc32c:%08x) differs "
                            "from manifest.json (%" PRIu64 ", %" PRIu64 ", crc32c:%08x); the dataset is mixed up or "
                            "corrupt, convert it again with `m3ae prep`", ms->name, sc->records, sc->samples, sc->checksum,
                       ms->records,
                       ms->samples, ms->checksum);
    }
    m3ae_shard_reader *r = rc ? NULL : m3ae_shard_reader_begin(s, err);
    if (!rc && !r) rc = M3AE_EXIT_SYSTEM;
    const uint32_t *counts = m3ae_shard_caption_counts(s);
    uint32_t ck = 0;
    uint64_t samples = 0;
    for (uint64_t k = 0; !rc && k < sc->records; k++) {
        m3ae_record_view v;
        if (m3ae_shard_read(r, k, 1, &v, err)) {
            rc = M3AE_EXIT_DATA;
            break;
        }
        if (v.n_captions != counts[k]) {
            rc = M3AE_EXIT_DATA;
            m3ae_error_set(err, "shard '%s' key %" PRIu64 ": %u captions, the index says %u; the shard is corrupt, "
                           "convert the data again with `m3ae prep`", ms->name, k,
                           v.n_captions, counts[k]);
            break;
        }
        uint8_t c[4] = {(uint8_t)v.crc, (uint8_t)(v.crc >> 8), (uint8_t)(v.crc >> 16), (uint8_t)(v.crc >> 24)};
        ck = m3ae_crc32c(ck, c, 4);
        samples += v.n_captions;
    }
    if (!rc && ck != sc->checksum) {
        rc = M3AE_EXIT_DATA;
        m3ae_error_set(err, "shard '%s': checksum of the record CRCs is crc32c:%08x, its schema says crc32c:%08x; "
                            "the shard is corrupt, convert the data again with `m3ae prep`",
                       ms->name, ck, sc->checksum);
    }
    if (!rc && out)
        fprintf(out, "  %-14s %8" PRIu64 " records %9" PRIu64 " samples %12" PRIu64 " bytes  crc32c:%08x  OK\n",
                ms->name, sc->records, samples, ms->bytes, ck);
    m3ae_shard_reader_end(r);
    m3ae_shard_close(s);
    return rc;
}

/* The downstream fields of the first `show` records, in sample order. */
static int show_records(const char *dir, const m3ae_manifest *m, FILE *out, int show, m3ae_error *err) {
    const m3ae_manifest_task *t = &m->task;
    fprintf(out, "  task %s, split %s: %" PRIu64 " samples, %" PRIu64 " distinct images, %" PRIu64
                 " outside the vocabulary (label -1)\n",
            t->task, t->split, t->questions, t->images, t->unseen);
    if (strcmp(t->task, "irtr")) {
        fprintf(out, "  labels: %u, from %s; first:", t->n_labels, t->label_source);
        for (uint32_t i = 0; i < t->n_labels && i < 8; i++) fprintf(out, "%s \"%s\"", i ? "," : "", t->labels[i]);
        fprintf(out, "%s\n", t->n_labels > 8 ? ", ..." : "");
    }
    for (int i = 0; i < t->n_splits; i++)
        fprintf(out, "  input split %s: %" PRIu64 " entries, %" PRIu64 " images\n", t->splits[i].name,
                t->splits[i].questions, t->splits[i].images);
    if (t->official[0]) fprintf(out, "  %s\n", t->official);
    for (int i = 0; i < t->n_inputs; i++) fprintf(out, "  input %s sha256 %s\n", t->inputs[i].path, t->inputs[i].sha256);
    int shown = 0, rc = 0;
    for (int s = 0; !rc && s < m->n_shards && shown < show; s++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, m->shards[s].name);
        m3ae_shard *sh = m3ae_shard_open(path, m->shards[s].name, err);
        if (!sh) return M3AE_EXIT_DATA;
        m3ae_shard_reader *r = m3ae_shard_reader_begin(sh, err);
        if (!r) rc = M3AE_EXIT_SYSTEM;
        for (uint64_t k = 0; !rc && k < m3ae_shard_info(sh)->records && shown < show; k++, shown++) {
            m3ae_record_view v;
            if (m3ae_shard_read(r, k, 1, &v, err)) {
                rc = M3AE_EXIT_DATA;
                break;
            }
            uint32_t cl;
            const char *cap = m3ae_record_caption(&v, 0, &cl);
            fprintf(out, "  record %d: image %.*s (%ux%u), %u caption%s, first \"%.*s\"", shown, (int)v.image_id_len,
                    v.image_id, v.width, v.height, v.n_captions, v.n_captions == 1 ? "" : "s", (int)(cl > 120 ? 120 : cl),
                    cap);
            if (v.question) fprintf(out, ", question \"%.*s\"", (int)v.question_len, v.question);
            if (v.answer) fprintf(out, ", answer \"%.*s\"", (int)v.answer_len, v.answer);
            if (strcmp(t->task, "irtr"))
                fprintf(out, ", label %d (%s)", (int)v.label,
                        v.label >= 0 && (uint32_t)v.label < t->n_labels ? t->labels[v.label] : "outside the vocabulary");
            fprintf(out, "\n");
        }
        m3ae_shard_reader_end(r);
        m3ae_shard_close(sh);
    }
    return rc;
}

int m3ae_prep_inspect(const char *dir, FILE *out, m3ae_inspect_summary *sum, m3ae_error *err) {
    return m3ae_prep_inspect_show(dir, out, 0, sum, err);
}

int m3ae_prep_inspect_show(const char *dir, FILE *out, int show, m3ae_inspect_summary *sum, m3ae_error *err) {
    memset(sum, 0, sizeof *sum);
    m3ae_manifest m;
    if (m3ae_manifest_read(dir, &m, err)) return M3AE_EXIT_DATA;
    if (out)
        fprintf(out,
                "dataset %s\n  format m3ae-dataset version %d, source %s (input %s), converter version %s\n"
                "  store size %d, %d shards, %" PRIu64 " records (images), %" PRIu64 " samples (image-caption "
                "pairs), %" PRIu64 " rejected\n",
                dir, m.format_version, m.source, m.input, m.converter_version, m.store_size, m.n_shards, m.records,
                m.samples, m.rejected);
    int rc = 0;
    for (int i = 0; !rc && i < m.n_shards; i++) {
        rc = verify_shard(dir, &m.shards[i], out, err);
        if (!rc) {
            sum->shards++;
            sum->records += m.shards[i].records;
            sum->samples += m.shards[i].samples;
            sum->bytes += m.shards[i].bytes;
        }
    }
    if (!rc && out) fprintf(out, "all %d shards verified: every record's CRC32C matches\n", m.n_shards);
    if (!rc && out && m.task.task[0]) rc = show_records(dir, &m, out, show, err);
    m3ae_manifest_free(&m);
    return rc;
}
