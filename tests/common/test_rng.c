/* Philox known answers and the properties the rest of m3ae relies on. */
#include "common/rng.h"
#include "harness.h"

int main(void) {
    /* Known-answer vectors of Philox4x32-10 (Random123 kat_vectors). */
    uint32_t zero[4] = {0, 0, 0, 0};
    m3ae_u32x4 r = m3ae_philox4x32(zero, 0);
    T_CHECK(r.v[0] == 0x6627e8d5u && r.v[1] == 0xe169c58du && r.v[2] == 0xbc57ac4cu && r.v[3] == 0x9b00dbd8u,
            "philox(0,0) = %08x %08x %08x %08x", r.v[0], r.v[1], r.v[2], r.v[3]);
    uint32_t ones[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
    r = m3ae_philox4x32(ones, 0xffffffffffffffffull);
    T_CHECK(r.v[0] == 0x408f276du && r.v[1] == 0x41c83b0eu && r.v[2] == 0xa20bc7c6u && r.v[3] == 0x6d5451fdu,
            "philox(~0,~0) = %08x %08x %08x %08x", r.v[0], r.v[1], r.v[2], r.v[3]);

    /* Pure function of the coordinates; different coordinates give different streams. */
    m3ae_rng a = m3ae_rng_make(0, M3AE_RNG_MIM_NOISE, 3, 12345), a2 = m3ae_rng_make(0, M3AE_RNG_MIM_NOISE, 3, 12345);
    m3ae_rng b = m3ae_rng_make(0, M3AE_RNG_MIM_NOISE, 3, 12346), c = m3ae_rng_make(1, M3AE_RNG_MIM_NOISE, 3, 12345);
    int same_ab = 0, same_ac = 0;
    double sum = 0, sum2 = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        float u = m3ae_rng_uniform(&a, i);
        T_CHECK(u == m3ae_rng_uniform(&a2, i), "stream not reproducible at %d", i);
        if (u < 0.0f || u >= 1.0f) T_CHECK(0, "uniform out of [0,1): %g", u);
        same_ab += u == m3ae_rng_uniform(&b, i);
        same_ac += u == m3ae_rng_uniform(&c, i);
        sum += u;
        float z = m3ae_rng_normal(&a, i);
        sum2 += (double)z * z;
    }
    T_CHECK(same_ab < 20 && same_ac < 20, "streams overlap: %d %d equal draws", same_ab, same_ac);
    T_CLOSE(sum / n, 0.5, 0.005, 0, "mean of uniforms %g", sum / n);
    T_CLOSE(sum2 / n, 1.0, 0.02, 0, "variance of normals %g", sum2 / n);
    int hist[7] = {0};
    for (int i = 0; i < 70000; i++) hist[m3ae_rng_below(&b, i, 7)]++;
    for (int k = 0; k < 7; k++) T_CLOSE(hist[k], 10000, 400, 0, "rng_below bucket %d has %d", k, hist[k]);
    return t_done("test_rng");
}
