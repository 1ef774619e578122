/* A forbidden door: checkpoints/ including MPI (the trainer decides who writes; must not build). */
#include <mpi.h>

int m3ae_door_probe(void) { return MPI_VERSION; }
