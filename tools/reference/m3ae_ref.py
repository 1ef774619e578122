"""PyTorch reference of M3AE pretraining (Chen et al., MICCAI 2022), written from
/work/shared/spec/m3ae.md (sections 1, 2, 5, 8).  Not a copy of the official code.

* Module attribute names are chosen so that ``state_dict()`` keys equal the official
  checkpoint keys (spec section 5), without the CLIP text-tower leftovers and without the
  RoBERTa ``embeddings.position_ids`` buffer; ``add_official_extras`` adds those two (the
  official module structure, for strict loads of exported checkpoints).
* No dependency on ``transformers``: RoBERTa layers, BERT cross layers and the CLIP ViT are
  written here.  Attention is written explicitly so that the model also runs in float64.
* Dropout follows the official placement (RoBERTa embeddings / hidden / attention probs,
  fusion layers); CLIP and the MIM decoder have none.  ``model.eval()`` or ``drop=0`` turns it off.

Requirements: ``pip install torch numpy`` (h5py only for the fixture generator).
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------------------------
# configurations (contract table, /work/helper_model_contract.md)
# --------------------------------------------------------------------------------------------
CONFIG_KEYS = [
    "image_size", "patch_size", "vision_width", "vision_layers", "vision_heads",
    "vocab_size", "max_text_len", "max_position_embeddings", "text_width", "text_layers",
    "text_heads", "text_ffn", "hidden_size", "num_heads", "num_top_layer", "mlp_ratio",
    "mim_decoder_hidden_size", "mim_decoder_num_layers", "mim_decoder_num_heads", "mim_layer",
    "mim_prob", "mlm_prob", "drop_rate",
]

CONFIGS = {
    "base": dict(image_size=288, patch_size=16, vision_width=768, vision_layers=11, vision_heads=12,
                 vocab_size=50265, max_text_len=64, max_position_embeddings=514, text_width=768,
                 text_layers=12, text_heads=12, text_ffn=3072, hidden_size=768, num_heads=12,
                 num_top_layer=6, mlp_ratio=4, mim_decoder_hidden_size=384, mim_decoder_num_layers=4,
                 mim_decoder_num_heads=6, mim_layer=3, mim_prob=0.75, mlm_prob=0.15, drop_rate=0.1),
    "small": dict(image_size=128, patch_size=16, vision_width=128, vision_layers=2, vision_heads=2,
                  vocab_size=50265, max_text_len=32, max_position_embeddings=514, text_width=128,
                  text_layers=2, text_heads=2, text_ffn=512, hidden_size=128, num_heads=2,
                  num_top_layer=2, mlp_ratio=4, mim_decoder_hidden_size=64, mim_decoder_num_layers=2,
                  mim_decoder_num_heads=2, mim_layer=1, mim_prob=0.75, mlm_prob=0.15, drop_rate=0.1),
    "tiny": dict(image_size=32, patch_size=8, vision_width=24, vision_layers=2, vision_heads=2,
                 vocab_size=1000, max_text_len=16, max_position_embeddings=18, text_width=40,
                 text_layers=2, text_heads=2, text_ffn=64, hidden_size=32, num_heads=2,
                 num_top_layer=2, mlp_ratio=4, mim_decoder_hidden_size=16, mim_decoder_num_layers=2,
                 mim_decoder_num_heads=2, mim_layer=1, mim_prob=0.75, mlm_prob=0.15, drop_rate=0.1),
    "odd": dict(image_size=40, patch_size=8, vision_width=24, vision_layers=2, vision_heads=2,
                vocab_size=1000, max_text_len=13, max_position_embeddings=15, text_width=40,
                text_layers=2, text_heads=2, text_ffn=64, hidden_size=32, num_heads=2,
                num_top_layer=2, mlp_ratio=4, mim_decoder_hidden_size=16, mim_decoder_num_layers=2,
                mim_decoder_num_heads=2, mim_layer=1, mim_prob=0.75, mlm_prob=0.15, drop_rate=0.1),
}

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 1, 0, 2, 3
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def num_patches(cfg):
    return (cfg["image_size"] // cfg["patch_size"]) ** 2


def mim_len_keep(cfg):
    return int(num_patches(cfg) * (1 - cfg["mim_prob"]))


# --------------------------------------------------------------------------------------------
# small pieces
# --------------------------------------------------------------------------------------------
def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def additive_mask(mask01, dtype):
    """(B,L) 1 = keep, 0 = pad -> (B,1,1,L) additive (1-m)*-10000."""
    return (1.0 - mask01[:, None, None, :].to(dtype)) * -10000.0


def _split_heads(x, h):  # (B,T,C) -> (B,h,T,hd)
    b, t, c = x.shape
    return x.view(b, t, h, c // h).transpose(1, 2)


def _merge_heads(x):  # (B,h,T,hd) -> (B,T,C)
    b, h, t, hd = x.shape
    return x.transpose(1, 2).reshape(b, t, h * hd)


# --------------------------------------------------------------------------------------------
# CLIP ViT (METER variant): names visual.conv1, class_embedding, positional_embedding, ln_pre,
# transformer.resblocks.{i}.{attn.in_proj_weight,in_proj_bias,out_proj,ln_1,ln_2,mlp.c_fc,mlp.c_proj}
# --------------------------------------------------------------------------------------------
class ClipAttention(nn.Module):
    """Parameter names of nn.MultiheadAttention; q scaled by 1/sqrt(hd) after the projection."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x):  # (B,T,C), no mask, no dropout
        c = x.shape[-1]
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (B,T,3C)
        q, k, v = qkv.split(c, dim=-1)
        hd = c // self.heads
        q = _split_heads(q, self.heads) * (1.0 / math.sqrt(hd))
        k = _split_heads(k, self.heads)
        v = _split_heads(v, self.heads)
        p = torch.softmax(q @ k.transpose(-1, -2), dim=-1)  # (B,h,T,T)
        return self.out_proj(_merge_heads(p @ v))


