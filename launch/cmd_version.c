/* m3ae version: what this build is and what it runs on. */
#include <stdio.h>

#include "checkpoints/ckpt_info.h"
#include "common/build_info.h"
#include "common/error.h"
#include "dist/dist_info.h"
#include "io/io_info.h"
#include "launch/commands.h"
#include "model/backend_info.h"

int m3ae_cmd_version(int argc, char **argv) {
    if (m3ae_cli_wants_help(argc, argv)) {
        printf("usage: m3ae version\n\n"
               "Prints the m3ae version and git commit, the versions of the libraries it was built\n"
               "with (BLAS, MPI, HDF5, LMDB, libtiff, libpng, libjpeg, utf8proc), whether the CUDA\n"
               "backend was compiled in, and the visible CUDA devices. Exits 0 also without a GPU.\n");
        return M3AE_EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "m3ae: error: `m3ae version` takes no arguments (got '%s')\n", argv[1]);
        return M3AE_EXIT_USAGE;
    }
    char buf[4096];
    printf("m3ae      %s (commit %s, %s build)\n", M3AE_VERSION, M3AE_GIT_COMMIT, M3AE_BUILD_TYPE);
    printf("BLAS      %s\n", m3ae_blas_version());
    m3ae_mpi_version(buf, sizeof buf);
    printf("MPI       %s\n", buf);
    m3ae_hdf5_version(buf, sizeof buf);
    printf("HDF5      %s\n", buf);
    m3ae_lmdb_version(buf, sizeof buf);
    printf("LMDB      %s\n", buf);
    m3ae_tiff_version(buf, sizeof buf);
    printf("libtiff   %s\n", buf);
    m3ae_png_version(buf, sizeof buf);
    printf("libpng    %s\n", buf);
    m3ae_jpeg_version(buf, sizeof buf);
    printf("libjpeg   %s\n", buf);
    m3ae_utf8proc_version(buf, sizeof buf);
    printf("Unicode   %s\n", buf);
    m3ae_cuda_versions(buf, sizeof buf);
    printf("CUDA      %s\n", m3ae_cuda_compiled() ? "compiled in" : "not compiled in");
    if (m3ae_cuda_compiled()) printf("          %s\n", buf);
    m3ae_cuda_devices(buf, sizeof buf);
    printf("devices   %s\n", buf);
    return M3AE_EXIT_OK;
}
