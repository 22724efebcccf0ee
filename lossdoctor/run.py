"""The Run model: what lossdoctor read from a training run, as frozen dataclasses.

Curves are numpy arrays (curves.py: one entry per logged line); everything else is small.
Readers build a Run; facts, fits and reports only read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np

from .config import Config
from .curves import EvalCurve as EvalCurve  # the curves a Run holds; importable from here too
from .curves import IterCurve as IterCurve
from .curves import Series as Series
from .curves import empty_evals as empty_evals
from .curves import empty_iters as empty_iters
from .dialect import Dialect as Dialect  # a Run carries its Dialect; importable from here too
from .frozen import frozen

# trainers that print every checkpoint they save: nanoGPT (`saving checkpoint to DIR`; not an
# excerpt pasted into Markdown, which may leave the saves out) and
# llm.c (`Writing checkpoint at step N`)
PRINTS_SAVES = (Dialect.NANOGPT, Dialect.NANOGPT_WITH_CKPT, Dialect.LLMC)

# what the curves measure
VAL_METRICS = ("loss", "bpb")  # mean cross-entropy in nats per token; bits per byte
TRAIN_METRICS = ("step", "ema", "window", "none")


@dataclass(frozen=True)
class Measures:
    """What a Run's numbers mean, where its trainer differs from nanoGPT.

    val: "loss" (EvalCurve.val in nats per token) or "bpb" (bits per byte, as nanochat
    reports it; comparable to nats only through the tokenizer's bytes per token).
    train: what IterCurve.loss is: "step" (one step's loss, nanoGPT's `iter` line),
    "ema" (an exponential moving average, debiased; its noise and spikes are smoothed
    away), "window" (the mean over the steps since the last log, HF's; a Lightning column
    logged on_epoch, one value per epoch), or
    "none" (the log has no train loss per step).
    eval_train: whether EvalCurve.train is an eval of the train split (nanoGPT's
    estimate_loss); elsewhere it is NaN.
    ema_beta: the EMA's decay when train is "ema".
    bytes_per_token: of the tokenizer, when the log gives it (converts bpb to nats).
    steps_known: False where the file gives final values without the step they were
    reached at (a runs table with no step column); its one eval then sits at step 0, a
    placeholder that no fact reads as a step.
    val_name: the trainer's own name of the val metric, where a flag names it (the
    Hugging Face Trainer's eval_loss, or eval_<set>_loss with several eval sets).
    step_axis: the name of the step column where it need not count optimizer steps (a W&B
    panel's `Step`: W&B's count of wandb.log calls, one per eval in nanoGPT's train.py);
    None where the steps are the trainer's own.
    constants: for a trainer set by constants in its script, as the log prints them
    (modded-nanogpt's Hyperparameters), (nanoGPT key, the constant's name) of each it
    sets; None where the log prints none.
    """

    val: str = "loss"
    train: str = "step"
    eval_train: bool = True
    ema_beta: float | None = None
    bytes_per_token: float | None = None
    steps_known: bool = True
    val_name: str | None = None
    constants: tuple[tuple[str, str], ...] | None = None
    step_axis: str | None = None

    @property
    def val_unit(self) -> str:
        return "bpb" if self.val == "bpb" else "nats"


# what happened in a run, as a reader records it
EventKind = Literal[
    "checkpoint_saved",  # `saving checkpoint to DIR`
    "resumed",  # `Resuming training from DIR`
    "compile",  # `compiling the model...`
    "init_gpt2",  # `Initializing from OpenAI GPT-2 weights: gpt2*`
    "warning",  # Python warnings, `WARNING: ...` lines
    "traceback",  # `Traceback (most recent call last):` (the exception line is the text)
    "interrupted",  # KeyboardInterrupt, scheduler time limit, killed
    "first_nan",  # first NaN/inf loss in a segment
    "truncated",  # the file ends mid-line
    "new_segment",  # another run starts in the same file
    "assertion",  # a C assertion failed (`Assertion '...' failed.`)
    "cpu_autocast",  # `autocast on cpu: bfloat16`: lossdoctor's trainer ran the CPU forward passes in it
    "elided",  # a line of `...` alone: whoever pasted the log left lines out there
]


@dataclass(frozen=True)
class Event:
    kind: EventKind
    line: int | None  # 1-based line in the source, None for checkpoint-derived events
    text: str
    step: int | None = None
    segment: int | None = None
    # a traceback's frames, outermost first, as "A/B/FILE.py:FUNCTION" (its path's last three parts)
    frames: tuple[str, ...] = ()


@dataclass(frozen=True)
class Segment:
    """One process's output: a fresh run, or a resumed continuation of the previous one."""

    index: int
    first_line: int
    last_line: int
    init_from: str | None  # 'scratch', 'resume', 'gpt2*', or None when not printed
    world_size: int  # ranks that printed the header (1 when only rank 0 was captured)
    n_evals: int
    n_iters: int
    first_step: int | None
    last_step: int | None
    config: Config | None = None  # the config this process ran with (None: same as Run.config)


# lines not understood are counted in full and kept (for the report) up to these bounds, so
# that memory follows a bound, not a file of junk lines
MAX_KEPT_UNPARSED = 1000
MAX_UNPARSED_CHARS = 500

# Slurm's own line when it stops a job or step (slurmstepd names the node, srun and older
# versions do not), as the readers' event scan and the failure facts read it; a text that
# quotes its words is not it
SLURM_CANCELLED = r"\*\*\* (?:JOB|STEP) \d\S* (?:ON \S+ )?CANCELLED AT"  # a job or step id: 123, 123.0, 123+0


@dataclass(frozen=True)
class UnparsedLine:
    line: int
    text: str


@dataclass(frozen=True)
class Header:
    """Facts printed by train.py/model.py before training starts (last segment wins)."""

    tokens_per_iter: int | None = None  # `tokens per iteration will be: N`
    vocab_size: int | None = None  # `found vocab_size = N` or the GPT-2 default message
    vocab_source: str | None = None  # the meta.pkl path, or 'gpt2 default'
    params_m: float | None = None  # `number of parameters: X.XXM` (excludes wpe)
    decayed_params: int | None = None  # `num decayed parameter tensors: T, with N parameters`
    nodecay_params: int | None = None
    fused_adamw: bool | None = None
    compile: bool | None = None  # True when `compiling the model...` was printed
    init_from: str | None = None
    slow_attention: bool = False  # `WARNING: using slow attention`
    config_file: str | None = None  # `Overriding config with FILE:` (a YAML one is the built-in trainer's)
    train_tokens: int | None = None  # `train split: N tokens, ...` (the built-in trainer's own line)


@dataclass(frozen=True)
class CheckpointInfo:
    """What a nanoGPT ckpt.pt holds, read with torch.load(weights_only=True)."""

    path: str
    iter_num: int | None
    best_val_loss: float | None
    model_args: Mapping[str, object]  # as stored (keys may be a fork's names); read-only
    config: Mapping[str, object]  # as stored; read-only
    n_params: int | None  # all parameters in the state dict (tied lm_head counted once)
    n_params_no_wpe: int | None  # as nanoGPT's `number of parameters` prints it
    optimizer_steps: int | None  # AdamW 'step' of the parameters
    param_group_lrs: tuple[float, ...]  # LR of each param group at save time
    param_group_weight_decay: tuple[float, ...]
    notes: tuple[str, ...] = ()  # what could not be known, in plain words

    def __post_init__(self) -> None:
        for name in ("model_args", "config"):
            object.__setattr__(self, name, frozen(getattr(self, name)))


@dataclass(frozen=True)
class ModelArgs:
    """nanoGPT's model_args (the fields of model.py's GPTConfig, in the order of
    lossdoctor.nanogpt.MODEL_KEYS) as far as the run shows them; None: unknown."""

    n_layer: int | None = None
    n_head: int | None = None
    n_embd: int | None = None
    block_size: int | None = None
    bias: bool | None = None
    vocab_size: int | None = None
    dropout: float | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> ModelArgs:
        """The model keys of `values` whose value has GPTConfig's type; any other value
        (None, a string, ...) leaves its key unknown."""
        def count(key: str) -> int | None:
            v = values.get(key)
            return v if isinstance(v, int) and not isinstance(v, bool) else None

        bias, dropout = values.get("bias"), values.get("dropout")
        return cls(n_layer=count("n_layer"), n_head=count("n_head"), n_embd=count("n_embd"),
                   block_size=count("block_size"), bias=bias if isinstance(bias, bool) else None,
                   vocab_size=count("vocab_size"),
                   dropout=dropout if isinstance(dropout, (int, float)) and not isinstance(dropout, bool) else None)

    def as_dict(self) -> dict[str, Any]:
        """The known keys and their values, in MODEL_KEYS order."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def updated(self, other: ModelArgs) -> ModelArgs:
        """These args with `other`'s known values in place of this one's."""
        return ModelArgs(**{**self.as_dict(), **other.as_dict()})


@dataclass(frozen=True, eq=False)
class Run:
    """A training run as read from its log and/or checkpoint."""

    source: str  # path(s) it was read from, joined with ' + '
    format: Dialect  # the dialect it was read as (a plain string is taken as its value)
    config: Config
    model_args: ModelArgs
    evals: EvalCurve
    iters: IterCurve
    events: tuple[Event, ...]
    segments: tuple[Segment, ...]
    header: Header
    unparsed: tuple[UnparsedLine, ...]
    line_counts: Mapping[str, int] = field(default_factory=dict)  # lines per kind
    checkpoint: CheckpointInfo | None = None
    notes: tuple[str, ...] = ()
    dataset_tokens: int | None = None  # train split size in tokens, when known or given
    measures: Measures = Measures()  # what the curves measure (nanoGPT's meaning by default)
    series: Mapping[str, Series] = field(default_factory=dict)  # further metrics by name
    summary: Mapping[str, float] = field(default_factory=dict)  # end-of-run values the log prints
    # optimizer steps done as the trainer itself counts them (HF's global_step), when its file
    # says; None: the curves tell (their last step logged may come before the run's last step)
    steps_done: int | None = None
    # 1 + the highest `[rankN]:` tag torchrun put on the log's lines (0: none): launched by
    # torchrun, with at least that many processes
    rank_tags: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.format, Dialect):
            object.__setattr__(self, "format", Dialect(self.format))
        for name in ("line_counts", "series", "summary"):
            object.__setattr__(self, name, frozen(getattr(self, name)))

    @property
    def n_unparsed(self) -> int:
        """Lines not understood: all of them (a reader keeps only the first in `unparsed`)."""
        return max(len(self.unparsed), int(self.line_counts.get("unparsed", 0)))

    def lineage(self) -> tuple[int, ...]:
        """Indices of the segments that made the final model: the last segment with
        metrics and the runs it resumed from, back to the last fresh start. Earlier,
        unrelated runs appended to the same file are not part of it, nor are later
        processes that printed no metric (a crash at start-up, a sample.py paste). Computed
        once (a Run is frozen)."""
        cached: tuple[int, ...] | None = self.__dict__.get("_lineage")
        if cached is not None:
            return cached
        chain: list[int] = []
        if self.segments:
            with_metrics = [s.index for s in self.segments if s.n_evals + s.n_iters > 0]
            chain = [with_metrics[-1] if with_metrics else len(self.segments) - 1]
            while chain[-1] > 0 and self.segments[chain[-1]].init_from == "resume":
                chain.append(chain[-1] - 1)
        self.__dict__["_lineage"] = cached = tuple(reversed(chain))  # beside the fields, as curves()
        return cached

    @property
    def last_step(self) -> int:
        """The last step any eval or iteration line of the file shows (0 with none)."""
        return max(int(self.evals.step.max(initial=0)), int(self.iters.step.max(initial=0)))

    def head(self) -> Segment | None:
        """The lineage's first segment (None without segments)."""
        lineage = self.lineage()
        return self.segments[lineage[0]] if lineage else None

    def appended(self) -> Segment | None:
        """The lineage's first segment where it is not the file's first and shows no config
        of its own (its steps went back, with no config lines printed): a config earlier in
        the file is another run's. None otherwise."""
        head = self.head()
        return head if head is not None and head.index > 0 and not self.config.seen else None

    def resumed_start(self) -> Segment | None:
        """The lineage's first process where it resumed past step 0 (the log does not hold
        the steps before it), else None."""
        head = self.head()
        return head if head is not None and head.init_from == "resume" and head.first_step else None

    def same_losses(self, other: Run) -> bool:
        """Whether two runs log the same losses at the same steps (one run given twice, under
        one name or two)."""
        import numpy as np
        (ea, ia), (eb, ib) = self.curves(), other.curves()
        return all(len(x) == len(y) and np.array_equal(x, y, equal_nan=True)
                   for x, y in ((ea.step, eb.step), (ea.val, eb.val), (ia.step, ib.step), (ia.loss, ib.loss)))

    def part_of(self, other: Run) -> bool:
        """Whether every loss this run's lineage logs is one `other`'s file logs at the same
        step, in any of its processes (a log cut from `other`'s, `other` itself, or the
        first process of a run `other` goes on from by a resume): a shorter run of the
        same config and seed parts from it where its schedule does, and is not."""
        ea, ia = self.curves()
        if not len(ea) and not len(ia):
            return False
        return (_logged(ea.step, ea.val) <= _logged(other.evals.step, other.evals.val)
                and _logged(ia.step, ia.loss) <= _logged(other.iters.step, other.iters.loss))

    def last_process_saves(self) -> list[int | None]:
        """The steps of the checkpoint saves the file's last process printed (nanoGPT's
        `saving checkpoint to ...`, llm.c's `Writing checkpoint at step N`), in order."""
        start = self.segments[-1].first_line if self.segments else 0
        return [e.step for e in self.events if e.kind == "checkpoint_saved" and e.line is not None
                and e.line >= start]

    def resumes_last(self) -> bool:
        """Whether the file's last process resumed (init_from = 'resume'), one that has
        logged no step yet included: its command, with a fresh run's flags added, would
        resume again."""
        last = self.segments[-1] if self.segments else None
        return self.config.trusted("init_from") == "resume" or (last is not None and last.init_from == "resume")

    def shows_no_save(self) -> bool:
        """Whether the log shows that the run left no checkpoint: no ckpt.pt given, and a
        trainer that prints every save printed none in its last process, which did not
        itself resume (a log's tail or a fork that saves silently would read the same)."""
        return (self.checkpoint is None and self.format in PRINTS_SAVES and not self.last_process_saves()
                and not (self.segments and self.segments[-1].init_from == "resume"))

    def curves(self) -> tuple[EvalCurve, IterCurve]:
        """Eval and iteration curves of the lineage, in step order (computed once: a Run is
        frozen).

        When a segment resumes from a checkpoint at step S, the points an earlier
        segment logged at steps >= S were lost work (the model went back to S), so
        they are dropped and the resumed segment's points are kept. Where a train
        point's step counts the steps done, its own included (llm.c's `step S`), the
        earlier segment's train point at S made the checkpoint and stays.
        """
        cached: tuple[EvalCurve, IterCurve] | None = self.__dict__.get("_curves")
        if cached is None:
            lin = self.lineage()
            cached = (_lineage_points(self.evals, lin, self.segments),
                      _lineage_points(self.iters, lin, self.segments, int(self.format.counts_steps)))
            self.__dict__["_curves"] = cached  # beside the fields: replace() makes a Run without it
        return cached


def _lineage_points(curve: Any, lineage: tuple[int, ...], segments: tuple[Segment, ...], done: int = 0) -> Any:
    """Keep the points of `lineage` that were not superseded by a later resume. An eval at
    the very step a later process resumed from measured the weights it resumed with: it
    stays where that process did not evaluate the step again. `done` is 1 where a train
    point's step counts its own update: the one at the resume step S is the earlier's.
    One pass from the last process back, each process's points looked up once: a file of
    thousands of processes (steps that go back on every line) is read in linear time."""
    keep = np.zeros(len(curve), bool)
    order = np.argsort(curve.segment, kind="stable")  # each segment's points, as one slice
    bounds = np.searchsorted(curve.segment[order], np.arange(len(segments) + 1))
    cut: int | None = None  # the first step a later process of the lineage logs again
    later: set[int] = set()  # the steps later processes of the lineage log
    for seg in reversed(lineage):
        mine = order[bounds[seg]:bounds[seg + 1]]
        steps = curve.step[mine]
        if cut is None:
            keep[mine] = True
        else:  # an eval at the cut itself stays where no later process evaluated that step again
            keep[mine] = (steps < cut) | ((steps == cut) & isinstance(curve, EvalCurve) & (cut not in later))
        later.update(steps.tolist())
        if (first := segments[seg].first_step) is not None:
            # the first step this process logs again: its first, or where a train point's step
            # counts its own update, the one after it, unless it logged a train point sooner
            at = min(first + done, int(steps.min())) if len(steps) else first + done
            cut = at if cut is None else min(cut, at)
    columns = {name: getattr(curve, name)[keep] for name in curve.__dataclass_fields__}
    return type(curve)(**columns)


def _logged(steps: np.ndarray, values: np.ndarray) -> set[tuple[int, int]]:
    """(step, the value's bits) of each point logged: NaN equal to NaN, as Run.part_of compares."""
    bits = np.asarray(values, np.float64).view(np.int64)
    return set(zip(steps.tolist(), bits.tolist(), strict=True))
