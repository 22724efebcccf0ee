"""The labelled runs of the diagnosis benchmark: what each one plants, and how it is trained.

    python benchmarks/diagnosis_runs.py [--runs fixtures/diagnosis] [--data input.txt] [--retrain]

Every run is made by the built-in trainer from one of four base configs (BASES), changed in
one way (RUNS), on one of two datasets: tiny Shakespeare (char level) or "pycode", the
Python standard library's own source that the trainer embeds (a second text shipped with a
package; see lossdoctor/trainer/data.py). Faults are planted at two strengths, a strong
one and a mild one, on different base configs. Healthy runs include long ones that are
still improving at the end.

A divergence plant raises the LR far and turns clipping off. Its label is decided by what
the log shows, not by the plant: `divergence` when the loss did diverge (NaN, or an
iteration loss after step 100 above the first eval's loss, where a fresh model starts),
else `lr_too_high`, which is then what was planted (`label`).

The runs are split in two halves. "tune" holds every run on tiny Shakespeare: the rules'
thresholds were checked against these. "held-out" holds every run on pycode, with the
same faults planted on other base configs; it is scored separately, never used to set a
threshold.

Each run keeps its train.log (checkpoint and metrics dropped) under --runs, plus
labels.yaml, which the test suite reads. Existing runs are reused unless --retrain.
Training them all takes about an hour on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_RUNS = os.path.join(ROOT, "fixtures", "diagnosis")
DEFAULT_DATA = os.path.join(ROOT, "..", "shared", "data", "shakespeare_char", "input.txt")

COMMON = ["--device=cpu", "--compile=False", "--dtype=float32", "--bias=False", "--beta2=0.99",
          "--gradient_accumulation_steps=1", "--log_interval=1", "--always_save_checkpoint=False"]

# four base configs: model size, batch, context, LR, dropout and eval settings all differ
BASES: dict[str, list[str]] = {
    # 0.1M params, 768 tokens/iter, 0.77M tokens: the first benchmark's config
    "tiny": ["--n_layer=2", "--n_head=2", "--n_embd=64", "--block_size=64", "--batch_size=12",
             "--dropout=0.0", "--learning_rate=0.001", "--min_lr=0.0001", "--max_iters=1000",
             "--lr_decay_iters=1000", "--warmup_iters=20", "--eval_interval=100", "--eval_iters=50"],
    # 0.8M params: nanoGPT's README CPU model, 1000 steps
    "small": ["--n_layer=4", "--n_head=4", "--n_embd=128", "--block_size=64", "--batch_size=12",
              "--dropout=0.0", "--learning_rate=0.001", "--min_lr=0.0001", "--max_iters=1000",
              "--lr_decay_iters=1000", "--warmup_iters=50", "--eval_interval=100", "--eval_iters=50"],
    # 0.34M params, short context, large batch, higher LR, dropout 0.1
    "mid": ["--n_layer=3", "--n_head=3", "--n_embd=96", "--block_size=32", "--batch_size=32",
            "--dropout=0.1", "--learning_rate=0.002", "--min_lr=0.0002", "--max_iters=800",
            "--lr_decay_iters=800", "--warmup_iters=40", "--eval_interval=80", "--eval_iters=50"],
    # 0.4M params, long context, small batch, low LR, dropout 0.2
    "ctx": ["--n_layer=2", "--n_head=4", "--n_embd=128", "--block_size=128", "--batch_size=8",
            "--dropout=0.2", "--learning_rate=0.0006", "--min_lr=0.00006", "--max_iters=1000",
            "--lr_decay_iters=1000", "--warmup_iters=100", "--eval_interval=100", "--eval_iters=50"],
}

# the first n characters of a text: a small dataset that a model repeats many times
DATASETS = {"shakespeare": None, "shakespeare_30k": 30_000, "shakespeare_100k": 100_000,
            "pycode": None, "pycode_30k": 30_000, "pycode_100k": 100_000}


@dataclass(frozen=True)
class Plant:
    """One labelled run: its base config, what is changed, and the cause that was planted."""

    category: str | None  # the planted cause's category; None for a healthy run
    strength: str  # "strong" | "mild" | "" (healthy)
    base: str  # a key of BASES
    flags: tuple[str, ...]  # changed from the base
    data: str  # a key of DATASETS

    @property
    def half(self) -> str:
        return "tune" if self.data.startswith("shakespeare") else "held-out"


def _p(category: str | None, strength: str, base: str, data: str, *flags: str) -> Plant:
    return Plant(category, strength, base, flags, data)


LONG = ("--max_iters={n}", "--lr_decay_iters={n}")


def _long(n: int, interval: int) -> tuple[str, ...]:
    return tuple(f.format(n=n) for f in LONG) + (f"--eval_interval={interval}",)


RUNS: dict[str, Plant] = {
    # -- tune: tiny Shakespeare ------------------------------------------------------------
    "lr_high": _p("lr_too_high", "strong", "tiny", "shakespeare", "--learning_rate=0.05", "--min_lr=0.005"),
    "lr_low": _p("lr_too_low", "strong", "tiny", "shakespeare", "--learning_rate=1e-05", "--min_lr=1e-06"),
    "diverge": _p("divergence", "strong", "tiny", "shakespeare", "--learning_rate=1.0", "--min_lr=0.1",
                  "--grad_clip=0.0"),
    "decay_600k": _p("lr_schedule", "strong", "tiny", "shakespeare", "--lr_decay_iters=600000"),
    "warmup_long": _p("lr_schedule", "strong", "tiny", "shakespeare", "--warmup_iters=950"),
    "tiny_batch": _p("batch_size", "strong", "tiny", "shakespeare", "--batch_size=1"),
    "eval_iters_2": _p("eval_noise", "strong", "tiny", "shakespeare", "--eval_iters=2"),
    "overfit_small_data": _p("overfitting", "strong", "tiny", "shakespeare_30k", "--n_layer=4", "--n_head=4",
                             "--n_embd=128", *_long(1500, 150)),
    "model_too_small": _p("underfitting", "strong", "tiny", "shakespeare", "--n_layer=1", "--n_head=1",
                          "--n_embd=8"),
    "heavy_wd": _p("regularization", "strong", "tiny", "shakespeare", "--weight_decay=10.0"),
    "healthy_tiny": _p(None, "", "tiny", "shakespeare"),
    "healthy_small": _p(None, "", "tiny", "shakespeare", "--n_layer=4", "--n_head=4", "--n_embd=128"),
    "healthy_wide": _p(None, "", "tiny", "shakespeare", "--n_layer=3", "--n_head=4", "--n_embd=192",
                       *_long(800, 80)),
    "small_lr_high": _p("lr_too_high", "mild", "small", "shakespeare", "--learning_rate=0.02",
                        "--min_lr=0.002"),
    "mid_lr_low": _p("lr_too_low", "mild", "mid", "shakespeare", "--learning_rate=0.0001", "--min_lr=1e-05"),
    "ctx_diverge": _p("divergence", "mild", "ctx", "shakespeare", "--learning_rate=0.1", "--min_lr=0.01",
                      "--grad_clip=0.0"),
    "small_warmup": _p("lr_schedule", "mild", "small", "shakespeare", "--warmup_iters=500"),
    "mid_batch": _p("batch_size", "mild", "mid", "shakespeare", "--batch_size=2"),
    "ctx_eval_iters": _p("eval_noise", "mild", "ctx", "shakespeare", "--eval_iters=5"),
    "small_overfit": _p("overfitting", "mild", "small", "shakespeare_100k", *_long(2000, 100)),
    "mid_underfit": _p("underfitting", "mild", "mid", "shakespeare", "--n_layer=1", "--n_head=1",
                       "--n_embd=16", "--dropout=0.0"),
    "ctx_wd": _p("regularization", "mild", "ctx", "shakespeare", "--weight_decay=3.0"),
    "healthy_small_base": _p(None, "", "small", "shakespeare"),
    "healthy_mid": _p(None, "", "mid", "shakespeare"),
    "healthy_ctx": _p(None, "", "ctx", "shakespeare"),
    "healthy_tiny_long": _p(None, "", "tiny", "shakespeare", *_long(4000, 200)),
    # -- held-out: pycode ------------------------------------------------------------------
    "py_lr_high": _p("lr_too_high", "strong", "tiny", "pycode", "--learning_rate=0.05", "--min_lr=0.005"),
    "py_mid_lr_high": _p("lr_too_high", "mild", "mid", "pycode", "--learning_rate=0.02", "--min_lr=0.002"),
    "py_small_lr_low": _p("lr_too_low", "strong", "small", "pycode", "--learning_rate=1e-05",
                          "--min_lr=1e-06"),
    "py_ctx_lr_low": _p("lr_too_low", "mild", "ctx", "pycode", "--learning_rate=0.0001", "--min_lr=1e-05"),
    "py_mid_diverge": _p("divergence", "strong", "mid", "pycode", "--learning_rate=1.0", "--min_lr=0.1",
                         "--grad_clip=0.0"),
    "py_diverge": _p("divergence", "mild", "tiny", "pycode", "--learning_rate=0.1", "--min_lr=0.01",
                     "--grad_clip=0.0"),
    "py_ctx_decay": _p("lr_schedule", "strong", "ctx", "pycode", "--lr_decay_iters=600000"),
    "py_mid_warmup": _p("lr_schedule", "mild", "mid", "pycode", "--warmup_iters=400"),
    "py_small_batch": _p("batch_size", "strong", "small", "pycode", "--batch_size=1"),
    "py_ctx_batch": _p("batch_size", "mild", "ctx", "pycode", "--batch_size=2"),
    "py_eval_iters": _p("eval_noise", "strong", "tiny", "pycode", "--eval_iters=2"),
    "py_small_eval_iters": _p("eval_noise", "mild", "small", "pycode", "--eval_iters=5"),
    "py_small_overfit": _p("overfitting", "strong", "small", "pycode_30k", *_long(1500, 100)),
    "py_mid_overfit": _p("overfitting", "mild", "mid", "pycode_100k", "--dropout=0.0", *_long(1200, 80)),
    "py_ctx_underfit": _p("underfitting", "strong", "ctx", "pycode", "--n_layer=1", "--n_head=1",
                          "--n_embd=8", "--dropout=0.0"),
    "py_small_underfit": _p("underfitting", "mild", "small", "pycode", "--n_layer=1", "--n_head=1",
                            "--n_embd=16"),
    "py_mid_wd": _p("regularization", "strong", "mid", "pycode", "--weight_decay=10.0"),
    "py_wd": _p("regularization", "mild", "tiny", "pycode", "--weight_decay=3.0"),
    "py_healthy_tiny": _p(None, "", "tiny", "pycode"),
    "py_healthy_small": _p(None, "", "small", "pycode"),
    "py_healthy_mid": _p(None, "", "mid", "pycode"),
    "py_healthy_ctx": _p(None, "", "ctx", "pycode"),
    "py_healthy_small_long": _p(None, "", "small", "pycode", *_long(2500, 250)),
    "py_healthy_mid_long": _p(None, "", "mid", "pycode", *_long(2000, 200)),
}


DIVERGE_AFTER = 100  # steps: the loss must have fallen once before it can blow up


def label(plant: Plant, log: str) -> str | None:
    """The category a run's log earns: the plant's, except for a divergence plant whose
    loss never diverged (see the module doc), which is lr_too_high."""
    if plant.category != "divergence":
        return plant.category
    import lossdoctor
    evals, iters = lossdoctor.load(log).curves()
    start = float(evals.val[0]) if len(evals) and evals.step[0] == 0 else float("inf")
    late = iters.loss[iters.step >= DIVERGE_AFTER]
    diverged = bool(len(late)) and bool((~np.isfinite(late)).any() or (late > start).any())
    return "divergence" if diverged else "lr_too_high"


def flags_of(plant: Plant) -> list[str]:
    """The full command line of a run: common, base, then the planted change (last wins)."""
    dataset = "pycode" if plant.data.startswith("pycode") else "shakespeare_char"
    return [f"--dataset={dataset}", *COMMON, *BASES[plant.base], *plant.flags]


def data_file(runs: str, which: str, shakespeare: str) -> str:
    """Write the text of dataset `which` under runs/_data and return its path."""
    folder = os.path.join(runs, "_data")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{which}.txt")
    if os.path.exists(path):
        return path
    if which.startswith("pycode"):
        from lossdoctor.trainer.data import embedded_corpus
        text = embedded_corpus()[0]
    else:
        with open(shakespeare, encoding="utf-8") as f:
            text = f.read()
    n = DATASETS[which]
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[:n] if n else text)
    return path


def train(runs: str, name: str, shakespeare: str, retrain: bool) -> str:
    """Train run `name` into runs/name unless its train.log is there; return its folder."""
    out = os.path.join(runs, name)
    if os.path.exists(os.path.join(out, "train.log")) and not retrain:
        return out
    shutil.rmtree(out, ignore_errors=True)
    plant = RUNS[name]
    data = data_file(runs, plant.data, shakespeare)
    print(f"training {name} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    # run inside --runs with a relative out_dir: the log names it, and a fixture holds no
    # path of the machine that made it
    subprocess.run([sys.executable, "-m", "lossdoctor", "train", *flags_of(plant), f"--out_dir={name}",
                    f"--data={os.path.relpath(data, runs)}", "--no-progress"], cwd=runs,
                   stdout=subprocess.DEVNULL, check=True)
    print(f"  {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    for extra in ("ckpt.pt", "metrics.jsonl"):
        path = os.path.join(out, extra)
        if os.path.exists(path):
            os.remove(path)
    return out


def write_readme(runs: str, name: str) -> None:
    """runs/name/README.md: what the run plants and the command that made it."""
    plant = RUNS[name]
    with open(os.path.join(runs, name, "README.md"), "w", encoding="utf-8") as f:
        f.write(f"Diagnosis benchmark run `{name}` (planted: {plant.category or 'nothing, healthy'}"
                f"{', ' + plant.strength if plant.strength else ''}; half: {plant.half}).\n\n"
                "Made by `python benchmarks/diagnosis_runs.py` with the built-in trainer:\n\n"
                f"    lossdoctor train {' '.join(flags_of(plant))} --data=<{plant.data}>\n\n"
                "The checkpoint was dropped to keep the fixture small.\n")


def write_labels(runs: str) -> None:
    """labels.yaml: name -> planted category (or healthy), strength, half; for the tests."""
    lines = ["# written by benchmarks/diagnosis_runs.py: the planted cause of each run\n"]
    for name, p in RUNS.items():
        category = label(p, os.path.join(runs, name, "train.log"))
        lines.append(f"{name}: {{category: {category or 'healthy'}, strength: '{p.strength}', "
                     f"half: {p.half}, base: {p.base}, data: {p.data}}}\n")
    with open(os.path.join(runs, "labels.yaml"), "w", encoding="utf-8") as f:
        f.writelines(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default=DEFAULT_RUNS)
    ap.add_argument("--data", default=DEFAULT_DATA, help="tiny Shakespeare's input.txt")
    ap.add_argument("--retrain", action="store_true")
    ap.add_argument("only", nargs="*", help="train only these runs")
    args = ap.parse_args()
    os.makedirs(args.runs, exist_ok=True)
    for name in args.only or RUNS:
        train(args.runs, name, args.data, args.retrain)
        write_readme(args.runs, name)
    write_labels(args.runs)
    shutil.rmtree(os.path.join(args.runs, "_data"), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
