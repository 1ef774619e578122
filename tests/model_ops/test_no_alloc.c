/* No allocation inside a training step: after one warm-up step, a second step (stage the
 * micro-batch, zero the gradients, the passes of both objectives with dropout on, AdamW) must call
 * neither malloc, calloc, realloc, aligned_alloc nor posix_memalign from m3ae's code (this program
 * is linked with -Wl,--wrap for those, which counts the calls of every object linked in, the model
 * and the CPU backend included), nor the backend's alloc entry. The memory report must list the
 * workspace and the staging area, and m3ae_model_memory_bytes must include them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sort.h"
#include "common/rng.h"
#include "harness.h"
#include "model/m3ae.h"
#include "model/optimizer.h"
#include "model/tasks/pretrain.h"

/* The training step of the configured objective's pass list, as the last micro-batch. */
static void pretrain_step(m3ae_model *m, const m3ae_batch *b, m3ae_losses *l) {
    const m3ae_pass_list pl = m3ae_pretrain_passes(m3ae_model_config(m)->objective);
    m3ae_model_step(m, b, &pl, 1, l);
}

static long n_calls; /* allocation calls through the wrappers */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t s);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n) { return n_calls++, __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t s) { return n_calls++, __real_calloc(n, s); }
void *__wrap_realloc(void *p, size_t n) { return n_calls++, __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { return n_calls++, __real_aligned_alloc(a, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n) { return n_calls++, __real_posix_memalign(p, a, n); }

static void one_step(m3ae_model *m, m3ae_backend *be, const m3ae_adamw_config *oc, float *mom1, float *mom2,
                     m3ae_batch *b, int64_t step) {
    b->step = (uint64_t)step;
    m3ae_model_stage(m, b);
    m3ae_model_zero_grads(m);
    m3ae_losses ls;
    pretrain_step(m, b, &ls);
    m3ae_adamw_step(be, oc, m3ae_model_registry(m), m3ae_model_params(m), m3ae_model_grads(m), mom1, mom2, step);
}

static void check_objective(const char *objective) {
    m3ae_config cfg;
    m3ae_error err;
    m3ae_config_preset(&cfg, "tiny", &err);
    T_CHECK(m3ae_config_set(&cfg, "objective", objective, &err) == 0, "%s", err.msg);
    m3ae_backend *be = m3ae_backend_open("cpu", &(m3ae_backend_options){.threads = 2}, &err);
    T_CHECK(be != NULL, "cpu backend: %s", err.msg);
    if (!be) return;
    const int B = 3, L = cfg.max_text_len, N = m3ae_cfg_patches(&cfg), S = cfg.image_size, V = cfg.vocab_size;
    m3ae_model *m = m3ae_model_create(&cfg, be, B);
    m3ae_model_init_params(m, 3);
    m3ae_model_set_train(m, 1, 9); /* dropout on: the attention dropout masks need workspace */
    const size_t nf = m3ae_model_registry(m)->arena_floats;
    float *mom1 = be->ops->alloc(be, nf * sizeof(float), "AdamW first moments");
    float *mom2 = be->ops->alloc(be, nf * sizeof(float), "AdamW second moments");
    m3ae_adamw_config oc = m3ae_adamw_official();
    oc.warmup_steps = 1, oc.max_steps = 10, oc.grad_clip = 1.0;

    m3ae_rng g = m3ae_rng_make(4, 99, 0, 0);
    uint64_t k = 0;
    float *img = malloc(sizeof(float) * B * 3 * S * S), *img2 = malloc(sizeof(float) * B * 3 * S * S);
    for (int i = 0; i < B * 3 * S * S; i++) img[i] = m3ae_rng_normal(&g, k++), img2[i] = m3ae_rng_normal(&g, k++);
    int32_t *ids = malloc(sizeof(int32_t) * B * L), *mids = malloc(sizeof(int32_t) * B * L);
    int32_t *masks = malloc(sizeof(int32_t) * B * L), *labels = malloc(sizeof(int32_t) * B * L);
    int32_t *shuf = malloc(sizeof(int32_t) * B * N), itm[3] = {1, 0, 1};
    float *noise = malloc(sizeof(float) * N);
    for (int s = 0; s < B; s++) {
        int len = L - 3 * s;
        for (int t = 0; t < L; t++) {
            int i = s * L + t;
            ids[i] = t == 0 ? 0 : t == len - 1 ? 2 : t < len ? 3 + (int)m3ae_rng_below(&g, k++, (uint32_t)V - 4) : 1;
            masks[i] = t < len;
            labels[i] = t > 0 && t < len - 1 && t % 3 == 1 ? ids[i] : -100;
            mids[i] = labels[i] != -100 ? V - 1 : ids[i];
        }
        for (int j = 0; j < N; j++) noise[j] = m3ae_rng_uniform(&g, k++);
        m3ae_argsort_stable(noise, shuf + s * N, N);
    }
    int64_t sid[3] = {11, 12, 13};
    m3ae_batch b = {.B = B, .images = img, .itm_images = img2, .text_ids = ids, .text_masks = masks,
                    .mlm_ids = mids, .mlm_labels = labels, .mim_ids_shuffle = shuf, .itm_labels = itm,
                    .sample_ids = sid};

    one_step(m, be, &oc, mom1, mom2, &b, 0); /* warm-up */
    const long calls0 = n_calls;
    const size_t be0 = be->n_allocs;
    one_step(m, be, &oc, mom1, mom2, &b, 1);
    const long calls = n_calls - calls0;
    const size_t be_calls = be->n_allocs - be0;
    printf("objective %s: %ld allocation calls and %zu backend allocs inside the step\n", objective, calls, be_calls);
    T_CHECK(calls == 0, "objective %s: %ld allocation calls inside a step", objective, calls);
    T_CHECK(be_calls == 0, "objective %s: %zu backend allocs inside a step", objective, be_calls);
    /* the counter sees the library's allocations (a backend open callocs in model/cpu/), so the
     * zero above is not vacuous */
    const long before = n_calls;
    m3ae_backend *probe = m3ae_backend_open("cpu", NULL, &err);
    T_CHECK(probe != NULL && n_calls > before, "the allocation counter missed the library's calloc (wrap not active?)");
    m3ae_backend_close(probe);
    /* the plan reports and counts the workspace and the staging area */
    T_CHECK(be->workspace_bytes > 0, "no workspace reserved with dropout on");
    size_t total = m3ae_model_memory_bytes(m);
    size_t plain = 2 * nf * sizeof(float);
    T_CHECK(total > plain + be->workspace_bytes, "memory_bytes %zu does not include the workspace %zu", total,
            be->workspace_bytes);
    char *rep = NULL;
    size_t rlen = 0;
    FILE *f = open_memstream(&rep, &rlen);
    m3ae_model_memory_report(m, f);
    fclose(f);
    T_CHECK(rep && strstr(rep, "workspace") && strstr(rep, "staging"), "memory report lacks workspace/staging:\n%s",
            rep ? rep : "");
    if (!strcmp(objective, "separate")) fputs(rep, stdout);
    free(rep);
    free(img), free(img2), free(ids), free(mids), free(masks), free(labels), free(shuf), free(noise);
    be->ops->free(be, mom1), be->ops->free(be, mom2);
    m3ae_model_destroy(m);
    m3ae_backend_close(be);
}

int main(void) {
    check_objective("separate");
    check_objective("joint");
    return t_done("test_no_alloc");
}
