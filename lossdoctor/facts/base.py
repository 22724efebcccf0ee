"""The pieces every fact module shares: Fact, Facts, the computing Context, and helpers
for statuses and config values.

A fact is one number (or string, flag, tuple) with its unit and where it came from.
Status, from strongest to weakest:

* read      printed in the log or stored in the checkpoint
* computed  arithmetic on read values and on the config the log showed
* inferred  implied by what the log shows through a relation nanoGPT holds to, though the
            value itself is not printed: FLOPs per iteration from the printed MFU and
            time, the vocabulary from the loss of a fresh model (about ln V)
* assumed   relies on something not in the run (a dataset size from nanoGPT's prepare.py,
            a model shape the log does not confirm, ...)
* unknown   value is None; `note` says what is missing
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

import numpy as np

from ..config import CADENCE, DEFAULT, DERIVED, INFERRED, Config
from ..frozen import FrozenDict, frozen
from ..run import EvalCurve, IterCurve, Run

Status = Literal["read", "computed", "inferred", "assumed", "unknown"]
STATUSES: tuple[str, ...] = ("read", "computed", "inferred", "assumed", "unknown")

T = TypeVar("T")

CKPT_HINT = "a ckpt.pt given with the log holds the config"


@dataclass(frozen=True)
class Fact:
    name: str
    value: Any  # int | float | str | bool | None | tuple
    unit: str
    status: Status
    source: str  # one short phrase: 'log: number of parameters', '6N + 12·L·H·Q·T', ...
    note: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"fact {self.name!r}: bad status {self.status!r}")
        if isinstance(self.value, np.generic):  # keep numpy scalars out of reports
            object.__setattr__(self, "value", self.value.item())
        if self.status == "unknown" and self.value is not None:
            raise ValueError(f"fact {self.name!r}: unknown facts have no value")

    @property
    def known(self) -> bool:
        return self.status != "unknown"


@dataclass(frozen=True, eq=False)
class Facts(Mapping[str, Fact]):
    """Facts by name, in registry order."""

    by_name: Mapping[str, Fact]

    @classmethod
    def of(cls, facts: Iterable[Fact]) -> Facts:
        return cls(FrozenDict({f.name: f for f in facts}))

    def __getitem__(self, name: str) -> Fact:
        return self.by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_name)

    def __len__(self) -> int:
        return len(self.by_name)

    def __hash__(self) -> int:  # Mapping's is None; frozen, these hash as their facts do
        return hash(frozen(self.by_name))

    def value(self, name: str) -> Any:
        """The value of fact `name` (None when unknown); KeyError for a name that is no fact."""
        return self.by_name[name].value

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {n: {"value": f.value, "unit": f.unit, "status": f.status,
                    "source": f.source, "note": f.note} for n, f in self.by_name.items()}


FactFn = Callable[["Context"], Fact]


class Context:
    """Computes facts on demand, each once; fact functions ask it for the facts they need."""

    def __init__(self, run: Run, registry: Mapping[str, FactFn], *,
                 peak_flops: float | None = None, dataset_tokens: int | None = None) -> None:
        self.run = run
        self.registry = registry
        self.peak_flops = peak_flops
        self.dataset_tokens = dataset_tokens
        self._facts: dict[str, Fact] = {}
        self._memo: dict[str, Any] = {}
        self._busy: set[str] = set()

    def fact(self, name: str) -> Fact:
        if name in self._facts:
            return self._facts[name]
        if name in self._busy:
            raise RuntimeError(f"facts depend on each other in a cycle through {name!r}")
        self._busy.add(name)
        try:
            fact = self.registry[name](self)
        finally:
            self._busy.discard(name)
        if fact.name != name:
            raise RuntimeError(f"fact function for {name!r} returned {fact.name!r}")
        self._facts[name] = fact
        return fact

    def value(self, name: str) -> Any:
        return self.fact(name).value

    def memo(self, key: str, fn: Callable[[], T]) -> T:
        """A shared intermediate result (e.g. the timing split), computed once."""
        if key not in self._memo:
            self._memo[key] = fn()
        return cast(T, self._memo[key])

    def curves(self) -> tuple[EvalCurve, IterCurve]:
        """The lineage's (EvalCurve, IterCurve), computed once."""
        return self.memo("curves", self.run.curves)

    def config(self) -> Config:
        """The config of the process that ran last: its segment's own, else the run's."""
        return final_config(self.run)


