/* Small text helpers shared by the configuration parsers. */
#ifndef M3AE_COMMON_TEXT_H
#define M3AE_COMMON_TEXT_H

#include <stddef.h>

/* Levenshtein distance between two short strings (the first 63 characters of each count). */
int m3ae_edit_distance(const char *a, const char *b);

/* Index of the candidate closest to `word` by edit distance (-1 when n == 0). */
int m3ae_closest(const char *word, const char *const *candidates, int n);

/* Trims ASCII whitespace at both ends, in place; returns s. */
char *m3ae_trim(char *s);

#endif
