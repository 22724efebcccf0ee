"""Backtests of `lossdoctor extrapolate` on real runs: predict a longer run's final val
from a shorter run's log, for `rerun`, `resume` and `constant`, at horizon ratios 1.5x,
2.5x, 5x.

    python benchmarks/extrapolation.py [--runs DIR] [--data input.txt] [--groundtruth DIR]
                                       [--truth-batches 500]
    python benchmarks/extrapolation.py --family    # leave one config out, on the grid

Runs: nanoGPT's README CPU config (lossdoctor/configs/shakespeare_char_cpu.yaml) trained by
the built-in trainer on tiny Shakespeare, seed 1337, max_iters = lr_decay_iters = 800,
1000, 1200, 1500, 1600, 2000, 2500, 3000, 4000 and 5000 (15 `rerun` pairs, 5 at 2.5x), and
seed 1339 at the same horizons but 1500 (13 more pairs, 5 at 2.5x); resumed continuations
1000 -> 1500, 2500, 5000 and 2000 -> 3000, 5000 (--init_from=resume --max_iters=N --lr_decay_iters=N); constant-LR
continuations at min_lr 1000 -> 2500 and 2000 -> 5000; seeds 1338 and 1339 at
2000 for the seed spread. They are trained into --runs (kept; existing ones are reused:
about 50 minutes on 2 CPU cores the first time). The nanoGPT runs in
../shared/groundtruth (T1000 -> T3000, eval_iters 200) are a further `rerun` case.

The shape priors of the law are calibrated on seed 1338's runs
(benchmarks/calibrate_extrapolation.py): these backtests on seed 1337 are out of sample.

The truth of a built-in trainer run is its final checkpoint's val loss over 500 random val
batches (a logged val at eval_iters=20 has ~0.016 nats of eval noise).

Prints per case the prediction, its 80% interval and the truth; then, per scenario and
ratio, the median and worst absolute error, the coverage of the 80% intervals, and the
same errors for the schedule-blind power law (the baseline to beat). Three passes: with
the reference runs (as shipped), without them (--no-reference: the calibrated-shape law
alone through L0 = 0, calibration.ALONE_UNREFERENCED), and without them with the ensemble
of both laws (what --no-reference gave before).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from lossdoctor.fit import Calibration

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONFIG = os.path.join(ROOT, "lossdoctor", "configs", "shakespeare_char_cpu.yaml")
RERUN = (800, 1000, 1200, 1500, 1600, 2000, 2500, 3000, 4000, 5000)
# (short, long) pairs predicted for `rerun`, by horizon ratio
RERUN_PAIRS = ((800, 1200), (1000, 1500), (2000, 3000),  # 1.5x
               (800, 1600), (1000, 2000), (1500, 3000), (2000, 4000),  # 2x
               (800, 2000), (1000, 2500), (1200, 3000), (1600, 4000), (2000, 5000),  # 2.5x
               (1000, 3000), (800, 4000), (1000, 5000))  # 3x, 5x
RESUME = ((1000, 1500), (1000, 2500), (1000, 5000), (2000, 3000), (2000, 5000))
CONSTANT = ((1000, 2500), (2000, 5000))  # resumed at min_lr
SEEDS = (1338, 1339)
RERUN_1339 = tuple(t for t in RERUN if t != 1500)  # a second seed's rerun pairs


def train(runs: str, name: str, data: str, *args: str, base: str | None = None, seed: int = 1337) -> str:
    out = os.path.join(runs, name)
    if os.path.exists(os.path.join(out, "done")):
        return out
    if base:  # a resumed run starts from a copy of the shorter run
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(base, out)
        os.remove(os.path.join(out, "done"))
    print(f"training {name} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "lossdoctor", "train", CONFIG, f"--data={data}", f"--seed={seed}",
                    "--always_save_checkpoint=True", f"--out_dir={out}", "--no-progress", *args],
                   stdout=subprocess.DEVNULL, check=True)
    open(os.path.join(out, "done"), "w").close()
    return out


def make_runs(runs: str, data: str) -> dict[str, str]:
    os.makedirs(runs, exist_ok=True)
    paths = {}
    for t in RERUN:
        paths[f"rerun-{t}"] = train(runs, f"rerun-{t}", data, f"--max_iters={t}", f"--lr_decay_iters={t}")
    for s, t in RESUME:
        paths[f"resume-{s}-{t}"] = train(runs, f"resume-{s}-{t}", data, "--init_from=resume",
                                         f"--max_iters={t}", f"--lr_decay_iters={t}", base=paths[f"rerun-{s}"])
    for s, t in CONSTANT:
        paths[f"constant-{s}-{t}"] = train(runs, f"constant-{s}-{t}", data, "--init_from=resume",
                                           f"--max_iters={t}", "--decay_lr=False", "--learning_rate=1e-4",
                                           base=paths[f"rerun-{s}"])
    for t in RERUN_1339:
        paths[f"seed-1339-rerun-{t}"] = train(runs, f"seed-1339-rerun-{t}", data, f"--max_iters={t}",
                                              f"--lr_decay_iters={t}", seed=1339)
    for seed in SEEDS:
        paths[f"seed-{seed}"] = train(runs, f"seed-{seed}-2000", data, "--max_iters=2000",
                                      "--lr_decay_iters=2000", f"--seed={seed}")
    return paths


def final_val(path: str) -> float:
    """The last val the run logged (eval_iters=20: one eval's sd is about 0.016 nats)."""
    import lossdoctor
    ev, _ = lossdoctor.load(path).curves()
    return float(ev.val[-1])


TRUTH = {}  # run dir -> its final checkpoint's val loss over many batches; set in main()


def true_val(path: str, data, batches: int) -> float:  # noqa: ANN001
    """The final checkpoint's val loss, the mean over `batches` random val batches (cached
    in the run dir). A logged val at eval_iters=20 carries ~0.016 nats of eval noise,
    as much as the error being measured; 500 batches bring it under 0.004."""
    cache = os.path.join(path, f"val_{batches}.txt")
    if os.path.exists(cache):
        return float(open(cache).read())
    import torch

    from lossdoctor.trainer.loop import load_checkpoint
    from lossdoctor.trainer.model import GPT, GPTConfig
    ckpt = load_checkpoint(os.path.join(path, "ckpt.pt"))
    model = GPT(GPTConfig(**{**ckpt["model_args"], "dropout": 0.0}))
    model.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in ckpt["model"].items()})
    model.eval()
    cfg = ckpt["config"]
    block, batch = ckpt["model_args"]["block_size"], cfg["batch_size"]
    gen = torch.Generator().manual_seed(0)
    offsets = np.arange(block + 1)  # (T+1,)
    losses = []
    with torch.no_grad():
        for _ in range(batches):
            ix = torch.randint(len(data.val) - block, (batch,), generator=gen).numpy()
            xy = torch.from_numpy(data.val[ix[:, None] + offsets].astype(np.int64))  # (B, T+1)
            losses.append(model(xy[:, :-1].contiguous(), xy[:, 1:].contiguous())[1].item())
    value = float(np.mean(losses))
    with open(cache, "w") as f:
        f.write(repr(value))
    return value


