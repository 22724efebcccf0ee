"""How `lossdoctor analyze` scales with the processes of a file whose steps go back.

    OMP_NUM_THREADS=1 python benchmarks/goback_speed.py [--lines 2000,4000,8000,16000]

Another trainer's output whose steps go back in file order holds one process per step
back (readers/goback.py). A log saved newest first, or with its lines shuffled, holds one
per line. For each size it writes an llm.c stdout of that many step lines (a val line
every 20 steps), its first third in order and the rest reversed, and times
`lossdoctor analyze FILE --format json` in a child process. The target: time linear in
the lines (the lines/s column flat), where the lineage's curves had been rebuilt per
process and per question (8,000 lines took 185 s).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_log(path: str, n: int) -> None:
    """An llm.c stdout of `n` step lines, the last two thirds in reverse order."""
    lines = []
    for step in range(1, n + 1):
        loss = 3.0 + 8.0 * step ** -0.3
        lines.append(f"step {step:4d}/{n} | loss {loss:.6f} (+0.00z)| norm 1.0000 (+0.00z)| lr 6.00e-04 | "
                     "100.00 ms | 30.0% bf16 MFU | 100000 tok/s")
        if step % 20 == 0:
            lines.append(f"val loss {loss + 0.05:.6f}")
    k = len(lines) // 3
    with open(path, "w") as f:
        f.write("\n".join(lines[:k] + lines[k:][::-1]) + "\n")


def time_analyze(path: str) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lossdoctor", "analyze", path, "--format", "json"],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", default="2000,4000,8000,16000")
    sizes = [int(x) for x in ap.parse_args().lines.split(",")]
    print("| step lines | seconds | lines/s | exit |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = os.path.join(tmp, f"goback_{n}.log")
            write_log(path, n)
            seconds, code = time_analyze(path)
            print(f"| {n:,} | {seconds:.1f} | {n / seconds:,.0f} | {code} |", flush=True)


if __name__ == "__main__":
    main()
