#!/bin/bash
# The simulated cluster of experiments/scaling/netns_cluster.sh: 2 nodes x 2 ranks, where
#   - dist/'s node split sees 2 nodes of 2 ranks (test_node_split), and MPI programs pass across
#     them (test_mpi_allreduce, m3ae bench allreduce with ring, hier and mpi, each result checked, and
#     the payload checks of mpi_pingpong);
#   - the link shaping is in effect: a small-message round trip between the nodes takes about
#     2 x delay, a 4 MiB message moves no faster than the rate and not 5x slower (200mbit,0.5ms:
#     well below the ~1.5 Gbit/s the user-space switch forwards on a loaded 2-core machine, so the
#     shaping binds);
#   - nothing is left behind: no namespace, link or process of the cluster remains after a run that
#     passes, after one that fails on purpose, and after SIGINT in the middle of a run.
#   test_netns_cluster.sh BUILD_TESTS_MPI_DIR
set -u
bin=${1:?usage: test_netns_cluster.sh DIR_WITH_test_node_split}
src=${M3AE_SOURCE_DIR:?}
cluster=$src/experiments/scaling/netns_cluster.sh
probe=m3ae-probe-$$
if ! ip netns add "$probe" 2>/dev/null; then echo "SKIPPED: ip netns is not permitted here (needs root)"; exit 77; fi
ip netns del "$probe"
W=$(mktemp -d /tmp/m3ae-netns-test-XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# Nothing of cluster $1 remains: no namespace, no state folder, no switch process, no link in the
# root namespace (the script makes none there; a leak would show up here).
left_behind() {
  local p=$1 spid=${2:-}
  ip netns list | grep -q "^$p-" && bad "namespaces of $p remain: $(ip netns list | grep "^$p-" | tr '\n' ' ')"
  [ -e "/tmp/$p.netns" ] && bad "state folder /tmp/$p.netns remains"
  [ -n "$spid" ] && kill -0 "$spid" 2>/dev/null && bad "switch process $spid of $p still runs"
  ip -o link | grep -q "$p" && bad "a link named after $p remains in the root namespace"
  return 0
}

# 1. The run that passes.
p=m3ae-t$$-a
out=$(timeout 240 "$cluster" --nodes 2 --slots 2 --link 200mbit,0.5ms --prefix "$p" run -- bash -c '
  echo "switch $M3AE_NETNS_SWITCH_PID"
  "$M3AE_NETNS_MPIRUN" -np 4 "$0/test_node_split" 2 || exit 11
  "$M3AE_NETNS_MPIRUN" -np 4 "$0/test_mpi_allreduce" || exit 12
  # the ring and the hierarchical all-reduce across the nodes (the bench checks each result against
  # MPI_Allreduce before timing it)
  "$M3AE_NETNS_MPIRUN" -np 4 "$M3AE_BIN" bench allreduce --min 1K --max 64K --iters 3 --algo ring,hier,mpi || exit 15
  "$M3AE_NETNS_MPIRUN" -np 4 "$0/mpi_pingpong" --peer 2 --min 8 --max 8 --json "$1/lat.json" || exit 13
  "$M3AE_NETNS_MPIRUN" -np 4 "$0/mpi_pingpong" --peer 2 --min 4M --max 4M --json "$1/bw.json" || exit 14
' "$bin" "$W" 2>&1); rc=$?
echo "$out" | grep -vE "^ +[0-9]" | head -30
[ $rc -eq 0 ] || bad "the MPI programs across the cluster failed (exit $rc; 11 node split, 12 allreduce, 13/14 ping-pong, 15 bench allreduce)"
grep -q "hier (hier, 2 nodes)" <<<"$out" || bad "the bench did not run the hierarchical all-reduce over 2 nodes"
spid=$(sed -n 's/^switch //p' <<<"$out")
grep -q "rank 3: .*node rank 1 of 2 (2 nodes)" <<<"$out" || bad "rank 3 is not the second rank of a 2-rank node"
left_behind "$p" "$spid"
# Shaping: best round trip of 8 bytes vs 2 x 0.5 ms; best one-way time of 4 MiB vs 0.2 Gbit/s.
if [ -s "$W/lat.json" ] && [ -s "$W/bw.json" ]; then
  rtt=$(sed -E 's/.*"best_rtt_us": ([0-9.]+).*/\1/' "$W/lat.json")
  gbit=$(sed -E 's/.*"best_rtt_us": ([0-9.]+).*/\1/' "$W/bw.json" | awk '{ printf "%.3f", 4194304 * 8 / ($1 / 2 * 1e3) }')
  echo "measured across the nodes: round trip $rtt us (2 x delay = 1000 us), 4 MiB at $gbit Gbit/s (rate 0.2)"
  awk -v r="$rtt" 'BEGIN { exit !(r >= 900 && r <= 5000) }' || bad "round trip $rtt us is not about 2 x 0.5 ms: the delay is not in effect"
  awk -v g="$gbit" 'BEGIN { exit !(g <= 0.22 && g >= 0.04) }' || bad "4 MiB moved at $gbit Gbit/s: not about the 0.2 Gbit/s of the link"
else
  bad "the ping-pong wrote no measurements"
fi

# 2. A run that fails on purpose: its exit status comes back and the cluster is removed.
p=m3ae-t$$-b
out=$(timeout 120 "$cluster" --nodes 2 --prefix "$p" run -- bash -c 'echo "switch $M3AE_NETNS_SWITCH_PID"; "$M3AE_NETNS_MPIRUN" -np 4 "$0/test_node_split" 3' "$bin" 2>&1); rc=$?
grep -q "spans 2 namespaces, expected 3" <<<"$out" || bad "the deliberately failing run did not fail as planned: $(tail -3 <<<"$out")"
[ $rc -ne 0 ] && [ $rc -ne 124 ] || bad "the failing run exited $rc (expected its failure)"
left_behind "$p" "$(sed -n 's/^switch //p' <<<"$out")"

# 3. SIGINT in the middle of a run (ranks still running on both nodes).
# Job control on: without it bash starts background jobs with SIGINT ignored, and so would the
# script under test be.
p=m3ae-t$$-c
set -m
"$cluster" --nodes 2 --prefix "$p" run -- bash -c 'echo "switch $M3AE_NETNS_SWITCH_PID" >"$1/int.pid"
  "$M3AE_NETNS_MPIRUN" -np 4 sleep 300' "$bin" "$W" >"$W/int.out" 2>&1 &
runner=$!
for _ in $(seq 1 100); do [ -s "$W/int.pid" ] && [ -n "$(ip netns pids "$p-n1" 2>/dev/null)" ] && break; sleep 0.2; done
[ -n "$(ip netns pids "$p-n1" 2>/dev/null)" ] || { bad "the interrupted run never started its ranks on node 1"; cat "$W/int.out"; }
kill -INT "$runner"
for _ in $(seq 1 50); do kill -0 "$runner" 2>/dev/null || break; sleep 0.2; done
kill -0 "$runner" 2>/dev/null && { bad "the script did not stop on SIGINT"; kill "$runner"; }
wait "$runner"; rc=$?
set +m
[ $rc -eq 130 ] || bad "after SIGINT the script exited $rc (expected 130)"
left_behind "$p" "$(sed -n 's/^switch //p' "$W/int.pid")"

[ $fail -eq 0 ] && echo "netns cluster test passed"
exit $fail
