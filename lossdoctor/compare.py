"""Why one run's final val is worse than another's: an accounting that adds up.

The gap G = L_worse - L_better (final logged val, nats) is split along one path from the
worse run to the better one; each step is a named cause with its method and interval:

  eval noise      each final val is one noisy eval: observed minus the smoothed curve
                  (the law fitted to the run, read at its last step), for both runs
  overfitting     a run whose val turned up ends above its best: smoothed final - best
  training length the worse run's own curve extrapolated to the better run's tokens seen
                  (lossdoctor extrapolate, `rerun`): what more tokens alone would give
  LR schedule     the same extrapolation with the better run's schedule shape (warmup,
                  decay, min_lr ratio); the law normalizes by the peak LR, so a peak LR
                  difference is not estimated here and is listed with the config rest
  config          what remains at equal tokens and schedule, put on the config keys that
                  still differ (model size, context length, dropout, ...): two runs cannot
                  separate them; the L(N, D) form of Hoffmann et al. 2022 is quoted for the
                  model-size direction, not fitted
  device/precision numerics: nanoGPT computes the same math on any device; no share
                  (0, within eval noise), said so when device or dtype differ
  unexplained     what is left when no config key differs (seeds, unlogged changes)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .facts import Facts
from .run import Run

# keys that change what the model learns (not where it runs or how it is logged)
LEARNING_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "bias", "dropout", "batch_size",
                 "gradient_accumulation_steps", "learning_rate", "min_lr", "max_iters", "lr_decay_iters",
                 "warmup_iters", "decay_lr", "weight_decay", "beta1", "beta2", "grad_clip", "dataset",
                 "init_from")
RUNTIME_KEYS = ("device", "dtype", "compile")
MEASURE_KEYS = ("eval_iters", "eval_interval", "log_interval", "always_save_checkpoint")
SCHEDULE_SHAPE = ("warmup_iters", "lr_decay_iters", "min_lr", "decay_lr", "max_iters")
DERIVED = ("params", "tokens_per_iter", "steps_done", "tokens_seen", "train_flops", "epochs", "lr_final",
           "eval_iters", "eval_se", "dropout", "best_val", "best_val_step", "final_val", "final_train",
           "mfu_printed", "time_per_iter_ms")
Z80 = 1.2816  # two-sided 80%


@dataclass(frozen=True)
class Cause:
    cause: str
    delta_val: float  # nats of the gap (worse - better) this cause accounts for
    interval: tuple[float, float]  # 80%
    method: str


@dataclass(frozen=True)
class Comparison:
    reference: int  # index of the better run
    other: int  # index of the worse run
    metric: str  # "val" or "train" (when a run has no val)
    gap: float | None  # final metric of worse - better (nats)
    comparable: bool
    diff: tuple[dict[str, Any], ...]  # {key, values, origins, kind}
    derived: dict[str, tuple[Any, Any]]  # fact -> (worse run's, better run's)
    overlap: dict[str, list[dict[str, float]]]  # "steps" | "tokens" | "flops" -> points
    attribution: tuple[Cause, ...]
    unexplained: Cause | None
    notes: tuple[str, ...] = ()
    to_reach: dict[str, Any] | None = None  # what the worse run needs to reach the better's best
    table: tuple[dict[str, Any], ...] = field(default=())  # N > 2: one row per run


def compare(runs: list[Run], facts: list[Facts]) -> Comparison:
    """Compare runs; with more than two, the best (lowest final val) is the reference and
    the worst is explained against it, each run getting a row in `table`."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _compare(runs, facts)


