"""Fuzz every reader and every stage with mutated real inputs; report crashes.

    python benchmarks/fuzz.py [--cases 10000] [--seed 0] [--jobs N] [--save] [--atheris SECONDS]

Each case takes a seed file of the project's own (fixtures/: nanoGPT logs and Markdown,
nanochat, modded-nanogpt, llm.c, build-nanogpt, HF, Lightning, W&B, CSV, JSON lines, and
every input that ever crashed) through 1-3 mutations (tests/fuzzing.py: byte flips,
truncation, duplicated/reordered/deleted lines, binary chunks, a line of up to 10 MB,
invalid UTF-8, NUL bytes, CRLF, other encodings, nan/inf/1e308/-0/huge numbers, steps
going backwards, the header repeated), keeps the seed's file name (formats are found by
content, but a name can matter), then loads it, computes its facts, applies the rules,
compares it with another mutated seed (every 5th case), and extrapolates it (every 10th).
Case i of seed s is the same whatever the number of worker processes (--jobs, default one
a core, each with OMP_NUM_THREADS=1).

A crash is any exception other than lossdoctor's one-line errors. They are reported
grouped by the traceback's last lossdoctor frame; `--save` writes each crashing input to
fixtures/fuzz/crashes, which tests/test_fuzz.py runs on every test run. Exit status 1
when there was a crash.

`--atheris SECONDS` runs the same pipeline coverage-guided with atheris (pip install
atheris) for that long instead, starting from the same seeds.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import fuzzing  # noqa: E402  (tests/fuzzing.py, shared with tests/test_fuzz.py)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: one a core)")
    ap.add_argument("--save", action="store_true", help="write crashing inputs to fixtures/fuzz/crashes")
    ap.add_argument("--atheris", type=float, metavar="SECONDS", help="coverage-guided with atheris instead")
    ap.add_argument("--limit", type=int, default=30, help="seconds a case may take before it counts as a crash")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case with its time")
    args = ap.parse_args(argv)
    if args.atheris:
        return _atheris(_seeds(), args.atheris)
    crashes: Counter[str] = Counter()
    example: dict[str, str] = {}
    t0, cpu_total = time.time(), 0.0
    tasks = [(args.seed, i, args.limit) for i in range(args.cases)]
    with multiprocessing.Pool(args.jobs, initializer=_init) as pool:
        for i, (crash, label, seconds, cpu, data, suffix) in enumerate(pool.imap_unordered(_case, tasks, 8)):
            cpu_total += cpu
            if args.verbose:
                print(f"{seconds:6.2f} s  {label}  {crash or ''}", flush=True)
            if crash:
                crashes[crash] += 1
                example.setdefault(crash, label)
                if args.save:
                    _save(data, suffix)
            if (i + 1) % 1000 == 0:
                print(f"{i + 1:,} cases, {sum(crashes.values())} crashes, {time.time() - t0:.0f} s", flush=True)
    print(f"\n{args.cases:,} cases from {len(_seeds())} seeds in {time.time() - t0:.0f} s wall "
          f"({args.jobs} processes, {cpu_total:.0f} CPU s in the cases): "
          f"{sum(crashes.values())} crashes at {len(crashes)} places")
    for place, n in crashes.most_common():
        print(f"{n:6d}  {place}\n        e.g. {example[place]}")
    return 1 if crashes else 0


_SEEDS: list[tuple[Path, bytes]] = []
_SCRATCH = ""


def _seeds() -> list[tuple[Path, bytes]]:
    if not _SEEDS:
        _SEEDS.extend((p, p.read_bytes()[:fuzzing.MAX_SEED]) for p in fuzzing.seeds())
    return _SEEDS


def _init() -> None:
    global _SCRATCH
    os.environ["OMP_NUM_THREADS"] = "1"  # one core a worker: the workers share the machine
    _SCRATCH = tempfile.mkdtemp(prefix="lossdoctor-fuzz-")
    _seeds()


def _case(task: tuple[int, int, int]) -> tuple[str | None, str, float, float, bytes, str]:
    """Case `i` of run `seed` (the same whatever the number of workers): a mutated seed
    through every stage, with another mutated seed to compare with on every 5th case and
    extrapolation on every 10th."""
    seed, i, limit = task
    rng = random.Random(f"{seed}-{i}")
    path, data = rng.choice(_SEEDS)
    mutated, names = fuzzing.mutate(data, rng)
    case = os.path.join(_SCRATCH, f"a-{path.name}")  # the seed's name: formats are found by content, names can matter
    Path(case).write_bytes(mutated)
    other = None
    if i % 5 == 0:
        opath, odata = rng.choice(_SEEDS)
        other = os.path.join(_SCRATCH, f"b-{opath.name}")
        Path(other).write_bytes(fuzzing.mutate(odata, rng)[0])
    t, cpu = time.time(), time.process_time()
    crash = fuzzing.run_case(case, extrapolate=i % 10 == 0, other=other, limit=limit)
    label = f"case {i}: {path.relative_to(ROOT)} + {', '.join(names)}" + (" (compared)" if other else "")
    return crash, label, time.time() - t, time.process_time() - cpu, mutated if crash else b"", path.suffix


def _save(data: bytes, suffix: str) -> None:
    name = hashlib.sha1(data).hexdigest()[:12] + suffix
    fuzzing.CRASHES.mkdir(parents=True, exist_ok=True)
    (fuzzing.CRASHES / name).write_bytes(data)


def _atheris(seeds: list[tuple[Path, bytes]], seconds: float) -> int:
    try:
        import atheris  # type: ignore[import-not-found]
    except ImportError:
        print("atheris is not installed: pip install atheris", file=sys.stderr)
        return 2
    scratch = tempfile.mkdtemp()
    corpus = os.path.join(scratch, "corpus")
    os.makedirs(corpus)
    for i, (_, data) in enumerate(seeds):
        with open(os.path.join(corpus, f"seed{i}"), "wb") as f:
            f.write(data)
    case = os.path.join(scratch, "case.log")

    def one(data: bytes) -> None:
        with open(case, "wb") as f:
            f.write(data)
        crash = fuzzing.run_case(case, extrapolate=False)
        if crash:
            _save(data, ".log")
            raise RuntimeError(crash)

    atheris.instrument_all()
    atheris.Setup([sys.argv[0], corpus, f"-max_total_time={int(seconds)}", "-rss_limit_mb=4096"], one)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
