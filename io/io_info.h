#ifndef M3AE_IO_INFO_H
#define M3AE_IO_INFO_H
#include <stddef.h>
/* Versions of the data libraries as reported by the linked libraries. */
void m3ae_lmdb_version(char *buf, size_t n);
void m3ae_tiff_version(char *buf, size_t n);
void m3ae_png_version(char *buf, size_t n);
void m3ae_jpeg_version(char *buf, size_t n);
void m3ae_utf8proc_version(char *buf, size_t n);
#endif
