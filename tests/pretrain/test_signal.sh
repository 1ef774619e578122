#!/bin/bash
# SIGTERM (and SIGUSR1) stop the run at the next step with a checkpoint and exit 0, saying how to
# resume; the same command resumes from it.
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-signal-XXXXXX); trap 'rm -rf "$W"' EXIT
for sig in TERM USR1; do
  "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/phantom64" --out "$W/$sig" vocab="$VOCAB" \
    max_steps=100000 ckpt_every=0 log_every=100 >"$W/$sig.log" 2>&1 &
  pid=$!   # m3ae itself (not a subshell), so that the signal reaches it
  for _ in $(seq 1 150); do grep -q "^1/100000" "$W/$sig.log" && break; sleep 0.2; done
  sleep 0.5
  kill -$sig $pid
  wait $pid; rc=$?
  check '[ $rc -eq 0 ]' "SIG$sig: exit code $rc, expected 0"
  check 'grep -q "stopped on SIG$sig after step" "$W/$sig.log"' "SIG$sig: no stop message: $(tail -3 "$W/$sig.log")"
  check '[ -f "$W/$sig/checkpoints/latest" ]' "SIG$sig: no checkpoint"
done
step=$(sed 's/step_0*//; s/\.h5//' "$W/TERM/checkpoints/latest")
pretrain "$W/TERM" max_steps=100000 stop_after=$((step + 1)) >"$W/resume.log" 2>&1
check '[ $? -eq 0 ] && grep -q "resuming .* step $step" "$W/resume.log"' "no resume after SIGTERM: $(tail -3 "$W/resume.log")"
[ $fail -eq 0 ] && echo "signal test passed"
exit $fail
