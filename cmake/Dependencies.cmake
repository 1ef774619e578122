# Finds every dependency the standard way; a missing one is a configure-time error that names the
# Debian package to install (tools/setup.sh installs them all).

function(m3ae_require found what package)
  if(NOT ${found})
    message(FATAL_ERROR
      "m3ae: ${what} was not found.\n"
      "  Install it with:  apt-get install -y ${package}\n"
      "  (or run `bash tools/setup.sh`, which installs every package m3ae needs)")
  endif()
endfunction()

find_package(MPI COMPONENTS C)
m3ae_require(MPI_C_FOUND "MPI (Open MPI)" "libopenmpi-dev openmpi-bin")

find_package(HDF5 COMPONENTS C)
m3ae_require(HDF5_FOUND "HDF5 (serial C library)" "libhdf5-dev")

find_package(PkgConfig)
m3ae_require(PKG_CONFIG_FOUND "pkg-config" "pkg-config")
pkg_check_modules(LMDB IMPORTED_TARGET lmdb)
m3ae_require(LMDB_FOUND "LMDB" "liblmdb-dev")
pkg_check_modules(UTF8PROC IMPORTED_TARGET libutf8proc)
m3ae_require(UTF8PROC_FOUND "utf8proc (Unicode data for the tokenizer)" "libutf8proc-dev")

find_package(TIFF)
m3ae_require(TIFF_FOUND "libtiff" "libtiff-dev")
find_package(PNG)
m3ae_require(PNG_FOUND "libpng" "libpng-dev")
find_package(JPEG)
m3ae_require(JPEG_FOUND "libjpeg-turbo" "libjpeg-dev")

set(BLA_VENDOR OpenBLAS)
find_package(BLAS)
m3ae_require(BLAS_FOUND "OpenBLAS" "libopenblas-dev")
find_path(M3AE_CBLAS_INCLUDE_DIR cblas.h
  PATHS /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/aarch64-linux-gnu/openblas-pthread
        /usr/include/openblas
  PATH_SUFFIXES openblas)
m3ae_require(M3AE_CBLAS_INCLUDE_DIR "the cblas.h header of OpenBLAS" "libopenblas-dev")

find_package(OpenMP COMPONENTS C)
m3ae_require(OpenMP_C_FOUND "OpenMP for C" "libgomp1 (part of build-essential)")
find_library(M3AE_LIBM m)
