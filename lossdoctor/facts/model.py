"""The model's shape (n_layer, n_head, n_embd, block_size, bias, vocab_size) and nanoGPT's
parameter count.

Where the shape comes from, best first:
1. the checkpoint's `model_args` (what the saved model is);
2. `init_from='gpt2*'`: nanoGPT builds OpenAI's GPT-2 shape whatever the config says
   (`forcing vocab_size=50257, block_size=1024, bias=True`), then crops block_size;
3. `found vocab_size = N` in the log (vocab only);
4. the config the log showed. A run that resumed from a checkpoint takes its shape from
   that checkpoint, not from the config, so for a lineage that starts with a resume the
   config's shape is only 'assumed' unless the log's `number of parameters` confirms it;
   where the config file set init_from='gpt2*' (replaced by resume) and the printed count
   is that GPT-2's, its shape, inferred.
"""

from __future__ import annotations

import math
from typing import Any

from ..nanogpt import (
    DATASET_VOCAB,
    GPT2_BLOCK_SIZE,
    GPT2_VOCAB_SIZE,
    SHAPE_KEYS,
    gpt2_block_size,
    gpt2_model_args,
    prints_as,
)
from ..run import Run
from .base import Context, Fact, config_fact, config_source, unknown, why_unknown


def lineage_init_from(ctx: Context) -> str | None:
    """How the lineage's model was first made: 'scratch', 'resume', 'gpt2*' or None."""
    run = ctx.run
    lineage = run.lineage()
    if lineage and run.segments[lineage[0]].init_from:
        return run.segments[lineage[0]].init_from
    if run.header.init_from:
        return run.header.init_from
    value = ctx.config().trusted("init_from")
    return value if isinstance(value, str) else None


def resumed_fine_tune(run: Run) -> str | None:
    """The GPT-2 weights a resumed run most likely started from: its config file's
    init_from, replaced by --init_from=resume (None when the log shows no such thing)."""
    before = run.config.replaced.get("init_from")
    head = run.head()
    resumed = run.config.get("init_from") == "resume" or (head is not None and head.init_from == "resume")
    if before is None or not resumed or not isinstance(before.value, str) or not before.value.startswith("gpt2"):
        return None
    return before.value


def shape(ctx: Context) -> dict[str, Fact]:
    """The six shape facts, computed together (the resume check needs all of them)."""
    return ctx.memo("model_shape", lambda: _shape(ctx))


def _shape(ctx: Context) -> dict[str, Fact]:
    out = {k: _one(ctx, k) for k in SHAPE_KEYS}
    if lineage_init_from(ctx) == "resume":
        out = _check_resumed(ctx, out)
    return out


def _one(ctx: Context, key: str) -> Fact:
    run, config = ctx.run, ctx.config()
    ck = run.checkpoint
    if ck is not None and _valid(key, ck.model_args.get(key)):
        return Fact(key, ck.model_args[key], "", "read", "ckpt model_args")
    mapped = getattr(run.model_args, key, None)  # a fork's name for the key, mapped when read
    if ck is not None and _valid(key, mapped):
        return Fact(key, mapped, "", "read", "ckpt model_args (a fork's name for it)")
    init = lineage_init_from(ctx) or ""
    if init.startswith("gpt2"):
        fact = _gpt2(ctx, key, init)
        if fact is not None:
            return fact
    if key == "vocab_size" and run.header.vocab_size is not None:
        default = run.header.vocab_source == "gpt2 default"
        src = "log: defaulting to vocab_size of GPT-2" if default else "log: found vocab_size"
        return Fact(key, run.header.vocab_size, "", "read", src)
    if _valid(key, config.trusted(key)):
        return config_fact(ctx, key, key, "", config)  # read, or inferred from a config file
    if key == "vocab_size":
        dataset = config.trusted("dataset")
        if dataset in DATASET_VOCAB:
            return Fact(key, DATASET_VOCAB[dataset], "", "assumed",
                        f"dataset {dataset}: nanoGPT's data/{dataset}",
                        "the log does not print the vocab size")
    from .settings import FROM_SCRATCH
    fresh = init == "scratch" or (init == "" and (not config.seen or run.format.trainer in FROM_SCRATCH))
    if key == "vocab_size" and fresh:  # a model at its init: a config that names no vocabulary as well
        inferred = _vocab_from_first_loss(ctx)
        if inferred is not None:
            return inferred
    if key == "vocab_size" and config.seen:
        return unknown(key, "", "model config",
                       "the log prints no `found vocab_size` line and the dataset is not known")
    return unknown(key, "", "model config", why_unknown(config, key, ckpt=run.format.is_nanogpt))


