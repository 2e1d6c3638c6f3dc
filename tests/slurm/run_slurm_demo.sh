#!/usr/bin/env bash
# Prove workflow/profiles/slurm on a real single-node SLURM cluster: start it (setup_slurm.sh), run a DAG
# through `--profile workflow/profiles/slurm`, run the same DAG locally, compare the outputs, stop the cluster.
# Needs root on Debian 12 (it installs and starts slurm-wlm, munge, slurmdbd and MariaDB).
#
#   bash tests/slurm/run_slurm_demo.sh            the lse-vos workflow (default: demo `tables`)
#   bash tests/slurm/run_slurm_demo.sh smoke      the small DAG in tests/slurm/smoke/ (about 2 minutes)
#
# Environment (workflow mode):
#   SLURM_TARGET       Snakemake target(s); `{results}` stands for each run's results_dir, e.g.
#                      SLURM_TARGET='{results}/davis/dash-fm/masks'        (default: tables)
#   SLURM_CONFIGFILE   config file for both runs                            (default: config/demo.yaml)
#   SLURM_RESULTS_DIR  results_dir of the SLURM run (deleted first)         (default: results/slurm-demo)
#   LOCAL_RESULTS_DIR  results_dir of the local run (kept: an up-to-date `make demo` is reused)
#                      (default: the config file's results_dir)
#   LOCAL_CORES        --cores of the local run                             (default: all)
# Both modes:
#   SLURM_KEEP_RUNNING=1  leave the cluster running afterwards (default: tear it down)
# Exit status 0 only when every SLURM job succeeded and the compared outputs are byte-identical.
set -euo pipefail

