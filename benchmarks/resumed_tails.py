"""A log that begins with a resume: how little of its run it can hold and still be predicted.

    python benchmarks/resumed_tails.py

Each calibration-grid run of seed 1 (400 and 1000 steps; fixtures/calibration) and each
long run's 2000-step log (fixtures/long) is cut to its tail from a share of its steps on,
under its own header marked as train.py's resume (`init_from = resume`, `Resuming
training`), and predicted as a rerun to the next horizon's val truth (500 val batches):
400 -> 1000, 1000 -> 2000, 2000 -> 5000. Printed: the val error (nats; `!` outside the 80%
interval; `-` where too few evals are left for val), train's against the longer run's
last logged eval, and `flat` where the three scenarios' train predictions are the same to
0.001 (the law found no progress at all in the tail); then per share the median errors.
A tail shorter than fit/limits.TAIL_SHARE of its run is refused below
calibration.ALONE_FROM steps; this prints what the law gives there with the limit lifted.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from unittest import mock

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

SHARES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95)
GRID = ("d2w64", "d3w96", "d4w128", "d2w256", "d6w64", "d3w128")
LONG = ("batch8", "block32", "d3w96h4", "drop0.1", "lr2e-3", "lr5e-4")


def cases() -> list[tuple[str, str, str, int]]:
    """(name, short log, truth.json of the longer rerun, its step)."""
    fx = os.path.join(ROOT, "fixtures")
    out = []
    for c in GRID:
        for n, t in ((400, 1000), (1000, 2000)):
            d = os.path.join(fx, "calibration", f"{c}-shakespeare-s1")
            out.append((f"{c} {n}->{t}", f"{d}-{n}/train.log", f"{d}-{t}/truth.json", t))
    for c in LONG:
        d = os.path.join(fx, "long", c)
        out.append((f"{c} 2000->5000", f"{d}-2000/train.log", f"{d}-5000/truth.json", 5000))
    return out


def tail(log: str, share: float, out: str) -> str:
    """The log from `share` of its steps on, its header turned into a resume's."""
    lines = open(log).read().split("\n")
    first = next(i for i, x in enumerate(lines) if x.startswith(("iter ", "step ")))
    last = max(int(x.split()[1].rstrip(":")) for x in lines[first:] if x.startswith(("iter ", "step ")))
    if share == 0:
        body, head = lines[first:], lines[:first]
    else:
        start = int(share * last)
        body = [x for x in lines[first:] if x.startswith(("iter ", "step ")) and int(x.split()[1].rstrip(":")) >= start]
        head = [x.replace("Initializing a new model from scratch", "Resuming training from out")
                for x in lines[:first]]
        at = next(i for i, x in enumerate(head) if x.startswith("tokens per iteration"))
        head.insert(at, "Overriding: init_from = resume")
    with open(out, "w") as f:
        f.write("\n".join(head + body))
    return out


Cell = tuple[float | None, float | None, bool, bool]  # val error, train error, flat, inside the interval


def cell(path: str, truth: float, train_truth: float, to: int) -> Cell | None:
    """(val error, train error, every scenario's train the same to 0.001, val inside its
    interval), or None where lossdoctor refuses the log."""
    import lossdoctor
    from lossdoctor.fit import CannotExtrapolate
    try:
        x = lossdoctor.extrapolate(lossdoctor.load(path), to)
    except CannotExtrapolate:
        return None
    trains = [s.train.mean for s in x.scenarios if s.train is not None]
    v, t = x.scenarios[0].val, x.scenarios[0].train
    return (None if v is None else v.mean - truth, None if t is None else t.mean - train_truth,
            max(trains) - min(trains) < 0.001, v is None or v.lo <= truth <= v.hi)


def text(c: Cell | None) -> str:
    if c is None:
        return "refused"
    v, t, flat, inside = c
    val = "-" if v is None else f"{v:+.3f}{'' if inside else '!'}"
    return f"{val} {'-' if t is None else f'{t:+.3f}'}{' flat' if flat else ''}"


def summary(name: str, rows: list[list[Cell | None]]) -> None:
    """Per share: median |val| and |train| error, the flat fits and the refused logs."""
    out = []
    for k in range(len(SHARES)):
        cells = [r[k] for r in rows]
        got = [c for c in cells if c is not None]
        vals = [abs(c[0]) for c in got if c[0] is not None]
        trains = [abs(c[1]) for c in got if c[1] is not None]
        med = (f"{np.median(vals):.3f}" if vals else "-") + " " + (f"{np.median(trains):.3f}" if trains else "-")
        out.append(f"{med} {sum(c[2] for c in got)}f {len(cells) - len(got)}r")
    print(f"{name:<20}" + "".join(f"{c:>19}" for c in out))


def main() -> None:
    import lossdoctor
    from lossdoctor.fit import limits
    print("val and train error of the rerun from the log's tail (share of the run cut off; 0: the whole log)")
    print(f"{'case':<20}" + "".join(f"{s:>19g}" for s in SHARES))
    rows: dict[str, list[list[Cell | None]]] = {"grid": [], "long runs": []}
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(limits, "TAIL_SHARE", 0.0):
        for name, log, truth_json, to in cases():
            truth = json.load(open(truth_json))["val"]
            ev, _ = lossdoctor.load(os.path.join(os.path.dirname(truth_json), "train.log")).curves()
            row = [cell(tail(log, s, os.path.join(tmp, f"{s}.log")), truth, float(ev.train[-1]), to) for s in SHARES]
            rows["grid" if "/calibration/" in log else "long runs"].append(row)
            print(f"{name:<20}" + "".join(f"{text(c):>19}" for c in row), flush=True)
    print("\nmedian |val| |train|, fits with no progress (f), refused (r)")
    for name, r in rows.items():
        summary(name, r)


if __name__ == "__main__":
    main()
