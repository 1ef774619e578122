#!/bin/bash
# A cluster of 2 to 4 simulated nodes on one machine: one network namespace per node, a switch in a
# namespace of its own, one link (a tap) per node, each link shaped, and an mpirun that starts
# the ranks inside the namespaces over Open MPI's TCP transport (an agent enters the namespace in
# place of ssh). Everything it makes has a prefix unique to the invocation and is removed at the end.
#
#   netns_cluster.sh [options] run -- COMMAND [ARG...]
#       makes the cluster, runs COMMAND (in the root namespace) with
#         M3AE_NETNS_MPIRUN  an mpirun wrapper: "$M3AE_NETNS_MPIRUN" -np 4 prog ... runs the ranks
#                            on the nodes, --map-by node or slot as you pass it (default: slots fill
#                            node 0 first, then node 1: 2 nodes x 2 ranks = ranks 0,1 | 2,3)
#         M3AE_NETNS_EXEC    "$M3AE_NETNS_EXEC" NODE CMD... runs CMD inside node NODE (0-based)
#         M3AE_NETNS_PREFIX, M3AE_NETNS_NODES, M3AE_NETNS_IP_<i> (node i's address),
#         M3AE_NETNS_RATE, M3AE_NETNS_DELAY (the link settings), M3AE_NETNS_SWITCH_PID
#       and removes the cluster afterwards, also when COMMAND fails and on SIGINT/SIGTERM.
#       Its exit status is COMMAND's.
#   netns_cluster.sh [options] up        makes the cluster and prints its prefix and the variables
#                                        above (source-able); remove it with `down PREFIX`
#   netns_cluster.sh down PREFIX         removes everything a cluster with this prefix made
#   netns_cluster.sh list                prints the prefixes of the clusters that exist now
#   netns_cluster.sh enter PREFIX NODE CMD...   runs CMD inside node NODE of cluster PREFIX
#   netns_cluster.sh agent HOST CMD...   (internal: the plm_rsh_agent; enters HOST's namespace)
#
# Options:
#   --nodes N           number of nodes, 2 to 4 (default 2)
#   --slots S           MPI slots (ranks) per node (default 2)
#   --link PRESET       RATE,DELAY per link: 1gbit,0.5ms (default) | 10gbit,50us | none (no shaping)
#                       or any tc rate (kbit, mbit, gbit) and delay (us, ms), e.g. 2gbit,1ms
#   --mtu M             the links' MTU (default 65000: the switch forwards every frame in user
#                       space, and large frames keep its CPU cost per byte low; 9000 is the
#                       jumbo frame of cluster Ethernet, at about 7x the switch's CPU per byte)
#   --prefix NAME       the name prefix (default m3ae-<pid>); must be unique among running clusters
#   -h, --help          this text
#
# Link model: every node has one full-duplex "NIC" of RATE in each direction and a one-way latency
# DELAY, so a round trip between two nodes takes about 2 x DELAY and a large message moves at RATE.
# This machine's kernel has no netem (CONFIG_NET_SCH_NETEM is not set; of the qdiscs only htb, tbf
# and pfifo exist), so tc cannot add latency, and the bridge is a switch in user space
# (delay_switch.c, built here with cc): it delivers each frame DELAY after serialising it at RATE
# onto the port into the node; tc htb on each node's side limits what the node sends to RATE.
# Ranks of one node talk through shared memory (Open MPI's vader), as GPUs of one node over NVLink.
# Node identity: each node's processes also get a UTS namespace of their own with hostname
# <prefix>-n<i>, so anything that groups ranks by host name sees the nodes too; Open MPI itself
# groups ranks by its per-node daemon (MPI_Comm_split_type SHARED), which the namespaces separate.
# Needs root (ip netns, tc) and iproute2; Open MPI 4.1 (mpirun, orted).
set -uo pipefail

self=$(readlink -f "$0")
usage() { sed -n '2,/^set -uo/p' "$self" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "netns_cluster: $1" >&2; exit "${2:-1}"; }

