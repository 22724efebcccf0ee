"""Find what a path holds and read it into a Run.

A path may be a training log of any format in the registry (nanoGPT's, plain or pasted
into Markdown, nanochat's, modded-nanogpt's, llm.c's, build-nanogpt's, a trainer_state.json,
a metrics CSV, a W&B export, TensorBoard events), a `ckpt.pt`, or a directory such as
nanoGPT's out_dir holding a log and/or a checkpoint. A log and its checkpoint given
together become one Run. A file that holds several runs (a W&B panel export, a runs
table) gives one Run each through load_many.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from ..errors import InputError, RefusedCheckpoint, UsageError, checked_path
from ..nanogpt import CKPT_NAME
from ..run import Dialect, Run
from .checkpoint import read_checkpoint
from .combine import merge, run_from_checkpoint
from .registry import READERS, Reader, Sample, by_name, names, read_file, read_runs, register
from .tensorboard import PREFIX as EVENTS_PREFIX  # a TensorBoard logdir's event files, one per writer

LOG_SUFFIXES = (".log", ".txt", ".out", ".err", ".md", ".markdown")
LOG_NAMES = ("log", "output", "stdout", "stderr")  # names without a suffix that logs get
# what other trainers write into a run's folder: HF's checkpoint-N, Lightning's version_N,
# a W&B run's files/
RUN_FILES = ("trainer_state.json", "metrics.csv", "wandb-summary.json")
LOOKS_FOR = (f"files named *{', *'.join(LOG_SUFFIXES)} or {', '.join(LOG_NAMES)} holding a training log, "
             f"{', '.join(RUN_FILES)}, {EVENTS_PREFIX}.*, and ckpt.pt")


def _log_name(name: str) -> bool:
    return name.endswith(LOG_SUFFIXES) or name.lower() in LOG_NAMES


__all__ = ["LOG_NAMES", "LOG_SUFFIXES", "LOOKS_FOR", "READERS", "Reader", "Sample", "by_name", "discover", "load",
           "load_many", "merge", "names", "read_file", "read_runs", "register"]


def load(path: str | os.PathLike[str], checkpoint: str | os.PathLike[str] | None = None, *,
         readers: Sequence[Reader | str] | str | None = None) -> Run:
    """Read a log, a checkpoint or a run directory into a Run.

    Args:
        path: a training log of any format lossdoctor reads (docs/formats.md), a ckpt.pt,
            or a directory holding them. A file that holds several runs (a W&B export)
            is an InputError naming them: load_many reads them all, and FILE#NAME (as the
            reports name a run) reads the one named.
        checkpoint: a ckpt.pt to merge into the log's Run.
        readers: the formats to try, in order: Reader objects or format names (default:
            READERS).

    Raises:
        InputError: the path cannot be read as a training run (with the reason).
        UsageError: a path that is no str or os.PathLike.
    """
    p = checked_path("load", path)
    if checkpoint is not None:
        checkpoint = checked_path("load", checkpoint)
    if os.path.isdir(p):
        logs = _logs_in(p)  # sniffed once
        log, ckpt = _find_in_dir(p, logs)
        run = read_file(log, readers) if log else None
        if run is not None and (others := logs[:-1]):
            names = ", ".join(os.path.basename(f) for f in others[-3:])
            tied = os.path.getmtime(others[-1]) == os.path.getmtime(log or "")
            which = "the last by name (they were modified at the same time)" if tied else "the newest"
            run = dataclasses.replace(run, notes=(*run.notes, f"{p} holds {len(others) + 1} logs: {which}, "
                                                  f"{os.path.basename(log or '')}, is read; not {names}"
                                                  + (f" and {len(others) - 3} more" if len(others) > 3 else "")
                                                  + " (give a log's path to read it)" + _unread(p, logs)))
        elif run is not None and (others_events := _events_in(p)[:-1]) and log == _events_in(p)[-1]:
            names = ", ".join(os.path.basename(f) for f in others_events[-3:])
            run = dataclasses.replace(run, notes=(*run.notes, f"{p} holds {len(others_events) + 1} TensorBoard event "
                                                  f"files: the newest, {os.path.basename(log)}, is read; not {names}"
                                                  + (f" and {len(others_events) - 3} more" if len(others_events) > 3
                                                     else "")
                                                  + " (give a file's path to read it)"))
        elif run is not None and (unread := _unread(p, logs)):
            run = dataclasses.replace(run, notes=(*run.notes, f"{p}: its log {os.path.basename(log or '')} is read"
                                                  + unread))
        if ckpt and checkpoint is None and run is not None:  # the folder's own: a damaged one leaves the log
            return _with_folder_checkpoint(run, ckpt)
        if ckpt and checkpoint is None:
            checkpoint = ckpt
        if run is None:
            if checkpoint is None:
                raise InputError(p, "directory holds no file named as a training log or a ckpt.pt (looked for "
                                    f"{LOOKS_FOR}){_files_said(p)}")
            return run_from_checkpoint(read_checkpoint(os.fspath(checkpoint)))
    elif not os.path.exists(p) and (file := _file_of(p)) is not None:
        run = _one_of(p, file, readers)  # FILE#NAME: one run of a file that holds several, as reports name it
    else:
        run = read_file(p, readers)
    if checkpoint is not None:
        if run.format.has_checkpoint:
            raise InputError(os.fspath(checkpoint), "two checkpoints given for one run")
        return merge(run, read_checkpoint(os.fspath(checkpoint)))
    return run


def _with_folder_checkpoint(run: Run, ckpt: str) -> Run:
    """The log's run with the ckpt.pt found beside it merged in; where that checkpoint cannot
    be read (cut while it was being saved, a Git LFS pointer), the log alone, with a note:
    the folder's log is what was asked for."""
    try:
        info = read_checkpoint(ckpt)
    except RefusedCheckpoint:  # refused for safety: never read around
        raise
    except InputError as e:
        return dataclasses.replace(run, notes=(*run.notes, f"{e}: not merged, the log alone is read"))
    return merge(run, info)


