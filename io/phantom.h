/* A synthetic radiology-like corpus for demonstrations and tests: grey "scans" (CT or MRI of the
 * chest, abdomen or head) with a body outline, anatomy, and zero to two lesions whose size,
 * brightness, shape and position are drawn at random, each with a templated caption that states
 * them ("Axial CT of the chest shows a large hyperdense round lesion in the left upper lobe.").
 * Left and right follow the radiological convention: the patient's left is on the image's right.
 * Everything is a pure function of (seed, index) (common/rng.h, M3AE_RNG_PHANTOM). */
#ifndef M3AE_IO_PHANTOM_H
#define M3AE_IO_PHANTOM_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "io/image.h"

/* What was drawn (for tests and statistics). */
typedef struct {
    int modality; /* 0 CT, 1 MRI */
    int region;   /* 0 chest, 1 abdomen, 2 head */
    int n_lesions;
    struct {
        int large, bright, shape, left, upper; /* shape: 0 round, 1 oval, 2 irregular */
        float cx, cy, radius;                  /* in pixels */
    } lesion[2];
} m3ae_phantom_info;

/* Draws phantom `index` of `seed` as a size x size RGB image (grey in three channels) and writes
 * its caption (NUL-terminated) into caption. info may be NULL. */
int m3ae_phantom_make(uint64_t seed, uint64_t index, int size, m3ae_image *img, char *caption, size_t cap,
                      m3ae_phantom_info *info, m3ae_error *err);

/* Writes `count` phantoms as PNG files DIR/images/phantom_NNNNNN.png and DIR/captions.jsonl (one
 * {"image": ..., "caption": ...} per line: the jsonl input of `m3ae prep`). Atomic per file. */
int m3ae_phantom_write_corpus(const char *dir, uint64_t seed, uint64_t count, int size, int progress,
                              m3ae_error *err);

/* Writes an RGB8 image as PNG (libpng), atomically (temporary name + rename). */
int m3ae_png_write(const char *path, const m3ae_image *img, m3ae_error *err);

#endif
