// The start of the CUDA backend: device discovery and a self-test that runs one real kernel and one
// cuBLAS SGEMM and checks both against the CPU. Later issues add the operations interface here.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "model/backend_info.h"
}

// y[i] = a * x[i] + y[i]
__global__ static void saxpy_kernel(int n, float a, const float *x, float *y) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + y[i];
}

extern "C" int m3ae_cuda_compiled(void) { return 1; }

extern "C" void m3ae_cuda_versions(char *buf, size_t n) {
    int rt = 0, drv = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    snprintf(buf, n, "CUDA runtime %d.%d, driver %s, cuBLAS %d.%d.%d", rt / 1000, (rt % 1000) / 10,
             drv ? "present" : "absent", CUBLAS_VER_MAJOR, CUBLAS_VER_MINOR, CUBLAS_VER_PATCH);
}

extern "C" int m3ae_cuda_devices(char *buf, size_t n) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        snprintf(buf, n, "no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "none visible");
        cudaGetLastError();
        return 0;
    }
    size_t used = 0;
    buf[0] = 0;
    for (int d = 0; d < count && used < n; d++) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, d) != cudaSuccess) continue;
        used += snprintf(buf + used, n - used, "%s%d: %s, sm_%d%d, %.1f GiB", d ? "\n" : "", d, p.name,
                         p.major, p.minor, (double)p.totalGlobalMem / (1u << 30));
    }
    return count;
}

#define SELFTEST_CHECK(call, what)                                                                 \
    do {                                                                                           \
        if ((call) != 0) {                                                                         \
            snprintf(msg, n, "CUDA self-test: %s failed", what);                                   \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

extern "C" int m3ae_cuda_selftest(char *msg, size_t n) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        cudaGetLastError();
        snprintf(msg, n, "no CUDA device visible: the CUDA self-test needs a GPU");
        return 77;
    }
    const int M = 64, N = 48, K = 80, V = 1 << 16;
    int rc = 1;
    float *hA = (float *)malloc(sizeof(float) * M * K), *hB = (float *)malloc(sizeof(float) * K * N);
    float *hC = (float *)malloc(sizeof(float) * M * N), *hx = (float *)malloc(sizeof(float) * V);
    float *hy = (float *)malloc(sizeof(float) * V);
    float *dA = NULL, *dB = NULL, *dC = NULL, *dx = NULL, *dy = NULL;
    cublasHandle_t h = NULL;
    for (int i = 0; i < M * K; i++) hA[i] = (float)((i * 37) % 17) / 17.0f - 0.5f;
    for (int i = 0; i < K * N; i++) hB[i] = (float)((i * 11) % 13) / 13.0f - 0.5f;
    for (int i = 0; i < V; i++) hx[i] = (float)(i % 101), hy[i] = 1.0f;
    SELFTEST_CHECK(cudaMalloc(&dA, sizeof(float) * M * K), "cudaMalloc");
    SELFTEST_CHECK(cudaMalloc(&dB, sizeof(float) * K * N), "cudaMalloc");
    SELFTEST_CHECK(cudaMalloc(&dC, sizeof(float) * M * N), "cudaMalloc");
    SELFTEST_CHECK(cudaMalloc(&dx, sizeof(float) * V), "cudaMalloc");
    SELFTEST_CHECK(cudaMalloc(&dy, sizeof(float) * V), "cudaMalloc");
    SELFTEST_CHECK(cudaMemcpy(dA, hA, sizeof(float) * M * K, cudaMemcpyHostToDevice), "cudaMemcpy");
    SELFTEST_CHECK(cudaMemcpy(dB, hB, sizeof(float) * K * N, cudaMemcpyHostToDevice), "cudaMemcpy");
    SELFTEST_CHECK(cudaMemcpy(dx, hx, sizeof(float) * V, cudaMemcpyHostToDevice), "cudaMemcpy");
    SELFTEST_CHECK(cudaMemcpy(dy, hy, sizeof(float) * V, cudaMemcpyHostToDevice), "cudaMemcpy");
    saxpy_kernel<<<(V + 255) / 256, 256>>>(V, 2.0f, dx, dy);
    SELFTEST_CHECK(cudaGetLastError(), "saxpy kernel launch");
    SELFTEST_CHECK(cudaMemcpy(hy, dy, sizeof(float) * V, cudaMemcpyDeviceToHost), "saxpy kernel");
    for (int i = 0; i < V; i++)
        if (hy[i] != 2.0f * (float)(i % 101) + 1.0f) {
            snprintf(msg, n, "CUDA self-test: saxpy kernel gave %g at %d, expected %g", hy[i], i,
                     2.0f * (float)(i % 101) + 1.0f);
            goto done;
        }
    {
        // Row-major C[M,N] = A[M,K] B[K,N] through column-major cuBLAS: C^T = B^T A^T.
        const float one = 1.0f, zero = 0.0f;
        SELFTEST_CHECK(cublasCreate(&h), "cublasCreate");
        SELFTEST_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &one, dB, N, dA, K, &zero, dC, N),
                       "cublasSgemm");
        SELFTEST_CHECK(cudaMemcpy(hC, dC, sizeof(float) * M * N, cudaMemcpyDeviceToHost), "cublasSgemm");
        double worst = 0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double ref = 0;
                for (int k = 0; k < K; k++) ref += (double)hA[i * K + k] * hB[k * N + j];
                worst = fmax(worst, fabs(ref - hC[i * N + j]));
            }
        if (worst > 1e-3) {
            snprintf(msg, n, "CUDA self-test: cuBLAS SGEMM differs from the CPU by %g", worst);
            goto done;
        }
        snprintf(msg, n, "CUDA self-test passed: saxpy kernel exact, cuBLAS SGEMM max error %.2e", worst);
        rc = 0;
    }
done:
    if (h) cublasDestroy(h);
    cudaFree(dA), cudaFree(dB), cudaFree(dC), cudaFree(dx), cudaFree(dy);
    free(hA), free(hB), free(hC), free(hx), free(hy);
    return rc;
}
