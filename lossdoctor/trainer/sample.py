"""Text from a checkpoint: what a val loss of 1.89 reads like next to 1.47.

`sample(path)` loads a nanoGPT or lossdoctor ckpt.pt (weights_only=True: no code runs),
builds the built-in GPT from its model_args and generates as nanoGPT's sample.py does:
temperature, then top-k, then a multinomial draw, one token at a time, the context cropped
to block_size. Text is decoded with the run's character vocabulary: the meta.pkl next to
the checkpoint (the trainer writes one), else `data/DATASET/meta.pkl` here, else the text
file given as `data`, each read without running code. A GPT-2 BPE vocabulary needs its
tokenizer, which lossdoctor does not ship: the error says so.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InputError, UsageError, checked_path
from .checkpoint import VAL_AT_SAVE_KEY, VAL_STEP_KEY

if TYPE_CHECKING:
    import torch

    from .model import GPT


@dataclass(frozen=True)
class Sample:
    path: str  # the checkpoint
    step: int | None  # its iter_num
    best_val_loss: float | None  # as the checkpoint records it (the best eval's val so far)
    vocab: str  # where the vocabulary came from
    text: str  # the start text followed by the generated text
    # always_save_checkpoint=True: best_val_loss is the val of the eval it was saved at, not the best
    val_at_save: bool = False
    val_step: int | None = None  # the step of that val, where the checkpoint records it
    note: str = ""  # how the vocabulary was fitted to the model, where it was


def _check(start: str | None, max_new_tokens: object, temperature: object, top_k: object, data: str | None,
           meta: str | None, seed: object) -> None:
    """The arguments sample() cannot use, as a UsageError."""
    def whole(x: object) -> bool:
        return isinstance(x, numbers.Integral) and not isinstance(x, bool) and int(x) > 0
    if start == "":
        raise UsageError("the start text is empty: the model needs at least one character to start from "
                         "(None starts from a newline, or the vocabulary's first character)")
    if not whole(max_new_tokens):
        raise UsageError(f"max_new_tokens {max_new_tokens!r}: expected a whole number of characters above 0")
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) \
            or not 0 < float(temperature) < math.inf:
        raise UsageError(f"temperature {temperature!r}: expected a number above 0")
    if top_k is not None and not whole(top_k):
        raise UsageError(f"top_k {top_k!r}: expected a whole number above 0, or None for every character")
    if data is not None and meta is not None:
        raise UsageError("data and meta both give the vocabulary: give one")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise UsageError(f"seed {seed!r}: expected a whole number, 0 or above")


def sample(path: str, start: str | None = None, max_new_tokens: int = 300, temperature: float = 0.8,
           top_k: int | None = 200, seed: int = 1337, data: str | None = None, meta: str | None = None) -> Sample:
    """Generate `max_new_tokens` characters after `start` from the checkpoint at `path` (a
    ckpt.pt, or a run directory holding one); start None: a newline, as sample.py starts, or
    the vocabulary's first character (id 0) where the text had no newline. `data` (the
    training text or its directory) or `meta` (a meta.pkl) gives the vocabulary instead of
    the meta.pkl next to the checkpoint.

    Raises:
        UsageError: a path that is no str or os.PathLike, an empty start, a temperature,
            top_k or max_new_tokens that is no positive number, a seed that is no whole
            number from 0, or both data and meta.
        InputError: a checkpoint or vocabulary that cannot be read or used.
    """
    import torch

    from .. import nanogpt
    _check(start, max_new_tokens, temperature, top_k, data, meta, seed)
    path = os.path.join(p, "ckpt.pt") if os.path.isdir(p := checked_path("sample", path)) else p
    ckpt = nanogpt.load_checkpoint(path, require=("model",))
    model = _model(path, ckpt)
    model.eval()
    stoi, where = _vocabulary(path, ckpt, data, meta)
    size, chars = model.config.vocab_size, len(stoi)
    padded = size % 64 == 0 and 0 <= size - chars < 64  # padding up to a multiple of 64: ids never trained
    # train.py found no meta.pkl and gave the model GPT-2's outputs, trained on character ids all the same
    gpt2_sized = size == nanogpt.PADDED_VOCAB_SIZE and chars < size
    if chars != size and not padded and not gpt2_sized:  # another text's characters: its ids decode to other ones
        raise InputError(where, f"its vocabulary has {chars} characters, the model's {size}: "
                                "give the text or meta.pkl the run was trained on")
    note = (f"{chars} characters for the model's {size:,} outputs (train.py's GPT-2 default where it finds no "
            f"meta.pkl): the ids past them have no character and are never drawn") if gpt2_sized else (
        f"{chars} characters for the model's {size} outputs, taken as padded up to a multiple of 64: the ids past "
        "them are never drawn (if this is not the vocabulary the run trained on, give its text or meta.pkl)"
        if chars != size else "")
    itos = {i: ch for ch, i in stoi.items()}
    no_char = torch.tensor([i not in itos for i in range(size)])  # (V,) ids without a character: never drawn
    if start is None:
        start = "\n" if "\n" in stoi else itos[min(itos)]
    unknown = sorted({ch for ch in start if ch not in stoi})
    if unknown:
        raise InputError(path, f"the start text has characters the model never saw: {''.join(unknown)!r}")
    torch.manual_seed(seed)
    idx = _draw(model, torch.tensor([[stoi[ch] for ch in start]], dtype=torch.long), max_new_tokens, temperature,
                top_k, no_char)
    text = "".join(itos[int(i)] for i in idx[0].tolist())
    own = ckpt.get(VAL_AT_SAVE_KEY)  # the final model, saved when no eval improved: its own val
    best = own if own is not None else ckpt.get("best_val_loss")
    val = float(best) if best is not None and math.isfinite(float(best)) and float(best) < 1e8 else None
    step = ckpt.get("iter_num")
    every_eval = (ckpt.get("config") or {}).get("always_save_checkpoint") is True  # nanoGPT overwrites it then
    at = ckpt.get(VAL_STEP_KEY) if own is not None else None
    if at == 0:  # its only eval was the untrained model's: the final model's own val is unknown
        val = None
    return Sample(path, int(step) if step is not None else None, val, where, text, every_eval or own is not None,
                  int(at) if at is not None else None, note)


def _model(path: str, ckpt: dict[str, Any]) -> GPT:
    """The checkpoint's GPT in eval mode, dropout off; its shape from model_args, or from
    the weights' shapes where a fork's model_args lacks keys."""
    from .. import nanogpt
    from ..readers.checkpoint import normalize_model_args
    from .model import GPT, GPTConfig
    state = {k: v for k, v in nanogpt.state_dict(ckpt["model"]).items() if not nanogpt.is_mask_buffer(k, v)}
    # a fork's names and gaps: the shapes of the weights fill in what model_args lacks
    args, _ = normalize_model_args(ckpt.get("model_args") or {}, {k: tuple(v.shape) for k, v in state.items()})
    missing = [k for k in nanogpt.SHAPE_KEYS if k not in args]
    if missing:
        raise InputError(path, f"cannot build its model: {', '.join(missing)} unknown")
    model = GPT(GPTConfig(**{**{k: args[k] for k in nanogpt.MODEL_KEYS if k in args}, "dropout": 0.0}))
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise InputError(path, "its weights do not fit nanoGPT's GPT of that shape: "
                               + (first[1].strip() if len(first) > 1 else first[0])) from None
    return model.eval()


def _draw(model: GPT, idx: torch.Tensor, n: int, temperature: float, top_k: int | None,
          no_char: torch.Tensor) -> torch.Tensor:
    """idx (1, T) with n ids drawn after it, one at a time; ids in no_char (V,) never."""
    import torch
    with torch.no_grad():
        for _ in range(n):
            logits, _ = model(idx[:, -model.config.block_size:])  # (1, 1, V)
            logits = logits[:, -1, :].double()  # (1, V); float64: a temperature of 1e-300 is no 0 there
            # from the largest logit down, so that a tiny temperature makes the draw greedy, not inf - inf
            logits = (logits - logits.max(dim=-1, keepdim=True).values) / temperature
            logits[:, no_char] = -float("inf")
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("inf")
            nxt = torch.multinomial(torch.softmax(logits, dim=-1), num_samples=1)  # (1, 1)
            idx = torch.cat((idx, nxt), dim=1)
    return idx


def _vocabulary(path: str, ckpt: dict[str, Any], data: str | None, meta: str | None) -> tuple[dict[str, int], str]:
    """(char -> id, where it came from) for the checkpoint's run."""
    from .data import load_data, read_meta
    if meta and not os.path.isfile(meta):  # asked for by name: not passed over for another
        raise InputError(meta, "not a file (--meta)" if os.path.exists(meta) else "file not found (--meta)")
    candidates = [meta] if meta else []
    candidates.append(os.path.join(os.path.dirname(os.path.abspath(path)), "meta.pkl"))
    dataset = (ckpt.get("config") or {}).get("dataset")
    if isinstance(dataset, str) and dataset:
        candidates.append(os.path.join("data", dataset, "meta.pkl"))
    if data is None:
        for c in candidates:
            if os.path.isfile(c):
                m = read_meta(c)
                if isinstance(m.get("stoi"), dict):
                    return {str(k): int(v) for k, v in m["stoi"].items()}, c
        vocab = (ckpt.get("model_args") or {}).get("vocab_size")
        why = ("a GPT-2 BPE vocabulary: lossdoctor decodes character vocabularies only"
               if vocab and vocab > 1000 else "no meta.pkl next to it or in data/DATASET")
        raise InputError(path, f"cannot decode its tokens ({why}); give --data TEXT or --meta META.pkl")
    d = load_data(data)
    if d.stoi is None:
        raise InputError(data, "not a character-level text or a data directory with a meta.pkl")
    return dict(d.stoi), data
