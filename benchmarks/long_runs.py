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
truth.json, as heldout_runs.py does. Then each 2000-step run is continued to 5000 steps,
`resume` (--init_from=resume with a new cosine to 5000) and `constant` (at min_lr), kept
the same way as CONFIG-resume-5000 and CONFIG-constant-5000; the 2000-step checkpoints
they start from are trained again into ~/.cache/lossdoctor-bench/long-bases, outside the
checkout, as fixtures keep no checkpoints. Last, the resume bump without eval noise: each
2000-step checkpoint resumed exactly as `resume` is but stopped at its first eval after
resuming (CONFIG-bump-2250), its truth.json holding the 500-batch val of the checkpoint it
resumed from too (`base_val`, the same batches): the bump is their difference, paired.
"""

from __future__ import annotations

import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from heldout_runs import HORIZONS, README_CPU, keep_truth, run_args, run_trainer, train, training_minutes  # noqa: E402,E501

DEFAULT_RUNS = os.path.join(ROOT, "fixtures", "long")
CONFIGS: dict[str, list[str]] = {
    "lr2e-3": ["--learning_rate=2e-3", "--min_lr=2e-4"],
    "lr5e-4": ["--learning_rate=5e-4", "--min_lr=5e-5"],
    "drop0.1": ["--dropout=0.1"],
    "d3w96h4": ["--n_layer=3", "--n_embd=96", "--n_head=4"],
    "block32": ["--block_size=32"],
    "batch8": ["--batch_size=8"],
}


DEFAULT_BASES = os.path.join(os.path.expanduser("~"), ".cache", "lossdoctor-bench", "long-bases")
CONTINUED = ("resume", "constant")
BUMP_STEPS = 250  # the README CPU config's eval interval: where the logged bump is read


def min_lr(flags: list[str]) -> str:
    """The config's min_lr: its flag, else the README CPU config's."""
    given = [f.split("=", 1)[1] for f in flags if f.startswith("--min_lr=")]
    if given:
        return given[0]
    import yaml
    with open(README_CPU, encoding="utf-8") as f:
        return str(yaml.safe_load(f)["min_lr"])


def continue_run(runs: str, bases: str, config: str, kind: str, data: str) -> None:
    """runs/CONFIG-KIND-5000: the 2000-step run continued to 5000, `resume` or `constant`;
    or runs/CONFIG-bump-2250 (`bump`): resumed as `resume` is, stopped at its first eval."""
    short, to = HORIZONS
    stop = short + BUMP_STEPS if kind == "bump" else to
    name = f"{config}-{kind}-{stop}"
    out = os.path.join(runs, name)
    if os.path.exists(os.path.join(out, "truth.json")):
        return
    base = os.path.join(bases, f"{config}-{short}")
    if not os.path.exists(os.path.join(base, "ckpt.pt")):
        print(f"training {config}-{short} again for its checkpoint ...", file=sys.stderr, flush=True)
        run_trainer(base, data, [*CONFIGS[config], f"--max_iters={short}", f"--lr_decay_iters={short}"])
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    shutil.copy(os.path.join(base, "ckpt.pt"), os.path.join(out, "ckpt.pt"))
    extra = ([f"--lr_decay_iters={to}"] if kind in ("resume", "bump")  # get_lr does not depend on max_iters
             else ["--decay_lr=False", f"--learning_rate={min_lr(CONFIGS[config])}"])
    print(f"training {name} ...", file=sys.stderr, flush=True)
    seconds = run_trainer(out, data, [*CONFIGS[config], "--init_from=resume", f"--max_iters={stop}", *extra])
    keep_truth(out, data, seconds, base if kind == "bump" else None)


def main() -> int:
    args = run_args(__doc__, DEFAULT_RUNS)
    if args is None:
        return 2
    data = os.path.abspath(args.data)
    for steps in HORIZONS:  # the short logs first: they are what is predicted from
        for config, flags in CONFIGS.items():
            train(args.runs, config, steps, data, flags)
    for config in CONFIGS:
        for kind in (*CONTINUED, "bump"):
            continue_run(args.runs, DEFAULT_BASES, config, kind, data)
    names = [f"{c}-{steps}" for c in CONFIGS for steps in HORIZONS] + [f"{c}-{k}-{HORIZONS[1]}" for c in CONFIGS
                                                                      for k in CONTINUED]
    print(f"training took {training_minutes(args.runs, names):.0f} minutes of wall clock in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
