"""Parse speed: a generated 600,000-iteration nanoGPT log against awk on the same file.

    python benchmarks/parse_speed.py [--iters 600000] [--repeat 5]

For two logs (the target's, whose lines change length only where the step gains a
digit, and one whose neighbouring lines differ in length) prints lines/s for lossdoctor's
parser (file read to Run, best of --repeat) and for `awk '/^iter/ {print $4}'` (one
field of every iter line, output to /dev/null), and their ratio (lossdoctor time / awk
time; target <= 1.0 on the first log). Also times `lossdoctor --help` (target < 0.25 s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np


def make_log(path: str, iters: int, eval_every: int, mixed: bool = False) -> int:
    """A log in train.py's exact format; returns its line count. With `mixed`, times
    straddle 100 ms and MFU 10%, so that neighbouring lines differ in length."""
    rng = np.random.default_rng(1337)
    loss = 3.0 + rng.random(iters + 1)
    dt = (90 + 20 * rng.random(iters + 1)) if mixed else (100 + 10 * rng.random(iters + 1))
    n = 0
    with open(path, "w") as f:
        f.write("Overriding: max_iters = %d\ntokens per iteration will be: 491,520\n" % iters)
        n += 2
        chunk = []
        for i in range(iters + 1):
            if i % eval_every == 0:
                chunk.append(f"step {i}: train loss {loss[i]:.4f}, val loss {loss[i] + 0.05:.4f}\n")
                if i:
                    chunk.append("saving checkpoint to out\n")
            mfu = -100.0 if i < 5 else (5 + 10 * rng.random() if mixed else 40 + (i % 7) / 10)
            chunk.append(f"iter {i}: loss {loss[i]:.4f}, time {dt[i]:.2f}ms, mfu {mfu:.2f}%\n")
            if len(chunk) > 50000:
                n += len(chunk)
                f.write("".join(chunk))
                chunk = []
        n += len(chunk)
        f.write("".join(chunk))
    return n


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def time_parse(path: str, repeat: int, awk: str | None) -> tuple[float, float]:
    """Best times of lossdoctor.load and of awk on one file, alternating the two so that a
    slow spell of a shared machine hits both alike."""
    import lossdoctor
    t_ld = t_awk = float("inf")
    for _ in range(repeat):
        t_ld = min(t_ld, best_of(1, lambda: lossdoctor.load(path)))
        if awk:
            t_awk = min(t_awk, best_of(1, lambda: subprocess.run(
                [awk, "/^iter/ {print $4}", path], stdout=subprocess.DEVNULL, check=True)))
    return t_ld, t_awk if awk else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=600_000)
    ap.add_argument("--eval-every", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import lossdoctor
    awk = shutil.which("awk")
    for mixed in (False, True):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "train.log")
            n_lines = make_log(path, args.iters, args.eval_every, mixed)
            size_mb = os.path.getsize(path) / 1e6
            run = lossdoctor.load(path)  # warm the page cache and check the result
            # every iteration read; past a bound, one in k kept (and the last), as a note says
            assert run.iters.step[-1] == args.iters
            assert len(run.iters) == args.iters + 1 or any("is kept" in x for x in run.notes), len(run.iters)
            t_ld, t_awk = time_parse(path, args.repeat, awk)
        kind = "lines of mixed lengths" if mixed else "the target's log"
        print(f"log ({kind}): {n_lines:,} lines, {size_mb:.1f} MB "
              f"({args.iters:,} iterations, eval every {args.eval_every:,})")
        print(f"  lossdoctor.load: {t_ld:.3f} s  {n_lines / t_ld:,.0f} lines/s")
        print(f"  awk (one field): {t_awk:.3f} s  {n_lines / t_awk:,.0f} lines/s  ({awk})")
        print(f"  ratio lossdoctor/awk: {t_ld / t_awk:.2f}" + ("" if mixed else "  (target <= 1.0)"))
    t_help = best_of(args.repeat, lambda: subprocess.run(
        [sys.executable, "-m", "lossdoctor", "--help"], stdout=subprocess.DEVNULL, check=True))
    print(f"python -m lossdoctor --help: {t_help:.3f} s  (target < 0.25 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
