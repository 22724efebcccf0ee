"""A Run from a checkpoint alone, or a log's Run with its checkpoint merged in."""

from __future__ import annotations

from dataclasses import replace

from .. import config as C
from ..nanogpt import SHAPE_KEYS
from ..run import CheckpointInfo, Dialect, Event, Header, ModelArgs, Run, empty_evals, empty_iters
from . import lines as L
from .checkpoint import normalize_model_args
from .infer import cadence_note


def run_from_checkpoint(info: CheckpointInfo) -> Run:
    """The Run of a ckpt.pt alone (dialect nanogpt-ckpt)."""
    cfg = _config_from_checkpoint(info, C.ConfigBuilder())
    run = Run(source=info.path, format=Dialect.NANOGPT_CKPT, config=cfg, model_args=ModelArgs(),
              evals=empty_evals(), iters=empty_iters(), events=(), segments=(), header=Header(), unparsed=())
    return _with_checkpoint(run, info)


def merge(run: Run, info: CheckpointInfo) -> Run:
    """Merge a checkpoint into the Run read from its log (dialect nanogpt+ckpt).

    The log's own values win; the checkpoint fills what the log did not show (a log
    with no header gets its whole config from the checkpoint), and its model_args and
    parameter count are exact. The last segment of the lineage, the process that saved
    the checkpoint, gets the same: its explicit values win over train.py's defaults.
    A checkpoint from past the log's last step is another run's (an earlier, longer one in
    the same out_dir): it is not merged, and a note says so.
    """
    logged = max(run.last_step, _interrupted_at(run.events))  # an interruption saves where the log stops
    if info.iter_num is not None and (len(run.evals) or len(run.iters)) and info.iter_num > logged + 1:
        return replace(run, notes=(*run.notes, f"{info.path} is from step {info.iter_num:,}, past the log's last "
                                               f"step {logged:,}: another run's (an earlier one in the same folder?), "
                                               "not merged"))
    if (said := _another_model(run, info)) is not None:
        return replace(run, notes=(*run.notes, f"{info.path} holds another model ({said}): another run's, not "
                                               "merged"))
    lineage = run.lineage()
    cfg = _filled(run.config, info)
    segments = list(run.segments)
    last = segments[lineage[-1]] if lineage else None
    if last is not None and last.config is not None:
        segments[lineage[-1]] = replace(last, config=_filled(last.config, info))
    notes = list(run.notes)
    if any(cv.origin == C.CADENCE and cfg.values[k].origin != C.CADENCE for k, cv in run.config.values.items()):
        notes = [n for n in notes if f"(origin '{C.CADENCE}')" not in n]  # the checkpoint's config says them
        left = {k: cv.value for k, cv in cfg.values.items() if cv.origin == C.CADENCE}
        if left:  # what the checkpoint does not hold stays read off the log
            notes.append(cadence_note(left))
    if run.config.seen is False and cfg.seen:
        notes = [n for n in notes if not n.startswith("the log shows no config")]
        notes.append("the log shows no config; it was taken from the checkpoint")
    saves = [e.step for e in run.events if e.kind == "checkpoint_saved" and e.step is not None]
    while saves and info.iter_num is not None and saves[-1] != info.iter_num and info.iter_num in saves[:-1] \
            and _saved_beside(run.events, saves[-1]):
        saves = saves[:-1]  # saves that went beside ckpt.pt, which kept an earlier save of this log
    # a save after iterations past the last eval is dated by the last iteration the log prints:
    # up to log_interval - 1 steps before the checkpoint's own
    slack = max(int(cfg.get("log_interval") or 1), 1)
    if info.iter_num is not None and saves and not 0 <= info.iter_num - saves[-1] < slack:
        notes.append(f"the checkpoint is from step {info.iter_num}, but the log's last save "
                     f"was at step {saves[-1]}: they may not belong together")
    if last is not None and last.init_from == "resume":  # a fresh run builds the shape its flags say
        notes += _shape_not_taken(cfg, info)
    merged = replace(run, config=cfg, segments=tuple(segments), format=Dialect.NANOGPT_WITH_CKPT,
                     source=f"{run.source} + {info.path}", notes=tuple(notes))
    return _with_checkpoint(merged, info)


def _interrupted_at(events: tuple[Event, ...]) -> int:
    """The iter_num lossdoctor train's last interruption saved (its checkpoint's step, up to
    log_interval - 1 past the last iteration the log prints), else -1."""
    said = (L.TRAINER_INTERRUPTED.match(e.text.strip()) for e in events if e.kind == "interrupted")
    steps = [int(m.group(1)) for m in said if m]
    return steps[-1] if steps else -1


