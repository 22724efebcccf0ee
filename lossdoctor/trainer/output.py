"""Where a training run's output goes: log lines, metrics, a progress bar."""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

from ..fsio import keep_previous


class Output:
    """Log lines to stdout and OUT_DIR/train.log; metrics to OUT_DIR/metrics.jsonl.

    Both files are opened (created, or appended to with `append`) at the first metric, the
    first thing a run measures: the lines before it (the config echo) are printed at once
    and written then, so that a run that fails before it measures anything (a bad value, a
    device that is not there, data that does not fit the model) leaves OUT_DIR as it was.
    A new run (not `append`) moves an earlier run's files aside to train.log.1, ... first.
    """

    def __init__(self, out_dir: str, append: bool, echo: bool, enabled: bool = True, write: bool = True) -> None:
        self.enabled = enabled  # False: a DDP rank other than 0, which writes nothing (as nanoGPT)
        self.write = write  # False: the lines are printed and no file is written (an eval-only run)
        self.out_dir = out_dir
        self.mode = "a" if append else "w"
        self.echo = echo
        self.files: tuple[IO[str], IO[str]] | None = None  # (train.log, metrics.jsonl)
        self.pending: list[str] = []  # lines printed before the first metric, not written yet

    def _open(self) -> tuple[IO[str], IO[str]]:
        if self.files is None:
            os.makedirs(self.out_dir, exist_ok=True)
            paths = [os.path.join(self.out_dir, name) for name in ("train.log", "metrics.jsonl")]
            if self.mode == "w":  # a new run never destroys an earlier run's log
                for kept in keep_previous(*paths):
                    if self.echo:
                        name = os.path.basename(kept).rsplit(".", 1)[0]
                        print(f"an earlier run's {name} is kept as {kept}", file=sys.stderr)
                ckpt = os.path.join(self.out_dir, "ckpt.pt")
                if self.echo and os.path.exists(ckpt):  # as train.py, the new run saves over it
                    print(f"an earlier run's {ckpt} is replaced at this run's first save (keep it elsewhere, "
                          "or give another --out_dir)", file=sys.stderr)
            log, metrics = (open(p, self.mode, encoding="utf-8") for p in paths)
            self.files = (log, metrics)
            log.writelines(line + "\n" for line in self.pending)
            self.pending = []
        return self.files

    def line(self, text: str) -> None:
        if not self.enabled:
            return
        if self.echo:
            print(text, flush=True)
        if not self.write:
            return
        if self.files is None:
            self.pending.append(text)
            return
        log = self.files[0]
        log.write(text + "\n")
        log.flush()

    def commit(self) -> None:
        """Write the lines so far now, without a metric: the run saved or stopped on
        something the log must show."""
        if self.enabled and self.write:
            self._open()

    def metric(self, **values: Any) -> None:
        if not (self.enabled and self.write):
            return
        metrics = self._open()[1]
        metrics.write(json.dumps(values) + "\n")
        metrics.flush()

    def close(self) -> None:
        if self.files is not None:
            for f in self.files:
                f.close()
            self.files = None


class Progress:
    """A progress bar on stderr (rich), drawn only when stderr is a terminal."""

    def __init__(self, total: int, done: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar
        console = Console(stderr=True)
        self.progress = Bar(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("loss {task.fields[loss]}, last val {task.fields[val]}"),
                            TextColumn("ETA"), TimeRemainingColumn(),
                            console=console, transient=True, disable=not console.is_terminal,
                            # log lines to a terminal go above the bar; to a file, into the file
                            redirect_stdout=sys.stdout.isatty(), redirect_stderr=False)
        self.task = self.progress.add_task("train", total=total + 1, completed=done, loss="-", val="-")
        self.progress.start()

    def update(self, done: int, loss: float, val: float | None = None) -> None:
        """done: iterations so far; loss: the last step's; val: the last eval's, if any."""
        self.progress.update(self.task, completed=done, loss=f"{loss:.4f}",
                             val="-" if val is None else f"{val:.4f}")

    def close(self) -> None:
        self.progress.stop()
