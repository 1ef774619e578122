/* The pretraining masks of one sample (spec m3ae.md 2.2, 2.4, 2.5), each a pure function of
 * (seed, epoch, global sample index, purpose) through common/rng.h: the same sample gets the same
 * masks whatever the number of ranks, loader threads, batch composition or resume point.
 *
 * Word indices used inside each stream (documented so that other implementations can match):
 *   MIM (M3AE_RNG_MIM_NOISE, a=epoch, b=sample): noise[p] = uniform(word p).
 *   MLM (M3AE_RNG_MLM, a=epoch, b=sample), mode "official" (DataCollatorForWholeWordMask): the L
 *     positions form candidate groups, a position whose token is a "##" continuation joining the
 *     group before it (every position is a group of its own without continuations); num =
 *     max(1, round(L*prob)); a lazy partial Fisher-Yates over the G groups (step j swaps j with
 *     j + below(G-j), word j) visits groups in shuffled order, taking each while fewer than num
 *     positions are taken, skipping one that would overflow num, stopping at num; the specials
 *     (<s>, </s>, <pad>, <unk>, <mask>, literal ones inside a caption too) among the taken are
 *     dropped; each kept position p draws u = uniform(word 2^20 + p): u < 0.8 -> <mask>, u < 0.9 ->
 *     random id below(vocab) (word 2^21 + p, any id incl. specials, as torch.randint(len(tokenizer))),
 *     else unchanged. Without continuations this is exactly num steps over L groups. Mode
 *     "bernoulli" (token-level, ours): each non-special token is selected when
 *     uniform(word 3*2^20 + p) < prob, then the same 80/10/10 rule.
 *   ITM (M3AE_RNG_ITM, a=epoch, b=sample): label = uniform(word 0) < 0.5 ? 1 : 0; the wrong image is
 *     sample w = below(n-1) (word 1), w += (w >= sample), a uniformly random OTHER sample.
 *     Deviation from the official code (exactly B//2 ones per batch by randperm): a per-sample
 *     Bernoulli(0.5), because a sample's randomness must not depend on the batch it lands in. */
#ifndef M3AE_IO_MASKS_H
#define M3AE_IO_MASKS_H

#include <stdint.h>

#include "common/facts.h" /* token ids, M3AE_IGNORE_INDEX, m3ae_mim_keep_count */

enum { M3AE_MLM_OFFICIAL = 0, M3AE_MLM_BERNOULLI = 1 };

/* noise (N) uniform in [0,1); ids_shuffle (N) = stable ascending argsort of noise. */
void m3ae_mim_noise(uint64_t seed, uint64_t epoch, uint64_t sample, int n_patches, float *noise,
                    int32_t *ids_shuffle);

/* ids (L): the padded token ids (each in [0, vocab)). Writes mlm_ids (L, the masked input) and
 * mlm_labels (L, the original id at selected positions, M3AE_IGNORE_INDEX elsewhere). mask_id =
 * vocab - 1 for RoBERTa. continuation (indexed by id, m3ae_tokenizer_continuation_flags; NULL =
 * none): 1 for "##" tokens, grouped with the position before them in official mode. Returns the
 * number of selected (labelled) positions, -1 when out of memory. *draws (may be NULL) receives
 * the number of positions taken before the specials were dropped (official mode), or the
 * candidates (bernoulli). */
int m3ae_mlm_mask(uint64_t seed, uint64_t epoch, uint64_t sample, const int32_t *ids, int L, int vocab,
                  int mask_id, float prob, int mode, const uint8_t *continuation, int32_t *mlm_ids,
                  int32_t *mlm_labels, int *draws);

/* ITM label (1 = matched, 0 = the image is replaced) and the other sample whose image is used
 * when label is 0 (n_samples >= 2). */
void m3ae_itm_draw(uint64_t seed, uint64_t epoch, uint64_t sample, uint64_t n_samples, int32_t *label,
                   uint64_t *wrong_sample);

#endif
