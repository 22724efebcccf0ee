"""How big the model is and how much it was trained: parameters, tokens, FLOPs, epochs."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from ..config import DEFAULT
from ..nanogpt import BATCH_KEYS, DATASET_VOCAB, gpt_params, printed_m
from ..nanogpt import flops_per_token as model_flops_per_token
from ..run import Dialect
from .base import NO_STEP, Context, Fact, config_fact, derived, join_notes, missing, unknown
from .loss import SUMMARIES, logged_step
from .model import shape
from .settings import not_numbers

if TYPE_CHECKING:
    from ..run import IterCurve

# nanoGPT data/shakespeare_char/prepare.py prints "train has 1,003,854 tokens" (and
# "val has 111,540 tokens") for the standard 1,115,394-character tiny shakespeare
SHAKESPEARE_CHAR_TRAIN_TOKENS = 1_003_854
# entropy (nats) of the character frequencies of the first 90% of tiny shakespeare's
# input.txt, the train split data/shakespeare_char/prepare.py writes (65 symbols): the loss
# of a model that predicts each character by its frequency alone
SHAKESPEARE_CHAR_UNIGRAM_ENTROPY = 3.3091

WPE_SOURCE = "block_size·n_embd"


def _wpe(ctx: Context) -> tuple[int | None, list[Fact]]:
    """Position-embedding parameters (T·C) and the facts they came from."""
    s = shape(ctx)
    t, c = s["block_size"], s["n_embd"]
    return (t.value * c.value if t.known and c.known else None), [t, c]


def _formula(ctx: Context) -> tuple[tuple[int, int] | None, list[Fact]]:
    """(without wpe, total) from the model shape via gpt_params, and the shape facts."""
    s = shape(ctx)
    used = [s[k] for k in ("n_layer", "n_embd", "vocab_size", "block_size", "bias")]
    if not all(f.known for f in used):
        return None, used
    return gpt_params(n_layer=s["n_layer"].value, n_embd=s["n_embd"].value,
                      vocab_size=s["vocab_size"].value, block_size=s["block_size"].value,
                      bias=s["bias"].value), used


def _groups_total(ctx: Context) -> int | None:
    """Exact parameter count incl. wpe: `num decayed ... with N` + `num non-decayed ... with M`."""
    h = ctx.run.header
    if h.decayed_params is None or h.nodecay_params is None:
        return None
    return h.decayed_params + h.nodecay_params


def params(ctx: Context) -> Fact:
    """Parameters excluding position embeddings: nanoGPT's `number of parameters`, the N of
    estimate_mfu's 6N. Exact values win over the log's 0.01M rounding when they agree with it."""
    name, unit = "params", "params"
    if (mine := _trainers_count(ctx, name)) is not None:
        return mine
    ck = ctx.run.checkpoint
    if ck is not None and ck.n_params_no_wpe:
        return Fact(name, ck.n_params_no_wpe, unit, "read", "ckpt state dict (excl. wpe)")
    printed = ctx.run.header.params_m
    shown = None if printed is None else f"{printed:.2f}"
    total, (wpe, wpe_from) = _groups_total(ctx), _wpe(ctx)
    if total is not None and wpe is not None and shown in (None, printed_m(total - wpe)):
        return Fact(name, total - wpe, unit, derived(*wpe_from),
                    f"log: decayed + non-decayed parameters - {WPE_SOURCE}")
    formula, used = _formula(ctx)
    if printed is not None:
        if formula is not None and printed_m(formula[0]) == shown:
            return Fact(name, formula[0], unit, derived(*used),
                        f"nanoGPT GPT formula from the model config (log: {shown}M)")
        note = "rounded to 0.01M as printed"
        if formula is not None:
            note += f"; the config's shape gives {formula[0]:,}, so the model is not stock nanoGPT"
        return Fact(name, round(printed * 1e6), unit, "read", "log: number of parameters", note)
    if formula is not None:
        return Fact(name, formula[0], unit, derived(*used),
                    "nanoGPT GPT formula from the model config")
    return missing(name, unit, "nanoGPT GPT formula from the model config", *used)


PARAM_COUNT_KEYS = ("n_params", "num_params", "num_parameters", "n_parameters")  # a table's column of it


def _stated_count(ctx: Context) -> tuple[str, int] | None:
    """(key, value) of a parameter count the run's file states among its config values (a
    runs table's n_params column). It is taken as the model's total unless it equals
    nanoGPT's count without position embeddings (get_num_params' default) for a model the
    config does not say lacks them (params_total)."""
    config = ctx.config()
    for key in PARAM_COUNT_KEYS:
        cv = config.values.get(key)
        if cv is not None and cv.origin != DEFAULT and isinstance(cv.value, int) and cv.value > 0:
            return key, cv.value
    return None


# a config value that says the model learns no position-embedding table
POSITION_KEY = re.compile(r"(?i)^pos(ition)?(al)?_?(enc(oding)?|emb(edding)?)(_type)?$")
NO_WPE = re.compile(r"(?i)^(none|no|false|rope|rotary|alibi|nope|sinusoidal)$")


def _no_learned_wpe(ctx: Context) -> bool:
    """Whether the run's config says its model has no learned position embeddings (a runs
    table's pos_encoding of none, rope or alibi), so a stated count without them is its total."""
    return any(POSITION_KEY.match(k) and NO_WPE.match(str(cv.value)) for k, cv in ctx.config().values.items())