nodes=2 slots=2 mtu=65000 link="1gbit,0.5ms" prefix="m3ae-$$" subnet=10.177.0
IFACE=m3ae0   # the same name inside every node, so one btl_tcp_if_include covers all of them

state_dir() { echo "/tmp/$1.netns"; }
node_ns() { echo "$1-n$2"; }

# Removes every namespace and file a cluster made. Processes still inside its namespaces are
# ours (started by this script's mpirun or COMMAND): they are ended by their pids first, else the
# namespace would live on after its name is gone.
down() {
  local p=$1 ns pids
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$p-(n[0-9]+|br)$"); do
    pids=$(ip netns pids "$ns" 2>/dev/null)
    [ -n "$pids" ] && kill $pids 2>/dev/null
  done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$p-(n[0-9]+|br)$"); do
    pids=$(ip netns pids "$ns" 2>/dev/null)
    if [ -n "$pids" ]; then sleep 0.5; pids=$(ip netns pids "$ns" 2>/dev/null); [ -n "$pids" ] && kill -9 $pids 2>/dev/null; fi
    ip netns del "$ns" 2>/dev/null || echo "netns_cluster: could not remove namespace $ns" >&2
  done
  rm -rf "$(state_dir "$p")"
}

# tc on a node's link: an htb class of RATE for everything the node sends.
shape() {
  local ns=$1 dev=$2 rate=$3
  tc -n "$ns" qdisc add dev "$dev" root handle 1: htb default 10 r2q 1000 &&
    tc -n "$ns" class add dev "$dev" parent 1: classid 1:10 htb rate "$rate" ceil "$rate" \
      burst 128k cburst 128k
}

# tc units to what delay_switch takes: a rate in Mbit/s, a delay in microseconds.
rate_mbit() {
  awk -v r="$1" 'BEGIN { if (match(r, /^[0-9.]+/)) { v = substr(r, 1, RLENGTH); u = tolower(substr(r, RLENGTH + 1)) }
    else exit 1; f["kbit"] = 1e-3; f["mbit"] = 1; f["gbit"] = 1e3; f["bit"] = 1e-6
    if (!(u in f)) exit 1; printf "%.6g\n", v * f[u] }'
}
delay_us() {
  awk -v d="$1" 'BEGIN { if (match(d, /^[0-9.]+/)) { v = substr(d, 1, RLENGTH); u = substr(d, RLENGTH + 1) }
    else exit 1; f["us"] = 1; f["usec"] = 1; f["ms"] = 1e3; f["msec"] = 1e3; f["s"] = 1e6
    if (!(u in f)) exit 1; printf "%.6g\n", v * f[u] }'
}

