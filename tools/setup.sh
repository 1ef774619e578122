#!/bin/bash
# Installs the Debian packages m3ae needs, skipping those already installed (Debian 12, as root).
#   tools/setup.sh            build and run: compilers, CMake, MPI, HDF5, LMDB, libtiff/png/jpeg,
#                             OpenBLAS, utf8proc
#   tools/setup.sh --demo     also what tools/demo.sh draws its curves with (Debian's python3-matplotlib)
#   tools/setup.sh --test     also what the test suite uses (the --demo set for the plot test, Debian's
#                             python3-numpy/h5py/pil, clang for the fuzz targets, Slurm + munge for the
#                             single-node cluster tests, iproute2 (ip netns, tc) for the simulated
#                             multi-node cluster)
set -euo pipefail

pkgs=(build-essential cmake pkg-config libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools
      liblmdb-dev lmdb-utils libtiff-dev libpng-dev libjpeg-dev libopenblas-dev libutf8proc-dev)
demo=(python3 python3-matplotlib)
extra=()
for arg in "$@"; do
  case "$arg" in
    --demo) extra+=("${demo[@]}") ;;
    --test) extra+=("${demo[@]}" python3-numpy python3-h5py python3-pil clang libclang-rt-14-dev iproute2
                    slurmctld slurmd slurm-client munge) ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "tools/setup.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}" "${extra[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#pkgs[@]}+${#extra[@]} Debian packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]}" >&2
  echo "setup: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 5
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/m3ae-apt.log 2>&1 || {
  tail -20 /tmp/m3ae-apt.log >&2
  echo "setup: apt-get install failed (log: /tmp/m3ae-apt.log)" >&2
  exit 5
}
echo "setup: done"
