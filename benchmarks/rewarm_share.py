"""The gap report's resume re-warm share against trained pairs.

Each pair is one config and seed run twice to the same length: fresh, and resumed from a
shorter run with a new cosine to that length (the long runs: 2000 -> 5000; the
calibration grid: 400 -> 1000). The resumed run's log is its two processes in one file
(the shorter run's log, then the resume's, as `tee -a` writes them); the share is what
`lossdoctor analyze RESUMED FRESH` puts on "resume re-warm" (compare/rewarm.py, fit/resumed.py), and the
measured re-warm cost is the two final models' val on 500 batches (truth.json), resumed
minus fresh.

    python benchmarks/rewarm_share.py      # seconds
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lossdoctor.fit.resumed import REWARM_ERROR, before_resume  # noqa: E402

LONG = os.path.join(ROOT, "fixtures", "long")
GRID = os.path.join(ROOT, "fixtures", "calibration")
LONG_CONFIGS = ("batch8", "block32", "d3w96h4", "drop0.1", "lr2e-3", "lr5e-4")
GRID_CONFIGS = ("d2w64", "d3w96", "d4w128", "d2w256", "d6w64", "d3w128")


def pairs() -> list[tuple[str, str, str, str, str]]:
    """(family, name, first log, resumed log, fresh run folder) of every pair."""
    out = [("long", c, os.path.join(LONG, f"{c}-2000", "train.log"),
            os.path.join(LONG, f"{c}-resume-5000", "train.log"), os.path.join(LONG, f"{c}-5000"))
           for c in LONG_CONFIGS]
    out += [("grid", c, os.path.join(GRID, f"{c}-shakespeare-s1-400", "train.log"),
             os.path.join(GRID, f"{c}-shakespeare-s1-resume-1000", "train.log"),
             os.path.join(GRID, f"{c}-shakespeare-s1-1000")) for c in GRID_CONFIGS]
    return out


def truth(folder: str) -> float:
    with open(os.path.join(folder, "truth.json")) as f:
        return float(json.load(f)["val"])


def share(first: str, resumed: str, fresh: str, tmp: str) -> float | None:
    """The "resume re-warm" share of the gap report of the two processes in one log
    against the fresh run; None where it gives none."""
    import lossdoctor
    path = os.path.join(tmp, "train.log")
    with open(path, "w") as out:
        for part in (first, resumed):
            with open(part) as f:
                out.write(f.read())
    assert not isinstance(before_resume(lossdoctor.load(path)), str), path
    c = lossdoctor.analyze([path, fresh]).comparison
    assert c is not None
    return next((x.delta_val for x in c.attribution if x.cause == "resume re-warm"), None)


def main() -> None:
    rows: dict[str, list[float]] = {"long": [], "grid": []}
    print(f"{'pair':<22} {'share':>8} {'measured':>9} {'error':>8}  inside +-{REWARM_ERROR}")
    with tempfile.TemporaryDirectory() as tmp:
        for family, name, first, resumed, fresh in pairs():
            got = share(first, resumed, fresh, tmp)
            cost = truth(os.path.dirname(resumed)) - truth(fresh)
            if got is None:
                print(f"{family} {name:<17} {'none':>8} {cost:>+9.4f}")
                continue
            err = got - cost
            rows[family].append(err)
            print(f"{family} {name:<17} {got:>+8.4f} {cost:>+9.4f} {err:>+8.4f}  {abs(err) <= REWARM_ERROR}")
    for family, errs in rows.items():
        e = np.abs(np.array(errs))
        print(f"{family}: n {len(e)}, median |error| {np.median(e):.4f}, worst {e.max():.4f}, "
              f"0.8 quantile {np.quantile(e, 0.8):.4f}, inside +-{REWARM_ERROR}: {int((e <= REWARM_ERROR).sum())} "
              f"of {len(e)}")


if __name__ == "__main__":
    main()
