"""The calibration grid of `lossdoctor extrapolate`: one family of configs, not one config.

    python benchmarks/calibration_grid.py [--runs fixtures/calibration] [--data input.txt] [only ...]

Six base configs that differ in depth (2-6 layers), width (64-256), batch (8-32), context
(32-128), peak LR (3e-4 to 3e-3) and dropout (0 to 0.2), each trained by the built-in
trainer with max_iters = lr_decay_iters at four horizons (HORIZONS) and two seeds, on tiny
Shakespeare; two of them also on "pycode" (the stdlib text the trainer embeds), one seed.
For seed 1, each Shakespeare config also resumes its shortest run to 2.5x its length, with
a new cosine (`resume`) and at min_lr (`constant`), for the resume bump and the constant
scenario.

nanoGPT's README CPU config and the held-out configs (6 layers x 192, batch 24) are not in
the grid, so checks on them stay out of sample.

Each run keeps its train.log and truth.json: its final model's val loss over 500 random val
batches (a logged eval at eval_iters=50 carries ~0.01 nats of noise, as much as the error
being measured); the checkpoint is dropped. Runs already there are reused. At the end it
prints what the grid's training cost (docs/benchmarks.md has the figure).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
DEFAULT_RUNS = os.path.join(ROOT, "fixtures", "calibration")
DEFAULT_DATA = os.path.join(ROOT, "..", "shared", "data", "shakespeare_char", "input.txt")
HORIZONS = (400, 600, 800, 1000, 2000)  # ratios from 400: 1.5x, 2x, 2.5x, 5x; from 800: 2.5x (800->2000)
SEEDS = (1, 2)
TRUTH_BATCHES = 500
CONTINUE_TO = 2.5  # resume and constant continue the shortest run to this many times its steps

COMMON = ["--device=cpu", "--compile=False", "--dtype=float32", "--bias=False", "--beta2=0.99",
          "--gradient_accumulation_steps=1", "--log_interval=1", "--eval_iters=50",
          "--always_save_checkpoint=True"]


def config(n_layer: int, n_embd: int, n_head: int, block_size: int, batch_size: int, lr: float,
           dropout: float) -> list[str]:
    """A grid config's flags; min_lr is a tenth of the peak LR."""
    return [f"--n_layer={n_layer}", f"--n_embd={n_embd}", f"--n_head={n_head}", f"--block_size={block_size}",
            f"--batch_size={batch_size}", f"--learning_rate={lr:g}", f"--min_lr={lr / 10:g}", f"--dropout={dropout}"]


CONFIGS: dict[str, list[str]] = {  # layers, width, heads, context, batch, peak LR, dropout
    "d2w64": config(2, 64, 2, 64, 16, 3e-3, 0.0),
    "d3w96": config(3, 96, 3, 64, 8, 1e-3, 0.1),
    "d4w128": config(4, 128, 4, 32, 32, 6e-4, 0.0),
    "d2w256": config(2, 256, 4, 64, 12, 3e-4, 0.2),
    "d6w64": config(6, 64, 4, 128, 8, 1e-3, 0.0),
    "d3w128": config(3, 128, 4, 64, 16, 2e-3, 0.15),
}
ON_PYCODE = ("d2w64", "d4w128")  # a second dataset, at one seed, and not continued


def grid() -> list[tuple[str, str, str, int, list[str]]]:
    """(run name, config, dataset, seed, extra flags) of every rerun, shortest first."""
    out = []
    for dataset in ("shakespeare", "pycode"):  # shakespeare first: the continuations need only its bases
        for name in CONFIGS:
            if dataset == "pycode" and name not in ON_PYCODE:
                continue
            for seed in SEEDS if dataset == "shakespeare" else SEEDS[:1]:
                for h in HORIZONS:
                    out.append((f"{name}-{dataset}-s{seed}-{h}", name, dataset, seed,
                                [f"--max_iters={h}", f"--lr_decay_iters={h}", f"--eval_interval={h // 10}",
                                 f"--warmup_iters={h // 20}"]))
    return out


def continuations() -> list[tuple[str, str, str, list[str]]]:
    """(run name, the run it continues, its dataset, flags): resume and constant, seed 1."""
    out = []
    h0 = HORIZONS[0]
    to = int(h0 * CONTINUE_TO)
    for base, name, dataset, seed, flags in grid():
        if seed != SEEDS[0] or not base.endswith(f"-{h0}") or dataset != "shakespeare":
            continue
        stem = base.rsplit("-", 1)[0]
        min_lr = next(f for f in CONFIGS[name] if f.startswith("--min_lr=")).split("=")[1]
        warmup = next(f for f in flags if f.startswith("--warmup_iters="))  # the base's config, as nanoGPT needs
        out.append((f"{stem}-resume-{to}", base, dataset,
                    ["--init_from=resume", f"--max_iters={to}", f"--lr_decay_iters={to}", warmup,
                     f"--eval_interval={h0 // 10}"]))
        out.append((f"{stem}-constant-{to}", base, dataset,
                    ["--init_from=resume", f"--max_iters={to}", "--decay_lr=False", f"--learning_rate={min_lr}",
                     f"--eval_interval={h0 // 10}"]))
    return out


