"""False confirmations of `lossdoctor verify`'s sequential seeds, in simulation.

    python benchmarks/verify_sequential.py [--experiments 20000] [--alpha 0.01]

Each experiment trains nothing: two identical arms of paired seeds (a loss near 1.47
nats; noise 0.01 shared by the two runs of a pair, 0.005 each run's own), looked at after
3, 4, 5, 6 and 8 seeds. Prints how often some look confirms a claimed improvement that is
not there, with the per-look level of verify/sequential.py (alpha / looks) and with every
look tested at alpha itself (docs/verify.md quotes both).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lossdoctor.verify import Claim, Metric, sequential_decision, verify

SCHEDULE = (3, 4, 5, 6, 8)  # seeds per arm at each look


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--experiments", type=int, default=20000)
    ap.add_argument("--alpha", type=float, default=0.01)
    args = ap.parse_args()
    claim = Claim.improves(Metric.loss(), recommendation="an identical treatment")
    rng = np.random.default_rng(2024)
    corrected = uncorrected = 0
    start = time.time()
    for _ in range(args.experiments):
        shared = 1.47 + rng.normal(0.0, 0.01, SCHEDULE[-1])  # (seeds,) the pair's common noise
        b, t = shared + rng.normal(0.0, 0.005, SCHEDULE[-1]), shared + rng.normal(0.0, 0.005, SCHEDULE[-1])
        for n in SCHEDULE:
            d = sequential_decision(b[:n], t[:n], claim, paired=True, schedule=SCHEDULE, alpha=args.alpha)
            if d.action == "stop":
                corrected += d.result.verdict == "confirmed"
                break
        uncorrected += any(verify(b[:n], t[:n], claim, paired=True, alpha=args.alpha).verdict == "confirmed"
                           for n in SCHEDULE)
    n = args.experiments
    print(f"{n} experiments of identical arms, looks at {SCHEDULE} seeds, alpha {args.alpha:g}: falsely confirmed "
          f"{corrected / n:.2%} with the sequential rule, {uncorrected / n:.2%} with every look at alpha "
          f"({time.time() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
