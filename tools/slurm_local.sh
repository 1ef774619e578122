#!/bin/bash
# A single-node Slurm cluster on localhost for the slurm tests and for trying the sbatch scripts.
#   tools/slurm_local.sh start    writes /etc/slurm/slurm.conf (when absent), starts munge, slurmctld
#                                 and slurmd, waits until the node is idle
#   tools/slurm_local.sh stop     stops them (by their pid files)
#   tools/slurm_local.sh status   exit 0 when the node answers
# Needs root and the packages of `tools/setup.sh --test`.
set -uo pipefail
cmd=${1:-status}
conf=/etc/slurm/slurm.conf

status() { timeout 5 sinfo -h -N -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; }

write_conf() {
  local cpus; cpus=$(nproc)
  [ "$cpus" -lt 4 ] && cpus=4   # the mpi tests oversubscribe: let Slurm hand out 4 tasks on 2 cores
  mkdir -p /etc/slurm
  cat >"$conf" <<CONF
# Written by m3ae tools/slurm_local.sh: a one-node cluster on localhost.
ClusterName=m3ae-local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=10
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=5
MinJobAge=60
SlurmdTimeout=30
InactiveLimit=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
}

case "$cmd" in
  start)
    if status; then echo "slurm: already running"; exit 0; fi
    for b in slurmctld slurmd munged sbatch; do
      command -v "$b" >/dev/null || [ -x /usr/sbin/$b ] || { echo "slurm: $b missing: run tools/setup.sh --test" >&2; exit 5; }
    done
    [ -f "$conf" ] && grep -q "m3ae tools/slurm_local.sh" "$conf" || {
      [ -f "$conf" ] && cp "$conf" "$conf.m3ae-backup"; write_conf; }
    mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
    chown munge:munge /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
      chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
    fi
    [ -f /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null || runuser -u munge -- /usr/sbin/munged
    /usr/sbin/slurmctld -i
    /usr/sbin/slurmd -N localhost
    for _ in $(seq 1 60); do
      if status; then echo "slurm: node idle"; exit 0; fi
      sleep 0.5
    done
    echo "slurm: the node did not become idle; see /var/log/slurm/*.log" >&2
    tail -5 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2
    exit 5 ;;
  stop)
    for f in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
      [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
    done
    sleep 0.5; echo "slurm: stopped" ;;
  status) status && echo "slurm: up" || { echo "slurm: down"; exit 1; } ;;
  *) sed -n '2,8p' "$0"; exit 2 ;;
esac