def _trainers_count(ctx: Context, name: str) -> Fact | None:
    """Another trainer's own parameter count (nanochat's table total, llm.c's
    num_parameters): exact, all parameters; its model is not nanoGPT's, so nanoGPT's formula
    and its position-embedding split do not apply."""
    run = ctx.run
    if run.format.is_nanogpt or run.header.params_m is None:
        return None
    return Fact(name, round(run.header.params_m * 1e6), "params", "read",
                f"log: {run.format}'s parameter count (all parameters)")


def params_total(ctx: Context) -> Fact:
    """All parameters including position embeddings (wte tied to lm_head, counted once)."""
    name, unit = "params_total", "params"
    if (mine := _trainers_count(ctx, name)) is not None:
        return mine
    ck = ctx.run.checkpoint
    if ck is not None and ck.n_params:
        return Fact(name, ck.n_params, unit, "read", "ckpt state dict")
    total = _groups_total(ctx)
    if total is not None:
        return Fact(name, total, unit, "read", "log: decayed + non-decayed parameters")
    stated = _stated_count(ctx)
    formula, _ = _formula(ctx)
    if stated is not None and not (formula is not None and stated[1] == formula[0] != formula[1]
                                   and not _no_learned_wpe(ctx)):
        return Fact(name, stated[1], unit, "read", f"log: {stated[0]}")
    p = ctx.fact("params")
    wpe, wpe_from = _wpe(ctx)
    if p.known and wpe is not None:
        return Fact(name, p.value + wpe, unit, derived(p, *wpe_from), f"params + {WPE_SOURCE}",
                    p.note if p.status == "read" else None)
    return missing(name, unit, f"params + {WPE_SOURCE}", p, *wpe_from)


def tokens_per_iter(ctx: Context) -> Fact:
    """Tokens per optimizer step, all ranks together.

    train.py: grad_accum //= world_size, then tokens = grad_accum * world_size * batch * T,
    which equals the config's gradient_accumulation_steps * batch_size * block_size (the
    division must be exact, train.py asserts it)."""
    name, unit = "tokens_per_iter", "tokens"
    src = "config: gradient_accumulation_steps * batch_size * block_size"
    parts = [config_fact(ctx, k, k, "") for k in BATCH_KEYS]
    product = None
    if all(f.known for f in parts):
        product = parts[0].value * parts[1].value * parts[2].value
    read = ctx.run.header.tokens_per_iter
    if read is not None:
        note = None
        if product is not None and product != read:
            note = f"the config gives {product:,} ({src[8:]})"
        return Fact(name, read, unit, "read", "log: tokens per iteration", note)
    if product is not None:
        return Fact(name, product, unit, derived(*parts), src)
    return missing(name, unit, src, *parts)


