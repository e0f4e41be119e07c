#!/usr/bin/env bash
# Turn a training run into shipped weights and measure them; every number in the README model card and
# results table comes from the files this writes under results/.
#   tools/release_model.sh runs/v1 [BENCH_LIMIT]
# Needs the full chain set (../shared/data/pdb_chains.npz or $FOLDLITE_DATA) and, for the SS comparison,
# Debian's reprof (skipped when missing).
set -euo pipefail
run=${1:?usage: tools/release_model.sh RUN_DIR [BENCH_LIMIT]}
limit=${2:-50}
mkdir -p results
stamp() { echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD) $(nproc) cores"; }

foldlite export "$run/best.pt" -o foldlite/weights/foldlite.pt --calibrate --chains 60 --overwrite \
  | tee results/export.txt
python tools/merge_training_logs.py "$run/metrics.csv" foldlite/weights/training_log.csv

{ stamp; echo "\$ foldlite model-metrics --split test --limit 250 --lengths 30-600"
  foldlite model-metrics --split test --limit 250 --lengths 30-600; } | tee results/model_metrics_test.txt

# the benchmark's template rows stay cluster-separated: a train-split library (the shipped one holds
# every chain, test included; the benchmark prints which library it used)
data=${FOLDLITE_DATA:-../shared/data/pdb_chains.npz}
[ -f runs/train_library.npz ] || foldlite library build "$data" -o runs/train_library.npz --split train
{ stamp; echo "\$ foldlite benchmark --split test --limit $limit --lengths 30-300 --library runs/train_library.npz -o results/benchmark_test.csv --overwrite"
  foldlite benchmark --split test --limit "$limit" --lengths 30-300 --library runs/train_library.npz \
    -o results/benchmark_test.csv --overwrite | grep -v '^\['; } | tee results/benchmark_test.txt

if command -v reprof >/dev/null; then
  { stamp; echo "\$ python tools/compare_ss.py --split test --limit 60"
    python tools/compare_ss.py --split test --limit 60; } | tee results/ss_vs_reprof_test.txt
fi

# templates in the realistic case: the shipped library, every chain (the chain itself and >= 95 % copies excluded)
{ stamp; echo "\$ python tools/eval_templates.py --split test --limit 60 --lengths 40-300 --modes none,restrained,nearest -o results/eval_templates_test.csv"
  python tools/eval_templates.py --split test --limit 60 --lengths 40-300 --modes none,restrained,nearest \
    -o results/eval_templates_test.csv; } | tee results/eval_templates_test.txt

# the measured test numbers go into the weights' own provenance (state dict unchanged)
python tools/record_test_metrics.py foldlite/weights/foldlite.pt results/
