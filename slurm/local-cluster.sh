#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for the suite's SLURM tests and for
# trying `python -m suite run --executor slurm --profile local` without a cluster.
#
#   sudo bash slurm/local-cluster.sh start    install (if missing), configure, start, check
#   sudo bash slurm/local-cluster.sh status   sinfo + squeue
#   sudo bash slurm/local-cluster.sh stop     stop slurmd, slurmctld, munged
#
# Works in containers: no systemd, no cgroups (proctrack/linuxproc, task/none). Daemons
# run as root. `start` is idempotent: it rewrites the config only when it changed and
# starts only the daemons that are not running.
set -euo pipefail

HOST=$(hostname -s)
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
LOG_DIR=/var/log/slurm
SPOOL_CTLD=/var/spool/slurmctld
SPOOL_D=/var/spool/slurmd
MEM_MARGIN_MB=${SLURM_MEM_MARGIN_MB:-1024}   # left to the OS and the daemons

say() { echo "[local-cluster] $*"; }
die() { echo "[local-cluster] error: $*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "run as root (sudo bash $0 $1): it writes /etc and starts daemons"; }

# Each daemon by its pid file: we stop only the processes this script started.
pidfile() {
    case "$1" in
        munged) echo /run/munge/munged.pid ;;
        *) echo "/run/$1.pid" ;;
    esac
}
pid_of() { local f; f=$(pidfile "$1"); [ -s "$f" ] && cat "$f"; }
running() { local pid; pid=$(pid_of "$1") && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
stop_daemon() {
    local pid
    running "$1" || return 0
    pid=$(pid_of "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    die "$1 (pid $pid) did not stop within 10 s"
}

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sinfo >/dev/null || missing+=(slurm-client)
    command -v munged >/dev/null || missing+=(munge)
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]} (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

start_munge() {
    install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
    install -d -o munge -g munge -m 0711 /var/lib/munge
    install -d -o munge -g munge -m 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        say "writing a new munge key"
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    if ! running munged; then
        say "starting munged"
        runuser -u munge -- /usr/sbin/munged
    fi
    for _ in $(seq 50); do
        munge -n </dev/null | unmunge >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    die "munged does not answer (munge -n | unmunge fails); see /var/log/munge/munged.log"
}

write_config() {
    local cpus mem tmp
    cpus=$(nproc)
    mem=$(( $(free -m | awk '/^Mem:/ {print $2}') - MEM_MARGIN_MB ))
    [ "$mem" -gt 512 ] || mem=512
    install -d -m 0755 "$CONF_DIR" "$LOG_DIR" "$SPOOL_CTLD" "$SPOOL_D"
    tmp=$(mktemp)
    cat >"$tmp" <<CONF
# Written by slurm/local-cluster.sh for a one-node cluster on $HOST. Do not edit: rerun
# the script instead (it rewrites this file when the host's CPUs or memory change).
ClusterName=suite-local
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job waits cred_expire seconds before it may start again (default 120).
AuthInfo=cred_expire=10
CredType=cred/munge
MpiDefault=none
# Containers have no usable cgroups: track processes by parent pid, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
# Look at pending jobs every few seconds (defaults: 60 s and 30 s), so a requeued job
# starts again soon after it becomes eligible.
SchedulerParameters=sched_interval=5,bf_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=1024
StateSaveLocation=$SPOOL_CTLD
SlurmdSpoolDir=$SPOOL_D
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# A node that went down (e.g. the machine rebooted) comes back by itself; preempted or
# failed-node jobs may be requeued (submitit's checkpoint/requeue relies on it).
ReturnToService=2
JobRequeue=1
# Short timers: a test cluster should react in seconds, not minutes.
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
MinJobAge=300
KillWait=10
Waittime=0
NodeName=$HOST CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    if [ -f "$CONF" ] && cmp -s "$tmp" "$CONF"; then
        rm -f "$tmp"
        return 1   # unchanged
    fi
    install -m 0644 "$tmp" "$CONF"
    rm -f "$tmp"
    say "wrote $CONF (CPUs=$cpus RealMemory=${mem}MB)"
    return 0
}

wait_idle() {
    local state
    for _ in $(seq 60); do
        state=$(sinfo -h -n "$HOST" -o '%t' 2>/dev/null | head -1 || true)
        case "$state" in
            idle|mix|alloc) return 0 ;;
            down*|drain*|fail*)
                scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;;
        esac
        sleep 1
    done
    die "node $HOST is not idle after 60 s (state: ${state:-none}); see $LOG_DIR/slurmctld.log and slurmd.log"
}

smoke_check() {
    local out job
    out=$(timeout 60 srun -N1 -n1 -t 1 hostname) || die "srun hostname failed"
    [ "$out" = "$HOST" ] || die "srun hostname printed '$out', expected '$HOST'"
    job=$(sbatch --parsable -t 1 -o /dev/null --wrap 'true') || die "sbatch --wrap failed"
    for _ in $(seq 60); do
        squeue -h -j "$job" 2>/dev/null | grep -q . || { say "srun and sbatch work"; return 0; }
        sleep 1
    done
    die "sbatch job $job did not finish within 60 s"
}

cmd_start() {
    need_root start
    install_packages
    start_munge
    local changed=0
    write_config && changed=1
    if running slurmctld && [ $changed = 1 ]; then
        say "config changed: restarting the daemons"
        cmd_stop_daemons
    fi
    if ! running slurmctld; then
        say "starting slurmctld"
        /usr/sbin/slurmctld
    fi
    for _ in $(seq 30); do scontrol ping >/dev/null 2>&1 && break; sleep 0.5; done
    scontrol ping >/dev/null 2>&1 || die "slurmctld does not answer; see $LOG_DIR/slurmctld.log"
    if ! running slurmd; then
        say "starting slurmd"
        /usr/sbin/slurmd
    fi
    wait_idle
    smoke_check
    sinfo
}

cmd_stop_daemons() {
    stop_daemon slurmd
    stop_daemon slurmctld
}

cmd_stop() {
    need_root stop
    cmd_stop_daemons
    stop_daemon munged
    say "stopped"
}

cmd_status() {
    for d in munged slurmctld slurmd; do
        if running "$d"; then say "$d: running"; else say "$d: stopped"; fi
    done
    if running slurmctld; then sinfo; squeue; fi
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
