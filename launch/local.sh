#!/bin/bash
# Pretraining on one machine under mpirun, with stops that keep a checkpoint.
#   launch/local.sh [-n RANKS] [--grace SECONDS] CONFIG DATA RUN_DIR [key=value | m3ae pretrain option ...]
# Run `launch/local.sh --help` for what the stop keys do.
set -u

usage() {
  cat <<'EOF'
usage: launch/local.sh [-n RANKS] [--grace SECONDS] CONFIG DATA RUN_DIR [key=value ...] [--val-data DIR]
                       [--init-from FILE]

Runs `m3ae pretrain --config CONFIG --data DATA --out RUN_DIR ...` on RANKS ranks of this machine
(default 1) under Open MPI's mpirun, with the flags one machine needs (--bind-to none: each rank runs
its own `threads`; shared-memory transport; --allow-run-as-root as root; --oversubscribe when RANKS
exceeds the cores). Every argument after RUN_DIR goes to m3ae pretrain unchanged.

Stopping (the run folder keeps a checkpoint; run the SAME command again to resume from it):
  Ctrl-C, or SIGTERM / SIGINT / SIGHUP to this script (its pid is printed at the start):
      the first one becomes SIGUSR1 to mpirun, which Open MPI forwards to the ranks at once and
      without a deadline: they write the checkpoint of the last finished step (a long step in
      progress is abandoned and redone on resume) and exit 0.
      The second one is SIGTERM to mpirun: Open MPI's own shutdown (below), at most 2 x grace.
      The third one ends the job at once (SIGKILL to mpirun and the ranks), without a checkpoint.
  SIGTERM or SIGINT to mpirun itself (e.g. `kill MPIRUN_PID`, a system shutdown): Open MPI sends the
      ranks SIGCONT at once, SIGTERM `grace` seconds later and SIGKILL another `grace` seconds later
      (its MCA parameter odls_base_sigkill_timeout; Open MPI's default of 1 s is too short for a
      checkpoint of a large model). The ranks stop on that SIGTERM, so the checkpoint has `grace` s.

Options:
  -n RANKS           ranks (processes) on this machine (default 1)
  --grace SECONDS    odls_base_sigkill_timeout (default: $M3AE_GRACE_S, else 60); also given to the ranks
                     as M3AE_STOP_GRACE_S, so that a stop finishes a step in progress that fits well
                     within it instead of abandoning it
  -h, --help         this text

Environment: M3AE_BIN (the m3ae binary; default: build/m3ae of this checkout, else m3ae on PATH),
M3AE_MPIRUN (default mpirun), M3AE_MPIRUN_FLAGS (more mpirun flags, split at spaces).
Exit code: m3ae's (0: finished, or stopped with a checkpoint; RUN_DIR/finished tells which). mpirun
exits 1 when it was signalled itself even though the ranks stopped cleanly: then RUN_DIR/stopped
(written by m3ae on a clean stop) makes it 0.
EOF
}

ranks=1 grace=${M3AE_GRACE_S:-60}
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    -n) [ $# -ge 2 ] || { echo "local.sh: -n needs a number of ranks (see --help)" >&2; exit 2; }
        ranks=$2; shift 2 ;;
    --grace) [ $# -ge 2 ] || { echo "local.sh: --grace needs seconds (see --help)" >&2; exit 2; }
        grace=$2; shift 2 ;;
    --) shift; break ;;
    -*) echo "local.sh: unknown option '$1' before CONFIG (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ $# -lt 3 ]; then
  echo "local.sh: needs CONFIG DATA RUN_DIR (see --help)" >&2
  exit 2
fi
[[ $ranks =~ ^[1-9][0-9]*$ ]] || { echo "local.sh: -n '$ranks' is not a positive number of ranks" >&2; exit 2; }
[[ $grace =~ ^[1-9][0-9]*$ ]] ||
  { echo "local.sh: grace '$grace' is not a positive whole number of seconds (Open MPI takes an integer)" >&2; exit 2; }
config=$1 data=$2 run=$3
shift 3

here=$(cd "$(dirname "$0")/.." && pwd)
m3ae=${M3AE_BIN:-}
if [ -z "$m3ae" ]; then
  if [ -x "$here/build/m3ae" ]; then m3ae=$here/build/m3ae; else m3ae=$(command -v m3ae || true); fi