def batch_remainder(ctx: Context) -> Fact:
    """Tokens a total batch set in tokens (llm.c's -d, total_batch_size) leaves over one
    forward-backward's (batch_size x block_size x processes): 0 where gradient accumulation
    fills it with whole micro-batches, as llm.c asserts it must."""
    name, unit = "batch_remainder", "tokens"
    src = "total_batch_size % (batch_size * block_size * world_size)"
    total = ctx.fact("total_batch_size")
    parts = [config_fact(ctx, k, k, "") for k in ("batch_size", "block_size")] + [ctx.fact("world_size")]
    if not (total.known and all(f.known for f in parts)):
        return missing(name, unit, src, total, *parts)
    one = parts[0].value * parts[1].value * parts[2].value
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (total.value, one)):
        return unknown(name, unit, src, "a batch value is no positive whole number")
    return Fact(name, total.value % one, unit, derived(total, *parts), src,
                f"one forward-backward: {one:,} tokens")


def steps_done(ctx: Context) -> Fact:
    """Optimizer steps the log shows were taken. The trainer's own count wins where the file
    gives it (HF's global_step: the last step, logged or not). Else nanoGPT's `iter N` is
    printed after step N's update (N + 1 steps: 0..N), while formats that count steps
    (Dialect.counts_steps: modded-nanogpt, llm.c, HF) print N after N updates; `step S:`
    evals run before step S's update (S steps); a Lightning CSV's val rows, written after the
    step they carry the index of (0-based, as its train rows), end S + 1 steps."""
    name, unit = "steps_done", "steps"
    if ctx.run.steps_done is not None:
        return Fact(name, ctx.run.steps_done, unit, "read", "log: the trainer's count of steps done")
    if not ctx.run.measures.steps_known:
        return unknown(name, unit, "log: step numbers", NO_STEP)
    evals, iters = ctx.curves()
    last_iter, iter_src = _last_iter_steps(ctx.run.format, iters)
    last_eval = int(evals.step.max()) if len(evals) else None
    if ctx.run.measures.step_axis is not None:  # W&B's count of log calls
        last = max(x for x in (last_iter, last_eval) if x is not None) if len(evals) or len(iters) else None
        if last is not None:
            return Fact(name, last, unit, *logged_step(ctx, f"log: last {ctx.run.measures.step_axis}"))
    if last_iter is not None and (last_eval is None or last_iter >= last_eval):
        return Fact(name, last_iter, unit, "computed", iter_src)
    if last_eval is not None and ctx.run.format == Dialect.LIGHTNING:  # its val rows carry the last step's index
        return Fact(name, last_eval + 1, unit, "computed", "log: last val row's step + 1 (Lightning's step index)")
    if last_eval is not None:
        summary = ctx.run.format in SUMMARIES
        return Fact(name, last_eval, unit, "computed", "log: last eval step",
                    "the step of the last values the summary holds: the run may have gone on past it"
                    if summary else None)
    ck = ctx.run.checkpoint
    if ck is not None and ck.iter_num is not None:
        return Fact(name, ck.iter_num, unit, "read", "ckpt iter_num")
    return unknown(name, unit, "log: step numbers", "no step lines in the log and no checkpoint")


def _last_iter_steps(fmt: Dialect, iters: IterCurve) -> tuple[int | None, str]:
    """Steps done by the last train line, and how that was found: its step where the format
    counts steps done (1-based), its step + 1 where the step is an index (0-based)."""
    if not len(iters):
        return None, ""
    last = int(iters.step.max())
    if fmt.counts_steps:
        return last, "log: last iter step (a count of steps done)"
    return last + 1, "log: last iter step + 1"


def tokens_seen(ctx: Context) -> Fact:
    """Training tokens the model was updated on: tokens_per_iter * steps_done."""
    tpi, steps = ctx.fact("tokens_per_iter"), ctx.fact("steps_done")
    src = "tokens_per_iter * steps_done"
    if not (tpi.known and steps.known):
        return missing("tokens_seen", "tokens", src, tpi, steps)
    note = _tokens_per_iter_changed(ctx)
    return Fact("tokens_seen", tpi.value * steps.value, "tokens", derived(tpi, steps), src, note)


def _tokens_per_iter_changed(ctx: Context) -> str | None:
    """A note when resumed processes ran with another batch shape than the last one."""
    run = ctx.run
    seen = set()
    for idx in run.lineage():
        cfg = run.segments[idx].config
        if cfg is None:
            continue
        vals = [cfg.trusted(k) for k in BATCH_KEYS]
        if all(isinstance(v, int) for v in vals):
            seen.add(vals[0] * vals[1] * vals[2])
    if len(seen) > 1:
        return (f"segments ran with different tokens per iteration ({sorted(seen)}); "
                "the last one is used")
    return None


