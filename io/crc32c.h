/* CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), as used by iSCSI, ext4 and
 * the m3ae shard records. Hardware (SSE4.2 crc32 instruction) when the CPU has it, else a
 * slicing-by-8 table; both give identical results. */
#ifndef M3AE_IO_CRC32C_H
#define M3AE_IO_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC of n bytes continuing from crc (start with 0): crc32c(crc32c(0, a), b) == crc32c(0, a||b).
 * Check value: m3ae_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t m3ae_crc32c(uint32_t crc, const void *data, size_t n);

/* The portable table version (for tests comparing it with the hardware path). */
uint32_t m3ae_crc32c_sw(uint32_t crc, const void *data, size_t n);

/* 1 when m3ae_crc32c uses the SSE4.2 instruction. */
int m3ae_crc32c_hw(void);

#endif
