/* The run's timeline (launch/trace.h). */
#include "launch/trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/log.h"
#include "common/sys.h"
#include "dist/dist.h"

typedef struct {
    char name[48];
    const char *cat;
    int tid;
    int64_t step;
    double ts_us, dur_us;
} trace_event;

struct m3ae_trace {
    char path[4400];
    int rank, world;
    double origin; /* m3ae_now_s() after the opening barrier */
    trace_event *ev;
    int n, cap;
    int64_t dropped;
};

m3ae_trace *m3ae_trace_open(const char *path, int rank, int world, int capacity) {
    if (!path || !path[0]) return NULL;
    m3ae_trace *t = m3ae_alloc(sizeof *t, "the trace");
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", path);
    t->rank = rank, t->world = world, t->cap = capacity > 0 ? capacity : 1;
    t->ev = m3ae_alloc((size_t)t->cap * sizeof *t->ev, "the trace's event buffer");
    /* one origin for every rank: exact on one machine (one monotonic clock), within the barrier's
     * skew across machines */
    m3ae_dist_barrier();
    t->origin = m3ae_now_s();
    return t;
}

void m3ae_trace_add(m3ae_trace *t, const char *name, const char *cat, int tid, int64_t step, double t0, double t1) {
    if (!t) return;
    if (t->n == t->cap) {
        t->dropped++;
        return;
    }
    trace_event *e = &t->ev[t->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->cat = cat, e->tid = tid, e->step = step;
    e->ts_us = (t0 - t->origin) * 1e6, e->dur_us = (t1 - t0) * 1e6;
    if (e->dur_us < 0) e->dur_us = 0;
}

/* A JSON string body: our names hold no quotes, but a per-bucket name might one day. */
static void put_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if ((unsigned char)*s >= 0x20) fputc(*s, f);
    }
}

/* This rank's part: its metadata events then its events, separated by ",\n", no trailing comma. */
static int format_part(const m3ae_trace *t, char **text, size_t *len) {
    FILE *f = open_memstream(text, len);
    if (!f) return -1;
    fprintf(f, "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %d, \"tid\": 0, \"args\": {\"name\": \"rank %d\", "
               "\"dropped_events\": %lld}},\n", t->rank, t->rank, (long long)t->dropped);
    fprintf(f, "{\"name\": \"process_sort_index\", \"ph\": \"M\", \"pid\": %d, \"tid\": 0, \"args\": {\"sort_index\": %d}},\n",
            t->rank, t->rank);
    fprintf(f, "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": %d, \"tid\": %d, \"args\": {\"name\": \"main loop\"}},\n",
            t->rank, M3AE_TRACE_MAIN);
    fprintf(f, "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": %d, \"tid\": %d, \"args\": {\"name\": \"communication\"}}",
            t->rank, M3AE_TRACE_COMM);
    for (int i = 0; i < t->n; i++) {
        const trace_event *e = &t->ev[i];
        fputs(",\n{\"name\": \"", f);
        put_escaped(f, e->name);
        fprintf(f, "\", \"cat\": \"%s\", \"ph\": \"X\", \"ts\": %.3f, \"dur\": %.3f, \"pid\": %d, \"tid\": %d", e->cat,
                e->ts_us, e->dur_us, t->rank, e->tid);
        if (e->step >= 0) fprintf(f, ", \"args\": {\"step\": %lld}", (long long)e->step);
        fputc('}', f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

typedef struct {
    FILE *f;
    int failed;
} sink_state;

static void write_part(void *ctx, int rank, const void *bytes, size_t n) {
    sink_state *s = ctx;
    if (rank > 0 && fputs(",\n", s->f) < 0) s->failed = 1;
    if (n && fwrite(bytes, 1, n, s->f) != n) s->failed = 1;
}

int m3ae_trace_write(m3ae_trace *t, m3ae_error *err) {
    if (!t) return 0;
    char *text = NULL;
    size_t len = 0;
    int rc = format_part(t, &text, &len);
    if (rc != 0) { /* every rank must still take part in the gather: send nothing */
        free(text);
        text = NULL, len = 0;
    }
    if (t->dropped)
        m3ae_warn("the trace held only its %d events: %lld more were dropped (the file has the first ones)", t->cap,
                  (long long)t->dropped);
    char tmp[4500];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", t->path, (long)getpid());
    sink_state s = {0};
    int open_errno = 0;
    if (t->rank == 0) {
        s.f = fopen(tmp, "w");
        if (s.f) fputs("{\"displayTimeUnit\": \"ms\", \"otherData\": {\"producer\": \"m3ae\"}, \"traceEvents\": [\n", s.f);
        else open_errno = errno, s.failed = 1, s.f = fopen("/dev/null", "w"); /* every part must still be received */
        if (!s.f) M3AE_FATAL(M3AE_EXIT_SYSTEM, "cannot open %s nor /dev/null for the trace: %s", tmp, strerror(errno));
    }
    m3ae_dist_bytes_sink sink = write_part;
    m3ae_dist_gather_bytes(text, len, sink, &s);
    free(text);
    if (t->rank != 0) return rc == 0 ? 0 : m3ae_error_set(err, "rank %d could not format its trace events", t->rank);
    int failed = s.failed || rc != 0;
    if (fputs("\n]}\n", s.f) < 0 || fflush(s.f) != 0 || (!open_errno && fsync(fileno(s.f)) != 0)) failed = 1;
    int e = open_errno ? open_errno : errno;
    if (fclose(s.f) != 0) failed = 1;
    if (failed) {
        if (!open_errno) unlink(tmp);
        return m3ae_error_set(err, "cannot write the trace %s (via %s): %s; check the run folder's disk", t->path, tmp,
                              strerror(e ? e : EIO));
    }
    if (rename(tmp, t->path) != 0) {
        int re = errno;
        unlink(tmp);
        return m3ae_error_set(err, "cannot rename %s to %s: %s", tmp, t->path, strerror(re));
    }
    m3ae_fsync_parent(t->path);
    return 0;
}

void m3ae_trace_close(m3ae_trace *t) {
    if (!t) return;
    m3ae_free(t->ev);
    m3ae_free(t);
}
