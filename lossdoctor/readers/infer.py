"""The config of a nanoGPT log that shows none, inferred from the config file it points to.

A log captured from the training loop only (no `Overriding` lines, no config-file echo)
still names its out_dir in every `saving checkpoint to DIR` line, and its evals and
iteration lines show eval_interval and log_interval. nanoGPT's config files each set their
own out_dir (nanogpt.CONFIG_FILES). The file's values are taken, with origin `inferred`,
only where everything the log shows agrees with it:

* one process on one rank, its saves all to the file's out_dir;
* evals exactly eval_interval apart and iteration lines exactly log_interval apart;
* saves exactly where val improved, as always_save_checkpoint=False saves (or after every
  eval past step 0, as True does);
* `tokens per iteration` and `number of parameters`, where printed, those of the file;
* the printed mfu, where printed, within MFU_FACTOR of what the file's model and batch give
  at the log's iteration times;
* max_iters and lr_decay_iters only when the log reaches max_iters (a run given
  `--max_iters` would stop before it).

Flags that change none of these (`--learning_rate`, `--dropout`, `--batch_size` without
its print) would not show: the facts built on these values say "inferred", a note says
from what, and train.py's defaults for the keys the file leaves alone stay unknown.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import config as C
from ..nanogpt import A100_BF16_PEAK, BATCH_KEYS, CONFIG_FILES, DATASET_VOCAB, flops_per_token, gpt_params

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..run import Header, Run
    from .linereader import Record

LENGTH_KEYS = ("max_iters", "lr_decay_iters")  # inferred only when the log reaches max_iters


def infer_config(records: list[Record], run: Run, header: Header) -> tuple[Run | None, str] | None:
    """`run` with the inferred config, and the note that says why; None where the log shows
    its config or does not point to a file; (None, why not) where it points to one but
    shows something the file contradicts."""
    dirs = {str(r.value).strip() for r in records if r.kind == "saving"}
    if run.config.seen or len(dirs) != 1 or (out_dir := dirs.pop()) not in CONFIG_FILES:
        return None
    name, values = CONFIG_FILES[out_dir]
    saves = np.array([r.line for r in records if r.kind == "saving"], np.int64)
    differs = ("it holds several processes, each of which may have run with other flags" if len(run.segments) != 1
               else "several ranks printed it (DDP), which that file's batch does not allow"
               if run.segments[0].world_size > 1
               else "it has too few evals or iteration lines to show their intervals"
               if min(len(run.evals), len(run.iters)) < 2
               else "its evals or iteration lines do not come at that file's intervals" if not _cadence(run, values)
               else "it saves where that file's always_save_checkpoint would not" if not _saves(run, saves, values)
               else "its printed tokens per iteration or parameter count is not that file's"
               if not _header(header, values)
               else "its printed mfu is not what that file's model would print at its iteration times"
               if not _mfu(run, header, values) else None)
    if differs:
        return None, (f"the log shows no config (no `Overriding` lines or config-file echo), so values that depend "
                      f"on it are unknown; its checkpoints go to {out_dir}, the out_dir of nanoGPT's {name}, but "
                      f"{differs}, so that file's values are not taken")
    taken = {k: v for k, v in values.items() if k not in LENGTH_KEYS or run.last_step >= values["max_iters"]}
    inferred = {k: C.ConfigValue(k, v, C.INFERRED, True, repr(v)) for k, v in taken.items()}
    config = replace(run.config, values={**run.config.values, **inferred})
    segments = tuple(replace(s, config=config if s.config is not None else None) for s in run.segments)
    left = [k for k in LENGTH_KEYS if k not in taken]
    note = (f"the log shows no config, but its checkpoints go to {out_dir}, and its evals (every "
            f"{values['eval_interval']} steps), iteration lines (every {values['log_interval']}) and saves are "
            f"those of nanoGPT's {name}: that file's values are taken (origin 'inferred'), as `python train.py "
            f"{name}` sets them; flags given beside it that change none of these would not show, and train.py's "
            "defaults for the keys it leaves alone stay unknown")
    if left:
        note += f"; {' and '.join(left)} are not taken: the log stops before the file's {values['max_iters']:,}"
    return replace(run, config=config, segments=segments), note


def _cadence(run: Run, values: Mapping[str, Any]) -> bool:
    """Evals exactly eval_interval apart, iteration lines exactly log_interval apart."""
    return (bool(np.all(np.diff(run.evals.step) == values["eval_interval"]))
            and bool(np.all(np.diff(run.iters.step) == values["log_interval"])))


def _saves(run: Run, saves: np.ndarray, values: Mapping[str, Any]) -> bool:
    """Whether the log saves after exactly the evals the file's always_save_checkpoint
    saves after: past step 0, every eval (True), or each that improved on the best (False)."""
    ev = run.evals
    best = math.inf
    for i, (step, val, line) in enumerate(zip(ev.step, ev.val, ev.line, strict=True)):
        nxt = ev.line[i + 1] if i + 1 < len(ev) else np.iinfo(np.int64).max
        saved = bool(((saves > line) & (saves < nxt)).any())
        due = values["always_save_checkpoint"] or val < best
        best = min(best, float(val)) if np.isfinite(val) else best
        if saved != bool(due and step > 0):
            return False
    return True


def _header(header: Header, values: Mapping[str, Any]) -> bool:
    """The printed tokens per iteration and parameter count, where printed, are the file's."""
    tokens = math.prod(values[k] for k in BATCH_KEYS)
    vocab = DATASET_VOCAB.get(values["dataset"])
    if header.tokens_per_iter not in (None, tokens):
        return False
    if header.params_m is None or vocab is None:
        return header.params_m is None
    no_wpe, _ = gpt_params(n_layer=values["n_layer"], n_embd=values["n_embd"], vocab_size=vocab,
                           block_size=values["block_size"], bias=False)
    return abs(header.params_m - no_wpe / 1e6) < 0.01  # printed as X.XXM


