#include "io/io_info.h"

#include <stdio.h>
/* jpeglib.h needs FILE and size_t first */
#include <jpeglib.h>
#include <lmdb.h>
#include <png.h>
#include <string.h>
#include <tiffio.h>
#include <utf8proc.h>

void m3ae_lmdb_version(char *buf, size_t n) {
    int maj = 0, min = 0, patch = 0;
    mdb_version(&maj, &min, &patch);
    snprintf(buf, n, "LMDB %d.%d.%d", maj, min, patch);
}

void m3ae_tiff_version(char *buf, size_t n) {
    /* TIFFGetVersion() is "LIBTIFF, Version 4.5.0\nCopyright ..." : keep the first line. */
    const char *v = TIFFGetVersion();
    size_t len = strcspn(v, "\n");
    snprintf(buf, n, "%.*s", (int)len, v);
}

void m3ae_png_version(char *buf, size_t n) { snprintf(buf, n, "libpng %s", png_get_libpng_ver(NULL)); }

void m3ae_jpeg_version(char *buf, size_t n) {
#ifdef LIBJPEG_TURBO_VERSION
#define M3AE_STR2(x) #x
#define M3AE_STR(x) M3AE_STR2(x)
    snprintf(buf, n, "libjpeg-turbo %s (libjpeg API %d)", M3AE_STR(LIBJPEG_TURBO_VERSION), JPEG_LIB_VERSION);
#else
    snprintf(buf, n, "libjpeg API %d", JPEG_LIB_VERSION);
#endif
}

void m3ae_utf8proc_version(char *buf, size_t n) {
    snprintf(buf, n, "utf8proc %s (Unicode %s)", utf8proc_version(), utf8proc_unicode_version());
}