def _files_said(directory: str) -> str:
    """The files a folder holds that were not looked at (named otherwise), up to three, and
    how to read one: a log or checkpoint of another name is read by its path."""
    try:
        files = sorted(e.name for e in os.scandir(directory) if e.is_file() and not e.name.startswith("."))
    except OSError:
        return ""
    if not files:
        return ""
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return f"; it holds {shown}: give a file's path to read it whatever its name"


def _file_of(path: str) -> str | None:
    """The file of FILE#NAME: the first prefix before a `#` that is a file (a run's name, or
    the file's, may hold a `#` too); None where none is."""
    cuts = [i for i, ch in enumerate(path) if ch == "#"]
    return next((path[:i] for i in cuts if os.path.isfile(path[:i])), None)


def _one_of(path: str, file: str, readers: Sequence[Reader | str] | str | None) -> Run:
    """The run NAME of FILE#NAME (a W&B export's run, as the reports name it)."""
    name = path[len(file) + 1:]
    runs = read_runs(file, readers)
    names = [r.source[len(file) + 1:] if r.source.startswith(file + "#") else r.source for r in runs]
    found = [r for r, n in zip(runs, names, strict=True) if n == name]
    twins = [n for n in names if n.startswith(f"{name} (seed ") or n.startswith(f"{name} (line ")]
    if not found and twins:  # the name as the export writes it, which several rows share
        shown = ", ".join(repr(f"#{n}") for n in twins[:3])
        raise InputError(path, f"{len(twins)} runs of the file are named {name!r}: name one as the reports do, "
                               f"with its seed or CSV line ({shown}{', ...' if len(twins) > 3 else ''})")
    if len(found) != 1:
        shown = ", ".join(names[:5])
        raise InputError(path, f"the file holds no run named {name!r} (its runs: {shown}"
                               f"{', ...' if len(runs) > 5 else ''})")
    return found[0]


def load_many(paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str], *,
              readers: Sequence[Reader | str] | str | None = None) -> list[Run]:
    """Read several paths (str or os.PathLike), every run of a file that holds several; a
    checkpoint that follows its own log is merged into it. A path of another type is a
    UsageError."""
    runs: list[Run] = []
    if isinstance(paths, (str, os.PathLike)):  # one path, not its characters
        paths = [paths]
    if not isinstance(paths, (list, tuple)):
        raise UsageError(f"load_many: a path (str or os.PathLike) or a list of them, not {paths!r}")
    for p in [checked_path("load_many", x) for x in paths]:
        if os.path.isfile(p):
            found = list(read_runs(p, readers))
        elif records := _record_files(p):
            found = [read_file(f, readers) for f in records]
        else:
            found = [load(p, readers=readers)]
        for run in found:
            ckpt = run.checkpoint if run.format is Dialect.NANOGPT_CKPT else None
            if ckpt is not None and runs and _belongs(runs[-1], p):
                runs[-1] = merge(runs[-1], ckpt)
            elif ckpt is not None and runs and runs[-1].format.has_log:  # said: it could have been merged
                runs.append(dataclasses.replace(run, notes=(*run.notes, (
                    f"read as a run of its own, not merged into {os.path.basename(runs[-1].source)}, the log read "
                    "before it: a checkpoint is merged into the log read just before it only from that log's "
                    "folder or its out_dir"))))
            else:
                runs.append(run)
    return runs


