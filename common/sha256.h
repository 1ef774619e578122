/* SHA-256 (FIPS 180-4) for the checksums of published checkpoints. */
#ifndef M3AE_COMMON_SHA256_H
#define M3AE_COMMON_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t buf[64];
    size_t used;
} m3ae_sha256;

void m3ae_sha256_init(m3ae_sha256 *s);
void m3ae_sha256_update(m3ae_sha256 *s, const void *data, size_t n);
/* Writes the 64 lowercase hex digits and a NUL into hex (65 bytes). */
void m3ae_sha256_final(m3ae_sha256 *s, char hex[65]);
/* Hash of a whole file; -1 when it cannot be read. */
int m3ae_sha256_file(const char *path, char hex[65]);

#endif
