/* Facts of M3AE that more than one room needs, written once (spec m3ae.md 1.2, 2.2, 2.4).
 * io/ (tokenizer, samplers) produces them, model/ consumes them; both include this header. */
#ifndef M3AE_COMMON_FACTS_H
#define M3AE_COMMON_FACTS_H

/* RoBERTa special token ids; <mask> is the last id of the vocabulary (vocab_size - 1 = 50264). */
#define M3AE_TOKEN_BOS 0
#define M3AE_TOKEN_PAD 1 /* also the padding_idx of the word and position embeddings */
#define M3AE_TOKEN_EOS 2
#define M3AE_TOKEN_UNK 3
static inline int m3ae_token_mask_id(int vocab_size) { return vocab_size - 1; }

/* The label of positions that no loss looks at (torch's CrossEntropyLoss ignore_index). */
#define M3AE_IGNORE_INDEX (-100)

/* Patches kept by the MIM masking of n_patches at mask_ratio: the official int(L * (1 - mask_ratio))
 * with Python floats, i.e. in double (108 of 324 at 2/3, 10 of 25 at 0.6; float arithmetic gives
 * 107 and 9). The one place this number is computed. */
static inline int m3ae_mim_keep_count(int n_patches, double mask_ratio) {
    return (int)((double)n_patches * (1.0 - mask_ratio));
}

#endif
