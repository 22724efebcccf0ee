"""`lossdoctor sample`: each checkpoint's text side by side, headed by its step and the
val loss it records: the best, or with always_save_checkpoint=True the val at its save."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..trainer.sample import Sample
from .names import short_name

SIDE_BY_SIDE = 3  # more checkpoints than this are stacked, one panel each


def _head(s: Sample) -> str:
    step = "step ?" if s.step is None else f"step {s.step:,}"
    label = ("val" if s.val_step == 0 else f"val at step {s.val_step:,}" if s.val_step is not None  # its last eval
             else "val at its save" if s.val_at_save else "best val")  # always_save_checkpoint: the last eval's
    val = f"{label} unknown" if s.best_val_loss is None else f"{label} {s.best_val_loss:.4f}"
    return f"{short_name(s.path)}\n{step}, {val}"


def render_samples(samples: Sequence[Sample]) -> RenderableType:
    notes = [Text(f"{short_name(s.path)}: {s.note}", style="dim") for s in samples if s.note]  # as its column
    if len(samples) <= SIDE_BY_SIDE:
        t = Table(show_lines=False, expand=True)
        for s in samples:
            t.add_column(_head(s), overflow="fold", ratio=1)
        t.add_row(*[Text(s.text) for s in samples])
        return Group(t, *notes)
    return Group(*[Panel(Text(s.text), title=Text(_head(s).replace("\n", ": ")), title_align="left") for s in samples],
                 *notes)
