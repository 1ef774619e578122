#!/bin/bash
# The whole test suite (the README's second command; .ci/run runs exactly this).
#  1. installs the Debian packages it needs (tools/setup.sh --test; skipped when present),
#  2. builds build/ (Release, CUDA compiled in when nvcc exists) and build-asan/ (address +
#     undefined-behaviour sanitizers, no CUDA),
#  3. runs the unit tests in build-asan/, then every test in build/ (labels unit, mpi, slurm, slow,
#     gpu; gpu tests report "skipped" with the reason where no CUDA device is present),
#  4. prints ctest's summaries and the reasons for skipped tests; exits non-zero when any test failed.
# Options: --quick leaves out the tests labelled slow; any other argument is passed to ctest of build/
# (e.g. tools/test.sh -L unit, tools/test.sh -R tokenizer).
set -uo pipefail
cd "$(dirname "$0")/.."
ctest_args=()
for a in "$@"; do
  case "$a" in
    --quick) ctest_args+=(-LE slow) ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) ctest_args+=("$a") ;;
  esac
done
jobs=$(nproc)
t0=$(date +%s)

bash tools/setup.sh --test || { echo "test: installing packages failed"; exit 5; }
BUILD_DIR=build bash tools/build.sh || exit 1
BUILD_DIR=build-asan BUILD_TYPE=RelWithDebInfo bash tools/build.sh -DM3AE_SANITIZE=ON -DM3AE_CUDA=OFF || exit 1

slurm_was_up=0
bash tools/slurm_local.sh status >/dev/null 2>&1 && slurm_was_up=1
cleanup() { [ $slurm_was_up -eq 0 ] && bash tools/slurm_local.sh stop >/dev/null 2>&1; }
trap cleanup EXIT

echo
echo "==== sanitizer build (address, undefined): unit tests ===="
( cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest -L unit -j"$jobs" --output-on-failure --timeout 900 )
rc_asan=$?

echo
echo "==== full suite (build/) ===="
( cd build && ctest -j"$jobs" --output-on-failure --timeout 900 "${ctest_args[@]}" )
rc=$?

skips=$(grep -h "^SKIPPED: " build/Testing/Temporary/LastTest.log 2>/dev/null | sort -u)
[ -n "$skips" ] && { echo; echo "skipped tests said:"; sed 's/^/  /' <<<"$skips"; }
echo
echo "test: sanitizer unit tests $([ $rc_asan -eq 0 ] && echo passed || echo FAILED), full suite $([ $rc -eq 0 ] && echo passed || echo FAILED) ($(( $(date +%s) - t0 )) s)"
[ $rc_asan -eq 0 ] && [ $rc -eq 0 ]