MFU_FACTOR = 3.0  # a printed mfu this far from the file's model's is another model or batch


def _mfu(run: Run, header: Header, values: Mapping[str, Any]) -> bool:
    """The printed mfu (train.py's running mean, in percent to two decimals), where printed,
    within MFU_FACTOR of what model.py's estimate_mfu gives the file's model and batch at the
    log's median iteration time: a log of 0.01% at 118 ms a step is no 10.7M-parameter model
    of 16,384 tokens a step, which would print about 3%."""
    mfu, ms = run.iters.mfu, run.iters.time_ms
    ok = np.isfinite(mfu) & (mfu >= 0) & np.isfinite(ms) & (ms > 0)  # -100: the first iterations'
    vocab = DATASET_VOCAB.get(values["dataset"]) or header.vocab_size
    if ok.sum() < 5 or vocab is None:
        return True
    no_wpe, _ = gpt_params(n_layer=values["n_layer"], n_embd=values["n_embd"], vocab_size=vocab,
                           block_size=values["block_size"], bias=bool(values.get("bias", False)))
    t = values["block_size"]
    per_token = flops_per_token(no_wpe, values["n_layer"], values["n_head"], values["n_embd"], t)
    per_iter = per_token * t * values["batch_size"] * values["gradient_accumulation_steps"]  # FLOPs
    expected = 100 * per_iter / (float(np.median(ms[ok])) / 1000) / A100_BF16_PEAK  # percent, as train.py prints
    printed = float(np.median(mfu[ok]))
    return bool((printed - 0.005) / MFU_FACTOR <= expected <= MFU_FACTOR * (printed + 0.005))  # printed to 0.01


