#ifndef M3AE_CHECKPOINTS_INFO_H
#define M3AE_CHECKPOINTS_INFO_H
#include <stddef.h>
/* "HDF5 1.10.8" as reported by the linked library. */
void m3ae_hdf5_version(char *buf, size_t n);
#endif
