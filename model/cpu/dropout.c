/* Counter-based dropout: the mask of element i of batch row b is a pure function of
 * (seed, site, step, sample_ids[b], i) (common/rng.h), regenerated in backward, never stored. */
#include <math.h>

#include "common/error.h"
#include "model/cpu/cpu_internal.h"

/* Elements per work item (a multiple of 4: whole Philox blocks) */
#define DROPOUT_CHUNK 4096

int m3ae_cpu_dropout_active(const m3ae_dropout *d) {
    if (!d || d->p == 0.0f) return 0;
    M3AE_CHECK(d->p > 0.0f && d->p < 1.0f, M3AE_EXIT_USAGE,
               "dropout probability %g (site %u) is outside [0, 1); check drop_rate in the configuration",
               (double)d->p, d->site);
    M3AE_CHECK(d->sample_ids != NULL, M3AE_EXIT_FAIL, "dropout site %u has p=%g but no sample_ids", d->site,
               (double)d->p);
    return 1;
}

m3ae_rng m3ae_cpu_dropout_rng(const m3ae_dropout *d, int b) {
    return m3ae_rng_make(d->seed, (uint64_t)M3AE_RNG_DROPOUT + d->site, d->step, (uint64_t)d->sample_ids[b]);
}

/* Philox4x32-10 on PHILOX_LANES counters at once (lane l: counter (c0[l], c1[l], c2[l], c3[l])),
 * the same function as m3ae_philox4x32 (common/rng.c), which the test checks word for word
 * through m3ae_rng_uniform. On x86-64 the lanes run in SSE2 registers (AVX2 where the CPU has
 * it), several groups interleaved in one round loop for instruction-level parallelism. */
#define PHILOX_LANES 16
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u

/* (hi, lo) 32-bit halves of the 32x32->64 products a[l] * m, four lanes */
static inline void mulhilo4(__m128i a, __m128i m, __m128i *hi, __m128i *lo) {
    const __m128i low = _mm_set_epi32(0, -1, 0, -1);
    __m128i even = _mm_mul_epu32(a, m);                    /* lanes 0, 2 as 64-bit */
    __m128i odd = _mm_mul_epu32(_mm_srli_epi64(a, 32), m); /* lanes 1, 3 as 64-bit */
    *lo = _mm_or_si128(_mm_and_si128(even, low), _mm_slli_epi64(odd, 32));
    *hi = _mm_or_si128(_mm_srli_epi64(even, 32), _mm_andnot_si128(low, odd));
}

static void philox_sse2(uint32_t *c0, uint32_t *c1, uint32_t *c2, uint32_t *c3, uint64_t key) {
    enum { G = PHILOX_LANES / 4 };
    const __m128i m0 = _mm_set1_epi32((int)PHILOX_M0), m1 = _mm_set1_epi32((int)PHILOX_M1);
    __m128i x0[G], x1[G], x2[G], x3[G];
    for (int g = 0; g < G; g++) {
        x0[g] = _mm_loadu_si128((const __m128i *)(c0 + 4 * g)), x1[g] = _mm_loadu_si128((const __m128i *)(c1 + 4 * g));
        x2[g] = _mm_loadu_si128((const __m128i *)(c2 + 4 * g)), x3[g] = _mm_loadu_si128((const __m128i *)(c3 + 4 * g));
    }
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        const __m128i kk0 = _mm_set1_epi32((int)k0), kk1 = _mm_set1_epi32((int)k1);
        for (int g = 0; g < G; g++) {
            __m128i hi0, lo0, hi1, lo1;
            mulhilo4(x0[g], m0, &hi0, &lo0);
            mulhilo4(x2[g], m1, &hi1, &lo1);
            x0[g] = _mm_xor_si128(_mm_xor_si128(hi1, x1[g]), kk0);
            x1[g] = lo1;
            x2[g] = _mm_xor_si128(_mm_xor_si128(hi0, x3[g]), kk1);
            x3[g] = lo0;
        }
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    for (int g = 0; g < G; g++) {
        _mm_storeu_si128((__m128i *)(c0 + 4 * g), x0[g]), _mm_storeu_si128((__m128i *)(c1 + 4 * g), x1[g]);
        _mm_storeu_si128((__m128i *)(c2 + 4 * g), x2[g]), _mm_storeu_si128((__m128i *)(c3 + 4 * g), x3[g]);
    }
}

__attribute__((target("avx2"))) static inline void mulhilo8(__m256i a, __m256i m, __m256i *hi, __m256i *lo) {
    const __m256i low = _mm256_set_epi32(0, -1, 0, -1, 0, -1, 0, -1);
    __m256i even = _mm256_mul_epu32(a, m);
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    *lo = _mm256_or_si256(_mm256_and_si256(even, low), _mm256_slli_epi64(odd, 32));
    *hi = _mm256_or_si256(_mm256_srli_epi64(even, 32), _mm256_andnot_si256(low, odd));
}

