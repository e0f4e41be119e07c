"""Command-line interface: parses arguments, calls the library, reports. No pipeline logic lives here."""
from __future__ import annotations

import argparse
import sys


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train (or resume) a model on a chain set")
    p.add_argument("--out", required=True, help="run folder (last.pt, best.pt, metrics.csv)")
    p.add_argument("--data", default=None, help="chain-set .npz (default: $FOLDLITE_DATA or ../shared/data)")
    p.add_argument("--minutes", type=float, default=60.0, help="wall-clock budget")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt (optimiser included)")
    p.add_argument("--init-from", default=None,
                   help="continue from a weights file (e.g. the shipped foldlite/weights/foldlite.pt)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--total-steps", type=int, default=None, help="cosine schedule horizon")
    p.add_argument("--crop-growth-steps", type=int, default=None)
    p.add_argument("--eval-every", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)


def _run_train(args) -> int:
    from dataclasses import replace

    from .config import TrainConfig
    from .train import train

    overrides = {k: v for k, v in {"total_steps": args.total_steps, "crop_growth_steps": args.crop_growth_steps,
                                   "eval_every": args.eval_every, "seed": args.seed}.items() if v is not None}
    train_config = None
    if overrides and not args.resume and not args.init_from:
        train_config = replace(TrainConfig(), **overrides)
    train(args.out, data_path=args.data, minutes=args.minutes, max_steps=args.max_steps, resume=args.resume,
          init_from=args.init_from, train_config=train_config, threads=args.threads)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="foldlite", description="Offline protein structure prediction on CPU.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"train": _run_train}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
