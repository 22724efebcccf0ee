"""The two runs side by side: their final losses, config differences and derived
quantities; and each run as the attribution's path sees it (Side). Where their curves
overlap is overlap.py."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import numpy as np

from ..facts import Facts
from ..facts.curve import MIN_TAIL_EVALS, tail_indices
from ..run import Dialect, Run
from .results import (
    CHANGED_ORIGIN,
    DERIVED,
    RESUMED_ORIGIN,
    UNKNOWN_ORIGIN,
    ConfigScalar,
    Derived,
    KeyDiff,
    Pair,
)

# keys that change what the model learns (not where it runs or how it is logged)
LEARNING_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "bias", "dropout", "batch_size",
                 "gradient_accumulation_steps", "learning_rate", "min_lr", "max_iters", "lr_decay_iters",
                 "warmup_iters", "decay_lr", "weight_decay", "beta1", "beta2", "grad_clip", "dataset",
                 "init_from")
RUNTIME_KEYS = ("device", "dtype", "compile")
MEASURE_KEYS = ("eval_iters", "eval_interval", "log_interval", "always_save_checkpoint")
DEFAULT_SE = 0.01  # one eval's standard error when the run does not give it (in its val's unit: nats or bpb)
# another trainer's or a runs table's columns that name, time or measure a run rather than
# set what its model learns (a run's name, seed, parameter count, wall time, final losses):
# a name, or a result by its last word (`final_val_loss`, `training_time_sec`), so that a
# setting that only starts with one (`loss_type`, `time_embedding`) is still a setting
BOOKKEEPING = re.compile(r"(?i)^(run_?name|name|id|seed|vocab_size|wandb.*|_.*"
                         r"|state|notes|user|tags|created|sweep"  # a W&B runs table's own columns
                         r"|iter|step|global_step|epoch)$"  # where a row's losses were logged: a step, no setting
                         r"|(loss|(?<!grad_)acc|accuracy|ppl|perplexity|bpb|time|runtime|duration|sec|secs|seconds|ms"
                         r"|params|parameters|mfu|flops|memory|mem|throughput|tokens_per_sec)$"
                         r"|^(mfu|flops|throughput|tokens_per)")


# another trainer's settings of how often it saves, logs, evaluates or samples, and where it
# writes: they measure or keep the run, and change nothing it learns
OTHER_MEASURES = frozenset({
    # Hugging Face TrainingArguments
    "output_dir", "logging_dir", "logging_steps", "logging_strategy", "logging_first_step", "save_steps",
    "save_strategy", "save_total_limit", "eval_steps", "eval_strategy", "evaluation_strategy", "eval_delay",
    "per_device_eval_batch_size", "eval_accumulation_steps", "report_to", "push_to_hub", "hub_model_id",
    "dataloader_num_workers",
    # Lightning's Trainer
    "log_every_n_steps", "val_check_interval", "check_val_every_n_epoch", "limit_val_batches",
    # nanochat, llm.c and build-nanogpt cadences
    "eval_every", "eval_tokens", "sample_every", "save_every", "core_metric_every", "core_metric_max_per_task",
    "checkpoint_every", "val_loss_every", "val_max_steps", "log_every"})


def shows_config(run: Run) -> bool:
    """Whether any config value of `run` comes from what it shows (a header, a ckpt.pt),
    not from a default or the spacing of its lines."""
    from .. import config as C
    return any(v.origin not in (C.DEFAULT, C.CADENCE, C.META_PATH) for v in run.config.values.values())


def final(f: Facts, metric: str) -> float | None:
    """The run's final logged val (or train), when finite; an eval logged only at step 0 of
    a run that trained on after it is the initial loss, not its final one: None (its train
    is then its last iteration losses', compare.iter_final)."""
    v = f.value("final_val" if metric == "val" else "final_train")
    if initial_only(f):
        return None
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def initial_only(f: Facts) -> bool:
    """Whether the run's last eval is at step 0 and it trained on past it."""
    done = f.value("steps_done")
    return f.value("final_step") == 0 and isinstance(done, int) and done > 1


def iter_final(run: Run) -> float | None:
    """Without evals: the mean of the last 5% of the logged iteration losses (at least 10);
    with fewer, the HF Trainer's last logged loss, itself the mean over its logging window."""
    it = run.curves()[1]
    y = it.loss[np.isfinite(it.loss)]
    n = final_window(run, len(y))
    return None if n is None else float(y[-n:].mean())


def final_window(run: Run, n: int) -> int | None:
    """How many of `run`'s last `n` finite logged iteration losses iter_final averages, or
    None where it takes none."""
    if n < 10:
        return 1 if n and run.format == Dialect.HF_TRAINER else None
    return max(10, n // 20)


def config_diff(ra: Run, rb: Run, fa: Facts | None = None, fb: Facts | None = None) -> tuple[KeyDiff, ...]:
    """The learning, runtime and measurement keys whose effective values differ, or that one
    run shows and the other does not: a log without a config header has an unknown config,
    not train.py's defaults (value None, origin UNKNOWN_ORIGIN)."""
    out = []
    # the same tokens per step, in rows of one length (or of a length one log does not show:
    # its block_size then differs as a key of its own, which carries the context's share)
    ta, tb = _shown(ra, "block_size")[0], _shown(rb, "block_size")[0]
    same_step = (_step_tokens(ra) is not None and _step_tokens(ra) == _step_tokens(rb)
                 and (ta == tb or ta is None or tb is None))
    constant = [_constant(r) for r in (ra, rb)]  # get_lr's keys unused (GET_LR_ONLY)
    for key in LEARNING_KEYS + RUNTIME_KEYS + MEASURE_KEYS:
        (va, oa), (vb, ob) = _shown(ra, key, fa), _shown(rb, key, fb)
        if va == vb or key in GET_LR_ONLY and all(constant):  # the same, unknown in both, or used by neither
            continue
        if key == "dtype" and all(r.config.trusted("device") == "cpu" for r in (ra, rb)):
            continue  # train.py computes a CPU run in float32 whatever dtype says (LD1301)
        kind = "learning" if key in LEARNING_KEYS else "runtime" if key in RUNTIME_KEYS else "measurement"
        if same_step and key in SPLIT_KEYS:  # the same tokens per step, split otherwise: memory and speed
            kind = "runtime"
        oa, ob = (f"{o}; {UNUSED}" if key in GET_LR_ONLY and c else o
                  for o, c in ((oa, constant[0]), (ob, constant[1])))
        out.append(KeyDiff(key, va, vb, oa, ob, kind))
    return tuple(out) + other_settings(ra, rb, same_step)


GET_LR_ONLY = ("warmup_iters", "lr_decay_iters", "min_lr")  # read by get_lr alone, which decay_lr=False skips
UNUSED = "unused: decay_lr=False"


def _constant(run: Run) -> bool:
    """Whether every process of the run's lineage ran at a constant LR (decay_lr=False), so
    that get_lr's keys were read by none: a run continued at its min_lr after a cosine used
    them before (its lr_decay_iters is no unused value)."""
    configs = [run.segments[i].config or run.config for i in run.lineage()] or [run.config]
    return all(c.trusted("decay_lr") is False for c in configs)


# how a step's tokens are split into micro-batches: nanoGPT's keys, then other trainers' own
# (llm.c's, nanochat's and build-nanogpt's per-process grad_accum_steps; nanochat's tokens of
# one forward-backward over all processes, and chat_sft's examples per step)
SPLIT_KEYS = ("batch_size", "gradient_accumulation_steps", "grad_accum_steps", "world_tokens_per_fwdbwd",
              "examples_per_step")


def _step_tokens(run: Run) -> int | None:
    """The tokens of one optimizer step as the run's config sets them (nanochat's
    total_batch_size, else nanoGPT's product of BATCH_KEYS), or None where not shown."""
    from ..nanogpt import BATCH_KEYS
    total = run.config.trusted("total_batch_size")
    if isinstance(total, int) and not isinstance(total, bool):
        return total
    vals = [run.config.trusted(k) for k in BATCH_KEYS]
    ints = [v for v in vals if isinstance(v, int) and not isinstance(v, bool)]
    return math.prod(ints) if len(ints) == len(vals) else None


def other_settings(ra: Run, rb: Run, same_step: bool = False) -> tuple[KeyDiff, ...]:
    """Settings outside nanoGPT's keys (a fork's `activation_type`, a runs table's
    `pos_encoding`) that both runs show and that differ: they may change what the model
    learns, so the gap's rest is not put on the nanoGPT keys alone; a trainer's own split
    keys (SPLIT_KEYS) are runtime where the runs take the same tokens per step
    (`same_step`), as nanoGPT's are."""
    from ..nanogpt import NANOGPT_KEYS
    out = []
    for key in sorted(set(ra.config.values) & set(rb.config.values)):
        if key in NANOGPT_KEYS or BOOKKEEPING.search(key):
            continue
        (va, oa), (vb, ob) = _shown(ra, key), _shown(rb, key)
        if va is not None and vb is not None and va != vb:
            kind = ("runtime" if same_step and key in SPLIT_KEYS else "measurement" if key.lower() in OTHER_MEASURES
                    else "learning")
            out.append(KeyDiff(key, va, vb, oa, ob, kind))
    return tuple(out)


# what a log that begins with a resume past step 0 cannot say of its whole run: the LR of
# the steps before it (a continuation at its min_lr shows learning_rate = that min_lr)
RESUMED_HIDES = ("learning_rate", "min_lr", "decay_lr", "warmup_iters", "lr_decay_iters", "init_from")


def resumed_hidden(run: Run) -> str | None:
    """Why the run's schedule keys are not its whole run's: its log begins with a resume
    past step 0; None otherwise."""
    first = run.resumed_start()
    if first is None:
        return None
    return f"{RESUMED_ORIGIN} {first.first_step:,}, resumed, and the LR of the steps before it is not in it"


def hide_resumed(diff: tuple[KeyDiff, ...], ra: Run, rb: Run) -> tuple[KeyDiff, ...]:
    """The differences the gap may be put on: a run whose log begins with a resume past
    step 0 shows its continuation's LR keys, not its whole run's, so where those differ
    they count as unknown on its side (no share)."""
    why_a, why_b = resumed_hidden(ra), resumed_hidden(rb)
    if why_a is None and why_b is None:
        return diff
    out = []
    for d in diff:
        if d.key in RESUMED_HIDES:
            if why_a is not None:
                d = replace(d, other=None, origin_other=why_a)
            if why_b is not None:
                d = replace(d, reference=None, origin_reference=why_b)
        out.append(d)
    return tuple(out)


def changed_within(run: Run, key: str) -> str | None:
    """Why a schedule key has no one value for the run: a resume within its log went on
    with another (lr_decay_iters 2000, then 5000: a re-warm); None where it kept one."""
    if key not in RESUMED_HIDES or key == "init_from":
        return None
    segs = [run.segments[i] for i in run.lineage()]
    for before, after in zip(segs, segs[1:], strict=False):
        if before.config is None or after.config is None:
            continue
        a, b = before.config.trusted(key), after.config.trusted(key)
        if a is not None and b is not None and a != b:
            at = f" {after.first_step:,}" if after.first_step is not None else ""
            return f"{CHANGED_ORIGIN}{at} with another {key} ({a!r} before, {b!r} after)"
    return None


def _shown(run: Run, key: str, facts: Facts | None = None) -> tuple[ConfigScalar, str]:
    """A key's value and origin as the run shows it; (None, why) when it does not, or
    where a resume within its log changed it. A runtime key the config leaves to the
    machine (dtype) is the facts' where they infer it from the log (its GradScaler warning:
    float16), said inferred."""
    if (changed := changed_within(run, key)) is not None:
        return None, changed
    cv = run.config.values.get(key)
    value = run.config.trusted(key)
    if (machine := run.config.machine_default(key)) is not None:
        fact = facts.get(key) if facts is not None and key in RUNTIME_KEYS else None
        if fact is not None and fact.status == "inferred" and isinstance(fact.value, (str, bool)):
            said = fact.note or fact.source
            return fact.value, said if said.startswith("inferred") else f"inferred: {said}"
        return None, f"unknown: train.py's default, {machine}"
    if cv is None or value is None:
        return None, UNKNOWN_ORIGIN if not run.config.defaults_trusted else "unknown"
    head = run.head()
    if key == "init_from" and value == "resume" and not run.format.has_log:  # a checkpoint alone (model_from)
        return None, "the checkpoint's config resumed: how its model was first made is not in it"
    if key == "init_from" and value == "resume" and head is not None and head.init_from not in (None, "resume"):
        return head.init_from, f"{cv.origin}; resumed within its log, which begins with init_from={head.init_from}"
    return value, cv.origin


def unknown_keys(diff: tuple[KeyDiff, ...]) -> list[str]:
    """The differing keys that one run does not show."""
    return [d.key for d in diff if d.other is None or d.reference is None]


def derived_status(fa: Facts, fb: Facts) -> tuple[tuple[str, str, str], ...]:
    """(quantity, the worse run's status, the better run's) for each side-by-side quantity
    a run does not read or compute from what it shows: "inferred" or "assumed", or
    "rounded" where it shows it only rounded (nanoGPT's "number of parameters: 10.65M");
    "" for a side that shows it."""
    def mark(f: Facts, k: str) -> str:
        if k not in f or not f[k].known:
            return ""
        if f[k].status in ("inferred", "assumed"):
            return f[k].status
        return "rounded" if (f[k].note or "").startswith("rounded") else ""
    return tuple((k, mark(fa, k), mark(fb, k)) for k in DERIVED if mark(fa, k) or mark(fb, k))


def derived(fa: Facts, fb: Facts, iters: tuple[float | None, float | None] | None = None) -> Derived:
    """The side-by-side quantities of the worse run `fa` and the better `fb`. An eval at
    step 0 alone, of a run that trained on, gives no final val or train (`final`);
    `iters`: the runs are compared on their last iteration losses' means, the final train
    shown (iter_final)."""
    def value(f: Facts, k: str) -> float | None:
        if k in ("final_val", "final_train") and initial_only(f) or k not in f:
            return None
        v = f[k].value
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    side = Derived(**{k: Pair(value(fa, k), value(fb, k)) for k in DERIVED})
    return side if iters is None else replace(side, final_train=Pair(*iters))


# a val rise this many eval standard errors above the best is a rise: 2 standard errors of a
# difference of two evals, 2·√2, as LD501's min_z has it (so that the gap report and LD501 agree)
OVERFIT_Z = 2.83


def overfit(f: Facts) -> bool:
    """Whether the run's val turned up while its train loss kept falling (LD501's test)."""
    z = f.value("val_rise_z")
    return bool(z is not None and z >= OVERFIT_Z and f.value("train_falling_after_best"))


# a last eval this many of its standard errors off the straight line through the last evals
# is off it because the curve bends there (a val turning up fast), not by eval noise
CURVED_Z = 4.0


@dataclass(frozen=True)
class Side:
    """One run as the path sees it (losses in nats, of the compared metric)."""

    run: Run
    facts: Facts
    final: float  # as logged
    smoothed: float  # the final without its eval noise
    se: float  # one eval's standard error
    best: float  # best val (the final, for train)
    overfit: float  # smoothed final minus best when val turned up while train fell, else 0
    noise_known: bool = True  # the eval's noise is measured (eval_se): else `smoothed` is the final as logged

    @classmethod
    def of(cls, run: Run, facts: Facts, metric: str, final_: float) -> Side:
        measured = "eval_se" in facts and facts["eval_se"].known
        smoothed, se = _smoothed(run, metric, final_, MIN_TAIL_EVALS), _se(facts)
        if not measured or abs(final_ - smoothed) > CURVED_Z * se:
            # the tail bends (the line is not the curve), or the eval's noise is not known, so that
            # a bend cannot be told from noise: the last eval is the better estimate of where it ended
            smoothed = final_
        best = _best(facts, metric)
        return cls(run, facts, final_, smoothed, se, best,
                   max(smoothed - best, 0.0) if overfit(facts) else 0.0, measured)

    @property
    def start(self) -> float:
        """Where the run would end without overfitting: its best, else its smoothed final."""
        return self.best if self.overfit else self.smoothed


def _smoothed(run: Run, metric: str, final_: float, least: int = MIN_TAIL_EVALS) -> float:
    """A straight line through the tail evals (the ones val_slope uses: `least` of them or
    more), read at the last step: the final value without its eval noise (a line, not the
    law, so that a curve that has turned up is smoothed too)."""
    ev = run.curves()[0]
    tail = tail_indices(ev.step, least)
    if tail is None:
        return final_
    x, y = (ev.step[tail] - ev.step[tail][-1]).astype(float), getattr(ev, metric)[tail]  # steps before the last
    if not np.isfinite(y).all():
        return final_
    _, a = np.polyfit(x, y, 1)
    return float(a)


def _se(f: Facts) -> float:
    v = f.value("eval_se")
    return float(v) if isinstance(v, (int, float)) else DEFAULT_SE


def _best(f: Facts, metric: str) -> float:
    if metric == "val" and f.value("best_val") is not None:
        return float(f.value("best_val"))
    return float(final(f, metric) or 0.0)
