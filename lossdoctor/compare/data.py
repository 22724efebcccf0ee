"""Whether two runs' losses compare: the same tokenizer (vocabulary) and the same data, as
far as their logs show them; and what the logs show that differs, or do not show."""

from __future__ import annotations

import math

from ..dialect import Dialect
from ..facts import Facts
from ..run import Run
from .results import KeyDiff


def comparable(ra: Run, rb: Run, fa: Facts, fb: Facts, per_byte: bool = False) -> tuple[bool, str]:
    """Whether the losses of two runs compare at all (same vocabulary and dataset), and why not.
    `per_byte`: they are compared in bits per byte (nanochat's val), which no tokenizer changes:
    only the data must be the same."""
    va, vb = fa.value("vocab_size"), fb.value("vocab_size")
    status = {fa["vocab_size"].status, fb["vocab_size"].status}
    if not per_byte and va is not None and vb is not None and not _same_tokens(va, vb):
        if not {"inferred", "assumed"} & status or all(_vouched(f) for f in (fa, fb)):
            return False, f"vocab_size {va} vs {vb}"
    if not per_byte and (why := _first_loss_too_high(fa, fb) or _best_too_high(fa, fb)) is not None:
        return False, why
    if (why := _blind_across_trainers(ra, rb, fa, fb)) is not None:
        return False, why
    da, db = ra.config.trusted("dataset"), rb.config.trusted("dataset")
    if da is not None and db is not None and da != db:
        return False, f"dataset {da!r} vs {db!r}"
    return True, ""


def vocab_diff(fa: Facts, fb: Facts) -> tuple[KeyDiff, ...]:
    """Two runs' vocabularies where they differ, as a setting of what the model learns: in
    bits per byte the losses of two tokenizers compare, and the vocabulary is one more key
    that differs (nanochat's runs of two tokenizers)."""
    a, b = fa["vocab_size"], fb["vocab_size"]
    if a.value is None or b.value is None or _same_tokens(a.value, b.value):
        return ()
    return (KeyDiff("vocab_size", a.value, b.value, a.source, b.source, "learning"),)


def _vouched(f: Facts) -> bool:
    """Whether a run's vocab_size is read, or known from the dataset its config names
    (nanoGPT's data/shakespeare_char: 65), not inferred from a loss."""
    fact = f["vocab_size"]
    return fact.status in ("read", "computed") or (fact.status == "assumed" and fact.source.startswith("dataset "))


def _first_loss_too_high(fa: Facts, fb: Facts) -> str | None:
    """Why two runs are on two tokenizers where one's vocabulary is not read, but inferred
    from its val at step 0 (e^loss) or unknown (a trainer that may fine-tune), and the
    other's is: that loss lies more than INFERRED_VOCAB_NATS above ln V of the other's
    vocabulary, higher than any model over V tokens starts (a fresh one at most a third
    above; a fine-tune, or a log that begins mid-run, below, which says nothing); None
    otherwise. An unknown vocabulary is held against a vouched one only."""
    for f, g in ((fa, fb), (fb, fa)):
        mine, vo, first = f["vocab_size"], g.value("vocab_size"), _val_at_step_0(f)
        other_ok = g["vocab_size"].status != "inferred" if mine.status == "inferred" else _vouched(g)
        if mine.status not in ("inferred", "unknown") or not other_ok or not isinstance(vo, int) or vo < 2 \
                or first is None or first - math.log(vo) <= INFERRED_VOCAB_NATS:
            continue
        if mine.status == "unknown":
            return (f"one run's vocabulary is not shown, and its val at step 0, {first:.4f} nats, lies "
                    f"{first - math.log(vo):.2f} above ln {vo:,} of the other's: no model over {vo:,} tokens "
                    "starts there")
        vi = mine.value
        said = [f"{v:,}" + (" (inferred from its loss at step 0)" if v == vi else "")
                for v in ((vi, vo) if f is fa else (vo, vi))]
        return f"vocab_size {said[0]} vs {said[1]}"
    return None


