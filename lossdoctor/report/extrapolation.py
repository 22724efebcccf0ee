"""Rendering of `lossdoctor extrapolate`: one JSON document, or a rich report."""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from ..fit.results import (
    Baseline,
    BaselineFit,
    Estimate,
    Extrapolation,
    FitInfo,
    LawErrors,
    ModelInfo,
    Overfitting,
    ReferenceInfo,
    Scenario,
    ShapeParams,
)
from ..run import Run
from .findings import Flags, hanging
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
        "alone_share": x.alone_share,
        "model": _model(x.model),
        "fit": _fit(x.fit),
        "baseline": _baseline(x.baseline),
        "overfitting": _overfitting(x.overfitting),
        "notes": list(x.notes),
        "scenarios": [{"name": s.name, "flags": s.flags, "val": _est(s.val), "train": _est(s.train),
                       "note": s.note, "weights": s.weights._asdict() if s.weights else None} for s in x.scenarios],
    }
    return json.dumps(clean(doc), indent=2, allow_nan=False)


def level_percent(level: float) -> str:
    """An interval's level in percent with the digits it has ('80', '99.5'): a 99.5%
    interval is not a 100% one."""
    return f"{100 * level:.10g}"


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _est(e: Estimate | None) -> dict[str, float] | None:
    if e is None:
        return None
    return {"mean": e.mean, "lo": e.lo, "hi": e.hi, "level": e.level}


def _shape(p: ShapeParams | None) -> dict[str, float] | None:
    return None if p is None else p._asdict()


def _errors(e: LawErrors | None) -> dict[str, float] | None:
    return None if e is None else e._asdict()


def _family(b: BaselineFit) -> dict[str, Any]:
    return {"parameters": b.parameters, "aic": b.aic, "prediction": b.prediction}


def _reference(r: ReferenceInfo | None) -> dict[str, Any] | None:
    return None if r is None else {"runs": r.runs, "offset": r.offset._asdict(), "end_offset": r.end._asdict()}


def _model(m: ModelInfo) -> dict[str, Any]:
    return {"name": m.name, "parameters": _shape(m.parameters), "val_parameters": _shape(m.val_parameters),
            "prior": m.prior._asdict(), "weights": m.weights._asdict(),
            "laws": {"backtest_rms_sigma": _errors(m.laws.backtest_rms_sigma),
                     "baselines": {b.name: _family(b) for b in m.laws.baselines}},
            "reference": _reference(m.reference),
            "repeated_data": None if m.repeated_data is None else m.repeated_data._asdict()}


def _fit(f: FitInfo) -> dict[str, Any]:
    return {"residual_scale": f.residual_scale, "eval_sigma": f.eval_sigma, "val_eval_sigma": f.val_eval_sigma,
            "iter_sigma": f.iter_sigma, "points": f.points._asdict(),
            "effective_samples": f.effective_samples._asdict(), "backtest_error": f.backtest_error}


def _baseline(b: Baseline) -> dict[str, Any]:
    return {"name": b.name, "val": b.val}


def _overfitting(o: Overfitting | None) -> dict[str, Any] | None:
    return None if o is None else o._asdict()


def render(run: Run, x: Extrapolation) -> RenderableType:
    head = Text.assemble((f"{run.source}", "bold"), f"  step {x.last_step:,} -> {x.target_step:,} "
                         f"({x.horizon_ratio:.2f}x the observed steps)")
    return Group(head, _Scenarios(x), *[Text(line) for line in detail_lines(x)])


class _Scenarios:
    """The scenarios' table, with the flags in a column where every flag fits on a line of
    its own (the words after a flag wrap under it); on a console too narrow for that, the
    table without them and each scenario's flags below it, broken between flags (a flag is
    copied: never cut in two)."""

    def __init__(self, x: Extrapolation) -> None:
        self.x = x
        # one flag a line; words that follow a flag stay with it and wrap
        self.flags = [re.split(r" (?=--)", s.flags or "(the law fitted to the run)") for s in x.scenarios]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        others = Measurement.get(console, options.update(max_width=10_000), self._table(None)).maximum
        natural = max((len(line) + self._cont(s, fs) for s, fs in zip(self.x.scenarios, self.flags, strict=True)
                       for line in fs), default=0)
        longest = max((len(word) + self._cont(s, fs) for s, fs in zip(self.x.scenarios, self.flags, strict=True)
                       for line in fs for word in line.split()), default=0)  # a word and its " \\"
        room = min(options.max_width - others - 3, natural)  # 3: the column's border and padding
        if room >= longest:
            yield self._table(room)
            return
        yield self._table(None)
        yield Text("nanoGPT flags:")
        for s, fs in zip(self.x.scenarios, self.flags, strict=True):
            yield hanging(f"{s.name}: ", Flags(" ".join(fs)) if s.flags else Text(" ".join(fs)))

    @staticmethod
    def _cont(s: Scenario, fs: list[str]) -> int:
        """Columns a scenario's flag lines keep for the ` \\` that continues them: 2 where it
        has several flags, 0 for one flag or none (the law fitted to the run)."""
        return 2 if s.flags and len(fs) > 1 else 0

    def _table(self, flags_width: int | None) -> Table:
        """The table, with a flags column this wide (None: without it), its lines wrapped
        between words to fit it."""
        x = self.x
        first = (x.scenarios[0].val or x.scenarios[0].train) if x.scenarios else None
        pct = level_percent(first.level) if first is not None else "80"
        table = Table(title=f"predicted loss at step {x.target_step:,} ({pct}% interval); the flags go after the "
                            "run's own train.py command", title_justify="left")
        for col in ("scenario", "val", "train"):  # beside the flags at their natural width (measured to fit)
            table.add_column(col, no_wrap=flags_width is not None, overflow="fold")
        if flags_width is not None:
            table.add_column("nanoGPT flags", width=flags_width, no_wrap=True)
        for s, fs in zip(x.scenarios, self.flags, strict=True):
            row = [s.name, _cell(s.val) if s.val else no_val(x, s),
                   _cell(s.train) if s.train else "-"]
            if flags_width is not None:
                cont = self._cont(s, fs)
                lines = "\n".join(textwrap.fill(line, flags_width - cont, break_long_words=False,
                                                break_on_hyphens=False) for line in fs).split("\n")
                if cont:  # a shell reads the lines, pasted together, as one command
                    lines = [line + " \\" for line in lines[:-1]] + lines[-1:]
                row.append("\n".join(lines))
            table.add_row(*row)
        return table


