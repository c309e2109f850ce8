#!/bin/bash
# slurm-cluster.sh: a one-node Slurm cluster for Noodle's tests (Debian's slurmctld,
# slurmd and munge; no systemd, no cgroups, no accounting daemon).
#   usage: slurm-cluster.sh install|start|stop|status
# Everything lives under $NOODLE_SLURM_DIR (default /tmp/noodle-slurm): slurm.conf,
# spool and state directories, logs and the daemons' PID files.  Clients must use
# SLURM_CONF=$NOODLE_SLURM_DIR/slurm.conf (`start` prints the line).  The ports
# ($NOODLE_SLURM_PORT and the next one, default 16817/16818) differ from Slurm's
# defaults so that another cluster on this machine is not disturbed.  `stop` kills
# exactly the PIDs this script started, never by name.  The configuration does not
# set RequeueExit: the batch script requeues a checkpointed job itself (docs/slurm.md).
set -u

DIR=${NOODLE_SLURM_DIR:-/tmp/noodle-slurm}
PORT=${NOODLE_SLURM_PORT:-16817}
CONF=$DIR/slurm.conf
NODE=$(hostname -s)
NCPU=$(nproc)

say() { echo "slurm-cluster: $*" >&2; }

have_slurm() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
        command -v sbatch >/dev/null && command -v munged >/dev/null
}

do_install() {
    have_slurm && return 0
    [ "$(id -u)" = 0 ] || { say "installing Slurm needs root"; return 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge \
        >"${TMPDIR:-/tmp}/noodle-slurm-install.log" 2>&1 ||
        { apt-get update >/dev/null 2>&1 &&
            apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge \
                >>"${TMPDIR:-/tmp}/noodle-slurm-install.log" 2>&1; } ||
        { say "apt-get install failed (log: ${TMPDIR:-/tmp}/noodle-slurm-install.log)"; return 1; }
    have_slurm
}

# Slurm's MPI plugin for srun: PMIx when Debian's plugin is there (Open MPI needs it
# for srun -n N), none otherwise.
mpi_default() {
    local d
    for d in /usr/lib/*/slurm-wlm /usr/lib/slurm-wlm /usr/lib/slurm; do
        [ -e "$d/mpi_pmix.so" ] && { echo pmix; return; }
    done
    echo none
}

write_conf() {
    mkdir -p "$DIR/ctld" "$DIR/slurmd" "$DIR/log" "$DIR/run"
    cat >"$CONF" <<CONF
# one-node slurm.conf written by tests/slurm/slurm-cluster.sh
ClusterName=noodletest
SlurmctldHost=${NODE}
SlurmctldPort=${PORT}
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=${DIR}/ctld
SlurmdSpoolDir=${DIR}/slurmd
SlurmctldPidFile=${DIR}/run/slurmctld.daemon.pid
SlurmdPidFile=${DIR}/run/slurmd.daemon.pid
SlurmctldLogFile=${DIR}/log/slurmctld.log
SlurmdLogFile=${DIR}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups, no systemd
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# no accounting daemon: scontrol show job, not sacct
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=$(mpi_default)
MailProg=/bin/true
ReturnToService=2
# a job may be requeued (the batch script runs scontrol requeue on exit 75)
JobRequeue=1
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${NCPU} RealMemory=1024 State=UNKNOWN
PartitionName=debug Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
}

wait_for() { # wait_for SECONDS CMD...: polls every 0.1 s
    local t=$1 i
    shift
    for ((i = 0; i < t * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    if munge_works; then
        say "using the munged already running"
        return 0
    fi
    [ "$(id -u)" = 0 ] || { say "starting munged needs root"; return 1; }
    mkdir -p /run/munge /var/lib/munge /var/log/munge /etc/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null
    chmod 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null ||
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    # in the foreground as the munge user, so that $! is the daemon itself
    setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground \
        >"$DIR/log/munged.out" 2>&1 &
    echo $! >"$DIR/run/munged.pid"
    wait_for 10 munge_works || { say "munged did not start:"; cat "$DIR/log/munged.out" >&2; return 1; }
}

do_start() {
    have_slurm || { say "Slurm is not installed (run: $0 install)"; return 1; }
    if alive "$DIR/run/slurmctld.pid"; then
        say "already running (PID $(cat "$DIR/run/slurmctld.pid"))"
        return 0
    fi
    getent hosts "$NODE" >/dev/null || { say "host name $NODE does not resolve"; return 1; }
    write_conf
    export SLURM_CONF=$CONF
    start_munge || return 1
    /usr/sbin/slurmctld -D -c -f "$CONF" >"$DIR/log/slurmctld.out" 2>&1 &
    echo $! >"$DIR/run/slurmctld.pid"
    wait_for 30 scontrol ping ||
        { say "slurmctld did not answer:"; tail -20 "$DIR/log/slurmctld.log" "$DIR/log/slurmctld.out" >&2; return 1; }
    /usr/sbin/slurmd -D -f "$CONF" >"$DIR/log/slurmd.out" 2>&1 &
    echo $! >"$DIR/run/slurmd.pid"
    local st i
    for ((i = 0; i < 300; i++)); do
        st=$(sinfo -h -n "$NODE" -o %t 2>/dev/null)
        case "$st" in idle* | mix* | alloc*) break ;; esac
        sleep 0.1
    done
    case "$st" in
    idle* | mix* | alloc*) ;;
    *)
        say "node $NODE did not become idle (state '$st'):"
        tail -20 "$DIR/log/slurmd.log" "$DIR/log/slurmd.out" >&2
        return 1
        ;;
    esac
    say "up: node $NODE ($NCPU CPUs), munged $(cat "$DIR/run/munged.pid" 2>/dev/null || echo shared), slurmctld" \
        "$(cat "$DIR/run/slurmctld.pid"), slurmd $(cat "$DIR/run/slurmd.pid")"
    echo "export SLURM_CONF=$CONF"
}

do_stop() {
    local d f pid i
    for d in slurmd slurmctld munged; do
        f=$DIR/run/$d.pid
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            for ((i = 0; i < 100; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            if kill -0 "$pid" 2>/dev/null; then
                say "$d ($pid) still alive after 10 s: SIGKILL"
                kill -KILL "$pid"
            fi
            say "stopped $d ($pid)"
        fi
        rm -f "$f"
    done
}

do_status() {
    local d f
    for d in munged slurmctld slurmd; do
        f=$DIR/run/$d.pid
        if alive "$f"; then echo "$d running (PID $(cat "$f"))"; else echo "$d not running"; fi
    done
    [ -f "$CONF" ] && SLURM_CONF=$CONF sinfo 2>&1
}

case "${1:-}" in
install) do_install ;;
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
*)
    echo "usage: $0 install|start|stop|status" >&2
    exit 2
    ;;
esac
