"""Record of the valid-split run that chose the template trust constants (foldlite/templates/restraints.py).

    python tools/tune_template_trust.py WEIGHTS LIMIT      # run on 2026-11-29 with the v1 weights, 30

Folds LIMIT valid chains (40-300 residues, seeded) with a library of train + valid chains under
several settings (E-value cut-off, trust by identity, template start) and prints mean TM per setting.
Output of that run: results/tune_template_trust_valid_v1weights.txt. Settings are applied by
overwriting module constants, so later defaults (sharper restraints) also apply when rerun.
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
    weights = sys.argv[1]; limit = int(sys.argv[2])
    cs = ChainSet()
    lib = train_plus_split_library(Path(cs.path), 'valid', ROOT / 'runs' / 'eval_templates_cache', None)
    idx = select_chains(cs, 'valid', limit, 40, 300, seed=0)
    model = load_model(weights)
    configs = {
     'none': dict(templates=None),
     'E1e-3': dict(template_evalue=1e-3),
     'E0.1': dict(template_evalue=0.1),
     'E1': dict(template_evalue=1.0),
     'E0.1_strong': dict(template_evalue=0.1, _w=(0.10, 0.25, 0.95)),
     'E0.1_nostart': dict(template_evalue=0.1, template_start=False),
    }
    default_w = (T.IDENTITY_FLOOR, T.IDENTITY_SPAN, T.MAX_WEIGHT)
    res = {k: [] for k in configs}; ident = []
    for n, i in enumerate(idx):
        ch = cs.chain(int(i))
        for k, cfg in configs.items():
            cfg = dict(cfg); w = cfg.pop('_w', default_w)
            T.IDENTITY_FLOOR, T.IDENTITY_SPAN, T.MAX_WEIGHT = w
            opts = dict(templates=lib, exclude_templates={ch.name}, max_template_identity=0.95); opts.update(cfg)
            p = fold(ch.sequence, model=model, keep_attention=False, **opts)
            res[k].append(tm_score(p.structure.ca, ch.backbone[:, 1]).tm_score)
            if k == 'E1':
                ident.append(p.templates[0]['identity'] if p.templates else 0.0)
        print(n, ch.name, len(ch.sequence), ' '.join(f"{k}={v[-1]:.3f}" for k, v in res.items()), f"id={ident[-1]:.2f}", flush=True)
    ident = np.array(ident)
    for label, sel in (('all', ident >= 0), ('hit>=0.3', ident >= 0.3), ('hit<0.3', ident < 0.3)):
        print(label, sel.sum(), ' '.join(f"{k}={np.mean(np.array(v)[sel]):.3f}" for k, v in res.items()))


if __name__ == "__main__":
    main()