def _vocab_from_first_loss(ctx: Context) -> Fact | None:
    """e^(val at step 0): a fresh model predicts about uniformly, at a loss of about ln V."""
    ev = ctx.curves()[0]
    run = ctx.run
    if not run.measures.steps_known or run.measures.val_unit != "nats":  # a table's final value, or bits per byte
        return None
    if not len(ev) or int(ev.step[0]) != 0 or not 0 < ev.val[0] < VOCAB_LOSS_MAX:
        return None
    return Fact("vocab_size", int(round(math.exp(float(ev.val[0])))), "", "inferred",
                "e^(val loss at step 0): a fresh model starts at about ln(vocab_size)",
                "an estimate, assuming the run started from scratch: a fresh model starts at or a "
                "little above ln V, more so the deeper it is, so this can read up to a third high "
                "(65 characters have read as 65 to 85)")


VOCAB_LOSS_MAX = math.log(2**20)  # a first loss above this is no vocabulary size nanoGPT trains


def _gpt2(ctx: Context, key: str, init: str) -> Fact | None:
    """What GPT.from_pretrained forces: the named checkpoint's shape, GPT-2's vocab,
    bias=True, and block_size 1024 cropped to the config's."""
    src = f"init_from={init}: OpenAI GPT-2 shape"
    if key in ("n_layer", "n_head", "n_embd"):
        args = gpt2_model_args(init)
        return None if args is None else Fact(key, args[key], "", "read", src)
    if key == "vocab_size":
        return Fact(key, GPT2_VOCAB_SIZE, "", "read", src)
    if key == "bias":
        return Fact(key, True, "", "read", src)
    size = gpt2_block_size(ctx.config().trusted("block_size"))
    if size < GPT2_BLOCK_SIZE:
        return Fact(key, size, "", "read", config_source(ctx.config(), "block_size"))
    return Fact(key, size, "", "read", src)


def _valid(key: str, value: Any) -> bool:
    if key == "bias":
        return isinstance(value, bool)
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_resumed(ctx: Context, out: dict[str, Fact]) -> dict[str, Fact]:
    """A resumed process takes its shape from the checkpoint. Shape values that came from
    the config are confirmed when the log's printed parameter count matches them."""
    from_config = [k for k, f in out.items() if f.source.startswith("config:")]
    if not from_config:
        return out
    printed = ctx.run.header.params_m
    if printed is not None and all(f.known for f in out.values()) and _prints_as(out, printed):
        note = "resumed run: confirmed by the log's number of parameters"
        return {k: (_with(f, "read", note) if k in from_config else f) for k, f in out.items()}
    if (gpt2 := _resumed_gpt2(ctx, printed)) is not None:
        return gpt2
    note = ("resumed run: the model shape comes from the checkpoint, which the log does "
            "not show; assumed equal to the config")
    return {k: (_with(f, "assumed", note) if k in from_config else f) for k, f in out.items()}


def _resumed_gpt2(ctx: Context, printed: float | None) -> dict[str, Fact] | None:
    """The shape of a resumed run whose config file set init_from='gpt2*' (the log overrides
    it with resume), where the log's printed parameter count is that GPT-2's (its vocab,
    bias=True, block_size cropped to the config's): the run most likely began as that
    fine-tune, and its checkpoint kept the shape. None otherwise."""
    init = resumed_fine_tune(ctx.run)
    if init is None or printed is None:
        return None
    out = {k: f for k in SHAPE_KEYS if (f := _gpt2(ctx, k, init)) is not None}
    if len(out) < len(SHAPE_KEYS) or not _prints_as(out, printed):
        return None
    note = (f"resumed run whose config file sets init_from='{init}' (the log overrides it with resume): "
            f"{init}'s shape, which the log's number of parameters ({printed:.2f}M) confirms")
    return {k: Fact(k, f.value, f.unit, "inferred", f.source, note) for k, f in out.items()}


def _prints_as(shape: dict[str, Fact], printed: float) -> bool:
    """Whether a shape's parameter count (without wpe) is what model.py printed, `printed`."""
    return prints_as(printed, n_layer=shape["n_layer"].value, n_embd=shape["n_embd"].value,
                     vocab_size=shape["vocab_size"].value, bias=shape["bias"].value)


def _with(f: Fact, status: str, note: str) -> Fact:
    return Fact(f.name, f.value, f.unit, status, f.source, note)  # type: ignore[arg-type]


# registered facts ----------------------------------------------------------------------

def n_layer(ctx: Context) -> Fact:
    return shape(ctx)["n_layer"]


def n_head(ctx: Context) -> Fact:
    return shape(ctx)["n_head"]


def n_embd(ctx: Context) -> Fact:
    return shape(ctx)["n_embd"]


def block_size(ctx: Context) -> Fact:
    return shape(ctx)["block_size"]


def bias(ctx: Context) -> Fact:
    return shape(ctx)["bias"]


def vocab_size(ctx: Context) -> Fact:
    return shape(ctx)["vocab_size"]
