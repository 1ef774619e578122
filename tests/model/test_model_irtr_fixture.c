/* The IRTR pass against the PyTorch reference (tests/fixtures/irtr_tiny.h5, written by
 * tools/reference/make_irtr_fixture.py): the tiny model of the model fixtures plus the official
 * irtr_head Linear(2H,1), 2 images with 3 candidate captions each (the positive first), the image
 * expanded to its pairs in the reference and encoded once here, the loss cross_entropy over each
 * image's 3 scores with target 0 (mean over the images), the itm_head frozen. Checks the pooled
 * features, the scores, the loss and the gradient of every trainable parameter (the frozen
 * itm_head's is zero) with the model fixtures' tolerances, and that the registry freezes the
 * itm_head (no gradient: the optimizer skips it) but not the irtr_head. */
#include <hdf5.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "model/m3ae.h"
#include "model/tasks/irtr.h"

#define TOL_OUT 1e-5
#define TOL_LOSS 1e-5
#define TOL_GRAD 1e-4

static hid_t file;
static int reports;
static void count_reports(void *ctx, int first, int n) {
    (void)ctx, (void)first;
    reports += n;
}

#include "fixture_io.h"

int main(int argc, char **argv) {
    if (argc < 2) return fprintf(stderr, "usage: test_model_irtr_fixture irtr_tiny.h5\n"), 1;
    file = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return fprintf(stderr, "FAIL: cannot open %s (tools/reference/make_irtr_fixture.py)\n", argv[1]), 1;
    m3ae_config cfg;
    m3ae_error err;
    m3ae_config_preset(&cfg, "tiny", &err);
    for (int i = 0; i < m3ae_config_n_keys(); i++) {
        const char *k = m3ae_config_key(i);
        if (!strcmp(k, "objective")) continue;
        char val[64];
        snprintf(val, sizeof val, "%.17g", attr(k));
        T_CHECK(m3ae_config_set(&cfg, k, val, &err) == 0, "%s", err.msg);
    }
    cfg.irtr_head = 1;
    const int B = (int)attr("batch"), K = (int)attr("candidates");
    T_CHECK(m3ae_config_validate(&cfg, &err) == 0, "fixture config: %s", err.msg);
    if (t_failures) return t_done("test_model_irtr_fixture");
    m3ae_backend *be = m3ae_backend_open("cpu", NULL, &err);
    T_CHECK(be != NULL, "cpu backend: %s", err.msg);
    if (!be) return t_done("test_model_irtr_fixture");
    m3ae_model *m = m3ae_model_create(&cfg, be, B);
    const m3ae_registry *r = m3ae_model_registry(m);
    static const char *frozen[2] = {"itm_head.fc.weight", "itm_head.fc.bias"}, *head[2] = {"irtr_head.weight", "irtr_head.bias"};
    for (int i = 0; i < 2; i++) {
        const int f = m3ae_registry_find(r, frozen[i]), h = m3ae_registry_find(r, head[i]);
        T_CHECK(f >= 0 && !r->p[f].has_grad, "%s must be registered without a gradient (frozen)", frozen[i]);
        T_CHECK(h >= 0 && r->p[h].has_grad, "%s must be registered with a gradient", head[i]);
    }
    load_params(m, be, r);
    size_t n;
    float *images = read_f32("/inputs/images", &n);
    int32_t *ids = read_i32("/inputs/text_ids", &n), *masks = read_i32("/inputs/text_masks", &n);
    T_CHECK(n == (size_t)B * cfg.max_text_len, "text_masks has %zu entries, %d pairs", n, B);
    if (t_failures) return t_done("test_model_irtr_fixture");
    m3ae_batch b = {.B = B, .images = images, .text_ids = ids, .text_masks = masks, .irtr_candidates = K};
    m3ae_model_stage(m, &b);
    m3ae_model_set_train(m, 0, 0);
    m3ae_model_zero_grads(m);
    double loss = m3ae_model_forward(m, M3AE_PASS_IRTR, &b);
    compare_output(m, be, "cls_feats", "/irtr/cls_feats");
    compare_output(m, be, "irtr_logits", "/irtr/scores");
    size_t one;
    double *rl = ds_read("/irtr/loss", H5T_NATIVE_DOUBLE, sizeof(double), &one);
    if (rl) {
        double e = fabs(loss - rl[0]) / fabs(rl[0]);
        printf("  loss %.9f vs reference %.9f rel err %.3g\n", loss, rl[0], e);
        T_CHECK(e <= TOL_LOSS, "IRTR loss %.9f vs reference %.9f (rel %.3g)", loss, rl[0], e);
    }
    free(rl);
    m3ae_model_backward(m, M3AE_PASS_IRTR, &b);
    compare_grads(m, be, r, "irtr");
    /* the training step of the task's pass list: every registry entry reported ready exactly once
     * (the model aborts on a double or missing report), the frozen ITM head included */
    m3ae_model_set_grad_hook(m, count_reports, NULL);
    m3ae_model_zero_grads(m);
    const m3ae_pass_list pl = m3ae_irtr_passes();
    m3ae_losses ls;
    m3ae_model_step(m, &b, &pl, 1, &ls);
    T_CHECK(reports == r->n, "gradient-ready reports %d, registry %d", reports, r->n);
    T_CHECK(fabs(ls.irtr - loss) <= 1e-12 && ls.irtr_count == B / K, "step loss %.9f (forward %.9f), %d images",
            ls.irtr, loss, ls.irtr_count);
    free(images), free(ids), free(masks);
    m3ae_model_destroy(m);
    m3ae_backend_close(be);
    H5Fclose(file);
    return t_done("test_model_irtr_fixture");
}
