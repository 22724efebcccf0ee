"""Rendering of `lossdoctor extrapolate`: one JSON document, or a rich report."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..fit.extrapolate import Estimate, Extrapolation
from ..run import Run
from .json_report import SCHEMA_VERSION, clean


def to_json(run: Run, x: Extrapolation) -> str:
    from .. import __version__
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": "lossdoctor",
        "version": __version__,
        "source": run.source,
        "target_step": x.target_step,
        "last_step": x.last_step,
        "horizon_ratio": x.horizon_ratio,
        "model": x.model,
        "fit": x.fit,
        "baseline": x.baseline,
        "overfitting": x.overfitting,
        "notes": list(x.notes),
        "scenarios": [{"name": s.name, "flags": s.flags, "val": _est(s.val), "train": _est(s.train),
                       "note": s.note} for s in x.scenarios],
    }
    return json.dumps(clean(doc), indent=2, allow_nan=False)


def _est(e: Estimate | None) -> dict | None:
    if e is None:
        return None
    d = asdict(e)
    return {"mean": d["mean"], "lo": d["lo"], "hi": d["hi"], "level": d["level"]}


def render(run: Run, x: Extrapolation) -> RenderableType:
    pct = int(round(100 * (x.scenarios[0].val or x.scenarios[0].train).level)) if x.scenarios else 80
    head = Text.assemble((f"{run.source}", "bold"), f"  step {x.last_step:,} -> {x.target_step:,} "
                         f"({x.horizon_ratio:.2f}x the observed steps)")
    table = Table(title=f"predicted loss at step {x.target_step:,} ({pct}% interval)", title_justify="left")
    for col in ("scenario", "val", "train", "nanoGPT flags"):
        table.add_column(col)
    for s in x.scenarios:
        table.add_row(s.name, _cell(s.val) if s.val else ("past its minimum" if s.note else "-"),
                      _cell(s.train) if s.train else "-", s.flags or "(observed)")
    fit, m = x.fit, x.model
    p = m["val_parameters"] or m["parameters"]
    lines = [
        f"model: {m['name']}; shape alpha {p['alpha']:.3f}, lam {p['lam']:.4f}, r {p['r']:.3g} "
        f"(prior alpha {m['prior']['alpha']:.3f}, lam {m['prior']['lam']:.4f}, r {m['prior']['r']:.3g})",
        f"fit: residual scale {fit['residual_scale']:.2f} sigma over {fit['points']['train']} train points "
        f"and {fit['points']['val']} val evals; eval noise {fit['eval_sigma']:.4f} nats"
        + (f" (a val eval: {fit['val_eval_sigma']:.4f}, from the evals' scatter)"
           if fit.get("val_eval_sigma", fit["eval_sigma"]) > fit["eval_sigma"] else ""),
    ]
    bt = m["laws"].get("backtest_rms_sigma")
    if bt:
        lines.append("laws (backtest on the train stream, fit 70%, rms error in sigma; ensemble weight): "
                     + ", ".join(f"{k} {bt[k]:.2f}, weight {m['weights'][k]:.2f}" for k in bt))
    if fit.get("backtest_error") is not None:
        lines.append(f"backtest on this run (fit 70%, predict its last eval): error {fit['backtest_error']:.4f} nats")
    base = m["laws"].get("baselines") or {}
    if base and x.baseline.get("val") is not None:
        lines.append("schedule-blind baselines (same for every scenario): "
                     + ", ".join(f"{k} {v['prediction']:.4f} (AIC {v['aic']:.1f})" for k, v in base.items()))
    for s in x.scenarios:
        if s.note:
            lines.append(f"{s.name}: {s.note}")
    lines += list(x.notes)
    return Group(head, table, *[Text(line) for line in lines])


def _cell(e: Estimate) -> str:
    return f"{e.mean:.4f} [{e.lo:.4f}, {e.hi:.4f}]"
