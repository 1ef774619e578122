/* libFuzzer target for the HDF5 checkpoint reader (checkpoints/ckpt.c, h5file.c): a small real
 * training checkpoint (a fixture model of five tensors registered through the real registry
 * builder, AdamW moments, every root attribute) is written once; each input is a list of (u32 LE
 * offset, u8 value) patches applied to a copy of its bytes, written to a temporary file, which is
 * then read as `m3ae ckpt inspect` (m3ae_ckpt_read_meta) and resume (m3ae_ckpt_load, strict, with
 * the moments) and --init-from (weights only, not strict) read it. HDF5 may refuse the damage; m3ae
 * must end in an error message (the error-stack policy of h5file.c), never a crash, a leak or an
 * out-of-bounds access. m3ae's own leaks of HDF5 objects are caught here: after each input no HDF5
 * identifier may be open. Heap blocks that libhdf5 1.10 itself loses on some of its error paths
 * (H5Dopen2 of a corrupt layout message) are not m3ae's to free: run_fuzz.sh suppresses leaks
 * allocated inside libhdf5 for this target (lsan_hdf5.supp). The first 16 patches at most; offsets
 * wrap. Built and run by run_fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "checkpoints/ckpt.h"
#include "model/registry.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fixture model for m3ae_registry_build (in place of model/m3ae.c, which the fuzzer does not
 * link): a few tensors of the kinds a checkpoint holds, one fixed (no optimizer moments). */
void m3ae_model_tensors(m3ae_tensor_builder *b, const m3ae_config *c, void *w);
void m3ae_model_tensors(m3ae_tensor_builder *b, const m3ae_config *c, void *w) {
    (void)c, (void)w;
    m3ae_builder_section(b, M3AE_MOD_TEXT, M3AE_BWD_TEXT);
    m3ae_linear_tensors(b, NULL, NULL, 6, 4, "language_encoder.pooler.dense");
    m3ae_layernorm_tensors(b, NULL, NULL, 6, "language_encoder.embeddings.LayerNorm");
    m3ae_builder_section(b, M3AE_MOD_MIM_HEAD, M3AE_BWD_MIM_HEAD);
    m3ae_tensor(b, NULL, M3AE_FIXED, M3AE_INIT_SINCOS, M3AE_S3(1, 5, 4), "mim_head.decoder_pos_embed");
}

static char dir[64], path[96];
static uint8_t *pristine;
static size_t pristine_len;
static m3ae_registry reg;
static float *params, *m1, *m2;

static void cleanup(void) {
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    snprintf(dir, sizeof dir, "/tmp/m3ae-fuzz-ckpt-XXXXXX");
    if (!mkdtemp(dir)) abort();
    atexit(cleanup);
    snprintf(path, sizeof path, "%s/c.h5", dir);
    m3ae_config cfg;
    memset(&cfg, 0, sizeof cfg);
    m3ae_registry_build(&reg, &cfg);
    size_t n = reg.arena_floats ? reg.arena_floats : 1;
    params = calloc(n, 4), m1 = calloc(n, 4), m2 = calloc(n, 4);
    if (!params || !m1 || !m2) abort();
    for (size_t i = 0; i < n; i++) params[i] = (float)i * 0.25f, m1[i] = -(float)i, m2[i] = (float)(i % 7);
    static m3ae_ckpt_meta meta = {.step = 12, .epoch = 1, .position = 64, .seed = 3, .world_size = 2};
    snprintf(meta.config, sizeof meta.config, "preset = tiny\nseed = 3\nbatch_size = 8\n");
    snprintf(meta.data, sizeof meta.data, "phantom: 70 samples");
    m3ae_error err;
    if (m3ae_ckpt_save(path, &reg, params, m1, m2, &meta, &err)) {
        fprintf(stderr, "fuzz_ckpt: cannot write the seed checkpoint: %s\n", err.msg);
        abort();
    }
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END)) abort();
    pristine_len = (size_t)ftell(f);
    rewind(f);
    pristine = malloc(pristine_len);
    if (!pristine || fread(pristine, 1, pristine_len, f) != pristine_len) abort();
    fclose(f);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(pristine_len);
    if (!copy) abort();
    memcpy(copy, pristine, pristine_len);
    for (size_t i = 0; i + 5 <= size && i < 5 * 16; i += 5) {
        uint32_t off = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 | (uint32_t)data[i + 2] << 16 |
                       (uint32_t)data[i + 3] << 24;
        copy[off % pristine_len] = data[i + 4];
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(copy, 1, pristine_len, f) != pristine_len || fclose(f)) abort();
    free(copy);
    static m3ae_ckpt_meta meta;
    m3ae_error err;
    if (m3ae_ckpt_read_meta(path, &meta, &err) == 0) {
        /* what was read is NUL-terminated text */
        if (memchr(meta.config, 0, sizeof meta.config) == NULL || memchr(meta.data, 0, sizeof meta.data) == NULL ||
            memchr(meta.kind, 0, sizeof meta.kind) == NULL)
            abort();
    } else if (!err.msg[0]) {
        abort(); /* a refusal must say why */
    }
    if (m3ae_ckpt_load(path, &reg, params, m1, m2, &meta, 1, &err) != 0 && !err.msg[0]) abort();
    if (m3ae_ckpt_load(path, &reg, params, NULL, NULL, NULL, 0, &err) != 0 && !err.msg[0]) abort();
    ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open_ids != 0) {
        fprintf(stderr, "fuzz_ckpt: %zd HDF5 identifiers left open by the checkpoint reader\n", open_ids);
        abort();
    }
    return 0;
}
