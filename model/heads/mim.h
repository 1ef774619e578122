/* The MIM head (the MAE decoder): decoder_embed from the fusion width, the learned mask token, the
 * fixed 2-D sin-cos positions, CLIP blocks, decoder_norm and decoder_pred to patch pixels. Its tensors
 * are registered and bound by m3ae_mim_head_tensors. */
#ifndef M3AE_MODEL_HEADS_MIM_H
#define M3AE_MODEL_HEADS_MIM_H

#include "model/config.h"
#include "model/layers.h"
#include "model/registry.h"

typedef struct {
    float *mask_token;          /* (1,1,Dd) */
    float *dec_pos;             /* (1,N+1,Dd) fixed */
    float *embed_w, *embed_b;   /* (Dd,H), (Dd) */
    m3ae_clip_w *blk;           /* [mim_decoder_num_layers], allocated by the caller before BIND */
    float *norm_g, *norm_b;     /* (Dd) */
    float *pred_w, *pred_b;     /* (PD,Dd), (PD) */
} m3ae_mim_w;

/* w may be NULL in REGISTER mode. */
void m3ae_mim_head_tensors(m3ae_tensor_builder *b, const m3ae_config *c, m3ae_mim_w *w);

#endif
