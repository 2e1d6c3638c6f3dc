#!/usr/bin/env bash
# Start a real single-node SLURM cluster on this machine (Debian 12, run as root, no systemd needed).
#
# Installs munge, MariaDB, slurmdbd, slurmctld and slurmd from Debian, writes a minimal configuration for one
# node named after `hostname -s` (CPUs and memory as `slurmd -C` detects them, one partition `debug`), sets up
# accounting (the Snakemake SLURM executor asks `sacct` for job states) and starts every daemon in the
# background with pid files under /var/run and logs under /var/log. Idempotent: running it again rewrites the
# configuration, keeps running daemons that already answer, and returns as soon as `srun hostname` works.
#
# Environment:
#   SLURM_CLUSTER  cluster name in slurm.conf and the accounting database   (default: lsevos)
#   SLURM_ACCOUNT  account created for root and $SLURM_EXTRA_USER           (default: lsevos)
#   SLURM_GPUS     1: the node advertises one placeholder "gpu" GRES, so that rules with `resources: gpu=1`
#                  are scheduled (one at a time) on a machine without GPUs; 0: no GPU (default: 1)
#   SLURM_EXTRA_USER  another Unix user to add to the account               (default: none)
#
# Why this configuration (a container without systemd and without a writable cgroup tree):
#   ProctrackType=proctrack/linuxproc and TaskPlugin=task/none track job processes through /proc instead of
#   cgroups; JobAcctGatherType=jobacct_gather/linux likewise reads /proc. The daemons talk over 127.0.0.1 on
#   SLURM's default ports (6817 slurmctld, 6818 slurmd, 6819 slurmdbd) and MariaDB listens on its socket only.
#   AccountingStoreFlags=job_comment keeps each job's --comment (the Snakemake rule or group) for
#   `sacct -o Comment`.
set -euo pipefail

CLUSTER=${SLURM_CLUSTER:-lsevos}
ACCOUNT=${SLURM_ACCOUNT:-lsevos}
GPUS=${SLURM_GPUS:-1}
EXTRA_USER=${SLURM_EXTRA_USER:-}
NODE=$(hostname -s)
DB_PASS=lsevos-slurmdbd
START=$(date +%s)

say() { echo "[setup_slurm $(($(date +%s) - START))s] $*" >&2; }
fail() { echo "[setup_slurm] ERROR: $*" >&2; exit 1; }

# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND once a second until it succeeds.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq "$seconds"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    fail "$what did not come up within ${seconds}s; see /var/log/slurm/, /var/log/munge/, /var/log/mysql-lsevos.log"
}

# running PIDFILE: true when the pid file names a live process (not a zombie waiting to be reaped).
running() {
    local pid
    [[ -s $1 ]] && pid=$(cat "$1") && kill -0 "$pid" 2>/dev/null && [[ $(ps -o stat= -p "$pid") != Z* ]]
}

# install_config PATH OWNER MODE: move the text on stdin to PATH if it differs; then set CONFIG_CHANGED=1.
CONFIG_CHANGED=0
install_config() {
    local tmp
    tmp=$(mktemp)
    cat >"$tmp"
    if [[ -f $1 ]] && cmp -s "$tmp" "$1"; then
        rm -f "$tmp"
    else
        install -o "${2%%:*}" -g "${2##*:}" -m "$3" "$tmp" "$1"
        rm -f "$tmp"
        CONFIG_CHANGED=1
    fi
}

# restart_if_changed NAME PIDFILE: stop a running daemon whose configuration changed, so it is started anew.
restart_if_changed() {
    local pid
    if ((CONFIG_CHANGED)) && running "$2"; then
        pid=$(cat "$2")
        say "configuration changed: stopping $1 (pid $pid) to restart it"
        kill -TERM "$pid"
        for _ in $(seq 30); do running "$2" || return 0; sleep 1; done
        fail "$1 (pid $pid) did not stop"
    fi
}

[[ $(id -u) -eq 0 ]] || fail "run as root (it installs packages and starts system daemons)"
[[ $GPUS == 0 || $GPUS == 1 ]] || fail "SLURM_GPUS must be 0 or 1, not '$GPUS'"

packages=(munge mariadb-server slurm-wlm slurmctld slurmd slurmdbd slurm-client)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

say "writing configuration for node $NODE"
read -r CPUS SOCKETS CORES THREADS MEMORY < <(
    slurmd -C | awk '/^NodeName/ {
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        print v["CPUs"], v["SocketsPerBoard"], v["CoresPerSocket"], v["ThreadsPerCore"], v["RealMemory"] }')
[[ -n $CPUS && -n $MEMORY ]] || fail "could not read CPUs/RealMemory from 'slurmd -C'"

install -d -o slurm -g slurm /etc/slurm /var/log/slurm /var/spool/slurmctld
install -d -o root -g root /var/spool/slurmd
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge /etc/munge
install -d -o mysql -g mysql /run/mysqld

