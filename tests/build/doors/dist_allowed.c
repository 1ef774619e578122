/* The positive control: dist/ including the registry's layout and MPI builds. */
#include <mpi.h>

#include "model/registry.h"

int m3ae_door_probe(void) { return MPI_VERSION + M3AE_PARAM_MAX_DIMS; }