def _saved_beside(events: tuple[Event, ...], step: int) -> bool:
    """Whether the save at `step` went to lossdoctor train's ckpt_interrupted.pt, not
    ckpt.pt: an interruption's save, whose line says the best model stays in ckpt.pt."""
    save = next((e for e in reversed(events) if e.kind == "checkpoint_saved" and e.step == step), None)
    return save is not None and save.line is not None and any(
        e.kind == "interrupted" and "the best model stays in" in e.text and e.line is not None
        and 0 < e.line - save.line <= 2 for e in events)


def _shape_not_taken(cfg: C.Config, info: CheckpointInfo) -> list[str]:
    """Notes on model-shape keys the log sets to other values than the checkpoint's model
    has: a resume builds the checkpoint's shape whatever the flags say (nanoGPT's too)."""
    args = info.model_args or {}
    out = []
    for key in ("n_layer", "n_head", "n_embd", "bias", "vocab_size"):
        cv = cfg.values.get(key)
        if cv is None or cv.origin == C.CHECKPOINT or key not in args or cv.value == args[key]:
            continue
        out.append(f"the log sets {key} = {cv.value}, but the checkpoint's model has {key} = {args[key]}: a resume "
                   "builds the checkpoint's shape whatever the flags say, so the checkpoint's is what ran")
    return out


def _another_model(run: Run, info: CheckpointInfo) -> str | None:
    """How the checkpoint's model differs from the one the log's lineage built, or None: the
    shape its first process printed where that process started fresh (a resume builds the
    checkpoint's shape whatever its flags say, and a fine-tune GPT-2's); only what the log
    prints counts, not train.py's defaults an excerpt may not have overridden, nor a config
    file inferred from its cadence."""
    head = run.head()
    if head is None or head.init_from not in (None, "scratch"):
        return None
    config = head.config or run.config
    shown = {k: config.trusted(k) for k in SHAPE_KEYS
             if k in config.values and config.values[k].origin in (C.FILE, C.OVERRIDE, C.DUMP)}
    other = [k for k, v in shown.items() if v is not None and info.model_args.get(k) not in (None, v)]
    if not other:
        return None
    return ", ".join(f"{k} {info.model_args[k]!r} there, {shown[k]!r} in the log" for k in other)


def _filled(config: C.Config, info: CheckpointInfo) -> C.Config:
    """`config` with the checkpoint's values where it has only train.py's defaults, or
    values inferred from a config file or the log's spacing (readers/infer.py): the
    checkpoint's are what ran; a spacing the checkpoint's config does not hold stays."""
    shown = {k: cv for k, cv in config.values.items() if cv.origin not in (C.DEFAULT, C.INFERRED, C.CADENCE)}
    b = C.ConfigBuilder()
    for cv in shown.values():
        b.set(cv)
    for cv in config.values.values():  # the log's spacing stands where the checkpoint says nothing
        if cv.origin == C.CADENCE and cv.key not in info.config:
            b.set(cv)
    # what the log's flags replaced stays known (a resume over a fine-tune's config file)
    return replace(_config_from_checkpoint(info, b, keep=set(shown)), replaced=config.replaced)


def _config_from_checkpoint(info: CheckpointInfo, b: C.ConfigBuilder, keep: set[str] | None = None
                            ) -> C.Config:
    """The checkpoint's saved config, less `keep` (what the log shows), and the model keys
    its model_args give where that config does not (a fork's config dict may hold neither
    n_layer nor n_embd, where its model_args, under the fork's names, do)."""
    for key, value in info.config.items():
        if keep and key in keep:
            continue
        if isinstance(value, (int, float, str, bool)) or value is None:
            b.set(C.ConfigValue(key, value, C.CHECKPOINT))
    args, _ = normalize_model_args(info.model_args)
    for key, value in ModelArgs.from_mapping(args).as_dict().items():
        if key not in info.config and key != "vocab_size" and not (keep and key in keep):
            b.set(C.ConfigValue(key, value, C.CHECKPOINT), shows=False)
    return b.build()


def _with_checkpoint(run: Run, info: CheckpointInfo) -> Run:
    shapes_args, notes = normalize_model_args(info.model_args)
    if info.n_params is not None:  # read_checkpoint said what the weights' shapes could not settle
        notes = tuple(n for n in notes if not n.startswith("could not know"))
    args = run.model_args.updated(ModelArgs.from_mapping(shapes_args))
    header = run.header
    if header.vocab_size is None and args.vocab_size:
        header = replace(header, vocab_size=args.vocab_size, vocab_source="checkpoint")
    events = list(run.events)
    if not any(e.kind == "checkpoint_saved" and e.step == info.iter_num for e in events):  # the log's own save
        events.append(Event("checkpoint_saved", None, f"{info.path}: iter_num={info.iter_num}, "
                            f"best_val_loss={info.best_val_loss}", info.iter_num, None))
    return replace(run, checkpoint=info, model_args=args, header=header, events=tuple(events),
                   notes=tuple(dict.fromkeys(run.notes + tuple(info.notes) + tuple(notes))))
