/* Pillow-compatible bicubic resampling of RGB8 images (Pillow's src/libImaging/Resample.c, 8 bits per
 * channel): a separable convolution, one pass per direction, each rounded to 8 bits. Filter: cubic with
 * a = -0.5, support 2 scaled by the reduction factor (antialiasing). Coefficients are computed in double
 * exactly as Pillow does, normalised to sum 1, converted to fixed point with 22 fractional bits (rounded
 * away from zero), accumulated in 32-bit integers starting at 2^21 and clipped after an arithmetic shift.
 * Same arithmetic and the same pass order as Pillow 13 (see m3ae_image_resample_window), so the output
 * is Pillow's, bit for bit (tests/io_image: 256 of 256 fixture resizes identical).
 *
 * Speed: coefficient tables once per call; every window of taps has the same length (shorter windows
 * padded with zero taps and shifted inside the image); the vertical pass runs along whole rows; the
 * horizontal pass works on blocks of 16 rows transposed so that it, too, runs along contiguous memory;
 * both inner loops vectorise (AVX2 clone picked at run time on x86-64). Only the requested output window
 * is computed: the centre crop of the CLIP transform does not pay for the cropped-off parts. Grey images
 * (R == G == B, nearly all the medical ones) are resampled on one channel and replicated (exact: the three
 * channels would give the same result). Scratch memory is kept per thread between calls. */
#include "io/image.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

/* ---- per-thread scratch memory: the resampler runs for every sample on the loader threads, and a
 * malloc/free of a few hundred KB per call costs page faults (glibc returns such blocks to the system).
 * Each thread keeps its blocks (freed by a key destructor when the thread ends). ---- */
enum { N_SCRATCH = 2 };
typedef struct {
    void *p[N_SCRATCH];
    size_t cap[N_SCRATCH];
} scratch_set;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_ready;

static void scratch_destroy(void *v) {
    scratch_set *s = v;
    for (int i = 0; i < N_SCRATCH; i++) free(s->p[i]);
    free(s);
}
static void scratch_init(void) { scratch_ready = pthread_key_create(&scratch_key, scratch_destroy) == 0; }

void *m3ae_image_scratch(int slot, size_t bytes) {
    if (slot < 0 || slot >= N_SCRATCH) return NULL;
    pthread_once(&scratch_once, scratch_init);
    if (!scratch_ready) return NULL;
    scratch_set *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || pthread_setspecific(scratch_key, s)) {
            free(s);
            return NULL;
        }
    }
    if (s->cap[slot] < bytes) {
        free(s->p[slot]);
        s->cap[slot] = 0;
        s->p[slot] = malloc(bytes);
        if (!s->p[slot]) return NULL;
        s->cap[slot] = bytes;
    }
    return s->p[slot];
}

/* Carving one scratch block into 64-byte aligned pieces; sizes are planned before, so it cannot run out. */
typedef struct {
    uint8_t *p;
    size_t used;
} bump;
static size_t bump_size(size_t n) { return (n + 63) / 64 * 64; }
static void *bump_take(bump *b, size_t n) {
    void *r = b->p + b->used;
    b->used += bump_size(n);
    return r;
}

static inline double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

typedef struct {
    int ksize;      /* taps per output sample */
    int *start;     /* (n) first input index of each window, shifted so that start + ksize <= in_size */
    int32_t *k;     /* (n, ksize) fixed-point taps */
} coeffs;

/* Pillow's number of taps for a resize from in_size to out_size (at most in_size here). */
static int taps_for(int in_size, int out_size, int *full) {
    double scale = (double)(float)in_size / out_size;
    double support = 2.0 * (scale < 1.0 ? 1.0 : scale);
    int ksize = (int)ceil(support) * 2 + 1;
    if (full) *full = ksize;
    return ksize > in_size ? in_size : ksize;
}

/* Scratch bytes of coeffs_make for n outputs. */
static size_t coeffs_bytes(int in_size, int out_size, int n) {
    int full, ks = taps_for(in_size, out_size, &full);
    return bump_size(sizeof(int) * (size_t)n) + bump_size(sizeof(int32_t) * (size_t)n * ks) +
           bump_size(sizeof(double) * (size_t)full);
}

