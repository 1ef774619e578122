/* libFuzzer target for the HDF5 checkpoint reader (checkpoints/ckpt.c, h5file.c, h5file_sum.c): a
 * small real training checkpoint (a fixture model of five tensors registered through the real
 * registry builder, AdamW moments, every root attribute, the whole-file checksum block) is written
 * once; each input is a list of (u32 LE offset, u8 value) patches applied to a copy of its bytes,
 * written to a temporary file, which is then read as `m3ae ckpt inspect` (m3ae_ckpt_read_meta),
 * resume (m3ae_ckpt_load, strict, with the moments) and --init-from (weights only, not strict) read
 * it. The first 16 patches at most; offsets wrap. Two builds (run_fuzz.sh):
 *   ckpt         the real read path: a file whose bytes differ from the pristine one must be refused
 *                by the whole-file check, by name, before libhdf5 parses it (checked here: the
 *                error names the whole-file checksum); an input that changes nothing reads cleanly.
 *   ckpt_sealed  (-DFUZZ_CKPT_SEALED) the patches land after the user block and the block is written
 *                again over the damaged content (m3ae_h5_sum_write), as a bad disk under a correct
 *                block, or a tool that seals a broken file, would give: libhdf5's parse of damaged
 *                content is fuzzed. libhdf5 1.10.8 itself crashes on some of these (a SEGV in
 *                H5_checksum_fletcher32, a 4 GB allocation: regressions/ckpt_sealed/), which m3ae
 *                cannot prevent short of parsing HDF5 itself, so this build stays out of the timed
 *                suite (M3AE_FUZZ_CKPT=1 runs it).
 * Either way m3ae must end in an error message (the error-stack policy of h5file.c), never a crash, a
 * leak or an out-of-bounds access of its own. m3ae's leaks of HDF5 objects are caught here: after
 * each input no HDF5 identifier may be open. Heap blocks that libhdf5 1.10 itself loses on some of its
 * error paths (H5Dopen2 of a corrupt layout message) are not m3ae's to free: run_fuzz.sh suppresses
 * leaks allocated inside libhdf5 for these targets (lsan_hdf5.supp). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "checkpoints/ckpt.h"
#include "checkpoints/h5file.h"
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
#ifdef FUZZ_CKPT_SEALED
        copy[M3AE_H5_USERBLOCK + off % (pristine_len - M3AE_H5_USERBLOCK)] = data[i + 4];
#else
        copy[off % pristine_len] = data[i + 4];
#endif
    }
    int changed = memcmp(copy, pristine, pristine_len) != 0;
    m3ae_error err;
#ifdef FUZZ_CKPT_SEALED
    memset(copy, 0, M3AE_H5_USERBLOCK); /* the block is written again below, over the damage */
#endif
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(copy, 1, pristine_len, f) != pristine_len || fclose(f)) abort();
    free(copy);
#ifdef FUZZ_CKPT_SEALED
    if (m3ae_h5_sum_write(path, &err) != 0) {
        fprintf(stderr, "fuzz_ckpt: cannot seal the patched file: %s\n", err.msg);
        abort();
    }
    changed = 0; /* the block is good: libhdf5 parses the damaged content */
#endif
    m3ae_h5_sum_forget(); /* the file was rewritten in place within one clock tick */
    static m3ae_ckpt_meta meta;
    int refused = m3ae_ckpt_read_meta(path, &meta, &err) != 0;
    if (changed && (!refused || !strstr(err.msg, "whole-file checksum"))) {
        /* a damaged file must never reach libhdf5 */
        fprintf(stderr, "fuzz_ckpt: a damaged file passed the whole-file check: %s\n", refused ? err.msg : "read");
        abort();
    }
    if (!refused) {
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
