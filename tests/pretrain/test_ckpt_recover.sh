#!/bin/bash
# A missing or broken RUN_DIR/checkpoints/latest: the run resumes from the newest WHOLE checkpoint
# (every checksum verified), says which and why, and refuses (exit 4) when step files exist but none
# is whole. Pruning keeps the newest keep_last of the run's own history (steps up to the one just
# written) and never deletes the checkpoint just written: leftover step files of higher steps (a
# rewound run, a broken newer file) once made each new checkpoint vanish the moment it was written.
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-recover-XXXXXX); trap 'rm -rf "$W"' EXIT
half() { truncate -s $(($(stat -c%s "$1") / 2)) "$1"; }
latest_ok() { # the file latest names exists and verifies
  local f; f=$(cat "$1/checkpoints/latest" 2>/dev/null) || return 1
  "$M3AE" ckpt verify "$1/checkpoints/$f" >/dev/null 2>&1
}
C=$W/a/checkpoints

# 1. latest missing, the newest step file truncated: resume from step 4, keep the new checkpoint
pretrain "$W/a" max_steps=6 ckpt_every=2 >"$W/a1.log" 2>&1 || { echo "FAIL: run a"; tail -20 "$W/a1.log"; exit 1; }
rm "$C/latest"; half "$C/step_0000006.h5"
pretrain "$W/a" max_steps=8 ckpt_every=1 keep_last=1 stop_after=5 >"$W/a2.log" 2>&1; rc=$?
check '[ $rc -eq 0 ]' "resume without latest: exit $rc: $(tail -5 "$W/a2.log")"
check 'grep -q "latest.*missing" "$W/a2.log" && grep -q "step_0000006.h5.*not whole" "$W/a2.log"' \
  "the log does not say why latest and step 6 were not used: $(grep -i checkpoint "$W/a2.log" | head -5)"
check 'grep -q "resuming .*step_0000004.h5: step 4" "$W/a2.log"' "did not resume from step 4: $(grep -i resum "$W/a2.log")"
check '[ -f "$C/step_0000005.h5" ] && [ "$(cat "$C/latest")" = step_0000005.h5 ] && latest_ok "$W/a"' \
  "the checkpoint just written is gone or latest is wrong: $(ls "$C") latest=$(cat "$C/latest" 2>&1)"
check '[ ! -e "$C/step_0000004.h5" ]' "keep_last=1 kept step 4 of the run's history: $(ls "$C")"

# 2. latest malformed: the same search
echo "garbage/../x" >"$C/latest"
pretrain "$W/a" max_steps=8 ckpt_every=1 keep_last=2 stop_after=6 >"$W/a3.log" 2>&1; rc=$?
check '[ $rc -eq 0 ] && grep -q "resuming .*step_0000005.h5: step 5" "$W/a3.log"' \
  "malformed latest: exit $rc: $(grep -i -e resum -e error "$W/a3.log")"

# 3. latest names a truncated file: the same search
half "$C/step_0000006.h5"
pretrain "$W/a" max_steps=8 ckpt_every=1 keep_last=1 stop_after=7 >"$W/a3b.log" 2>&1; rc=$?
check '[ $rc -eq 0 ] && grep -q "latest names is not whole" "$W/a3b.log" && grep -q "resuming .*step_0000005.h5: step 5" "$W/a3b.log"' \
  "latest naming a broken file: exit $rc: $(grep -i -e resum -e error -e whole "$W/a3b.log")"

# 4. step files present but none whole: exit 4, nothing written
rm "$C/latest"; for f in "$C"/step_*.h5; do half "$f"; done
before=$(ls "$C")
pretrain "$W/a" max_steps=8 >"$W/a4.log" 2>&1; rc=$?
check '[ $rc -eq 4 ] && grep -q "none .*whole" "$W/a4.log"' "no whole checkpoint: exit $rc: $(tail -3 "$W/a4.log")"
check '[ "$(ls "$C")" = "$before" ]' "the refused run changed the checkpoints: $(ls "$C")"

# 5. rewound run: latest pointed back at step 6 while step 8 exists; keep_last=1
pretrain "$W/b" max_steps=8 ckpt_every=2 keep_last=2 >"$W/b1.log" 2>&1 || { echo "FAIL: run b"; tail -20 "$W/b1.log"; exit 1; }
echo step_0000006.h5 >"$W/b/checkpoints/latest"
pretrain "$W/b" max_steps=8 ckpt_every=1 keep_last=1 stop_after=7 >"$W/b2.log" 2>&1; rc=$?
check '[ $rc -eq 0 ] && grep -q "resuming .*step 6" "$W/b2.log"' "rewound run: exit $rc: $(tail -3 "$W/b2.log")"
check '[ -f "$W/b/checkpoints/step_0000007.h5" ] && latest_ok "$W/b"' \
  "the checkpoint just written was pruned: $(ls "$W/b/checkpoints") latest=$(cat "$W/b/checkpoints/latest")"
[ $fail -eq 0 ] && echo "checkpoint recovery test passed"
exit $fail
