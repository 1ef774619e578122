#include "common/rng.h"

#include <math.h>

static inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

m3ae_u32x4 m3ae_philox4x32(const uint32_t ctr[4], uint64_t key) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = mulhilo(0xD2511F53u, c0, &hi0);
        uint32_t lo1 = mulhilo(0xCD9E8D57u, c2, &hi1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    m3ae_u32x4 out = {{c0, c1, c2, c3}};
    return out;
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

m3ae_rng m3ae_rng_make(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b) {
    m3ae_rng r;
    r.key = splitmix64(seed ^ splitmix64(purpose));
    r.a_lo = (uint32_t)a;
    r.b_lo = (uint32_t)b;
    r.ab_hi = (uint32_t)(a >> 32) * 0x9E3779B9u ^ (uint32_t)(b >> 32);
    return r;
}

uint32_t m3ae_rng_u32(const m3ae_rng *r, uint64_t i) {
    /* counter = (block of 4 words, a, b, high bits of a and b and of the block) */
    uint64_t block = i >> 2;
    uint32_t ctr[4] = {(uint32_t)block, r->a_lo, r->b_lo, r->ab_hi ^ ((uint32_t)(block >> 32) << 16)};
    return m3ae_philox4x32(ctr, r->key).v[i & 3];
}

float m3ae_rng_uniform(const m3ae_rng *r, uint64_t i) {
    return (float)(m3ae_rng_u32(r, i) >> 8) * (1.0f / 16777216.0f);
}

uint32_t m3ae_rng_below(const m3ae_rng *r, uint64_t i, uint32_t n) {
    if (n <= 1) return 0;
    uint32_t limit = (uint32_t)(0x100000000ull - (0x100000000ull % n)); /* 0 means 2^32 */
    for (uint64_t t = 0;; t++) {
        uint32_t x = m3ae_rng_u32(r, i + (t << 40));
        if (limit == 0 || x < limit) return x % n;
    }
}

float m3ae_rng_normal(const m3ae_rng *r, uint64_t i) {
    double u1 = ((double)m3ae_rng_u32(r, 2 * i) + 1.0) / 4294967297.0; /* (0, 1) */
    double u2 = (double)m3ae_rng_u32(r, 2 * i + 1) / 4294967296.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
