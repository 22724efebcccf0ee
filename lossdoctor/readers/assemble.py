"""Turn a scanned nanoGPT log into a Run: segments, per-segment config, header, events."""

from __future__ import annotations

import os
import shlex
from dataclasses import replace
from typing import Any

import numpy as np

from .. import config as C
from ..nanogpt import MODEL_KEYS, gpt2_model_args
from ..run import Dialect, EvalCurve, Event, EventKind, Header, IterCurve, ModelArgs, Run, Segment, UnparsedLine
from . import command, contradict, others, processes
from . import lines as L
from .infer import dataset_from_meta, infer_cadence, infer_config
from .linereader import Record, Scan


def assemble(scan: Scan, source: str, fmt: Dialect | str) -> Run:
    """Build the Run from what the line reader found; `fmt` is its dialect."""
    iters, iter_repeats = _drop_repeats(_iter_arrays(scan))
    evals, eval_repeats = _drop_repeats(_eval_arrays(scan))
    # a log written twice repeats its header too: one process, not two ranks (DDP ranks do
    # print header lines twice over, but never a metric line)
    records = _once(scan.records) if iter_repeats or eval_repeats else scan.records
    metric_line, metric_step, metric_eval = _merge((*iters[:2], np.zeros(len(iters[0]), bool)),
                                                   (*evals[:2], np.ones(len(evals[0]), bool)))
    records = command.with_output(records, metric_line)
    header_bounds = processes.header_bounds(records, metric_line)
    bounds = processes.regression_bounds(header_bounds, metric_line, metric_step, metric_eval)
    samples = others.sample_spans(bounds, records, metric_line, scan.n_lines)
    bounds, records = others.without(bounds, records, samples)
    bnd = np.array(bounds, np.int64)

    def seg_of(lines: np.ndarray) -> np.ndarray:
        if len(bnd) == 1:
            return np.zeros(len(lines), np.int32)
        return (np.searchsorted(bnd, lines, side="right") - 1).astype(np.int32)

    it_curve, shuffled = processes.in_step_order(IterCurve(iters[1], iters[2], iters[3], iters[4], seg_of(iters[0]),
                                                           iters[0]))
    ev_curve = EvalCurve(evals[1], evals[2], evals[3], seg_of(evals[0]), evals[0])
    rec_seg = seg_of(np.array([r.line for r in records], np.int64))
    segments: list[Segment] = []
    resumed: list[int] = []  # first lines of the processes read as resumes with no header of their own
    headers: list[Header] = []
    configs: list[C.Config] = []
    for k, first in enumerate(bounds):
        last = bounds[k + 1] - 1 if k + 1 < len(bounds) else max(scan.n_lines, first)
        recs = [r for r, s in zip(records, rec_seg, strict=True) if s == k]
        cfg, header = _segment_config(recs)
        its, evs = it_curve.segment == k, ev_curve.segment == k
        if k == len(bounds) - 1 and cfg.seen and not its.any() and not evs.any() \
                and all(r.kind in CONFIG_KINDS for r in recs):  # more of the config may have followed
            cfg = _cut_in_echo(cfg)
        steps = np.concatenate([it_curve.step[its], ev_curve.step[evs]])
        ev_lines, it_lines = ev_curve.line[evs], it_curve.line[its]
        eval_first = len(ev_lines) > 0 and (not len(it_lines) or ev_lines[0] < it_lines[0])
        if first not in header_bounds and eval_first and processes.resumes(header, steps, segments[-1]):
            header = replace(header, init_from="resume")
            cfg = cfg if cfg.seen else segments[-1].config or cfg
            resumed.append(first)
        headers.append(header)
        configs.append(cfg)
        segments.append(Segment(
            index=k, first_line=first, last_line=last, init_from=header.init_from,
            world_size=max(1, sum(r.kind == "tokens" for r in recs)),
            n_evals=len(ev_lines), n_iters=len(it_lines),
            first_step=int(steps.min()) if len(steps) else None,
            last_step=int(steps.max()) if len(steps) else None, config=cfg))
    events = _events(records, rec_seg, ev_curve, it_curve, segments)
    run = Run(
        source=source, format=Dialect(fmt), config=configs[-1],
        model_args=ModelArgs(), evals=ev_curve, iters=it_curve, events=events, segments=tuple(segments),
        header=Header(), unparsed=tuple(UnparsedLine(n, t) for n, t in scan.unparsed),
        line_counts={"total": scan.n_lines, **scan.counts}, rank_tags=scan.rank_tags)
    lin = run.lineage()
    header = _merge_headers([headers[i] for i in lin])
    if lin:
        run = _replace(run, config=configs[lin[-1]])
    inferred = infer_config(records, run, header)  # (the run with it, or None; what is said)
    if inferred is not None and inferred[0] is not None:
        run = inferred[0]
    run, spacing = infer_cadence(run, scan.iter_stride)
    run = dataset_from_meta(run, header)
    notes = _notes(scan, records, run, header, inferred[1] if inferred else None)
    notes += processes.resume_notes(run.segments, resumed)
    notes += tuple(n for n in (spacing, shuffled) if n)
    notes += tuple(f"lines {s.first:,}-{s.last:,} are sample.py's output (its overrides and samples, no "
                   "training): not read as a run" for s in samples)
    if iter_repeats or eval_repeats:
        notes += (f"{iter_repeats:,} iteration and {eval_repeats:,} eval lines repeat the line of their kind "
                  "before them exactly (the log written twice, as by two `tee`s): each is counted once",)
    return _replace(run, header=header, model_args=model_args_from(run.config, header), notes=notes)


