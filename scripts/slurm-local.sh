#!/usr/bin/env bash
# A single-node Slurm on this machine's loopback, for lineage's tests and for trying the Slurm executor
# (docs/slurm.md). Debian 12's packages: munge, slurm-wlm (slurmctld and slurmd on this host, no
# accounting database).
#
#   scripts/slurm-local.sh start   # installs what is missing, writes the configuration, starts the daemons
#   scripts/slurm-local.sh stop    # stops them; nothing of this script keeps running
#   scripts/slurm-local.sh status
#
# Idempotent: start on a running cluster checks it and returns; stop on a stopped one does nothing.
# Needs root (or sudo): it writes /etc/slurm, /etc/munge and /var/spool/slurm*.
set -euo pipefail

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
state=/var/lib/lineage-slurm-local  # pid files and logs of this script's daemons
conf=/etc/slurm/slurm.conf

running() { [ -f "$state/$1.pid" ] && $sudo kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

install() {
  local missing=()
  for pkg in munge slurm-wlm; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    echo "slurm-local: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

configure() {
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  # What slurmd sees, less 1 GiB for the host: a node may not claim more than slurmd -C reports.
  mem=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024 ))
  $sudo mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd "$state" /run/munge
  $sudo tee "$conf.new" >/dev/null <<EOF
# Written by lineage's scripts/slurm-local.sh: one node on loopback.
ClusterName=lineage
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SchedulerParameters=batch_sched_delay=0,sched_min_interval=100000
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  $sudo mv "$conf.new" "$conf"
  if [ ! -s /etc/munge/munge.key ]; then
    $sudo mkdir -p /etc/munge
    $sudo dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  $sudo chown munge:munge /etc/munge/munge.key /run/munge
  $sudo chmod 0400 /etc/munge/munge.key
}

start() {
  if running slurmctld && running slurmd && sinfo -h >/dev/null 2>&1; then
    echo "slurm-local: running ($(sinfo -h -o '%n %T' | head -1))"
    return
  fi
  install
  configure
  if ! pgrep -x munged >/dev/null; then
    if [ -z "$sudo" ]; then runuser -u munge -- /usr/sbin/munged --pid-file="$state/munged.pid"
    else sudo -u munge /usr/sbin/munged --pid-file="$state/munged.pid"; fi
  fi
  running slurmctld || $sudo /usr/sbin/slurmctld
  running slurmd || $sudo /usr/sbin/slurmd
  for _ in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "slurm-local: started ($(sinfo -h -o '%n %T %c CPUs %m MB' | head -1))"
      return
    fi
    sleep 0.5
  done
  echo "slurm-local: the node did not come up; see $state/slurmctld.log and $state/slurmd.log" >&2
  exit 1
}

stop() {
  # Jobs first, then the daemons this script started (their pid files are ours).
  command -v scancel >/dev/null && running slurmctld && $sudo scancel --full --user="$(id -un)" 2>/dev/null || true
  for daemon in slurmd slurmctld munged; do
    if [ -f "$state/$daemon.pid" ]; then
      pid=$(cat "$state/$daemon.pid")
      $sudo kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do $sudo kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      $sudo kill -9 "$pid" 2>/dev/null || true
      $sudo rm -f "$state/$daemon.pid"
    fi
  done
  echo "slurm-local: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running slurmctld && running slurmd; then sinfo; else echo "slurm-local: not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
