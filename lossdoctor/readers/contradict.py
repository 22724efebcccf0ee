"""A config the log's own printed numbers contradict.

nanoGPT prints `tokens per iteration will be: N` and `number of parameters: X.XXM` after
its config. Where the config the log shows gives other numbers, part of what ran is not
in the log: a paste that elided the config echo (train.py's defaults then do not stand),
or one that kept the config file's echo and dropped the `Overriding:` lines after it (the
file's values for the batch, or for the model's shape, were then replaced by flags the
log does not show). Those values are kept as unknown, said in the notes, rather than read
as what ran.
"""

from __future__ import annotations

import math
from dataclasses import replace

from .. import config as C
from ..nanogpt import BATCH_KEYS, gpt_params, printed_m, prints_as

SHAPE_KEYS = ("n_layer", "n_head", "n_embd")  # what the printed count contradicts, changed together by flags


def checked(cfg: C.Config, tokens: int | None, params_m: float | None, vocab: int | None) -> C.Config:
    """`cfg` with what its printed tokens per iteration and parameter count contradict
    taken back: train.py's defaults (no longer trusted), or a config file's values that
    flags the log does not show must have replaced (unknown)."""
    cfg = _batch(cfg, tokens)
    return _shape(cfg, params_m, vocab)


def _batch(cfg: C.Config, tokens: int | None) -> C.Config:
    if not cfg.seen or tokens is None:
        return cfg
    if cfg.get("init_from") == "resume" and cfg["block_size"].origin == C.DEFAULT:
        return cfg  # a resume's sequences are its checkpoint's block_size, which its config need not set
    vals = [cfg.get(k) for k in BATCH_KEYS]
    if not all(isinstance(v, int) for v in vals) or math.prod(vals) == tokens:
        return cfg
    if tokens % math.prod(vals) == 0 and all(cfg[k].origin != C.DEFAULT for k in BATCH_KEYS):
        return cfg  # a whole multiple: a fork that counts every process's tokens (it does not divide the accumulation)
    if any(cfg[k].origin == C.DEFAULT for k in BATCH_KEYS):
        return replace(cfg, defaults_ok=False, defaults_why=(
            f"its tokens per iteration ({tokens:,}) contradict train.py's defaults for the batch (a config "
            "echo cut short?)"))
    shown = " x ".join(str(v) for v in vals)
    return _unknown(cfg, BATCH_KEYS, f"its tokens per iteration ({tokens:,}) contradict the batch it shows "
                                     f"({shown}, {' x '.join(BATCH_KEYS)})")


def _shape(cfg: C.Config, params_m: float | None, vocab: int | None) -> C.Config:
    layers, width, bias = (cfg.get(k) for k in ("n_layer", "n_embd", "bias"))
    if params_m is None or vocab is None or not cfg.seen:
        return cfg
    init = cfg.get("init_from")
    if isinstance(init, str) and (init == "resume" or init.startswith("gpt2")):
        return cfg  # the model is the checkpoint's (or OpenAI's) whatever the file says: its count is that model's
    if not (isinstance(layers, int) and isinstance(width, int) and isinstance(bias, bool)):
        return cfg
    if any(cfg[k].origin == C.DEFAULT for k in ("n_layer", "n_embd")):
        return cfg  # train.py's 124M: a resume or a GPT-2 fine-tune is checked where its facts are made
    if prints_as(params_m, n_layer=layers, n_embd=width, vocab_size=vocab, bias=bias):
        return cfg
    no_wpe, _ = gpt_params(n_layer=layers, n_embd=width, vocab_size=vocab, block_size=0, bias=bias)
    return _unknown(cfg, SHAPE_KEYS, f"its printed parameter count ({params_m:.2f}M) contradicts the model it "
                                     f"shows ({layers} layers x {width}, {printed_m(no_wpe)}M)")


REPLACED = "flags the log does not show replaced some of its config file's values"


def said(cfg: C.Config) -> bool:
    """Whether the config's problems already say why train.py's defaults do not stand."""
    return cfg.defaults_why == REPLACED


def _unknown(cfg: C.Config, keys: tuple[str, ...], why: str) -> C.Config:
    """The config file's values that the log's numbers contradict, unknown: flags the log
    does not show replaced them. Where the log shows none of `keys` as a flag, every value
    the file set, since any of them may have been replaced the same way (nanoGPT's CPU run
    overrides its file's max_iters, dropout and eval settings too); where it shows some of
    them, the file's values among `keys` alone (the log dropped only some of its flags)."""
    suspect = [k for k in keys if k in cfg.values and cfg[k].origin == C.FILE and cfg[k].known]
    if not suspect:
        return cfg
    partial = any(cfg[k].origin == C.OVERRIDE for k in keys if k in cfg.values)
    from_file = suspect if partial else [k for k, cv in cfg.values.items() if cv.origin == C.FILE and cv.known]
    dropped = {k: C.not_taken(cfg[k], f"{why}: flags may have replaced it") for k in from_file}
    which = ("so its values for them are not taken as what ran" if partial else
             "so none of them is taken as what ran")
    note = (f"{why}: flags the log does not show replaced the config file's values, {which} "
            f"({', '.join(from_file[:6])}{' ...' if len(from_file) > 6 else ''})")
    return replace(cfg, values={**cfg.values, **dropped}, defaults_ok=False, defaults_why=REPLACED,
                   problems=(*cfg.problems, note))
