#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trn's Slurm tests (tests/test_slurm.py).
#   bash scripts/slurm-local.sh start    munge + slurmctld + slurmd, node at 127.0.0.1 (idempotent)
#   bash scripts/slurm-local.sh status   is it up? (exit 0 if the node answers)
#   bash scripts/slurm-local.sh stop
# Needs root and Debian's slurmctld slurmd slurm-client munge; no systemd. State lives in
# $TRN_SLURM_DIR (default /tmp/trn-slurm). Clients need: export SLURM_CONF=$TRN_SLURM_DIR/slurm.conf
set -euo pipefail
DIR=${TRN_SLURM_DIR:-/tmp/trn-slurm}
CONF=$DIR/slurm.conf
HOST=$(hostname -s)

say() { echo "slurm-local: $*"; }

write_conf() {
  local cpus mem
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)  # MiB, below the total
  mkdir -p "$DIR/spool" "$DIR/state"
  cat > "$CONF" <<CONF
ClusterName=trn-local
SlurmctldHost=$HOST(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SlurmctldPort=6817
SlurmdPort=6818
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmdSpoolDir=$DIR/spool
StateSaveLocation=$DIR/state
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SchedulerParameters=sched_interval=1
MinJobAge=600
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
}

start_munge() {
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

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

status() {
  alive "$DIR/slurmctld.pid" && alive "$DIR/slurmd.pid" &&
    SLURM_CONF=$CONF sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'
}

start() {
  for cmd in slurmctld slurmd sinfo munged; do
    command -v "$cmd" >/dev/null || { say "$cmd not found: apt-get install slurmctld slurmd slurm-client munge"; exit 1; }
  done
  [ "$(id -u)" = 0 ] || { say "must run as root"; exit 1; }
  if status; then say "already running"; hint; return; fi
  # A stopped test cluster starts empty: jobs saved by an earlier run (pending, requeued) would
  # otherwise come back and hold the node.
  alive "$DIR/slurmctld.pid" || rm -rf "$DIR/state" "$DIR/spool"
  write_conf
  start_munge
  alive "$DIR/slurmctld.pid" || slurmctld -f "$CONF"
  alive "$DIR/slurmd.pid" || slurmd -f "$CONF"
  for _ in $(seq 60); do
    if status; then say "up: node $HOST idle"; hint; return; fi
    SLURM_CONF=$CONF scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    sleep 0.5
  done
  say "did not come up; see $DIR/slurmctld.log and $DIR/slurmd.log"
  exit 1
}

stop() {
  for name in slurmd slurmctld; do
    if alive "$DIR/$name.pid"; then kill "$(cat "$DIR/$name.pid")" || true; fi
  done
  for _ in $(seq 20); do
    alive "$DIR/slurmd.pid" || alive "$DIR/slurmctld.pid" || break
    sleep 0.25
  done
  rm -f "$DIR/slurmd.pid" "$DIR/slurmctld.pid"
  say "stopped (munged left running)"
}

hint() { echo "export SLURM_CONF=$CONF"; }

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if status; then say "running"; hint; else say "not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
