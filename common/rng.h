/* Counter-based random numbers (Philox4x32-10, Salmon et al., SC 2011).
 *
 * Every random choice in m3ae is a pure function of its coordinates, never of a hidden stream:
 *   value = f(seed, purpose, a, b, i)
 * e.g. a sample's MIM noise: purpose M3AE_RNG_MIM_NOISE, a = epoch, b = global sample index,
 * i = patch index; dropout: purpose M3AE_RNG_DROPOUT + layer, a = step, b = global sample index,
 * i = element. So results do not depend on the number of ranks, threads or where a run resumed. */
#ifndef M3AE_COMMON_RNG_H
#define M3AE_COMMON_RNG_H

#include <stdint.h>

/* Purposes (documented values: changing one changes every run's randomness). */
enum {
    M3AE_RNG_INIT = 1,         /* parameter initialisation: a = 64-bit hash of the tensor name (model/init.c) */
    M3AE_RNG_ORDER = 2,        /* epoch permutation: a = epoch */
    M3AE_RNG_MIM_NOISE = 3,    /* MIM patch noise: a = epoch, b = sample */
    M3AE_RNG_MLM = 4,          /* MLM positions and replacements: a = epoch, b = sample */
    M3AE_RNG_ITM = 5,          /* ITM label and wrong image: a = epoch, b = sample */
    M3AE_RNG_CROP = 6,         /* random resized crop: a = epoch, b = sample */
    M3AE_RNG_PHANTOM = 7,      /* synthetic phantom corpus: a = image index */
    M3AE_RNG_IRTR = 8,         /* retrieval negatives (io/samplers/irtr.c): a = epoch, b = sample, i = candidate */
    M3AE_RNG_DROPOUT = 1024    /* + layer/site id: a = step, b = sample */
};

typedef struct {
    uint32_t v[4];
} m3ae_u32x4;

/* The raw generator: 128-bit counter, 64-bit key, 10 rounds. */
m3ae_u32x4 m3ae_philox4x32(const uint32_t ctr[4], uint64_t key);

/* A stream addressed by (seed, purpose, a, b); word i of it. */
typedef struct {
    uint64_t key;
    uint32_t a_lo, b_lo, ab_hi;
} m3ae_rng;

m3ae_rng m3ae_rng_make(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b);
uint32_t m3ae_rng_u32(const m3ae_rng *r, uint64_t i);
/* Uniform in [0, 1) with 24 random bits (exactly representable as float). */
float m3ae_rng_uniform(const m3ae_rng *r, uint64_t i);
/* Uniform integer in [0, n) without modulo bias (uses words i, i + 2^40, ... on rejection). */
uint32_t m3ae_rng_below(const m3ae_rng *r, uint64_t i, uint32_t n);
/* Standard normal (Box-Muller over words 2i and 2i+1). */
float m3ae_rng_normal(const m3ae_rng *r, uint64_t i);

#endif
