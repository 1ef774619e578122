#!/bin/bash
# Weak and strong scaling of `m3ae pretrain` on the machine at hand: 1, 2 and 4 ranks on this node
# and 2 simulated nodes x 2 ranks (netns_cluster.sh), on phantom data, plus `m3ae bench allreduce`
# at each layout, written as a markdown table.
#   experiments/scaling/run.sh [--preset tiny|small] [--steps N] [--micro B] [--strong-batch G]
#                              [--link RATE,DELAY] [--no-cluster] [--cluster-only] [--comm-only]
#                              [--out DIR]
#   --preset     model size (default tiny: minutes on 2 cores; small is the README demo model)
#   --steps      training steps per run (default 30; the first logged interval is dropped as warm-up)
#   --micro      weak scaling: the micro-batch per rank (default 8), global batch = ranks x micro
#   --strong-batch  strong scaling: the global batch (default 16), micro-batch = batch / ranks
#   --link       the simulated cluster's links (default 1gbit,0.5ms; see netns_cluster.sh)
#   --no-cluster skip the namespace cluster (it needs root)
#   --cluster-only  only the namespace cluster (no 1, 2, 4-rank layouts on this node)
#   --comm-only  only the communication measurements (bench allreduce, and on the cluster the
#                link exchanges) and the cost model; no pretraining
#   --out        results folder (default experiments/scaling/results); writes scaling.md, the runs'
#                logs and metrics, allreduce_<layout>.json, pingpong_{inter,intra}.json (exchanges
#                measured on the cluster) and cost_model.md (experiments/scaling/cost_model.py on those)
# Columns: samples/s is the mean of the logged training intervals after the first; efficiency is
# samples/s / (ranks x samples/s at 1 rank) for the same kind of scaling; busbw is the ring's (else
# MPI_Allreduce's) bus bandwidth from `m3ae bench allreduce` at the size nearest the gradient
# arena; exposed comm % is comm_ms / step_ms of metrics.jsonl (n/a when the trainer does not log
# them). These are measurements of this machine: the integrator re-measures on a quiet one.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
m3ae=${M3AE_BIN:-$root/build/m3ae}
data_root=${M3AE_DATA:-$root/../shared/data}
preset=tiny steps=30 micro=8 strong=16 link=1gbit,0.5ms cluster=1 comm_only=0 only_cluster=0 out=$here/results
pingpong=${M3AE_PINGPONG:-$(dirname "$m3ae")/tests/mpi/mpi_pingpong}
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    --preset) preset=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --micro) micro=$2; shift 2 ;;
    --strong-batch) strong=$2; shift 2 ;;
    --link) link=$2; shift 2 ;;
    --no-cluster) cluster=0; shift ;;
    --comm-only) comm_only=1; shift ;;
    --cluster-only) only_cluster=1; shift ;;
    --out) out=$2; shift 2 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$m3ae" ] || { echo "run.sh: $m3ae not built (tools/build.sh, or set M3AE_BIN)" >&2; exit 2; }
[ -f "$data_root/vocab/roberta-base/vocab.json" ] || { echo "run.sh: no vocabulary in $data_root/vocab (set M3AE_DATA)" >&2; exit 2; }
case "$preset" in tiny) cfg=$root/experiments/configs/pretrain_tiny.cfg size=40 store=32 ;;
                  small) cfg=$root/experiments/configs/pretrain_small.cfg size=160 store=128 ;;
                  *) echo "run.sh: --preset $preset: tiny or small" >&2; exit 2 ;; esac
[ $((strong % 4)) -eq 0 ] || { echo "run.sh: --strong-batch $strong must divide by 4 ranks" >&2; exit 2; }
if [ $cluster -eq 1 ] && ! ip netns list >/dev/null 2>&1; then
  echo "run.sh: ip netns not permitted here: skipping the namespace cluster" >&2; cluster=0
fi
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 5   # absolute: the ranks on the cluster nodes write there
W=$(mktemp -d /tmp/m3ae-scaling-XXXXXX)
trap 'rm -rf "$W"' EXIT
export OMPI_MCA_mpi_yield_when_idle=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
local_mpirun=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca pml ob1 --mca btl self,vader)

