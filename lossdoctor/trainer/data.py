"""Token data for the trainer, in nanoGPT's formats.

A dataset is two 1-D arrays of uint16 token ids, train and val, as nanoGPT's
`data/*/prepare.py` scripts write them (`train.bin`, `val.bin`, raw uint16, no header)
plus an optional `meta.pkl` dict giving `vocab_size` (and `stoi`/`itos` for char-level
data). `load_data` reads such a directory, a plain text file (encoded here exactly as
`data/shakespeare_char/prepare.py` would), or, given no path, a corpus built from the
Python standard library's own source so that training works offline with nothing shipped.
"""

from __future__ import annotations

import os
import pickle
import sys
import sysconfig
from dataclasses import dataclass
from typing import IO, Any, NoReturn

import numpy as np

from ..errors import InputError

# Pure-Python stdlib modules present as these paths in every CPython 3.9-3.13 install,
# sorted. Their ascii text, concatenated in this order, is cut at EMBEDDED_CHARS: about
# the size of tiny shakespeare (1,115,394 chars), which every version here exceeds.
EMBEDDED_FILES = (
    "abc.py", "argparse.py", "ast.py", "bisect.py", "calendar.py", "collections/__init__.py",
    "contextlib.py", "copy.py", "csv.py", "dataclasses.py", "difflib.py", "enum.py",
    "fnmatch.py", "fractions.py", "functools.py", "glob.py", "heapq.py", "inspect.py",
    "json/decoder.py", "json/encoder.py", "logging/__init__.py", "numbers.py", "pprint.py",
    "queue.py", "random.py", "shlex.py", "string.py", "tempfile.py", "textwrap.py",
    "threading.py", "tokenize.py", "typing.py",
)
EMBEDDED_CHARS = 1_000_000
MAX_VOCAB = 2**16  # ids are stored as uint16: 0..65535


@dataclass(frozen=True, eq=False)
class Data:
    """A tokenized dataset: train/val ids and what is known of the vocabulary."""

    train: np.ndarray  # (N_train,) uint16 token ids; a read-only memmap for .bin data
    val: np.ndarray  # (N_val,) uint16 token ids
    vocab_size: int | None  # None when unknown (a data dir without meta.pkl)
    source: str  # where it came from, for humans: a path or "embedded corpus: ..."
    stoi: dict[str, int] | None = None  # char -> id, char-level data only
    itos: dict[int, str] | None = None  # id -> char