def true_final(path: str) -> float:
    return TRUTH.get(path) or final_val(path)


def cases(paths: dict[str, str], groundtruth: str | None) -> list[tuple]:
    """(scenario, ratio, short run, target step, truth, logged final val of the longer run)"""
    out = []
    for kind, pairs, short, longer in (
            ("rerun", RERUN_PAIRS, "rerun-{s}", "rerun-{t}"),
            ("rerun", [p for p in RERUN_PAIRS if set(p) <= set(RERUN_1339)], "seed-1339-rerun-{s}",
             "seed-1339-rerun-{t}"),
            ("resume", RESUME, "rerun-{s}", "resume-{s}-{t}"), ("constant", CONSTANT, "rerun-{s}", "constant-{s}-{t}")):
        for s, t in pairs:
            path = paths[longer.format(s=s, t=t)]
            out.append((kind, t / s, paths[short.format(s=s)], t, true_final(path), final_val(path)))
    if groundtruth and os.path.exists(os.path.join(groundtruth, "gt_T1000.log")):
        logged = final_val(os.path.join(groundtruth, "gt_T3000.log"))
        out.append(("rerun (nanoGPT)", 3.0, os.path.join(groundtruth, "gt_T1000.log"), 3000, logged, logged))
    return out


def bump(paths: dict[str, str], reference: bool) -> list[tuple[str, float, float]]:
    """Height of the resume bump: val at the first eval after resuming minus val at the
    resume step, predicted and true."""
    import lossdoctor
    out = []
    for s, t in RESUME:
        run = lossdoctor.load(paths[f"resume-{s}-{t}"])
        ev, _ = run.curves()
        after = ev.step > s
        if not after.any():
            continue
        first = int(ev.step[after][0])
        truth = float(ev.val[after][0] - ev.val[ev.step == s][-1])
        short = lossdoctor.load(paths[f"rerun-{s}"])
        x = lossdoctor.extrapolate(short, t, scenarios=("resume",), reference=reference)
        path = x.path("resume")  # the predicted val along the resumed run
        assert path is not None
        steps, values = path
        pred = float(np.interp(first, steps, values) - values[0])
        out.append((f"{s}->{t} (eval at {first})", pred, truth))
    return out