echo "run.sh: phantom data ($preset, 96 samples)"
"$m3ae" phantom --out "$W/src" --count 96 --seed 7 --size "$size" >/dev/null &&
  "$m3ae" prep --format jsonl --input "$W/src/captions.jsonl" --out "$W/data" --store-size "$store" >"$W/prep.log" 2>&1 ||
  { echo "run.sh: could not make the phantom data:" >&2; tail -5 "$W/prep.log" >&2; exit 1; }

have_bench=0
"$m3ae" bench allreduce --help >/dev/null 2>&1 && have_bench=1
[ $have_bench -eq 1 ] || echo "run.sh: this m3ae has no 'bench allreduce': busbw is n/a" >&2

# One layout: NAME RANKS NODES LAUNCHER... ; runs the bench, then weak and strong pretraining.
layout() {
  local name=$1 ranks=$2 nodes=$3; shift 3
  local launch=("$@")
  if [ $have_bench -eq 1 ] && [ "$ranks" -gt 1 ]; then
    echo "run.sh: [$name] m3ae bench allreduce"
    "${launch[@]}" -np "$ranks" "$m3ae" bench allreduce --min 1K --max 64M --json "$out/allreduce_$name.json" \
      >"$out/allreduce_$name.txt" 2>&1 || echo "run.sh: [$name] bench allreduce failed (see $out/allreduce_$name.txt)" >&2
  fi
  if [ "$nodes" -gt 1 ] && [ -x "$pingpong" ]; then
    # --exchange: both ends send at once, as in a ring step (the link carries data both ways)
    echo "run.sh: [$name] exchanges between the nodes (rank 0 - rank $((ranks / nodes))) and inside node 0"
    "${launch[@]}" -np "$ranks" "$pingpong" --exchange --peer $((ranks / nodes)) --min 8 --max 16M --json "$out/pingpong_inter.json" \
      >"$out/pingpong_inter.txt" 2>&1 || echo "run.sh: [$name] ping-pong failed (see $out/pingpong_inter.txt)" >&2
    "${launch[@]}" -np "$ranks" "$pingpong" --exchange --peer 1 --min 8 --max 16M --json "$out/pingpong_intra.json" \
      >"$out/pingpong_intra.txt" 2>&1 || echo "run.sh: [$name] ping-pong failed (see $out/pingpong_intra.txt)" >&2
  fi
  [ "$comm_only" -eq 1 ] && return 0
  local kind pgb gb
  for kind in weak strong; do
    if [ $kind = weak ]; then pgb=$micro gb=$((micro * ranks)); else gb=$strong pgb=$((strong / ranks)); fi
    echo "run.sh: [$name] $kind scaling: $ranks ranks, global batch $gb, micro-batch $pgb"
    local run=$W/run_${name}_$kind
    "${launch[@]}" -np "$ranks" "$m3ae" pretrain --config "$cfg" --data "$W/data" --out "$run" \
      vocab="$data_root/vocab/roberta-base" batch_size="$gb" per_gpu_batchsize="$pgb" max_steps="$steps" \
      warmup_steps=2 log_every=5 ckpt_every=0 val_every=0 >"$out/pretrain_${name}_$kind.log" 2>&1 ||
      { echo "run.sh: [$name] $kind run failed (see $out/pretrain_${name}_$kind.log)" >&2; continue; }
    cp "$run/metrics.jsonl" "$out/metrics_${name}_$kind.jsonl"
    echo "$name $ranks $nodes $kind $gb $out/metrics_${name}_$kind.jsonl" >>"$W/runs.txt"
  done
}

if [ $only_cluster -eq 0 ]; then
  layout r1 1 1 "${local_mpirun[@]}"
  layout r2 2 1 "${local_mpirun[@]}"
  layout r4 4 1 "${local_mpirun[@]}"
fi
if [ $cluster -eq 1 ]; then
  # The cluster runs this same function inside `netns_cluster.sh run`, with its mpirun.
  export -f layout
  export m3ae cfg data_root steps micro strong out have_bench W pingpong comm_only
  "$here/netns_cluster.sh" --nodes 2 --slots 2 --link "$link" run -- \
    bash -c 'layout ns2x2 4 2 "$M3AE_NETNS_MPIRUN"' ||
    echo "run.sh: the namespace cluster run failed" >&2
fi

