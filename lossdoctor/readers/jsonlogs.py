"""Readers for JSON: the Hugging Face Trainer's trainer_state.json (`hf-trainer`), a W&B
run's wandb-summary.json (`wandb-summary`), and JSON lines with a step and a loss-like
key (`jsonl`); nanochat's meta_NNNNNN.json is nanochat_ckpt.py's.

- trainer_state.json: `log_history` holds train entries (`loss`: the mean over the last
  `logging_steps` steps, with `learning_rate`, `grad_norm`), eval entries (`eval_loss`,
  or `eval_<set>_loss` for each named eval set) and a last summary entry (`train_loss`:
  the mean over the whole run, not its final loss). An empty log_history means nothing
  was logged (global_step below logging_steps). An entry's `step`, like `global_step`,
  counts the optimizer steps done; `global_step` is the run's last one, which a run
  whose length is no multiple of logging_steps never logs a loss at.
- wandb-summary.json: the last value of each logged key; nanoGPT's are `iter`,
  `train/loss`, `val/loss` (both estimate_loss evals), `lr`, `mfu`.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..run import Dialect, Measures
from . import columns as K
from .build import MAX_STEP, Found, count_lines, make_run

if TYPE_CHECKING:
    from ..run import Run
    from .registry import Sample

EVAL_SET = re.compile(r"^eval_(\w+?)_loss$")
HF_CONFIG = {"max_steps": "max_iters", "train_batch_size": "batch_size", "eval_steps": "eval_interval",
             "logging_steps": "log_interval", "num_train_epochs": "num_train_epochs", "save_steps": "save_steps"}
WANDB_STEPS = ("iter", "step", "trainer/global_step", "global_step", "_step")  # `_step` counts log calls


def _doc(sample: Sample) -> Any:
    def make() -> Any:
        try:
            return json.loads(sample.data.tobytes().decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            return None
    return sample.memo("json.doc", make)


def _is_json(sample: Sample) -> bool:
    """One JSON object, whatever the file's name."""
    return not sample.binary and sample.head.lstrip()[:1] == b"{" and isinstance(_doc(sample), dict)


def sniff_hf(sample: Sample) -> bool:
    """A JSON object with `log_history` and `global_step`."""
    doc = _doc(sample) if _is_json(sample) else None
    return isinstance(doc, dict) and isinstance(doc.get("log_history"), list) and "global_step" in doc


def sniff_wandb(sample: Sample) -> bool:
    """A JSON object with W&B's `_step` / `_runtime` keys."""
    doc = _doc(sample) if _is_json(sample) else None
    return isinstance(doc, dict) and ("_step" in doc or "_runtime" in doc or "_wandb" in doc)


def sniff_other_json(sample: Sample) -> bool:
    """Any other JSON object: refused with the keys it has."""
    return _is_json(sample)


def read_other_json(sample: Sample) -> Run:
    doc = _doc(sample)
    if not isinstance(doc, dict):
        raise InputError(sample.path, "not valid JSON")
    keys = ", ".join(list(doc)[:12])
    raise InputError(sample.path, f"a JSON document that is neither a trainer_state.json, a wandb-summary.json "
                                  f"nor a nanochat meta_*.json (keys: {keys})")


