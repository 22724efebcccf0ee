"""`--plot FILE.png`: `extrapolate` draws the observed curve, the fit and each scenario's
band; `analyze` draws each run's train and val against steps and against tokens, with its
best val marked, and for a single run the fit and its extrapolation band.

Every series has its own colour: observed val is red, observed train blue (per-iteration
train grey), and no scenario uses either. matplotlib is optional (`pip install
'lossdoctor[plot]'`); without it the command says so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UsageError
from ..facts import Facts
from ..fit.results import Extrapolation
from ..run import Run
from .names import short_name, title_names

if TYPE_CHECKING:
    from ..fit.extrapolate import Extrapolator

VAL, TRAIN, ITER, FIT = "tab:red", "tab:blue", "0.8", "k"
SCENARIO = {"rerun": "tab:green", "resume": "tab:orange", "constant": "tab:purple", "custom": "tab:brown",
            "observed": "tab:cyan"}
# runs side by side: one colour per run (val solid, train dashed), none of them a scenario's
RUN_COLORS = ("tab:red", "tab:blue", "tab:olive", "tab:pink", "tab:gray", "tab:cyan")


def _pyplot() -> Any:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'lossdoctor[plot]'") from None
    return plt


IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")  # what matplotlib's Agg backend writes


def check_path(path: str) -> None:
    """Refuse a --plot path that cannot become an image, before any work is done."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"--plot {path}: a folder; give a file name such as {os.path.join(path, 'runs.png')}")
    if not path.lower().endswith(IMAGE_SUFFIXES):
        raise UsageError(f"--plot {path}: give a file name ending in {', '.join(IMAGE_SUFFIXES)}")
    if not os.path.isdir(folder):
        raise UsageError(f"--plot {path}: no such folder {folder}")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--plot {path}: the folder {folder} is not writable")
    if os.path.lexists(path):  # the user's file, link or pipe: left as it is
        return
    try:  # tried now, not after the analysis: a folder that takes no new file (/proc) passes os.access
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except OSError as e:
        raise UsageError(f"--plot {path}: cannot write it ({e.strerror or e})") from None
    os.remove(path)  # the empty file this made, and nothing else


def _save(fig: Any, path: str) -> None:
    check_path(path)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except (OSError, ValueError) as e:
        raise UsageError(f"--plot {path}: cannot write it: {e}") from None


