"""Labelled diagnosis benchmark: runs with one planted cause each, and healthy runs.

    python benchmarks/diagnosis.py [--runs fixtures/diagnosis] [--data input.txt] [--retrain]

Each run is trained by the built-in trainer on tiny Shakespeare (char level) with a small
CPU config (BASE below), changed in one way. The runs are kept in --runs (by default the
project's fixtures/diagnosis, which the test suite also reads; each keeps its train.log,
the checkpoint and metrics.jsonl are dropped); existing ones are reused unless --retrain.
Training all of them takes about 5 minutes on 2 CPU cores.

Prints, per run, the ranked findings; then recall@1 and recall@3 of the planted category
(is a finding of that category first / among the first three?), and the false-alarm rate:
the share of healthy runs with a finding at warning or above in a fault category.
Targets: recall@3 >= 0.9, false alarms <= 0.1. The rules' thresholds come from the
literature and nanoGPT's recipes (docs/rules.md), not from this set.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FAULT_CATEGORIES = ("lr_too_high", "lr_too_low", "divergence", "overfitting", "underfitting",
                    "regularization", "batch_size", "data")

# a small CPU config in the spirit of nanoGPT's README CPU run, 1000 steps
BASE = ["--dataset=shakespeare_char", "--device=cpu", "--compile=False", "--dtype=float32",
        "--n_layer=2", "--n_head=2", "--n_embd=64", "--block_size=64", "--batch_size=12",
        "--gradient_accumulation_steps=1",
        "--dropout=0.0", "--bias=False", "--learning_rate=0.001", "--min_lr=0.0001", "--beta2=0.99",
        "--max_iters=1000", "--lr_decay_iters=1000", "--warmup_iters=20", "--eval_interval=100",
        "--eval_iters=50", "--log_interval=1", "--always_save_checkpoint=False"]

# name -> (planted category or None for healthy, flags changed from BASE, data: "full" | "small")
RUNS: dict[str, tuple[str | None, list[str], str]] = {
    "lr_high": ("lr_too_high", ["--learning_rate=0.05", "--min_lr=0.005"], "full"),
    "lr_low": ("lr_too_low", ["--learning_rate=1e-05", "--min_lr=1e-06"], "full"),
    "diverge": ("divergence", ["--learning_rate=1.0", "--min_lr=0.1", "--grad_clip=0.0"], "full"),
    "decay_600k": ("lr_schedule", ["--lr_decay_iters=600000"], "full"),
    "warmup_long": ("lr_schedule", ["--warmup_iters=950"], "full"),
    "tiny_batch": ("batch_size", ["--batch_size=1"], "full"),
    "eval_iters_2": ("eval_noise", ["--eval_iters=2"], "full"),
    "overfit_small_data": ("overfitting", ["--n_layer=4", "--n_head=4", "--n_embd=128", "--max_iters=1500",
                                           "--lr_decay_iters=1500", "--eval_interval=150"], "small"),
    "model_too_small": ("underfitting", ["--n_layer=1", "--n_head=1", "--n_embd=8"], "full"),
    "heavy_wd": ("regularization", ["--weight_decay=10.0"], "full"),
    "healthy_tiny": (None, [], "full"),
    "healthy_small": (None, ["--n_layer=4", "--n_head=4", "--n_embd=128"], "full"),
    "healthy_wide": (None, ["--n_layer=3", "--n_head=4", "--n_embd=192", "--max_iters=800",
                            "--lr_decay_iters=800", "--eval_interval=80"], "full"),
}
SMALL_DATA_CHARS = 30_000  # the first 30k characters: 27k train, 3k val


def train(runs: str, name: str, data: str, retrain: bool) -> str:
    out = os.path.join(runs, name)
    if os.path.exists(os.path.join(out, "train.log")) and not retrain:
        return out
    shutil.rmtree(out, ignore_errors=True)
    _, flags, which = RUNS[name]
    if which == "small":
        small = os.path.join(runs, "_small_input.txt")
        with open(data, encoding="utf-8") as f:
            text = f.read(SMALL_DATA_CHARS)
        with open(small, "w", encoding="utf-8") as f:
            f.write(text)
        data = small
    print(f"training {name} ...", file=sys.stderr, flush=True)
    # run inside --runs with a relative out_dir: the log names it, and a fixture holds no
    # path of the machine that made it
    subprocess.run([sys.executable, "-m", "lossdoctor", "train", *BASE, *flags, f"--out_dir={name}",
                    f"--data={os.path.relpath(data, runs)}", "--no-progress"], cwd=runs,
                   stdout=subprocess.DEVNULL, check=True)
    for extra in ("ckpt.pt", "metrics.jsonl", os.path.join("..", "_small_input.txt")):
        path = os.path.normpath(os.path.join(out, extra))
        if os.path.exists(path):
            os.remove(path)
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(f"Diagnosis benchmark run `{name}` (planted: {RUNS[name][0] or 'nothing, healthy'}).\n\n"
                "Made by `python benchmarks/diagnosis.py` with the built-in trainer:\n\n"
                f"    lossdoctor train {' '.join(BASE + flags)} --data=<{which} tiny Shakespeare>\n\n"
                "The checkpoint was dropped to keep the fixture small.\n")
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default=os.path.join(ROOT, "fixtures", "diagnosis"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "shakespeare_char", "input.txt"))
    ap.add_argument("--retrain", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.runs, exist_ok=True)
    import lossdoctor
    from lossdoctor.diagnose import diagnose, load_rules
    if not os.path.exists(args.data) and not all(
            os.path.exists(os.path.join(args.runs, n, "train.log")) for n in RUNS):
        print(f"no data at {args.data}: give --data input.txt (tiny Shakespeare)", file=sys.stderr)
        return 2
    rules = load_rules()
    hits1 = hits3 = planted = alarms = healthy = 0
    for name, (category, _, _) in RUNS.items():
        path = train(args.runs, name, args.data, args.retrain)
        d = diagnose(lossdoctor.load(path), rules=rules)
        cats = [f.category for f in d.findings]
        print(f"\n{name} (planted: {category or 'healthy'})")
        for i, f in enumerate(d.findings[:6], 1):
            print(f"  {i}. {f.severity:7s} {f.category:15s} {f.rule}")
        if len(d.findings) > 6:
            print(f"  ... {len(d.findings) - 6} more")
        if category is None:
            healthy += 1
            bad = [f.rule for f in d.findings if f.category in FAULT_CATEGORIES and f.severity != "info"]
            alarms += bool(bad)
            print(f"  false alarm: {', '.join(bad) if bad else 'none'}")
        else:
            planted += 1
            rank = cats.index(category) + 1 if category in cats else None
            hits1 += rank == 1
            hits3 += rank is not None and rank <= 3
            print(f"  planted category at rank {rank}")
    print(f"\nrecall@1 {hits1}/{planted} = {hits1 / planted:.2f}; recall@3 {hits3}/{planted} = "
          f"{hits3 / planted:.2f} (target >= 0.9)")
    print(f"false alarms: {alarms}/{healthy} healthy runs = {alarms / healthy:.2f} (target <= 0.1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
