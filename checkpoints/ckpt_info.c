#include "checkpoints/ckpt_info.h"

#include <hdf5.h>
#include <stdio.h>

void m3ae_hdf5_version(char *buf, size_t n) {
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    snprintf(buf, n, "HDF5 %u.%u.%u", maj, min, rel);
}
