#!/bin/bash
# launch/local.sh: --help and bad arguments; Ctrl-C (SIGINT) or SIGTERM to the script stops a
# 2-rank run at once with a checkpoint and exit 0 (the script turns it into SIGUSR1, which mpirun
# forwards without starting its kill sequence); the same command again resumes.
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-local-XXXXXX); trap 'rm -rf "$W"' EXIT
LOCAL=$SRC/launch/local.sh
"$LOCAL" --help >"$W/help.txt" 2>&1; rc=$?
check '[ $rc -eq 0 ] && grep -q "^usage: launch/local.sh" "$W/help.txt" && grep -q odls_base_sigkill_timeout "$W/help.txt"' \
  "--help: $(head -3 "$W/help.txt")"
"$LOCAL" -n 0 a b c >"$W/bad.txt" 2>&1; rc=$?
check '[ $rc -eq 2 ] && grep -q "not a positive number of ranks" "$W/bad.txt"' "-n 0: $(cat "$W/bad.txt")"
"$LOCAL" --grace 1.5 a b c >"$W/bad.txt" 2>&1; rc=$?
check '[ $rc -eq 2 ] && grep -q "whole number of seconds" "$W/bad.txt"' "--grace 1.5: $(cat "$W/bad.txt")"

for sig in INT TERM; do
  # job control: the script gets a process group of its own and, unlike a plain background job of a
  # script, does not ignore SIGINT (as at a terminal)
  set -m
  "$LOCAL" -n 2 --grace 30 "$TINY_CFG" "$CACHE/phantom64" "$W/$sig" vocab="$VOCAB" max_steps=100000 ckpt_every=0 \
    per_gpu_batchsize=4 log_every=100 >"$W/$sig.log" 2>&1 &
  pid=$!
  set +m
  for _ in $(seq 1 300); do grep -q "^1/100000" "$W/$sig.log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.2; done
  sleep 0.5
  t0=$(date +%s)
  kill -$sig $pid
  wait $pid; rc=$?
  dt=$(($(date +%s) - t0))
  check '[ $rc -eq 0 ]' "SIG$sig to local.sh: exit code $rc, expected 0: $(tail -3 "$W/$sig.log")"
  check 'grep -q "stopped on SIGUSR1 after step" "$W/$sig.log"' "SIG$sig to local.sh: no stop message: $(tail -3 "$W/$sig.log")"
  check '[ -f "$W/$sig/checkpoints/latest" ]' "SIG$sig to local.sh: no checkpoint"
  check '[ $dt -lt 30 ]' "SIG$sig to local.sh: the stop took $dt s: Open MPI's kill sequence instead of SIGUSR1?"
done
step=$(sed 's/step_0*//; s/\.h5//' "$W/INT/checkpoints/latest")
"$LOCAL" -n 2 "$TINY_CFG" "$CACHE/phantom64" "$W/INT" vocab="$VOCAB" max_steps=100000 ckpt_every=0 log_every=100 \
  per_gpu_batchsize=4 stop_after=$((step + 1)) >"$W/resume.log" 2>&1; rc=$?
check '[ $rc -eq 0 ] && grep -q "resuming .* step $step" "$W/resume.log"' "no resume after SIGINT: $(tail -3 "$W/resume.log")"
[ $fail -eq 0 ] && echo "local.sh test passed"
exit $fail
