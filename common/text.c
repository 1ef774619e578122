#include "common/text.h"

#include <ctype.h>
#include <string.h>

int m3ae_edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63) la = 63;
    if (lb > 63) lb = 63;
    int d[64][64];
    for (int i = 0; i <= la; i++) d[i][0] = i;
    for (int j = 0; j <= lb; j++) d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

int m3ae_closest(const char *word, const char *const *candidates, int n) {
    int best = -1, bd = 1 << 30;
    for (int i = 0; i < n; i++) {
        int d = m3ae_edit_distance(word, candidates[i]);
        if (d < bd) bd = d, best = i;
    }
    return best;
}

char *m3ae_trim(char *s) {
    char *p = s;
    while (*p && isspace((unsigned char)*p)) p++;
    size_t n = strlen(p);
    while (n > 0 && isspace((unsigned char)p[n - 1])) n--;
    memmove(s, p, n);
    s[n] = 0;
    return s;
}