class ClipMLP(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width)
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x):
        return self.c_proj(quick_gelu(self.c_fc(x)))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.attn = ClipAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width, eps=1e-5)
        self.mlp = ClipMLP(width)
        self.ln_2 = nn.LayerNorm(width, eps=1e-5)

    def forward(self, x):  # pre-LN
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class ClipTransformer(nn.Module):
    """`blocks` blocks are BUILT (the official code builds layers-1; pass the built count)."""

    def __init__(self, width, blocks, heads):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads) for _ in range(blocks)])

    def forward(self, x):  # (B,T,C) batch-first (the official code is LND; same math)
        for blk in self.resblocks:
            x = blk(x)
        return x


class VisualTransformer(nn.Module):
    def __init__(self, image_size, patch_size, width, blocks, heads):
        super().__init__()
        self.patch_size = patch_size
        scale = width ** -0.5
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(
            scale * torch.randn((image_size // patch_size) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width, eps=1e-5)
        self.transformer = ClipTransformer(width, blocks, heads)
        self.ln_post = nn.LayerNorm(width, eps=1e-5)

    def forward_patch_embed(self, img):  # (B,3,H,W) -> (B,N+1,C), CLS first, no pos yet
        x = self.conv1(img)  # (B,C,h,w)
        x = x.flatten(2).transpose(1, 2)  # (B,N,C) row-major over the grid
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1],
                                                             dtype=x.dtype, device=x.device)
        return torch.cat([cls, x], dim=1)

    def forward_trans(self, x):  # ln_pre -> blocks -> ln_post (all tokens)
        return self.ln_post(self.transformer(self.ln_pre(x)))

    def forward(self, img):
        x = self.forward_patch_embed(img)
        x = x + self.positional_embedding.to(x.dtype)
        return self.forward_trans(x)


class ClipVisionEncoder(nn.Module):
    """Holds `visual` so keys are vision_encoder.visual.*  (CLIP text leftovers omitted)."""

    def __init__(self, cfg):
        super().__init__()
        self.visual = VisualTransformer(cfg["image_size"], cfg["patch_size"], cfg["vision_width"],
                                        cfg["vision_layers"], cfg["vision_heads"])

    def forward(self, img):
        return self.visual(img)


# --------------------------------------------------------------------------------------------
# BERT / RoBERTa style layers (HF names)
# --------------------------------------------------------------------------------------------
class BertSelfAttention(nn.Module):
    def __init__(self, hidden, heads, drop):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(drop)

    def forward(self, x, mask_add, ctx=None):
        """x (B,Tq,C) queries; ctx (B,Tk,C) keys/values (ctx=None: self); mask_add (B,1,1,Tk)."""
        if ctx is None:
            ctx = x
        hd = x.shape[-1] // self.heads
        q = _split_heads(self.query(x), self.heads)
        k = _split_heads(self.key(ctx), self.heads)
        v = _split_heads(self.value(ctx), self.heads)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        if mask_add is not None:
            s = s + mask_add
        p = self.drop(torch.softmax(s, dim=-1))
        return _merge_heads(p @ v)


class BertSelfOutput(nn.Module):
    def __init__(self, hidden, eps, drop):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.drop = nn.Dropout(drop)

    def forward(self, h, inp):
        return self.LayerNorm(self.drop(self.dense(h)) + inp)


class BertAttention(nn.Module):
    def __init__(self, hidden, heads, eps, drop):
        super().__init__()
        setattr(self, "self", BertSelfAttention(hidden, heads, drop))
        self.output = BertSelfOutput(hidden, eps, drop)

    def forward(self, x, mask_add, ctx=None):
        return self.output(getattr(self, "self")(x, mask_add, ctx), x)


class BertIntermediate(nn.Module):
    def __init__(self, hidden, ffn):
        super().__init__()
        self.dense = nn.Linear(hidden, ffn)

    def forward(self, x):
        return gelu_erf(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, hidden, ffn, eps, drop):
        super().__init__()
        self.dense = nn.Linear(ffn, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.drop = nn.Dropout(drop)

    def forward(self, h, inp):
        return self.LayerNorm(self.drop(self.dense(h)) + inp)


class BertLayer(nn.Module):
    """RoBERTa encoder layer (post-LN)."""

    def __init__(self, hidden, heads, ffn, eps, drop):
        super().__init__()
        self.attention = BertAttention(hidden, heads, eps, drop)
        self.intermediate = BertIntermediate(hidden, ffn)
        self.output = BertOutput(hidden, ffn, eps, drop)

    def forward(self, x, mask_add):
        a = self.attention(x, mask_add)
        return self.output(self.intermediate(a), a)


class BertCrossLayer(nn.Module):
    """Fusion layer: self-attn, cross-attn (queries = own stream), FFN; post-LN eps 1e-12."""

    def __init__(self, hidden, heads, ffn, drop, eps=1e-12):
        super().__init__()
        self.attention = BertAttention(hidden, heads, eps, drop)
        self.crossattention = BertAttention(hidden, heads, eps, drop)
        self.intermediate = BertIntermediate(hidden, ffn)
        self.output = BertOutput(hidden, ffn, eps, drop)

    def forward(self, x, ctx, mask_x, mask_ctx):
        a = self.attention(x, mask_x)
        a2 = self.crossattention(a, mask_ctx, ctx)
        return self.output(self.intermediate(a2), a2)


class RobertaEmbeddings(nn.Module):
    def __init__(self, vocab, hidden, max_pos, drop):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden, padding_idx=PAD_ID)
        self.position_embeddings = nn.Embedding(max_pos, hidden, padding_idx=PAD_ID)
        self.token_type_embeddings = nn.Embedding(1, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-5)
        self.drop = nn.Dropout(drop)

    def forward(self, ids):
        nonpad = (ids != PAD_ID).long()
        pos = torch.cumsum(nonpad, dim=1) * nonpad + PAD_ID  # real tokens 2,3,..; pad -> 1
        e = (self.word_embeddings(ids) + self.token_type_embeddings(torch.zeros_like(ids))
             + self.position_embeddings(pos))
        return self.drop(self.LayerNorm(e))


class RobertaEncoder(nn.Module):
    def __init__(self, cfg, drop):
        super().__init__()
        self.layer = nn.ModuleList([
            BertLayer(cfg["text_width"], cfg["text_heads"], cfg["text_ffn"], 1e-5, drop)
            for _ in range(cfg["text_layers"])])


class Pooler(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)

    def forward(self, x):  # (B,T,C) -> (B,C), token 0
        return torch.tanh(self.dense(x[:, 0]))


class RobertaModel(nn.Module):
    def __init__(self, cfg, drop):
        super().__init__()
        self.embeddings = RobertaEmbeddings(cfg["vocab_size"], cfg["text_width"],
                                            cfg["max_position_embeddings"], drop)
        self.encoder = RobertaEncoder(cfg, drop)
        self.pooler = Pooler(cfg["text_width"])  # unused, present in the state_dict

    def forward(self, ids, masks):
        m = additive_mask(masks, self.embeddings.LayerNorm.weight.dtype)
        x = self.embeddings(ids)
        for layer in self.encoder.layer:
            x = layer(x, m)
        return x


# --------------------------------------------------------------------------------------------
# heads
# --------------------------------------------------------------------------------------------
class PredictionHeadTransform(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x):
        return self.LayerNorm(gelu_erf(self.dense(x)))


class MLMHead(nn.Module):
    def __init__(self, hidden, vocab):
        super().__init__()
        self.transform = PredictionHeadTransform(hidden)
        self.decoder = nn.Linear(hidden, vocab, bias=False)
        self.bias = nn.Parameter(torch.zeros(vocab))

    def forward(self, x):
        return self.decoder(self.transform(x)) + self.bias


def sincos_2d_pos_embed(dim, grid, cls_token=True):
    """MAE 2-D sin-cos, float64 numpy; first half encodes the COLUMN coordinate; CLS row 0."""
    assert dim % 4 == 0
    quarter = dim // 4
    omega = 1.0 / 10000.0 ** (np.arange(quarter, dtype=np.float64) / quarter)  # (D/4,)
    rows, cols = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64),
                             indexing="ij")
    rows, cols = rows.reshape(-1), cols.reshape(-1)  # token t = row*grid+col
    oc = np.outer(cols, omega)
    orow = np.outer(rows, omega)
    emb = np.concatenate([np.sin(oc), np.cos(oc), np.sin(orow), np.cos(orow)], axis=1)
    if cls_token:
        emb = np.concatenate([np.zeros((1, dim)), emb], axis=0)
    return emb


