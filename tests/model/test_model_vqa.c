/* The VQA head and pass (model/heads/vqa.h, M3AE_PASS_VQA) on the tiny model with dropout on:
 *  - the head is registered only with vqa_labels > 0, after every pretraining tensor, with the
 *    official names and shapes;
 *  - the loss equals BCEWithLogits(logits, one-hot) summed over the labels and averaged over the
 *    batch, recomputed here from the vqa_logits output; label -1 (unseen answer) has an all-zero
 *    target and is never correct; vqa_denom scales the loss;
 *  - finite differences (fourth order, per module) match the backward along random directions;
 *  - m3ae_model_step with the VQA pass list reports every gradient group exactly once (the model
 *    itself aborts otherwise), and the MLM/MIM/ITM heads get no gradient. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/rng.h"
#include "harness.h"
#include "model/m3ae.h"
#include "model/tasks/vqa.h"

static int reports;
static void count_reports(void *ctx, int first, int n) {
    (void)ctx, (void)first;
    reports += n;
}

int main(void) {
    m3ae_config cfg;
    m3ae_error err;
    m3ae_config_preset(&cfg, "tiny", &err);
    m3ae_backend *be = m3ae_backend_open("cpu", NULL, &err);
    T_CHECK(be != NULL, "cpu backend: %s", err.msg);
    if (!be) return t_done("test_model_vqa");
    /* without vqa_labels: no head */
    m3ae_model *m0 = m3ae_model_create(&cfg, be, 2);
    T_CHECK(m3ae_registry_find(m3ae_model_registry(m0), "vqa_head.0.weight") < 0, "no VQA head without vqa_labels");
    const int n0 = m3ae_model_registry(m0)->n;
    m3ae_model_destroy(m0);

    const int NL = 7;
    cfg.vqa_labels = NL;
    const int B = 3, L = cfg.max_text_len, S = cfg.image_size, V = cfg.vocab_size, H2 = 2 * cfg.hidden_size;
    m3ae_model *m = m3ae_model_create(&cfg, be, B);
    const m3ae_registry *r = m3ae_model_registry(m);
    T_CHECK(r->n == n0 + 6, "VQA head adds 6 tensors (%d -> %d)", n0, r->n);
    static const char *names[6] = {"vqa_head.0.weight", "vqa_head.0.bias", "vqa_head.1.weight",
                                   "vqa_head.1.bias",   "vqa_head.3.weight", "vqa_head.3.bias"};
    const int64_t numel[6] = {(int64_t)H2 * H2, H2, H2, H2, (int64_t)NL * H2, NL};
    for (int i = 0; i < 6; i++) {
        int k = m3ae_registry_find(r, names[i]);
        T_CHECK(k == n0 + i, "%s at registry index %d (got %d)", names[i], n0 + i, k);
        if (k >= 0) T_CHECK((int64_t)r->p[k].numel == numel[i], "%s numel %zu", names[i], r->p[k].numel);
    }
    m3ae_model_init_params(m, 5);

    m3ae_rng g = m3ae_rng_make(12, 98, 0, 0);
    uint64_t k = 0;
    float *img = malloc(sizeof(float) * B * 3 * S * S);
    for (int i = 0; i < B * 3 * S * S; i++) img[i] = m3ae_rng_normal(&g, k++);
    int32_t *ids = malloc(sizeof(int32_t) * B * L), *masks = malloc(sizeof(int32_t) * B * L);
    for (int s = 0; s < B; s++) {
        int len = L - 5 * s;
        for (int t = 0; t < L; t++) {
            int i = s * L + t;
            ids[i] = t == 0 ? 0 : t == len - 1 ? 2 : t < len ? 3 + (int)m3ae_rng_below(&g, k++, (uint32_t)V - 4) : 1;
            masks[i] = t < len;
        }
    }
    int32_t labels[3] = {4, -1, 0};
    int64_t sample_ids[3] = {10, 11, 12};
    m3ae_batch b = {.B = B, .images = img, .text_ids = ids, .text_masks = masks, .vqa_labels = labels,
                    .sample_ids = sample_ids, .step = 3};
    m3ae_model_stage(m, &b);
    m3ae_model_set_train(m, 1, 9);

    /* the loss from the logits */
    double l = m3ae_model_forward(m, M3AE_PASS_VQA, &b);
    size_t nz = 0;
    const float *lg = m3ae_model_output(m, "vqa_logits", &nz);
    T_CHECK(lg && nz == (size_t)B * NL, "vqa_logits output (%zu)", nz);
    float hl[3 * 7];
    be->ops->download(be, hl, lg, sizeof hl);
    double ref = 0;
    int correct = 0;
    for (int s = 0; s < B; s++) {
        int arg = 0;
        for (int j = 0; j < NL; j++) {
            double x = hl[s * NL + j], t = j == labels[s], p = 1 / (1 + exp(-x));
            ref += -(t * log(p) + (1 - t) * log(1 - p));
            if (hl[s * NL + j] > hl[s * NL + arg]) arg = j;
        }
        correct += labels[s] >= 0 && arg == labels[s];
    }
    ref /= B;
    T_CLOSE(l, ref, 1e-6, 1e-6, "VQA loss %.9g vs BCE sum / B %.9g", l, ref);
    m3ae_losses ls;
    m3ae_model_last_losses(m, &ls);
    T_CHECK(ls.vqa_count == B && ls.vqa_correct == correct, "VQA count %d correct %d (want %d, %d)", ls.vqa_count,
            ls.vqa_correct, B, correct);
    b.vqa_denom = 2.0 * B;
    double l2 = m3ae_model_forward(m, M3AE_PASS_VQA, &b);
    T_CLOSE(l2, l / 2, 1e-9, 1e-7, "vqa_denom 2B halves the loss: %.9g vs %.9g", l2, l / 2);
    b.vqa_denom = 0;

    /* gradients through the step (hook counts every tensor once) */
    reports = 0;
    m3ae_model_set_grad_hook(m, count_reports, NULL);
    m3ae_model_zero_grads(m);
    const m3ae_pass_list pl = m3ae_vqa_passes();
    m3ae_model_step(m, &b, &pl, 1, &ls);
    T_CHECK(reports == r->n, "the hook reported %d of %d tensors", reports, r->n);
    m3ae_model_set_grad_hook(m, NULL, NULL);
    const size_t nf = r->arena_floats;
    float *p0 = malloc(nf * sizeof(float)), *grad = malloc(nf * sizeof(float)), *pd = malloc(nf * sizeof(float));
    float *dir = calloc(nf, sizeof(float));
    be->ops->download(be, p0, m3ae_model_params(m), nf * sizeof(float));
    be->ops->download(be, grad, m3ae_model_grads(m), nf * sizeof(float));
    for (int i = 0; i < r->n; i++) {
        const m3ae_param *p = &r->p[i];
        if (p->module != M3AE_MOD_MLM_HEAD && p->module != M3AE_MOD_MIM_HEAD && p->module != M3AE_MOD_ITM_HEAD) continue;
        double a = 0;
        for (size_t j = 0; j < p->numel; j++) a += fabs(grad[p->offset + j]);
        T_CHECK(a == 0, "%s has no gradient in the VQA pass (%.3g)", p->name, a);
    }
    const int mods[] = {M3AE_MOD_VISION, M3AE_MOD_TEXT, M3AE_MOD_FUSION, M3AE_MOD_PROJ_POOL, M3AE_MOD_VQA_HEAD};
    for (size_t q0 = 0; q0 < sizeof mods / sizeof mods[0]; q0++) {
        const int mod = mods[q0];
        memset(dir, 0, nf * sizeof(float));
        double gd = 0;
        m3ae_rng dg = m3ae_rng_make(4, 97, (uint64_t)mod, 0);
        for (int i = 0; i < r->n; i++) {
            const m3ae_param *p = &r->p[i];
            if (p->module != (m3ae_module)mod || !p->trainable) continue;
            for (size_t j = 0; j < p->numel; j++) {
                float d = m3ae_rng_normal(&dg, p->offset + j);
                dir[p->offset + j] = d;
                gd += (double)d * grad[p->offset + j];
            }
        }
        const float eps = 1e-3f;
        static const float off[4] = {2, 1, -1, -2};
        double lv[4];
        for (int q = 0; q < 4; q++) {
            for (size_t i = 0; i < nf; i++) pd[i] = p0[i] + off[q] * eps * dir[i];
            be->ops->upload(be, m3ae_model_params(m), pd, nf * sizeof(float));
            lv[q] = m3ae_model_forward(m, M3AE_PASS_VQA, &b);
        }
        double fd = (-lv[0] + 8 * lv[1] - 8 * lv[2] + lv[3]) / (12 * eps);
        double rel = fabs(fd - gd) / fmax(fabs(gd), 1e-3);
        printf("%-24s g.d %+.6e  finite difference %+.6e  rel %.2e\n", m3ae_module_name((m3ae_module)mod), gd, fd, rel);
        T_CHECK(rel < 2e-3, "%s: directional derivative %.6e vs finite difference %.6e",
                m3ae_module_name((m3ae_module)mod), gd, fd);
    }
    be->ops->upload(be, m3ae_model_params(m), p0, nf * sizeof(float));
    free(p0), free(grad), free(pd), free(dir), free(img), free(ids), free(masks);
    m3ae_model_destroy(m);
    m3ae_backend_close(be);
    return t_done("test_model_vqa");
}
