#!/bin/bash
# A resumed run with nothing left to do (its checkpoint is at or past max_steps) writes
# RUN_DIR/finished, so that the sbatch script stops requeueing it. The case: a job stopped (signal,
# kill) after its last checkpoint but before `finished`; also a resume with max_steps lowered.
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-noop-XXXXXX); trap 'rm -rf "$W"' EXIT
pretrain "$W/run" max_steps=2 >"$W/a.log" 2>&1 || { echo "FAIL: run"; tail -5 "$W/a.log"; exit 1; }
check '[ "$(cat "$W/run/finished" 2>/dev/null)" = 2 ]' "the first run did not write finished"
rm -f "$W/run/finished"
pretrain "$W/run" max_steps=2 >"$W/b.log" 2>&1; rc=$?
check '[ $rc -eq 0 ] && grep -q "nothing to do" "$W/b.log" && [ "$(cat "$W/run/finished" 2>/dev/null)" = 2 ]' \
  "a resume at max_steps: exit $rc, finished=$(cat "$W/run/finished" 2>&1): $(tail -2 "$W/b.log")"
rm -f "$W/run/finished"
pretrain "$W/run" max_steps=1 warmup_steps=0 >"$W/c.log" 2>&1; rc=$?
check '[ $rc -eq 0 ] && [ -f "$W/run/finished" ]' "a resume past max_steps: exit $rc: $(tail -2 "$W/c.log")"
[ $fail -eq 0 ] && echo "finished-on-no-op test passed"
exit $fail