def _best_too_high(fa: Facts, fb: Facts) -> str | None:
    """Why two runs are on two tokenizers where one's vocabulary is not shown and its best
    val lies more than INFERRED_VOCAB_NATS above ln V of the other's vouched vocabulary: a
    model over V tokens that trains at all ends below ln V, the loss of guessing uniformly
    (a Lightning run's 7.2 nats beside a 65-character run's; its first eval, at step 99,
    says nothing of where it started); None otherwise."""
    for f, g in ((fa, fb), (fb, fa)):
        best, vo = f["best_val"], g.value("vocab_size")
        if (f["vocab_size"].status != "unknown" or not _vouched(g) or not isinstance(vo, int) or vo < 2
                or best.unit != "nats" or not isinstance(best.value, float) or not math.isfinite(best.value)
                or best.value - math.log(vo) <= INFERRED_VOCAB_NATS):
            continue
        return (f"one run's vocabulary is not shown, and its best val, {best.value:.4f} nats, lies "
                f"{best.value - math.log(vo):.2f} above ln {vo:,} of the other's: no model over {vo:,} tokens that "
                "trains ends there")
    return None


def _val_at_step_0(f: Facts) -> float | None:
    """The run's val at step 0 in nats, finite; None where its first eval is later (a note
    says so) or none is read."""
    fact, first = f["first_val"], f.value("first_val")
    ok = fact.status == "read" and fact.note is None and fact.unit == "nats"
    return first if ok and isinstance(first, float) and math.isfinite(first) else None


def _blind_across_trainers(ra: Run, rb: Run, fa: Facts, fb: Facts) -> str | None:
    """Why two trainers' runs do not compare where one shows its vocabulary or dataset and
    the other shows neither: nothing says the latter's losses are over the same tokens (an
    HF Trainer's GPT-2 fine-tune beside a character-level nanoGPT run), and across trainers
    nothing else does either. Two runs of one trainer that show neither are compared with a
    note (`data_unknown`), as are two that both show theirs, and a table or export whose
    trainer is not said."""
    ta, tb = _whose(ra), _whose(rb)
    if ta == tb or "" in (ta, tb):
        return None  # one trainer, or a table or export that does not say whose (W&B's of nanoGPT runs)
    blind = [r for r, f in ((ra, fa), (rb, fb))
             if f.value("vocab_size") is None and r.config.trusted("dataset") is None]
    if len(blind) != 1:
        return None
    shown = rb if blind[0] is ra else ra
    return (f"the {blind[0].format} run shows neither its dataset nor its vocabulary, and the {shown.format} run "
            "is another trainer's: nothing says their losses are over the same tokens")


def _whose(run: Run) -> str:
    """The trainer a run's losses come from: its format's (Dialect.trainer), and Lightning's
    for its CSVLogger's metrics.csv, which no nanoGPT-family trainer writes (its flags are
    none of theirs, so Dialect.trainer leaves it unsaid); "" for a table or export."""
    return run.format.trainer or ("lightning" if run.format == Dialect.LIGHTNING else "")


