/* A forbidden door: model/ including MPI (compiled with model/'s include set; must not build). */
#include <mpi.h>

int m3ae_door_probe(void) { return MPI_VERSION; }
