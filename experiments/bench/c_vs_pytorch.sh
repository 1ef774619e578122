#!/bin/bash
# One pretraining step, C (`m3ae bench step`) against the PyTorch reference
# (experiments/bench/pytorch_step.py), run alternately ROUNDS times each (C, PyTorch, C, ...) with
# OMP_WAIT_POLICY=passive for both, and one markdown table row per configuration: the median of the
# runs' medians on each side, their ratio, and the load average read before each run.
#   experiments/bench/c_vs_pytorch.sh [--rounds R] [--steps S] [--warmup W] CONFIG:BATCH:THREADS ...
#   e.g. experiments/bench/c_vs_pytorch.sh --rounds 3 small:8:2 small:16:2 base:1:2
# Needs build/m3ae (tools/build.sh) and torch for the python3 on the PATH (`pip install torch numpy`).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=3 steps=5 warmup=1 cases=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *:*:*) cases+=("$1"); shift ;;
    *) echo "c_vs_pytorch: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#cases[@]} -gt 0 ] || cases=(small:8:2)
[ -x build/m3ae ] || { echo "c_vs_pytorch: build/m3ae is missing: run tools/build.sh first" >&2; exit 2; }
python3 -c "import torch" 2>/dev/null || { echo "c_vs_pytorch: torch is missing for $(command -v python3): pip install torch numpy" >&2; exit 2; }
export OMP_WAIT_POLICY=passive
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
load() { cut -d' ' -f1 /proc/loadavg; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "each run: --steps $steps --warmup $warmup; $rounds runs per side, alternating"
echo
echo "| config | batch | threads | C ms/step (each run) | PyTorch ms/step (each run) | C median | PyTorch median | PyTorch / C | load avg |"
echo "|---|---|---|---|---|---|---|---|---|"
for c in "${cases[@]}"; do
  IFS=: read -r cfg batch threads <<<"$c"
  cs=() ps=() loads=()
  for r in $(seq 1 "$rounds"); do
    loads+=("$(load)")
    cs+=("$(build/m3ae bench step --config "$cfg" --batch "$batch" --threads "$threads" --steps "$steps" --warmup "$warmup" |
            awk -F'|' -v c="$cfg" '$2 ~ " "c" " {gsub(/ /, "", $6); print $6}')")
    loads+=("$(load)")
    ps+=("$(python3 experiments/bench/pytorch_step.py --config "$cfg" --batch "$batch" --threads "$threads" --steps "$steps" \
            --warmup "$warmup" | grep -o 'ms/step=[0-9.]*' | cut -d= -f2)")
  done
  cm=$(printf '%s\n' "${cs[@]}" | median) pm=$(printf '%s\n' "${ps[@]}" | median)
  lo=$(printf '%s\n' "${loads[@]}" | sort -g | head -1) hi=$(printf '%s\n' "${loads[@]}" | sort -g | tail -1)
  printf '| %s | %s | %s | %s | %s | %.1f | %.1f | %.2f | %s-%s |\n' "$cfg" "$batch" "$threads" "${cs[*]}" "${ps[*]}" \
    "$cm" "$pm" "$(echo "$pm / $cm" | bc -l)" "$lo" "$hi"
done
