#ifndef M3AE_DIST_INFO_H
#define M3AE_DIST_INFO_H
#include <stddef.h>
/* The MPI library's own version string (callable before MPI_Init). */
void m3ae_mpi_version(char *buf, size_t n);
#endif
