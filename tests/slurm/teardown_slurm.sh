#!/usr/bin/env bash
# Stop the daemons tests/slurm/setup_slurm.sh started, in reverse order, each through its own pid file.
# Leaves packages, configuration, the accounting database and logs in place, so setup is quick next time.
set -uo pipefail

# alive PID: the process exists and is not a zombie (a daemon whose parent has gone may stay a zombie until
# PID 1 reaps it; it has stopped all the same).
alive() { kill -0 "$1" 2>/dev/null && [[ $(ps -o stat= -p "$1") != Z* ]]; }

# stop NAME PIDFILE: SIGTERM the process the pid file names and wait up to 30 s for it to exit.
stop() {
    local name=$1 pidfile=$2 pid
    if [[ ! -s $pidfile ]] || ! pid=$(cat "$pidfile") || ! alive "$pid"; then
        echo "[teardown_slurm] $name is not running" >&2
        return 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 30); do
        alive "$pid" || { echo "[teardown_slurm] stopped $name (pid $pid)" >&2; return 0; }
        sleep 1
    done
    echo "[teardown_slurm] $name (pid $pid) ignored SIGTERM for 30 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null
}

[[ $(id -u) -eq 0 ]] || { echo "[teardown_slurm] run as root" >&2; exit 1; }

stop slurmd /var/run/slurmd.pid
stop slurmctld /var/run/slurmctld.pid
stop slurmdbd /var/run/slurmdbd.pid
stop mariadb /run/mysqld/mysqld.pid
stop munged /run/munge/munged.pid