up() {
  local p=$1 st i ns rate="" delay="" mbit=0 us=0
  st=$(state_dir "$p")
  ip netns list 2>/dev/null | awk '{print $1}' | grep -qE "^$p-" && die "namespaces with prefix $p exist already (netns_cluster.sh down $p)" 2
  case "$link" in
    none) ;;
    *,*) rate=${link%%,*} delay=${link#*,}
         mbit=$(rate_mbit "$rate") || die "--link '$link': rate '$rate' is not a tc rate (kbit, mbit, gbit)" 2
         us=$(delay_us "$delay") || die "--link '$link': delay '$delay' is not a time (us, ms, s)" 2 ;;
    *) die "--link '$link': give RATE,DELAY (e.g. 1gbit,0.5ms) or none" 2 ;;
  esac
  mkdir -p "$st" || die "cannot make $st"
  cc -std=c17 -O2 -Wall -Wextra -o "$st/delay_switch" "$(dirname "$self")/delay_switch.c" ||
    { echo "netns_cluster: could not build delay_switch.c (needs a C compiler)" >&2; return 1; }
  ip netns add "$p-br" && ip -n "$p-br" link set lo up || return 1
  # The switch runs in the bridge namespace and makes one tap per node there; each tap then moves
  # into its node (the switch keeps its end: the file descriptor).
  ip netns exec "$p-br" "$st/delay_switch" --ports "$nodes" --name p --delay-us "$us" \
    --rate-mbit "$mbit" --mtu "$mtu" --ready "$st/switch.ready" </dev/null >>"$st/switch.log" 2>&1 &
  for _ in $(seq 1 100); do [ -s "$st/switch.ready" ] && break; sleep 0.05; done
  [ -s "$st/switch.ready" ] || { echo "netns_cluster: the switch did not start:" >&2; cat "$st/switch.log" >&2; return 1; }
  for ((i = 0; i < nodes; i++)); do
    ns=$(node_ns "$p" "$i")
    ip netns add "$ns" &&
      ip -n "$p-br" link set "p$i" netns "$ns" &&
      ip -n "$ns" link set "p$i" name "$IFACE" &&
      ip -n "$ns" link set lo up &&
      ip -n "$ns" addr add "$subnet.$((i + 1))/24" dev "$IFACE" &&
      ip -n "$ns" link set "$IFACE" up || return 1
    if [ -n "$rate" ]; then
      shape "$ns" "$IFACE" "$rate" || { echo "netns_cluster: tc refused rate '$rate' (see tc-htb(8))" >&2; return 1; }
    fi
    echo "$subnet.$((i + 1)) slots=$slots" >>"$st/hostfile"
  done
  # The mpirun wrapper: mpirun runs inside node 0; the agent enters the other nodes. TCP only
  # across nodes (self,vader inside one), on the node link only, for MPI and for Open MPI's own wiring.
  cat >"$st/mpirun" <<EOF
#!/bin/bash
# mpirun on the simulated cluster $p (made by $self)
M3AE_NETNS_PREFIX=$p exec "$self" enter $p 0 mpirun --allow-run-as-root --oversubscribe --bind-to none \\
  --hostfile "$st/hostfile" --mca plm_rsh_agent "$self agent" --mca plm_rsh_no_tree_spawn 1 \\
  --mca pml ob1 --mca btl self,vader,tcp --mca btl_tcp_if_include $IFACE --mca oob_tcp_if_include $IFACE \\
  -x OMPI_MCA_mpi_yield_when_idle=\${OMPI_MCA_mpi_yield_when_idle:-1} -x OPENBLAS_NUM_THREADS=\${OPENBLAS_NUM_THREADS:-1} \\
  -x OMP_NUM_THREADS=\${OMP_NUM_THREADS:-1} "\$@"
EOF
  cat >"$st/exec" <<EOF
#!/bin/bash
# runs a command inside node N of the simulated cluster $p
n=\$1; shift
M3AE_NETNS_PREFIX=$p exec "$self" enter $p "\$n" "\$@"
EOF
  chmod +x "$st/mpirun" "$st/exec"
  {
    echo "export M3AE_NETNS_PREFIX=$p M3AE_NETNS_NODES=$nodes M3AE_NETNS_SLOTS=$slots"
    echo "export M3AE_NETNS_RATE=${rate:-none} M3AE_NETNS_DELAY=${delay:-none}"
    echo "export M3AE_NETNS_MPIRUN=$st/mpirun M3AE_NETNS_EXEC=$st/exec M3AE_NETNS_SWITCH_PID=$(cat "$st/switch.ready")"
    for ((i = 0; i < nodes; i++)); do echo "export M3AE_NETNS_IP_$i=$subnet.$((i + 1))"; done
  } >"$st/env"
}

# Runs COMMAND (argv as given) inside node NODE of cluster PREFIX, in a UTS namespace of its own
# whose host name is the node's namespace name.
enter() {
  local p=$1 i=$2; shift 2
  local ns; ns=$(node_ns "$p" "$i")
  [ -e "/run/netns/$ns" ] || die "no namespace $ns (is cluster $p up? netns_cluster.sh list)" 5
  exec ip netns exec "$ns" unshare --uts /bin/sh -c 'hostname "$0" && exec "$@"' "$ns" "$@"
}

