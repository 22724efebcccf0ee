"""Analyze speed: CPU seconds of `lossdoctor.analyze` on one run, a pair, and a long log.

    python benchmarks/analyze_speed.py [--repeat 7] [--shared ../shared]

Each measurement is a new Python process that first imports what analyze uses (numpy,
scipy.optimize, the rules' YAML parser: what any process pays once, whatever it reads),
then times one `lossdoctor.analyze` of the case with time.process_time. So the figure is
what analyzing that input costs, with nothing of it cached: reading the files, the
facts, the rules (loaded from their YAML files), the fits, and for a run of nanoGPT's
README CPU config the parsing of the shipped reference runs that join its fit. CPU
seconds, so other load on the machine does not count; OpenMP, OpenBLAS and MKL run one
thread (idle threads spinning in a BLAS call count as CPU time too). The cases take
turns, --repeat rounds: a case's time is its best round, and a ratio is the median over
the rounds of that round's ratio (this machine's speed drifts by 20-30% over a minute;
cases measured side by side drift together). The cases:

  one   a 2000-step run of nanoGPT's README CPU config (fixtures/lossdoctor_train/readme_cpu_2000)
  pair  that config's CPU run against nanoGPT's default shakespeare_char run on a GPU
        (fixtures/nanogpt/cpu_small + shared/corpus/logs/nanogpt/innerfirexy-shakespeare-char-gpu.log)
  long  a 2 MB DDP log of 440,000 steps with a resume
        (shared/corpus/logs/nanogpt/innerfirexy-gpt2-ddp8-resume.log)

Targets: one <= 1.0 s; pair <= 1.6x one; long <= 2x one. Also prints the CPU time of the
whole `lossdoctor analyze` command on `one`, imports included. A case whose file is
absent is reported as skipped.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ONE_THREAD = {var: "1" for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

# run in a new process: argv[1:] are the paths; prints the CPU seconds of one analyze
MEASURE = """
import sys, time
import numpy, scipy.optimize, scipy.special, yaml  # what every process imports once
from lossdoctor.analysis import analyze
t0 = time.process_time()
analyze(sys.argv[1:])
print(time.process_time() - t0)
"""


def cases(shared: Path) -> dict[str, list[Path]]:
    logs = shared / "corpus" / "logs" / "nanogpt"
    return {
        "one": [ROOT / "fixtures" / "lossdoctor_train" / "readme_cpu_2000" / "train.log"],
        "pair": [ROOT / "fixtures" / "nanogpt" / "cpu_small" / "train.log",
                 logs / "innerfirexy-shakespeare-char-gpu.log"],
        "long": [logs / "innerfirexy-gpt2-ddp8-resume.log"],
    }


def cpu_seconds(paths: list[Path]) -> float:
    """CPU seconds of one analyze of `paths`, in a new process."""
    env = {**os.environ, **ONE_THREAD}
    out = subprocess.run([sys.executable, "-c", MEASURE, *map(str, paths)], check=True, text=True,
                         capture_output=True, cwd=ROOT, env=env).stdout
    return float(out.split()[-1])


def cli_cpu_seconds(paths: list[Path]) -> float:
    """CPU seconds (user + sys) of `lossdoctor analyze PATHS --format json` as a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "lossdoctor", "analyze", *map(str, paths), "--format", "json"],
                   check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env={**os.environ, **ONE_THREAD})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("LOSSDOCTOR_SHARED", ROOT.parent / "shared")))
    args = ap.parse_args()
    print(f"one thread (OMP, OpenBLAS, MKL); {args.repeat} rounds; CPU seconds of one analyze")
    present: dict[str, list[Path]] = {}
    for name, paths in cases(args.shared).items():
        missing = [p for p in paths if not p.exists()]
        if missing:
            print(f"{name:5s} skipped: {missing[0]} not found")
        else:
            present[name] = paths
    rounds = [{name: cpu_seconds(paths) for name, paths in present.items()} for _ in range(args.repeat)]
    for name, paths in present.items():
        size = sum(p.stat().st_size for p in paths)
        times = sorted(r[name] for r in rounds)
        print(f"{name:5s} {times[0]:6.2f} s best, {statistics.median(times):.2f} s median   "
              f"({len(paths)} file(s), {size / 1e6:.2f} MB)")
    if "one" in present:
        one = min(r["one"] for r in rounds)
        print(f"target one  <= 1.0 s:    {one:.2f} s  {'met' if one <= 1.0 else 'NOT met'}")
        for name, limit in (("pair", 1.6), ("long", 2.0)):
            if name in present:
                ratios = sorted(r[name] / r["one"] for r in rounds)
                mid = statistics.median(ratios)
                print(f"target {name} <= {limit}x one:  {mid:.2f}x median ({ratios[0]:.2f}-{ratios[-1]:.2f})  "
                      f"{'met' if mid <= limit else 'NOT met'}")
        print(f"lossdoctor analyze (one) as a new process, imports included: "
              f"{cli_cpu_seconds(cases(args.shared)['one']):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
