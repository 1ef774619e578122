#include "io/phantom.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/rng.h"
#include "common/sys.h"

/* A tiny cursor over one sample's random stream. */
typedef struct {
    m3ae_rng r;
    uint64_t i;
} draw;

static float uni(draw *d) { return m3ae_rng_uniform(&d->r, d->i++); }
static float range(draw *d, float lo, float hi) { return lo + (hi - lo) * uni(d); }
static int pick(draw *d, int n) { return (int)m3ae_rng_below(&d->r, d->i++, (uint32_t)n); }

/* Smooth inside-ness of a point at signed distance s (negative inside) from an edge: 1 inside,
 * 0 outside, linear over 1.5 pixels (anti-aliased edges). */
static float inside(float s) {
    float t = 0.5f - s / 1.5f;
    return t < 0 ? 0 : t > 1 ? 1 : t;
}

/* Signed distance (approximate, in pixels) to an ellipse with semi-axes a, b rotated by th. */
static float ellipse_sd(float x, float y, float cx, float cy, float a, float b, float th) {
    float dx = x - cx, dy = y - cy, c = cosf(th), s = sinf(th);
    float u = dx * c + dy * s, v = -dx * s + dy * c;
    float k = sqrtf(u * u / (a * a) + v * v / (b * b));
    return (k - 1.0f) * fminf(a, b);
}

typedef struct {
    float cx, cy, a, b, th, wobble, phase, value;
    int kind; /* 0 ellipse, 1 irregular (lobulated) */
} blob;

static float blob_sd(const blob *o, float x, float y) {
    if (o->kind == 0) return ellipse_sd(x, y, o->cx, o->cy, o->a, o->b, o->th);
    float dx = x - o->cx, dy = y - o->cy, ang = atan2f(dy, dx);
    float rr = o->a * (1.0f + o->wobble * sinf(3.0f * ang + o->phase) + 0.5f * o->wobble * sinf(5.0f * ang - o->phase));
    return sqrtf(dx * dx + dy * dy) - rr;
}

/* Paints blob o over the grey image g (size x size) with value o->value. */
static void paint(float *g, int size, const blob *o) {
    float reach = fmaxf(o->a, o->b) * (1.0f + 2.0f * o->wobble) + 2.0f;
    int x0 = (int)fmaxf(0, o->cx - reach), x1 = (int)fminf((float)size - 1, o->cx + reach);
    int y0 = (int)fmaxf(0, o->cy - reach), y1 = (int)fminf((float)size - 1, o->cy + reach);
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float w = inside(blob_sd(o, (float)x + 0.5f, (float)y + 0.5f));
            if (w > 0) g[y * size + x] = g[y * size + x] * (1 - w) + o->value * w;
        }
}

static const char *regions[3] = {"chest", "abdomen", "head"};
static const char *modalities[2] = {"CT", "MRI"};
static const char *shapes[3] = {"round", "oval", "irregular"};
static const char *verbs[3] = {"shows", "demonstrates", "reveals"};

static void lesion_text(char *out, size_t cap, const m3ae_phantom_info *in, int k) {
    static const char *bright[2][2] = {{"hypodense", "hyperdense"}, {"hypointense", "hyperintense"}};
    static const char *part[3][2] = {{"lower", "upper"}, {"lower", "upper"}, {"occipital", "frontal"}};
    static const char *unit[3] = {" lobe", " quadrant", " lobe"};
    const int r = in->region;
    snprintf(out, cap, "a %s %s %s lesion in the %s %s%s", in->lesion[k].large ? "large" : "small",
             bright[in->modality][in->lesion[k].bright], shapes[in->lesion[k].shape],
             in->lesion[k].left ? "left" : "right", part[r][in->lesion[k].upper], r == 2 ? " lobe" : unit[r]);
}

