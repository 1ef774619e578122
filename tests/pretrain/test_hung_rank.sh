#!/bin/bash
# A hung rank (SIGSTOP of its process during training) with watchdog_s = 5: the watchdog of another
# rank ends the job with "rank R: step S hung for T s while waiting for <what> (rank P did not
# arrive)", the first such line naming the stopped rank, and a non-zero exit (5), within watchdog_s + 10 s, at 2 and 3
# ranks. (Without the watchdog such a job hangs until something kills it: Open MPI sees no failure.)
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-hungrank-XXXXXX); trap 'rm -rf "$W"' EXIT
WD=5
for case in "2 1 $WD" "3 0 $WD" "3 2 $WD"; do
  set -- $case; np=$1; victim=$2; wd=$3; log="$W/np$np-r$victim-wd$wd.log"
  "${MPIRUN[@]}" -np $np "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/phantom64" --out "$W/run-$np-$victim-$wd" \
    vocab="$VOCAB" max_steps=100000 ckpt_every=0 log_every=5 per_gpu_batchsize=2 batch_size=$((2 * np)) \
    watchdog_s=$wd "${AR[@]}" >"$log" 2>&1 &
  mp=$!
  wait_for_line "$log" "^5/" 1800 || { echo "FAIL: $np ranks: training did not start"; tail -5 "$log"; kill $mp; exit 1; }
  pid=$(rank_pid $mp $victim)
  [ -n "$pid" ] || { echo "FAIL: $np ranks: no process of rank $victim under mpirun $mp"; kill $mp; exit 1; }
  sleep 0.$((RANDOM % 10)) # anywhere in a step
  t0=$(date +%s.%N)
  kill -STOP "$pid"
  limit=$((WD + 10))
  guard $limit "kill -CONT $pid; kill -TERM $mp; sleep 5; kill -9 $mp"
  wait $mp; rc=$?
  t=$(echo "$(date +%s.%N) - $t0" | bc)
  unguard
  echo "$np ranks, rank $victim stopped, watchdog_s = $wd: the job ended after $t s with exit code $rc"
  check '[ $rc -eq 5 ]' "$np ranks: exit code $rc after rank $victim hung (expected 5: the watchdog's MPI_Abort)"
  check '[ $(echo "$t < $limit" | bc) -eq 1 ]' "$np ranks: the job took $t s (over watchdog_s + 10 = $limit s) to end after rank $victim hung"
  # the first rank to report names the stopped one (in a ring the peer a rank waits for may itself be
  # waiting for the stopped rank: the node's heartbeats say which rank did not run); later lines come
  # after the abort woke the stopped rank and may name anyone
  first=$(grep -m1 -E "rank [0-9]+: step [0-9]+ hung for [0-9]+ s while waiting for .+ \(rank [0-9]+ did not arrive\)" "$log")
  check 'echo "$first" | grep -qE "\(rank $victim did not arrive\)"' \
    "$np ranks: the first watchdog diagnostic does not name rank $victim: $(grep -E "hung|error" "$log" | head -5)"
  grep -E "hung for" "$log" | head -3 | cut -c1-200
done
[ $fail -eq 0 ] && echo "hung-rank test passed"
exit $fail
