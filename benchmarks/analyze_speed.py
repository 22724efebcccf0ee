"""Analyze speed: CPU seconds of `lossdoctor.analyze` on one run, a pair, and a long log.

    python benchmarks/analyze_speed.py [--repeat 7] [--shared ../shared]

Measured in this one process with time.process_time (CPU seconds, so other load on the
machine does not count; BLAS and OpenMP run one thread, since idle threads spinning
in a BLAS call count as CPU time too), after a warm-up analyze of each case that pays what a process
pays once (imports, and parsing the shipped reference runs); each case is then the best
of --repeat, every time a new analyze with nothing of the run cached. The cases:

  one   a 2000-step run of nanoGPT's README CPU config (fixtures/lossdoctor_train/readme_cpu_2000)
  pair  that config's CPU run against nanoGPT's default shakespeare_char run on a GPU
        (fixtures/nanogpt/cpu_small + shared/corpus/logs/nanogpt/innerfirexy-shakespeare-char-gpu.log)
  long  a 2 MB, 44k-step DDP log with a resume (shared/corpus/logs/nanogpt/innerfirexy-gpt2-ddp8-resume.log)

Targets: one <= 1.0 s; pair <= 1.6x one; long <= 2x one. Also prints the CPU time of the
whole `lossdoctor analyze` command on `one` in a fresh process (imports included), for
reference. A case whose file is absent is reported as skipped.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported

import argparse  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def cases(shared: Path) -> dict[str, list[Path]]:
    logs = shared / "corpus" / "logs" / "nanogpt"
    return {
        "one": [ROOT / "fixtures" / "lossdoctor_train" / "readme_cpu_2000" / "train.log"],
        "pair": [ROOT / "fixtures" / "nanogpt" / "cpu_small" / "train.log",
                 logs / "innerfirexy-shakespeare-char-gpu.log"],
        "long": [logs / "innerfirexy-gpt2-ddp8-resume.log"],
    }


def cpu_seconds(paths: list[Path], repeat: int) -> float:
    from lossdoctor.analysis import analyze
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        analyze([str(p) for p in paths])
        best = min(best, time.process_time() - t0)
    return best


def cli_cpu_seconds(paths: list[Path]) -> float:
    """CPU seconds (user + sys) of `lossdoctor analyze PATHS --format json` as a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "lossdoctor", "analyze", *map(str, paths), "--format", "json"],
                   check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("LOSSDOCTOR_SHARED", ROOT.parent / "shared")))
    args = ap.parse_args()
    print(f"one thread (OMP, OpenBLAS, MKL), best of {args.repeat}, CPU seconds")
    present = {name: paths for name, paths in cases(args.shared).items() if all(p.exists() for p in paths)}
    for paths in present.values():
        cpu_seconds(paths, 1)  # warm-up
    results: dict[str, float] = {}
    for name, paths in cases(args.shared).items():
        if name not in present:
            print(f"{name:5s} skipped: {next(p for p in paths if not p.exists())} not found")
            continue
        results[name] = cpu_seconds(paths, args.repeat)
        size = sum(p.stat().st_size for p in paths)
        print(f"{name:5s} {results[name]:6.2f} s   ({len(paths)} file(s), {size / 1e6:.2f} MB)")
    one = results.get("one")
    if one:
        print(f"target one  <= 1.0 s:    {one:.2f} s  {'met' if one <= 1.0 else 'NOT met'}")
        for name, limit in (("pair", 1.6), ("long", 2.0)):
            if name in results:
                r = results[name] / one
                print(f"target {name} <= {limit}x one:  {r:.2f}x  {'met' if r <= limit else 'NOT met'}")
        print(f"lossdoctor analyze (one) as a new process, imports included: "
              f"{cli_cpu_seconds(cases(args.shared)['one']):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