def fingerprint(data: Data) -> str:
    """A short digest of the tokens (every split's size and a strided sample of its ids):
    two datasets with one name (the embedded corpus and tiny Shakespeare, both reported as
    shakespeare_char) or one file edited between runs tell apart."""
    import hashlib
    h = hashlib.sha1()
    for ids in (data.train, data.val):
        h.update(str(len(ids)).encode())
        h.update(np.ascontiguousarray(ids[::max(1, len(ids) // 4096)]).tobytes())
    return h.hexdigest()[:16]


def load_data(path: str | os.PathLike[str] | None) -> Data:
    """Read a nanoGPT data directory, a text file, or (None) the embedded corpus.

    Raises:
        InputError: the path is missing or is not data in one of these forms.
    """
    if path is None:
        text, description = embedded_corpus()
        return prepare_text(text, description)
    p = os.fspath(path)
    if os.path.isdir(p):
        return _load_dir(p)
    if not os.path.exists(p):
        raise InputError(p, "no such file or directory")
    try:
        with open(p, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise InputError(p, "not UTF-8 text: expected a nanoGPT data directory "
                            "(train.bin, val.bin, optional meta.pkl) or a text file") from None
    except OSError as e:
        raise InputError(p, f"cannot read: {e.strerror or e}") from None
    return prepare_text(text, p)


def _load_dir(path: str) -> Data:
    """A nanoGPT data directory: train.bin, val.bin and an optional meta.pkl."""
    train_bin = os.path.join(path, "train.bin")
    val_bin = os.path.join(path, "val.bin")
    if not os.path.isfile(train_bin):
        raise InputError(path, "no train.bin here: expected a nanoGPT data directory "
                               "(train.bin, val.bin, optional meta.pkl) or a text file")
    if not os.path.isfile(val_bin):
        raise InputError(path, "train.bin but no val.bin: a nanoGPT data directory "
                               "needs both (prepare.py writes them together)")
    train, val = _read_bin(train_bin), _read_bin(val_bin)
    meta_pkl = os.path.join(path, "meta.pkl")
    vocab_size = stoi = itos = None
    if os.path.isfile(meta_pkl):
        meta = read_meta(meta_pkl)
        vocab_size = meta.get("vocab_size")
        # bool is an int subclass; a vocab_size of True is no vocab size
        if vocab_size is not None and (type(vocab_size) is not int or vocab_size < 1):
            raise InputError(meta_pkl, f"vocab_size is {vocab_size!r}, not a positive int")
        stoi = meta.get("stoi") if isinstance(meta.get("stoi"), dict) else None
        itos = meta.get("itos") if isinstance(meta.get("itos"), dict) else None
    return Data(train, val, vocab_size, path, stoi, itos)


def _read_bin(path: str) -> np.ndarray:
    """Raw uint16 ids, memmapped (openwebtext's train.bin is ~17 GB) and read-only."""
    size = os.path.getsize(path)
    if size == 0:
        raise InputError(path, "empty file: no tokens")
    if size % 2:
        raise InputError(path, f"{size} bytes, an odd number: not uint16 token ids")
    return np.memmap(path, dtype=np.uint16, mode="r")


def prepare_text(text: str, source: str) -> Data:
    """Encode text one id per character, as nanoGPT's shakespeare_char/prepare.py does.

    The vocabulary is the sorted set of characters; the first int(n*0.9) characters
    are train, the rest val.
    """
    n = len(text)
    if n < 2:
        raise InputError(source, f"{n} character(s) of text: need at least 2 for a "
                                 "train and a val split")
    chars = sorted(set(text))
    if len(chars) > MAX_VOCAB:
        raise InputError(source, f"{len(chars):,} distinct characters: uint16 ids hold "
                                 f"at most {MAX_VOCAB:,}")
    stoi = {ch: i for i, ch in enumerate(chars)}
    itos = {i: ch for i, ch in enumerate(chars)}
    ids = np.array([stoi[c] for c in text], dtype=np.uint16)  # (n,)
    split = int(n * 0.9)  # same float arithmetic as prepare.py, so the same split
    return Data(ids[:split], ids[split:], len(chars), source, stoi, itos)


class _NoCodeUnpickler(pickle.Unpickler):
    """Loads only what pickle builds without importing anything: dicts, lists,
    tuples, strings, numbers, None, bools (protocol 4+ also sets). Any class or
    function reference (which would import a module and maybe run code) is refused."""

    def __init__(self, file: IO[bytes], path: str) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> NoReturn:
        raise InputError(self.path, f"refused for safety: the pickle asks for {module}.{name}, which would run "
                                    "code when loaded, and lossdoctor never runs code from a file; a nanoGPT "
                                    "meta.pkl holds only a dict of vocab_size, stoi and itos")


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a nanoGPT meta.pkl (a dict of vocab_size, stoi, itos, ...) without running code.

    Raises:
        InputError: the pickle refers to a class or function, is corrupt, or is not a dict.
    """
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            meta = _NoCodeUnpickler(f, p).load()
    except InputError:
        raise
    except OSError as e:
        raise InputError(p, f"cannot read: {e.strerror or e}") from None
    except Exception as e:  # a corrupt pickle raises any of a dozen types
        raise InputError(p, f"not a readable pickle ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict):
        raise InputError(p, f"meta.pkl holds a {type(meta).__name__}, expected a dict")
    return meta


def embedded_corpus() -> tuple[str, str]:
    """The default training text and a description of it: ascii source of stdlib modules.

    Deterministic for a given Python version: EMBEDDED_FILES in order, non-ascii
    characters dropped, cut at EMBEDDED_CHARS. Missing files are skipped.

    Raises:
        InputError: none of EMBEDDED_FILES exists in this Python's stdlib directory.
    """
    stdlib = sysconfig.get_paths()["stdlib"]
    parts: list[str] = []
    used: list[str] = []
    total = 0
    for name in EMBEDDED_FILES:
        if total >= EMBEDDED_CHARS:
            break
        try:
            with open(os.path.join(stdlib, name), encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            continue
        text = text.encode("ascii", "ignore").decode("ascii") + "\n"
        if total + len(text) > EMBEDDED_CHARS:
            text = text[:EMBEDDED_CHARS - total]
            name += " (part)"
        parts.append(text)
        used.append(name)
        total += len(text)
    if not parts:
        raise InputError(stdlib, f"none of the {len(EMBEDDED_FILES)} standard library files "
                                 "of the embedded corpus found here; give a data path instead")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    description = (f"embedded corpus: {total:,} characters of the Python {version} "
                   f"standard library's source ({', '.join(used)})")
    return "".join(parts), description
