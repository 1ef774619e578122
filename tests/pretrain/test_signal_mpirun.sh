#!/bin/bash
# SIGTERM to mpirun itself in the middle of a long step (2 ranks under launch/local.sh): Open MPI
# passes it on to the ranks `grace` seconds later and sends SIGKILL `grace` seconds after that. The
# step takes about 3 x grace, so only a trainer that abandons it at once (before its optimizer
# update) writes a checkpoint in time: of the last finished step, with the data position of the
# abandoned step's start. Checked: exit code 0, a checkpoint, and a resume that ends bitwise
# identical (model and AdamW moments) to an uninterrupted run.
source "$(dirname "$0")/common.sh"
phantom_data phantom256 256 13
W=$(mktemp -d /tmp/m3ae-sigmpi-XXXXXX); trap 'rm -rf "$W"' EXIT
LOCAL=$SRC/launch/local.sh
# 3 steps of 128 samples (2 steps per epoch), micro-batches of 1: 64 per rank and step, so that a
# stop comes within a fraction of a second; 160 px make a step last seconds (4 s on a quiet 2-core
# machine, 30 s under a load of 20)
KEYS=(vocab="$VOCAB" image_size=160 max_steps=3 ckpt_every=0 batch_size=128 per_gpu_batchsize=1 log_every=1)
run_local() { # GRACE RUN_DIR LOG
  M3AE_MPIRUN_FLAGS="--oversubscribe" "$LOCAL" -n 2 --grace "$1" "$TINY_CFG" "$CACHE/phantom256" "$2" "${KEYS[@]}" \
    >"$3" 2>&1
}

# a: the uninterrupted run; its step time sets the grace (a third of a step, at least 2 s)
run_local 60 "$W/a" "$W/a.log" || { echo "FAIL: the uninterrupted run: $(tail -5 "$W/a.log")"; exit 1; }
rate=$(grep -o '"samples_per_s": [0-9.e+-]*' "$W/a/metrics.jsonl" | tail -1 | awk '{print $2}')
[ -n "$rate" ] || { echo "FAIL: no step time in $W/a/metrics.jsonl"; exit 1; }
grace=$(awk -v r="$rate" 'BEGIN {g = int(128 / r / 3 + 0.999); print (g < 2 ? 2 : g)}')
echo "uninterrupted run: $rate samples/s, a step of 128 in $(awk -v r="$rate" 'BEGIN {printf "%.1f", 128 / r}') s; grace $grace s"

# b: SIGTERM to mpirun as soon as step 1 is logged, i.e. at the start of step 2
run_local "$grace" "$W/b" "$W/b.log" &
lpid=$!
for _ in $(seq 1 600); do grep -q "^1/3 " "$W/b.log" && break; sleep 0.1; done
mpid=$(grep -o "mpirun pid [0-9]*" "$W/b.log" | awk '{print $3}')
[ -n "$mpid" ] || { echo "FAIL: local.sh printed no mpirun pid: $(tail -5 "$W/b.log")"; kill "$lpid"; exit 1; }
t0=$(date +%s.%N)
kill -TERM "$mpid"
wait "$lpid"; rc=$?
echo "stopped $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s after SIGTERM to mpirun"
grep -E "^stopped on|^local.sh: mpirun exited|checkpoint .* written" "$W/b.log"
check '[ $rc -eq 0 ]' "exit code $rc after SIGTERM to mpirun, expected 0: $(tail -4 "$W/b.log")"
# the stop lands in step 2 (abandoned, or finished when its rest fits within the grace) or step 3
step=$(grep -o "stopped on SIGTERM after step [0-9]*" "$W/b.log" | awk '{print $NF}')
check '[ -n "$step" ] && [ "$step" -lt 3 ]' "no stop before the end: $(tail -3 "$W/b.log")"
check '[ "$(cat "$W/b/checkpoints/latest" 2>/dev/null)" = "$(printf step_%07d.h5 "${step:-0}")" ]' \
  "no checkpoint of step ${step:-?}: $(ls "$W/b/checkpoints" 2>&1 | tr '\n' ' ')"

# c: the same command again resumes and finishes
run_local "$grace" "$W/b" "$W/c.log" || { echo "FAIL: the resumed run: $(tail -5 "$W/c.log")"; exit 1; }
check 'grep -q "resuming .* step ${step:-?}" "$W/c.log"' "the second launch did not resume from step ${step:-?}"
A=$W/a/checkpoints/step_0000003.h5 B=$W/b/checkpoints/step_0000003.h5
for g in /model /optimizer/exp_avg /optimizer/exp_avg_sq; do
  out=$(h5diff "$A" "$B" "$g" "$g" 2>&1); hrc=$?
  check '[ $hrc -eq 0 ]' "the resumed run differs from the uninterrupted run in $g: $(head -5 <<<"$out")"
done
[ $fail -eq 0 ] && echo "SIGTERM-to-mpirun test passed"
exit $fail