def read_hf(sample: Sample) -> Run:
    doc = _doc(sample)
    found = Found(n_lines=count_lines(sample.data.tobytes()))
    sets: set[str] = set()
    for entry in doc["log_history"]:
        if isinstance(entry, dict):
            _hf_entry(found, entry, sets)
    val_name = "eval_loss"  # the Trainer's name of the val loss: eval_loss, or one per eval set
    if len(sets) > 1:
        first = sorted(sets)[0]
        val_name = f"eval_{first}_loss"
        found.val = found.series.pop(val_name)
        found.notes.append(f"{len(sets)} eval sets ({', '.join(sorted(sets))}); val is {first!r}, the others "
                           "are kept as series")
    elif sets:
        val_name = f"eval_{sets.pop()}_loss"
        found.val = found.series.pop(val_name)
    for key, mapped in HF_CONFIG.items():
        if isinstance(doc.get(key), (int, float)) and not isinstance(doc.get(key), bool):
            if (said := _not_its_cadence(key, doc[key], found)) is not None:
                found.notes.append(said)
                continue
            found.set(mapped, doc[key])
    found.steps_done = _count(doc.get("global_step"))
    epoch, at = _num(doc.get("epoch")), found.steps_done
    done = found.series.get("epoch")
    if epoch is not None and at is not None and (done is None or not len(done.step) or at > int(done.step[-1])):
        found.point("epoch", at, epoch, 0, "epochs")  # state.epoch at global_step: past the last entry's
    if not doc["log_history"]:
        step, every = _count(doc.get("global_step")), _count(doc.get("logging_steps"))
        below = f" (global_step {step} is below logging_steps {every})" if (
            step is not None and every is not None and step < every) else ""
        found.notes.append(f"log_history is empty: nothing was logged{below}")
    return make_run(found, sample.path, Dialect.HF_TRAINER,
                    Measures(train="window", eval_train=False, val_name=val_name))


def _not_its_cadence(key: str, every: float, found: Found) -> str | None:
    """Why eval_steps or logging_steps is not the run's cadence, or None: the Trainer keeps
    them in trainer_state.json whatever its strategy, and evaluates or logs by epoch where
    the strategy says so (evals at steps 401, 802, ... with eval_steps 500); a point at the
    run's last step, or at step 1 (logging_first_step), does not count, and a value that is
    no whole number of steps is not judged."""
    points = {"eval_steps": found.val, "logging_steps": found.train}.get(key)
    if points is None or not len(points.step) or not (math.isfinite(every) and every >= 1 and every == int(every)):
        return None
    # a point at the run's end, or at step 1 (logging_first_step), may be off the cadence
    last = max(int(st) for st in points.step)
    off = [int(st) for st in points.step if int(st) % int(every) and int(st) not in (1, last)]
    if not off:
        return None
    what = "evaluates" if key == "eval_steps" else "logs"
    return (f"{key} {every:g} is not this run's cadence: it {what} at step {off[0]:,}, no multiple of it (an "
            "'epoch' strategy); the interval is left unknown")


def _hf_entry(found: Found, entry: dict[str, Any], sets: set[str]) -> None:
    step = entry.get("step")
    if not isinstance(step, int) or isinstance(step, bool):
        return
    if _num(entry.get("loss")) is not None:
        found.train.add(step, _num(entry["loss"]), 0)  # type: ignore[arg-type]
        for key in ("learning_rate", "grad_norm"):
            if (v := _num(entry.get(key))) is not None:
                found.point("lr" if key == "learning_rate" else "norm", step, v, 0)
    if (v := _num(entry.get("eval_loss"))) is not None:
        found.val.add(step, v, 0)
    if (v := _num(entry.get("epoch"))) is not None:  # state.epoch: epochs done, a fraction of the current one
        found.point("epoch", step, v, 0, "epochs")
    for key, value in entry.items():
        if (m := EVAL_SET.match(key)) and (v := _num(value)) is not None:
            sets.add(m.group(1))
            found.point(key, step, v, 0)
    for key in ("train_loss", "train_runtime", "total_flos"):
        if (v := _num(entry.get(key))) is not None:
            found.summary[key] = v


def read_wandb(sample: Sample) -> Run:
    doc = _doc(sample)
    found = Found(n_lines=1)
    step_key = K.pick(list(doc), WANDB_STEPS)
    step = _num(doc.get(step_key or ""))
    val_key, train_key = K.val_column(list(doc)), K.train_column(list(doc))
    nanogpt = "iter" in doc and val_key == "val/loss"
    at = int(step) if step is not None else 0
    if val_key and (v := _num(doc.get(val_key))) is not None:
        found.val.add(at, v, 1)
        if train_key and (t := _num(doc.get(train_key))) is not None:
            found.eval_train.add(at, t, 1)
    for key, value in doc.items():
        if (v := _num(value)) is not None and key not in (val_key, train_key):
            found.summary[key] = v
    if nanogpt and (lr := _num(doc.get("lr"))) is not None:  # nanoGPT logs the LR of the eval's step
        found.point("lr", at, lr, 1)
    found.notes.append("a W&B summary: the last value of each key, no curve")
    return make_run(found, sample.path, Dialect.WANDB_SUMMARY,
                    Measures(val=K.val_unit(val_key), train="none", eval_train=nanogpt,
                             step_axis="_step" if step_key == "_step" else None))


