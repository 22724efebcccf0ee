"""Labelled diagnosis benchmark: does the first finding name the cause that was planted?

    python benchmarks/diagnosis.py [--runs fixtures/diagnosis] [--verbose]

The runs, and how they are made, are benchmarks/diagnosis_runs.py's (it trains the ones
missing from --runs first). Each plants one cause in one of four base configs on one of two
datasets, at a strong and a mild strength; healthy runs plant nothing. Three real logs
from ../shared/corpus are scored too, with labels their curves and tracebacks justify:

  druidowm 124M overfit   overfitting  val bottoms at 1.61 (step 800) and ends at 4.27
                                       while train falls to 0.03
  termux NaN              divergence   the loss turns NaN and stays NaN
  druidowm compile fail   crash        the run ends in a torch._dynamo traceback

Printed, for each half (tune: tiny Shakespeare; held-out: pycode; corpus) and overall:
  recall@1   share of planted runs whose first finding is in the planted category
  recall@3   ... among the first three findings
  false alarms  share of healthy runs with a finding at warning or above in a fault
             category (not advice: train_longer, eval_noise, measurement, resume,
             throughput, precision, config)
and a confusion table: planted category against the category of the first finding.
Targets: recall@1 >= 0.8, recall@3 >= 0.95, false alarms <= 0.05. The rules' thresholds
come from the literature and nanoGPT's recipes (docs/rules.md); the held-out half was
never used to set one.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diagnosis_runs import DEFAULT_DATA, DEFAULT_RUNS, RUNS, label, train  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")
CORPUS = {  # file under ../shared/corpus/logs -> the category its curves or traceback show
    "nanogpt/druidowm-wandb-output-shakespeare-124M-overfit-8xH100.log": "overfitting",
    "nanogpt/termux-cpu-nan-chenzihua.log": "divergence",
    "nanogpt/druidowm-wandb-output-compile-fail-mac.log": "crash",
}
TARGETS = {"recall@1": 0.8, "recall@3": 0.95, "false alarms": 0.05}


@dataclass(frozen=True)
class Scored:
    name: str
    half: str  # tune | held-out | corpus
    planted: str | None  # None: healthy
    strength: str
    categories: tuple[str, ...]  # of the findings, in rank order
    rules: tuple[str, ...]
    alarms: tuple[str, ...]  # warning+ findings in a fault category

    @property
    def rank(self) -> int | None:
        return self.categories.index(self.planted) + 1 if self.planted in self.categories else None


def score(name: str, path: str, half: str, planted: str | None, strength: str) -> Scored:
    import lossdoctor
    from lossdoctor.diagnose import diagnose
    from lossdoctor.diagnose.ranking import ADVICE
    findings = diagnose(lossdoctor.load(path)).findings
    alarms = tuple(f.rule for f in findings if f.category not in ADVICE and f.severity != "info")
    return Scored(name, half, planted, strength, tuple(f.category for f in findings),
                  tuple(f.rule for f in findings), alarms)


def figures(rows: list[Scored]) -> dict[str, tuple[int, int]]:
    planted = [r for r in rows if r.planted]
    healthy = [r for r in rows if not r.planted]
    return {"recall@1": (sum(r.rank == 1 for r in planted), len(planted)),
            "recall@3": (sum(r.rank is not None and r.rank <= 3 for r in planted), len(planted)),
            "false alarms": (sum(bool(r.alarms) for r in healthy), len(healthy))}


def _line(label: str, rows: list[Scored]) -> str:
    parts = []
    for key, (k, n) in figures(rows).items():
        parts.append(f"{key} {k}/{n} = {k / n:.2f}" if n else f"{key} -")
    return f"{label:<10} " + "; ".join(parts)


def confusion(rows: list[Scored]) -> str:
    """Planted category (rows) against the first finding's category (columns)."""
    planted = [r for r in rows if r.planted] + [r for r in rows if not r.planted]
    first = [r.categories[0] if r.categories else "(none)" for r in planted]
    truth = [r.planted or "healthy" for r in planted]
    cols = sorted(set(first))
    width = max(len(c) for c in truth + ["planted"])
    out = ["first finding's category, by planted category (counts):",
           " " * width + " | " + " | ".join(cols)]
    counts = Counter(zip(truth, first, strict=True))
    for t in dict.fromkeys(truth):
        out.append(f"{t:<{width}} | " + " | ".join(f"{counts[(t, c)] or '.':>{len(c)}}" for c in cols))
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default=DEFAULT_RUNS)
    ap.add_argument("--data", default=DEFAULT_DATA, help="tiny Shakespeare's input.txt, to train missing runs")
    ap.add_argument("--verbose", "-v", action="store_true", help="list the findings of every run")
    args = ap.parse_args()
    rows = []
    for name, p in RUNS.items():
        path = os.path.join(args.runs, name)
        if not os.path.exists(os.path.join(path, "train.log")):
            train(args.runs, name, args.data, retrain=False)
        rows.append(score(name, path, p.half, label(p, os.path.join(path, "train.log")), p.strength))
    for rel, category in CORPUS.items():
        path = os.path.join(SHARED, "corpus", "logs", rel)
        if os.path.exists(path):
            rows.append(score(os.path.basename(rel), path, "corpus", category, "real"))
    for r in rows:
        if args.verbose or (r.planted and r.rank != 1) or r.alarms:
            what = f"{r.planted} ({r.strength})" if r.planted else "healthy"
            print(f"{r.name} [{r.half}], planted {what}: rank {r.rank}; "
                  f"first {', '.join(x.split('-')[0] for x in r.rules[:4]) or 'none'}"
                  + (f"; false alarm {', '.join(r.alarms)}" if not r.planted and r.alarms else ""))
    print()
    for half in ("tune", "held-out", "corpus"):
        print(_line(half, [r for r in rows if r.half == half]))
    print(_line("all", rows))
    for strength in ("strong", "mild"):
        print(_line(strength, [r for r in rows if r.strength == strength]))
    print("targets:   " + "; ".join(f"{k} {'>=' if k != 'false alarms' else '<='} {v}" for k, v in TARGETS.items()))
    print()
    print(confusion(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
