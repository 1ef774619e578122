#!/bin/bash
# A real Slurm controller on localhost: sbatch a 2-task job that runs an MPI program with srun
# --mpi=pmix and with mpirun inside the allocation, plus `m3ae version`; poll squeue until it ends and
# check the job's output. Needs root and `tools/setup.sh --test`; skipped (77) without Slurm unless
# CI is set.
set -u
mpi_prog=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if ! command -v sbatch >/dev/null; then
  [ -n "${CI:-}" ] && { echo "FAIL: Slurm is not installed (run tools/setup.sh --test)"; exit 1; }
  echo "SKIPPED: Slurm is not installed (run tools/setup.sh --test)"; exit 77
fi
bash "$root/tools/slurm_local.sh" start || { echo "FAIL: could not start the local Slurm cluster"; exit 1; }

work=$(mktemp -d /tmp/m3ae-slurm-XXXXXX)
trap 'rm -rf "$work"' EXIT
cat >"$work/job.sbatch" <<JOB
#!/bin/bash
#SBATCH --job-name=m3ae-test
#SBATCH --ntasks=2
#SBATCH --output=$work/out.txt
#SBATCH --time=00:02:00
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
echo "job \$SLURM_JOB_ID on \$SLURM_JOB_NODELIST with \$SLURM_NTASKS tasks"
srun --mpi=pmix "$mpi_prog" || echo "LAUNCH FAILED: srun exit \$?"
mpirun --oversubscribe --bind-to none --mca btl self,vader "$mpi_prog" || echo "LAUNCH FAILED: mpirun exit \$?"
"$M3AE_BIN" version | head -1
echo "job done"
JOB
jobid=$(sbatch --parsable "$work/job.sbatch") || { echo "FAIL: sbatch refused the job"; exit 1; }
echo "submitted job $jobid"
for _ in $(seq 1 120); do
  squeue -h -j "$jobid" 2>/dev/null | grep -q . || break
  sleep 1
done
if squeue -h -j "$jobid" 2>/dev/null | grep -q .; then
  scancel "$jobid"; echo "FAIL: job $jobid did not finish in 120 s"; cat "$work/out.txt" 2>/dev/null; exit 1
fi
sleep 0.5
out=$(cat "$work/out.txt" 2>/dev/null)
echo "$out"
fail=0
[ "$(grep -c "allreduce over 2 ranks: ok" <<<"$out")" -eq 2 ] || { echo "FAIL: expected two successful 2-rank allreduce runs (srun and mpirun)"; fail=1; }
grep -q "LAUNCH FAILED" <<<"$out" && { echo "FAIL: a launcher failed"; fail=1; }
grep -q "^m3ae .*commit" <<<"$out" || { echo "FAIL: m3ae version did not run in the job"; fail=1; }
grep -q "job done" <<<"$out" || { echo "FAIL: the job script did not finish"; fail=1; }
[ $fail -eq 0 ] && echo "slurm test passed"
exit $fail
