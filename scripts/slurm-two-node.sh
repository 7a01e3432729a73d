#!/usr/bin/env bash
# A real two-node Slurm cluster on this machine: two network namespaces are the hosts node1
# (10.250.0.1: slurmctld, slurmd, the login node) and node2 (10.250.0.2: slurmd), joined by a veth
# pair and reachable from nowhere else. For trn's multi-node tests (tests/test_multinode.py).
#   bash scripts/slurm-two-node.sh start           idempotent; prints how to run commands there
#   bash scripts/slurm-two-node.sh status          exit 0 when both nodes answer idle
#   bash scripts/slurm-two-node.sh exec N CMD ...  run CMD on node N (1 or 2), in this directory
#   bash scripts/slurm-two-node.sh stop            ends every process of both nodes, removes the
#                                                  namespaces, the veth pair and $DIR's state
# Needs root, iproute2, util-linux (nsenter, unshare) and Debian's slurmctld slurmd slurm-client
# munge. The filesystem is shared by both hosts, as NFS would be on a cluster. State lives in
# $TRN_SLURM2_DIR (default /tmp/trn-slurm2).
set -euo pipefail
DIR=${TRN_SLURM2_DIR:-/tmp/trn-slurm2}
CONF=$DIR/slurm.conf
PREFIX=s2n

say() { echo "slurm-two-node: $*"; }

holder() { cat "$DIR/holder-$1.pid" 2>/dev/null; }

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

on() {  # on N CMD...: run CMD inside node N's network, hostname and mount namespaces
  local n=$1
  shift
  nsenter -t "$(holder "$n")" -n -u -m --wd="$PWD" env SLURM_CONF="$CONF" "$@"
}

write_conf() {
  local mem
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.35)}' /proc/meminfo)  # MiB per node, both fit
  mkdir -p "$DIR/state"
  cat > "$CONF" <<CONF
ClusterName=trn-2n
SlurmctldHost=node1(10.250.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SlurmctldPort=6917
SlurmdPort=6918
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd-%n.pid
SlurmdSpoolDir=$DIR/spool-%n
StateSaveLocation=$DIR/state
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd-%n.log
SchedulerParameters=sched_interval=1
MinJobAge=600
NodeName=node1 NodeAddr=10.250.0.1 NodeHostname=node1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
NodeName=node2 NodeAddr=10.250.0.2 NodeHostname=node2 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=node1,node2 Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
}

start_munge() {  # one munged for both hosts: its socket is a path on the shared filesystem
  if pgrep -x munged >/dev/null; then return; fi
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  munged --force 2>/dev/null || munged --force
}

network() {
  ip netns add "$PREFIX-n1"
  ip netns add "$PREFIX-n2"
  ip link add "$PREFIX-v1" type veth peer name "$PREFIX-v2"
  local n
  for n in 1 2; do
    ip link set "$PREFIX-v$n" netns "$PREFIX-n$n"
    ip -n "$PREFIX-n$n" link set "$PREFIX-v$n" name eth0
    ip -n "$PREFIX-n$n" addr add "10.250.0.$n/24" dev eth0
    ip -n "$PREFIX-n$n" link set lo up
    ip -n "$PREFIX-n$n" link set eth0 up
    mkdir -p "/etc/netns/$PREFIX-n$n"  # `ip netns exec` bind-mounts this over /etc/hosts
    printf '127.0.0.1 localhost\n10.250.0.1 node1\n10.250.0.2 node2\n' > "/etc/netns/$PREFIX-n$n/hosts"
  done
}

# `ip netns exec` mounts a fresh /sys, which hides the host's cgroups, and slurmd will not start
# without them: each node's mount namespace gets the host's layout back.
CGROUPS_V1="cpu cpuacct cpuset memory devices freezer blkio pids"
mount_cgroups='
  mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
  for c in '"$CGROUPS_V1"'; do mkdir -p /sys/fs/cgroup/$c; mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c 2>/dev/null || true; done
  mkdir -p /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
  mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd 2>/dev/null || true
  mount -t cgroup2 none /sys/fs/cgroup/unified 2>/dev/null || true'