def _compare(runs: list[Run], facts: list[Facts]) -> Comparison:
    metric = "val" if all(_final(f, "val") is not None for f in facts) else "train"
    finals = [_final(f, metric) if _final(f, metric) is not None else _iter_final(r) if metric == "train" else None
              for r, f in zip(runs, facts)]
    known = [i for i, v in enumerate(finals) if v is not None]
    if len(known) < 2:
        return _no_gap(runs, facts, metric, "fewer than two runs have a final loss to compare")
    ref = min(known, key=lambda i: finals[i])
    worse = max(known, key=lambda i: finals[i])
    notes: list[str] = []
    if metric == "train":
        notes.append("a run has no val points: the runs are compared on train loss (the evals' train "
                     "loss, else the mean of the last logged iteration losses)")
    table = tuple(_row(i, runs, facts, finals, ref, metric) for i in range(len(runs))) if len(runs) > 2 else ()
    a, b = worse, ref
    fa, fb = facts[a], facts[b]
    comparable, why = _comparable(runs[a], runs[b], fa, fb)
    diff = _diff(runs[a], runs[b])
    derived = {k: (fa[k].value if k in fa else None, fb[k].value if k in fb else None) for k in DERIVED}
    overlap = _overlap(runs[a], runs[b], fa, fb, metric)
    if not any(overlap.values()):
        notes.append("the runs share no range of steps, tokens or FLOPs: they are compared on their "
                     "configs and on extrapolated values")
    else:
        empty = [axis for axis, pts in overlap.items() if not pts]
        if empty:
            notes.append(f"at equal {' and '.join(empty)} the curves share no range past the first eval "
                         "(or the quantity is unknown): those comparisons are not shown")
    _mfu_note(fa, fb, notes)
    gap = finals[a] - finals[b]
    if not comparable:
        notes.append(f"not directly comparable: {why}; loss values are not comparable across "
                     "tokenizers or datasets, so the gap is not attributed")
        return Comparison(b, a, metric, gap, False, diff, derived, overlap, (), None, tuple(notes), None, table)
    if a == b or abs(gap) < 1e-12 and not diff:
        return Comparison(b, a, metric, 0.0, True, diff, derived, overlap, (), None, tuple(notes), None, table)
    notes += _state_notes(fa, "worse", schedule=True) + _state_notes(fb, "better", schedule=False)
    causes, unexplained, more, to_reach = _attribute(runs[a], runs[b], fa, fb, diff, metric, gap)
    return Comparison(b, a, metric, gap, True, diff, derived, overlap, tuple(causes), unexplained,
                      tuple(notes + more), to_reach, table)


# -- pieces ------------------------------------------------------------------------------

