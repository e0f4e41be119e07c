#!/usr/bin/env bash
# Turn a training checkpoint into the shipped weights and measure them; every number in the README model
# card and results table comes from the files this writes under results/.
#   tools/release_model.sh CHECKPOINT|RUN_DIR [BENCH_LIMIT]
# RUN_DIR means RUN_DIR/best.pt; the run's metrics.csv (beside the checkpoint) is merged into the shipped
# training log. Needs the full chain set (../shared/data/pdb_chains.npz or $FOLDLITE_DATA) and, for the SS
# comparison, Debian's reprof (skipped when missing). About 40 minutes on 2 idle cores.
# EXPORT_FLAGS="--current-weights" ships a run's current weights instead of its weight average.
set -euo pipefail
checkpoint=${1:?usage: tools/release_model.sh CHECKPOINT|RUN_DIR [BENCH_LIMIT]}
[ -d "$checkpoint" ] && checkpoint="$checkpoint/best.pt"
run=$(dirname "$checkpoint")
limit=${2:-50}
mkdir -p results
stamp() { echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD) $(nproc) cores"; }

# weights + pLDDT, PAE and pTM maps fitted on valid folds (single sequence and template-restrained)
foldlite export "$checkpoint" -o foldlite/weights/foldlite.pt --calibrate --chains 60 --overwrite ${EXPORT_FLAGS:-} \
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
python tools/template_groups.py results/eval_templates_test.csv | tee -a results/eval_templates_test.txt

# the pairwise confidence against observed errors and TM-scores (maps from the export above)
{ stamp; echo "\$ python tools/calibrate_pae.py --split test --limit 50 --lengths 40-200 -o results/pae_calibration_test.csv --plot results/pae_calibration_test.png"
  python tools/calibrate_pae.py --split test --limit 50 --lengths 40-200 -o results/pae_calibration_test.csv \
    --plot results/pae_calibration_test.png | grep -v '^\['; } | tee results/pae_calibration_test.txt

# the measured test numbers go into the weights' own provenance (state dict unchanged)
python tools/record_test_metrics.py foldlite/weights/foldlite.pt results/ --valid-from "$run/metrics.csv"

# what depends on the exact weights file: the attention probe (keyed to its sha256) and the golden fold
OMP_NUM_THREADS=1 python tools/fit_attention_probe.py --threads 1 -o foldlite/weights/attention_probe.npz \
  --report results/attention_probe.txt
python tools/make_golden_fold.py