def flops_per_token(ctx: Context) -> Fact:
    """Training FLOPs per token, nanoGPT's estimate_mfu (PaLM appendix B): 6N for the
    weights' forward+backward, 12·L·H·Q·T for attention (Q = n_embd // n_head). As the
    trainer counts them where it prints them (nanochat) or where its own count differs
    (llm.c: 6N + 6·L·C·T, N all of its parameters)."""
    name, unit, src = "flops_per_token", "FLOPs/token", "6N + 12·L·H·Q·T"
    printed = ctx.config().get("flops_per_token")  # nanochat prints its own estimate
    if isinstance(printed, (int, float)) and not isinstance(printed, bool) and printed > 0:
        return Fact(name, int(printed), unit, "read", f"log: {ctx.run.format}'s FLOPs per token")
    s = shape(ctx)
    n, layers, heads, embd, t = (ctx.fact("params"), s["n_layer"], s["n_head"],
                                 s["n_embd"], s["block_size"])
    inputs = (n, layers, heads, embd, t)
    if not all(f.known for f in inputs):
        return missing(name, unit, src, *inputs)
    if ctx.run.format.trainer == "llmc":  # gpt2_estimate_mfu: 6 * N + 6 * L * C * T (N: all parameters)
        value = 6 * n.value + 6 * layers.value * embd.value * t.value
        return Fact(name, value, unit, derived(*inputs), "6N + 6·L·C·T", "llm.c's own estimate (gpt2_estimate_mfu)")
    value = model_flops_per_token(n.value, layers.value, heads.value, embd.value, t.value)
    note = n.note if n.status == "read" else None
    if not ctx.run.format.is_nanogpt:
        note = f"nanoGPT's estimate; a {ctx.run.format} model may differ"
    return Fact(name, value, unit, derived(*inputs), src, note)


def train_flops(ctx: Context) -> Fact:
    """FLOPs of the training steps: flops_per_token * tokens_seen (evals not counted)."""
    fpt, tok = ctx.fact("flops_per_token"), ctx.fact("tokens_seen")
    src = "flops_per_token * tokens_seen"
    if not (fpt.known and tok.known):
        return missing("train_flops", "FLOPs", src, fpt, tok)
    return Fact("train_flops", float(fpt.value * tok.value), "FLOPs", derived(fpt, tok), src,
                join_notes("excludes eval forward passes", fpt.note))


def dataset_tokens(ctx: Context) -> Fact:
    """Tokens in the train split."""
    name, unit = "dataset_tokens", "tokens"
    if ctx.dataset_tokens is not None:
        return Fact(name, int(ctx.dataset_tokens), unit, "read", "given")
    if ctx.run.dataset_tokens is not None:
        return Fact(name, int(ctx.run.dataset_tokens), unit, "read", "run: dataset_tokens")
    if ctx.run.header.train_tokens is not None:  # lossdoctor train prints its split's size
        return Fact(name, ctx.run.header.train_tokens, unit, "read", "log: train split")
    if (one_epoch := _llmc_epoch(ctx)) is not None:
        return one_epoch
    dataset = ctx.config().trusted("dataset")
    vocab = shape(ctx)["vocab_size"]
    if dataset == "shakespeare_char" and vocab.value == DATASET_VOCAB["shakespeare_char"]:
        return Fact(name, SHAKESPEARE_CHAR_TRAIN_TOKENS, unit, "assumed",
                    "nanoGPT data/shakespeare_char/prepare.py: train.bin",
                    "the standard tiny-shakespeare split; pass --dataset-tokens if yours differs")
    return unknown(name, unit, "dataset", "train split size unknown: pass --dataset-tokens")


def _llmc_epoch(ctx: Context) -> Fact | None:
    """llm.c run with max_steps -1 (its default): it trains one epoch, train_num_batches =
    ntok / total_batch_size (train_gpt2.cu), so the split holds that many batches' tokens,
    to within one batch; None for any other run."""
    if ctx.run.format.trainer != "llmc" or ctx.config().trusted("max_steps") != -1:
        return None
    steps, tok = ctx.fact("max_iters"), ctx.fact("tokens_per_iter")
    if not (steps.known and tok.known) or not_numbers(steps, tok):
        return None
    return Fact("dataset_tokens", int(steps.value * tok.value), "tokens", "inferred",
                "llm.c: max_steps -1 trains one epoch, train_num_batches = ntok / total_batch_size",
                "to within one batch (the division rounds down)")