def table(all_cases: list[tuple], reference: bool, calibration: Calibration | None = None) -> None:
    """Per case, then per scenario and ratio: errors against the 500-batch truth; coverage
    of the 80% intervals against the longer run's logged final val (what the interval is
    for: it includes one logged eval's noise) and against the 500-batch truth.
    `calibration`: instead of the one lossdoctor picks for the run's config."""
    import lossdoctor
    from lossdoctor.fit import Extrapolator
    from lossdoctor.fit.reference import TOLERANCE
    rows, offsets = [], []
    print(f"{'scenario':16s} {'ratio':>5s} {'seed':>4s} {'from':>5s} {'to':>5s} {'pred':>7s} {'80% interval':>17s} "
          f"{'truth':>7s} {'err':>7s} {'logged':>7s} {'power':>7s} {'err':>7s}")
    for name, ratio, short, to, truth, logged in all_cases:
        scen = name if name in ("resume", "constant") else "rerun"
        run = lossdoctor.load(short)
        x = Extrapolator(run, calibration=calibration, reference=reference).extrapolate(to, scenarios=(scen,))
        v = next(s.val for s in x.scenarios if s.name == scen)
        base = x.baseline.val
        if x.model.reference:
            offsets += [abs(v) for v in x.model.reference.offset if v is not None]
        rows.append((name, ratio, v.mean - truth, v.lo <= logged <= v.hi, v.lo <= truth <= v.hi, base - truth))
        print(f"{name:16s} {ratio:5.1f} {run.config.get('seed') or '':>4} {x.last_step:5d} {to:5d} {v.mean:7.4f} "
              f"[{v.lo:.4f}, {v.hi:.4f}] {truth:7.4f} {v.mean - truth:+7.4f} {logged:7.4f} {base:7.4f} "
              f"{base - truth:+7.4f}")
    print()
    print(f"{'scenario':16s} {'ratio':>5s} {'n':>2s} {'median |err|':>12s} {'worst':>7s} {'coverage':>8s} "
          f"{'(truth)':>7s} {'power median':>12s} {'power worst':>11s}")
    groups = sorted({(r[0], r[1]) for r in rows}, key=lambda g: (g[0], g[1]))
    for g in groups + [("rerun", None), ("all", None)]:
        sel = ([r for r in rows if (r[0], r[1]) == g] if g[1] is not None
               else [r for r in rows if r[0] == g[0] or g[0] == "all"])
        e = np.abs([r[2] for r in sel])
        b = np.abs([r[5] for r in sel])
        print(f"{g[0]:16s} {'' if g[1] is None else f'{g[1]:.1f}':>5s} {len(sel):2d} {np.median(e):12.4f} "
              f"{e.max():7.4f} {np.mean([r[3] for r in sel]):8.0%} {np.mean([r[4] for r in sel]):7.0%} "
              f"{np.median(b):12.4f} {b.max():11.4f}")
    if offsets:
        print(f"largest mean offset of a run's own points from the joint fit with the reference runs: "
              f"{max(offsets):.4f} nats (lossdoctor drops the reference runs above "
              f"{TOLERANCE})")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default=os.path.join(os.path.expanduser("~"), ".cache", "lossdoctor-bench", "runs"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "shakespeare_char", "input.txt"))
    ap.add_argument("--groundtruth", default=os.path.join(ROOT, "..", "shared", "groundtruth"))
    ap.add_argument("--truth-batches", type=int, default=500,
                    help="re-evaluate each true run's final checkpoint on this many val batches "
                         "(0: use its last logged val)")
    ap.add_argument("--family", action="store_true",
                    help="instead: the leave-one-config-out backtests on the calibration grid "
                         "(benchmarks/extrapolation_family.py; no training)")
    args = ap.parse_args()
    if args.family:
        import extrapolation_family
        return extrapolation_family.main([f"--groundtruth={args.groundtruth}"])
    paths = make_runs(args.runs, args.data)
    if args.truth_batches:
        from lossdoctor.trainer import load_data
        data = load_data(args.data)
        for path in paths.values():
            TRUTH[path] = true_val(path, data, args.truth_batches)
        print(f"truths: each run's final checkpoint on {args.truth_batches} val batches", file=sys.stderr)
    all_cases = cases(paths, args.groundtruth)
    for reference in (True, False):
        print("\n" + ("with the reference runs (the default: the runs' config is theirs)" if reference else
                      "the run alone (--no-reference): the calibrated-shape law "
                      "alone through L0 = 0 (calibration.ALONE_UNREFERENCED)"))
        table(all_cases, reference)
    from lossdoctor.fit import calibration
    print("\nthe run alone with the ensemble of both laws, L0 fitted (what --no-reference gave before "
          "calibration.ALONE_UNREFERENCED)")
    table(all_cases, False, dataclasses.replace(calibration.DEFAULT, alone_unreferenced=False))
    print()
    seeds = [true_final(paths["rerun-2000"])] + [true_final(paths[f"seed-{s}"]) for s in SEEDS]
    print(f"seed spread of final val at 2000 iterations (seeds 1337, 1338, 1339): "
          f"{', '.join(f'{v:.4f}' for v in seeds)}; sd {np.std(seeds, ddof=1):.4f}")
    alone = {label: pred for label, pred, _ in bump(paths, False)}
    for label, pred, truth in bump(paths, True):
        print(f"resume bump {label}: predicted {pred:+.4f} (the run alone {alone[label]:+.4f}), true {truth:+.4f}")
    from family_laws import largest_backtest_ratio
    worst, where = largest_backtest_ratio(sorted(paths.values()))
    print(f"the calibrated law's backtest error over the free law's, alone through L0 = 0, on these {len(paths)} "
          f"runs: at most {worst:.2f} ({where}); lossdoctor leaves the calibrated law alone for the ensemble past "
          "streams.REFUTED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
