"""Calibrate the shape priors and the model error of `lossdoctor extrapolate`.

    python benchmarks/calibrate_extrapolation.py [--runs DIR] [--data input.txt] [--write-reference]

Trains (or reuses, in --runs) the built-in trainer's runs of nanoGPT's README CPU config
on tiny Shakespeare with seed 1338: max_iters = lr_decay_iters = 1000, 2000, 3000, 5000,
and 1000 -> 2500 resumed (--init_from=resume with a new cosine) and at constant min_lr;
about 10 minutes on 2 CPU cores the first time. Seed 1338, so that the backtests
(benchmarks/extrapolation.py, seed 1337) are out of sample.

Prints the val and train priors (the joint fit of all runs: one shape, one (L0, A)) and
the leave-one-horizon-out backtests that set the model error, as the Python literals
that lossdoctor/fit/calibration.py holds. --write-reference copies the four reruns'
train.log into lossdoctor/fit/reference/ (the reference runs, lossdoctor/fit/reference.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SEED = 1338
sys.path.insert(0, HERE)  # benchmarks/extrapolation.py: train() and true_val()
RERUN = (1000, 2000, 3000, 5000)
CONTINUED = (("resume", 1000, 2500), ("constant", 1000, 2500))
START_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5)
PAIRS = [("rerun", 1000, 2000), ("rerun", 1000, 3000), ("rerun", 1000, 5000), ("rerun", 2000, 3000),
         ("rerun", 2000, 5000), ("rerun", 3000, 5000), ("resume", 1000, 2500), ("constant", 1000, 2500)]


def make_runs(runs: str, data: str) -> dict[str, str]:
    from functools import partial

    from extrapolation import train as train_seed1337
    train = partial(train_seed1337, seed=SEED)
    os.makedirs(runs, exist_ok=True)
    paths = {}
    for t in RERUN:
        paths[f"rerun-{t}"] = train(runs, f"rerun-{t}", data, f"--max_iters={t}", f"--lr_decay_iters={t}")
    for kind, s, t in CONTINUED:
        extra = (f"--lr_decay_iters={t}",) if kind == "resume" else ("--decay_lr=False", "--learning_rate=1e-4")
        paths[f"{kind}-{s}-{t}"] = train(runs, f"{kind}-{s}-{t}", data, "--init_from=resume",
                                         f"--max_iters={t}", *extra, base=paths[f"rerun-{s}"])
    return paths


def read(path: str) -> dict:
    """The trainer's metrics.jsonl: eval points, iteration losses and the LR of every step."""
    ev, it, lr = [], [], {}
    with open(os.path.join(path, "metrics.jsonl")) as f:
        for line in f:
            m = json.loads(line)
            if m["kind"] == "eval":
                ev.append((m["step"], m["train"], m["val"]))
            elif m["kind"] == "iter":
                it.append((m["step"], m["loss"]))
                lr[m["step"]] = m["lr"]
    last = max(lr)
    lrs = np.array([lr[s] for s in range(last + 1)])
    ev, it = np.array(ev), np.array(it)
    return {"ev_step": ev[:, 0].astype(int), "ev_train": ev[:, 1], "ev_val": ev[:, 2],
            "it_step": it[:, 0].astype(int), "it_loss": it[:, 1], "lr": lrs}