class MIMHead(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        hidden, dh = cfg["hidden_size"], cfg["mim_decoder_hidden_size"]
        n = num_patches(cfg)
        self.decoder_embed = nn.Linear(hidden, dh)
        self.mask_token = nn.Parameter(0.02 * torch.randn(1, 1, dh))
        pe = sincos_2d_pos_embed(dh, int(round(n ** 0.5)), True)
        self.decoder_pos_embed = nn.Parameter(torch.from_numpy(pe).float().unsqueeze(0),
                                              requires_grad=False)
        self.decoder = ClipTransformer(dh, cfg["mim_decoder_num_layers"], cfg["mim_decoder_num_heads"])
        self.decoder_norm = nn.LayerNorm(dh, eps=1e-5)
        self.decoder_pred = nn.Linear(dh, cfg["patch_size"] ** 2 * 3)

    def forward(self, x, ids_restore):
        """x (B,1+keep,hidden): image stream entering fusion layer mim_layer; -> (B,N,P*P*3)."""
        x = self.decoder_embed(x)  # (B,1+keep,dh)
        b, t, dh = x.shape
        n = ids_restore.shape[1]
        masks = self.mask_token.to(x.dtype).expand(b, n + 1 - t, dh)
        xs = torch.cat([x[:, 1:], masks], dim=1)  # (B,N,dh) in shuffled order
        xs = torch.gather(xs, 1, ids_restore[:, :, None].expand(b, n, dh))  # unshuffle
        x = torch.cat([x[:, :1], xs], dim=1) + self.decoder_pos_embed.to(x.dtype)
        x = self.decoder_norm(self.decoder(x))
        return self.decoder_pred(x)[:, 1:]


class ITMHead(nn.Module):
    def __init__(self, hidden2):
        super().__init__()
        self.fc = nn.Linear(hidden2, 2)

    def forward(self, x):
        return self.fc(x)


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------
class M3AE(nn.Module):
    def __init__(self, cfg, drop=None):
        super().__init__()
        self.cfg = dict(cfg)
        drop = cfg["drop_rate"] if drop is None else drop
        h = cfg["hidden_size"]
        ffn = h * cfg["mlp_ratio"]
        self.vision_encoder = ClipVisionEncoder(cfg)
        self.language_encoder = RobertaModel(cfg, drop)
        self.multi_modal_language_proj = nn.Linear(cfg["text_width"], h)
        self.multi_modal_vision_proj = nn.Linear(cfg["vision_width"], h)
        self.modality_type_embeddings = nn.Embedding(2, h)
        self.multi_modal_vision_layers = nn.ModuleList(
            [BertCrossLayer(h, cfg["num_heads"], ffn, drop) for _ in range(cfg["num_top_layer"])])
        self.multi_modal_language_layers = nn.ModuleList(
            [BertCrossLayer(h, cfg["num_heads"], ffn, drop) for _ in range(cfg["num_top_layer"])])
        self.multi_modal_vision_pooler = Pooler(h)
        self.multi_modal_language_pooler = Pooler(h)
        self.mlm_head = MLMHead(h, cfg["vocab_size"])
        self.mim_head = MIMHead(cfg)
        self.itm_head = ITMHead(2 * h)

    # ---- pieces of the official `infer` ----
    def random_masking(self, x, ids_shuffle):
        """x (B,N+1,C) patch embeds with CLS (no pos). Pos added BEFORE dropping; kept tokens in
        ids_shuffle order.  Returns (B,1+keep,C), mask (B,N) 1=removed, ids_restore (B,N)."""
        pos = self.vision_encoder.visual.positional_embedding.to(x.dtype)[None]
        cls, pt = x[:, :1], x[:, 1:]
        b, n, c = pt.shape
        keep = int(n * (1 - self.cfg["mim_prob"]))
        pt = pt + pos[:, 1:]
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :keep]
        kept = torch.gather(pt, 1, ids_keep[:, :, None].expand(b, keep, c))
        mask = torch.ones(b, n, dtype=x.dtype, device=x.device)
        mask[:, :keep] = 0
        mask = torch.gather(mask, 1, ids_restore)
        return torch.cat([cls + pos[:, :1], kept], dim=1), mask, ids_restore

    def infer(self, text_ids, text_masks, images, ids_shuffle=None):
        """Returns a dict with vision_embeds, text_embeds, fusion_text_i, fusion_image_i,
        cls_feats, and for the masked-image pass mim_feats / mim_mask / ids_restore."""
        ret = {}
        dt = self.modality_type_embeddings.weight.dtype
        t = self.language_encoder(text_ids, text_masks)  # (B,L,text_width)
        ret["text_embeds"] = t
        x = self.multi_modal_language_proj(t)
        vis = self.vision_encoder.visual
        if ids_shuffle is not None:
            v = vis.forward_patch_embed(images)
            v, mask, ids_restore = self.random_masking(v, ids_shuffle)
            v = vis.forward_trans(v)
            ret["mim_mask"], ret["ids_restore"] = mask, ids_restore
        else:
            v = vis(images)
        ret["vision_embeds"] = v  # (B,T,vision_width)
        y = self.multi_modal_vision_proj(v)
        tm = additive_mask(text_masks, dt)
        im = torch.zeros(y.shape[0], 1, 1, y.shape[1], dtype=dt, device=y.device)  # all-valid
        x = x + self.modality_type_embeddings.weight[0]
        y = y + self.modality_type_embeddings.weight[1]
        for i, (tl, il) in enumerate(zip(self.multi_modal_language_layers,
                                          self.multi_modal_vision_layers)):
            if ids_shuffle is not None and i == self.cfg["mim_layer"]:
                ret["mim_feats"] = y
            x, y = tl(x, y, tm, im), il(y, x, im, tm)  # both read the previous x, y
            ret[f"fusion_text_{i}"] = x
            ret[f"fusion_image_{i}"] = y
        if ids_shuffle is not None and "mim_feats" not in ret:  # mim_layer == num_top_layer / -1
            ret["mim_feats"] = y
        ret["cls_feats"] = torch.cat([self.multi_modal_language_pooler(x),
                                      self.multi_modal_vision_pooler(y)], dim=-1)
        return ret

    def patchify(self, imgs):  # (B,3,H,W) -> (B,N,P*P*3), order (row p, col q, channel c)
        p = self.cfg["patch_size"]
        b, _, hh, ww = imgs.shape
        h, w = hh // p, ww // p
        x = imgs.reshape(b, 3, h, p, w, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(b, h * w, p * p * 3)

    # ---- the three passes ----
    def forward_mlm(self, mlm_ids, text_masks, images, mlm_labels):
        r = self.infer(mlm_ids, text_masks, images)
        logits = self.mlm_head(r[f"fusion_text_{self.cfg['num_top_layer'] - 1}"])
        r["mlm_logits"] = logits
        r["loss"] = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), mlm_labels.reshape(-1),
                                    ignore_index=-100)
        return r

    def forward_mim(self, text_ids, text_masks, images, ids_shuffle):
        r = self.infer(text_ids, text_masks, images, ids_shuffle=ids_shuffle)
        pred = self.mim_head(r["mim_feats"], r["ids_restore"])
        tgt = self.patchify(images)
        mean = tgt.mean(-1, keepdim=True)
        var = tgt.var(-1, keepdim=True, unbiased=True)
        tgt = (tgt - mean) / (var + 1e-6) ** 0.5
        per = ((pred - tgt) ** 2).mean(-1)
        mask = r["mim_mask"]
        r["mim_pred"], r["mim_target"] = pred, tgt
        r["loss"] = (per * mask).sum() / mask.sum()
        return r

    def forward_itm(self, text_ids, text_masks, itm_images, itm_labels):
        r = self.infer(text_ids, text_masks, itm_images)
        logits = self.itm_head(r["cls_feats"])
        r["itm_logits"] = logits
        r["loss"] = F.cross_entropy(logits, itm_labels)
        return r

    def forward_all(self, inp):
        """inp: dict of tensors as in the fixture /inputs.  Returns (total, {mlm,mim,itm} dicts)."""
        mlm = self.forward_mlm(inp["mlm_ids"], inp["text_masks"], inp["images"], inp["mlm_labels"])
        mim = self.forward_mim(inp["text_ids"], inp["text_masks"], inp["images"],
                               inp["mim_ids_shuffle"])
        itm = self.forward_itm(inp["text_ids"], inp["text_masks"], inp["itm_images"],
                               inp["itm_labels"])
        total = mlm["loss"] + mim["loss"] + itm["loss"]
        return total, {"mlm": mlm, "mim": mim, "itm": itm}


