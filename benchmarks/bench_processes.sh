#!/usr/bin/env bash
# Training throughput with the machine's cores split two ways: 1 process x N threads against
# N processes x 1 thread (torchrun + DistributedDataParallel over gloo). Same recipe, same global
# batch (8 crops per step), real train-split crops; rates are read from each run's metrics.csv
# (steps 21-40, after warm-up). Needs the full chain set.
#   bash benchmarks/bench_processes.sh [RECIPE] [CROP]
set -euo pipefail
recipe=${1:-base}
crop=${2:-128}
cores=$(nproc)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common=(--recipe "$recipe" --max-steps 40 --eval-every 100000 --crop-start "$crop" --crop-end "$crop" --seed 0)
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(lscpu | sed -n 's/^Model name: *//p'), $cores cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
OMP_NUM_THREADS=$cores foldlite train --out "$tmp/threads" --threads "$cores" "${common[@]}" > "$tmp/threads.log"
OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node "$cores" -m foldlite train --out "$tmp/procs" \
  --threads 1 "${common[@]}" > "$tmp/procs.log" 2>&1
# crops/s is wall-clock (sensitive to other work on the machine); crops per CPU-second uses the OS
# process CPU time summed over all processes (train_cpu_hours), between the rows of steps 20 and 40
for run in threads procs; do
  awk -F, -v run="$run" -v recipe="$recipe" -v crop="$crop" '
    NR==1 {for (i = 1; i <= NF; i++) col[$i] = i; next}
    $1 == 20 {cpu20 = $col["train_cpu_hours"] * 3600}
    $1 == 40 {cpu40 = $col["train_cpu_hours"] * 3600; rate = $col["crops_per_s"]}
    END {printf "recipe=%s crop=%s layout=%s crops_per_s=%s crops_per_cpu_s=%.2f\n", recipe, crop, run, rate, 160 / (cpu40 - cpu20)}
  ' "$tmp/$run/metrics.csv"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
