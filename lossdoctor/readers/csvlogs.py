"""Readers for tables of metrics: PyTorch Lightning's metrics.csv (`lightning-csv`), a W&B
chart's "export panel data" CSV (`wandb-panel`), a table of one row per run such as the
W&B runs table (`wandb-runs`), and any CSV with a step column and a loss-like column
(`csv`).

- Lightning's CSVLogger writes one header for all its row kinds: step rows
  (`train_loss_step`), validation rows (`val_loss`) and epoch rows (`*_epoch`) share the
  `step` column and leave the other cells empty. Its step is the global step.
- A panel export has `Step` (or the script's own step, where the chart's x-axis was set
  to it), then three columns per run: `<run> - <metric>`, its `__MIN`
  and `__MAX`. Each run becomes a Run (`path#run`).
- A runs table has one row per run: config columns and final values. Each row becomes a
  Run with one eval at its last step (`iter`, else `max_iters`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import InputError
from ..nanogpt import NANOGPT_KEYS
from ..run import Dialect, Measures
from . import columns as K
from .build import Found, integer, iter_lines, make_run, number

if TYPE_CHECKING:
    from ..run import Run
    from .registry import Sample

PANEL = re.compile(r"^(.+) - (.+)$")
RUN_NAMES = ("name", "run_name", "run", "id")
FINAL_VAL = ("val/loss", "final_val_loss", "val_loss", "best_val_loss")
FINAL_TRAIN = ("train/loss", "final_train_loss", "train_loss")
FINAL_STEP = ("iter", "_step", "step", "max_iters")


def _table(sample: Sample) -> Iterator[list[str]]:
    """The file's non-empty rows, header first, parsed as the file is read (a piece at a
    time: a CSV of a gigabyte is never held whole)."""
    lines = (line + "\n" for line in iter_lines(sample))  # quoted fields may span lines
    try:
        for i, row in enumerate(csv.reader(lines)):
            if i == 0 and row:
                row[0] = row[0].lstrip("\ufeff")
            if any(c.strip() for c in row):
                yield row
    except csv.Error as e:
        raise InputError(sample.path, f"not a readable CSV: {e}") from None


def _cut_row(sample: Sample, fmt: Dialect, row: list[str], width: int) -> bool:
    """Whether the file ends inside its last row `row`: with no newline after it, where
    Lightning's CSVLogger ends every row with one; for other CSVs (a W&B export writes no
    last newline), where that row has fewer cells than the header's `width`, or leaves a
    quoted cell open (`"3.2`, a number cut short: the newline _table gives each line is
    then inside the cell, where a closed cell's, even one that spans lines, is not)."""
    if not sample.cut_mid_line:
        return False
    return fmt is Dialect.LIGHTNING or len(row) < width or (bool(row) and row[-1].endswith("\n"))


def _names(sample: Sample) -> list[str]:
    """The header row."""
    return sample.memo("csv.names", lambda: next(_table(sample), []))


def _rows(sample: Sample) -> Iterator[tuple[int, list[str]]]:
    """(n, row) of the rows after the header; n counts the header as 1."""
    rows = _table(sample)
    next(rows, None)
    return enumerate(rows, 2)


def _is_csv(sample: Sample) -> bool:
    """Named *.csv with a comma in its first line, or any text whose first line is a header
    with a step column and a loss-like column."""
    if sample.binary or b"," not in sample.head.split(b"\n", 1)[0]:
        return False
    if sample.suffix_in((".csv",)):
        return True
    try:
        names = next(csv.reader([sample.head.split(b"\n", 1)[0].decode("utf-8", "replace")]), [])
    except csv.Error:
        return False
    return K.pick(names, K.STEP_NAMES) is not None and bool(K.loss_like(names))


# -- sniffs ------------------------------------------------------------------------------------

def sniff_lightning(sample: Sample) -> bool:
    """`epoch` and `step` columns and a loss column."""
    if not _is_csv(sample):
        return False
    names = [n.lower() for n in _names(sample)]
    return "epoch" in names and "step" in names and bool(K.loss_like(names))


W_AND_B_COUNT = ("Step", "_step")  # a panel's x-axis as W&B's own count of the script's wandb.log calls
# a panel's x-axis, where it is the script's own step (`iter`, `train/global_step`), not W&B's `Step`
OWN_STEP = re.compile(r"(?i)^(?:.*[/_])?(?:global_)?step$|^iter(?:ation)?$")


def sniff_panel(sample: Sample) -> bool:
    """`Step` first (or the script's own step as the x-axis, beside W&B's `__MIN` columns),
    then `<run> - <metric>` columns."""
    if not _is_csv(sample):
        return False
    names = _names(sample)
    if not names or not any(PANEL.match(n) for n in names[1:]):
        return False
    return names[0] in W_AND_B_COUNT or (bool(OWN_STEP.match(names[0])) and any(n.endswith("__MIN")
                                                                                 for n in names[1:]))


def sniff_runs(sample: Sample) -> bool:
    """No step column; a final val (or train) loss column; one row per run."""
    if not _is_csv(sample):
        return False
    names = _names(sample)
    return K.pick(names, K.STEP_NAMES[:3]) is None and K.pick(names, FINAL_VAL + FINAL_TRAIN) is not None


def sniff_generic(sample: Sample) -> bool:
    """Any CSV: the reader says which columns it found when it cannot use them."""
    return _is_csv(sample)


# -- readers -----------------------------------------------------------------------------------

def read_lightning(sample: Sample) -> tuple[Run, ...]:
    return (_curves(sample, Dialect.LIGHTNING),)


def read_generic(sample: Sample) -> tuple[Run, ...]:
    return (_curves(sample, Dialect.CSV),)


def _curves(sample: Sample, fmt: Dialect) -> Run:
    names = _names(sample)
    step_col = K.pick(names, K.STEP_NAMES)
    train_col, val_col = K.train_column(names), K.val_column(names)
    bpb_col = K.pick(names, K.BPB_NAMES)
    if step_col is None or (train_col is None and val_col is None and bpb_col is None):
        what = "no step column" if step_col is None else "no loss-like column"
        raise InputError(sample.path, f"{what} (columns: {', '.join(names[:30])})")
    if val_col is None and bpb_col is not None:
        val_col = bpb_col
    idx = {n: i for i, n in enumerate(names)}
    found = Found(n_lines=1)
    epoch = idx.get("epoch") if fmt is Dialect.LIGHTNING else None  # the 0-based index of the epoch in progress
    # Lightning logs a training metric with on_epoch=True as NAME_epoch on the row that ends
    # the epoch (a val metric's may come mid-epoch, with val_check_interval < 1)
    ends = [i for i, name in enumerate(names) if name.startswith("train") and name.endswith("_epoch")
            or name == "epoch_time"]
    train_epochs: list[int | None] = []  # the epoch of each train value's row
    row: list[str] = []
    for n, row in _rows(sample):
        found.n_lines = n
        step = _cell_int(row, idx[step_col])
        if step is None:
            continue
        for col, points in ((train_col, found.train), (val_col, found.val)):
            if col is not None and (v := _cell(row, idx[col])) is not None:
                points.add(step, v, n)
        ended = any(_cell(row, i) is not None for i in ends)
        if train_col is not None and _cell(row, idx[train_col]) is not None:
            train_epochs.append(_cell_int(row, epoch) if epoch is not None else None)
        if epoch is not None and (e := _cell_int(row, epoch)) is not None:
            found.point("epoch_index", step, e, n)
            if ended:  # epoch e ended here: e + 1 done
                found.point("epoch", step, e + 1, n)
    found.cut = bool(row) and _cut_row(sample, fmt, row, len(names))  # its values are not read (make_run)
    read = [f"{col!r} ({what})" for col, what in ((step_col, "step"), (train_col, "train loss"), (val_col, "val"))
            if col is not None]
    none = [what for col, what in ((train_col, "train loss"), (val_col, "val")) if col is None]
    found.notes.append(f"read columns {', '.join(read)}" + (f"; no {' or '.join(none)} column" if none else ""))
    measures = Measures(val="bpb" if val_col == bpb_col and bpb_col else "loss",
                        train=_train_measure(fmt, train_col, train_epochs), eval_train=False)
    return make_run(found, sample.path, fmt, measures)


def _train_measure(fmt: Dialect, train_col: str | None, epochs: list[int | None]) -> str:
    """What a CSV's train loss is (Measures.train), from its column and the epoch of each
    of its rows. Lightning logs a metric with on_step (self.log's default in
    training_step; NAME_step where on_epoch is set too) as the step's own value every
    log_every_n_steps steps: one step's loss, as nanoGPT's `iter` line. One value per
    epoch is an on_epoch mean. Any other CSV does not say: a mean over the steps since
    the last log, as the HF Trainer's."""
    if train_col is None:
        return "none"
    per_epoch = None not in epochs and len(set(epochs)) == len(epochs)
    if fmt is Dialect.LIGHTNING and (train_col.endswith("_step") or not per_epoch):
        return "step"
    return "window"


# a panel's x-axis `Step` is W&B's _step: it counts the script's wandb.log calls
STEP_NOTE = ("its steps are W&B's `Step`, the count of the script's wandb.log calls: training steps only where "
             "it logged once per step (nanoGPT's train.py logs once per eval, so there each Step is an eval and "
             "train/loss the eval's); export the panel against the script's own step (its `iter` or "
             "`train/global_step`) to know them")


def read_panel(sample: Sample) -> tuple[Run, ...]:
    names = _names(sample)
    runs: dict[str, Found] = {}
    units: dict[str, set[str]] = {}  # run -> the units of its val columns
    columns = []  # (column, its run's curve)
    for i, name in enumerate(names[1:], 1):
        m = PANEL.match(name)
        if m is None or K.NOT_A_CURVE.search(m.group(2)) or not K.LOSSY.search(m.group(2)):
            continue
        found = runs.setdefault(m.group(1), Found(n_lines=1))
        is_val = bool(re.search(r"(?i)val|eval", m.group(2)))
        columns.append((i, found.val if is_val else found.train))
        if is_val:
            units.setdefault(m.group(1), set()).add(K.val_unit(m.group(2)))
    n, row = 1, list[str]()
    for n, row in _rows(sample):
        step = _cell_int(row, 0)
        if step is None:
            continue
        for i, points in columns:
            if (v := _cell(row, i)) is not None:
                points.add(step, v, n)
    cut = bool(row) and _cut_row(sample, Dialect.WANDB_PANEL, row, len(names))
    for found in runs.values():
        found.n_lines, found.cut = n, cut
    if not runs:
        raise InputError(sample.path, f"a W&B panel export with no loss column (columns: {', '.join(names[:10])})")
    out = []
    for name, found in runs.items():
        unit = units.get(name, {"loss"})
        if len(unit) > 1:  # one curve in two units would read as a jump
            raise InputError(sample.path, f"run {name!r} has val columns in bits per byte and in nats: one curve "
                                          "cannot be both")
        found.notes.append(f"run {name!r} of a W&B panel export holding {len(runs)} runs")
        counted = names[0] in W_AND_B_COUNT  # W&B's own x-axis, not a column the script logged
        if counted:
            found.notes.append(STEP_NOTE.replace("`Step`", f"`{names[0]}`"))
        out.append(make_run(found, f"{sample.path}#{name}", Dialect.WANDB_PANEL,
                            Measures(val=unit.pop(), train="step" if len(found.train) else "none", eval_train=False,
                                     step_axis=names[0] if counted else None)))
    return tuple(out)


def read_runs(sample: Sample) -> tuple[Run, ...]:
    names, rows = _names(sample), [row for _, row in _rows(sample)]  # a row per run: a small table
    lower = [n.lower() for n in names]
    name_col = next((lower.index(n) for n in RUN_NAMES if n in lower), None)
    val_col, train_col = K.pick(names, FINAL_VAL), K.pick(names, FINAL_TRAIN)
    step_col = K.pick(names, FINAL_STEP)
    idx = {n: i for i, n in enumerate(names)}
    nanogpt = sum(n in NANOGPT_KEYS for n in names) >= 5
    labels = _labels(rows, name_col, idx.get("seed"))
    cut = bool(rows) and _cut_row(sample, Dialect.WANDB_RUNS, rows[-1], len(names))
    kept, left = _with_losses(rows, labels, cut, [i for i in (idx.get(val_col or ""), idx.get(train_col or ""))
                                                  if i is not None])
    if not kept and cut:
        others = ", and no other row has a final loss" if len(rows) > 1 else ""
        raise InputError(sample.path, f"the file ends inside its last row ({labels[-1]}), whose values may be cut "
                                      f"short{others}: no row is read")
    out = []
    for n, row in enumerate(rows, 2):
        if n - 2 not in kept:
            continue
        found = Found(n_lines=1)
        step = _cell_int(row, idx[step_col]) if step_col else None
        val = _cell(row, idx[val_col]) if val_col else None
        train = _cell(row, idx[train_col]) if train_col else None
        if val is not None:
            found.val.add(step if step is not None else 0, val, n)
            if train is not None:
                found.eval_train.add(step if step is not None else 0, train, n)
        for key, i in idx.items():
            if i < len(row) and row[i].strip() and key not in (val_col, train_col):
                found.set(key, _value(row[i]), n)
        label = labels[n - 2]
        found.notes.append(f"one row of a table of {len(rows)} runs: final values only, no curve")
        found.notes.extend(left)
        out.append(make_run(found, f"{sample.path}#{label}", Dialect.WANDB_RUNS,
                            Measures(train="none", eval_train=nanogpt and train is not None,
                                     steps_known=step is not None)))
    return tuple(out)


def _with_losses(rows: list[list[str]], labels: list[str], cut: bool, losses: list[int]
                 ) -> tuple[set[int], list[str]]:
    """The rows to read (their indices), and notes on those left out: a last row the file
    ends inside (`cut`), and rows with no final loss in the columns `losses` (a crashed or
    failed run's, a W&B table's routine) where another row has one; every row where none
    has, so that the file's refusal says why."""
    cut_out = {len(rows) - 1} if cut else set()
    empty = {i for i, row in enumerate(rows) if i not in cut_out and all(_cell(row, c) is None for c in losses)}
    kept = set(range(len(rows))) - cut_out - empty
    if not kept:  # never the cut row: with it, no row is read; else those without a loss, refused for it
        return (set(), []) if cut_out else (empty, [])
    notes = []
    if cut_out:
        notes.append(f"the table's last row ({labels[-1]}) is left out: the file ends inside it")
    if empty:
        names = [labels[i] for i in sorted(empty)]
        notes.append(f"{len(names)} row{'s' if len(names) > 1 else ''} of the table left out, with no final loss: "
                     f"{', '.join(names[:5])}{' ...' if len(names) > 5 else ''}")
    return kept, notes


def _labels(rows: list[list[str]], name_col: int | None, seed_col: int | None) -> list[str]:
    """Each row's run name (its CSV line where it has none); a name that several rows share
    gets their seed where the seeds tell them apart, else the line: each run is named once."""
    def cell(row: list[str], i: int | None) -> str:
        return row[i].strip() if i is not None and i < len(row) else ""
    names = [cell(row, name_col) or f"row {n}" for n, row in enumerate(rows, 2)]
    out = []
    for n, (row, name) in enumerate(zip(rows, names, strict=True), 2):
        twins = [r for r, other in zip(rows, names, strict=True) if other == name]
        if len(twins) == 1:
            out.append(name)
        elif cell(row, seed_col) and len({cell(r, seed_col) for r in twins}) == len(twins):
            out.append(f"{name} (seed {cell(row, seed_col)})")
        else:
            out.append(f"{name} (line {n})")
    return out


def _cell(row: list[str], i: int) -> float | None:
    return number(row[i]) if i < len(row) and row[i].strip() else None


def _cell_int(row: list[str], i: int) -> int | None:
    if i >= len(row):
        return None
    v = integer(row[i])
    if v is None and (f := number(row[i])) is not None and f.is_integer() and abs(f) < 2**62:
        v = int(f)
    return v


def _value(text: str) -> object:
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    if (i := integer(t)) is not None:
        return i
    f = number(t)
    return f if f is not None else t
