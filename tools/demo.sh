#!/bin/bash
# The README's main command: a short pretraining run that shows M3AE learning on a 2-core machine.
#  1. installs the Debian packages that are missing (with python3-matplotlib for the plot) and builds
#     m3ae in build/,
#  2. draws the phantom corpus (synthetic CT/MRI scans with 0-2 lesions and captions that state
#     them: 4,000 for training, 256 for validation) and converts it with `m3ae prep`,
#  3. pretrains the `small` model from scratch (experiments/configs/pretrain_small.cfg) on 2 MPI
#     ranks, printing the metrics table, validating and writing checkpoints to runs/demo/,
#  4. draws the loss and accuracy curves to runs/demo/curves.png.
# Run it again to continue (a finished run says so); `rm -rf runs/demo` starts over.
# Options: RANKS=N (default 2), STEPS=N (default from the config), RUN=DIR (default runs/demo).
set -uo pipefail
case "${1:-}" in -h|--help) sed -n '2,11p' "$0"; exit 0 ;; esac
cd "$(dirname "$0")/.."
bash tools/setup.sh --demo || exit 5
bash tools/build.sh || exit 1
m3ae=./build/m3ae
run=${RUN:-runs/demo}
ranks=${RANKS:-2}
data=${M3AE_DATA:-../shared/data}
vocab=$data/vocab/roberta-base
[ -f "$vocab/vocab.json" ] || { echo "demo: the RoBERTa vocabulary is missing at $vocab (set M3AE_DATA)" >&2; exit 3; }
mkdir -p runs

corpus() { # corpus NAME COUNT SEED
  [ -f "runs/$1/manifest.json" ] && return 0
  rm -rf "runs/$1" "runs/$1.src"
  $m3ae phantom --out "runs/$1.src" --count "$2" --seed "$3" --size 128 || exit $?
  $m3ae prep --format jsonl --input "runs/$1.src/captions.jsonl" --out "runs/$1" --store-size 128 --shards 2 || exit $?
}
echo "== phantom corpus"
corpus phantom-train 4000 1
corpus phantom-val 256 2

echo "== pretraining the small model on $ranks MPI ranks (results in $run)"
mpi=(mpirun -np "$ranks" --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
extra=()
[ -n "${STEPS:-}" ] && extra+=("max_steps=$STEPS")
OMPI_MCA_mpi_yield_when_idle=1 "${mpi[@]}" $m3ae pretrain --config experiments/configs/pretrain_small.cfg \
  --data runs/phantom-train --val-data runs/phantom-val --out "$run" vocab="$vocab" "${extra[@]}" || exit $?

echo "== curves"
/usr/bin/python3 tools/plot_metrics.py "$run" --out "$run/curves.png" || exit $?
echo "demo: checkpoints in $run/checkpoints (m3ae ckpt inspect $run/checkpoints/\$(cat $run/checkpoints/latest))"