# --------------------------------------------------------------------------------------------
# initialisation
# --------------------------------------------------------------------------------------------
def init_weights(model, std=0.02, nontrivial=True, generator=None, fan_in_std=False,
                 emb_std=None):
    """Spec 1.7: Linear/Embedding N(0,std), biases 0, LayerNorm 1/0, in_proj xavier_uniform,
    mask_token N(0,0.02).  nontrivial=True (fixtures): LN weight 1+0.1*randn, LN bias, Linear
    biases and in_proj_bias 0.1*randn, so that bugs in their handling are visible.
    fan_in_std=True (fixtures): Linear/conv weights N(0, 1/sqrt(fan_in)) instead of N(0,std), so
    attention is far from uniform and every gradient is well conditioned; emb_std overrides the
    std of embeddings, class/positional embeddings and the mask token."""
    g = generator
    es = std if emb_std is None else emb_std

    def rn(t, s):
        with torch.no_grad():
            t.copy_(torch.randn(t.shape, generator=g, dtype=torch.float32) * s)

    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            rn(m.weight, m.weight.shape[1] ** -0.5 if fan_in_std else std)
            if m.bias is not None:
                rn(m.bias, 0.1 if nontrivial else 0.0)
        elif isinstance(m, nn.Embedding):
            rn(m.weight, es)
        elif isinstance(m, nn.LayerNorm):
            with torch.no_grad():
                m.weight.copy_(1.0 + (0.1 * torch.randn(m.weight.shape, generator=g)
                                      if nontrivial else 0.0))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g) if nontrivial
                             else torch.zeros_like(m.bias))
        elif isinstance(m, nn.Conv2d):
            fan = m.weight[0].numel()
            rn(m.weight, fan ** -0.5 if fan_in_std else std)
        elif isinstance(m, ClipAttention):
            w = m.in_proj_weight
            bound = math.sqrt(6.0 / (w.shape[0] + w.shape[1]))  # xavier_uniform on [3C, C]
            with torch.no_grad():
                w.copy_((torch.rand(w.shape, generator=g) * 2 - 1) * bound)
            rn(m.in_proj_bias, 0.1 if nontrivial else 0.0)
        elif isinstance(m, VisualTransformer):
            s = m.class_embedding.shape[0] ** -0.5 if emb_std is None else emb_std
            rn(m.class_embedding, s)
            rn(m.positional_embedding, s)
        elif isinstance(m, MIMHead):
            rn(m.mask_token, 0.02 if emb_std is None else emb_std)