def sniff_jsonl(sample: Sample) -> bool:
    """Lines that are JSON objects (the first one whole), not one JSON document."""
    if sample.binary or sample.head.lstrip()[:1] != b"{" or _doc(sample) is not None:
        return False
    try:
        return isinstance(json.loads(sample.head.split(b"\n", 1)[0]), dict)
    except (ValueError, RecursionError):
        return False


def read_jsonl(sample: Sample) -> Run:
    found = Found()
    keys: set[str] = set()
    step_keys: set[str | None] = set()  # the step key each record was read by
    units: dict[str, str] = {}  # the val's unit -> the first key read in it
    own = records = 0  # records of lossdoctor train's own metrics.jsonl; JSON objects
    text = sample.data.tobytes().decode("utf-8", "replace").split("\n")
    if text[-1] == "":  # after the last newline
        text.pop()
    found.n_lines = len(text)
    for n, line in enumerate(text, 1):
        try:
            rec = json.loads(line) if line.strip() else None
        except (ValueError, RecursionError):
            found.not_understood(n, line)
            continue
        if not isinstance(rec, dict):
            continue
        keys.update(rec)
        records += 1
        step_key = K.pick(list(rec), K.STEP_NAMES)
        step = rec.get(step_key or "")
        if not isinstance(step, int) or isinstance(step, bool):
            continue
        step_keys.add(step_key)
        if rec.get("kind") in OWN_KINDS:  # lossdoctor train's metrics.jsonl
            own += _own_record(found, rec, step, n)
            continue
        for key, points in ((K.train_column(list(rec)), found.train), (K.val_column(list(rec)), found.val)):
            if key and (v := _num(rec.get(key))) is not None:
                points.add(step, v, n)
                if points is found.val:
                    units.setdefault(K.val_unit(key), key)
    if not len(found.train) and not len(found.val):
        raise InputError(sample.path, f"no step key with a loss-like key in any line (keys: "
                                      f"{', '.join(sorted(keys)[:20])})")
    if len(units) > 1:  # one curve in two units would read as a jump
        raise InputError(sample.path, f"its val is {units['bpb']!r} (bits per byte) on some lines and "
                                      f"{units['loss']!r} (nats) on others: one curve cannot be both")
    if own and own == records:  # every record the trainer's: its measures
        found.notes.append("lossdoctor train's metrics.jsonl: each iteration's loss, and each eval's train and "
                           "val (eval mode, as train.log's `step N:` lines)")
        return make_run(found, sample.path, Dialect.JSONL, Measures(train="step", eval_train=True))
    return make_run(found, sample.path, Dialect.JSONL,
                    Measures(val=next(iter(units), "loss"), train="window", eval_train=False,
                             step_axis="_step" if step_keys == {"_step"} else None))  # W&B's count of log calls


OWN_KINDS = ("eval", "iter")  # the records of lossdoctor train's metrics.jsonl (trainer/output.py)


def _own_record(found: Found, rec: dict[str, Any], step: int, n: int) -> int:
    """One record of lossdoctor train's metrics.jsonl: an eval's train and val (eval mode),
    or an iteration's loss; the LR of either. 1 where it held what its kind has, else 0."""
    if rec["kind"] == "eval" and (val := _num(rec.get("val"))) is not None:
        found.val.add(step, val, n)
        if (train := _num(rec.get("train"))) is not None:
            found.eval_train.add(step, train, n)
    elif rec["kind"] == "iter" and (loss := _num(rec.get("loss"))) is not None:
        found.train.add(step, loss, n)
    else:
        return 0
    if (lr := _num(rec.get("lr"))) is not None:
        found.point("lr", step, lr, n)
    return 1


def _count(value: Any) -> int | None:
    """A count of steps (an int from 0 below MAX_STEP, not a bool), or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_STEP else None


def _num(value: Any, default: float | None = None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    try:
        return float(value)
    except OverflowError:
        return default