def _final(f: Facts, metric: str) -> float | None:
    v = f.value("final_val" if metric == "val" else "final_train")
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def _iter_final(run: Run) -> float | None:
    """Without evals: the mean of the last 5% of the logged iteration losses (at least 10)."""
    it = run.curves()[1]
    y = it.loss[np.isfinite(it.loss)]
    if len(y) < 10:
        return None
    return float(y[-max(10, len(y) // 20):].mean())


def _no_gap(runs: list[Run], facts: list[Facts], metric: str, why: str) -> Comparison:
    b, a = 0, min(1, len(runs) - 1)
    diff = _diff(runs[a], runs[b]) if len(runs) > 1 else ()
    return Comparison(b, a, metric, None, True, diff, {}, {}, (), None, (why,))


def _comparable(ra: Run, rb: Run, fa: Facts, fb: Facts) -> tuple[bool, str]:
    va, vb = fa.value("vocab_size"), fb.value("vocab_size")
    if va is not None and vb is not None and va != vb:
        return False, f"vocab_size {va} vs {vb}"
    da, db = ra.config.trusted("dataset"), rb.config.trusted("dataset")
    if da is not None and db is not None and da != db:
        return False, f"dataset {da!r} vs {db!r}"
    return True, ""


def _diff(ra: Run, rb: Run) -> tuple[dict[str, Any], ...]:
    out = []
    for key in LEARNING_KEYS + RUNTIME_KEYS + MEASURE_KEYS:
        ca, cb = ra.config.values.get(key), rb.config.values.get(key)
        va = ca.value if ca is not None and ca.known else None
        vb = cb.value if cb is not None and cb.known else None
        if va == vb:
            continue
        kind = "learning" if key in LEARNING_KEYS else "runtime" if key in RUNTIME_KEYS else "measurement"
        out.append({"key": key, "values": (va, vb), "kind": kind,
                    "origins": (ca.origin if ca is not None else "unknown", cb.origin if cb is not None else "unknown")})
    return tuple(out)


def _overlap(ra: Run, rb: Run, fa: Facts, fb: Facts, metric: str) -> dict[str, list[dict[str, float]]]:
    """Both curves at up to 5 evenly spaced shared points of steps, tokens seen and FLOPs."""
    ea, eb = ra.curves()[0], rb.curves()[0]
    out: dict[str, list[dict[str, float]]] = {"steps": [], "tokens": [], "flops": []}
    if len(ea) < 2 or len(eb) < 2:
        return out
    ya, yb = getattr(ea, metric), getattr(eb, metric)
    scale = {"steps": (1.0, 1.0),
             "tokens": (fa.value("tokens_per_iter"), fb.value("tokens_per_iter")),
             "flops": (_flops_per_step(fa), _flops_per_step(fb))}
    for axis, (sa, sb) in scale.items():
        if not sa or not sb:
            continue
        xa, xb = ea.step * float(sa), eb.step * float(sb)
        # from the first eval after step 0 of either run: interpolating from step 0 says nothing
        lo = max(xa[xa > 0][0] if (xa > 0).any() else 0.0, xb[xb > 0][0] if (xb > 0).any() else 0.0)
        hi = min(xa[-1], xb[-1])
        if hi <= lo or lo <= 0:
            continue
        for x in np.unique(np.linspace(lo, hi, 5)):
            va, vb = float(np.interp(x, xa, ya)), float(np.interp(x, xb, yb))
            out[axis].append({"x": float(x), "a": va, "b": vb, "diff": va - vb})
    return out


def _flops_per_step(f: Facts) -> float | None:
    fpt, tpi = f.value("flops_per_token"), f.value("tokens_per_iter")
    return float(fpt) * float(tpi) if fpt and tpi else None


def _state_notes(f: Facts, which: str, schedule: bool) -> list[str]:
    """Where each run stood when it stopped: still falling, turned up, schedule done."""
    out = []
    z, slope = f.value("val_slope_z"), f.value("val_slope")
    if z is not None and z <= -2:
        out.append(f"the {which} run's val was still falling when it stopped ({slope:.3f} nats per 1,000 "
                   f"steps over its last evals, {z:.1f} standard errors)")
    if _overfit(f):
        out.append(f"the {which} run's val turned up after step {f.value('best_val_step'):,} (best "
                   f"{f.value('best_val'):.4f}, final {f.value('final_val'):.4f}) while train kept falling")
    done, lr = f.value("lr_schedule_completed"), f.value("lr_final")
    if schedule and done is not None and done >= 0.999 and lr is not None:
        out.append(f"the {which} run's LR schedule had run to its end (LR {lr:g} at the last step): "
                   "going on means a new schedule (a rerun, or --init_from=resume with a larger "
                   "lr_decay_iters, which re-warms the LR), not just more steps")
    return out


def _mfu_note(fa: Facts, fb: Facts, notes: list[str]) -> None:
    ma, mb = fa.value("mfu_printed"), fb.value("mfu_printed")
    if ma is not None and mb is not None:
        notes.append(f"the printed MFU ({ma:.2f}% vs {mb:.2f}%) is nanoGPT's FLOP rate over an A100's "
                     "312 TFLOPS on any device: it compares speed, and says nothing about the loss")


def _row(i: int, runs: list[Run], facts: list[Facts], finals: list[float | None], ref: int,
         metric: str) -> dict[str, Any]:
    f = facts[i]
    return {"run": runs[i].source, "final": finals[i], "gap": None if finals[i] is None else finals[i] - finals[ref],
            "params": f.value("params"), "tokens_seen": f.value("tokens_seen"), "best_val": f.value("best_val"),
            "reference": i == ref, "metric": metric}


def _attribute(ra: Run, rb: Run, fa: Facts, fb: Facts, diff: tuple[dict[str, Any], ...], metric: str,
               gap: float) -> tuple[list[Cause], Cause | None, list[str], dict[str, Any] | None]:
    from .fit.extrapolate import CannotExtrapolate, extrapolate
    notes: list[str] = []
    causes: list[Cause] = []
    la, lb = _final(fa, metric), _final(fb, metric)
    if la is None or lb is None:  # compared on iteration losses: nothing to smooth or extrapolate
        la = la if la is not None else _iter_final(ra)
        lb = lb if lb is not None else _iter_final(rb)
        rest = float(la) - float(lb)
        diff_keys = [d for d in diff if d["kind"] == "learning"]
        what = ", ".join(d["key"] for d in diff_keys) or "no learning config key"
        return [], Cause("unexplained", rest, (rest - 0.02, rest + 0.02),
                         f"no evals to model the curves: the whole gap is left unattributed ({what} differ)"), \
            ["without evals the gap is not split into causes"], None
    se_a, se_b = _se(fa), _se(fb)

    sa, sb = _smoothed(ra, metric, la), _smoothed(rb, metric, lb)
    noise = (la - sa) - (lb - sb)
    w = Z80 * math.hypot(se_a, se_b)
    causes.append(Cause("eval noise", noise, (noise - w, noise + w),
                        f"each final {metric} minus a straight line through its run's last evals, read at "
                        f"the last step (eval_iters {fa.value('eval_iters')} vs {fb.value('eval_iters')}: one "
                        f"eval's standard error {se_a:.4f} vs {se_b:.4f} nats)"))
    best_a, best_b = _best(fa, metric), _best(fb, metric)
    ovf_a = max(sa - best_a, 0.0) if _overfit(fa) else 0.0
    ovf_b = max(sb - best_b, 0.0) if _overfit(fb) else 0.0
    if ovf_a or ovf_b:
        v = ovf_a - ovf_b
        w = Z80 * math.hypot(se_a, se_b) * math.sqrt(2)
        who = "the better run's" if ovf_b and not ovf_a else "the worse run's" if ovf_a and not ovf_b else "both runs'"
        causes.append(Cause("overfitting", v, (v - w, v + w),
                            f"measured: {who} smoothed final val minus its best val (the better run's best "
                            f"{best_b:.4f} at step {fb.value('best_val_step')}, final {lb:.4f})"))
    start_a = best_a if ovf_a else sa  # where the worse run would be without overfitting
    target_b = best_b if ovf_b else sb

    # training length: the worse run's curve at the better run's tokens seen
    tok_a, tok_b = fa.value("tokens_seen"), fb.value("tokens_seen")
    tpi_a, steps_a = fa.value("tokens_per_iter"), fa.value("steps_done")
    steps_b = fb.value("steps_done")
    to_reach = None
    at_b = start_a
    tpi_b = fb.value("tokens_per_iter")
    if metric == "val" and not ovf_a and tpi_a and steps_a:
        if tok_b and tpi_b == tpi_a:
            to = int(round(tok_b / tpi_a))
            how = f"tokens seen ({tok_a:,} -> {tok_b:,}: {to:,} steps of {tpi_a:,} tokens)"
        elif tok_b and steps_b:
            to = int(steps_b)
            how = (f"number of steps ({steps_a:,} -> {to:,}); its {tpi_b / tpi_a:.1f}x more tokens per step "
                   f"({tpi_b:,} vs {tpi_a:,}: batch and context) count with the config below")
        else:
            to = int(steps_b or steps_a)
            how = f"number of steps ({steps_a:,} -> {to:,}; the better run's tokens are unknown)"
        try:
            x = extrapolate(ra, max(to, 1), scenarios=("rerun",))
            s = x.scenarios[0]
            here = extrapolate(ra, int(fa.value("final_step") or steps_a)).scenarios[0].val  # the law at its end
            if s.val is not None and here is not None:
                ratio = max(to, 1) / max(steps_a, 1)
                v = here.mean - s.val.mean  # the law's own difference: its level at the end cancels
                at_b = start_a - v
                causes.append(Cause("training length", v, (here.mean - s.val.hi, here.mean - s.val.lo),
                                    f"the worse run's own curve extrapolated to the better run's {how}, "
                                    f"{ratio:.1f}x its length (lossdoctor extrapolate, rerun)"))
                if ratio > 5:
                    notes.append(f"training length is extrapolated {ratio:.0f}x beyond the worse run: "
                                 "its interval is wide and its value is a model's, not a measurement")
                sched = _schedule_shape(ra, rb, to)
                if sched is not None:
                    xs = extrapolate(ra, max(to, 1), scenarios=("custom",), schedule=sched)
                    c = xs.scenarios[0].val
                    if c is not None:
                        v2 = at_b - c.mean
                        half = abs(v2) / 2 + se_a  # two predictions of one fit: half the share, plus noise
                        causes.append(Cause("LR schedule", v2, (v2 - half, v2 + half),
                                            "the same extrapolation with the better run's schedule shape "
                                            f"(warmup, decay, min_lr ratio): {_sched_text(sched)}"))
                        at_b = c.mean
                elif _schedule_shape(ra, rb, to, force=True) is not None:
                    causes.append(Cause("LR schedule", 0.0, (-se_a, se_a),
                                        "the same schedule shape in both runs (warmup steps, decay to "
                                        "max_iters, min_lr = learning_rate/10 or as set): no share"))
            to_reach = _to_reach(ra, fa, target_b, extrapolate, CannotExtrapolate)
            if not to_reach.get("reachable"):
                model = [d for d in diff if d["key"] in ("n_layer", "n_head", "n_embd", "block_size",
                                                         "batch_size", "dropout") and d["values"][1] is not None]
                iters_b = fb.value("max_iters")
                if model:
                    flags = [f"--{d['key']}={d['values'][1]!r}" for d in model]
                    if iters_b:
                        flags += [f"--max_iters={iters_b}", f"--lr_decay_iters={iters_b}"]
                    to_reach["flags"] = " ".join(flags)
        except CannotExtrapolate as e:
            notes.append(f"training length not estimated: {e.why}")

    # what is left, at equal tokens and schedule
    rest = at_b - target_b
    learning = [d for d in diff if d["kind"] == "learning" and d["key"] not in SCHEDULE_SHAPE + ("max_iters",)]
    runtime = [d for d in diff if d["kind"] == "runtime"]
    w = Z80 * math.hypot(se_a, se_b)
    if runtime:
        keys = ", ".join(f"{d['key']} {d['values'][0]} vs {d['values'][1]}" for d in runtime)
        causes.append(Cause("device/precision numerics", 0.0, (-w, w),
                            f"{keys}: nanoGPT computes the same model on any device; fp32 and bf16 reach "
                            "the same loss per step within eval noise (the built-in trainer: 1.8857 vs "
                            "1.8856 at 2000 steps, docs/benchmarks.md); the time per step differs, not the loss"))
    unexplained = None
    if learning:
        keys = ", ".join(f"{d['key']} {d['values'][0]} vs {d['values'][1]}" for d in learning)
        na, nb = fa.value("params"), fb.value("params")
        size = ""
        if na and nb and na != nb:
            shrink = (na / nb) ** 0.34
            size = (f"; by the L(N, D) form of Hoffmann et al. 2022 (exponent 0.34 on N, quoted, not fitted) "
                    f"{nb / 1e6:.2f}M instead of {na / 1e6:.2f}M parameters multiplies the model-size term "
                    f"of the loss by {1 / shrink:.2f} for the smaller model")
        name = _rest_name({d["key"] for d in learning})
        causes.append(Cause(name, rest, (rest - w, rest + w),
                            f"the rest at equal tokens and schedule, on the keys that differ ({keys}); two runs "
                            f"cannot split it between them: lossdoctor verify can{size}"))
        unexplained = Cause("unexplained", 0.0, (-w, w), "all of the gap is assigned; the interval is the eval noise")
    else:
        unexplained = Cause("unexplained", rest, (rest - w, rest + w),
                            "no learning config key differs: seed, data order, or a change the logs do not show")
    return causes, unexplained, notes, to_reach


GROUPS = (("model size", ("n_layer", "n_head", "n_embd", "bias")), ("context length", ("block_size",)),
          ("batch size", ("batch_size", "gradient_accumulation_steps")),
          ("regularization", ("dropout", "weight_decay")),
          ("peak LR and optimizer", ("learning_rate", "beta1", "beta2", "grad_clip")))


def _rest_name(keys: set[str]) -> str:
    """'model size, context length, batch size and regularization' from the differing keys."""
    names = [n for n, ks in GROUPS if keys & set(ks)]
    if keys - {k for _, ks in GROUPS for k in ks}:
        names.append("other config")
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _smoothed(run: Run, metric: str, final: float) -> float:
    """A straight line through the tail evals (the ones val_slope uses), read at the last
    step: the final value without its eval noise (a line, not the law, so that a curve that
    has turned up is smoothed too)."""
    from .facts.curve import tail_indices
    ev = run.curves()[0]
    tail = tail_indices(ev.step)
    if tail is None:
        return final
    x, y = ev.step[tail].astype(float), getattr(ev, metric)[tail]
    if not np.isfinite(y).all():
        return final
    b, a = np.polyfit(x, y, 1)
    return float(a + b * x[-1])


def _se(f: Facts) -> float:
    v = f.value("eval_se")
    return float(v) if isinstance(v, (int, float)) else 0.01


def _best(f: Facts, metric: str) -> float:
    if metric == "val" and f.value("best_val") is not None:
        return float(f.value("best_val"))
    return float(_final(f, metric) or 0.0)


def _overfit(f: Facts) -> bool:
    z = f.value("val_rise_z")
    return bool(z is not None and z >= 2 and f.value("train_falling_after_best"))


def _schedule_shape(ra: Run, rb: Run, to: int, force: bool = False) -> dict[str, Any] | None:
    """The better run's schedule shape stretched to `to` steps, or None when the shapes
    match (nothing to estimate; with force, None only when a schedule is unknown)."""
    from .facts.schedule import schedule_params
    pa, pb = schedule_params(ra.config), schedule_params(rb.config)
    if pa is None or pb is None or not pb["decay_lr"]:
        return None
    span_b = max(rb.config.trusted("max_iters") or pb["lr_decay_iters"], 1)
    shape = {"warmup_iters": int(round(pb["warmup_iters"] / span_b * to)),
             "lr_decay_iters": int(round(pb["lr_decay_iters"] / span_b * to)),
             "min_lr": pa["learning_rate"] * pb["min_lr"] / pb["learning_rate"]}
    mine = {"warmup_iters": pa["warmup_iters"], "lr_decay_iters": to, "min_lr": pa["min_lr"]}  # a rerun
    same = (abs(shape["warmup_iters"] - mine["warmup_iters"]) <= max(1, 0.01 * to)
            and abs(shape["lr_decay_iters"] - to) <= max(1, 0.01 * to)
            and math.isclose(shape["min_lr"], mine["min_lr"], rel_tol=0.01) and pa["decay_lr"])
    return None if same and not force else {**shape, "learning_rate": pa["learning_rate"], "decay_lr": True}


def _sched_text(s: dict[str, Any]) -> str:
    return f"warmup {s['warmup_iters']}, decay to step {s['lr_decay_iters']}, min_lr {s['min_lr']:g}"


def _to_reach(run: Run, f: Facts, target: float, extrapolate, CannotExtrapolate) -> dict[str, Any]:  # noqa: ANN001, N803
    """The fewest steps (a rerun with the run's own config) whose predicted val reaches
    `target`, searched up to 64x the run; or why it cannot."""
    steps = int(f.value("steps_done") or 0)
    if steps <= 0:
        return {"reachable": False, "why": "the run's length is unknown"}
    for k in (1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64):
        to = int(math.ceil(steps * k / 100) * 100)
        try:
            s = extrapolate(run, to, scenarios=("rerun",)).scenarios[0].val
        except CannotExtrapolate as e:
            return {"reachable": False, "why": e.why}
        if s is not None and s.mean <= target:
            return {"reachable": True, "steps": to, "val": s.mean, "lo": s.lo, "hi": s.hi,
                    "flags": f"--max_iters={to} --lr_decay_iters={to}", "ratio": to / steps}
    return {"reachable": False, "steps_tried": int(math.ceil(steps * 64 / 100) * 100),
            "why": f"its own curve does not reach {target:.4f} within 64x its length: the model itself "
                   "must change"}
