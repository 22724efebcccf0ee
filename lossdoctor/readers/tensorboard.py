"""Reader for TensorBoard event files (`events.out.tfevents.*`, dialect `tensorboard`),
through tensorboard's own reader: `pip install lossdoctor[tensorboard]`.

Scalars are read by tag: the train loss is the first tag named like one (`train/loss`,
`loss`, `train_loss`, ...), val the first val-like tag (`val/loss`, `eval/loss`, ...);
every other scalar is kept as a series. A directory of event files is read through the
newest file in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..run import Dialect, Measures
from . import columns as K
from .build import Found, make_run

if TYPE_CHECKING:
    from ..run import Run
    from .registry import Sample

PREFIX = "events.out.tfevents"


def sniff(sample: Sample) -> bool:
    """A file named events.out.tfevents.*."""
    import os
    return os.path.basename(sample.path).startswith(PREFIX)


def read(sample: Sample) -> Run:
    scalars = _scalars(sample.path)
    found = Found(n_lines=sum(len(v) for v in scalars.values()))
    tags = list(scalars)
    train, val = K.train_column(tags), K.val_column(tags)
    if train is None and val is None:
        raise InputError(sample.path, f"no loss-like scalar (tags: {', '.join(tags[:20]) or 'none'})")
    for tag, points in scalars.items():
        for step, value in points:
            if tag == train:
                found.train.add(step, value, 0)
            elif tag == val:
                found.val.add(step, value, 0)
            else:
                found.point(tag, step, value, 0)
    found.notes.append(f"read tags {train!r} (train loss) and {val!r} (val)")
    return make_run(found, sample.path, Dialect.TENSORBOARD,
                    Measures(val=K.val_unit(val), train="window", eval_train=False))


def _scalars(path: str) -> dict[str, list[tuple[int, float]]]:
    try:
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
        from tensorboard.util import tensor_util
    except ImportError:
        raise InputError(path, "a TensorBoard event file: reading it needs tensorboard "
                               "(pip install 'lossdoctor[tensorboard]')") from None
    out: dict[str, list[tuple[int, float]]] = {}
    try:
        for event in EventFileLoader(path).Load():
            for v in event.summary.value:
                value = _value(v, tensor_util)
                if value is not None:
                    out.setdefault(v.tag, []).append((int(event.step), value))
    except Exception as e:  # tensorboard raises its own errors (DataLossError, ...) on a damaged file
        raise InputError(path, f"damaged TensorBoard event file: {type(e).__name__}: {e}") from None
    return out


def _value(v: Any, tensor_util: Any) -> float | None:
    if v.HasField("simple_value"):
        return float(v.simple_value)
    if v.HasField("tensor"):
        a = tensor_util.make_ndarray(v.tensor)
        return float(a) if a.size == 1 and a.dtype.kind in "fiu" else None
    return None
