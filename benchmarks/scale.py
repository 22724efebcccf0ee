"""How `lossdoctor analyze` scales with the size of a log: MB/s and peak memory.

    OMP_NUM_THREADS=1 python benchmarks/scale.py [--sizes 100,300,1000] [--formats nanogpt,llmc,csv]

For each size (MB) and format it writes a log of that size to a scratch folder: a nanoGPT
train.py log (its header, an `iter` line every step and an eval every 250 steps), an
llm.c stdout (`step N/M | loss ...` lines and a val line every 250 steps), or a W&B-style
CSV (step, train/loss, val/loss). The loss falls as a power law with noise, so the facts,
rules and fit all have work to do. It then runs `lossdoctor analyze FILE --format json`
in a child process and reports the child's wall time, CPU time, MB/s and peak RSS
(ru_maxrss of the child). The targets: peak RSS at most 300 MB at every size, and time
linear in the size (the MB/s column flat).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVAL_EVERY = 250  # steps between evals


def _losses(lo: int, hi: int, rng: np.random.Generator) -> np.ndarray:
    steps = np.arange(lo, hi)
    return 1.0 + 3.2 * (1 + steps / 500.0) ** -0.35 + rng.normal(0, 0.02, hi - lo)


def nanogpt(rng: np.random.Generator) -> Iterator[str]:
    yield ("Overriding config with config/train_shakespeare_char.py:\nOverriding: max_iters = 100000000\n"
           "Overriding: lr_decay_iters = 100000000\ntokens per iteration will be: 16,384\n"
           "found vocab_size = 65 (inside data/shakespeare_char/meta.pkl)\nInitializing a new model from scratch\n"
           "number of parameters: 10.65M\n")
    for lo in range(0, 10**9, 100_000):
        loss = _losses(lo, lo + 100_000, rng)
        lines = [f"iter {s}: loss {x:.4f}, time 25.{s % 100:02d}ms, mfu 1.23%" for s, x in zip(
            range(lo, lo + 100_000), loss, strict=True)]
        for k in range(0, 100_000, EVAL_EVERY):
            lines[k] = f"step {lo + k}: train loss {loss[k]:.4f}, val loss {loss[k] + 0.08:.4f}\n" + lines[k]
        yield "\n".join(lines) + "\n"


def llmc(rng: np.random.Generator) -> Iterator[str]:
    yield "| Parameter | Value |\n| max_steps | 100000000 |\n"
    for lo in range(0, 10**9, 100_000):
        loss = _losses(lo, lo + 100_000, rng)
        lines = [f"step {s + 1:4d}/100000000 | loss {x:.6f} (+nanz)| norm 0.5000 (+nanz)| lr 6.00e-04 | "
                 f"25.00 ms | 40.0% bf16 MFU | 650000 tok/s"
                 for s, x in zip(range(lo, lo + 100_000), loss, strict=True)]
        for k in range(0, 100_000, EVAL_EVERY):
            lines[k] = f"val loss {loss[k] + 0.08:.6f}\n" + lines[k]
        yield "\n".join(lines) + "\n"


def csv(rng: np.random.Generator) -> Iterator[str]:
    yield "step,train/loss,val/loss\n"
    for lo in range(0, 10**9, 100_000):
        loss = _losses(lo, lo + 100_000, rng)
        yield "".join(f"{s},{x:.6f},{x + 0.08:.6f}\n" if s % EVAL_EVERY == 0 else f"{s},{x:.6f},\n"
                      for s, x in zip(range(lo, lo + 100_000), loss, strict=True))


FORMATS: dict[str, tuple[str, Callable[[np.random.Generator], Iterator[str]]]] = {
    "nanogpt": ("train.log", nanogpt), "llmc": ("llmc.log", llmc), "csv": ("metrics.csv", csv)}


def write(path: str, make: Callable[[np.random.Generator], Iterator[str]], size: int) -> None:
    """`size` bytes (whole lines) of the format at `path`."""
    done = 0
    with open(path, "w", encoding="utf-8") as f:
        for chunk in make(np.random.default_rng(0)):
            if done + len(chunk) > size:
                chunk = chunk[:chunk.rfind("\n", 0, size - done) + 1]
            f.write(chunk)
            done += len(chunk)
            if done >= size - 200:
                return


def measure(path: str) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MB, exit code) of `lossdoctor analyze path` in a child."""
    t = time.time()
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "lossdoctor", "analyze", path, "--format", "json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        print(f"    {err.strip()[:300]}", file=sys.stderr)
    peak_mb = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20
    return time.time() - t, usage.ru_utime + usage.ru_stime, peak_mb, os.waitstatus_to_exitcode(status)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100,300,1000", help="MB, comma-separated")
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--keep", metavar="DIR", help="write the logs here and keep them")
    args = ap.parse_args(argv)
    folder = args.keep or tempfile.mkdtemp(prefix="lossdoctor-scale-")
    os.makedirs(folder, exist_ok=True)
    print(f"{'format':8} {'MB':>6} {'wall s':>7} {'CPU s':>7} {'MB/s':>6} {'peak RSS MB':>12} exit")
    worst = 0.0
    for fmt in args.formats.split(","):
        name, make = FORMATS[fmt]
        for mb in (int(s) for s in args.sizes.split(",")):
            path = os.path.join(folder, f"{mb}MB-{name}")
            if not os.path.exists(path):
                write(path, make, mb * 10**6)
            wall, cpu, peak, code = measure(path)
            worst = max(worst, peak)
            print(f"{fmt:8} {mb:6d} {wall:7.1f} {cpu:7.1f} {mb / wall:6.1f} {peak:12.0f} {code}", flush=True)
            if not args.keep:
                os.remove(path)
    print(f"\npeak RSS at most {worst:.0f} MB (target 300 MB); "
          f"ru_maxrss of the child, {resource.getpagesize()} B pages")
    return 0 if worst <= 300 else 1


if __name__ == "__main__":
    sys.exit(main())
