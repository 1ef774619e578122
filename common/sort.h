/* Sorting helpers shared by io/ (the MIM patch order) and the tests and benchmarks that build
 * model inputs: one argsort, so that every room orders MIM noise the same way. */
#ifndef M3AE_COMMON_SORT_H
#define M3AE_COMMON_SORT_H

#include <stdint.h>

/* idx (n) = stable ascending argsort of x (n): ties keep index order, as torch.argsort of the MIM
 * noise in the official random_masking (spec 2.2). Bottom-up merge sort; n small (hundreds). */
void m3ae_argsort_stable(const float *x, int32_t *idx, int n);

#endif
