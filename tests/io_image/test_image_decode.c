/* Every shared image (35 TIFFs, the medpix2 and vqa_rad images) and the synthetic fixtures decode, with
 * the size and the CRC-32 of the RGB bytes of Pillow's convert("RGB") (8-bit files) or of m3ae's
 * documented wide-image policy (16-bit, float, signed...), as computed by
 * tools/reference/make_image_fixtures.py. Also: the opts window, decode_file vs decode_mem. */
#include "harness.h"
#include "io/image.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void full_path(char *out, size_t n, const char *fix, const char *root, const char *rel) {
    if (strncmp(rel, "fixture:", 8) == 0) snprintf(out, n, "%s/%s", fix, rel + 8);
    else snprintf(out, n, "%s/%s", root, rel);
}

/* The window option: decoding a signed 16-bit fixture with a window equal to its own min..max gives the
 * default result; a wider window gives a darker-contrast image within the same bounds. */
static void test_window(const char *fix) {
    char p[4096];
    snprintf(p, sizeof p, "%s/synth/int16_tiled_lzw.tif", fix);
    /* the fixture's samples: (g - 128) * |g - 100| for g = (7x + 5y) % 256 over 37x23 */
    int lo = 1 << 30, hi = -(1 << 30);
    for (int y = 0; y < 23; y++)
        for (int x = 0; x < 37; x++) {
            int g = (7 * x + 5 * y) % 256, v = (g - 128) * abs(g - 100);
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
    m3ae_image a, b, c;
    m3ae_error err;
    m3ae_image_opts own = {1, (float)lo, (float)hi}, wide = {1, (float)lo * 2, (float)hi * 2};
    T_CHECK(m3ae_image_decode_file(p, NULL, &a, &err) == 0, "%s", err.msg);
    T_CHECK(m3ae_image_decode_file(p, &own, &b, &err) == 0, "%s", err.msg);
    T_CHECK(m3ae_image_decode_file(p, &wide, &c, &err) == 0, "%s", err.msg);
    if (a.rgb && b.rgb && c.rgb) {
        T_CHECK(memcmp(a.rgb, b.rgb, (size_t)a.width * a.height * 3) == 0, "window = own min..max must equal default");
        int cmin = 255, cmax = 0;
        for (int i = 0; i < c.width * c.height * 3; i++) {
            if (c.rgb[i] < cmin) cmin = c.rgb[i];
            if (c.rgb[i] > cmax) cmax = c.rgb[i];
        }
        T_CHECK(cmin > 0 && cmax < 255 && cmin < cmax, "a window twice as wide uses the middle: %d..%d", cmin, cmax);
    }
    m3ae_image_free(&a);
    m3ae_image_free(&b);
    m3ae_image_free(&c);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return 1;
    }
    const char *fix = argv[1];
    t_data("tiff");
    const char *root = t_data(".");
    char list[4096];
    snprintf(list, sizeof list, "%s/decode.txt", fix);
    FILE *f = fopen(list, "r");
    T_CHECK(f != NULL, "cannot open %s", list);
    if (!f) return t_done("io_image_decode");
    char line[1024];
    int n = 0, ok = 0, npil = 0, okpil = 0, ntiff = 0, nmed = 0, nvqa = 0;
    double t_jpeg = 0;
    int n_jpeg = 0;
    while (fgets(line, sizeof line, f)) {
        char rel[512], kind[16];
        int w, h;
        unsigned crc;
        if (sscanf(line, "%511s %d %d %x %15s", rel, &w, &h, &crc, kind) != 5) continue;
        char path[4096];
        full_path(path, sizeof path, fix, root, rel);
        m3ae_image img;
        m3ae_error err = {{0}};
        double t0 = now_s();
        int rc = m3ae_image_decode_file(path, NULL, &img, &err);
        double dt = now_s() - t0;
        n++;
        if (strstr(rel, ".jpg") && strncmp(rel, "medpix2", 7) == 0) {
            t_jpeg += dt;
            n_jpeg++;
        }
        if (!strncmp(rel, "tiff/", 5)) ntiff++;
        if (!strncmp(rel, "medpix2/", 8)) nmed++;
        if (!strncmp(rel, "vqa_rad/", 8)) nvqa++;
        int is_pil = strcmp(kind, "pil") == 0;
        npil += is_pil;
        T_CHECK(rc == 0, "%s: %s", rel, err.msg);
        if (rc) continue;
        T_CHECK(img.width == w && img.height == h, "%s: size %dx%d, expected %dx%d", rel, img.width, img.height, w, h);
        unsigned got = m3ae_image_crc32(&img);
        T_CHECK(got == crc, "%s: CRC %08x, expected %08x (%s)", rel, got, crc, kind);
        if (got == crc && img.width == w && img.height == h) {
            ok++;
            okpil += is_pil;
        }
        m3ae_image_free(&img);
    }
    fclose(f);
    T_CHECK(ntiff == 35, "expected the 35 shared TIFF files, the fixture lists %d", ntiff);
    T_CHECK(nmed == 2031 && nvqa == 315, "fixture lists %d medpix2 and %d vqa_rad images", nmed, nvqa);
    printf("decoded %d files: %d exact (%d of %d Pillow-compared, %d policy-compared); %d TIFF, %d medpix2, %d vqa_rad\n",
           n, ok, okpil, npil, ok - okpil, ntiff, nmed, nvqa);
    if (n_jpeg) printf("medpix2 JPEG decode: %.3f ms per image (%d images)\n", 1e3 * t_jpeg / n_jpeg, n_jpeg);

    /* decode_mem of the same bytes equals decode_file; the name appears in errors */
    {
        char path[4096];
        snprintf(path, sizeof path, "%s/tiff/color8-lzw.tif", root);
        m3ae_image a, b;
        m3ae_error err;
        T_CHECK(m3ae_image_decode_file(path, NULL, &a, &err) == 0, "%s", err.msg);
        FILE *g = fopen(path, "rb");
        static uint8_t buf[1 << 20];
        size_t len = g ? fread(buf, 1, sizeof buf, g) : 0;
        if (g) fclose(g);
        T_CHECK(m3ae_image_decode_mem(buf, len, "color8-lzw", NULL, &b, &err) == 0, "%s", err.msg);
        T_CHECK(a.rgb && b.rgb && memcmp(a.rgb, b.rgb, (size_t)a.width * a.height * 3) == 0, "mem != file");
        m3ae_image_free(&a);
        m3ae_image_free(&b);
        T_CHECK(m3ae_image_decode_file("/nonexistent/x.jpg", NULL, &a, &err) == -1 && strstr(err.msg, "/nonexistent/x.jpg"),
                "missing file: %s", err.msg);
        T_CHECK(a.rgb == NULL && a.width == 0, "failed decode leaves an empty image");
        T_CHECK(m3ae_image_decode_mem("GIF89a\x01\x00\x01\x00", 10, "thing.gif", NULL, &a, &err) == -1 &&
                    strstr(err.msg, "thing.gif") && strstr(err.msg, "unknown format"),
                "unknown format: %s", err.msg);
        T_CHECK(m3ae_image_decode_mem("", 0, "empty.png", NULL, &a, &err) == -1 && strstr(err.msg, "empty.png"),
                "empty: %s", err.msg);
        m3ae_image_free(&a); /* free of an empty image is fine */
    }
    test_window(fix);
    return t_done("io_image_decode");
}