MODE=${1:-workflow}
[[ $MODE == workflow || $MODE == smoke ]] || { echo "usage: $0 [workflow|smoke]" >&2; exit 2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
if [[ -x $REPO/.venv/bin/snakemake ]]; then
    export PATH=$REPO/.venv/bin:$PATH # the SLURM jobs inherit it (sbatch --export=ALL)
fi
command -v snakemake >/dev/null || { echo "snakemake not found: run 'make venv' first" >&2; exit 1; }

START=$(date +%s)
say() { echo "[run_slurm_demo $(($(date +%s) - START))s] $*" >&2; }
fail() { echo "[run_slurm_demo] FAILED: $*" >&2; exit 1; }

if [[ ${SLURM_KEEP_RUNNING:-0} != 1 ]]; then
    trap 'bash "$HERE/teardown_slurm.sh"' EXIT
fi

say "starting SLURM"
t0=$(date +%s)
bash "$HERE/setup_slurm.sh"
say "SLURM up in $(($(date +%s) - t0))s"

# The SLURM profile, without the local workflow profile, polling sacct every few seconds (a local cluster).
# The node's size caps each group job: a cpu_post bundle asks for the sum of its members (up to 8 CPUs),
# more than a 2-CPU node offers; with --cores Snakemake runs them in series inside the job (otherwise the
# job would wait forever with reason PartitionConfig).
read -r NODE_CPUS NODE_MEMORY < <(scontrol show node -o | awk '{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } print v["CPUTot"], v["RealMemory"]; exit }')
[[ -n $NODE_CPUS && -n $NODE_MEMORY ]] || fail "could not read CPUTot/RealMemory from 'scontrol show node'"
SLURM_ARGS=(--profile workflow/profiles/slurm --workflow-profile none --slurm-init-seconds-before-status-checks 5
    --cores "$NODE_CPUS" --resources "mem_mb=$NODE_MEMORY")

# slurm_jobs LOG: how many jobs the run logged as submitted to SLURM.
slurm_jobs() { grep -c "has been submitted with SLURM jobid" "$1" || true; }

# compare_trees same|subset LOCAL SLURM PATTERN...: byte-compare the files matching the find -path PATTERNs.
# `same`: both runs wrote the same set of files; `subset`: every file of the SLURM run is in the local run
# (which may hold more, e.g. a full `make demo` beside a one-sequence SLURM target).
compare_trees() {
    local how=$1 local_dir=$2 slurm_dir=$3 lists
    shift 3
    lists=$(mktemp -d)
    for side in local slurm; do
        local dir=$local_dir
        [[ $side == slurm ]] && dir=$slurm_dir
        (cd "$dir" && for pattern in "$@"; do find . -path "$pattern" -type f; done | sort -u) >"$lists/$side"
    done
    [[ -s $lists/slurm ]] || fail "the SLURM run wrote no file matching $* under $slurm_dir"
    if [[ $how == same ]] && ! diff -q "$lists/local" "$lists/slurm" >/dev/null; then
        diff "$lists/local" "$lists/slurm" | head -20 >&2
        fail "the local and SLURM runs wrote different sets of files (above: < local, > SLURM)"
    fi
    local differ=0 total=0
    while read -r file; do
        total=$((total + 1))
        cmp -s "$local_dir/$file" "$slurm_dir/$file" || { echo "differs or missing locally: $file" >&2; differ=$((differ + 1)); }
    done <"$lists/slurm"
    rm -rf "$lists"
    ((differ == 0)) || fail "$differ of $total files differ between $local_dir and $slurm_dir"
    say "$total files identical between $local_dir and $slurm_dir"
}

# field NAME FILE: the value of NAME=value in a *.where file.
field() { tr ' ' '\n' <"$2" | sed -n "s/^$1=//p"; }

# more_than_one_gpu: the lines on stdin (sacct -P rows) that request or hold more than one GPU
# (gres/gpu=N or gres/gpu:<model>=N with N > 1).
more_than_one_gpu() { grep -E 'gres/gpu(:[^=,|]*)?=([2-9]|[1-9][0-9]+)' || true; }

# The smoke DAG (tests/slurm/smoke/Snakefile) mirrors the workflow's jobs in cuda mode: per sample one adapt
# job (the chain finetune -> scan1 -> pseudo_labels -> retrain -> scan2, one GPU), one gtbox job (one GPU);
# the six CRFs (CPU, group cpu_post) bundled into one job by the profile; a seed job per sample, the threaded
# job.
SMOKE_SLURM_JOBS=11

run_smoke() {
    local base=results/slurm-smoke
    rm -rf "$base"
    mkdir -p "$base"
    say "smoke DAG, local run"
    snakemake -s tests/slurm/smoke/Snakefile -d "$base/local" --cores 2 >"$base/local.log" 2>&1 ||
        fail "local smoke run; see $base/local.log"
    say "smoke DAG through SLURM"
    t0=$(date +%s)
    local since rc=0 wall run_id
    since=$(date -d "@$t0" +%Y-%m-%dT%H:%M:%S)
    # Keep the SLURM logs of successful jobs too: they are searched for gres errors below.
    snakemake -s tests/slurm/smoke/Snakefile -d "$base/slurm" "${SLURM_ARGS[@]}" \
        --slurm-keep-successful-logs >"$base/slurm.log" 2>&1 || rc=$?
    wall=$(($(date +%s) - t0))
    say "SLURM smoke run took ${wall}s (exit status $rc), $(slurm_jobs "$base/slurm.log") SLURM jobs"

    # What every SLURM job of this run (the plugin names them all after the run ID, jobs that SLURM refused
    # at submission included) and each of its steps (batch, the plugin's srun step) asked for and got;
    # checked before the run's own exit status, so that a refused multi-GPU job is reported as such.
    run_id=$(sed -n 's/^SLURM run ID: //p' "$base/slurm.log" | head -1)
    [[ -n $run_id ]] || fail "no 'SLURM run ID' in $base/slurm.log"
    sacct -X -P -S "$since" --name="$run_id" \
        -o JobID,JobName,Comment,AllocCPUS,ReqMem,ReqTRES,AllocTRES,State,Elapsed >"$base/sacct.txt"
    local ids
    ids=$(tail -n +2 "$base/sacct.txt" | cut -d'|' -f1 | paste -sd,)
    [[ -n $ids ]] || fail "sacct knows no job named $run_id since $since; see $base/slurm.log"
    # The steps (batch, the plugin's srun step) carry no job name of their own: list them by job id.
    sacct -P -j "$ids" \
        -o JobID,JobName,ReqTRES,AllocTRES,State,ExitCode >"$base/sacct_steps.txt"
    echo "SLURM jobs of the smoke run (sacct -X -P --name=$run_id; the run took ${wall}s):" >&2
    cat "$base/sacct.txt" >&2
    local bad
    bad=$(tail -n +2 "$base/sacct_steps.txt" | more_than_one_gpu)
    [[ -z $bad ]] || fail "SLURM jobs or steps requested or were allocated more than one GPU:
$bad"
    bad=$(grep -rhiE 'gres' "$base/slurm/.snakemake/slurm_logs/" "$base/slurm.log" 2>/dev/null |
        grep -iE 'error|more than|invalid|unable' || true)
    [[ -z $bad ]] || fail "gres errors in the SLURM job logs ($base/slurm/.snakemake/slurm_logs/):
$bad"
    bad=$(tail -n +2 "$base/sacct_steps.txt" | awk -F'|' '$5 != "COMPLETED"')
    [[ -z $bad ]] || fail "SLURM jobs or steps did not complete (see $base/sacct_steps.txt):
$bad"
    ((rc == 0)) || fail "SLURM smoke run; see $base/slurm.log and $base/slurm/.snakemake/slurm_logs/"
    local submitted
    submitted=$(($(wc -l <"$base/sacct.txt") - 1))
    ((submitted == SMOKE_SLURM_JOBS)) ||
        fail "the run submitted $submitted SLURM jobs, not $SMOKE_SLURM_JOBS (one per group); see $base/sacct.txt"

    local value
    value=$(cat "$base/slurm/summary.txt")
    [[ $value == "total 537" ]] || fail "summary.txt is '$value', expected 'total 537'"
    value=$(cat "$base/slurm/threaded.txt")
    [[ $value == "19 46 51 99 112 210" ]] || fail "threaded.txt is '$value', expected '19 46 51 99 112 210'"
    compare_trees same "$base/local" "$base/slurm" "*.txt"

    # Jobs: each sample's chain (adapt) and its GT-box scan are SLURM jobs of their own with exactly one GPU;
    # the six CRFs (CPU only) share one bundled job without a GPU.
    local jobs=() crf_jobs=() sample job where
    for sample in a b c; do
        for where in adapt.where gtbox.where; do
            job=$(field job "$base/slurm/samples/$sample/$where")
            [[ $job =~ ^[0-9]+$ ]] || fail "sample $sample: $where did not run in a SLURM job"
            sacct -X -n -P -j "$job" -o AllocTRES | grep -qE 'gres/gpu(:[^=,]*)?=1(,|$)' ||
                fail "SLURM job $job of sample $sample ($where, a GPU step) did not get exactly one GPU"
            jobs+=("$job")
        done
        for where in scan2_crf.where gtbox_crf.where; do
            job=$(field job "$base/slurm/samples/$sample/$where")
            [[ $job =~ ^[0-9]+$ ]] || fail "sample $sample: $where did not run in a SLURM job"
            ! sacct -X -n -P -j "$job" -o ReqTRES,AllocTRES | grep -q 'gres/gpu' ||
                fail "SLURM job $job of sample $sample ($where, CPU only) booked a GPU"
            crf_jobs+=("$job")
        done
    done
    [[ $(printf '%s\n' "${jobs[@]}" | sort -u | wc -l) -eq 6 ]] ||
        fail "adapt and gtbox steps shared SLURM jobs: ${jobs[*]}"
    [[ $(printf '%s\n' "${crf_jobs[@]}" | sort -u | wc -l) -eq 1 ]] ||
        fail "the six cpu_post CRFs were not bundled into one SLURM job: ${crf_jobs[*]}"
    [[ ! " ${jobs[*]} " =~ \ ${crf_jobs[0]}\  ]] || fail "the CRF bundle ran inside a GPU job"
    [[ $(field cpus "$base/slurm/threaded.where") == 2 ]] || fail "rule threaded (threads: 2) did not get 2 CPUs"
    [[ -z $(field job "$base/local/samples/a/adapt.where") ]] || fail "the local run ran inside SLURM"
    say "jobs (adapt and gtbox per sample: ${jobs[*]}; CRF bundle: ${crf_jobs[0]}), GPU booking (no job or" \
        "step over one GPU, no gres error) and threads checked"
}

config_results_dir() {
    python - "$1" <<'EOF'
import sys, yaml
print(yaml.safe_load(open(sys.argv[1]))["results_dir"].rstrip("/"))
EOF
}

run_workflow() {
    local target=${SLURM_TARGET:-tables}
    local configfile=${SLURM_CONFIGFILE:-config/demo.yaml}
    local slurm_dir=${SLURM_RESULTS_DIR:-results/slurm-demo}
    local local_dir=${LOCAL_RESULTS_DIR:-$(config_results_dir "$configfile")}
    [[ $slurm_dir != "$local_dir" ]] || fail "SLURM_RESULTS_DIR equals the local results_dir ($local_dir)"
    local logs=results/slurm-demo-logs
    mkdir -p "$logs"
    local targets
    say "local run: $target with $configfile into $local_dir"
    t0=$(date +%s)
    read -r -a targets <<<"${target//\{results\}/$local_dir}"
    # Targets first: --configfile and --config take every following word as theirs.
    snakemake "${targets[@]}" --cores "${LOCAL_CORES:-all}" --configfile "$configfile" --config results_dir="$local_dir" \
        >"$logs/local.log" 2>&1 || fail "local run; see $logs/local.log"
    say "local run took $(($(date +%s) - t0))s"

    say "SLURM run: $target with $configfile into $slurm_dir (deleted first)"
    rm -rf "$slurm_dir"
    t0=$(date +%s)
    read -r -a targets <<<"${target//\{results\}/$slurm_dir}"
    snakemake "${targets[@]}" "${SLURM_ARGS[@]}" --configfile "$configfile" --config results_dir="$slurm_dir" \
        >"$logs/slurm.log" 2>&1 || fail "SLURM run; see $logs/slurm.log and .snakemake/slurm_logs/"
    local submitted
    submitted=$(slurm_jobs "$logs/slurm.log")
    ((submitted > 0)) || fail "the SLURM run submitted no job; see $logs/slurm.log"
    say "SLURM run took $(($(date +%s) - t0))s, $submitted SLURM jobs"

    compare_trees subset "$local_dir" "$slurm_dir" "./davis/*/masks/*.png" "./segtrack/*/masks/*.png"
}

"run_$MODE"
say "done: the SLURM run matches the local run"