def plot_extrapolation(run: Run, x: Extrapolation, path: str) -> None:
    plt = _pyplot()
    ev, it = run.curves()
    fig, ax = plt.subplots(figsize=(8, 5))
    if len(it):
        ax.plot(it.step, it.loss, color=ITER, lw=0.6, label="train (per iteration)")
    if len(ev):
        ax.plot(ev.step, ev.train, "o-", ms=3, color=TRAIN, label="train (eval)")
        ax.plot(ev.step, ev.val, "o-", ms=3, color=VAL, label="val (eval)")
    if x.fit_path is not None:
        steps, values = x.fit_path
        ax.plot(steps, values, "--", color=FIT, lw=1, label="fit (val)")
    for s in x.scenarios:
        est, what = (s.val, "val") if s.val is not None else (s.train, "train")  # a log without val: train
        if est is None:
            continue
        c = SCENARIO.get(s.name, "k")
        if s.path is not None and s.val is not None:
            steps, values = s.path
            ax.plot(steps, values, "-", color=c, lw=1.2)
            # the band widens with the horizon as the model-error term does
            frac = (np.asarray(steps) - x.last_step) / max(x.target_step - x.last_step, 1)
            ax.fill_between(steps, np.asarray(values) - frac * (s.val.mean - s.val.lo),
                            np.asarray(values) + frac * (s.val.hi - s.val.mean), color=c, alpha=0.15)
        ax.errorbar([x.target_step], [est.mean], yerr=[[est.mean - est.lo], [est.hi - est.mean]],
                    fmt="s", color=c, capsize=4, label=f"{s.name}: {what} {est.mean:.3f} "
                    f"[{est.lo:.3f}, {est.hi:.3f}]")
    ax.axvline(x.last_step, color="0.5", lw=0.8, ls="--")
    limits = _y_limits(x, ev.val[1:], ev.train[1:], it.loss[len(it) // 10:])
    if limits is not None:
        ax.set_ylim(*limits)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats)")
    ax.set_title(f"{short_name(run.source)}: predicted at step {x.target_step:,}", fontsize=10)
    ax.legend(fontsize=8)
    try:
        _save(fig, path)
    finally:
        plt.close(fig)


def _y_limits(x: Extrapolation, *curves: np.ndarray) -> tuple[float, float] | None:
    """The loss range to show: every prediction's interval and the curves past their start
    (step 0 and the first tenth of the iterations sit far above the rest)."""
    ests = [e for e in (s.val or s.train for s in x.scenarios) if e is not None]
    seen = np.concatenate([c[np.isfinite(c)] for c in curves]) if curves else np.array([])
    lows = [e.lo for e in ests] + ([float(seen.min())] if seen.size else [])
    highs = [e.hi for e in ests] + ([float(np.percentile(seen, 99))] if seen.size else [])
    return (min(lows) - 0.1, max(highs) + 0.2) if lows and highs else None


def plot_runs(runs: Sequence[Run], facts: Sequence[Facts], path: str,
              fit: Extrapolator | None = None) -> None:
    """Train and val of each run against steps and against tokens, best val marked; with
    `fit` (one run), its fit and the rerun scenario's band to twice the run's length."""
    plt = _pyplot()
    fig, (by_step, by_tokens) = plt.subplots(1, 2, figsize=(12, 5))
    names = title_names([r.source for r in runs])  # the shortest that tell the runs apart: a legend fits
    unknown = [n for f, n in zip(facts, names, strict=True) if not f.value("tokens_per_iter")]
    for i, (run, f, name) in enumerate(zip(runs, facts, names, strict=True)):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        per = float(f.value("tokens_per_iter") or 0)
        for ax, scale in ((by_step, 1.0), (by_tokens, per)):
            if ax is by_tokens and not per:  # this run only: the others are drawn against their tokens
                continue
            _draw_run(ax, run, scale, color, name, single=len(runs) == 1)
    if fit is not None and len(runs) == 1:
        _draw_fit(by_step, runs[0], fit)
    by_step.set_xlabel("step")
    by_tokens.set_xlabel("tokens seen")
    if unknown:
        import textwrap
        every = len(unknown) == len(runs)
        said = ("tokens per iteration unknown: no run shows its batch and context" if every else
                f"tokens per iteration unknown, not drawn: {', '.join(unknown)}")
        by_tokens.text(0.5, 0.5 if every else 0.02, textwrap.fill(said, 60), ha="center",
                       va="center" if every else "bottom", transform=by_tokens.transAxes, fontsize=8)
    if len(unknown) == len(runs):
        by_tokens.set_xticks([])
        by_tokens.set_yticks([])
    bpb = [n for r, n in zip(runs, names, strict=True) if r.measures.val_unit == "bpb"]
    label = ("loss (nats)" if not bpb else "train (nats), val (bits per byte)" if len(bpb) == len(runs)
             else f"loss (nats; val in bits per byte for {', '.join(bpb)})")
    for ax in (by_step, by_tokens):
        ax.set_ylabel(label, fontsize=8 if len(label) > 40 else None)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(runs[0].source if len(runs) == 1 else f"{len(runs)} runs", fontsize=10)
    try:
        _save(fig, path)
    finally:
        plt.close(fig)


def _draw_run(ax: Any, run: Run, scale: float, color: str, name: str, single: bool) -> None:
    ev, it = run.curves()
    if single and len(it):
        ax.plot(it.step * scale, it.loss, color=ITER, lw=0.5, label="train (per iteration)")
    elif len(it) and not len(ev):  # among several runs, one with train losses only: its own line
        ax.plot(it.step * scale, it.loss, color=color, lw=0.7, label=f"{name} train (per iteration)")
    if not len(ev):
        return
    if np.isfinite(ev.train).any():  # a format without the evals' train loss gets no empty legend entry
        ax.plot(ev.step * scale, ev.train, "--", color=TRAIN if single else color, lw=1,
                label="train (eval)" if single else f"{name} train")
    ax.plot(ev.step * scale, ev.val, "o-", ms=3, color=VAL if single else color,
            label="val (eval)" if single else f"{name} val")
    ok = np.isfinite(ev.val)
    if ok.any():
        i = int(np.argmin(np.where(ok, ev.val, np.inf)))
        ax.plot([ev.step[i] * scale], [ev.val[i]], "*", ms=12, color=VAL if single else color,
                markeredgecolor="k", label=f"best val {ev.val[i]:.3f} (step {int(ev.step[i]):,})")


def _draw_fit(ax: Any, run: Run, fit: Extrapolator) -> None:
    from ..fit.extrapolate import CannotExtrapolate
    ev, _ = run.curves()
    if not len(ev):
        return
    last = int(ev.step[-1])
    try:
        x = fit.extrapolate(max(2 * last, last + 1), scenarios=("rerun",))
    except CannotExtrapolate:
        return
    if x.fit_path is not None:
        ax.plot(*x.fit_path, "--", color=FIT, lw=1, label="fit (val)")
    s = x.scenarios[0]
    if s.val is not None and s.path is not None:
        steps, values = np.asarray(s.path[0]), np.asarray(s.path[1])
        frac = (steps - x.last_step) / max(x.target_step - x.last_step, 1)
        c = SCENARIO["rerun"]
        ax.plot(steps, values, color=c, lw=1.2, label=f"rerun to {x.target_step:,}: {s.val.mean:.3f} "
                f"[{s.val.lo:.3f}, {s.val.hi:.3f}]")
        ax.fill_between(steps, values - frac * (s.val.mean - s.val.lo), values + frac * (s.val.hi - s.val.mean),
                        color=c, alpha=0.15)
