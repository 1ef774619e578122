#!/bin/bash
# One run folder, one job: while a run holds RUN_DIR/.lock (flock, rank 0, for the whole run), a
# second `m3ae pretrain` on the same --out refuses at once with exit 2, naming the holder's host and
# pid; the first run goes on unharmed (exit 0, finished, its checkpoint verifies) and the folder can
# be used again afterwards.
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-lock-XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$W"' EXIT
(exec "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/phantom64" --out "$W/run" vocab="$VOCAB" \
  max_steps=150 ckpt_every=50 log_every=1 >"$W/a.log" 2>&1) &
pid=$!
for _ in $(seq 600); do grep -q "^2/150" "$W/a.log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null || { echo "FAIL: the first run ended early: $(tail -3 "$W/a.log")"; exit 1; }
t0=$SECONDS
out=$(pretrain "$W/run" max_steps=150 ckpt_every=50 2>&1); rc=$?
running=0; kill -0 $pid 2>/dev/null && running=1
check '[ $rc -eq 2 ] && grep -q "in use by another job" <<<"$out" && grep -q "host $(hostname)" <<<"$out" && grep -q "pid $pid" <<<"$out"' \
  "the second job: exit $rc (expected 2, naming host $(hostname) pid $pid): $(grep -e error -e resum <<<"$out" | head -3)"
check '[ $running -eq 1 ] && [ $((SECONDS - t0)) -le 20 ]' "the refusal was not immediate while the first run was going"
wait $pid; rc=$?; pid=
check '[ $rc -eq 0 ] && [ -f "$W/run/finished" ]' "the first run: exit $rc: $(tail -3 "$W/a.log")"
check '"$M3AE" ckpt verify "$W/run/checkpoints/$(cat "$W/run/checkpoints/latest")" >/dev/null 2>&1' "the first run's checkpoint does not verify"
check '[ "$(grep -c "written" "$W/a.log")" -eq 3 ]' "the first run's log: $(grep written "$W/a.log")"
out=$(pretrain "$W/run" max_steps=151 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "resuming .* step 150" <<<"$out"' "after the first run the folder is free: exit $rc: $(tail -2 <<<"$out")"
[ $fail -eq 0 ] && echo "run folder lock test passed"
exit $fail
