/* The positive control: checkpoints/ including the registry and HDF5 builds. */
#include <hdf5.h>

#include "checkpoints/h5file.h"
#include "model/registry.h"

int m3ae_door_probe(void) { return H5_VERS_MAJOR + M3AE_PARAM_MAX_DIMS; }