def data_file(runs: str, dataset: str, shakespeare: str) -> str:
    folder = os.path.join(runs, "_data")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{dataset}.txt")
    if not os.path.exists(path):
        if dataset == "pycode":
            from lossdoctor.trainer.data import embedded_corpus
            text = embedded_corpus()[0]
        else:
            with open(shakespeare, encoding="utf-8") as f:
                text = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return path


def train(runs: str, name: str, config: str, dataset: str, seed: int, flags: list[str], shakespeare: str,
          base: str | None = None) -> None:
    """Train one run into runs/name (a continuation starts from a copy of `base`'s
    checkpoint), then record its 500-batch truth; the checkpoint is kept until the
    continuations that need it are done."""
    out = os.path.join(runs, name)
    if os.path.exists(os.path.join(out, "truth.json")):
        return
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    if base is not None:
        shutil.copy(base_checkpoint(runs, base, shakespeare), os.path.join(out, "ckpt.pt"))
    data = data_file(runs, dataset, shakespeare)
    print(f"training {name} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    dataset_flag = "pycode" if dataset == "pycode" else "shakespeare_char"
    subprocess.run([sys.executable, "-m", "lossdoctor", "train", f"--dataset={dataset_flag}", *COMMON,
                    *CONFIGS[config], *flags, f"--seed={seed}", f"--out_dir={name}",
                    f"--data={os.path.relpath(data, runs)}", "--no-progress"],
                   cwd=runs, stdout=subprocess.DEVNULL, check=True)
    seconds = time.perf_counter() - t0
    from extrapolation import true_val

    from lossdoctor.trainer.data import load_data
    truth = true_val(out, load_data(data), TRUTH_BATCHES)
    os.remove(os.path.join(out, f"val_{TRUTH_BATCHES}.txt"))
    keep = base is None and seed == SEEDS[0] and name.endswith(f"-{HORIZONS[0]}")  # continued later
    for extra in ("metrics.jsonl", "meta.pkl") + (() if keep else ("ckpt.pt",)):
        if os.path.exists(os.path.join(out, extra)):
            os.remove(os.path.join(out, extra))
    with open(os.path.join(out, "truth.json"), "w", encoding="utf-8") as f:
        json.dump({"val": truth, "batches": TRUTH_BATCHES, "train_seconds": round(seconds, 1)}, f)
    print(f"  {seconds:.0f} s, truth {truth:.4f}", file=sys.stderr, flush=True)


def base_checkpoint(runs: str, base: str, shakespeare: str) -> str:
    """The ckpt.pt a continuation starts from: the base run's own, or (when a checkout has
    only its log) the same run trained again into runs/_bases, which git ignores."""
    own = os.path.join(runs, base, "ckpt.pt")
    if os.path.exists(own):
        return own
    again = os.path.join(runs, "_bases", base, "ckpt.pt")
    if not os.path.exists(again):
        name, config, dataset, seed, flags = next(g for g in grid() if g[0] == base)
        print(f"training {base} again for its checkpoint ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "lossdoctor", "train",
                        f"--dataset={'pycode' if dataset == 'pycode' else 'shakespeare_char'}", *COMMON,
                        *CONFIGS[config], *flags, f"--seed={seed}", f"--out_dir={os.path.join('_bases', name)}",
                        f"--data={os.path.relpath(data_file(runs, dataset, shakespeare), runs)}", "--no-progress"],
                       cwd=runs, stdout=subprocess.DEVNULL, check=True)
    return again


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default=DEFAULT_RUNS)
    ap.add_argument("--data", default=DEFAULT_DATA, help="tiny Shakespeare's input.txt")
    ap.add_argument("only", nargs="*", help="train only these runs")
    args = ap.parse_args()
    os.makedirs(args.runs, exist_ok=True)
    for on in ("shakespeare", "pycode"):  # a dataset's reruns, then its continuations
        for name, config, dataset, seed, flags in grid():
            if dataset == on and (not args.only or name in args.only):
                train(args.runs, name, config, dataset, seed, flags, args.data)
        for name, base, dataset, flags in continuations():
            if dataset == on and (not args.only or name in args.only):
                train(args.runs, name, base.split("-")[0], dataset, SEEDS[0], flags, args.data, base=base)
    done = {n for n in os.listdir(args.runs) if os.path.exists(os.path.join(args.runs, n, "truth.json"))}
    seconds = 0.0
    for n in done:
        with open(os.path.join(args.runs, n, "truth.json"), encoding="utf-8") as f:
            seconds += json.load(f)["train_seconds"]
    print(f"{len(done)} runs; their training took {seconds / 60:.0f} minutes of wall clock in all (train_seconds "
          "in each truth.json)", file=sys.stderr)
    if {n for n, *_ in grid()} | {n for n, *_ in continuations()} <= done:
        for n in done:  # every continuation has run: the checkpoints can go
            ck = os.path.join(args.runs, n, "ckpt.pt")
            if os.path.exists(ck):
                os.remove(ck)
        for scratch in ("_data", "_bases"):
            shutil.rmtree(os.path.join(args.runs, scratch), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