if [ -s "$out/pingpong_inter.json" ]; then
  cm=(--inter "$out/pingpong_inter.json" --intra "$out/pingpong_intra.json" --nodes 2 --per-node 2 --out "$out/cost_model.md")
  [ -s "$out/allreduce_ns2x2.json" ] && cm+=(--allreduce "$out/allreduce_ns2x2.json")
  /usr/bin/python3 "$here/cost_model.py" "${cm[@]}" && echo "run.sh: wrote $out/cost_model.md" ||
    echo "run.sh: cost_model.py failed" >&2
fi
[ "$comm_only" -eq 1 ] && exit 0
[ -s "$W/runs.txt" ] || { echo "run.sh: no run finished" >&2; exit 1; }
/usr/bin/python3 - "$W/runs.txt" "$out" "$preset" "$steps" "$link" "$(nproc --all)" >"$out/scaling.md" <<'PY' || exit 1
import json, os, statistics, sys
runs_txt, out, preset, steps, link, cores = sys.argv[1:]

def rows(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]

def bench_busbw(name, grad_bytes):
    path = os.path.join(out, "allreduce_%s.json" % name)
    if not os.path.exists(path):
        return "n/a"
    text = open(path).read().strip()
    data = json.loads(text) if text.startswith("[") else [json.loads(l) for l in text.splitlines() if l.strip()]
    if isinstance(data, dict):
        data = data.get("rows", [])
    for algo in ("ring", "hier", "mpi"):
        r = [d for d in data if d.get("algo") == algo]
        if r:
            best = min(r, key=lambda d: abs(d["bytes"] - grad_bytes))
            return "%.2f (%s, %s)" % (best["busbw_gbs"], algo, human(best["bytes"]))
    return "n/a"

def human(b):
    for u in ("B", "KiB", "MiB", "GiB"):
        if b < 1024 or u == "GiB":
            return "%g %s" % (round(b, 1), u)
        b /= 1024.0

def grad_bytes(log):
    for line in open(log):
        if line.strip().startswith("gradients"):
            v, u = line.split()[1:3]
            return float(v) * {"KiB": 1024, "MiB": 1 << 20, "GiB": 1 << 30}.get(u, 1)
    return 0

runs = [l.split() for l in open(runs_txt) if l.strip()]
base = {}
table = []
for name, ranks, nodes, kind, gb, metrics in runs:
    ranks, nodes = int(ranks), int(nodes)
    train = [r for r in rows(metrics) if r.get("split") == "train"]
    sps = [r["samples_per_s"] for r in train[1:]] or [r["samples_per_s"] for r in train]
    s = statistics.mean(sps)
    if ranks == 1:
        base[kind] = s
    exp = [r["comm_ms"] / r["step_ms"] for r in train[1:] if "comm_ms" in r and r.get("step_ms")]
    log = os.path.join(out, "pretrain_%s_%s.log" % (name, kind))
    table.append((kind, name, ranks, nodes, int(gb), s, exp, bench_busbw(name, grad_bytes(log))))
print("# Scaling of `m3ae pretrain` on this machine (measured)\n")
print("preset `%s`, %s steps per run (first logged interval dropped), %s cores; the namespace cluster's "
      "links: %s (experiments/scaling/netns_cluster.sh). Written by experiments/scaling/run.sh.\n"
      % (preset, steps, cores, link))
print("| scaling | layout | ranks | nodes | global batch | samples/s | efficiency | busbw GB/s (algo, size) | exposed comm % |")
print("|---|---|---:|---:|---:|---:|---:|---|---:|")
for kind, name, ranks, nodes, gb, s, exp, bw in table:
    eff = "%.0f %%" % (100 * s / (ranks * base[kind])) if kind in base else "n/a"
    e = "%.1f" % (100 * statistics.mean(exp)) if exp else "n/a"
    print("| %s | %s | %d | %d | %d | %.1f | %s | %s | %s |" % (kind, name, ranks, nodes, gb, s, eff, bw, e))
print("\nEfficiency = samples/s / (ranks x samples/s of 1 rank). With more ranks than cores (%s) the ranks "
      "share cores, so efficiency here measures the machine's oversubscription as much as the "
      "communication; the cost model (cost_model.md) separates the two." % cores)
PY
cat "$out/scaling.md"
