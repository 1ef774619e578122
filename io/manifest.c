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

static void write_task(FILE *f, const m3ae_manifest_task *t) {
    fprintf(f, ",\n  \"downstream_version\": %d,\n  \"task\": ", M3AE_MANIFEST_DOWNSTREAM_VERSION);
    put_str(f, t->task);
    fprintf(f, ",\n  \"split\": ");
    put_str(f, t->split);
    fprintf(f, ",\n  \"questions\": %" PRIu64 ",\n  \"images\": %" PRIu64 ",\n  \"unseen\": %" PRIu64
               ",\n  \"skipped\": %" PRIu64 ",\n  \"skipped_reason\": ",
            t->questions, t->images, t->unseen, t->skipped);
    put_str(f, t->skipped_reason);
    fprintf(f, ",\n  \"targets\": ");
    put_str(f, t->targets);
    fprintf(f, ",\n  \"splits\": {");
    for (int i = 0; i < t->n_splits; i++) {
        fprintf(f, "%s\n    ", i ? "," : "");
        put_str(f, t->splits[i].name);
        fprintf(f, ": {\"questions\": %" PRIu64 ", \"images\": %" PRIu64 "}", t->splits[i].questions,
                t->splits[i].images);
    }
    fprintf(f, "\n  },\n  \"inputs\": [");
    for (int i = 0; i < t->n_inputs; i++) {
        fprintf(f, "%s\n    {\"path\": ", i ? "," : "");
        put_str(f, t->inputs[i].path);
        fprintf(f, ", \"sha256\": \"%s\"}", t->inputs[i].sha256);
    }
    fprintf(f, "\n  ],\n  \"label_source\": ");
    put_str(f, t->label_source);
    fprintf(f, ",\n  \"official_check\": ");
    put_str(f, t->official);
    fprintf(f, ",\n  \"label_count\": %u,\n  \"labels\": [", t->n_labels);
    for (uint32_t i = 0; i < t->n_labels; i++) {
        fprintf(f, "%s", i ? ", " : "");
        put_str(f, t->labels[i]);
    }
    fprintf(f, "]");
}

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
    fprintf(f, "\n  ]");
    if (m->groups[0]) { /* only when there is a table: manifests without one stay byte-identical */
        fprintf(f, ",\n  \"groups\": ");
        put_str(f, m->groups);
        fprintf(f, ",\n  \"group_key\": ");
        put_str(f, m->group_key);
    }
    if (m->task.task[0]) write_task(f, &m->task);
    fprintf(f, "\n}\n");
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

