#!/bin/bash
# SIGKILL at random moments of a run that writes a checkpoint every step: afterwards `latest` always
# names a whole checkpoint (m3ae ckpt verify), every step_*.h5 is whole, and the run resumes.
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-kill-XXXXXX); trap 'rm -rf "$W"' EXIT
kills=0
for t in 0.3 0.05 0.5 0.15 0.4 0.25; do
  "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/phantom64" --out "$W/run" vocab="$VOCAB" \
    max_steps=400 ckpt_every=1 keep_last=3 log_every=50 >>"$W/log" 2>&1 &
  pid=$!   # m3ae itself, not a subshell
  # wait until it writes checkpoints (start-up time varies with the machine's load), then kill at a
  # moment that falls anywhere in the step / checkpoint cycle
  for _ in $(seq 1 300); do
    [ -f "$W/run/checkpoints/latest" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  sleep "$t"
  kill -9 $pid 2>/dev/null && kills=$((kills + 1))
  wait $pid 2>/dev/null
  if [ -f "$W/run/checkpoints/latest" ]; then
    latest="$W/run/checkpoints/$(cat "$W/run/checkpoints/latest")"
    "$M3AE" ckpt verify "$latest" >/dev/null 2>"$W/verify.err"
    check '[ $? -eq 0 ]' "after a kill, latest ($latest) does not verify: $(cat "$W/verify.err")"
    for f in "$W"/run/checkpoints/step_*.h5; do
      "$M3AE" ckpt verify "$f" >/dev/null 2>&1 || check 'false' "after a kill, $f is not whole"
    done
  fi
done
check '[ -f "$W/run/checkpoints/latest" ]' "no checkpoint was ever written"
check '[ $kills -ge 4 ]' "only $kills kills landed"
stray=$(ls "$W/run/checkpoints" | grep -c "tmp-" || true)
steps_before=$(cat "$W/run/checkpoints/latest")
pretrain "$W/run" max_steps=400 stop_after=$(( $(sed 's/step_0*//; s/\.h5//' "$W/run/checkpoints/latest") + 2 )) >"$W/resume.log" 2>&1
check '[ $? -eq 0 ] && grep -q "resuming" "$W/resume.log"' "the run does not resume after the kills: $(tail -3 "$W/resume.log")"
check '[ -z "$(ls "$W/run/checkpoints" | grep "tmp-")" ]' "the resumed run left the killed runs' temporary files"
echo "$stray temporary checkpoint files were left by the kills (removed by the resume)"
echo "$kills kills; latest before resuming: $steps_before"
[ $fail -eq 0 ] && echo "kill-during-checkpoint test passed"
exit $fail