def epochs(ctx: Context) -> Fact:
    """tokens_seen / dataset_tokens. nanoGPT samples random windows with replacement, so this
    is tokens per train token, not full ordered passes."""
    tok, data = ctx.fact("tokens_seen"), ctx.fact("dataset_tokens")
    src = "tokens_seen / dataset_tokens"
    if not (tok.known and data.known):
        return _trainers_epochs(ctx) or missing("epochs", "epochs", src, tok, data)
    if data.value <= 0:
        return unknown("epochs", "epochs", src, "dataset_tokens is 0")
    return Fact("epochs", tok.value / data.value, "epochs", derived(tok, data), src,
                data.note if data.status == "assumed" else None)


def extrapolation_epochs(ctx: Context) -> Fact:
    """The most epochs of its data that `lossdoctor extrapolate` predicts this run to
    (Calibration.epochs_limit: as far as its backtests measure the error for a run of this
    config and length; docs/extrapolation.md, "How far"); unknown where the run's curve is
    not extrapolated at all (another trainer's, val in bpb, a GPT-2 fine-tune)."""
    from ..fit import calibration, limits  # numpy only: no scipy or torch
    name, src = "extrapolation_epochs", "Calibration.epochs_limit (docs/extrapolation.md, \"How far\")"
    if why := limits.unmodelled(ctx.run):
        return unknown(name, "epochs", src, f"not extrapolated: {why}")
    steps = ctx.fact("steps_done")
    if not steps.known or not_numbers(steps):
        return missing(name, "epochs", src, steps)
    cal, last = calibration.for_config(ctx.run.config), int(steps.value)
    limit = cal.epochs_limit(last)
    note = (f"{cal.max_epochs:g} where the run rules the calibrated law alone out (its own backtest, or a val that "
            "has turned up or stopped following train): `lossdoctor extrapolate` says which"
            if limit > cal.max_epochs else None)
    return Fact(name, limit, "epochs", "computed", src, note)


def epochs_planned(ctx: Context) -> Fact:
    """The epochs the run was set to reach: tokens_per_iter * max_iters / dataset_tokens (a
    run stopped early saw fewer; its settings were chosen for its plan)."""
    tok, steps, data = ctx.fact("tokens_per_iter"), ctx.fact("max_iters"), ctx.fact("dataset_tokens")
    src = "tokens_per_iter * max_iters / dataset_tokens"
    if not (tok.known and steps.known and data.known):
        return missing("epochs_planned", "epochs", src, tok, steps, data)
    if bad := not_numbers(tok, steps, data):
        return unknown("epochs_planned", "epochs", src, bad)
    if data.value <= 0:
        return unknown("epochs_planned", "epochs", src, "dataset_tokens is 0")
    return Fact("epochs_planned", tok.value * steps.value / data.value, "epochs", derived(tok, steps, data), src,
                data.note if data.status == "assumed" else None)


def _trainers_epochs(ctx: Context) -> Fact | None:
    """The epochs a trainer logs itself: the HF Trainer's state.epoch, or a Lightning CSV's
    epoch-end row (its `train*_epoch` metrics: epoch e ended, e + 1 done), read; else a Lightning
    CSV's epoch column (the 0-based index of the epoch in progress: at least that many done,
    inferred, where that is 1 or more); None where the log has neither."""
    for name, status in (("epoch", "read"), ("epoch_index", "inferred")):
        s = ctx.run.series.get(name)
        if s is None or not len(s.value) or not math.isfinite(last := float(s.value[-1])):
            continue
        if status == "read":
            return Fact("epochs", last, "epochs", "read", "log: the trainer's epoch count")
        if last >= 1:  # in the first epoch, anywhere from 0 to 1 done
            return Fact("epochs", last, "epochs", "inferred", "log: the epoch column",
                        "at least this many: the column is the 0-based index of the epoch in progress at its "
                        "last row")
    return None