def infer_cadence(run: Run, iter_stride: int = 1) -> tuple[Run, str | None]:
    """`run` with eval_interval and log_interval read off the spacing of its evals and
    iteration lines where its config leaves them at train.py's untrusted defaults, and the
    note that says so. train.py evaluates where step % eval_interval == 0 and prints where
    step % log_interval == 0: within one process the steps are then evenly spaced, and each
    is a multiple of that spacing. Only the processes that ran with this config count, and
    they must show the spacing twice (an excerpt's one gap may span lines left out); where
    only every `iter_stride`-th iteration line was kept, their spacing is not the log's."""
    cfg = run.config
    mine = [k for k, s in enumerate(run.segments) if s.config is cfg] or list(range(len(run.segments)))
    curves = [("eval_interval", run.evals)] + ([("log_interval", run.iters)] if iter_stride == 1 else [])
    found = {key: gap for key, curve in curves
             if _untrusted(cfg, key) and (gap := _spacing(curve.step, curve.segment, mine)) is not None}
    if not found:
        return run, None
    values = {k: C.ConfigValue(k, v, C.CADENCE, True, f"{WHAT[k]} {v:,} steps apart") for k, v in found.items()}
    return _with_values(run, values), cadence_note(found)


def _with_values(run: Run, values: Mapping[str, C.ConfigValue]) -> Run:
    """`run` with `values` added to its config, and to the processes' that ran with it."""
    cfg = run.config
    config = replace(cfg, values={**cfg.values, **values})
    segments = tuple(replace(s, config=config if s.config is cfg else s.config) for s in run.segments)
    return replace(run, config=config, segments=segments)


META_DIR = re.compile(r"(?:^|[/\\])data[/\\]([\w.-]+)[/\\]meta\.pkl$")  # train.py: data/DATASET/meta.pkl


def dataset_from_meta(run: Run, header: Header) -> Run:
    """`run` with its dataset read off the meta.pkl path train.py printed (`found
    vocab_size = 65 (inside data/shakespeare_char/meta.pkl)`: it reads
    os.path.join('data', dataset)), where its config leaves dataset unknown (_untrusted);
    origin `meta.pkl path`, and the rest of the config as untrusted as
    before (the log still shows no config)."""
    cfg = run.config
    if not _untrusted(cfg, "dataset") or not header.vocab_source:
        return run
    if (m := META_DIR.search(header.vocab_source)) is None:
        return run
    return _with_values(run, {"dataset": C.ConfigValue("dataset", m.group(1), C.META_PATH, True, header.vocab_source)})


def cadence_note(found: Mapping[str, int]) -> str:
    """The note on intervals read off the log's spacing (`found`: key -> steps)."""
    said = " and ".join(f"{k} {v:,}" for k, v in found.items())
    what = " and ".join(WHAT[k] for k in found)
    return (f"{said} {'are' if len(found) > 1 else 'is'} read off the steps of the log's {what} (origin "
            f"'{C.CADENCE}'): train.py {' and '.join(DOES[k] for k in found)} at the multiples of "
            f"{'each' if len(found) > 1 else 'it'}")


WHAT = {"eval_interval": "evals", "log_interval": "iteration lines"}
DOES = {"eval_interval": "evaluates", "log_interval": "prints"}


def _untrusted(cfg: C.Config, key: str) -> bool:
    """Whether the config leaves `key` unknown: unset, at train.py's untrusted default, or a
    config file's value the log's own numbers contradict (contradict.py: not taken)."""
    cv = cfg.values.get(key)
    return cv is None or not cv.known or (cv.origin == C.DEFAULT and not cfg.defaults_trusted)


def _spacing(steps: np.ndarray, segment: np.ndarray, mine: list[int]) -> int | None:
    """The one gap between consecutive distinct steps within each of the processes `mine`,
    seen at least twice, where each of their steps is a multiple of it; else None."""
    ours = [np.unique(steps[segment == k]) for k in mine]
    gaps = np.concatenate([np.diff(u) for u in ours]) if ours else np.zeros(0, np.int64)
    if len(gaps) < 2 or gaps.min() <= 0 or gaps.min() != gaps.max():
        return None
    gap = int(gaps[0])
    return gap if not any(np.any(u % gap) for u in ours) else None