def discover(directory: str = ".") -> list[str]:
    """Files in `directory` that look like logs (by name, and by words of a training log or a
    format the registry reads in their first 64 KiB: a README that quotes a log is one), and
    its `out*` run directories (their log and ckpt.pt, merged; a ckpt.pt alone where there is
    no log), for `lossdoctor analyze` with no path, which skips, with why, those that hold no
    run."""
    directory = checked_path("discover", directory)
    if not os.path.isdir(directory):
        raise InputError(directory, "not a directory" if os.path.exists(directory) else "no such directory")
    found = []
    for name in sorted(os.listdir(directory)):
        full = os.path.join(directory, name)
        if os.path.isfile(full) and _log_name(name) and _looks_like_log(full):
            found.append(full)
        elif os.path.isdir(full) and name.startswith("out"):
            log, ck = _find_in_dir(full)
            if log is not None:
                found.append(full)
            elif ck is not None:
                found.append(ck)
    return found


# -- directories ------------------------------------------------------------------------------

def _looks_like_log(path: str) -> bool:
    """nanoGPT's words in the file's head, or a format the registry reads (llm.c's main.log
    has none of those words)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    if any(k in head for k in (b"iter ", b"step ", b"Overriding", b"tokens per iteration")):
        return True
    sample = Sample(path)
    return any(r.sniff(sample) for r in READERS if r.name in HEAD_SNIFFED)


# the text formats whose sniff reads a bounded head of the file (nanoGPT's reads the whole
# file, and is covered by the words above; JSON, CSV and checkpoints are no log file)
HEAD_SNIFFED = ("llmc-main", "llmc", "nanochat", "modded-nanogpt", "build-nanogpt-log")


def _find_in_dir(d: str, logs: list[str] | None = None) -> tuple[str | None, str | None]:
    """(newest log, else a file another trainer writes into its run's folder; ckpt.pt);
    `logs`: _logs_in(d), where the caller has it."""
    ckpt = os.path.join(d, CKPT_NAME) if os.path.isfile(os.path.join(d, CKPT_NAME)) else None
    logs = _logs_in(d) if logs is None else logs
    if logs:
        return logs[-1], ckpt
    run_file = next((os.path.join(d, n) for n in RUN_FILES if os.path.isfile(os.path.join(d, n))), None)
    events = _events_in(d)
    return run_file or (events[-1] if events else None), ckpt


def _events_in(d: str) -> list[str]:
    """A TensorBoard logdir's event files, oldest first."""
    return sorted((os.path.join(d, n) for n in os.listdir(d) if n.startswith(EVENTS_PREFIX + ".")
                   and os.path.isfile(os.path.join(d, n))), key=lambda f: (os.path.getmtime(f), f))


def _logs_in(d: str) -> list[str]:
    """The logs in a run directory, oldest first."""
    logs = [os.path.join(d, n) for n in os.listdir(d)
            if _log_name(n) and n.lower() != "readme.md"
            and os.path.isfile(os.path.join(d, n)) and _looks_like_log(os.path.join(d, n))]
    return sorted(logs, key=lambda f: (os.path.getmtime(f), f))


def _output_name(name: str) -> bool:
    """A name a run's output is saved under (train.log, job.out, stderr): not any .txt or
    .md a folder holds (a tokenizer's vocab.txt, merges.txt)."""
    low = name.lower()
    return low.endswith((".log", ".out", ".err")) or low.split(".")[0] in ("log", "output", "stdout", "stderr")


def _unread(d: str, logs: list[str]) -> str:
    """The files of `d` named like a log that show no training output in their head (a
    crash before the first step), said beside the logs found; "" where there are none."""
    taken = {os.path.basename(f) for f in logs}
    skipped = sorted(n for n in os.listdir(d) if n not in taken and _output_name(n)
                     and os.path.isfile(os.path.join(d, n)))
    if not skipped:
        return ""
    one = len(skipped) == 1
    what = ("1 more file named like a log shows no training output at its head and is" if one else
            f"{len(skipped)} more files named like a log show no training output at their heads and are")
    return f"; {what} not counted: {', '.join(skipped[:3])}" + (f" and {len(skipped) - 3} more" if len(skipped) > 3
                                                                else "")


def _record_files(d: str) -> list[str]:
    """The modded-nanogpt logs of a records folder (several runs of one record), when the
    folder holds two or more of them; else [] (a run directory: its newest log)."""
    if not os.path.isdir(d):
        return []
    from .modded import sniff
    files = sorted(os.path.join(d, n) for n in os.listdir(d)
                   if _log_name(n) and os.path.isfile(os.path.join(d, n)))
    found = [f for f in files if sniff(Sample(f))]
    return found if len(found) >= 2 else []


def _belongs(run: Run, ckpt_path: str) -> bool:
    """Whether ckpt_path is the checkpoint a log's run wrote (same out_dir or folder)."""
    ck_dir = os.path.dirname(os.path.abspath(ckpt_path))
    if ck_dir == os.path.dirname(os.path.abspath(run.source)):
        return True
    out_dir = run.config.get("out_dir")
    return bool(out_dir) and os.path.basename(ck_dir) == os.path.basename(str(out_dir).rstrip("/\\"))
