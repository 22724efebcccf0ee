"""How many files of the real-log corpus lossdoctor reads, per format.

    python benchmarks/formats.py [--corpus ../shared/corpus/logs]

Reads every file (SOURCES.md aside) as `lossdoctor analyze` would, and prints per file its
format, runs, eval and iteration points, or the refusal; then per format the files read
and those with curves (an eval or an iteration point), and the totals.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus", "logs"))
    args = ap.parse_args(argv)
    from lossdoctor.errors import InputError
    from lossdoctor.readers import read_runs
    files = sorted(os.path.relpath(os.path.join(d, f), args.corpus) for d, _, fs in os.walk(args.corpus)
                   for f in fs if f != "SOURCES.md")
    read, curves, refused = Counter(), Counter(), []
    t0 = time.process_time()
    for rel in files:
        try:
            runs = read_runs(os.path.join(args.corpus, rel))
        except InputError as e:
            refused.append(rel)
            print(f"{rel:66s} refused: {e.reason}")
            continue
        r = runs[0]
        fmt = str(r.format)
        read[fmt] += 1
        curves[fmt] += bool(len(r.evals) + len(r.iters))
        print(f"{rel:66s} {fmt:18s} runs {len(runs):3d}  evals {len(r.evals):5d}  iters {len(r.iters):6d}")
    cpu = time.process_time() - t0
    print(f"\n{'format':18s} {'files':>5s} {'with curves':>11s}")
    for fmt in sorted(read):
        print(f"{fmt:18s} {read[fmt]:5d} {curves[fmt]:11d}")
    print(f"\n{len(files)} files: {sum(read.values())} read, {sum(curves.values())} with curves in "
          f"{sum(1 for n in curves.values() if n)} formats, {len(refused)} refused; {cpu:.1f} CPU s to read them all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