__attribute__((target("avx2"))) static void philox_avx2(uint32_t *c0, uint32_t *c1, uint32_t *c2, uint32_t *c3,
                                                       uint64_t key) {
    enum { G = PHILOX_LANES / 8 };
    const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M0), m1 = _mm256_set1_epi32((int)PHILOX_M1);
    __m256i x0[G], x1[G], x2[G], x3[G];
    for (int g = 0; g < G; g++) {
        x0[g] = _mm256_loadu_si256((const __m256i *)(c0 + 8 * g));
        x1[g] = _mm256_loadu_si256((const __m256i *)(c1 + 8 * g));
        x2[g] = _mm256_loadu_si256((const __m256i *)(c2 + 8 * g));
        x3[g] = _mm256_loadu_si256((const __m256i *)(c3 + 8 * g));
    }
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        const __m256i kk0 = _mm256_set1_epi32((int)k0), kk1 = _mm256_set1_epi32((int)k1);
        for (int g = 0; g < G; g++) {
            __m256i hi0, lo0, hi1, lo1;
            mulhilo8(x0[g], m0, &hi0, &lo0);
            mulhilo8(x2[g], m1, &hi1, &lo1);
            x0[g] = _mm256_xor_si256(_mm256_xor_si256(hi1, x1[g]), kk0);
            x1[g] = lo1;
            x2[g] = _mm256_xor_si256(_mm256_xor_si256(hi0, x3[g]), kk1);
            x3[g] = lo0;
        }
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    for (int g = 0; g < G; g++) {
        _mm256_storeu_si256((__m256i *)(c0 + 8 * g), x0[g]), _mm256_storeu_si256((__m256i *)(c1 + 8 * g), x1[g]);
        _mm256_storeu_si256((__m256i *)(c2 + 8 * g), x2[g]), _mm256_storeu_si256((__m256i *)(c3 + 8 * g), x3[g]);
    }
}

static void philox_lanes(uint32_t *c0, uint32_t *c1, uint32_t *c2, uint32_t *c3, uint64_t key) {
    if (__builtin_cpu_supports("avx2")) philox_avx2(c0, c1, c2, c3, key);
    else philox_sse2(c0, c1, c2, c3, key);
}
#else
static void philox_lanes(uint32_t *c0, uint32_t *c1, uint32_t *c2, uint32_t *c3, uint64_t key) {
    for (int l = 0; l < PHILOX_LANES; l++) {
        uint32_t ctr[4] = {c0[l], c1[l], c2[l], c3[l]};
        m3ae_u32x4 w = m3ae_philox4x32(ctr, key);
        c0[l] = w.v[0], c1[l] = w.v[1], c2[l] = w.v[2], c3[l] = w.v[3];
    }
}
#endif

void m3ae_cpu_dropout_mask(float *m, const m3ae_rng *r, uint64_t start, size_t n, float p) {
    /* Same words as m3ae_rng_u32(r, i): counter (i / 4, a, b, ab_hi ^ (high bits of i / 4) << 16),
     * word i % 4 of the Philox block. m3ae_rng_uniform is (w >> 8) * 2^-24 exactly, so
     * "uniform >= p" is the integer test (w >> 8) >= ceil(p * 2^24). */
    const float scale = 1.0f / (1.0f - p);
    const uint32_t thr = (uint32_t)ceil((double)p * 16777216.0);
    size_t j = 0;
    while (j < n) {
        uint64_t i = start + j;
        uint64_t block = i >> 2;
        uint32_t c[4][PHILOX_LANES];
        for (int l = 0; l < PHILOX_LANES; l++) {
            uint64_t bl = block + (uint64_t)l;
            c[0][l] = (uint32_t)bl;
            c[1][l] = r->a_lo;
            c[2][l] = r->b_lo;
            c[3][l] = r->ab_hi ^ ((uint32_t)(bl >> 32) << 16);
        }
        philox_lanes(c[0], c[1], c[2], c[3], r->key);
        if ((i & 3) == 0 && n - j >= 4 * PHILOX_LANES) { /* whole blocks: element 4 l + k is word k of lane l */
            float *mj = m + j;
            for (int l = 0; l < PHILOX_LANES; l++)
                for (int k = 0; k < 4; k++) mj[4 * l + k] = (c[k][l] >> 8) >= thr ? scale : 0.0f;
            j += 4 * PHILOX_LANES;
            continue;
        }
        for (int l = 0; l < PHILOX_LANES && j < n; l++)
            for (unsigned k = l == 0 ? (unsigned)(i & 3) : 0; k < 4 && j < n; k++, j++)
                m[j] = (c[k][l] >> 8) >= thr ? scale : 0.0f;
    }
}

/* y = x * mask for rows b of per_row elements (y may alias x) */
static void apply(float *y, const float *x, int B, size_t per_row, const m3ae_dropout *d) {
    long long nchunk = (long long)((per_row + DROPOUT_CHUNK - 1) / DROPOUT_CHUNK);
    long long total = (long long)B * nchunk;
#pragma omp parallel for schedule(static) if ((size_t)B * per_row >= M3AE_CPU_PAR_MIN)
    for (long long t = 0; t < total; t++) {
        int b = (int)(t / nchunk);
        size_t j0 = (size_t)(t % nchunk) * DROPOUT_CHUNK;
        size_t len = per_row - j0 < DROPOUT_CHUNK ? per_row - j0 : DROPOUT_CHUNK;
        float m[DROPOUT_CHUNK];
        m3ae_rng r = m3ae_cpu_dropout_rng(d, b);
        m3ae_cpu_dropout_mask(m, &r, j0, len, d->p);
        const float *xs = x + (size_t)b * per_row + j0;
        float *ys = y + (size_t)b * per_row + j0;
        for (size_t j = 0; j < len; j++) ys[j] = xs[j] * m[j];
    }
}

void m3ae_cpu_dropout_forward(float *y, const float *x, int B, size_t per_row, const m3ae_dropout *d) {
    // x (B, per_row) -> y (B, per_row)
    if (!m3ae_cpu_dropout_active(d)) {
        m3ae_cpu_copy(y, x, (size_t)B * per_row);
        return;
    }
    apply(y, x, B, per_row, d);
}

void m3ae_cpu_dropout_backward(float *dx, const float *dy, int B, size_t per_row, const m3ae_dropout *d) {
    // dy (B, per_row) -> dx (B, per_row)
    if (!m3ae_cpu_dropout_active(d)) {
        m3ae_cpu_copy(dx, dy, (size_t)B * per_row);
        return;
    }
    apply(dx, dy, B, per_row, d);
}