hosts() {
  local n
  for n in 1 2; do
    if alive "$(holder "$n")"; then continue; fi
    setsid ip netns exec "$PREFIX-n$n" unshare --uts sh -c \
      "hostname node$n; $mount_cgroups; echo \$\$ > $DIR/holder-$n.pid; exec sleep infinity" \
      </dev/null >/dev/null 2>&1 &
  done
  for _ in $(seq 100); do
    alive "$(holder 1)" && alive "$(holder 2)" && return
    sleep 0.1
  done
  say "the node namespaces did not come up"
  exit 1
}

status() {  # both nodes answering (a `*` after the state: slurmctld cannot reach the node)
  local d
  for d in slurmctld slurmd-node1 slurmd-node2; do alive "$(cat "$DIR/$d.pid" 2>/dev/null)" || return 1; done
  alive "$(holder 1)" && alive "$(holder 2)" &&
    [ "$(on 1 sinfo -h -N -o '%T' 2>/dev/null | grep -cE '^(idle|mixed|allocated)$')" = 2 ]
}

start() {
  local cmd
  for cmd in slurmctld slurmd sinfo munged ip nsenter unshare; do
    command -v "$cmd" >/dev/null || { say "$cmd not found: apt-get install slurmctld slurmd slurm-client munge iproute2 util-linux"; exit 1; }
  done
  [ "$(id -u)" = 0 ] || { say "must run as root"; exit 1; }
  if status; then say "already running"; hint; return; fi
  mkdir -p "$DIR"
  ip netns list | grep -q "^$PREFIX-n1" || { rm -rf "$DIR/state" "$DIR"/spool-*; network; }
  write_conf
  start_munge
  hosts
  alive "$(cat "$DIR/slurmctld.pid" 2>/dev/null)" || on 1 slurmctld -f "$CONF"
  alive "$(cat "$DIR/slurmd-node1.pid" 2>/dev/null)" || on 1 slurmd -f "$CONF" -N node1
  alive "$(cat "$DIR/slurmd-node2.pid" 2>/dev/null)" || on 2 slurmd -f "$CONF" -N node2
  for _ in $(seq 120); do
    if status; then say "up: node1 and node2 idle"; hint; return; fi
    on 1 scontrol update nodename=node1,node2 state=resume >/dev/null 2>&1 || true
    sleep 0.5
  done
  say "did not come up; see $DIR/slurmctld.log and $DIR/slurmd-node*.log"
  exit 1
}

stop() {
  local n pid
  for n in 1 2; do  # every process in a node's namespaces: slurmd, job steps, trn, the holder
    pid=$(holder "$n")
    if alive "$pid"; then
      for p in $(ip netns pids "$PREFIX-n$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    fi
  done
  for name in slurmctld slurmd-node1 slurmd-node2; do
    pid=$(cat "$DIR/$name.pid" 2>/dev/null || true)
    if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  for n in 1 2; do
    ip netns del "$PREFIX-n$n" 2>/dev/null || true  # its end of the veth pair goes with it
    rm -rf "/etc/netns/$PREFIX-n$n"
  done
  rm -rf "$DIR"
  say "stopped; nothing of it is left (munged left running)"
}

hint() {
  echo "run on a node: bash scripts/slurm-two-node.sh exec 1 CMD ...  (SLURM_CONF=$CONF there)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if status; then say "running"; hint; else say "not running"; exit 1; fi ;;
  exec) shift; n=${1:-}; shift || true; [ "$n" = 1 ] || [ "$n" = 2 ] || { echo "usage: $0 exec 1|2 CMD ..." >&2; exit 2; }
        alive "$(holder "$n")" || { say "not running: $0 start"; exit 1; }; on "$n" "$@" ;;
  *) echo "usage: $0 start|stop|status|exec N CMD ..." >&2; exit 2 ;;
esac
