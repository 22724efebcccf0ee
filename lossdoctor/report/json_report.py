"""The JSON document of `lossdoctor analyze --format json` (schema: docs/json-schema.md)."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np

from ..analysis import Analysis
from ..diagnose import Diagnosis, Finding
from ..facts import Facts
from ..run import Measures, Run

SCHEMA_VERSION = 1
MAX_UNPARSED = 200  # lines listed in the JSON; the count is always complete


def to_json(analysis: Analysis) -> str:
    """One JSON document; NaN and inf become null so that any parser accepts it."""
    from .. import __version__
    doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": "lossdoctor",
        "version": __version__,
        "runs": [run_dict(r, f, d) for r, f, d in
                 zip(analysis.runs, analysis.facts, analysis.diagnoses or [None] * len(analysis.runs), strict=True)],
        "rule_errors": list(analysis.rule_errors),
    }
    if analysis.comparison is not None:
        from .compare import to_dict
        doc["comparison"] = to_dict(analysis.comparison, list(analysis.runs))
    if analysis.records is not None:
        doc["records"] = dataclasses.asdict(analysis.records)
    return json.dumps(clean(doc), indent=2, allow_nan=False)


def _config(run: Run) -> dict[str, Any]:
    """The resolved config, a default that depends on the machine (dtype) as null: which it
    was is not known from train.py's defaults (the facts infer it where the log allows)."""
    return {k: None if run.config.machine_default(k) else v for k, v in run.config.as_dict().items()}


def run_dict(run: Run, facts: Facts, diagnosis: Diagnosis | None = None) -> dict[str, Any]:
    ev, it = run.evals, run.iters
    out = {
        "source": run.source,
        "format": run.format,
        "config": _config(run),
        "config_origin": {k: v.origin for k, v in run.config.values.items()},
        "config_seen": run.config.seen,
        "config_defaults_trusted": run.config.defaults_trusted,
        "config_unknown": {k: v.raw for k, v in run.config.values.items() if not v.known},
        "model_args": run.model_args.as_dict(),
        "eval": [{"step": int(s), "train": float(t), "val": float(v), "segment": int(g)}
                 for s, t, v, g in zip(ev.step, ev.train, ev.val, ev.segment, strict=True)],
        "iters": {
            "count": len(it),
            "first_step": int(it.step[0]) if len(it) else None,
            "last_step": int(it.step[-1]) if len(it) else None,
            "nan_count": int((~np.isfinite(it.loss)).sum()),
        },
        "segments": [{
            "index": s.index, "first_line": s.first_line, "last_line": s.last_line,
            "init_from": s.init_from, "world_size": s.world_size, "n_evals": s.n_evals,
            "n_iters": s.n_iters, "first_step": s.first_step, "last_step": s.last_step,
        } for s in run.segments],
        "lineage": list(run.lineage()),
        "events": [{"kind": e.kind, "line": e.line, "step": e.step, "segment": e.segment, "text": e.text,
                    "frames": list(e.frames)}
                   for e in run.events],
        "line_counts": dict(run.line_counts),
        "measures": _measures(run.measures),
        "series": {name: {"unit": x.unit, "count": len(x.step),
                          "last": [int(x.step[-1]), float(x.value[-1])] if len(x.step) else None}
                   for name, x in run.series.items()},
        "summary": dict(run.summary),
        "unparsed": {"count": run.n_unparsed,
                     "lines": [{"line": u.line, "text": u.text} for u in run.unparsed[:MAX_UNPARSED]]},
        "notes": list(run.notes),
        "facts": {name: f.value for name, f in facts.items()},
        "fact_details": {name: {"unit": f.unit, "status": f.status, "source": f.source, "note": f.note}
                         for name, f in facts.items()},
    }
    if diagnosis is not None:
        out["findings"] = [finding_dict(f) for f in diagnosis.findings]
        out["not_applicable"] = [{"rule": n.rule, "reason": n.reason} for n in diagnosis.not_applicable]
        out["rules_passed"] = list(diagnosis.passed)
    return out


def finding_dict(f: Finding) -> dict[str, Any]:
    """A finding as docs/json-schema.md (FINDING) describes it."""
    return {"rule": f.rule, "title": f.title, "category": f.category, "severity": f.severity,
            "message": f.message, "flags": f.flags, "advice": f.advice,
            "expected_effect": dataclasses.asdict(f.expected_effect),
            "evidence": {k: dataclasses.asdict(v) for k, v in f.evidence.items()},
            "verify": dataclasses.asdict(f.verify),
            "explains": list(f.explains), "explained_by": list(f.explained_by),
            "withheld_by": list(f.withheld_by)}


def clean(x: Any) -> Any:
    """Plain JSON types only: tuples to lists, numpy scalars to numbers, NaN/inf to null."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _measures(m: Measures) -> dict[str, Any]:
    """Measures as an object; its constants as {nanoGPT key: the constant's name}."""
    out = dataclasses.asdict(m)
    out["constants"] = dict(m.constants) if m.constants is not None else None
    return out