# plm_rsh_agent: called as ssh would be, `agent HOST word...`; the words form one shell command
# line (ssh joins them for the remote shell). HOST is a node address of a cluster made here.
agent() {
  local host=$1; shift
  local p=${M3AE_NETNS_PREFIX:-}
  # The cluster: M3AE_NETNS_PREFIX (the wrappers set it; mpirun and orted pass their environment
  # on to the agent), else the cluster whose node namespace we are called from.
  [ -n "$p" ] || p=$(ip netns identify $$ 2>/dev/null | sed -nE 's/^(.*)-n[0-9]+$/\1/p' | head -1)
  [ -n "$p" ] || die "agent: cannot tell which cluster host $host belongs to (set M3AE_NETNS_PREFIX)" 5
  [[ "$host" =~ ^${subnet//./\\.}\.([0-9]+)$ ]] || die "agent: host '$host' is not a node address ($subnet.N)" 5
  enter "$p" $(( BASH_REMATCH[1] - 1 )) /bin/sh -c "$*"
}

cmd=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --nodes) nodes=${2:?--nodes needs a value}; shift 2 ;;
    --slots) slots=${2:?--slots needs a value}; shift 2 ;;
    --link) link=${2:?--link needs a value}; shift 2 ;;
    --mtu) mtu=${2:?--mtu needs a value}; shift 2 ;;
    --prefix) prefix=${2:?--prefix needs a value}; shift 2 ;;
    up|run|down|list|agent|enter) cmd=$1; shift; break ;;
    *) echo "netns_cluster: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$cmd" ] || { usage >&2; exit 2; }
case "$nodes" in 2|3|4) ;; *) die "--nodes $nodes: give 2 to 4" 2 ;; esac
[[ "$slots" =~ ^[1-9][0-9]*$ ]] || die "--slots $slots: give a positive number" 2
[[ "$prefix" =~ ^[A-Za-z0-9_.-]{1,40}$ ]] || die "--prefix '$prefix': letters, digits, . _ - only, at most 40" 2

need_root() {
  [ "$(id -u)" -eq 0 ] || die "needs root (ip netns, tc)" 5
  command -v ip >/dev/null && command -v tc >/dev/null || die "ip and tc missing: install iproute2 (tools/setup.sh --test)" 5
}

case "$cmd" in
  list) ip netns list 2>/dev/null | awk '{print $1}' | sed -nE 's/^(.*)-br$/\1/p' ;;
  down)
    [ $# -ge 1 ] || die "down needs the PREFIX (netns_cluster.sh list shows them)" 2
    need_root; down "$1" ;;
  up)
    need_root
    if ! up "$prefix"; then down "$prefix"; die "could not make the cluster (removed what was made)" 5; fi
    cat "$(state_dir "$prefix")/env" ;;
  run)
    [ "${1:-}" = "--" ] && shift
    [ $# -ge 1 ] || die "run needs a COMMAND (run -- COMMAND ARG...)" 2
    need_root
    child=""
    trap '[ -n "$child" ] && kill "$child" 2>/dev/null; down "$prefix"' EXIT
    trap 'echo "netns_cluster: interrupted, removing $prefix" >&2; exit 130' INT
    trap 'echo "netns_cluster: terminated, removing $prefix" >&2; exit 143' TERM
    up "$prefix" || die "could not make the cluster (removing what was made)" 5
    # shellcheck disable=SC1090
    source "$(state_dir "$prefix")/env"
    "$@" &
    child=$!
    wait "$child"; rc=$?
    exit "$rc" ;;
  agent)
    [ $# -ge 2 ] || die "agent HOST COMMAND..." 2
    agent "$@" ;;
  enter)
    [ $# -ge 3 ] || die "enter PREFIX NODE COMMAND..." 2
    M3AE_NETNS_PREFIX=$1 enter "$@" ;;
esac
