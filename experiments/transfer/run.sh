#!/bin/bash
# The transfer experiment (issue 12): does pretraining on MedPix help VQA-RAD at this scale?
#   1. prepare MedPix-2.0 train/dev (m3ae prep --format jsonl) and VQA-RAD trainset.json split by
#      image into train (80 %) and heldout (20 %) (m3ae prep --format vqa-rad --holdout 0.2);
#   2. pretrain `small` from scratch on MedPix train (experiments/configs/pretrain_medpix_small.cfg),
#      one run;
#   3. fine-tune on the VQA-RAD train part (experiments/configs/finetune_vqa_rad_small.cfg) from
#      that pretraining (--init-from) and from random initialisation, each with --seeds;
#   4. evaluate every fine-tuned model on the heldout part (m3ae evaluate --task vqa --json) and
#      write results/table.md with summarize.py (mean, spread, and the majority-answer baselines).
#
#   experiments/transfer/run.sh [--pretrain-steps N] [--finetune-steps N] [--seeds "0 1 2"]
#                               [--threads T] [--work DIR] [--results DIR]
#   --pretrain-steps  pretraining steps (default: the config's max_steps)
#   --finetune-steps  fine-tuning steps per run (default: the config's max_steps)
#   --seeds           fine-tuning seeds, each for both arms (default "0 1 2")
#   --threads         compute threads per run (default 2)
#   --work            data and run folders (default experiments/transfer/out, not committed)
#   --results         the JSON results, logs' timings and table.md (default experiments/transfer/results)
#
# Resumable: a prepared folder (manifest.json), a finished run (its `finished` marker) and an
# evaluated run (results/<run>.json) are skipped; an interrupted run resumes from its checkpoints
# (the trainer resumes a run folder that holds some). Runs go one after another, never two at once.
# Exits non-zero, naming the step and its log, as soon as any command fails.
# Environment: M3AE_BIN (default build/m3ae), M3AE_DATA (default ../shared/data), NICE (default 5).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
m3ae=${M3AE_BIN:-$root/build/m3ae}
data_root=${M3AE_DATA:-$root/../shared/data}
nice_level=${NICE:-5}
pt_cfg=$root/experiments/configs/pretrain_medpix_small.cfg
ft_cfg=$root/experiments/configs/finetune_vqa_rad_small.cfg
pt_steps="" ft_steps="" seeds="0 1 2" threads=2 work=$here/out results=$here/results
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    --pretrain-steps) pt_steps=$2; shift 2 ;;
    --finetune-steps) ft_steps=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$m3ae" ] || { echo "run.sh: $m3ae not built (tools/build.sh, or set M3AE_BIN)" >&2; exit 2; }
for f in medpix2/train.jsonl medpix2/dev.jsonl vqa_rad/trainset.json vocab/roberta-base/vocab.json; do
  [ -f "$data_root/$f" ] || { echo "run.sh: $data_root/$f missing (set M3AE_DATA to the shared data folder)" >&2; exit 2; }
done
cfg_steps() { sed -n 's/^max_steps *= *\([0-9]*\).*/\1/p' "$1"; }
[ -n "$pt_steps" ] || pt_steps=$(cfg_steps "$pt_cfg")
[ -n "$ft_steps" ] || ft_steps=$(cfg_steps "$ft_cfg")
[ -n "$pt_steps" ] && [ -n "$ft_steps" ] || { echo "run.sh: no max_steps in the configs" >&2; exit 2; }
mkdir -p "$work" "$results"
work=$(cd "$work" && pwd) results=$(cd "$results" && pwd)
vocab=$data_root/vocab/roberta-base
data=$work/data runs=$work/runs logs=$work/logs
mkdir -p "$data" "$runs" "$logs"
# the runs' wall times, one "name seconds" line each (read by summarize.py)
times=$results/times.txt
touch "$times"

# step NAME LOG COMMAND...: runs one command niced, its output in LOG; fails loudly.
step() {
  local name=$1 log=$2; shift 2
  echo "run.sh: [$name] $(date -u +%H:%M:%S) $*" | tee -a "$logs/commands.txt"
  local t0=$SECONDS
  if ! nice -n "$nice_level" "$@" >"$log" 2>&1; then
    echo "run.sh: [$name] FAILED (exit status above 0); the last lines of $log:" >&2
    tail -15 "$log" >&2
    exit 1
  fi
  local dt=$((SECONDS - t0))
  echo "$name $dt" >>"$times"
  echo "run.sh: [$name] done in ${dt}s"
}

