#!/bin/bash
# One ITM-escape probe: the demo's 2-rank run on the demo's phantom corpora with extra key=value
# overrides.  Usage: experiments/demo/probe.sh NAME key=value...   (results in runs/probe/NAME)
# Run tools/demo.sh once first (it draws the corpora in runs/phantom-{train,val}).
set -uo pipefail
cd "$(dirname "$0")/../.."
[ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ] || [ $# -lt 1 ] && { sed -n '2,4p' "$0"; exit 0; }
name=$1; shift
cfg=${CFG:-experiments/configs/pretrain_small.cfg}
out=runs/probe/$name
rm -rf "$out"; mkdir -p runs/probe
mpi=(mpirun -np 2 --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
start=$(date +%s)
OMPI_MCA_mpi_yield_when_idle=1 nice -n 5 "${mpi[@]}" ./build/m3ae pretrain --config "$cfg" \
  --data runs/phantom-train --val-data runs/phantom-val --out "$out" vocab=${M3AE_DATA:-../shared/data}/vocab/roberta-base "$@" \
  > "$out.log" 2>&1
rc=$?
echo "probe $name rc=$rc wall=$(( $(date +%s) - start ))s load=$(cut -d' ' -f1-3 /proc/loadavg) args: $*"
grep '"val"' "$out/metrics.jsonl" | sed 's/.*"step": \([0-9]*\).*"val_itm_acc": \([0-9.]*\).*"val_itm_loss": \([0-9.]*\).*/  val step \1 itm_acc \2 itm_loss \3/'