fi
if [ -z "$m3ae" ] || [ ! -x "$m3ae" ]; then
  echo "local.sh: no m3ae binary '$m3ae' (build it with tools/build.sh, or set M3AE_BIN)" >&2
  exit 2
fi
mpirun=${M3AE_MPIRUN:-mpirun}
command -v "$mpirun" >/dev/null || { echo "local.sh: $mpirun not found (install openmpi-bin)" >&2; exit 5; }

# shellcheck disable=SC2054  # self,vader is one argument
flags=(--bind-to none --mca btl self,vader --mca odls_base_sigkill_timeout "$grace" -x M3AE_STOP_GRACE_S)
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
if [ "$ranks" -gt "$(nproc)" ]; then
  flags+=(--oversubscribe)
  export OMPI_MCA_mpi_yield_when_idle=1 # ranks waiting in MPI give their core to the others
fi
# shellcheck disable=SC2206  # split on purpose
[ -n "${M3AE_MPIRUN_FLAGS:-}" ] && flags+=(${M3AE_MPIRUN_FLAGS})
export M3AE_STOP_GRACE_S=$grace

# Job control puts mpirun and its ranks in a process group of their own, so that Ctrl-C at the
# terminal reaches only this script, which turns it into the stop above (a Ctrl-C reaching mpirun
# directly would start Open MPI's SIGTERM/SIGKILL sequence instead). Its stdin is /dev/null: a
# background group reading the terminal would be stopped, and m3ae reads no input.
rm -f "$run/stopped" # m3ae writes it when it stops cleanly on a signal (below)
started=$(date +%s)
set -m
"$mpirun" "${flags[@]}" -np "$ranks" "$m3ae" pretrain --config "$config" --data "$data" --out "$run" "$@" \
  </dev/null &
pid=$!
set +m
echo "local.sh: pid $$, mpirun pid $pid, $ranks rank(s), grace ${grace} s; Ctrl-C (or kill $$) stops with a checkpoint"

stops=0
# shellcheck disable=SC2317  # called by the traps
on_stop() {
  stops=$((stops + 1))
  case $stops in
    1) echo "local.sh: $1: asking the ranks to write a checkpoint and stop (SIGUSR1); again: end within $((2 * grace)) s" >&2
       kill -USR1 "$pid" 2>/dev/null ;;
    2) echo "local.sh: second $1: SIGTERM to mpirun (the ranks get SIGTERM in ${grace} s, SIGKILL ${grace} s later); again: kill now" >&2
       kill -TERM "$pid" 2>/dev/null ;;
    *) echo "local.sh: $1 again: killing the job now, without a checkpoint" >&2
       # the ranks are mpirun's children, each in a process group of its own
       for child in $(pgrep -P "$pid"); do kill -KILL "$child" 2>/dev/null; done
       kill -KILL "$pid" 2>/dev/null ;;
  esac
}
trap 'on_stop SIGINT' INT
trap 'on_stop SIGTERM' TERM
trap 'on_stop SIGHUP' HUP

# wait returns early (above 128) when a trapped signal arrives: wait again until mpirun has ended;
# bash keeps its exit status for the last wait
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
wait "$pid"
rc=$?
if [ "$rc" -ne 0 ] && [ -f "$run/stopped" ]; then
  # mpirun exits 1 whenever it was signalled itself (SIGTERM/SIGINT to its pid), even when every
  # rank stopped cleanly; m3ae's RUN_DIR/stopped ("STEP SIGNAL") says that it did
  echo "local.sh: mpirun exited $rc after its own shutdown, but the ranks stopped cleanly after step $(cut -d' ' -f1 "$run/stopped") with the state saved" >&2
  rc=0
elif [ "$rc" -ne 0 ] && [ -f "$run/finished" ] && [ "$(stat -c %Y "$run/finished")" -ge "$started" ]; then
  echo "local.sh: mpirun exited $rc after its own shutdown, but the run finished all its steps first" >&2
  rc=0
fi
if [ "$rc" -eq 0 ] && [ ! -f "$run/finished" ]; then
  echo "local.sh: stopped before the end with a checkpoint; run the same command again to resume from $run"
fi
exit "$rc"