int m3ae_phantom_make(uint64_t seed, uint64_t index, int size, m3ae_image *img, char *caption, size_t cap,
                      m3ae_phantom_info *info, m3ae_error *err) {
    if (size < 32 || size > 4096) return m3ae_error_set(err, "phantom size %d is out of range 32..4096", size);
    m3ae_phantom_info in;
    memset(&in, 0, sizeof in);
    draw d = {m3ae_rng_make(seed, M3AE_RNG_PHANTOM, index, 0), 0};
    in.modality = pick(&d, 2);
    in.region = pick(&d, 3);
    float *g = malloc((size_t)size * size * sizeof *g);
    if (!g) return m3ae_error_set(err, "out of memory drawing a %dx%d phantom", size, size);
    const float S = (float)size, mri = (float)in.modality;
    for (int i = 0; i < size * size; i++) g[i] = 0.0f;

    /* body and anatomy */
    float bcx = S * range(&d, 0.47f, 0.53f), bcy = S * range(&d, 0.47f, 0.53f);
    float tissue = mri ? range(&d, 80, 100) : range(&d, 100, 120);
    blob body = {bcx, bcy, S * range(&d, 0.40f, 0.46f), S * range(&d, 0.30f, 0.37f), range(&d, -0.08f, 0.08f), 0, 0,
                 tissue, 0};
    float lesion_box[2][4]; /* per side (image x<0.5: patient's right): cx, cy ranges come from organ */
    if (in.region == 2) { /* head: skull ring, brain */
        body.a = body.b = S * range(&d, 0.36f, 0.42f);
        blob skull = body;
        skull.value = mri ? 35 : 235;
        paint(g, size, &skull);
        blob brain = body;
        brain.a -= S * 0.035f, brain.b -= S * 0.035f;
        brain.value = tissue;
        paint(g, size, &brain);
        blob falx = {bcx, bcy, S * 0.006f, brain.b * 0.9f, 0, 0, 0, mri ? 60 : 150, 0};
        paint(g, size, &falx);
        for (int s = 0; s < 2; s++) {
            lesion_box[s][0] = bcx + (s ? 1 : -1) * brain.a * 0.45f, lesion_box[s][1] = bcy;
            lesion_box[s][2] = brain.a * 0.22f, lesion_box[s][3] = brain.b * 0.42f;
        }
    } else {
        paint(g, size, &body);
        blob fat = body; /* subcutaneous fat rim */
        fat.a -= S * 0.02f, fat.b -= S * 0.02f, fat.value = tissue * (mri ? 0.8f : 1.05f);
        paint(g, size, &fat);
        blob spine = {bcx, bcy + body.b * 0.72f, S * 0.045f, S * 0.04f, 0, 0, 0, mri ? 50 : 225, 0};
        paint(g, size, &spine);
        for (int s = 0; s < 2; s++) {
            float ox = (s ? 1 : -1) * body.a * 0.48f;
            blob organ = {bcx + ox, bcy - body.b * 0.1f, body.a * 0.36f, body.b * 0.62f, (s ? -1 : 1) * 0.12f, 0, 0, 0, 0};
            if (in.region == 0) organ.value = mri ? 18 : 22; /* lungs */
            else organ.value = s == 0 ? tissue * 1.12f : tissue * 0.95f; /* liver (patient's right), bowel */
            paint(g, size, &organ);
            lesion_box[s][0] = organ.cx, lesion_box[s][1] = organ.cy;
            lesion_box[s][2] = organ.a * 0.45f, lesion_box[s][3] = organ.b * 0.55f;
        }
        if (in.region == 0) {
            blob heart = {bcx + body.a * 0.08f, bcy + body.b * 0.05f, body.a * 0.2f, body.b * 0.3f, 0.3f, 0, 0,
                          tissue * 1.05f, 0};
            paint(g, size, &heart);
        }
    }

    /* lesions: 0, 1 or 2, at different (side, level) places */
    float p0 = uni(&d);
    in.n_lesions = p0 < 0.25f ? 0 : p0 < 0.7f ? 1 : 2;
    int used = -1;
    for (int k = 0; k < in.n_lesions; k++) {
        int place;
        do place = pick(&d, 4);
        while (place == used);
        used = place;
        in.lesion[k].left = place & 1, in.lesion[k].upper = (place >> 1) & 1;
        in.lesion[k].large = pick(&d, 2), in.lesion[k].bright = pick(&d, 2), in.lesion[k].shape = pick(&d, 3);
        int side = in.lesion[k].left; /* patient's left = image right = box 1 */
        float r = S * (in.lesion[k].large ? range(&d, 0.065f, 0.085f) : range(&d, 0.028f, 0.04f));
        float cx = lesion_box[side][0] + range(&d, -0.5f, 0.5f) * lesion_box[side][2];
        float dy = lesion_box[side][3] * range(&d, 0.35f, 0.9f);
        float cy = lesion_box[side][1] + (in.lesion[k].upper ? -dy : dy);
        blob les = {cx, cy, r, r, range(&d, 0, 3.14159f), 0, range(&d, 0, 6.283f), 0, 0};
        if (in.lesion[k].shape == 1) les.b = r * range(&d, 0.55f, 0.7f);
        if (in.lesion[k].shape == 2) les.kind = 1, les.wobble = range(&d, 0.18f, 0.28f);
        les.value = in.lesion[k].bright ? (mri ? 205 : 215) : (in.region == 0 ? 70 : tissue * 0.45f);
        paint(g, size, &les);
        in.lesion[k].cx = cx, in.lesion[k].cy = cy, in.lesion[k].radius = r;
    }

    /* noise, quantisation to grey RGB */
    img->width = img->height = size;
    img->rgb = malloc((size_t)size * size * 3);
    if (!img->rgb) {
        free(g);
        return m3ae_error_set(err, "out of memory drawing a %dx%d phantom", size, size);
    }
    m3ae_rng nr = m3ae_rng_make(seed, M3AE_RNG_PHANTOM, index, 1);
    const float amp = mri ? 7.0f : 5.0f;
    for (int i = 0; i < size * size; i++) {
        float v = g[i] > 0 ? g[i] + amp * m3ae_rng_normal(&nr, (uint64_t)i) : g[i];
        int q = (int)lrintf(v);
        q = q < 0 ? 0 : q > 255 ? 255 : q;
        img->rgb[3 * i] = img->rgb[3 * i + 1] = img->rgb[3 * i + 2] = (uint8_t)q;
    }
    free(g);

    /* caption */
    char l0[160], l1[160], lesions[400];
    if (in.n_lesions == 0)
        snprintf(lesions, sizeof lesions, "no focal lesion");
    else if (in.n_lesions == 1)
        lesion_text(lesions, sizeof lesions, &in, 0);
    else {
        lesion_text(l0, sizeof l0, &in, 0);
        lesion_text(l1, sizeof l1, &in, 1);
        snprintf(lesions, sizeof lesions, "%s and %s", l0, l1);
    }
    snprintf(caption, cap, "Axial %s of the %s %s %s.", modalities[in.modality], regions[in.region], verbs[pick(&d, 3)],
             lesions);
    if (info) *info = in;
    return 0;
}

