"""Runs of six more configs from 2000 steps on: the family the ensemble's law weights are
chosen on, apart from the held-out configs and the repetition runs that check them.

    python benchmarks/long_runs.py [--runs fixtures/long] [--data input.txt]

The calibration grid (benchmarks/calibration_grid.py) stops at 2000 steps and predicts
from 400, 600 and 1000, early in a char-level model's training. These are the README CPU
config (lossdoctor/configs/shakespeare_char_cpu.yaml) with one change each, none of them
a held-out config (benchmarks/heldout_runs.py), a repetition run or in the grid:

    lr2e-3    --learning_rate=2e-3 --min_lr=2e-4
    lr5e-4    --learning_rate=5e-4 --min_lr=5e-5
    drop0.1   --dropout=0.1
    d3w96h4   --n_layer=3 --n_embd=96 --n_head=4
    block32   --block_size=32
    batch8    --batch_size=8

each at 2000 steps (the log predicted from) and 5000 steps (the truth), seed 1, at most 3.8
epochs of tiny Shakespeare at 5000 steps; each kept as train.log and a 500-batch
truth.json, as heldout_runs.py does.
"""

from __future__ import annotations

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from heldout_runs import HORIZONS, run_args, train  # noqa: E402

DEFAULT_RUNS = os.path.join(ROOT, "fixtures", "long")
CONFIGS: dict[str, list[str]] = {
    "lr2e-3": ["--learning_rate=2e-3", "--min_lr=2e-4"],
    "lr5e-4": ["--learning_rate=5e-4", "--min_lr=5e-5"],
    "drop0.1": ["--dropout=0.1"],
    "d3w96h4": ["--n_layer=3", "--n_embd=96", "--n_head=4"],
    "block32": ["--block_size=32"],
    "batch8": ["--batch_size=8"],
}


def main() -> int:
    args = run_args(__doc__, DEFAULT_RUNS)
    if args is None:
        return 2
    for steps in HORIZONS:  # the short logs first: they are what is predicted from
        for config, flags in CONFIGS.items():
            train(args.runs, config, steps, os.path.abspath(args.data), flags)
    seconds = 0.0
    for config in CONFIGS:
        for steps in HORIZONS:
            with open(os.path.join(args.runs, f"{config}-{steps}", "truth.json"), encoding="utf-8") as f:
                seconds += json.load(f)["train_seconds"]
    print(f"training took {seconds / 60:.0f} minutes of wall clock in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
