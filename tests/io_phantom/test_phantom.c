/* The phantom corpus: a pure function of (seed, index); captions state what was drawn (lesion count,
 * side with the radiological convention, brightness); the drawn lesions are visible where the
 * caption says; the PNG corpus decodes back to the same pixels through the PNG decoder. */
#include <unistd.h>

#include "io/phantom.h"
#include "harness.h"

static int count(const char *s, const char *word) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, word)); p += strlen(word)) n++;
    return n;
}

int main(void) {
    m3ae_error err = {{0}};
    const int S = 128;
    int by_count[3] = {0}, regions[3] = {0}, shape_ok = 0, checked = 0;
    for (uint64_t i = 0; i < 300; i++) {
        m3ae_image a = {0}, b = {0};
        m3ae_phantom_info info;
        char ca[512], cb[512];
        T_CHECK(m3ae_phantom_make(5, i, S, &a, ca, sizeof ca, &info, &err) == 0, "%s", err.msg);
        T_CHECK(m3ae_phantom_make(5, i, S, &b, cb, sizeof cb, NULL, &err) == 0, "%s", err.msg);
        T_CHECK(!strcmp(ca, cb) && !memcmp(a.rgb, b.rgb, (size_t)S * S * 3), "phantom %llu is not reproducible",
                (unsigned long long)i);
        by_count[info.n_lesions]++;
        regions[info.region]++;
        T_CHECK(count(ca, " lesion") == (info.n_lesions ? info.n_lesions : 1) &&
                    (info.n_lesions > 0 || strstr(ca, "no focal lesion")),
                "caption '%s' does not state %d lesions", ca, info.n_lesions);
        T_CHECK(!strncmp(ca, info.modality ? "Axial MRI of the " : "Axial CT of the ", 16), "modality in '%s'", ca);
        for (int k = 0; k < info.n_lesions; k++) {
            /* patient's left is on the image's right */
            T_CHECK(info.lesion[k].left == (info.lesion[k].cx > S / 2.0f), "lesion %d of %llu: left=%d at x=%.1f", k,
                    (unsigned long long)i, info.lesion[k].left, info.lesion[k].cx);
            if (info.n_lesions == 1) {
                int x = (int)info.lesion[0].cx, y = (int)info.lesion[0].cy;
                int v = a.rgb[3 * (y * S + x)];
                /* the centre of a bright lesion is bright (>= 170), of a dark one darker than 160 */
                shape_ok += info.lesion[0].bright ? v >= 170 : v < 160;
                checked++;
                T_CHECK(strstr(ca, info.lesion[0].left ? "in the left " : "in the right ") != NULL, "side in '%s'", ca);
            }
        }
        for (int p = 0; p < S * S; p++)
            if (a.rgb[3 * p] != a.rgb[3 * p + 1] || a.rgb[3 * p] != a.rgb[3 * p + 2]) {
                T_CHECK(0, "phantom %llu is not grey", (unsigned long long)i);
                break;
            }
        free(a.rgb), free(b.rgb);
    }
    T_CHECK(by_count[0] > 40 && by_count[1] > 90 && by_count[2] > 70, "lesion counts %d %d %d", by_count[0], by_count[1], by_count[2]);
    T_CHECK(regions[0] > 60 && regions[1] > 60 && regions[2] > 60, "regions %d %d %d", regions[0], regions[1], regions[2]);
    T_CHECK(checked > 50 && shape_ok >= checked - 2, "lesion brightness visible in %d of %d", shape_ok, checked);
    /* another seed gives another corpus */
    m3ae_image c = {0}, d = {0};
    char cc[512], cd[512];
    m3ae_phantom_make(6, 0, S, &c, cc, sizeof cc, NULL, &err);
    m3ae_phantom_make(5, 0, S, &d, cd, sizeof cd, NULL, &err);
    T_CHECK(memcmp(c.rgb, d.rgb, (size_t)S * S * 3) != 0, "seeds 5 and 6 draw the same phantom");
    free(c.rgb), free(d.rgb);

    /* the PNG corpus decodes back exactly */
    char dir[] = "/tmp/m3ae-phantom-XXXXXX", path[512], line[1024];
    T_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    T_CHECK(m3ae_phantom_write_corpus(dir, 5, 3, S, 0, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/captions.jsonl", dir);
    FILE *f = fopen(path, "r");
    int lines = 0;
    while (f && fgets(line, sizeof line, f)) lines++;
    if (f) fclose(f);
    T_CHECK(lines == 3, "captions.jsonl has %d lines", lines);
    for (int i = 0; i < 3; i++) {
        m3ae_image want = {0}, got = {0};
        char cap[512];
        m3ae_phantom_make(5, (uint64_t)i, S, &want, cap, sizeof cap, NULL, &err);
        snprintf(path, sizeof path, "%s/images/phantom_%06d.png", dir, i);
        T_CHECK(m3ae_image_decode_file(path, NULL, &got, &err) == 0, "%s", err.msg);
        T_CHECK(got.width == S && got.height == S && got.rgb && !memcmp(got.rgb, want.rgb, (size_t)S * S * 3),
                "%s decodes to other pixels", path);
        m3ae_image_free(&got);
        free(want.rgb);
    }
    snprintf(line, sizeof line, "rm -rf %s", dir);
    T_CHECK(system(line) == 0, "cleanup");
    return t_done("test_phantom");
}