gres_line=""
gres_types=""
if ((GPUS > 0)); then
    gres_line=" Gres=gpu:$GPUS"
    gres_types="GresTypes=gpu
AccountingStorageTRES=gres/gpu"
fi

install_config /etc/slurm/slurm.conf root:root 644 <<EOF
# Written by tests/slurm/setup_slurm.sh: one node, one partition, accounting through slurmdbd.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
$gres_types
ReturnToService=2
SlurmctldPidFile=/var/run/slurmctld.pid
SlurmdPidFile=/var/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStorageEnforce=associations
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
MinJobAge=300
SchedulerParameters=sched_interval=2
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS Sockets=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$MEMORY$gres_line State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

if ((GPUS > 0)); then
    # Placeholder GPUs: SLURM books them like real ones (one job per GPU at a time), but they point at
    # /dev/null (gres/gpu ignores a Count without File: the node would register 0 GPUs and go INVAL).
    install_config /etc/slurm/gres.conf root:root 644 <<<"NodeName=$NODE Name=gpu Count=1 File=/dev/null"
elif [[ -f /etc/slurm/gres.conf ]]; then
    rm -f /etc/slurm/gres.conf
    CONFIG_CHANGED=1
fi

install_config /etc/slurm/slurmdbd.conf slurm:slurm 600 <<EOF
# Written by tests/slurm/setup_slurm.sh.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
PidFile=/var/run/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF

install_config /etc/mysql/mariadb.conf.d/60-slurmdbd.cnf root:root 644 <<EOF
# Written by tests/slurm/setup_slurm.sh: values slurmdbd recommends.
[mysqld]
innodb_lock_wait_timeout=900
EOF

if [[ ! -s /etc/munge/munge.key ]]; then
    say "creating the munge key"
    mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key

if ! running /run/munge/munged.pid; then
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged
fi
wait_for 20 munged bash -c 'munge -n | unmunge'

restart_if_changed slurmd /var/run/slurmd.pid
restart_if_changed slurmctld /var/run/slurmctld.pid
restart_if_changed slurmdbd /var/run/slurmdbd.pid
restart_if_changed mariadb /run/mysqld/mysqld.pid

if ! running /run/mysqld/mysqld.pid; then
    say "starting mariadb"
    nohup /usr/sbin/mariadbd --user=mysql >>/var/log/mysql-lsevos.log 2>&1 &
fi
wait_for 60 mariadb mariadb-admin ping
mariadb <<EOF
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF

if ! running /var/run/slurmdbd.pid; then
    say "starting slurmdbd"
    /usr/sbin/slurmdbd
fi
wait_for 60 slurmdbd sacctmgr -n show cluster

sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -n -P show account format=account | grep -qx "$ACCOUNT" ||
    sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description="lse-vos workflow" Organization=lsevos >/dev/null
for user in root $EXTRA_USER; do
    sacctmgr -n -P show association where user="$user" account="$ACCOUNT" format=user | grep -qx "$user" ||
        sacctmgr -i add user "$user" Account="$ACCOUNT" DefaultAccount="$ACCOUNT" Cluster="$CLUSTER" >/dev/null
done

if ! running /var/run/slurmctld.pid; then
    say "starting slurmctld"
    /usr/sbin/slurmctld
fi
wait_for 60 slurmctld scontrol ping

if ! running /var/run/slurmd.pid; then
    say "starting slurmd"
    /usr/sbin/slurmd
fi

# node_ready: true once the node is usable; resumes a node left down/drained/invalid by an earlier attempt and,
# the first time, asks every daemon to re-read the configuration (slurmd then registers again).
RECONFIGURED=0
node_ready() {
    local state
    state=$(sinfo -h -n "$NODE" -o %T)
    case $state in
    idle | mixed | allocated) return 0 ;;
    down* | drain* | inval* | unknown*)
        if ((!RECONFIGURED)); then scontrol reconfigure >/dev/null 2>&1 || true; RECONFIGURED=1; fi
        scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
        return 1 ;;
    *) return 1 ;;
    esac
}
for _ in $(seq 60); do node_ready && break; sleep 1; done
node_ready || fail "node $NODE is '$(sinfo -h -n "$NODE" -o %T)' after 60 s, not idle; reason: $(sinfo -h -R -n "$NODE")"

out=$(timeout 60 srun -N1 -t 1 hostname) || fail "'srun hostname' failed; see /var/log/slurm/slurmctld.log and slurmd.log"
[[ $out == "$(hostname)" ]] || fail "'srun hostname' printed '$out', expected '$(hostname)'"
sinfo
say "SLURM is up: cluster $CLUSTER, node $NODE ($CPUS CPUs, $MEMORY MB, $GPUS gpu GRES), account $ACCOUNT"