def points(name: str, m: dict, stream: str, start_fraction: float, warmup: int = 100):  # noqa: ANN201
    from lossdoctor.fit import calibrate, shape
    from lossdoctor.fit import points as pts
    cur = pts.Curves(m["ev_step"], m["ev_train"], m["ev_val"], m["it_step"], m["it_loss"])
    last = int(m["it_step"].max())
    start = max(1, int(start_fraction * last))
    sig_iter = pts.iter_sigma(cur)
    sig_eval = sig_iter / math.sqrt(20)
    if stream == "val":
        sel = (cur.ev_step >= start) & (cur.ev_step > 0)
        steps, y, sig = cur.ev_step[sel], cur.ev_val[sel], np.full(int(sel.sum()), sig_eval)
    else:
        steps, y, sig = pts.train_points(cur, start, sig_iter, sig_eval)
    e = shape.eta(np.concatenate([m["lr"], m["lr"][-1:]]), warmup)
    return calibrate.CurveData(name, e, steps, y, sig), sig_eval


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default=os.path.join(os.path.expanduser("~"), ".cache", "lossdoctor-bench",
                                                   "calibration"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "shakespeare_char", "input.txt"))
    ap.add_argument("--truth-batches", type=int, default=500)
    ap.add_argument("--write-reference", action="store_true",
                    help="copy the reruns' train.log into lossdoctor/fit/reference/")
    args = ap.parse_args()
    from extrapolation import true_val

    from lossdoctor.fit import Calibration, Extrapolator, calibrate
    from lossdoctor.trainer import load_data
    paths = make_runs(args.runs, args.data)
    if args.write_reference:
        import shutil
        for t in RERUN:
            shutil.copyfile(os.path.join(paths[f"rerun-{t}"], "train.log"),
                            os.path.join(ROOT, "lossdoctor", "fit", "reference", f"readme_cpu_seed1338_{t}.log"))
    metrics = {k: read(p) for k, p in paths.items()}
    source = f"built-in trainer, README CPU config, seed {SEED}: {', '.join(sorted(paths))}"
    # leave-one-horizon-out, for each candidate start fraction: priors from the runs without
    # the longer one, the shorter run extrapolated with them (a Calibration of those priors
    # and no model error), against the longer run's final val (its checkpoint on
    # --truth-batches val batches)
    import lossdoctor
    data_all = load_data(args.data)
    truth = {k: true_val(p, data_all, args.truth_batches) for k, p in paths.items() if k != "rerun-1000"}
    results = {}
    for sf in START_FRACTIONS:
        rows = []
        for kind, s, t in PAIRS:
            long_name = f"{kind}-{s}-{t}" if kind != "rerun" else f"rerun-{t}"
            keep = [k for k in metrics if k != long_name]
            val, train = (calibrate.calibrate([points(k, metrics[k], st, sf)[0] for k in keep], "leave-one-out",
                                                sf)[0] for st in ("val", "train"))
            cal = Calibration(val, train, sf, 0.0, 0.0, "leave-one-out")
            x = Extrapolator(lossdoctor.load(paths[f"rerun-{s}"]), calibration=cal).extrapolate(t, scenarios=(kind,))
            v = x.scenarios[0].val
            rows.append((kind, s, t, v.mean, truth[long_name], v.sd))
        results[sf] = rows
        e = np.array([r[3] - r[4] for r in rows])
        print(f"start fraction {sf}: rms error {np.sqrt(np.mean(e ** 2)):.4f}  "
              + " ".join(f"{r[0]} {r[1]}->{r[2]} {r[3] - r[4]:+.4f}" for r in rows))
    sf = min(results, key=lambda k: np.mean([(r[3] - r[4]) ** 2 for r in results[k]]))
    rows = results[sf]
    # model error: what the fit's spread leaves unexplained, as a fraction of the loss,
    # against log2 of the horizon ratio (non-negative least squares on the squared excess)
    from scipy.optimize import nnls
    x = np.array([math.log2(r[2] / r[1]) for r in rows])
    excess = np.array([max((r[3] - r[4]) ** 2 - r[5] ** 2, 0.0) / r[4] ** 2 for r in rows])
    coef, _ = nnls(np.column_stack([np.ones_like(x), x]), np.sqrt(excess))
    print(f"START_FRACTION = {sf}")
    print(f"MODEL_ERROR_BASE = {coef[0]:.4f}\nMODEL_ERROR_PER_DOUBLING = {coef[1]:.4f}")
    for stream in ("val", "train"):
        prior, _ = calibrate.calibrate([points(k, m, stream, sf)[0] for k, m in metrics.items()], source, sf)
        print(f"{stream.upper()}_PRIOR = ShapePrior(\n    {prior.mean!r},\n    {prior.cov!r},\n"
              f"    START_FRACTION, {source!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
