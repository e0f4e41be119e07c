"""Record of the valid-split run that chose the template restraint sharpness (foldlite/templates/restraints.py).

    python tools/tune_template_sharpness.py WEIGHTS        # run on 2026-11-29 with the step-2000 weights

Folds 40 valid chains (40-300 residues, seeded) with a library of train + valid chains, E <= 0.1,
for two settings of DISTANCE_SIGMA / DISTANCE_SIGMA_SLOPE (the previous 1.0 / 1.5 is the
`restrained@0.1` column of results/eval_templates_valid_step2000_evalue.txt) and prints mean TM.
Output of that run: results/tune_template_sharpness_valid.txt.
"""
import sys, numpy as np, torch
ROOT = __import__('pathlib').Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools')); sys.path.insert(0, str(ROOT))
torch.set_num_threads(1)
from pathlib import Path
import foldlite.templates.restraints as T
from foldlite.api import fold, load_model
from foldlite.data.chains import ChainSet
from foldlite.evaluation.benchmark import select_chains
from foldlite.evaluation.metrics import tm_score
from eval_templates import train_plus_split_library


def main():
    cs = ChainSet()
    lib = train_plus_split_library(Path(cs.path), 'valid', ROOT / 'runs' / 'eval_templates_cache', None)
    idx = select_chains(cs, 'valid', 40, 40, 300, seed=0)
    model = load_model(sys.argv[1])
    variants = {'sharp': (0.5, 1.0), 'sharper': (0.3, 0.7)}
    res = {k: [] for k in variants}
    for n, i in enumerate(idx):
        ch = cs.chain(int(i))
        for k, (s0, s1) in variants.items():
            T.DISTANCE_SIGMA, T.DISTANCE_SIGMA_SLOPE = s0, s1
            p = fold(ch.sequence, model=model, keep_attention=False, templates=lib, exclude_templates={ch.name},
                     max_template_identity=0.95, template_evalue=0.1)
            res[k].append(tm_score(p.structure.ca, ch.backbone[:, 1]).tm_score)
        print(n, ch.name, ' '.join(f"{k}={v[-1]:.3f}" for k, v in res.items()), flush=True)
    print('all', ' '.join(f"{k}={np.mean(v):.3f}" for k, v in res.items()))


if __name__ == "__main__":
    main()
