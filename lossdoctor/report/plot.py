"""`lossdoctor extrapolate --plot FILE.png`: the observed curve, the fit, each scenario's band.

matplotlib is optional (`pip install 'lossdoctor[plot]'`); without it the command says so.
"""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..fit.results import Extrapolation
from ..run import Run


def plot_extrapolation(run: Run, x: Extrapolation, path: str) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'lossdoctor[plot]'") from None
    ev, it = run.curves()
    fig, ax = plt.subplots(figsize=(8, 5))
    if len(it):
        ax.plot(it.step, it.loss, color="0.8", lw=0.6, label="train (per iteration)")
    if len(ev):
        ax.plot(ev.step, ev.train, "o-", ms=3, label="train (eval)")
        ax.plot(ev.step, ev.val, "o-", ms=3, label="val (eval)")
    colors = {"rerun": "tab:green", "resume": "tab:orange", "constant": "tab:purple", "custom": "tab:red",
              "observed": "tab:blue"}
    if x.fit_path is not None:
        steps, values = x.fit_path
        ax.plot(steps, values, "--", color="k", lw=1, label="fit (val)")
    for s in x.scenarios:
        if s.val is None:
            continue
        c = colors.get(s.name, "k")
        if s.path is not None:
            steps, values = s.path
            ax.plot(steps, values, "-", color=c, lw=1.2)
            # the band widens with the horizon as the model-error term does
            frac = (np.asarray(steps) - x.last_step) / max(x.target_step - x.last_step, 1)
            ax.fill_between(steps, np.asarray(values) - frac * (s.val.mean - s.val.lo),
                            np.asarray(values) + frac * (s.val.hi - s.val.mean), color=c, alpha=0.15)
        ax.errorbar([x.target_step], [s.val.mean], yerr=[[s.val.mean - s.val.lo], [s.val.hi - s.val.mean]],
                    fmt="s", color=c, capsize=4, label=f"{s.name}: val {s.val.mean:.3f} "
                    f"[{s.val.lo:.3f}, {s.val.hi:.3f}]")
    ax.axvline(x.last_step, color="0.5", lw=0.8, ls="--")
    lo = min([s.val.lo for s in x.scenarios if s.val] + [float(np.min(ev.val)) if len(ev) else 10.0])
    ax.set_ylim(bottom=lo - 0.1, top=(float(np.max(ev.val[1:])) + 0.2) if len(ev) > 1 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats)")
    ax.set_title(f"{run.source}: predicted at step {x.target_step:,}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
