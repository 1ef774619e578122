#!/bin/bash
# Configuring without one of the libraries fails, and the message names the Debian package.
# Each library is hidden from a fresh configure (CMAKE_DISABLE_FIND_PACKAGE_<name>, or an empty
# pkg-config path for the pkg-config modules).
set -u
src=${M3AE_SOURCE_DIR:?}
fail=0
try() { # try <expected package> <cmake args...>
  local want=$1; shift
  local dir; dir=$(mktemp -d /tmp/m3ae-cfg-XXXXXX)
  local out rc
  out=$(cmake -S "$src" -B "$dir" -DM3AE_CUDA=OFF "$@" 2>&1); rc=$?
  rm -rf "$dir"
  if [ $rc -eq 0 ]; then
    echo "FAIL: configure with $* succeeded, expected a failure naming $want"; fail=1
  elif ! grep -q "apt-get install -y $want" <<<"$out"; then
    echo "FAIL: configure with $* failed without naming $want:"; tail -15 <<<"$out"; fail=1
  else
    echo "ok: $* -> $(grep -m1 'was not found' <<<"$out" | sed 's/^ *//')"
  fi
}
try "libopenmpi-dev" -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON
try "libhdf5-dev" -DCMAKE_DISABLE_FIND_PACKAGE_HDF5=ON
try "libtiff-dev" -DCMAKE_DISABLE_FIND_PACKAGE_TIFF=ON
try "libpng-dev" -DCMAKE_DISABLE_FIND_PACKAGE_PNG=ON
try "libjpeg-dev" -DCMAKE_DISABLE_FIND_PACKAGE_JPEG=ON
try "libopenblas-dev" -DCMAKE_DISABLE_FIND_PACKAGE_BLAS=ON
PKG_CONFIG_LIBDIR=/nonexistent PKG_CONFIG_PATH= try "liblmdb-dev"
# CUDA forced on without nvcc
dir=$(mktemp -d /tmp/m3ae-cfg-XXXXXX)
out=$(cmake -S "$src" -B "$dir" -DM3AE_CUDA=ON -DM3AE_NVCC=/nonexistent/bin/nvcc 2>&1); rc=$?
rm -rf "$dir"
if [ $rc -ne 0 ] && grep -q "nvcc was not found" <<<"$out"; then echo "ok: -DM3AE_CUDA=ON without nvcc fails clearly"
else echo "FAIL: -DM3AE_CUDA=ON without nvcc: rc=$rc"; tail -5 <<<"$out"; fail=1; fi
[ $fail -eq 0 ] && echo "missing-dependency tests passed"
exit $fail
