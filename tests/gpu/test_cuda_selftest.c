/* One CUDA kernel and one cuBLAS SGEMM against the CPU; skipped (77) with the reason when there is
 * no device or no CUDA in the build. */
#include <stdio.h>

#include "model/backend_info.h"

int main(void) {
    char msg[512];
    int rc = m3ae_cuda_selftest(msg, sizeof msg);
    printf("%s%s\n", rc == 77 ? "SKIPPED: " : rc ? "FAIL: " : "", msg);
    return rc;
}