static int read_task(const m3ae_json *j, const char *path, m3ae_manifest_task *t, m3ae_error *err) {
    double dv = m3ae_json_num(m3ae_json_get(j, "downstream_version"));
    if (dv != M3AE_MANIFEST_DOWNSTREAM_VERSION)
        return m3ae_error_set(err, "'%s' has downstream version %g, this m3ae reads %d; convert the data again", path,
                              dv, M3AE_MANIFEST_DOWNSTREAM_VERSION);
    const char *s;
    if ((s = m3ae_json_str(m3ae_json_get(j, "task"), NULL))) snprintf(t->task, sizeof t->task, "%s", s);
    if ((s = m3ae_json_str(m3ae_json_get(j, "split"), NULL))) snprintf(t->split, sizeof t->split, "%s", s);
    if ((s = m3ae_json_str(m3ae_json_get(j, "label_source"), NULL)))
        snprintf(t->label_source, sizeof t->label_source, "%s", s);
    if ((s = m3ae_json_str(m3ae_json_get(j, "targets"), NULL))) snprintf(t->targets, sizeof t->targets, "%s", s);
    if ((s = m3ae_json_str(m3ae_json_get(j, "official_check"), NULL)))
        snprintf(t->official, sizeof t->official, "%s", s);
    if ((s = m3ae_json_str(m3ae_json_get(j, "skipped_reason"), NULL)))
        snprintf(t->skipped_reason, sizeof t->skipped_reason, "%s", s);
    if (strcmp(t->task, "vqa") && strcmp(t->task, "cls") && strcmp(t->task, "irtr"))
        return m3ae_error_set(err, "'%s': unknown task '%s' (vqa, cls, irtr)", path, t->task);
    if (get_u64(j, "questions", &t->questions) || get_u64(j, "images", &t->images) ||
        get_u64(j, "unseen", &t->unseen) || get_u64(j, "skipped", &t->skipped))
        return m3ae_error_set(err, "'%s': questions, images, unseen or skipped missing or not a count", path);
    const m3ae_json *labels = m3ae_json_get(j, "labels"), *sp = m3ae_json_get(j, "splits"),
                    *in = m3ae_json_get(j, "inputs");
    if (m3ae_json_type(labels) != M3AE_JSON_ARRAY)
        return m3ae_error_set(err, "'%s': \"labels\" is missing or not an array", path);
    t->n_labels = (uint32_t)m3ae_json_len(labels);
    t->labels = calloc(t->n_labels ? t->n_labels : 1, sizeof *t->labels);
    if (!t->labels) return m3ae_error_set(err, "out of memory");
    for (uint32_t i = 0; i < t->n_labels; i++) {
        size_t l;
        const char *w = m3ae_json_str(m3ae_json_at(labels, i), &l);
        if (!w) return m3ae_error_set(err, "'%s': label %u is not a string", path, i);
        if (!(t->labels[i] = malloc(l + 1))) return m3ae_error_set(err, "out of memory");
        memcpy(t->labels[i], w, l + 1);
    }
    for (size_t i = 0; i < m3ae_json_len(sp) && t->n_splits < 8 && m3ae_json_type(sp) == M3AE_JSON_OBJECT; i++) {
        m3ae_manifest_split *x = &t->splits[t->n_splits++];
        snprintf(x->name, sizeof x->name, "%s", m3ae_json_key_at(sp, i));
        if (get_u64(m3ae_json_at(sp, i), "questions", &x->questions) ||
            get_u64(m3ae_json_at(sp, i), "images", &x->images))
            return m3ae_error_set(err, "'%s': split '%s' has no questions/images counts", path, x->name);
    }
    size_t ni = m3ae_json_type(in) == M3AE_JSON_ARRAY ? m3ae_json_len(in) : 0;
    t->inputs = calloc(ni ? ni : 1, sizeof *t->inputs);
    if (!t->inputs) return m3ae_error_set(err, "out of memory");
    for (size_t i = 0; i < ni; i++) {
        const char *p = m3ae_json_str(m3ae_json_get(m3ae_json_at(in, i), "path"), NULL);
        const char *h = m3ae_json_str(m3ae_json_get(m3ae_json_at(in, i), "sha256"), NULL);
        snprintf(t->inputs[i].path, sizeof t->inputs[i].path, "%s", p ? p : "");
        snprintf(t->inputs[i].sha256, sizeof t->inputs[i].sha256, "%s", h ? h : "");
        t->n_inputs++;
    }
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
    const char *gs = m3ae_json_str(m3ae_json_get(j, "groups"), NULL), *gk = m3ae_json_str(m3ae_json_get(j, "group_key"), NULL);
    if (!rc && gs && (!*gs || strchr(gs, '/') || strlen(gs) >= sizeof m->groups || !gk || strlen(gk) >= sizeof m->group_key))
        rc = m3ae_error_set(err, "'%s': \"groups\" must name a file of the dataset folder, with its \"group_key\"", path);
    if (!rc && gs) snprintf(m->groups, sizeof m->groups, "%s", gs), snprintf(m->group_key, sizeof m->group_key, "%s", gk);
    if (!rc && m3ae_json_get(j, "task")) rc = read_task(j, path, &m->task, err);
done:
    m3ae_json_free(j);
    if (rc) m3ae_manifest_free(m);
    return rc;
}

void m3ae_manifest_task_free(m3ae_manifest_task *t) {
    for (uint32_t i = 0; t->labels && i < t->n_labels; i++) free(t->labels[i]);
    free(t->labels);
    free(t->inputs);
    t->labels = NULL;
    t->inputs = NULL;
    t->n_labels = 0;
    t->n_inputs = 0;
}

void m3ae_manifest_free(m3ae_manifest *m) {
    m3ae_manifest_task_free(&m->task);
    free(m->shards);
    m->shards = NULL;
    m->n_shards = 0;
}