# ---------------------------------------------------------------------------------------
# statuses

def derived(*inputs: Fact) -> Status:
    """Status of a value computed from `inputs`: their weakest, at best 'computed'."""
    statuses = {f.status for f in inputs}
    if "unknown" in statuses:
        return "unknown"
    if "assumed" in statuses:
        return "assumed"
    if "inferred" in statuses:
        return "inferred"
    return "computed"


NO_EVALS = "the log has no eval lines"
NO_STEP = "the file gives final values without the step they were reached at (no step column)"


def unknown(name: str, unit: str, source: str, note: str) -> Fact:
    return Fact(name, None, unit, "unknown", source, note)


def missing(name: str, unit: str, source: str, *inputs: Fact) -> Fact:
    """An unknown fact whose note names its unknown inputs and the first causes:
    'needs tokens_per_iter, dataset_tokens: <why>; <why>'."""
    gaps = [f for f in inputs if not f.known]
    names = ", ".join(dict.fromkeys(f.name for f in gaps)) or "inputs"
    why = join_notes(*(_root_cause(f.note) for f in gaps))
    return unknown(name, unit, source, f"needs {names}: {why}" if why else f"needs {names}")


def _root_cause(note: str | None) -> str | None:
    """The causes part of a note made by `missing`, else the note itself."""
    if note and note.startswith("needs ") and ": " in note:
        return note.split(": ", 1)[1]
    return note


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def join_notes(*notes: str | None) -> str | None:
    parts = [p for n in notes if n for p in n.split("; ")]
    kept = list(dict.fromkeys(parts))
    return "; ".join(kept) if kept else None


# ---------------------------------------------------------------------------------------
# config values

def final_config(run: Run) -> Config:
    lineage = run.lineage()
    if lineage:
        seg = run.segments[lineage[-1]]
        if seg.config is not None:
            return seg.config
    return run.config


def why_unknown(config: Config, *keys: str, ckpt: bool = True) -> str:
    """Why the first of `keys` that Config.trusted does not give is unknown; `ckpt`: the
    run's log is nanoGPT's, whose ckpt.pt, given with it, holds the config (another
    trainer's checkpoint is not read with its log: no such hint)."""
    hint = f" ({CKPT_HINT})" if ckpt else ""
    for key in keys:
        if config.trusted(key) is not None:
            continue
        cv = config.values.get(key)
        if cv is not None and not cv.known:
            return (f"config sets {key} = {cv.raw!r}, but {cv.unknown_why}" if cv.unknown_why else
                    f"config sets {key} = {cv.raw!r}, an expression that was not evaluated")
        if not config.seen:
            return f"log has no config header{hint}"
        if cv is None:
            return f"the config has no {key}"
        why = config.defaults_why or "train.py's defaults may not be what ran"
        return f"the log does not show {key}, and {why}{hint}"
    return f"log has no config header{hint}"


def config_source(config: Config, *keys: str) -> str:
    """'config: max_iters (override), warmup_iters (default)'."""
    parts = []
    for k in keys:
        cv = config.values.get(k)
        parts.append(f"{k} ({cv.origin})" if cv is not None else k)
    return "config: " + ", ".join(parts)


def config_fact(ctx: Context, name: str, key: str, unit: str,
                config: Config | None = None) -> Fact:
    """A config value as a fact: 'read' when the log (or checkpoint) showed the config
    (a train.py default counts then: it is what ran), else unknown."""
    config = config or ctx.config()
    value = config.trusted(key)
    if value is None:
        return unknown(name, unit, config_source(config, key),
                       why_unknown(config, key, ckpt=ctx.run.format.is_nanogpt))
    origin = config.values[key].origin
    if origin == INFERRED:
        return Fact(name, value, unit, "inferred", config_source(config, key),
                    "inferred: the value of the nanoGPT config file the log points to (its notes say why)")
    if origin == CADENCE:
        return Fact(name, value, unit, "inferred", config_source(config, key),
                    f"inferred: the log's {config.values[key].raw}")
    if origin == DERIVED:
        return Fact(name, value, unit, "computed", config_source(config, key),
                    f"computed: {config.values[key].raw}")
    note = "train.py default, not set by the run's config" if origin == DEFAULT else None
    return Fact(name, value, unit, "read", config_source(config, key), note)
