/* Inside dist/ only: every MPI call is checked, and a failure names the call and the rank. The
 * communicators of dist/ return errors (MPI_ERRORS_RETURN) so that this message is printed before the
 * fatal hook takes every rank down. */
#ifndef M3AE_DIST_MPI_CHECK_H
#define M3AE_DIST_MPI_CHECK_H

#include <mpi.h>

#include "common/error.h"
#include "common/log.h"

#define M3AE_MPI_CHECK(call, what)                                                                 \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != MPI_SUCCESS) {                                                                  \
            char msg_[MPI_MAX_ERROR_STRING];                                                       \
            int len_ = 0;                                                                          \
            MPI_Error_string(rc_, msg_, &len_);                                                    \
            M3AE_FATAL(M3AE_EXIT_SYSTEM, "MPI %s failed on rank %d: %s", what, m3ae_log_rank(), msg_); \
        }                                                                                          \
    } while (0)

#endif
