#!/bin/bash
# A fatal error on one rank ends every rank promptly, with the error message and a non-zero exit.
set -u
prog=$1
start=$(date +%s)
out=$(timeout 60 mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader -np 3 "$prog" die 2>&1); rc=$?
echo "$out" | head -20
fail=0
[ $rc -ne 0 ] && [ $rc -ne 124 ] || { echo "FAIL: exit code $rc (expected a failure, not success or a hang)"; fail=1; }
grep -q "rank 2: deliberate failure" <<<"$out" || { echo "FAIL: the failing rank's message is missing"; fail=1; }
[ $(( $(date +%s) - start )) -lt 30 ] || { echo "FAIL: the other ranks took too long to stop"; fail=1; }
[ $fail -eq 0 ] && echo "abort test passed"
exit $fail
