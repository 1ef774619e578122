# Shared by the pretraining tests: the m3ae binary, a phantom dataset made once per build (under a
# lock, since ctest runs tests in parallel), the tiny configuration, and check helpers.
set -u
M3AE=${M3AE_BIN:?}
SRC=${M3AE_SOURCE_DIR:?}
DATA=${M3AE_DATA:-$SRC/../shared/data}
VOCAB=$DATA/vocab/roberta-base
if [ ! -f "$VOCAB/vocab.json" ]; then
  [ -n "${CI:-}" ] && { echo "FAIL: the RoBERTa vocabulary is missing at $VOCAB"; exit 1; }
  echo "SKIPPED: the RoBERTa vocabulary is missing at $VOCAB"; exit 77
fi
CACHE=$(dirname "$M3AE")/test-data
mkdir -p "$CACHE"
TINY_CFG=$SRC/experiments/configs/pretrain_tiny.cfg
MPIRUN=(mpirun --oversubscribe --bind-to none --mca btl self,vader)
[ "$(id -u)" -eq 0 ] && MPIRUN+=(--allow-run-as-root)
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_rmaps_base_oversubscribe=1
# M3AE_TEST_ALLREDUCE=ring|hier|mpi: the gradient all-reduce of a test's runs (ctest registers a test once
# per mode, see CMakeLists.txt); hier splits this machine into 2 "nodes" (M3AE_FAKE_NODES, dist/ring.h).
# Tests pass "${AR[@]}" to m3ae pretrain.
AR=()
if [ -n "${M3AE_TEST_ALLREDUCE:-}" ]; then
  AR=(allreduce="$M3AE_TEST_ALLREDUCE")
  [ "$M3AE_TEST_ALLREDUCE" = hier ] && export M3AE_FAKE_NODES=2
fi
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }

# phantom_data NAME COUNT SEED: a converted phantom dataset (32 px) in $CACHE/NAME
phantom_data() {
  local name=$1 count=$2 seed=$3
  (
    flock 9
    if [ ! -f "$CACHE/$name/manifest.json" ]; then
      rm -rf "$CACHE/$name" "$CACHE/$name.src"
      "$M3AE" phantom --out "$CACHE/$name.src" --count "$count" --seed "$seed" --size 48 >/dev/null &&
      "$M3AE" prep --format jsonl --input "$CACHE/$name.src/captions.jsonl" --out "$CACHE/$name" \
        --store-size 32 --shards 2 >/dev/null 2>&1
    fi
  ) 9>"$CACHE/.lock-$name"
  [ -f "$CACHE/$name/manifest.json" ] || { echo "FAIL: could not build the phantom dataset $name"; exit 1; }
}

# pretrain RUN_DIR [key=value ...]: the tiny model on the phantom data, one process
pretrain() {
  local run=$1; shift
  "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/phantom64" --out "$run" vocab="$VOCAB" "$@"
}

# rank_pid MPIRUN_PID RANK: the pid of that rank's process, a child of this mpirun only (never a
# process of another job on the machine); empty when not (yet) there
rank_pid() {
  local p
  for p in $(pgrep -P "$1"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$p"; return; }
  done
}

# wait_for_line FILE REGEX [TRIES]: polls FILE (0.1 s) until a line matches; 1 when it never does
wait_for_line() {
  local i
  for i in $(seq 1 "${3:-600}"); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
# guard SECONDS 'COMMANDS': runs COMMANDS after SECONDS (a failing test must not hang) unless unguard
# comes first. unguard leaves no process behind: a sleeping guard would hold ctest's output pipe
# open, and the test would take until the sleep ends.
guard() {
  ( trap 'kill $sl 2>/dev/null; exit 0' TERM; sleep "$1" & sl=$!; wait $sl; eval "$2" ) >/dev/null 2>&1 &
  GUARD=$!
}
unguard() { kill "$GUARD" 2>/dev/null; wait "$GUARD" 2>/dev/null; }
