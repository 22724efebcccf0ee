"""nanoGPT's semantics, in one place (karpathy/nanoGPT @ 3adf61e1).

What nanoGPT's train.py, model.py and configurator.py define and lossdoctor relies on:

* train.py's config keys, their defaults and types, and how configurator.py reads a
  `--key=value` flag;
* the model keys (model.py's GPTConfig) and the shapes of OpenAI's GPT-2 checkpoints;
* the learning-rate schedule (train.py's get_lr);
* the eval defaults (estimate_loss averages eval_iters batches every eval_interval steps);
* the layout of `ckpt.pt` and the one function that loads it (`nanogpt.checkpoint`).

Only the standard library is imported here; numpy (the LR schedule) and torch
(checkpoints) are imported inside the functions that need them.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..frozen import FrozenDict
from .checkpoint import (
    CHECKPOINT_KEYS,
    CKPT_NAME,
    RESUME_KEYS,
    WRAPPER_PREFIXES,
    is_mask_buffer,
    load_checkpoint,
    state_dict,
    strip_prefixes,
)

if TYPE_CHECKING:
    import numpy as np

# ---------------------------------------------------------------------------------------
# train.py's config

EVAL_INTERVAL_DEFAULT = 2000  # steps between evals
EVAL_ITERS_DEFAULT = 200  # batches (of batch_size rows) each eval averages, per split

# train.py's defaults, in its own order. dtype depends on the machine that ran it:
# 'bfloat16' if CUDA with bf16 support is available, else 'float16' (ignored on CPU).
NANOGPT_DEFAULTS: Mapping[str, Any] = FrozenDict({
    "out_dir": "out",
    "eval_interval": EVAL_INTERVAL_DEFAULT,
    "log_interval": 1,
    "eval_iters": EVAL_ITERS_DEFAULT,
    "eval_only": False,
    "always_save_checkpoint": True,
    "init_from": "scratch",
    "wandb_log": False,
    "wandb_project": "owt",
    "wandb_run_name": "gpt2",
    "dataset": "openwebtext",
    "gradient_accumulation_steps": 5 * 8,
    "batch_size": 12,
    "block_size": 1024,
    "n_layer": 12,
    "n_head": 12,
    "n_embd": 768,
    "dropout": 0.0,
    "bias": False,
    "learning_rate": 6e-4,
    "max_iters": 600000,
    "weight_decay": 1e-1,
    "beta1": 0.9,
    "beta2": 0.95,
    "grad_clip": 1.0,
    "decay_lr": True,
    "warmup_iters": 2000,
    "lr_decay_iters": 600000,
    "min_lr": 6e-5,
    "backend": "nccl",
    "device": "cuda",
    "dtype": "bfloat16",
    "compile": True,
})
NANOGPT_KEYS = frozenset(NANOGPT_DEFAULTS)
# configurator.py accepts a new value only of its default's type
KEY_TYPES: Mapping[str, type] = FrozenDict({k: type(v) for k, v in NANOGPT_DEFAULTS.items()})
MACHINE_DEPENDENT_DEFAULTS: Mapping[str, str] = FrozenDict(
    {"dtype": "bfloat16 on a bf16-capable CUDA machine, else float16"})
# tokens per iteration = their product (times the DDP world size), as train.py prints it
BATCH_KEYS = ("gradient_accumulation_steps", "batch_size", "block_size")
DTYPES = ("float32", "bfloat16", "float16")  # the dtypes train.py maps to a torch dtype
# keys that count something (rows, layers, batches, steps): train.py needs at least 1
COUNT_KEYS = ("batch_size", "block_size", "n_layer", "n_head", "n_embd", "eval_iters",
              "log_interval", "eval_interval", "gradient_accumulation_steps")

# nanoGPT's config files, by the out_dir each sets (the name a log's `saving checkpoint to`
# lines give): the keys each sets, as `python train.py config/FILE` runs it without flags
CONFIG_FILES: Mapping[str, tuple[str, Mapping[str, Any]]] = FrozenDict({
    "out-shakespeare-char": ("config/train_shakespeare_char.py", FrozenDict({
        "out_dir": "out-shakespeare-char", "eval_interval": 250, "eval_iters": 200, "log_interval": 10,
        "always_save_checkpoint": False, "wandb_log": False, "wandb_project": "shakespeare-char",
        "wandb_run_name": "mini-gpt", "dataset": "shakespeare_char", "gradient_accumulation_steps": 1,
        "batch_size": 64, "block_size": 256, "n_layer": 6, "n_head": 6, "n_embd": 384, "dropout": 0.2,
        "learning_rate": 1e-3, "max_iters": 5000, "lr_decay_iters": 5000, "min_lr": 1e-4, "beta2": 0.99,
        "warmup_iters": 100})),
})


def config_file_values(path: str) -> Mapping[str, Any] | None:
    """The keys nanoGPT's config file at `path` sets, as nanoGPT ships it (matched by its
    name under config/: `config/train_shakespeare_char.py`, `./config/...`, `/abs/nanoGPT/config/...`),
    or None where it is not one of CONFIG_FILES."""
    norm = path.replace("\\", "/")
    for name, values in CONFIG_FILES.values():
        if norm.removeprefix("./") == name or norm.endswith("/" + name):
            return values
    return None


def printed_m(n: int | float) -> str:
    """How model.py prints a parameter count: '%.2f' of millions."""
    return f"{n / 1e6:.2f}"


def prints_as(printed: float, *, n_layer: int, n_embd: int, vocab_size: int, bias: bool) -> bool:
    """Whether a model of this shape is what `number of parameters: X.XXM` printed
    (`printed`, in millions): its count without wpe, the only part block_size sets."""
    return printed_m(gpt_params(n_layer=n_layer, n_embd=n_embd, vocab_size=vocab_size, block_size=0,
                                bias=bias)[0]) == f"{printed:.2f}"


def gpt_params(*, n_layer: int, n_embd: int, vocab_size: int, block_size: int,
               bias: bool) -> tuple[int, int]:
    """nanoGPT GPT's parameter count as (without wpe, total).

    `without wpe` is what `number of parameters: X.XXM` prints and estimate_mfu uses.
    Per block, weights: c_attn 3C², attn.c_proj C², mlp.c_fc 4C², mlp.c_proj 4C² = 12C²,
    plus ln_1 and ln_2 weights 2C. With bias add c_attn 3C + attn.c_proj C + c_fc 4C +
    mlp.c_proj C + ln_1, ln_2 biases 2C = 11C. Outside the blocks: wte V·C (tied to lm_head,
    counted once), ln_f C (2C with bias), wpe T·C.
    """
    c = n_embd
    per_layer = 12 * c * c + 2 * c + (11 * c if bias else 0)
    ln_f = 2 * c if bias else c
    no_wpe = n_layer * per_layer + vocab_size * c + ln_f
    return no_wpe, no_wpe + block_size * c


A100_BF16_PEAK = 312e12  # FLOP/s: model.py estimate_mfu's `flops_promised`, whatever the device


def flops_per_token(params: int, n_layer: int, n_head: int, n_embd: int, block_size: int) -> int:
    """Training FLOPs per token as model.py's estimate_mfu counts them (PaLM appendix B): 6N
    for the weights' forward and backward (N: parameters without wpe), 12·L·H·Q·T for
    attention (Q = n_embd // n_head)."""
    return 6 * params + 12 * n_layer * n_head * (n_embd // n_head) * block_size


def device_type(device: str) -> str:
    """train.py's `device_type = 'cuda' if 'cuda' in device else 'cpu'`: autocast runs only for
    'cuda' (stock nanoGPT has no 'mps' case, so an MPS run is 'cpu' here)."""
    return "cuda" if "cuda" in device else "cpu"


def configurator_value(text: str) -> Any:
    """A `--key=value` flag's value as configurator.py reads it: a Python literal, else
    the text itself (a bare word is a string)."""
    try:
        return ast.literal_eval(text)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return text


def flag_value(value: float | int | bool | str, key: str | None = None) -> str:
    """A value as a `--key=value` flag writes it so that configurator.py reads back the type
    of `key`'s default: a float always as a float literal (0.0, not 0: train.py's type check
    refuses an int for a float key; a config file, exec'd, may have set `min_lr = 0`),
    shortest first (6e-05, 0.002)."""
    if key is not None and KEY_TYPES.get(key) is float and type(value) is int:
        value = float(value)
    if isinstance(value, float):
        text = f"{value:g}"
        return text if any(c in text for c in ".en") else text + ".0"  # e: 1e-05; n: inf, nan
    return str(value)


def accepts(key: str, value: object) -> bool:
    """Whether configurator.py accepts `value` for train.py's `key`: same type as the
    default (an int is no float, a bool no int)."""
    return key in KEY_TYPES and type(value) is KEY_TYPES[key]


# ---------------------------------------------------------------------------------------
# model.py

# GPTConfig's fields, in model.py's order: a checkpoint's model_args holds these
MODEL_KEYS: tuple[str, ...] = ("n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size", "dropout")
SHAPE_KEYS: tuple[str, ...] = MODEL_KEYS[:6]  # the ones that fix the weights' shapes

# GPT.from_pretrained: (n_layer, n_head, n_embd) per OpenAI checkpoint; it forces the
# GPT-2 vocab, block_size 1024 and bias=True, then train.py crops block_size down
GPT2_SHAPES: Mapping[str, tuple[int, int, int]] = FrozenDict({
    "gpt2": (12, 12, 768),
    "gpt2-medium": (24, 16, 1024),
    "gpt2-large": (36, 20, 1280),
    "gpt2-xl": (48, 25, 1600),
})
GPT2_VOCAB_SIZE = 50257
GPT2_BLOCK_SIZE = 1024
# train.py's vocab_size when the dataset has no meta.pkl: GPT-2's rounded up to a multiple of 64
PADDED_VOCAB_SIZE = 50304
# vocab of nanoGPT's datasets: shakespeare_char's meta.pkl has 65 characters; the GPT-2
# BPE datasets have no meta.pkl
DATASET_VOCAB: Mapping[str, int] = FrozenDict(
    {"shakespeare_char": 65, "openwebtext": PADDED_VOCAB_SIZE, "shakespeare": PADDED_VOCAB_SIZE})


def gpt2_block_size(wanted: object) -> int:
    """block_size of a model started from GPT-2 weights: 1024, cropped to the config's
    block_size when that is smaller."""
    if isinstance(wanted, int) and not isinstance(wanted, bool) and 0 < wanted < GPT2_BLOCK_SIZE:
        return wanted
    return GPT2_BLOCK_SIZE


def gpt2_model_args(model_type: str, block_size: object = None) -> dict[str, Any] | None:
    """The shape keys GPT.from_pretrained(`model_type`) builds (block_size cropped to
    `block_size`), or None for a name that is no OpenAI checkpoint."""
    if model_type not in GPT2_SHAPES:
        return None
    n_layer, n_head, n_embd = GPT2_SHAPES[model_type]
    return {"n_layer": n_layer, "n_head": n_head, "n_embd": n_embd,
            "block_size": gpt2_block_size(block_size), "bias": True, "vocab_size": GPT2_VOCAB_SIZE}


# ---------------------------------------------------------------------------------------
# train.py's learning-rate schedule

SCHEDULE_KEYS = ("learning_rate", "warmup_iters", "lr_decay_iters", "min_lr", "decay_lr")
# what a retraining of a logged run cannot guess: the model, the tokens per step, the peak
# LR and the length (lossdoctor verify refuses a log that does not show them)
RETRAIN_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "gradient_accumulation_steps",
                "learning_rate", "max_iters")


def lr_at(steps: Any, *, learning_rate: float, warmup_iters: int, lr_decay_iters: int,
          min_lr: float, decay_lr: bool = True, legacy_warmup: bool = False) -> np.ndarray:
    """LR (float64) at each step, as nanoGPT's get_lr gives it.

    1. it < warmup_iters: learning_rate * (it + 1) / (warmup_iters + 1)
    2. it > lr_decay_iters: min_lr
    3. else cosine from learning_rate down to min_lr over [warmup_iters, lr_decay_iters].
    With decay_lr False the LR is learning_rate at every step (no warmup either).

    Before commit dc81cb36 (Dec 2024) warmup was learning_rate * it / warmup_iters, so the
    LR at iteration 0 was 0 (the first update did nothing): pass legacy_warmup=True for it.
    """
    import numpy as np
    it = np.asarray(steps, dtype=np.float64)
    if not decay_lr:
        return np.full(it.shape, float(learning_rate))
    out = np.full(it.shape, float(min_lr))  # it > lr_decay_iters
    warm = it < warmup_iters
    if legacy_warmup:
        out[warm] = learning_rate * it[warm] / warmup_iters if warmup_iters > 0 else 0.0
    else:
        out[warm] = learning_rate * (it[warm] + 1) / (warmup_iters + 1)
    mid = ~warm & (it <= lr_decay_iters)  # each branch computed on its own steps only
    span = lr_decay_iters - warmup_iters
    # span == 0 made get_lr divide by zero at that one step; nanoGPT never got past it
    ratio = (it[mid] - warmup_iters) / span if span != 0 else np.zeros(int(mid.sum()))
    out[mid] = min_lr + 0.5 * (1.0 + np.cos(np.pi * ratio)) * (learning_rate - min_lr)
    return out


def get_lr(it: int, config: Mapping[str, Any]) -> float:
    """The LR train.py sets at iteration `it` (`get_lr(it) if decay_lr else learning_rate`)
    with `config`'s schedule keys."""
    return float(lr_at(it, **{k: config[k] for k in SCHEDULE_KEYS}))


__all__ = [
    "A100_BF16_PEAK", "BATCH_KEYS", "CHECKPOINT_KEYS", "CKPT_NAME", "COUNT_KEYS", "DATASET_VOCAB", "DTYPES",
    "EVAL_INTERVAL_DEFAULT", "EVAL_ITERS_DEFAULT", "GPT2_BLOCK_SIZE", "GPT2_SHAPES", "GPT2_VOCAB_SIZE", "KEY_TYPES",
    "MACHINE_DEPENDENT_DEFAULTS", "MODEL_KEYS", "NANOGPT_DEFAULTS", "NANOGPT_KEYS", "PADDED_VOCAB_SIZE",
    "RESUME_KEYS", "SCHEDULE_KEYS", "SHAPE_KEYS", "WRAPPER_PREFIXES", "accepts", "configurator_value", "device_type",
    "flops_per_token", "get_lr", "gpt2_block_size", "gpt2_model_args", "is_mask_buffer", "load_checkpoint", "lr_at",
    "state_dict", "strip_prefixes",
]
