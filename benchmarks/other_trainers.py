"""What the law would say on another trainer's log, which `lossdoctor extrapolate` refuses.

    python benchmarks/other_trainers.py [--log ../shared/corpus/logs/llmc/hector-a100-stdout-full-run.log]
                                        [--to 15250] [CUT ...]

The log (default: the corpus's llm.c GPT-2 124M run on FineWeb, cosine to 19,560 steps,
val every 250) is cut after step CUT, and the law, calibrated on char-level Shakespeare,
predicts its own schedule (`custom` with the run's keys, which llm.c's table gives) at
step --to, where the log shows the truth. lossdoctor refuses such a log
(limits.unmodelled); this lifts that check only, to measure whether refusing is right.
Prints per cut: the prediction, its 80% interval, the logged val, the error, and the
naive power law's error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
DEFAULT_LOG = os.path.join(ROOT, "..", "shared", "corpus", "logs", "llmc", "hector-a100-stdout-full-run.log")
STEP = re.compile(r"step\s+(\d+)/")  # llm.c's `step   47/19560 | loss ...`


def cut(lines: list[str], last: int, path: str) -> None:
    """The log up to its lines for step `last` (and the val line that follows it)."""
    out = []
    for line in lines:
        m = STEP.match(line)
        if m and int(m.group(1)) > last:
            break
        out.append(line)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log", default=DEFAULT_LOG)
    ap.add_argument("--to", type=int, default=15250)
    ap.add_argument("cuts", nargs="*", type=int, default=[4000, 6000, 8000, 10000])
    args = ap.parse_args(argv)
    if not os.path.exists(args.log):
        print(f"{args.log}: not found (../shared is not here)")
        return 0
    import lossdoctor
    from lossdoctor.fit import CustomSchedule, limits
    with open(args.log, encoding="utf-8", errors="replace") as f:
        lines = f.readlines()
    ev, _ = lossdoctor.load(args.log).curves()
    truth = dict(zip(ev.step.tolist(), ev.val.tolist(), strict=True))
    if args.to not in truth:
        print(f"the log has no val at step {args.to:,}")
        return 2
    print(f"{os.path.basename(args.log)}: val at step {args.to:,} from the log cut after each step (nats)")
    print(f"{'cut':>6s} {'ratio':>5s} {'law':>7s} {'80% interval':>17s} {'logged':>7s} {'error':>7s} {'power':>7s}")
    keep = limits.unmodelled
    lifted = lambda run: None if (why := keep(run)) and "is not modelled" in why else why  # noqa: E731
    with tempfile.TemporaryDirectory() as scratch, mock.patch.object(limits, "unmodelled", lifted):
        for last in args.cuts:
            path = os.path.join(scratch, f"cut{last}.log")
            cut(lines, last, path)
            x = lossdoctor.Extrapolator(lossdoctor.load(path)).extrapolate(
                args.to, scenarios=("custom",), schedule=CustomSchedule())
            v, t = x.scenarios[0].val, truth[args.to]
            assert v is not None and x.baseline.val is not None
            print(f"{last:6d} {args.to / last:5.2f} {v.mean:7.4f} [{v.lo:.4f}, {v.hi:.4f}] {t:7.4f} "
                  f"{v.mean - t:+7.4f} {x.baseline.val - t:+7.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
