/* Aligned allocation of the few large blocks a run owns (parameters, gradients, optimizer state,
 * activations, loader buffers). Memory is planned once; these are called at start-up only. */
#ifndef M3AE_COMMON_ARENA_H
#define M3AE_COMMON_ARENA_H

#include <stddef.h>

#define M3AE_ALIGN 64

/* Zero-filled, 64-byte aligned; exits with M3AE_EXIT_SYSTEM naming `what` and the size on failure. */
void *m3ae_alloc(size_t bytes, const char *what);
void m3ae_free(void *p);

/* Rounds n up to a multiple of M3AE_ALIGN bytes (for carving one block into aligned tensors). */
static inline size_t m3ae_align_up(size_t n) { return (n + M3AE_ALIGN - 1) / M3AE_ALIGN * M3AE_ALIGN; }

#endif
