/* The downstream classifier passes against the PyTorch reference (tests/fixtures/{vqa,cls}_tiny.h5,
 * written by tools/reference/make_vqa_fixture.py): the tiny model of the model fixtures plus the
 * official head (Linear, LayerNorm eps 1e-5, GELU erf, Linear), the unmasked text + full image, and
 *   vqa: vqa_head, the loss BCEWithLogits(logits, one-hot) * n_labels with one unseen answer (-1);
 *   cls: cls_head, the loss F.cross_entropy(logits, labels) (mean over the batch).
 * Checks the pooled features, the logits, the loss and the gradient of every trainable parameter
 * (dropout off) with the model fixtures' tolerances.
 *   test_model_vqa_fixture FILE.h5 [vqa|cls]   (default vqa) */
#include <hdf5.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "model/m3ae.h"

#define TOL_OUT 1e-5
#define TOL_LOSS 1e-5
#define TOL_GRAD 1e-4

static hid_t file;

#include "fixture_io.h"

int main(int argc, char **argv) {
    if (argc < 2) return fprintf(stderr, "usage: test_model_vqa_fixture FILE.h5 [vqa|cls]\n"), 1;
    const char *task = argc > 2 ? argv[2] : "vqa";
    const int is_cls = !strcmp(task, "cls");
    if (!is_cls && strcmp(task, "vqa")) return fprintf(stderr, "FAIL: task %s is neither vqa nor cls\n", task), 1;
    const m3ae_pass pass = is_cls ? M3AE_PASS_CLS : M3AE_PASS_VQA;
    char key[64];
    file = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return fprintf(stderr, "FAIL: cannot open %s (tools/reference/make_vqa_fixture.py)\n", argv[1]), 1;
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
    snprintf(key, sizeof key, "%s_labels", task);
    *(is_cls ? &cfg.cls_labels : &cfg.vqa_labels) = (int)attr(key);
    const int B = (int)attr("batch");
    T_CHECK(m3ae_config_validate(&cfg, &err) == 0, "fixture config: %s", err.msg);
    if (t_failures) return t_done("test_model_vqa_fixture");
    m3ae_backend *be = m3ae_backend_open("cpu", NULL, &err);
    T_CHECK(be != NULL, "cpu backend: %s", err.msg);
    if (!be) return t_done("test_model_vqa_fixture");
    m3ae_model *m = m3ae_model_create(&cfg, be, B);
    const m3ae_registry *r = m3ae_model_registry(m);
    load_params(m, be, r);
    size_t n;
    float *images = read_f32("/inputs/images", &n);
    int32_t *ids = read_i32("/inputs/text_ids", &n), *masks = read_i32("/inputs/text_masks", &n);
    snprintf(key, sizeof key, "/inputs/%s_labels", task);
    int32_t *labels = read_i32(key, &n);
    T_CHECK(n == (size_t)B, "%s has %zu entries, batch %d", key, n, B);
    if (t_failures) return t_done("test_model_vqa_fixture");
    m3ae_batch b = {.B = B, .images = images, .text_ids = ids, .text_masks = masks};
    *(is_cls ? &b.cls_labels : &b.vqa_labels) = labels;
    m3ae_model_stage(m, &b);
    m3ae_model_set_train(m, 0, 0);
    m3ae_model_zero_grads(m);
    double loss = m3ae_model_forward(m, pass, &b);
    char out_name[64], path_feats[64], path_logits[64], path_loss[64];
    snprintf(out_name, sizeof out_name, "%s_logits", task);
    snprintf(path_feats, sizeof path_feats, "/%s/cls_feats", task);
    snprintf(path_logits, sizeof path_logits, "/%s/logits", task);
    snprintf(path_loss, sizeof path_loss, "/%s/loss", task);
    compare_output(m, be, "cls_feats", path_feats);
    compare_output(m, be, out_name, path_logits);
    size_t one;
    double *rl = ds_read(path_loss, H5T_NATIVE_DOUBLE, sizeof(double), &one);
    if (rl) {
        double e = fabs(loss - rl[0]) / fabs(rl[0]);
        printf("  loss %.9f vs reference %.9f rel err %.3g\n", loss, rl[0], e);
        T_CHECK(e <= TOL_LOSS, "%s loss %.9f vs reference %.9f (rel %.3g)", task, loss, rl[0], e);
    }
    free(rl);
    m3ae_model_backward(m, pass, &b);
    compare_grads(m, be, r, task);
    free(images), free(ids), free(masks), free(labels);
    m3ae_model_destroy(m);
    m3ae_backend_close(be);
    H5Fclose(file);
    return t_done("test_model_vqa_fixture");
}
