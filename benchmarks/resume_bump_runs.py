"""The resume bump of the calibration grid, measured without eval noise.

    python benchmarks/resume_bump_runs.py [--runs fixtures/calibration] [--data input.txt]

The grid's `resume` continuations (benchmarks/calibration_grid.py) log val every 40 steps
with 50 batches: the bump, val 40 steps after resuming minus val at the resume step, is
the difference of two such evals (sd about 0.014 nats), as large as the bump itself. Here
each Shakespeare config's 400-step run of seed 1 is resumed exactly as its `resume`
continuation is (--init_from=resume --max_iters=1000 --lr_decay_iters=1000: nanoGPT's
get_lr does not depend on max_iters, so stopping at 440 gives the same first 40 steps),
but stopped at step 440, and its final model's val over the same 500 val batches as the
400-step run's truth.json: the bump is the difference of the two truths, paired.

Each is kept as CONFIG-shakespeare-s1-bump-440 (train.log, truth.json); the 400-step run
is trained again for its checkpoint where the checkout has only its log.
"""

from __future__ import annotations

import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from calibration_grid import (  # noqa: E402
    CONFIGS,
    DEFAULT_RUNS,
    HORIZONS,
    SEEDS,
    continuations,
    train,
)
from heldout_runs import run_args  # noqa: E402

BUMP_STEPS = 40  # the grid's eval interval after resuming: where its logged bump is read


def bump_runs() -> list[tuple[str, str, list[str]]]:
    """(run name, the 400-step run it resumes, flags) for each Shakespeare config."""
    out = []
    h0 = HORIZONS[0]
    for name, base, _, flags in continuations():
        if "-resume-" not in name:
            continue
        kept = [f for f in flags if not f.startswith(("--max_iters=", "--eval_interval="))]
        out.append((f"{base.rsplit('-', 1)[0]}-bump-{h0 + BUMP_STEPS}", base,
                    [*kept, f"--max_iters={h0 + BUMP_STEPS}", f"--eval_interval={BUMP_STEPS}"]))
    return out


def main() -> int:
    args = run_args(__doc__, DEFAULT_RUNS)
    if args is None:
        return 2
    for name, base, flags in bump_runs():
        config = base.split("-")[0]
        assert config in CONFIGS
        train(args.runs, name, config, "shakespeare", SEEDS[0], flags, args.data, base=base)
    for scratch in ("_data", "_bases"):  # the retrained bases and the copied data are not kept
        shutil.rmtree(os.path.join(args.runs, scratch), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
