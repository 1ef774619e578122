#!/bin/bash
# launch/slurm/pretrain.sbatch on the local Slurm cluster: a 2-rank pretraining job that is sent
# SIGUSR1 (as before a time limit) stops with a checkpoint, requeues itself, resumes from the
# checkpoint after the restart, and finishes (RUN_DIR/finished) with final parameters and AdamW
# moments bitwise identical to an uninterrupted 2-rank run of the same job (h5diff of /model and
# /optimizer of the two step-60 checkpoints).
set -u
src=${M3AE_SOURCE_DIR:?}
data=${M3AE_DATA:-$src/../shared/data}
if ! command -v sbatch >/dev/null; then
  [ -n "${CI:-}" ] && { echo "FAIL: Slurm is not installed (run tools/setup.sh --test)"; exit 1; }
  echo "SKIPPED: Slurm is not installed"; exit 77
fi
[ -f "$data/vocab/roberta-base/vocab.json" ] || { [ -n "${CI:-}" ] && exit 1; echo "SKIPPED: no vocabulary"; exit 77; }
bash "$src/tools/slurm_local.sh" start >/dev/null || { echo "FAIL: could not start the local Slurm cluster"; exit 1; }
W=$(mktemp -d /tmp/m3ae-sbatch-XXXXXX)
job=""
trap '[ -n "$job" ] && scancel "$job" 2>/dev/null; rm -rf "$W"' EXIT
"$M3AE_BIN" phantom --out "$W/src" --count 48 --seed 5 --size 40 >/dev/null &&
  "$M3AE_BIN" prep --format jsonl --input "$W/src/captions.jsonl" --out "$W/data" --store-size 32 >/dev/null 2>&1 ||
  { echo "FAIL: could not make the dataset"; exit 1; }
command -v h5diff >/dev/null || { echo "FAIL: h5diff is missing (hdf5-tools: tools/setup.sh)"; exit 1; }
args=(vocab="$data/vocab/roberta-base" per_gpu_batchsize=4 max_steps=60 ckpt_every=5 log_every=5)
job=$(cd "$W" && M3AE_BIN="$M3AE_BIN" sbatch --parsable --ntasks=2 --output="$W/job.out" --export=ALL \
  "$src/launch/slurm/pretrain.sbatch" "$src/experiments/configs/pretrain_tiny.cfg" "$W/data" "$W/run" \
  "${args[@]}") ||
  { echo "FAIL: sbatch refused the job"; exit 1; }
echo "job $job submitted"
for _ in $(seq 1 600); do [ -f "$W/run/checkpoints/latest" ] && break; sleep 0.2; done
[ -f "$W/run/checkpoints/latest" ] || { echo "FAIL: no checkpoint within 120 s"; cat "$W/job.out"; exit 1; }
scancel --signal=USR1 "$job"    # to the job's tasks, as Slurm does before the time limit
echo "sent SIGUSR1 after $(cat "$W/run/checkpoints/latest")"
for _ in $(seq 1 60); do grep -q "requeueing" "$W/job.out" 2>/dev/null && break; sleep 0.5; done
# Start the requeued job without Slurm's usual delay, but only once it is back in the queue and a
# few seconds after the requeue: slurmd refuses a launch whose credential is not newer than the
# revocation of the old instance's ("Killing non-startable batch job: Job credential revoked"), at a
# granularity of one second; starting it at once made this test flaky under load.
for _ in $(seq 1 60); do [ "$(squeue -h -j "$job" -o %T 2>/dev/null)" = PENDING ] && break; sleep 0.5; done
sleep 3
scontrol update JobId="$job" StartTime=now >/dev/null 2>&1
for _ in $(seq 1 360); do
  [ -f "$W/run/finished" ] && ! squeue -h -j "$job" 2>/dev/null | grep -q . && break
  [ "$(squeue -h -j "$job" -o %T 2>/dev/null)" = PENDING ] && scontrol update JobId="$job" StartTime=now >/dev/null 2>&1
  sleep 0.5
done
out=$(cat "$W/job.out")
echo "$out" | grep -E "m3ae-pretrain|stopped|resuming|finished|error" | head -20
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }
check 'grep -q "stopped on SIGUSR1 after step" <<<"$out"' "the job did not stop on SIGUSR1"
check 'grep -q "requeueing" <<<"$out"' "the job did not requeue itself"
check 'grep -q "restart 1" <<<"$out"' "the job did not restart"
check 'grep -q "resuming .* from .*step_" <<<"$out"' "the restarted job did not resume from the checkpoint"
check '[ "$(cat "$W/run/finished" 2>/dev/null)" = "60" ]' "the run did not finish its 60 steps"
# The uninterrupted run: the same 2-rank job in one go (mpirun, outside Slurm, after the job so
# that it does not slow the signal timing above).
timeout 200 mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader -np 2 \
  "$M3AE_BIN" pretrain --config "$src/experiments/configs/pretrain_tiny.cfg" --data "$W/data" --out "$W/ref" \
  "${args[@]}" >"$W/ref.log" 2>&1 || { echo "FAIL: the uninterrupted run failed"; tail -5 "$W/ref.log"; fail=1; }
A=$W/ref/checkpoints/step_0000060.h5 B=$W/run/checkpoints/step_0000060.h5
if [ -f "$A" ] && [ -f "$B" ]; then
  for g in /model /optimizer; do
    # -q for the verdict: a full report lists every differing float (millions of lines).
    h5diff -q "$A" "$B" "$g" "$g" >/dev/null 2>&1; rc=$?
    if [ $rc -eq 0 ]; then echo "$g: bitwise identical to the uninterrupted run"
    else
      echo "FAIL: $g of the requeued run differs from the uninterrupted run (h5diff exit $rc), first lines:"
      h5diff -r "$A" "$B" "$g" "$g" 2>&1 | head -8; fail=1
    fi
  done
else
  echo "FAIL: a final checkpoint is missing: $(ls "$A" "$B" 2>&1 | tr '\n' ' ')"; fail=1
fi
if [ $fail -ne 0 ]; then
  echo "job state: $(scontrol show job "$job" 2>&1 | grep -oE "(JobState|Reason|Restarts|BeginTime)=[^ ]*" | tr '\n' ' ')"
  echo "job output:"; tail -20 "$W/job.out"
fi
[ $fail -eq 0 ] && echo "sbatch pretraining test passed" && job=""
exit $fail
