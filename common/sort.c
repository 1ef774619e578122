/* Sorting helpers (common/sort.h). */
#include "common/sort.h"

#include <stdlib.h>
#include <string.h>

void m3ae_argsort_stable(const float *x, int32_t *idx, int n) {
    int32_t tmp_small[1024];
    int32_t *tmp = n <= 1024 ? tmp_small : malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++) idx[i] = i;
    if (!tmp) { /* insertion sort fallback (stable) */
        for (int i = 1; i < n; i++) {
            int32_t v = idx[i];
            int j = i - 1;
            while (j >= 0 && x[idx[j]] > x[v]) idx[j + 1] = idx[j], j--;
            idx[j + 1] = v;
        }
        return;
    }
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int a = lo, b = mid, k = lo;
            while (a < mid && b < hi) tmp[k++] = (x[idx[b]] < x[idx[a]]) ? idx[b++] : idx[a++];
            while (a < mid) tmp[k++] = idx[a++];
            while (b < hi) tmp[k++] = idx[b++];
        }
        memcpy(idx, tmp, sizeof(int32_t) * (size_t)n);
    }
    if (tmp != tmp_small) free(tmp);
}
