/* RoBERTa / GPT-2 byte-level BPE tokenizer, bit-exact with Hugging Face RobertaTokenizerFast
 * (add_prefix_space=False, padding="max_length", truncation=True, max_length=N).
 *
 * Reads vocab.json + merges.txt. Pipeline: UTF-8 text -> GPT-2 pre-tokenization regex (emulated
 * with utf8proc categories) -> byte-to-unicode mapping -> BPE merges by rank -> ids, wrapped as
 * <s> ... </s>. Invalid UTF-8 is replaced by U+FFFD per maximal invalid subsequence, exactly like
 * Python's bytes.decode("utf-8", errors="replace") (the HF Python API only accepts str).
 * Special tokens written literally in the text ("<s>", "</s>", "<pad>", "<unk>", "<mask>") become
 * their ids, and "<mask>" swallows the whitespace before it, as in HF (added tokens, lstrip).
 *
 * encode details: the return value counts every id even when it exceeds cap (like snprintf: call
 * again with a larger buffer); only the first cap ids are written. max_len == 1 (no room for
 * <s> and </s>), pad without max_len, a NULL text with len > 0 and len > INT_MAX/4 return -1.
 * The ids of a truncated text are a prefix of the full encoding with </s> appended. */
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
/* Indexed by token id (vocab-size entries; every id encode returns is inside): 1 where the
 * vocabulary entry's string begins with "##", the continuations that the official MLM collator
 * (DataCollatorForWholeWordMask) groups with the token before them; 0 elsewhere. Owned by t.
 * roberta-base has 6 such entries ("##", "###", "####", ...). */
const uint8_t *m3ae_tokenizer_continuation_flags(const m3ae_tokenizer *t);
/* Encodes UTF-8 text (len bytes; invalid UTF-8 handled as the HF tokenizer does, never a crash) as
 * <s> tokens </s>. max_len > 0 truncates to max_len ids (keeping </s>); pad != 0 also pads with <pad>
 * to max_len. Writes at most cap ids; returns the number of ids (the unpadded length before padding
 * if pad, i.e. the count of real tokens incl. specials), or -1 on error. Thread-safe (const t). */
int m3ae_tokenizer_encode(const m3ae_tokenizer *t, const char *text, size_t len, int32_t *ids, int cap, int max_len, int pad);

/* For tests: how the GPT-2 pre-tokenization regex classifies a code point:
 * 0 letter (\p{L}), 1 number (\p{N}), 2 whitespace (\s), 3 anything else. */
int m3ae_tokenizer_char_class(uint32_t cp);

#endif
