/* Downstream answers and label vocabularies (io/FORMAT.md "Downstream datasets").
 *
 * m3ae_normalize_word is the VQA answer normalisation of the official M3AE preprocessing
 * (prepro/glossary.py normalize_word, itself ViLT's): punctuation, periods, number words,
 * articles, contractions. The official calls it on str(answer).lower(); m3ae_normalize_answer does
 * both. The reference port in Python is tools/reference/normalize_word.py; the test
 * tests/io_downstream/test_normalize.sh compares the two on every VQA-RAD answer. */
#ifndef M3AE_IO_ANSWERS_H
#define M3AE_IO_ANSWERS_H

#include <stddef.h>
#include <stdint.h>

/* normalize_word(text): returns a malloc'ed NUL-terminated string (NULL: out of memory).
 * Differences from Python, none of which occur in the official datasets' English answers: \d and
 * .lower() are ASCII plus Latin-1 (U+00C0..U+00DE) only; other non-ASCII bytes pass unchanged. */
char *m3ae_normalize_word(const char *text, size_t len);
/* normalize_word(text.lower()): what the official applies to every answer. */
char *m3ae_normalize_answer(const char *text, size_t len);

/* A label vocabulary: label i is words[i]; lookup by hash. */
typedef struct {
    char **words;
    uint32_t n, cap;
    uint32_t *table; /* open addressing, UINT32_MAX = empty */
    uint32_t table_cap;
} m3ae_vocab;

/* Index of word, or -1. */
int32_t m3ae_vocab_find(const m3ae_vocab *v, const char *word);
/* Adds word when new (first-appearance order, as Python's Counter keys); returns its index or -1
 * (out of memory). */
int32_t m3ae_vocab_add(m3ae_vocab *v, const char *word);
/* Sorts the words by byte order (= Python's sorted() on str: code point order) and rebuilds the
 * table; used for class names (the official MELINDA labels are sorted(set(...))). */
int m3ae_vocab_sort(m3ae_vocab *v);
void m3ae_vocab_free(m3ae_vocab *v);

#endif