typedef struct {
    jmp_buf jb;
    char msg[200];
} png_err_ctx;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_err_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    longjmp(c->jb, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

int m3ae_png_write(const char *path, const m3ae_image *img, m3ae_error *err) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid());
    FILE *fp = fopen(tmp, "wb");
    if (!fp) return m3ae_error_set(err, "cannot create %s: %s", tmp, strerror(errno));
    png_err_ctx ctx = {.msg = ""};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(ctx.jb)) {
        png_destroy_write_struct(&png, &info);
        fclose(fp);
        unlink(tmp);
        return m3ae_error_set(err, "writing %s failed: %s", path, ctx.msg[0] ? ctx.msg : "out of memory");
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < img->height; y++) png_write_row(png, img->rgb + (size_t)y * img->width * 3);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    int ok = fflush(fp) == 0 && !ferror(fp);
    ok = (fclose(fp) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return m3ae_error_set(err, "writing %s failed: %s (is the disk full?)", path, strerror(errno));
    }
    return 0;
}

int m3ae_phantom_write_corpus(const char *dir, uint64_t seed, uint64_t count, int size, int progress,
                              m3ae_error *err) {
    char path[4200], tmp[4300];
    if (m3ae_mkdir_p(dir) != 0) return m3ae_error_set(err, "cannot create %s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/images", dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) return m3ae_error_set(err, "cannot create %s: %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/captions.jsonl", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid());
    FILE *out = fopen(tmp, "w");
    if (!out) return m3ae_error_set(err, "cannot create %s: %s", tmp, strerror(errno));
    char caption[512], rel[64], file[4300];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t i = 0; i < count; i++) {
        m3ae_image img = {0, 0, NULL};
        if (m3ae_phantom_make(seed, i, size, &img, caption, sizeof caption, NULL, err) != 0) {
            fclose(out), unlink(tmp);
            return -1;
        }
        snprintf(rel, sizeof rel, "images/phantom_%06llu.png", (unsigned long long)i);
        snprintf(file, sizeof file, "%s/%s", dir, rel);
        int rc = m3ae_png_write(file, &img, err);
        free(img.rgb);
        if (rc != 0) {
            fclose(out), unlink(tmp);
            return -1;
        }
        fprintf(out, "{\"image\": ");
        m3ae_json_write_string(out, rel, strlen(rel));
        fprintf(out, ", \"caption\": ");
        m3ae_json_write_string(out, caption, strlen(caption));
        fprintf(out, "}\n");
        if (progress && ((i + 1) % 500 == 0 || i + 1 == count)) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
            fprintf(stderr, "phantom: %llu/%llu images (%.0f images/s)\n", (unsigned long long)(i + 1),
                    (unsigned long long)count, (double)(i + 1) / (s > 0 ? s : 1e-9));
        }
    }
    int ok = fflush(out) == 0 && fsync(fileno(out)) == 0;
    ok = (fclose(out) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return m3ae_error_set(err, "writing %s failed: %s (is the disk full?)", path, strerror(errno));
    }
    return 0;
}
