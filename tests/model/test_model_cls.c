/* The classification head and pass (model/heads/cls.h, M3AE_PASS_CLS) on the tiny model with dropout
 * on, next to a VQA head (both registered: the cls head after the VQA head, so that neither moves a
 * pretraining tensor):
 *  - cls_head.{0,1,3}.* with the official names and shapes, in the head optimizer group (lr x
 *    lr_mult_head), decay by the official substring rule (every cls_head tensor but the biases);
 *  - the loss equals the softmax cross-entropy recomputed here from the cls_logits output, averaged
 *    over the batch; label -1 adds nothing and is never correct; cls_denom scales the loss;
 *  - m3ae_model_step with the CLS pass list reports every gradient group exactly once, and the
 *    MLM/MIM/ITM and VQA heads get no gradient while the cls head and the backbone do. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/rng.h"
#include "harness.h"
#include "model/m3ae.h"
#include "model/tasks/cls.h"

static int reports;
static void count_reports(void *ctx, int first, int n) {
    (void)ctx, (void)first;
    reports += n;
}

static double grad_abs(const float *grad, const m3ae_param *p) {
    double a = 0;
    for (size_t j = 0; j < p->numel; j++) a += fabs(grad[p->offset + j]);
    return a;
}

int main(void) {
    m3ae_config cfg;
    m3ae_error err;
    m3ae_config_preset(&cfg, "tiny", &err);
    m3ae_backend *be = m3ae_backend_open("cpu", NULL, &err);
    T_CHECK(be != NULL, "cpu backend: %s", err.msg);
    if (!be) return t_done("test_model_cls");
    cfg.vqa_labels = 4;
    m3ae_model *m0 = m3ae_model_create(&cfg, be, 2);
    T_CHECK(m3ae_registry_find(m3ae_model_registry(m0), "cls_head.0.weight") < 0, "no cls head without cls_labels");
    const int n0 = m3ae_model_registry(m0)->n;
    m3ae_model_destroy(m0);

    const int NL = 7, B = 4, L = cfg.max_text_len, S = cfg.image_size, V = cfg.vocab_size, H2 = 2 * cfg.hidden_size;
    cfg.cls_labels = NL;
    m3ae_model *m = m3ae_model_create(&cfg, be, B);
    const m3ae_registry *r = m3ae_model_registry(m);
    T_CHECK(r->n == n0 + 6, "the cls head adds 6 tensors (%d -> %d)", n0, r->n);
    static const char *names[6] = {"cls_head.0.weight", "cls_head.0.bias", "cls_head.1.weight",
                                   "cls_head.1.bias",   "cls_head.3.weight", "cls_head.3.bias"};
    const int64_t numel[6] = {(int64_t)H2 * H2, H2, H2, H2, (int64_t)NL * H2, NL};
    for (int i = 0; i < 6; i++) {
        int k = m3ae_registry_find(r, names[i]);
        T_CHECK(k == n0 + i, "%s at registry index %d (got %d)", names[i], n0 + i, k);
        if (k < 0) continue;
        const m3ae_param *p = &r->p[k];
        T_CHECK((int64_t)p->numel == numel[i], "%s numel %zu", names[i], p->numel);
        T_CHECK(p->group == M3AE_LR_HEAD, "%s is in group %s, not the head group", names[i], m3ae_param_group_name(p));
        T_CHECK(p->decay == (strstr(names[i], "bias") == NULL), "%s decay %d", names[i], p->decay);
        T_CHECK(p->module == M3AE_MOD_CLS_HEAD, "%s module %d", names[i], (int)p->module);
    }
    m3ae_model_init_params(m, 5);

    m3ae_rng g = m3ae_rng_make(13, 98, 0, 0);
    uint64_t k = 0;
    float *img = malloc(sizeof(float) * B * 3 * S * S);
    for (int i = 0; i < B * 3 * S * S; i++) img[i] = m3ae_rng_normal(&g, k++);
    int32_t *ids = malloc(sizeof(int32_t) * B * L), *masks = malloc(sizeof(int32_t) * B * L);
    for (int s = 0; s < B; s++) {
        int len = L - 3 * s;
        for (int t = 0; t < L; t++) {
            int i = s * L + t;
            ids[i] = t == 0 ? 0 : t == len - 1 ? 2 : t < len ? 3 + (int)m3ae_rng_below(&g, k++, (uint32_t)V - 4) : 1;
            masks[i] = t < len;
        }
    }
    int32_t labels[4] = {6, -1, 0, 3};
    int64_t sample_ids[4] = {20, 21, 22, 23};
    m3ae_batch b = {.B = B, .images = img, .text_ids = ids, .text_masks = masks, .cls_labels = labels,
                    .sample_ids = sample_ids, .step = 2};
    m3ae_model_stage(m, &b);
    m3ae_model_set_train(m, 1, 9);

    /* the loss from the logits */
    double l = m3ae_model_forward(m, M3AE_PASS_CLS, &b);
    size_t nz = 0;
    const float *lg = m3ae_model_output(m, "cls_logits", &nz);
    T_CHECK(lg && nz == (size_t)B * NL, "cls_logits output (%zu)", nz);
    T_CHECK(m3ae_model_output(m, "vqa_logits", &nz) == NULL, "vqa_logits after a CLS pass");
    float hl[4 * 7];
    if (lg) be->ops->download(be, hl, lg, sizeof hl);
    double ref = 0;
    int correct = 0;
    for (int s = 0; s < B && lg; s++) {
        int arg = 0;
        double mx = hl[s * NL], z = 0;
        for (int j = 0; j < NL; j++) mx = fmax(mx, hl[s * NL + j]);
        for (int j = 0; j < NL; j++) {
            z += exp(hl[s * NL + j] - mx);
            if (hl[s * NL + j] > hl[s * NL + arg]) arg = j;
        }
        if (labels[s] >= 0) ref += mx + log(z) - hl[s * NL + labels[s]];
        correct += labels[s] >= 0 && arg == labels[s];
    }
    ref /= B;
    T_CLOSE(l, ref, 1e-6, 1e-6, "CLS loss %.9g vs cross-entropy sum / B %.9g", l, ref);
    m3ae_losses ls;
    m3ae_model_last_losses(m, &ls);
    T_CHECK(ls.cls_count == B && ls.cls_correct == correct, "CLS count %d correct %d (want %d, %d)", ls.cls_count,
            ls.cls_correct, B, correct);
    b.cls_denom = 2.0 * B;
    double l2 = m3ae_model_forward(m, M3AE_PASS_CLS, &b);
    T_CLOSE(l2, l / 2, 1e-9, 1e-7, "cls_denom 2B halves the loss: %.9g vs %.9g", l2, l / 2);
    b.cls_denom = 0;

    /* gradients through the step (the hook counts every tensor once) */
    reports = 0;
    m3ae_model_set_grad_hook(m, count_reports, NULL);
    m3ae_model_zero_grads(m);
    const m3ae_pass_list pl = m3ae_cls_passes();
    m3ae_model_step(m, &b, &pl, 1, &ls);
    T_CHECK(reports == r->n, "the hook reported %d of %d tensors", reports, r->n);
    const size_t nf = r->arena_floats;
    float *grad = malloc(nf * sizeof(float));
    be->ops->download(be, grad, m3ae_model_grads(m), nf * sizeof(float));
    for (int i = 0; i < r->n; i++) {
        const m3ae_param *p = &r->p[i];
        const double a = grad_abs(grad, p);
        if (p->module == M3AE_MOD_MLM_HEAD || p->module == M3AE_MOD_MIM_HEAD || p->module == M3AE_MOD_ITM_HEAD ||
            p->module == M3AE_MOD_VQA_HEAD)
            T_CHECK(a == 0, "%s has a gradient in the CLS pass (%.3g)", p->name, a);
        if (p->module == M3AE_MOD_CLS_HEAD || !strcmp(p->name, "vision_encoder.visual.conv1.weight") ||
            !strcmp(p->name, "language_encoder.embeddings.word_embeddings.weight"))
            T_CHECK(a > 0, "%s has no gradient in the CLS pass", p->name);
    }
    free(grad), free(img), free(ids), free(masks);
    m3ae_model_destroy(m);
    m3ae_backend_close(be);
    return t_done("test_model_cls");
}
