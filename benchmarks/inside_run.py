"""Targets inside the run: how often `lossdoctor extrapolate`'s interval holds the log's own eval.

    python benchmarks/inside_run.py [--groundtruth ../shared/groundtruth]

For each log, every eval step past the first fifth of the run and before its last eval is
a target inside the observed range (scenario `observed`, the law's smoothed value). The
80% val interval is checked against the logged val there, the train interval against the
logged eval train loss. A logged eval carries its own noise (eval_iters batches), which
the interval counts, so about 80% should fall inside.

The logs: the built-in trainer's runs in fixtures/ (the README CPU config at 300 steps,
and the long runs' 5000-step reruns, one config change each) and nanoGPT's own runs in
../shared/groundtruth where it is there.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def logs(groundtruth: str) -> list[str]:
    out = [os.path.join(ROOT, "fixtures", "nanogpt", "cpu_small")]
    out += sorted(p for p in glob.glob(os.path.join(ROOT, "fixtures", "long", "*-5000"))
                  if "constant" not in p and "resume" not in p)
    return out + sorted(glob.glob(os.path.join(groundtruth, "gt_T*.log")))


def coverage(path: str) -> tuple[int, int, int, list[float]]:
    """(targets, val inside, train inside, |val error| of each) over the log's inside targets."""
    import lossdoctor
    from lossdoctor.fit import CannotExtrapolate, Extrapolator
    run = lossdoctor.load(path)
    ev, _ = run.curves()
    x = Extrapolator(run)
    n = val_in = train_in = 0
    errors = []
    last = int(ev.step.max())
    for step, train, val in zip(ev.step, ev.train, ev.val, strict=True):
        if not 0.2 * last <= step < last:
            continue
        try:
            s = x.extrapolate(int(step), scenarios=()).scenarios[0]
        except CannotExtrapolate:
            continue
        if s.val is None or s.train is None:
            continue
        n += 1
        val_in += s.val.lo <= val <= s.val.hi
        train_in += s.train.lo <= train <= s.train.hi
        errors.append(abs(s.val.mean - val))
    return n, val_in, train_in, errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--groundtruth", default=os.path.join(ROOT, "..", "shared", "groundtruth"))
    args = ap.parse_args(argv)
    total = np.zeros(3, int)
    errors: list[float] = []
    print(f"{'log':34s} {'targets':>7s} {'val in':>7s} {'train in':>8s} {'median |val err|':>17s}")
    for path in logs(args.groundtruth):
        n, v, t, e = coverage(path)
        if not n:
            continue
        total += (n, v, t)
        errors += e
        name = os.path.basename(path.rstrip("/"))
        print(f"{name:34s} {n:7d} {v / n:7.0%} {t / n:8.0%} {np.median(e):17.4f}")
    n, v, t = total
    print(f"{'all':34s} {n:7d} {v / n:7.0%} {t / n:8.0%} {np.median(errors):17.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