# --------------------------------------------------------------------------------------------
# the official module structure: what an official checkpoint holds beyond this reference
# --------------------------------------------------------------------------------------------
# The official vision encoder is clip_model.CLIP built from OpenAI's ViT-B/16 (spec sections 1 and 5):
# besides `visual` it instantiates the text tower's token_embedding, positional_embedding and ln_final,
# which M3AE's forward never uses (only `visual` runs) and which therefore never change. The RoBERTa
# embeddings of transformers 4.6 hold the persistent buffer position_ids = arange(max_positions).
CLIP_TEXT_TOWER = dict(context_length=77, vocab_size=49408, width=512)  # CLIP ViT-B/16


def add_official_extras(model):
    """Gives `model` (an M3AE of this file) the official module structure, in place: the CLIP text
    leftovers as parameters of vision_encoder (registered as clip_model.CLIP does, so state_dict()
    lists positional_embedding before visual.* and token_embedding, ln_final after it) and the
    position_ids buffer of language_encoder.embeddings (listed before the embeddings' parameters).
    Then state_dict() has the official keys in the official order. Returns model."""
    t = CLIP_TEXT_TOWER
    ve = model.vision_encoder
    ve.token_embedding = nn.Embedding(t["vocab_size"], t["width"])
    ve.positional_embedding = nn.Parameter(torch.empty(t["context_length"], t["width"]))
    ve.ln_final = nn.LayerNorm(t["width"])
    with torch.no_grad():  # CLIP.initialize_parameters' distributions
        nn.init.normal_(ve.token_embedding.weight, std=0.02)
        nn.init.normal_(ve.positional_embedding, std=0.01)
    emb = model.language_encoder.embeddings
    emb.register_buffer("position_ids", torch.arange(model.cfg["max_position_embeddings"]).expand((1, -1)))
    return model


def param_count(model):
    return sum(p.numel() for p in model.state_dict().values())
