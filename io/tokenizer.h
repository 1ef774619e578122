/* RoBERTa / GPT-2 byte-level BPE tokenizer, bit-exact with Hugging Face RobertaTokenizerFast
 * (add_prefix_space=False, padding="max_length", truncation=True, max_length=N).
 *
 * Reads vocab.json + merges.txt. Pipeline: UTF-8 text -> GPT-2 pre-tokenization regex (emulated
 * with utf8proc categories) -> byte-to-unicode mapping -> BPE merges by rank -> ids, wrapped as
 * <s> ... </s>. Invalid UTF-8 is replaced by U+FFFD per maximal invalid subsequence, exactly like
 * Python's bytes.decode("utf-8", errors="replace") (the HF Python API only accepts str). */
#ifndef M3AE_IO_TOKENIZER_H
#define M3AE_IO_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct m3ae_tokenizer m3ae_tokenizer;
m3ae_tokenizer *m3ae_tokenizer_load(const char *dir, m3ae_error *err); /* dir holds vocab.json + merges.txt; errors name the file */
void m3ae_tokenizer_free(m3ae_tokenizer *t);
int m3ae_tokenizer_vocab_size(const m3ae_tokenizer *t);
int m3ae_tokenizer_token_id(const m3ae_tokenizer *t, const char *token); /* -1 if absent; e.g. "<mask>" */
/* Encodes UTF-8 text (len bytes; invalid UTF-8 handled as the HF tokenizer does, never a crash) as
 * <s> tokens </s>. max_len > 0 truncates to max_len ids (keeping </s>); pad != 0 also pads with <pad>
 * to max_len. Writes at most cap ids; returns the number of ids (the unpadded length before padding
 * if pad, i.e. the count of real tokens incl. specials), or -1 on error. Thread-safe (const t). */
int m3ae_tokenizer_encode(const m3ae_tokenizer *t, const char *text, size_t len, int32_t *ids, int cap, int max_len, int pad);

#endif
