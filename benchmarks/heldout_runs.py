"""Held-out configs of `lossdoctor extrapolate`: two steps away from nanoGPT's README CPU config.

    python benchmarks/heldout_runs.py [--runs fixtures/heldout] [--data input.txt]

Each config is the README CPU config (lossdoctor/configs/shakespeare_char_cpu.yaml) with
one change, trained by the built-in trainer at 2000 steps (the log predicted from) and
5000 steps (the truth), max_iters = lr_decay_iters, seed 1:

    d6w192   --n_layer=6 --n_embd=192 --n_head=6   (the README's head size of 32)
    batch24  --batch_size=24

Neither config is in the calibration grid (benchmarks/calibration_grid.py) nor is the
README config itself, so `benchmarks/extrapolation_family.py` predicts them out of sample,
as lossdoctor ships (calibration.for_config). Each run keeps its train.log and
truth.json: the final model's val loss over 500 random val batches (always_save_checkpoint
is on, so the checkpoint is the final model, not the best one); the checkpoint is
dropped. Runs already there are reused.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)
DEFAULT_RUNS = os.path.join(ROOT, "fixtures", "heldout")
DEFAULT_DATA = os.path.join(ROOT, "..", "shared", "data", "shakespeare_char", "input.txt")
README_CPU = os.path.join(ROOT, "lossdoctor", "configs", "shakespeare_char_cpu.yaml")
HORIZONS = (2000, 5000)  # 2.5x
TRUTH_BATCHES = 500
SEED = 1

CONFIGS: dict[str, list[str]] = {
    "d6w192": ["--n_layer=6", "--n_embd=192", "--n_head=6"],
    "batch24": ["--batch_size=24"],
}


def train(runs: str, config: str, steps: int, data: str, flags: list[str] | None = None) -> None:
    """Train runs/CONFIG-STEPS (the README CPU config with CONFIGS[config], or `flags`),
    record its 500-batch truth, keep only train.log and truth.json."""
    name = f"{config}-{steps}"
    out = os.path.join(runs, name)
    if os.path.exists(os.path.join(out, "truth.json")):
        return
    print(f"training {name} ...", file=sys.stderr, flush=True)
    seconds = run_trainer(out, data, [*(flags or CONFIGS[config]), f"--max_iters={steps}", f"--lr_decay_iters={steps}"])
    keep_truth(out, data, seconds)


def run_trainer(out: str, data: str, flags: list[str]) -> float:
    """`lossdoctor train` of the README CPU config with `flags` into `out`, seed SEED, the
    final model checkpointed: the seconds it took."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lossdoctor", "train", README_CPU, *flags, "--always_save_checkpoint=True",
                    f"--seed={SEED}", f"--out_dir={out}", f"--data={data}", "--no-progress"],
                   stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def keep_truth(out: str, data: str, seconds: float, base: str | None = None) -> None:
    """Write out/truth.json: the final model's val over TRUTH_BATCHES val batches (and, with
    `base`, that run dir's checkpoint's over the same batches, as `base_val`), then drop
    all but train.log and truth.json."""
    from extrapolation import true_val

    from lossdoctor.trainer.data import load_data
    loaded = load_data(data)
    record = {"val": true_val(out, loaded, TRUTH_BATCHES), "batches": TRUTH_BATCHES, "train_seconds": round(seconds, 1)}
    if base is not None:
        record["base_val"] = true_val(base, loaded, TRUTH_BATCHES)
    for extra in (f"val_{TRUTH_BATCHES}.txt", "metrics.jsonl", "meta.pkl", "ckpt.pt"):
        if os.path.exists(os.path.join(out, extra)):
            os.remove(os.path.join(out, extra))
    with open(os.path.join(out, "truth.json"), "w", encoding="utf-8") as f:
        json.dump(record, f)
    print(f"  {seconds:.0f} s, truth {record['val']:.4f}", file=sys.stderr, flush=True)


def training_minutes(runs: str, names: list[str]) -> float:
    """The training wall clock of the named runs in `runs`, from their truth.json."""
    seconds = 0.0
    for name in names:
        with open(os.path.join(runs, name, "truth.json"), encoding="utf-8") as f:
            seconds += json.load(f)["train_seconds"]
    return seconds / 60


def run_args(doc: str, runs: str) -> argparse.Namespace | None:
    """--runs (default `runs`) and --data of a script that trains benchmark runs; None, said
    on stderr, when the data is not there."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--runs", default=runs)
    ap.add_argument("--data", default=DEFAULT_DATA, help="tiny Shakespeare's input.txt")
    args = ap.parse_args()
    if not os.path.exists(args.data):
        print(f"{args.data}: not found (tiny Shakespeare's input.txt; give --data)", file=sys.stderr)
        return None
    os.makedirs(args.runs, exist_ok=True)
    return args


def main() -> int:
    args = run_args(__doc__, DEFAULT_RUNS)
    if args is None:
        return 2
    for steps in HORIZONS:  # the short logs first: they are what is predicted from
        for config in CONFIGS:
            train(args.runs, config, steps, os.path.abspath(args.data))
    minutes = training_minutes(args.runs, [f"{c}-{steps}" for c in CONFIGS for steps in HORIZONS])
    print(f"training took {minutes:.0f} minutes of wall clock in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
