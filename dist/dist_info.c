#include "dist/dist_info.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>

void m3ae_mpi_version(char *buf, size_t n) {
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0, major = 0, minor = 0;
    MPI_Get_library_version(lib, &len);
    MPI_Get_version(&major, &minor);
    char *nl = strchr(lib, ',');
    if (nl) *nl = 0; /* "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4" */
    snprintf(buf, n, "%s (MPI %d.%d)", lib, major, minor);
}