def _same_tokens(va: object, vb: object) -> bool:
    """Whether two vocab sizes are one tokenizer's: equal, or the larger a BPE vocabulary
    padded up to the next multiple of 64 (nanoGPT's 50304 for GPT-2's 50257): padded ids
    never occur in the data, so the losses are over the same tokens. Small vocabularies are
    not taken as padded: 65 characters and 128 bytes are two tokenizers."""
    if va == vb:
        return True
    if not (isinstance(va, int) and isinstance(vb, int)):
        return False
    lo, hi = sorted((va, vb))
    return lo >= PADDED_MIN and hi == -(-lo // 64) * 64


PADDED_MIN = 1024  # a vocabulary this large is a BPE's, which nanoGPT pads for speed
# nats a loss at step 0 may lie above ln V of the other run's vocabulary before the two are
# called two tokenizers: a fresh model starts at most a third above V (0.29 nats); a factor e
INFERRED_VOCAB_NATS = 1.0


def same_data(ra: Run, rb: Run) -> bool:
    """Whether nothing the logs show of the runs' data differs: the dataset key and the file
    the vocabulary was read from (nanoGPT's `found vocab_size = N (inside PATH)`)."""
    return data_differs(ra, rb) is None


def data_differs(ra: Run, rb: Run) -> str | None:
    """What the logs show of the runs' data that differs, or None: the dataset key, or the
    file the vocabulary was read from. Two paths to one file from other directories
    (`data/shakespeare_char/meta.pkl`, `../nanoGPT/data/shakespeare_char/meta.pkl`) are
    the same file: they are compared by the components both show, the file and the
    folder above it; a meta.pkl and the input.txt of a folder of its name are one dataset
    (prepare.py makes the one from the other). Files of other names may hold the same text:
    where both runs logged the same losses at step 0 (same_start), they do."""
    da, db = ra.config.trusted("dataset"), rb.config.trusted("dataset")
    if da is not None and db is not None and da != db:
        return f"dataset {da!r} vs {db!r}"
    va, vb = ra.header.vocab_source, rb.header.vocab_source
    if va and vb and _tail(va, vb) != _tail(vb, va) and not _prepared(va, vb) and not _prepared(vb, va) \
            and not same_start(ra, rb):
        return f"the vocabulary read from {va} vs {vb}"
    return None


def same_start(ra: Run, rb: Run) -> bool:
    """Whether both runs logged an eval at step 0 with the same train and the same val loss,
    to the digits printed: the same initial model scored on the same batches of the same
    text, which files of other names holding other text do not give (two runs of one
    seed and model, the built-in trainer reading tiny Shakespeare from input.txt and from a
    copy of another name, both logged 4.1798 and 4.1776)."""
    firsts = []
    for run in (ra, rb):
        ev, _ = run.curves()
        at = [i for i, step in enumerate(ev.step) if step == 0]
        if not at:
            return False
        firsts.append((float(ev.train[at[0]]), float(ev.val[at[0]])))
    (ta, va), (tb, vb) = firsts
    return all(math.isfinite(x) for x in (ta, va, tb, vb)) and abs(ta - tb) < SAME_DIGITS and abs(va - vb) < SAME_DIGITS


SAME_DIGITS = 5e-5  # nats: equal as nanoGPT prints a loss, to 4 decimals


def _prepared(pkl: str, text: str) -> bool:
    """Whether `pkl` is the meta.pkl nanoGPT's prepare.py writes from `text`, an input.txt
    in a folder of the same name (data/shakespeare_char/: the built-in trainer reads the
    text, train.py the meta.pkl made from it)."""
    a, b = _parts(pkl), _parts(text)
    return len(a) >= 2 and len(b) >= 2 and a[-1] == "meta.pkl" and b[-1] == "input.txt" and a[-2] == b[-2]


def _parts(path: str) -> list[str]:
    """A path's components, either separator, without `.`, `..` or empty ones."""
    return [p for p in path.replace("\\", "/").split("/") if p not in ("", ".", "..")]


def _tail(path: str, other: str) -> tuple[str, ...]:
    """`path`'s last components, as many as both paths have up to two, past any `.` or `..`."""
    parts, theirs = _parts(path), _parts(other)
    n = min(2, len(parts), len(theirs))
    return tuple(parts[len(parts) - n:])


def data_unknown(ra: Run, rb: Run, fa: Facts, fb: Facts) -> str | None:
    """A note where a run shows neither its dataset nor its vocabulary (a CSV, a summary, a
    log without a header): the gap may be between data or tokenizers, not training. Two
    modded-nanogpt logs are taken to share theirs: its records all train on FineWeb with
    GPT-2's tokenizer."""
    blind = [who for who, r, f in (("worse", ra, fa), ("better", rb, fb))
             if r.config.trusted("dataset") is None and (f.value("vocab_size") is None
                                                         or f["vocab_size"].status == "inferred")]
    if not blind or ra.format.trainer == rb.format.trainer == "modded-nanogpt":
        return None
    which = "neither run shows" if len(blind) == 2 else f"the {blind[0]} run does not show"
    return (f"{which} its dataset or vocabulary: the gap is read as one of training, but runs on other data or "
            "another tokenizer have losses that do not compare")
