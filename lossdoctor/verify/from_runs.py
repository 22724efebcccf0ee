"""`lossdoctor verify RUN...`: the experiments that settle what `analyze` says about runs.

From each finding, its rule's `verify:` spec (rules/*.yaml): the flags to change, the metric
(final_val, time_per_iter_ms) and the direction expected (lower, higher, same). From the gap
report of two or more runs, each learning key that differs between the runs and that two
runs cannot split the gap between (one experiment per key: the better run's value on the
worse run's config). From runs on two devices, the hardware experiment (design.hardware_experiment).

The experiments start from the first run's config (from its log: the run must show it),
trained on the device asked for, in float32 on a CPU (nanoGPT ignores dtype there) and
without torch.compile (it changes speed, not the loss). What cannot run here becomes a
`not verifiable here` verdict with why: a finding with no flags (it is about how the run
was measured), a flag that needs the run's own checkpoint, a metric the arms do not measure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..analysis import Analysis
from ..diagnose.engine import Finding
from ..errors import UsageError
from ..nanogpt import RETRAIN_KEYS
from ..run import Run
from ..trainer import EMBEDDED
from ..trainer.config import TrainConfig, defaults, resolve
from .design import EVAL_NOISE_DESIGN, EVAL_NOISE_METRIC, STEP_KEYS, Experiment, ExperimentKind, hardware_experiment
from .stats import Claim, Direction, Metric

__all__ = ["RunPlan", "plan_from_runs", "base_from_run", "MEASUREMENT_KEYS"]

# keys that change when or how a run is measured, logged or saved, not what it learns
MEASUREMENT_KEYS = frozenset({"eval_interval", "log_interval", "eval_only", "always_save_checkpoint", "out_dir",
                              "wandb_log", "wandb_project", "wandb_run_name"})


@dataclass(frozen=True)
class RunPlan:
    """What `verify RUN...` trains: the base config and the experiments on it."""

    base: TrainConfig
    experiments: tuple[Experiment, ...]
    notes: tuple[str, ...]


# the rest of what shapes the loss: train.py's defaults where the log does not show them, said so
GUESSED_KEYS = ("dropout", "weight_decay", "beta2", "grad_clip", "warmup_iters", "lr_decay_iters", "min_lr",
                "decay_lr", "bias")


def base_from_run(analysis: Analysis, index: int, device: str) -> tuple[TrainConfig, tuple[str, ...]]:
    """The run's config as the built-in trainer's, on `device`, with what was changed and why.
    Raises UsageError when the log does not show its config, or the keys a retraining
    cannot guess (RETRAIN_KEYS), or begins with a resume past step 0."""
    run = analysis.runs[index]
    if not run.config.seen:
        raise UsageError(f"{run.source}: the log does not show its config (no header, no 'Overriding' lines, "
                         "no checkpoint), so there is no run to retrain; give the log nanoGPT printed from "
                         "its start, or test a change on your own runs with --baseline/--treatment")
    if (head := run.resumed_start()) is not None:
        raise UsageError(f"{run.source}: the log begins with a resume at step {head.first_step:,}: the steps "
                         "before it, and their LR, are not in it, so there is no run to retrain; give the log from "
                         "its start (its first process's output, then the resume's), or test a change on your own "
                         "runs with --baseline/--treatment")
    known = defaults()
    # what the run shows: a default counts only where the log vouches for train.py's (Config.trusted)
    values = {k: v for k in run.config.values if k in known and (v := run.config.trusted(k)) is not None}
    missing = [k for k in RETRAIN_KEYS if k not in values]
    if missing:
        raise UsageError(f"{run.source}: the log does not show {', '.join(missing)} of its config, so verify would "
                         "retrain another run (train.py's defaults are GPT-2 124M on OpenWebText); give a log that "
                         "shows them, or test a change on your own runs with --baseline/--treatment")
    notes = []
    origin = _origin_schedule(run)
    if origin:  # a continuation at another LR: the lineage's own schedule, from its first process
        notes.append("the run's last process continued it at another LR ("
                     + ", ".join(f"{k} {values.get(k)}" for k in origin) + "); the arms train the lineage's "
                     "schedule from scratch (" + ", ".join(f"{k} {v}" for k, v in origin.items()) + ")")
        values.update(origin)
    if "dataset" not in values:  # not train.py's openwebtext: the data the arms train on, unless --data
        changes_data = {"dataset": EMBEDDED}
        notes.append("the log does not show the run's data: without --data the experiments train on the embedded "
                     "corpus (Python's own source text), where effects may differ from the run's; give its data "
                     "with --data DIR|FILE")
    else:
        changes_data = {}
    guessed = [k for k in GUESSED_KEYS if k not in values]
    if guessed:
        notes.append(f"the log does not show {', '.join(guessed)}: the arms take train.py's defaults for them "
                     f"({', '.join(f'{k} {known[k]}' for k in guessed)})")
    changes = {"device": device, "init_from": "scratch", "compile": False, "wandb_log": False, "eval_only": False,
               **changes_data}
    began = analysis.facts[index].value("model_from")  # how the lineage's first process made the model
    if isinstance(began, str) and began.startswith("gpt2"):
        notes.append(f"the run started from {began} weights; the arms train from scratch")
    if values.get("compile"):
        notes.append("torch.compile off in the arms: it changes the speed, not the loss")
    if device == "cpu" and values.get("dtype", "float32") != "float32":
        changes["dtype"] = "float32"
        fact = analysis.facts[index]["dtype"]  # what the run shows: a default's is the machine's
        ran = f"{fact.value} ({fact.status})" if fact.known else "unknown (train.py's default depends on the machine)"
        notes.append(f"dtype {ran} -> float32 on this CPU: nanoGPT ignores dtype on a CPU "
                     "(no autocast there), so float32 is what the run's config trains here")
    if values.get("device", device) != device:
        notes.append(f"trained on {device}; the run was on {values['device']}")
    cfg = resolve(overrides={**values, **changes})
    return cfg, tuple(notes)


def _origin_schedule(run: Run) -> dict[str, Any]:
    """The LR settings of the lineage's first process where its last one changed them (a
    continuation at its min_lr, decay_lr=False), as fit.lr reads them; {} otherwise."""
    from ..fit.lr import read
    origin = read(run, run.last_step).origin
    return {} if origin is None else dict(origin._asdict())


def plan_from_runs(analysis: Analysis, device: str) -> RunPlan:
    """The experiments for the analysed runs: the first run's findings, then the gap's causes
    and, for runs on two kinds of device, the hardware experiment; all on the first run's config.

    Raises:
        UsageError: an `analysis` that is no Analysis (lossdoctor.analyze), or one of no run.
    """
    if not isinstance(analysis, Analysis) or not analysis.runs:
        raise UsageError(f"plan_from_runs: analysis is what lossdoctor.analyze returns, with a run, not {analysis!r}")
    base, notes = base_from_run(analysis, 0, device)
    found: dict[str, Experiment] = {}
    for f in analysis.diagnoses[0].findings if analysis.diagnoses else ():
        e = _checked(_from_finding(f), base)
        found.setdefault(_arms_key(e), e)
    for e in _from_gap(analysis, base):
        found.setdefault(_arms_key(e), _checked(e, base))
    devices = [r.config.trusted("device") for r in analysis.runs]  # a default the log did not show is not one
    kinds = sorted({str(d).split(":")[0] for d in devices if d})
    if len(kinds) > 1:
        e = hardware_experiment(kinds[0], kinds[1], base)
        found.setdefault(_arms_key(e), e)
    if len(analysis.runs) > 1:
        notes += (f"findings are tested on the first run's config ({analysis.runs[0].source}); verify each other "
                  "run alone for its own findings",)
    if not found:
        notes += ("no finding and no gap to test: the runs' findings have no verify spec to train",)
    return RunPlan(base, tuple(found.values()), notes)


def _checked(e: Experiment, base: TrainConfig) -> Experiment:
    """The experiment, or an unrunnable one when its arms are the same config here or its
    change only moves when and how the run is measured (verify's arms do not eval in between)."""
    if e.kind == "code":
        return e
    keys = {fl[2:].partition("=")[0] for fl in e.treatment}
    if keys <= MEASUREMENT_KEYS:
        return replace(e, kind="code", derived=f"{', '.join(sorted(keys))} changes when or how the run is "
                                               "measured or saved, not what it learns; verify's arms train "
                                               "without evals in between, so there is no difference to measure")
    if keys == {"eval_iters"}:
        return replace(e, kind="eval noise", claim=Claim.improves(Metric.loss(EVAL_NOISE_METRIC),
                                                                  recommendation=" ".join(e.treatment)),
                       baseline=(f"--eval_iters={base['eval_iters']}",), expects="effect", design=EVAL_NOISE_DESIGN)
    same = [fl for fl in e.treatment if str(base.values.get(fl[2:].partition("=")[0])) == fl.partition("=")[2]]
    if len(same) == len(e.treatment):
        why = f"{' '.join(same)} is already the config verify trains here"
        if "--dtype=float32" in same and base["device"] == "cpu":
            why += " (on a CPU nanoGPT ignores dtype, so float32 is what its run trained)"
        return replace(e, kind="code", derived=why)
    return e


def _arms_key(e: Experiment) -> str:
    if e.kind == "code":
        return e.id
    return f"{sorted(e.baseline)}|{sorted(e.treatment)}|{e.kind}"


def _from_finding(f: Finding) -> Experiment:
    spec = f.verify
    rec = f.title + (f" ({spec.flags})" if spec.flags else "")
    flags = tuple(spec.flags.split())

    def unrunnable(why: str) -> Experiment:
        return Experiment(f.rule, rec, (), flags, "code", Claim.improves(Metric.loss(), recommendation=rec),
                          expects="no effect" if spec.expect == "same" else "effect", derived=why)

    if not flags:
        return unrunnable("the finding is about how the run was measured or logged, or its flags need values "
                          "the log does not show: there is no training change to test")
    if any(fl.startswith("--init_from=") for fl in flags):
        return unrunnable("the change resumes the run from its own checkpoint, which verify does not train")
    if spec.metric == "best_val":
        return unrunnable("the metric is the best val over the run's evals (which checkpoint is kept); verify's "
                          "arms measure the final model")
    unknown = [fl for fl in flags if fl[2:].partition("=")[0] not in defaults()]
    if unknown:
        return unrunnable(f"{unknown[0]} is not a key the built-in trainer accepts")
    expects: Literal["effect", "no effect"] = "no effect" if spec.expect == "same" else "effect"
    if spec.metric == "time_per_iter_ms":
        metric = Metric.throughput()
        # a lower time per step is a higher tokens/s
        direction: Direction = "lower" if spec.expect == "higher" else "higher"
        return Experiment(f.rule, rec, (), flags, "throughput", Claim(metric, direction, recommendation=rec),
                          expects=expects, design="tokens/s over interleaved timing windows, eval and warm-up "
                                                  "steps excluded")
    steps = any(fl.startswith("--max_iters=") for fl in flags)
    kind: ExperimentKind = "final loss" if steps else "loss at equal steps"
    direction = "higher" if spec.expect == "higher" else "lower"
    return Experiment(f.rule, rec, (), flags, kind, Claim(Metric.loss(), direction, recommendation=rec),
                      expects=expects, design="val loss of each arm's final model, over the same val batches")


def _from_gap(analysis: Analysis, base: TrainConfig) -> Sequence[Experiment]:
    """One experiment per learning key that differs between the compared runs: the better
    run's value on the first run's config; claimed to lower val when the first run is the worse."""
    c = analysis.comparison
    if c is None or c.gap is None:
        return ()
    first_is_worse = c.other == 0
    keys = {d.key for d in c.diff}
    changes: dict[str, Any] = {}
    for d in c.diff:
        if d.kind != "learning" or d.key not in defaults() or d.key in ("device", "dtype", "compile"):
            continue
        if d.key == "lr_decay_iters" and "max_iters" in keys:
            continue  # changed with max_iters, in its experiment
        value = d.reference if first_is_worse else d.other
        if value is not None and value != base.values.get(d.key):
            changes[d.key] = value
    # one key at a time, but the heads and the width together where one alone would not divide
    # (n_head 6 on a width of 128): nanoGPT asserts n_embd % n_head == 0
    groups: list[tuple[str, ...]] = [(k,) for k in changes if k not in HEADS or _divides(base, {k: changes[k]})]
    if any(k in changes and (k,) not in groups for k in HEADS):
        together = tuple(k for k in HEADS if k in changes)
        groups = [g for g in groups if g[0] not in together]
        if _divides(base, {k: changes[k] for k in together}):
            groups.append(together)
    return [_gap_experiment(g, changes, base, first_is_worse) for g in groups]


HEADS = ("n_embd", "n_head")  # a model's width and heads: the width must divide into the heads


def _divides(base: TrainConfig, values: dict[str, Any]) -> bool:
    """Whether the base config with `values` has a width its heads divide."""
    embd, head = values.get("n_embd", base["n_embd"]), values.get("n_head", base["n_head"])
    return isinstance(embd, int) and isinstance(head, int) and head > 0 and embd % head == 0


def _gap_experiment(group: tuple[str, ...], changes: dict[str, Any], base: TrainConfig,
                    first_is_worse: bool) -> Experiment:
    """The experiment of one key (or the width and heads together) of the gap."""
    flags = tuple(f"--{k}={changes[k]}" for k in group)
    # a longer run keeps its schedule whole, as nanoGPT's configs set both keys together
    extra = (f"--lr_decay_iters={changes['max_iters']}",) if group == ("max_iters",) and base["decay_lr"] else ()
    direction: Direction = "lower" if first_is_worse else "higher"
    what = " and ".join(f"{k} {base.values.get(k)} -> {changes[k]}" for k in group)
    rec = (f"gap: {what} (the {'better' if first_is_worse else 'worse'} run's value"
           f"{'s, together: one alone would not divide the width into heads' if len(group) > 1 else ''}) "
           f"{'lowers' if direction == 'lower' else 'raises'} the val loss")
    kind: ExperimentKind = "final loss" if any(k in STEP_KEYS for k in group) else "loss at equal steps"
    return Experiment(f"gap-{'-'.join(group)}", rec, (), (*flags, *extra), kind,
                      Claim(Metric.loss(), direction, recommendation=" ".join(flags)),
                      design="val loss of each arm's final model, one key changed at a time"
                      + (" (the width and heads together)" if len(group) > 1 else ""))
