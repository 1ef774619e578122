#!/bin/bash
# The command line: help lists the commands, every command answers --help, version prints the
# library versions and exits 0 without a GPU, unknown commands fail with the usage exit code.
set -u
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }
m3ae="$M3AE_BIN"

out=$("$m3ae" help); rc=$?
check '[ $rc -eq 0 ]' "m3ae help exits $rc"
check 'grep -q "^  version " <<<"$out"' "m3ae help does not list version"
for cmd in $(awk '/^commands:/{f=1;next} f&&/^  [a-z]/{print $1} /^$/{if(f)exit}' <<<"$out"); do
  [ "$cmd" = help ] && continue
  h=$("$m3ae" "$cmd" --help 2>&1); rc=$?
  check '[ $rc -eq 0 ] && grep -q "usage: m3ae" <<<"$h"' "m3ae $cmd --help (exit $rc): $h"
done

out=$("$m3ae" version); rc=$?
echo "$out"
check '[ $rc -eq 0 ]' "m3ae version exits $rc"
for lib in "^BLAS .*OpenBLAS" "^MPI .*Open MPI" "^HDF5 .*HDF5 1\." "^LMDB .*LMDB 0\." "^libtiff .*Version 4" \
           "^CUDA " "^devices " "^m3ae .*commit "; do
  check 'grep -Eq "$lib" <<<"$out"' "m3ae version lacks '$lib'"
done

"$m3ae" no-such-command >/dev/null 2>&1; rc=$?
check '[ $rc -eq 2 ]' "unknown command exits $rc, expected 2"
"$m3ae" version extra >/dev/null 2>&1; rc=$?
check '[ $rc -eq 2 ]' "m3ae version with an argument exits $rc, expected 2"

[ $fail -eq 0 ] && echo "cli tests passed"
exit $fail