def _replace(run: Run, **changes: Any) -> Run:
    return replace(run, **changes)


# -- curves --------------------------------------------------------------------------------

def _iter_arrays(scan: Scan) -> tuple[np.ndarray, ...]:
    f = scan.fast
    fast = (f.line + 1, f.step, f.loss, f.time_ms, f.mfu)
    slow = [r for r in scan.records if r.kind == "iter"]
    if not slow:
        return fast
    other = (np.array([r.line for r in slow], np.int64),
             *(np.array([r.value[j] for r in slow], dtype)
               for j, dtype in enumerate((np.int64, float, float, float))))
    return _merge(fast, other)


def _merge(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Merge two column sets, each sorted by its first column (line), into line order.
    b is the small one: inserting it costs one pass over a, no sort."""
    if not len(b[0]):
        return a
    order = np.argsort(b[0], kind="stable")
    b = tuple(c[order] for c in b)
    at = np.searchsorted(a[0], b[0], side="right")  # where each b row goes in a
    dest = at + np.arange(len(at))  # its index in the merged columns
    keep = np.ones(len(a[0]) + len(at), bool)
    keep[dest] = False
    out = []
    for ca, cb in zip(a, b, strict=True):
        col = np.empty(len(keep), np.result_type(ca, cb))
        col[dest] = cb
        if len(at) < 2000:  # few rows to insert: copy the runs of a between them
            for k, (lo, hi) in enumerate(zip(np.r_[0, at], np.r_[at, len(ca)], strict=True)):
                col[lo + k:hi + k] = ca[lo:hi]
        else:
            col[keep] = ca
        out.append(col)
    return tuple(out)


def _drop_repeats(cols: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, ...], int]:
    """The rows (line, step, values...) without those that repeat the row on the line just
    before them: a line printed twice. Two iterations never share a step, a loss and a time
    to the printed digit; two runs of one seed do print the same eval at step 0, but each
    under its own header, not on the next line."""
    if len(cols[0]) < 2:
        return cols, 0
    same = np.diff(cols[0]) == 1
    for c in cols[1:]:
        a, b = c[1:], c[:-1]
        same &= (a == b) | (np.isnan(a) & np.isnan(b)) if c.dtype.kind == "f" else a == b
    if not same.any():
        return cols, 0
    keep = np.r_[True, ~same]
    return tuple(c[keep] for c in cols), int(same.sum())


def _once(records: list[Record]) -> list[Record]:
    """The records without those that repeat the one on the line just before them."""
    out = records[:1]
    for prev, r in zip(records, records[1:], strict=False):
        if not (r.line == prev.line + 1 and (r.kind, r.value, r.text) == (prev.kind, prev.value, prev.text)):
            out.append(r)
    return out


def _eval_arrays(scan: Scan) -> tuple[np.ndarray, ...]:
    ev = [r for r in scan.records if r.kind == "eval"]
    return (np.array([r.line for r in ev], np.int64), np.array([r.value[0] for r in ev], np.int64),
            np.array([r.value[1] for r in ev], float), np.array([r.value[2] for r in ev], float))


def _yaml_assignments(text: str, first_line: int | None) -> list[C.ConfigValue] | None:
    """The top-level scalar keys of a YAML config echo (yaml.safe_load), or None when it is
    no YAML mapping."""
    import yaml
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(doc, dict):
        return None
    lines = text.splitlines()
    out = []
    for key, value in doc.items():
        if not isinstance(key, str) or not isinstance(value, (int, float, str, bool)):
            continue
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 as text; nanoGPT's literal_eval would not
            value = C.parse_override_value(value)
        at = next((i for i, ln in enumerate(lines) if ln.startswith(f"{key}:")), None)
        line = first_line + at if first_line is not None and at is not None else first_line
        raw = lines[at].split(":", 1)[1].strip() if at is not None else repr(value)
        out.append(C.ConfigValue(key, value, C.FILE, True, raw, line))
    return out


def _segment_config(recs: list[Record]) -> tuple[C.Config, Header]:
    """Replay one process's header: defaults, then the config file, overrides, dumps."""
    b = C.ConfigBuilder()
    h: dict[str, Any] = {}
    config_file = ""
    file_unseen = False  # a command named a config file whose body the log does not echo
    for r in recs:
        if r.kind == "command":
            file_unseen = command.apply(b, r) or file_unseen
        elif r.kind == "config_file":  # the file as it ran: what a command's file was taken to set is not
            config_file = h["config_file"] = str(r.value)
            file_unseen = command.forget(b)
        elif r.kind == "echo_body":
            yaml_file = config_file.endswith((".yaml", ".yml"))  # the built-in trainer takes YAML too
            for cv in (_yaml_assignments(r.value, r.line) if yaml_file else None) or \
                    C.parse_assignments(r.value, r.line):
                b.set(cv)
        elif r.kind == "override":
            key, raw = r.value
            b.set(C.ConfigValue(key, C.parse_override_value(raw), C.OVERRIDE, True, raw, r.line))
        elif r.kind == "dump_item":
            key, raw = r.value
            b.set(C.ConfigValue(key, C.parse_override_value(raw), C.DUMP, True, raw, r.line))
        elif r.kind == "tokens":
            h["tokens_per_iter"] = _count(r.value)
        elif r.kind == "split":
            h["train_tokens"] = _count(r.value)
        elif r.kind == "gpu":  # the built-in trainer's GPU, and the dtype it resolved from train.py's default
            for key, value in zip(("device_name", "dtype"), r.value, strict=True):
                b.set(C.ConfigValue(key, value, C.DUMP, True, value, r.line))
        elif r.kind == "vocab":
            h["vocab_size"], h["vocab_source"] = _count(r.value[0]), r.value[1]
        elif r.kind == "init":
            h["init_from"] = r.value
        elif r.kind == "params":
            h["params_m"] = r.value if _count(r.value * 1e6) is not None else None
        elif r.kind in ("decayed", "nodecay"):
            h[f"{r.kind}_params"] = _count(r.value)
        elif r.kind == "fused":
            h["fused_adamw"] = r.value
        elif r.kind == "compile":
            h["compile"] = True
        elif r.kind == "slow_attention":
            h["slow_attention"] = True
    cfg = b.build()
    if file_unseen:  # train.py's defaults stand only for keys the file leaves alone, which are unseen
        cfg = command.check_file(replace(cfg, defaults_ok=False, defaults_why=FILE_UNSEEN), h.get("tokens_per_iter"))
    cfg = contradict.checked(cfg, h.get("tokens_per_iter"), h.get("params_m"), h.get("vocab_size"))
    if "init_from" not in h and cfg["init_from"].origin != C.DEFAULT and cfg.get("init_from"):
        h["init_from"] = cfg.get("init_from")
    return cfg, Header(**h)


def _count(value: Any) -> Any:
    """A header's count when it is one (finite, 0 <= x < NUMBER_LIMIT), else None: a
    400-digit token count is a damaged line, and would overflow every float after it."""
    ok = isinstance(value, (int, float)) and 0 <= value < C.NUMBER_LIMIT
    return value if ok else None


# what train.py prints while it reads its config, before any output of its own: a log that
# ends among these lines may not show every key its config set
CONFIG_KINDS = frozenset({"command", "config_file", "echo_body", "override", "dump_item", "truncated"})
HEADER_CUT = ("the log ends inside its config echo: the keys it had not yet printed may not be train.py's "
              "defaults")
FILE_UNSEEN = ("it runs a config file it does not print: train.py's defaults stand only for the keys that file "
               "leaves alone, which the log does not show")


def _cut_in_echo(cfg: C.Config) -> C.Config:
    """A config whose log ends inside its echo: train.py's defaults do not stand, and nor do
    its config file's values, which the `Overriding:` flags after them (not printed yet)
    may replace (nanoGPT's CPU run cut there had shown the file's 6 layers, not its 4)."""
    why = "the log ends inside its config echo, and flags it had not yet printed may override it"
    cut = {k: C.not_taken(cv, why) for k, cv in cfg.values.items() if cv.origin == C.FILE and cv.known}
    return replace(cfg, values={**cfg.values, **cut}, defaults_ok=False, defaults_why=HEADER_CUT)


def _merge_headers(headers: list[Header]) -> Header:
    """The last process's header, with gaps filled from the processes it resumed."""
    out: dict[str, Any] = {}
    for h in headers:
        for name in Header.__dataclass_fields__:
            v = getattr(h, name)
            if v is not None and v is not False:
                out[name] = v
    return Header(**out)


def model_args_from(cfg: C.Config, header: Header) -> ModelArgs:
    """nanoGPT's model_args as the last process built them, where the log tells."""
    args: dict[str, Any] = {k: cfg.trusted(k) for k in MODEL_KEYS}
    args["vocab_size"] = header.vocab_size
    pretrained = gpt2_model_args(header.init_from or "", cfg.trusted("block_size"))
    if pretrained is not None:  # from_pretrained forces these; block_size is cropped down only
        args.update(pretrained)
    return ModelArgs.from_mapping(args)


# -- events and notes ------------------------------------------------------------------------

_EVENT_OF: dict[str, EventKind] = {
    "saving": "checkpoint_saved", "compile": "compile", "warning": "warning", "traceback": "traceback",
    "interrupted": "interrupted", "truncated": "truncated", "cpu_autocast": "cpu_autocast", "elided": "elided"}


def _events(records: list[Record], rec_seg: np.ndarray, ev: EvalCurve, it: IterCurve,
            segments: list[Segment]) -> tuple[Event, ...]:
    out: list[Event] = []
    saves = [r.line for r in records if r.kind == "saving"]
    # the eval just before each `saving checkpoint` line (same segment checked below), and
    # the iteration: a save after iterations past its eval (the built-in trainer's final
    # save of a run whose evals never improved) is of the state after that iteration
    before = dict(zip(saves, np.searchsorted(ev.line, np.array(saves, np.int64)) - 1, strict=True))
    after_iter = dict(zip(saves, np.searchsorted(it.line, np.array(saves, np.int64)) - 1, strict=True))
    for r, seg in zip(records, rec_seg, strict=True):
        kind: EventKind | None = _EVENT_OF.get(r.kind)
        if r.kind == "init" and r.value == "resume":
            kind = "resumed"
        elif r.kind == "init" and str(r.value).startswith("gpt2"):
            kind = "init_gpt2"
        if kind is None:
            continue
        step = None
        if kind == "checkpoint_saved":
            i, j = int(before[r.line]), int(after_iter[r.line])
            if j >= 0 and it.segment[j] == seg and (i < 0 or it.line[j] > ev.line[i]):
                step = int(it.step[j]) + 1  # nanoGPT's iter_num after that update
            else:
                step = int(ev.step[i]) if i >= 0 and ev.segment[i] == seg else None
        frames = tuple(r.value) if kind == "traceback" and isinstance(r.value, tuple) else ()
        out.append(Event(kind, r.line, r.text or str(r.value), step, int(seg), frames))
    for seg in segments[1:]:
        out.append(Event("new_segment", seg.first_line, f"run {seg.index + 1} starts "
                         f"({seg.init_from or 'init not printed'})", seg.first_step, seg.index))
    for seg in segments:
        out.extend(_first_nan(seg.index, ev, it))
    return tuple(sorted(out, key=lambda e: (e.line or 0)))


def _first_nan(seg: int, ev: EvalCurve, it: IterCurve) -> list[Event]:
    cands = []
    for name, curve, values in (("iter loss", it, [it.loss]), ("eval loss", ev, [ev.train, ev.val])):
        bad = (curve.segment == seg) & np.any([~np.isfinite(v) for v in values], axis=0) \
            if len(curve) else np.zeros(0, bool)
        idx = np.flatnonzero(bad)
        if len(idx):
            i = int(idx[0])
            cands.append(Event("first_nan", int(curve.line[i]), f"first non-finite {name} at step "
                               f"{int(curve.step[i])}", int(curve.step[i]), seg))
    return sorted(cands, key=lambda e: e.line or 0)[:1]


def _others_said(run: Run, lineage: tuple[int, ...]) -> str:
    """The file's earlier runs with losses that are not the lineage's, each with the
    command that reads it: the file up to its last line (its lineage is then that run's;
    LOG where the input was no file, a pipe)."""
    earlier = [s for s in run.segments if s.index not in lineage and s.n_evals + s.n_iters > 0
               and s.index < lineage[0]]
    path = shlex.quote(run.source) if os.path.isfile(run.source) and run.source != "/dev/stdin" else "LOG"
    said = [f"run {s.index + 1}, steps {s.first_step:,} to {s.last_step:,}: `head -n {s.last_line} "
            f"{path} > run{s.index + 1}.log`" for s in earlier[-3:]
            if s.first_step is not None and s.last_step is not None]
    return f"; to read another, cut the file after it ({'; '.join(said)})" if said else ""


def _config_above(run: Run, first: Segment) -> int | None:
    """The first line of the config an earlier run in the file shows (None: none does)."""
    shown = [c.line for s in run.segments[:first.index] if s.config is not None and s.config.seen
             for c in s.config.values.values() if c.origin != C.DEFAULT and c.line is not None]
    return min(shown) if shown else None


def _notes(scan: Scan, records: list[Record], run: Run, header: Header, inferred: str | None) -> tuple[str, ...]:
    notes = [f"config value not used: {p}" for p in run.config.problems]
    if inferred:
        notes.append(inferred)
    elif (first := run.appended()) is not None and (earlier := _config_above(run, first)) is not None:
        notes.append(f"the run in the file from line {first.first_line:,} (at step {first.first_step:,}) shows "
                     f"no config lines of its own; the config at line {earlier:,} is an earlier run's, so values "
                     "that depend on it are unknown")
    elif said := command.note(records, run):
        notes.append(said)
    elif not run.config.seen:
        notes.append("the log shows no config (no `Overriding` lines or config-file echo); "
                     "values that depend on it are unknown unless a checkpoint gives them")
    if scan.nonstandard:
        notes.append(f"{scan.nonstandard} metric lines are in a non-standard (forked) format "
                     "and were read with a tolerant pattern")
    if run.config.defaults_why == HEADER_CUT:
        notes.append("the log ends inside its config echo: the keys it had not yet printed are unknown, not taken as "
                     "train.py's defaults, and so are its config file's values, which flags printed after them may "
                     "override")
    elif run.config.seen and not run.config.defaults_trusted and not said and not contradict.said(run.config):
        notes.append(f"the log's `tokens per iteration` ({header.tokens_per_iter:,}) does not match "
                     "the config it shows with train.py's defaults: part of the config was not "
                     "printed, so default values are not trusted")
    lin = run.lineage()
    if len(run.segments) > len(lin):
        which = ", ".join(str(i + 1) for i in lin)
        notes.append(f"the file holds {len(run.segments)} runs; facts use run {which} of them (counting from 1; "
                     "the JSON's lineage counts from 0): the last with losses"
                     + (", and the runs it resumes" if len(lin) > 1 else "") + _others_said(run, lin))
    ws = max((s.world_size for s in run.segments), default=1)
    if ws > 1:
        notes.append(f"{ws} ranks printed the header (DDP); metrics come from rank 0")
    cut = next((r for r in reversed(scan.records) if r.kind == "truncated"), None)
    if cut is not None:  # a metric line with no newline that stops before its last value
        notes.append(L.cut_note(cut.line, cut.text))
    if scan.iter_stride > 1:
        notes.append(f"{scan.counts['iter']:,} iteration lines: one in {scan.iter_stride} is kept (and the last), "
                     "to bound memory; iteration facts use those, eval lines are all kept")
    return tuple(notes)
