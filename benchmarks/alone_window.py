"""Between the grid and the long runs: logs of 1,000 to 2,000 steps, where lossdoctor blends
the ensemble (L0 fitted) and the calibrated-shape law alone (L0 = 0).

    OMP_NUM_THREADS=1 python benchmarks/alone_window.py     # a few seconds

calibration.BLEND_FROM and ALONE_FROM come from whole runs: the grid's runs of up to 1,000
steps (there the blend at SHORT_SHARE, benchmarks/short_share.py) and the long runs'
2,000-step runs (the law alone best). Between them no whole run is measured. Here each long config's 2,000-step log
(fixtures/long/CONFIG-2000) is cut after iteration 1,000, 1,250, 1,500, 1,750 and 1,999 (a
crashed run: its cosine unfinished, its last eval the last one before the cut) and predicted
to 5,000 steps (`rerun`) against the 5,000-step run's 500-batch truth, three ways: the
ensemble alone, the law alone, and as shipped (the blend; at 1,000 steps at SHORT_SHARE).
These are the configs ALONE_FROM was decided on, cut: not out of sample.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

LONG = os.path.join(ROOT, "fixtures", "long")
CONFIGS = ("batch8", "block32", "d3w96h4", "drop0.1", "lr2e-3", "lr5e-4")
CUTS = (1000, 1250, 1500, 1750, 1999)
WAYS = ("ensemble", "alone", "shipped")


def cut(log: str, step: int, out: str) -> str:
    """The log up to and with its `iter STEP:` line."""
    with open(log, encoding="utf-8") as f:
        lines = f.read().splitlines(True)
    end = next(i for i, line in enumerate(lines) if line.startswith(f"iter {step}:"))
    with open(out, "w", encoding="utf-8") as f:
        f.writelines(lines[:end + 1])
    return out


def errors(path: str, truth: float) -> list[tuple[float, bool]]:
    """(val error, inside the 80% interval) of each way."""
    import lossdoctor
    from lossdoctor.fit import Extrapolator, calibration
    run, fam = lossdoctor.load(path), calibration.FAMILY
    cals = {"ensemble": dataclasses.replace(fam, alone_from=None, blend_from=None),
            "alone": dataclasses.replace(fam, alone_from=0, blend_from=None), "shipped": fam}
    out = []
    for way in WAYS:
        v = Extrapolator(run, calibration=cals[way]).extrapolate(5000, scenarios=("rerun",)).scenarios[0].val
        assert v is not None
        out.append((v.mean - truth, v.lo <= truth <= v.hi))
    return out


def main() -> None:
    rows: dict[int, list[list[tuple[float, bool]]]] = {c: [] for c in CUTS}
    print(f"{'config':10s} {'cut':>5s}  " + "  ".join(f"{w:>10s}" for w in WAYS) + "   (val error, * inside)")
    with tempfile.TemporaryDirectory() as tmp:
        for config in CONFIGS:
            with open(os.path.join(LONG, f"{config}-5000", "truth.json"), encoding="utf-8") as f:
                truth = float(json.load(f)["val"])
            for step in CUTS:
                log = cut(os.path.join(LONG, f"{config}-2000", "train.log"), step,
                          os.path.join(tmp, f"{config}-{step}.log"))
                e = errors(log, truth)
                rows[step].append(e)
                print(f"{config:10s} {step:5d}  " + "  ".join(f"{x:+9.4f}{'*' if ok else ' '}" for x, ok in e),
                      flush=True)
    print("\nper cut: median / worst |error| / coverage of the 80% interval")
    for step in CUTS:
        cells = []
        for k in range(len(WAYS)):
            err = np.array([abs(r[k][0]) for r in rows[step]])
            cov = np.mean([r[k][1] for r in rows[step]])
            cells.append(f"{np.median(err):.4f} / {err.max():.4f} / {cov:4.0%}")
        print(f"{step:5d}  " + "   ".join(f"{w} {c}" for w, c in zip(WAYS, cells, strict=True)))
    inside = [r for step in CUTS[1:] for r in rows[step]]  # strictly between: where the blend is neither
    print(f"1250-1999 ({len(inside)} logs): " + "   ".join(
        f"{w} {np.median([abs(r[k][0]) for r in inside]):.4f} / {max(abs(r[k][0]) for r in inside):.4f}"
        for k, w in enumerate(WAYS)))


if __name__ == "__main__":
    main()
