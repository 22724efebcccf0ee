"""Runs that repeat their data for many epochs, at several model sizes: what a val term for
repeated data is calibrated on.

    python benchmarks/repetition_runs.py [--runs fixtures/repetition] [--data input.txt]

The README CPU config (lossdoctor/configs/shakespeare_char_cpu.yaml) at batch 24 (1,536
tokens a step: 654 steps an epoch of tiny Shakespeare's 1M training characters) with three
model sizes, none of them a held-out config (benchmarks/heldout_runs.py) or in the
calibration grid:

    r2w96    2 layers x 96, 3 heads     0.2M parameters
    r3w128   3 layers x 128, 4 heads    0.6M
    r4w192   4 layers x 192, 6 heads    1.8M

each at 2000 steps (3.1 epochs: the log predicted from) and 5000 steps (7.7 epochs: the
truth); and the README CPU config itself at its batch of 12 (`r4w128`, 0.8M), at 4000 and
10000 steps, the same 3.1 and 7.7 epochs, which tells the epochs from the batch. Seed 1,
each kept as train.log and a 500-batch truth.json, as heldout_runs.py does.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from heldout_runs import run_args, train  # noqa: E402

DEFAULT_RUNS = os.path.join(ROOT, "fixtures", "repetition")
HORIZONS = {"r4w128": (4000, 10000)}  # steps of the log predicted from and of the truth; else:
DEFAULT_HORIZONS = (2000, 5000)
CONFIGS: dict[str, list[str]] = {
    "r4w128": ["--batch_size=12"],
    "r2w96": ["--n_layer=2", "--n_embd=96", "--n_head=3", "--batch_size=24"],
    "r3w128": ["--n_layer=3", "--n_embd=128", "--n_head=4", "--batch_size=24"],
    "r4w192": ["--n_layer=4", "--n_embd=192", "--n_head=6", "--batch_size=24"],
}


def main() -> int:
    args = run_args(__doc__, DEFAULT_RUNS)
    if args is None:
        return 2
    for i in range(2):  # the short logs first
        for config, flags in CONFIGS.items():
            steps = HORIZONS.get(config, DEFAULT_HORIZONS)[i]
            train(args.runs, config, steps, os.path.abspath(args.data), flags)
    return 0


if __name__ == "__main__":
    sys.exit(main())
