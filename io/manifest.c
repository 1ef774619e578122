#include "io/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/sys.h"

static void put_str(FILE *f, const char *s) { m3ae_json_write_string(f, s, strlen(s)); }

int m3ae_manifest_write(const char *dir, const m3ae_manifest *m, m3ae_error *err) {
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof tmp, "%s/manifest.json.tmp", dir);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(tmp, "w");
    if (!f) return m3ae_error_set(err, "cannot write '%s': %s", tmp, strerror(errno));
    fprintf(f, "{\n  \"format\": \"m3ae-dataset\",\n  \"format_version\": %d,\n  \"source\": ",
            M3AE_MANIFEST_FORMAT_VERSION);
    put_str(f, m->source);
    fprintf(f, ",\n  \"input\": ");
    put_str(f, m->input);
    fprintf(f, ",\n  \"converter\": \"m3ae prep\",\n  \"converter_version\": ");
    put_str(f, m->converter_version);
    fprintf(f,
            ",\n  \"store_size\": %d,\n  \"records\": %" PRIu64 ",\n  \"samples\": %" PRIu64
            ",\n  \"rejected\": %" PRIu64 ",\n  \"shards\": [",
            m->store_size, m->records, m->samples, m->rejected);
    for (int i = 0; i < m->n_shards; i++) {
        const m3ae_manifest_shard *s = &m->shards[i];
        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        put_str(f, s->name);
        fprintf(f,
                ", \"records\": %" PRIu64 ", \"samples\": %" PRIu64 ", \"bytes\": %" PRIu64
                ", \"checksum\": \"crc32c:%08x\"}",
                s->records, s->samples, s->bytes, s->checksum);
    }
    fprintf(f, "\n  ]\n}\n");
    int bad = ferror(f);
    if (fflush(f) != 0) bad = 1;
    if (!bad && fsync(fileno(f)) != 0) bad = 1;
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        unlink(tmp);
        return m3ae_error_set(err, "writing '%s' failed (disk full?): %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) return m3ae_error_set(err, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    m3ae_fsync_path(dir, 1);
    return 0;
}

static int read_file(const char *path, char **text, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *nb = realloc(b, cap *= 2);
        if (!nb) free(b);
        b = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (!b || bad) {
        free(b);
        return -2;
    }
    *text = b;
    *len = n;
    return 0;
}

static int get_u64(const m3ae_json *o, const char *key, uint64_t *out) {
    double d = m3ae_json_num(m3ae_json_get(o, key));
    if (!(d >= 0) || d > 9.007199254740992e15) return -1;
    *out = (uint64_t)d;
    return 0;
}

int m3ae_manifest_read(const char *dir, m3ae_manifest *m, m3ae_error *err) {
    memset(m, 0, sizeof *m);
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    char *text;
    size_t len;
    int r = read_file(path, &text, &len);
    if (r == -1)
        return m3ae_error_set(err, "'%s' is missing (%s): '%s' is not a converted dataset, or its `m3ae prep` did "
                                   "not finish; convert the data with `m3ae prep`", path, strerror(errno), dir);
    if (r) return m3ae_error_set(err, "cannot read '%s'", path);
    m3ae_error e;
    m3ae_json *j = m3ae_json_parse(text, len, &e);
    free(text);
    if (!j) return m3ae_error_set(err, "'%s' is not valid JSON: %s", path, e.msg);
    int rc = 0;
    const char *fmt = m3ae_json_str(m3ae_json_get(j, "format"), NULL);
    double fv = m3ae_json_num(m3ae_json_get(j, "format_version"));
    const m3ae_json *shards = m3ae_json_get(j, "shards");
    if (!fmt || strcmp(fmt, "m3ae-dataset") || m3ae_json_type(shards) != M3AE_JSON_ARRAY) {
        rc = m3ae_error_set(err, "'%s' is not an m3ae dataset manifest (format or shards missing)", path);
        goto done;
    }
    if (fv != M3AE_MANIFEST_FORMAT_VERSION) {
        rc = m3ae_error_set(err, "'%s' has format version %g, this m3ae reads %d; convert the data again", path, fv,
                            M3AE_MANIFEST_FORMAT_VERSION);
        goto done;
    }
    m->format_version = (int)fv;
    const char *s;
    if ((s = m3ae_json_str(m3ae_json_get(j, "source"), NULL))) snprintf(m->source, sizeof m->source, "%s", s);
    if ((s = m3ae_json_str(m3ae_json_get(j, "input"), NULL))) snprintf(m->input, sizeof m->input, "%s", s);
    if ((s = m3ae_json_str(m3ae_json_get(j, "converter_version"), NULL)))
        snprintf(m->converter_version, sizeof m->converter_version, "%s", s);
    /* checked before the conversion: a missing key (NaN) or a huge number is no int */
    double store = m3ae_json_num(m3ae_json_get(j, "store_size"));
    if (!(store >= 1 && store <= 1048576) || store != (double)(int)store) {
        rc = m3ae_error_set(err, "'%s': store_size missing or not a size in pixels (1 .. 1048576)", path);
        goto done;
    }
    m->store_size = (int)store;
    if (get_u64(j, "records", &m->records) || get_u64(j, "samples", &m->samples) ||
        get_u64(j, "rejected", &m->rejected)) {
        rc = m3ae_error_set(err, "'%s': records, samples or rejected missing or not a count", path);
        goto done;
    }
    m->n_shards = (int)m3ae_json_len(shards);
    m->shards = calloc(m->n_shards ? (size_t)m->n_shards : 1, sizeof *m->shards);
    if (!m->shards) {
        rc = m3ae_error_set(err, "out of memory");
        goto done;
    }
    uint64_t rec = 0, smp = 0;
    for (int i = 0; i < m->n_shards; i++) {
        const m3ae_json *o = m3ae_json_at(shards, (size_t)i);
        m3ae_manifest_shard *sh = &m->shards[i];
        const char *name = m3ae_json_str(m3ae_json_get(o, "name"), NULL);
        const char *ck = m3ae_json_str(m3ae_json_get(o, "checksum"), NULL);
        if (!name || !*name || strchr(name, '/') || strlen(name) >= sizeof sh->name || !ck ||
            strncmp(ck, "crc32c:", 7) || get_u64(o, "records", &sh->records) || get_u64(o, "samples", &sh->samples) ||
            get_u64(o, "bytes", &sh->bytes)) {
            rc = m3ae_error_set(err, "'%s': shard entry %d is malformed (name, records, samples, bytes, checksum)",
                                path, i);
            goto done;
        }
        snprintf(sh->name, sizeof sh->name, "%s", name);
        sh->checksum = (uint32_t)strtoul(ck + 7, NULL, 16);
        rec += sh->records;
        smp += sh->samples;
    }
    if (rec != m->records || smp != m->samples)
        rc = m3ae_error_set(err, "'%s': the shards hold %" PRIu64 " records / %" PRIu64 " samples, the totals say %" PRIu64
                                 " / %" PRIu64 "; the manifest is corrupt", path, rec, smp, m->records, m->samples);
done:
    m3ae_json_free(j);
    if (rc) m3ae_manifest_free(m);
    return rc;
}

void m3ae_manifest_free(m3ae_manifest *m) {
    free(m->shards);
    m->shards = NULL;
    m->n_shards = 0;
}