def no_val(x: Extrapolation, s: Scenario) -> str:
    """The val cell of a scenario with no val: why in two words (its note, or the notes
    below where val was not fitted, say more)."""
    from ..fit.notes import BELOW_ZERO
    if s.note is not None and s.note.startswith(BELOW_ZERO):
        return "below zero"  # the law's value is no loss: said before a turned-up val
    return "past its minimum" if x.overfitting is not None and s.note else "not extrapolated"


def detail_lines(x: Extrapolation) -> list[str]:
    """The model, the fit, the backtests, the baselines and the notes, one line each."""
    fit, m = x.fit, x.model
    p = m.val_parameters or m.parameters
    prior = (f" (its prior alpha {m.prior.alpha:.3f}, lam {m.prior.lam:.4f}, r {m.prior.r:.3g})"
             if m.val_parameters else "")  # the val prior's
    shape = f"alpha {p.alpha:.3f}, lam {p.lam:.4f}, r {p.r:.3g}{prior}"
    which = "val" if m.val_parameters else "train"
    # a scenario whose LR falls past the run's own cuts the free law's weight (its note says so)
    cut = [s.name for s in x.scenarios if s.weights is not None and s.weights.calibrated > m.weights.calibrated]
    every = bool(cut) and len(cut) == sum(s.weights is not None for s in x.scenarios)
    free = max((s.weights.free for s in x.scenarios if s.weights is not None), default=0.0)
    lines = [
        f"model: {m.name}; {which} shape {shape}" if m.weights.calibrated > 0 else
        f"model: {m.name} in the ensemble, where the calibrated-shape law got no weight (its backtest below); "
        f"but every scenario here lets the LR fall past the run's own, which cuts the free law to at most "
        f"{free:.2f} (noted below), so the calibrated {which} shape weighs {1 - free:.2f} or more: {shape}"
        if every else
        f"model: {m.name}: the calibrated-shape law got no weight (its backtest below), so its {which} shape, "
        f"{shape}, is not what predicts" + (f", but in {_names(cut)}, whose LR falls past the run's own, "
                                            "as noted below" if cut else ""),
        f"fit: residual scale {fit.residual_scale:.2f} sigma over {fit.points.train} train points "
        f"and {fit.points.val} val evals; eval noise {fit.eval_sigma:.4f} nats"
        + (f" (a val eval: {fit.val_eval_sigma:.4f}, from the evals' scatter)"
           if fit.val_eval_sigma > fit.eval_sigma else ""),
    ]
    bt = m.laws.backtest_rms_sigma
    if bt:
        weights = m.weights._asdict()
        lines.append("laws (backtest on the train stream, fit 70%, rms error in sigma; ensemble weight): "
                     + ", ".join(f"{k} {e:.2f}, weight {weights[k]:.2f}" for k, e in bt._asdict().items()))
    if fit.backtest_error is not None:
        lines.append(f"backtest on this run (fit 70%, predict its last eval): error {fit.backtest_error:.4f} nats")
    if m.laws.baselines and x.baseline.val is not None:
        lines.append("schedule-blind baselines (same for every scenario): "
                     + ", ".join(f"{b.name} {b.prediction:.4f} (AIC {b.aic:.1f})" for b in m.laws.baselines))
    for s in x.scenarios:
        if s.note:
            lines.append(f"{s.name}: {s.note}")
    return lines + list(x.notes)


def _cell(e: Estimate) -> str:
    """The estimate over its interval, so that the flags keep the width they need."""
    return f"{e.mean:.4f}\n[{e.lo:.4f}, {e.hi:.4f}]"