/* Taps for outputs o0 .. o0+n-1 of a resize from in_size to out_size samples (Pillow's precompute_coeffs
 * with box (0, in_size) and normalize_coeffs_8bpc). */
static void coeffs_make(int in_size, int out_size, int o0, int n, bump *mem, coeffs *c) {
    double scale = (double)(float)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    int ksize;
    c->ksize = taps_for(in_size, out_size, &ksize);
    int pad = c->ksize == ksize; /* windows of ksize taps fit in the input: shift them inside it */
    c->start = bump_take(mem, sizeof(int) * (size_t)n);
    c->k = bump_take(mem, sizeof(int32_t) * (size_t)n * c->ksize);
    double *w = bump_take(mem, sizeof(double) * (size_t)ksize);
    memset(c->k, 0, sizeof(int32_t) * (size_t)n * c->ksize);
    for (int i = 0; i < n; i++) {
        int xx = o0 + i;
        double center = (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        if (xmax > ksize) xmax = ksize; /* cannot happen; keeps the table in bounds */
        for (int x = 0; x < xmax; x++) {
            w[x] = bicubic_filter((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        for (int x = 0; x < xmax; x++)
            if (ww != 0.0) w[x] /= ww;
        /* place the window: shift it left when it would run past the end of the input */
        int start = pad ? xmin : 0;
        if (pad && start + c->ksize > in_size) start = in_size - c->ksize;
        int off = xmin - start;
        int32_t *k = c->k + (size_t)i * c->ksize;
        for (int x = 0; x < xmax; x++) {
            double v = w[x] * (1 << PRECISION_BITS);
            k[off + x] = w[x] < 0 ? (int32_t)(-0.5 + v) : (int32_t)(0.5 + v);
        }
        c->start[i] = start;
    }
}

/* The inner loops are compiled twice on x86-64 (AVX2 and the baseline) and picked at run time, since the
 * baseline (SSE2) has no 32-bit vector multiply. Not in sanitizer builds: the ifunc resolvers run before
 * the sanitizer runtime is initialised (ThreadSanitizer crashes at start-up). */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define M3AE_NO_CLONES 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define M3AE_NO_CLONES 1
#endif
#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute) && !defined(M3AE_NO_CLONES)
#if __has_attribute(target_clones)
#define M3AE_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef M3AE_CLONES
#define M3AE_CLONES
#endif

/* One chunk of `len` <= 64 columns of one vertical output row: accumulators stay in registers over the taps.
 * out_px 3 writes each result three times (a grey result into RGB). */
static inline __attribute__((always_inline)) void vert_chunk(const uint8_t *base, size_t sstride, const int32_t *k,
                                                             int ksize, const int len, uint8_t *restrict o,
                                                             const int out_px) {
    int32_t acc[64];
    for (int j = 0; j < len; j++) acc[j] = 1 << (PRECISION_BITS - 1);
    for (int t = 0; t < ksize; t++) {
        const int32_t kt = k[t];
        const uint8_t *restrict r = base + (size_t)t * sstride;
        for (int j = 0; j < len; j++) acc[j] += r[j] * kt;
    }
    uint8_t v[64];
    for (int j = 0; j < len; j++) {
        int32_t x = acc[j] >> PRECISION_BITS;
        v[j] = (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
    }
    if (out_px == 1) memcpy(o, v, (size_t)len);
    else
        for (int j = 0; j < len; j++) o[3 * j] = o[3 * j + 1] = o[3 * j + 2] = v[j];
}

/* Vertical pass: output rows 0..n-1, each the taps of cv over source rows (cv->start[i] - y_base + t) of
 * `src` (row stride sstride), `rowlen` bytes from each row. out_px = 1 writes the bytes as they are;
 * out_px = 3 reads one-channel rows and writes each result as an RGB pixel (R = G = B). */
M3AE_CLONES static void vert_rows(const uint8_t *src, size_t sstride, size_t rowlen, const coeffs *cv, int n,
                                  int y_base, uint8_t *dst, size_t dstride, int out_px) {
    for (int i = 0; i < n; i++) {
        const int32_t *k = cv->k + (size_t)i * cv->ksize;
        const uint8_t *base = src + (size_t)(cv->start[i] - y_base) * sstride;
        uint8_t *o = dst + (size_t)i * dstride;
        size_t j = 0;
        for (; j + 64 <= rowlen; j += 64) vert_chunk(base + j, sstride, k, cv->ksize, 64, o + out_px * j, out_px);
        if (j < rowlen) vert_chunk(base + j, sstride, k, cv->ksize, (int)(rowlen - j), o + out_px * j, out_px);
    }
}

enum { HBLOCK = 16 }; /* rows per block of the horizontal pass */

/* Horizontal pass over a block of nr <= HBLOCK rows, on the block transposed so that source column x holds
 * the nr rows' pixels contiguously as 4 bytes each (R, G, B, and a fourth byte that is computed and thrown
 * away, so that the transposes move 32-bit words): lanes = nr*4 bytes at T + (x - x0) * lanes. Each output
 * column is then a sum of ksize whole columns, which vectorises like the vertical pass. Results go to O
 * (column i at O + i * lanes), transposed back by the caller. */
static inline __attribute__((always_inline)) void horiz_block_impl(const uint8_t *restrict T, int x0, const int lanes,
                                                                   const coeffs *c, int n, uint8_t *restrict O) {
    int32_t acc[HBLOCK * 4];
    for (int i = 0; i < n; i++) {
        const int32_t *k = c->k + (size_t)i * c->ksize;
        const uint8_t *base = T + (size_t)(c->start[i] - x0) * lanes;
        for (int j = 0; j < lanes; j++) acc[j] = 1 << (PRECISION_BITS - 1);
        for (int t = 0; t < c->ksize; t++) {
            const int32_t kt = k[t];
            const uint8_t *restrict r = base + (size_t)t * lanes;
            for (int j = 0; j < lanes; j++) acc[j] += r[j] * kt;
        }
        uint8_t *restrict o = O + (size_t)i * lanes;
        for (int j = 0; j < lanes; j++) {
            int32_t v = acc[j] >> PRECISION_BITS;
            o[j] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

M3AE_CLONES static void horiz_block_full(const uint8_t *T, int x0, const coeffs *c, int n, uint8_t *O) {
    horiz_block_impl(T, x0, HBLOCK * 4, c, n, O);
}

static void horiz_block_part(const uint8_t *T, int x0, int lanes, const coeffs *c, int n, uint8_t *O) {
    horiz_block_impl(T, x0, lanes, c, n, O);
}

/* Horizontal pass of nrows rows of src (full rows, stride sstride) into dst (n outputs per row). */
/* Scratch bytes of horiz_rows over inputs of at most in_cols columns and n outputs. */
static size_t horiz_bytes(int in_cols, int n) {
    return bump_size(sizeof(uint32_t) * (size_t)in_cols * HBLOCK) + bump_size(sizeof(uint32_t) * (size_t)n * HBLOCK);
}

static void horiz_rows(const uint8_t *src, size_t sstride, int nrows, const coeffs *c, int n, uint8_t *dst,
                       size_t dstride, bump mem) {
    int x0 = c->start[0], x1 = c->start[0] + c->ksize;
    for (int i = 0; i < n; i++) {
        if (c->start[i] < x0) x0 = c->start[i];
        if (c->start[i] + c->ksize > x1) x1 = c->start[i] + c->ksize;
    }
    int ncols = x1 - x0;
    uint32_t *T = bump_take(&mem, sizeof(uint32_t) * (size_t)ncols * HBLOCK);
    uint32_t *O = bump_take(&mem, sizeof(uint32_t) * (size_t)n * HBLOCK);
    for (int r0 = 0; r0 < nrows; r0 += HBLOCK) {
        int nr = nrows - r0 < HBLOCK ? nrows - r0 : HBLOCK;
        for (int r = 0; r < nr; r++) { /* transpose the block: pixel (r, x) -> T[x * nr + r] */
            const uint8_t *row = src + (size_t)(r0 + r) * sstride + (size_t)x0 * 3;
            uint32_t *col = T + r;
            int x = 0;
            for (; x < ncols - 1; x++) { /* a 4-byte load reads the next pixel's R too: harmless */
                uint32_t v;
                memcpy(&v, row + 3 * x, 4);
                col[(size_t)x * nr] = v;
            }
            uint8_t last[4] = {row[3 * x], row[3 * x + 1], row[3 * x + 2], 0}; /* no read past the row */
            memcpy(&col[(size_t)x * nr], last, 4);
        }
        if (nr == HBLOCK) horiz_block_full((const uint8_t *)T, x0, c, n, (uint8_t *)O);
        else horiz_block_part((const uint8_t *)T, x0, nr * 4, c, n, (uint8_t *)O);
        for (int r = 0; r < nr; r++) { /* transpose back */
            uint8_t *row = dst + (size_t)(r0 + r) * dstride;
            const uint32_t *col = O + r;
            int i = 0;
            for (; i < n - 1; i++) /* the fourth byte lands on the next pixel's R, written next */
                memcpy(row + 3 * i, &col[(size_t)i * nr], 4);
            memcpy(row + 3 * i, &col[(size_t)i * nr], 3);
        }
    }
}

/* ---- grey images (R == G == B everywhere, 97 % of the shared medical images): the three channels would
 * give three identical results, so one channel is resampled and replicated; exact, and 3x less work. ---- */
enum { HBLOCK1 = 64 }; /* rows per block of the one-channel horizontal pass (64 lanes of 1 byte) */
_Static_assert(HBLOCK1 <= HBLOCK * 4, "horiz_block_impl holds at most HBLOCK * 4 lanes");

M3AE_CLONES static void horiz_block1_full(const uint8_t *T, int x0, const coeffs *c, int n, uint8_t *O) {
    horiz_block_impl(T, x0, HBLOCK1, c, n, O);
}

/* Horizontal pass of nrows grey rows (stride sstride; in_px bytes per pixel, the first one read) into dst
 * (n outputs per row, stride dstride; out_px 3 writes each result as an RGB pixel). */
static void horiz_rows1(const uint8_t *src, size_t sstride, int in_px, int nrows, const coeffs *c, int n,
                        uint8_t *dst, size_t dstride, int out_px, bump mem) {
    int x0 = c->start[0], x1 = c->start[0] + c->ksize;
    for (int i = 0; i < n; i++) {
        if (c->start[i] < x0) x0 = c->start[i];
        if (c->start[i] + c->ksize > x1) x1 = c->start[i] + c->ksize;
    }
    int ncols = x1 - x0;
    uint8_t *T = bump_take(&mem, (size_t)ncols * HBLOCK1), *O = bump_take(&mem, (size_t)n * HBLOCK1);
    for (int r0 = 0; r0 < nrows; r0 += HBLOCK1) {
        int nr = nrows - r0 < HBLOCK1 ? nrows - r0 : HBLOCK1;
        for (int r = 0; r < nr; r++) {
            const uint8_t *row = src + (size_t)(r0 + r) * sstride + (size_t)x0 * in_px;
            for (int x = 0; x < ncols; x++) T[(size_t)x * nr + r] = row[(size_t)x * in_px];
        }
        if (nr == HBLOCK1) horiz_block1_full(T, x0, c, n, O);
        else horiz_block_part(T, x0, nr, c, n, O);
        for (int r = 0; r < nr; r++) {
            uint8_t *row = dst + (size_t)(r0 + r) * dstride;
            if (out_px == 1)
                for (int i = 0; i < n; i++) row[i] = O[(size_t)i * nr + r];
            else
                for (int i = 0; i < n; i++) row[3 * i] = row[3 * i + 1] = row[3 * i + 2] = O[(size_t)i * nr + r];
        }
    }
}

/* 1 when every pixel of the view has R == G == B (blocks of 16 pixels compare each byte with the next one
 * under a mask of the R and G positions, which vectorises; the rest pixel by pixel). */
static int is_grey(const uint8_t *src, int w, int h, size_t stride) {
    static const uint8_t m[47] = {255, 255, 0, 255, 255, 0, 255, 255, 0, 255, 255, 0, 255, 255, 0, 255,
                                  255, 0, 255, 255, 0, 255, 255, 0, 255, 255, 0, 255, 255, 0, 255, 255,
                                  0, 255, 255, 0, 255, 255, 0, 255, 255, 0, 255, 255, 0, 255, 255};
    for (int y = 0; y < h; y++) {
        const uint8_t *p = src + (size_t)y * stride;
        unsigned diff = 0;
        int x = 0;
        for (; x + 16 <= w; x += 16) {
            const uint8_t *q = p + 3 * x;
            uint8_t d = 0;
            for (int j = 0; j < 47; j++) d |= (uint8_t)((q[j] ^ q[j + 1]) & m[j]);
            diff |= d;
        }
        for (; x < w; x++) diff |= (unsigned)(p[3 * x] ^ p[3 * x + 1]) | (unsigned)(p[3 * x] ^ p[3 * x + 2]);
        if (diff) return 0;
    }
    return 1;
}

int m3ae_image_resample_window(const uint8_t *src, int sw, int sh, size_t sstride, int W, int H, int ox, int oy,
                               int ow, int oh, uint8_t *dst, size_t dstride, m3ae_error *err) {
    if (!src || !dst || sw <= 0 || sh <= 0 || W <= 0 || H <= 0 || ox < 0 || oy < 0 || ow <= 0 || oh <= 0 ||
        ox + ow > W || oy + oh > H)
        return m3ae_error_set(err, "resize: bad arguments: source %dx%d, target %dx%d, window %dx%d at (%d,%d)", sw,
                              sh, W, H, ow, oh, ox, oy);
    int need_h = W != sw, need_v = H != sh;
    if (!need_h && !need_v) {
        for (int y = 0; y < oh; y++)
            memcpy(dst + (size_t)y * dstride, src + (size_t)(oy + y) * sstride + (size_t)ox * 3, (size_t)ow * 3);
        return 0;
    }
    /* Pass order: horizontal first, except (Pillow >= 13, python-pillow/Pillow#9549) when the height is
     * reduced by more than twice as many pixels as the width: then vertical first. Each pass rounds to
     * 8 bits, so the order changes results by a few levels; older Pillow always went horizontal first. */
    int vfirst = need_h && need_v && H < sh && (long long)(sh - H) > 2LL * (sw - W);
    /* plan the scratch memory: coefficients, the intermediate image, the horizontal pass's blocks */
    size_t bytes = (need_h ? coeffs_bytes(sw, W, ow) + horiz_bytes(sw, ow) : 0) + (need_v ? coeffs_bytes(sh, H, oh) : 0);
    if (need_h && need_v) bytes += bump_size(vfirst ? (size_t)oh * (size_t)sw * 3 : (size_t)sh * (size_t)ow * 3);
    /* grey: only when there is a horizontal pass to save (a vertical-only pass runs on RGB rows as fast) */
    int grey = need_h && is_grey(src, sw, sh, sstride);
    if (grey) bytes += bump_size((size_t)sh * (size_t)sw) + bump_size((size_t)oh * (size_t)sw);
    bump mem = {m3ae_image_scratch(0, bytes), 0};
    if (!mem.p) return m3ae_error_set(err, "resize: out of memory resizing %dx%d to %dx%d", sw, sh, W, H);
    coeffs ch = {0}, cv = {0};
    if (need_h) coeffs_make(sw, W, ox, ow, &mem, &ch);
    if (need_v) coeffs_make(sh, H, oy, oh, &mem, &cv);
    if (grey) { /* the same passes on one channel, written back as RGB by the last pass */
        if (!need_v) {
            horiz_rows1(src + (size_t)oy * sstride, sstride, 3, oh, &ch, ow, dst, dstride, 3, mem);
        } else if (!vfirst) {
            int y0 = cv.start[0], y1 = cv.start[0] + cv.ksize;
            for (int i = 0; i < oh; i++) {
                if (cv.start[i] < y0) y0 = cv.start[i];
                if (cv.start[i] + cv.ksize > y1) y1 = cv.start[i] + cv.ksize;
            }
            uint8_t *tmp = bump_take(&mem, (size_t)(y1 - y0) * (size_t)ow);
            horiz_rows1(src + (size_t)y0 * sstride, sstride, 3, y1 - y0, &ch, ow, tmp, (size_t)ow, 1, mem);
            vert_rows(tmp, (size_t)ow, (size_t)ow, &cv, oh, y0, dst, dstride, 3);
        } else {
            int x0 = ch.start[0], x1 = ch.start[0] + ch.ksize;
            for (int i = 0; i < ow; i++) {
                if (ch.start[i] < x0) x0 = ch.start[i];
                if (ch.start[i] + ch.ksize > x1) x1 = ch.start[i] + ch.ksize;
            }
            size_t ncol = (size_t)(x1 - x0);
            uint8_t *g = bump_take(&mem, (size_t)sh * ncol), *tmp = bump_take(&mem, (size_t)oh * ncol);
            for (int y = 0; y < sh; y++) { /* the used columns, one channel */
                const uint8_t *p = src + (size_t)y * sstride + (size_t)x0 * 3;
                uint8_t *q = g + (size_t)y * ncol;
                for (size_t x = 0; x < ncol; x++) q[x] = p[3 * x];
            }
            vert_rows(g, ncol, ncol, &cv, oh, 0, tmp, ncol, 1);
            for (int i = 0; i < ow; i++) ch.start[i] -= x0;
            horiz_rows1(tmp, ncol, 1, oh, &ch, ow, dst, dstride, 3, mem);
        }
        return 0;
    }
    if (!need_v) {
        horiz_rows(src + (size_t)oy * sstride, sstride, oh, &ch, ow, dst, dstride, mem);
        return 0;
    }
    if (!need_h) {
        vert_rows(src + (size_t)ox * 3, sstride, (size_t)ow * 3, &cv, oh, 0, dst, dstride, 1);
        return 0;
    }
    if (!vfirst) {
        /* source rows used by the window's vertical taps */
        int y0 = cv.start[0], y1 = cv.start[0] + cv.ksize;
        for (int i = 0; i < oh; i++) {
            if (cv.start[i] < y0) y0 = cv.start[i];
            if (cv.start[i] + cv.ksize > y1) y1 = cv.start[i] + cv.ksize;
        }
        size_t rowlen = (size_t)ow * 3;
        uint8_t *tmp = bump_take(&mem, (size_t)(y1 - y0) * rowlen);
        horiz_rows(src + (size_t)y0 * sstride, sstride, y1 - y0, &ch, ow, tmp, rowlen, mem);
        vert_rows(tmp, rowlen, rowlen, &cv, oh, y0, dst, dstride, 1);
    } else {
        /* source columns used by the window's horizontal taps */
        int x0 = ch.start[0], x1 = ch.start[0] + ch.ksize;
        for (int i = 0; i < ow; i++) {
            if (ch.start[i] < x0) x0 = ch.start[i];
            if (ch.start[i] + ch.ksize > x1) x1 = ch.start[i] + ch.ksize;
        }
        size_t rowlen = (size_t)(x1 - x0) * 3;
        uint8_t *tmp = bump_take(&mem, (size_t)oh * rowlen);
        vert_rows(src + (size_t)x0 * 3, sstride, rowlen, &cv, oh, 0, tmp, rowlen, 1);
        for (int i = 0; i < ow; i++) ch.start[i] -= x0;
        horiz_rows(tmp, rowlen, oh, &ch, ow, dst, dstride, mem);
    }
    return 0;
}

int m3ae_image_resize_bicubic(const m3ae_image *src, int w, int h, m3ae_image *dst, m3ae_error *err) {
    if (m3ae_image_alloc(dst, w, h, "(resize target)", err)) return -1;
    if (m3ae_image_resample_window(src->rgb, src->width, src->height, (size_t)src->width * 3, w, h, 0, 0, w, h,
                                   dst->rgb, (size_t)w * 3, err)) {
        m3ae_image_free(dst);
        return -1;
    }
    return 0;
}

void m3ae_shorter_side_size(int w, int h, int size, int *nw, int *nh) {
    if (w <= h) {
        *nw = size;
        *nh = (int)((double)((long long)size * h) / w);
    } else {
        *nh = size;
        *nw = (int)((double)((long long)size * w) / h);
    }
}

int m3ae_image_resize_shorter(const m3ae_image *src, int size, m3ae_image *dst, m3ae_error *err) {
    int w = src->width, h = src->height;
    if (size <= 0 || w <= 0 || h <= 0)
        return m3ae_error_set(err, "resize: bad arguments: %dx%d image to shorter side %d", w, h, size);
    int nw, nh;
    m3ae_shorter_side_size(w, h, size, &nw, &nh);
    return m3ae_image_resize_bicubic(src, nw, nh, dst, err);
}