# 1. data (store 160 px: the small model trains at 128 px)
prep() {  # NAME ARGS...
  local name=$1; shift
  if [ -f "$data/$name/manifest.json" ]; then echo "run.sh: [prep $name] already prepared"; return; fi
  rm -rf "$data/$name"
  step "prep_$name" "$logs/prep_$name.log" "$m3ae" prep "$@" --out "$data/$name" --store-size 160 --threads "$threads"
}
# MedPix captions shorter than 3 words ("pelvis", "IN PROGRESS") are rejected by the default
# --min-words 3: 60 of the 1,636 training images (3.7 %), hence --max-reject 10%.
prep medpix_train --format jsonl --input "$data_root/medpix2/train.jsonl" --max-reject 10%
prep medpix_dev --format jsonl --input "$data_root/medpix2/dev.jsonl" --max-reject 10%
prep vqarad_train --format vqa-rad --input "$data_root/vqa_rad/trainset.json" --images "$data_root/vqa_rad/images" \
  --holdout 0.2
prep vqarad_heldout --format vqa-rad --input "$data_root/vqa_rad/trainset.json" --images "$data_root/vqa_rad/images" \
  --holdout 0.2 --split heldout --answer-vocab "$data/vqarad_train"

# the final checkpoint of a finished run folder
final_ckpt() {
  local f
  f=$(ls "$1"/checkpoints/step_*.h5 2>/dev/null | sort | tail -1)
  [ -n "$f" ] || { echo "run.sh: no checkpoint in $1/checkpoints" >&2; exit 1; }
  echo "$f"
}

# 2. pretraining (one run)
pt=$runs/pretrain
if [ -f "$pt/finished" ]; then echo "run.sh: [pretrain] already finished"; else
  step pretrain "$logs/pretrain.log" "$m3ae" pretrain --config "$pt_cfg" --data "$data/medpix_train" \
    --val-data "$data/medpix_dev" --out "$pt" vocab="$vocab" max_steps="$pt_steps" threads="$threads"
fi
[ -f "$pt/finished" ] || { echo "run.sh: [pretrain] ended without its finished marker (see $logs/pretrain.log)" >&2; exit 1; }
pt_ckpt=$(final_ckpt "$pt")

# 3. and 4. fine-tuning and evaluation, both arms per seed
for seed in $seeds; do
  for arm in pretrained scratch; do
    name=${arm}_seed$seed
    rd=$runs/$name
    if [ -f "$rd/finished" ]; then echo "run.sh: [$name] already finished"; else
      init=()
      [ "$arm" = pretrained ] && init=(--init-from "$pt_ckpt")
      step "$name" "$logs/$name.log" "$m3ae" finetune --task vqa --config "$ft_cfg" "${init[@]}" \
        --data "$data/vqarad_train" --out "$rd" vocab="$vocab" max_steps="$ft_steps" seed="$seed" threads="$threads"
    fi
    [ -f "$rd/finished" ] || { echo "run.sh: [$name] ended without its finished marker (see $logs/$name.log)" >&2; exit 1; }
    if [ -f "$results/$name.json" ]; then echo "run.sh: [eval $name] already evaluated"; else
      step "eval_$name" "$logs/eval_$name.log" "$m3ae" evaluate --task vqa --checkpoint "$(final_ckpt "$rd")" \
        --data "$data/vqarad_heldout" --json "$results/$name.json.tmp" vocab="$vocab" threads="$threads"
      mv "$results/$name.json.tmp" "$results/$name.json"
    fi
  done
done

# the runs' training metrics next to the results (small; the checkpoints stay in --work)
for d in "$runs"/*/; do
  n=$(basename "$d")
  cp "$d/metrics.jsonl" "$results/metrics_$n.jsonl"
done
cp "$logs/commands.txt" "$results/commands.txt"

/usr/bin/python3 "$here/summarize.py" --results "$results" --train "$data/vqarad_train" \
  --heldout "$data/vqarad_heldout" --out "$results/table.md" ||
  { echo "run.sh: summarize.py failed" >&2; exit 1; }
echo "run.sh: table in $results/table.md"
cat "$results/table.md"
