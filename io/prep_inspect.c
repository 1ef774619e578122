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

int m3ae_prep_inspect(const char *dir, FILE *out, m3ae_inspect_summary *sum, m3ae_error *err) {
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
    m3ae_manifest_free(&m);
    return rc;
}
