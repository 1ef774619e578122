/* The all-reduce set-up of dist/ring.h on any communicator (dist/ and tests: needs mpi.h). The
 * communicator is duplicated, so its traffic never meets the caller's. */
#ifndef M3AE_DIST_RING_MPI_H
#define M3AE_DIST_RING_MPI_H

#include <mpi.h>

#include "dist/ring.h"

m3ae_ring *m3ae_ring_create_comm(m3ae_ar_algo algo, MPI_Comm comm);

#endif
