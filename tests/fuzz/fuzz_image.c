/* libFuzzer target for the image decoders (TIFF, PNG, JPEG) and, on success, the CLIP transform.
 * Not part of the CMake build. Build and run, from the project root, for example:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -Ibuild-images/generated \
 *     tests/fuzz/fuzz_image.c io/image_decode.c io/image_tiff.c io/image_png.c io/image_jpeg.c \
 *     io/image_resize.c io/image_transform.c common/error.c common/rng.c -ltiff -lpng -ljpeg -lz -lm \
 *     -o fuzz_image
 *   ./fuzz_image -max_len=65536 corpus/    (seed corpus: tests/io_image/fixtures/synth/ and a few
 *                                            files of ../shared/data/tiff)
 * Every input must either decode to a valid image or return -1 with a message naming the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/image.h"
#include "io/image_transform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    m3ae_image img;
    m3ae_error err;
    err.msg[0] = 0;
    if (m3ae_image_decode_mem(data, size, "fuzz-input", NULL, &img, &err) != 0) {
        if (!strstr(err.msg, "fuzz-input")) abort(); /* every error names the input */
        return 0;
    }
    if (!img.rgb || img.width <= 0 || img.height <= 0) abort();
    if ((long long)img.width * img.height <= 1000000) { /* keep each run fast */
        float *out = malloc(sizeof(float) * 3 * 32 * 32);
        if (out && m3ae_transform_clip(&img, 32, out, &err) != 0) abort();
        free(out);
    }
    m3ae_image_free(&img);
    return 0;
}
