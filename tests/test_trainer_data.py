"""lossdoctor.trainer.data: nanoGPT data dirs, text files, meta.pkl safety, embedded corpus."""

from __future__ import annotations

import collections
import datetime
import pickle
import sys

import numpy as np
import pytest

from lossdoctor.errors import InputError
from lossdoctor.trainer.data import embedded_corpus, load_data, prepare_text, read_meta

CALLED: list[tuple] = []


def _canary(*args):
    CALLED.append(args)
    return args


class _Loud:
    """Unpickles by calling _canary: a stand-in for a pickle that runs code."""

    def __reduce__(self):
        return (_canary, ("ran",))


def test_prepare_text_matches_nanogpt_split():
    text = "hello world, the quick brown fox!\n" * 3 + "xyz"  # n = 105
    d = prepare_text(text, "t")
    n = len(text)
    chars = sorted(set(text))
    assert d.vocab_size == len(chars)
    assert len(d.train) == int(n * 0.9) and len(d.val) == n - int(n * 0.9)
    assert d.train.dtype == np.uint16 and d.val.dtype == np.uint16
    assert d.stoi == {c: i for i, c in enumerate(chars)}
    assert "".join(d.itos[int(i)] for i in np.concatenate([d.train, d.val])) == text


@pytest.mark.parametrize("text", ["", "a"])
def test_prepare_text_too_short(text):
    with pytest.raises(InputError, match="at least 2"):
        prepare_text(text, "t")


def test_text_file(tmp_path):
    p = tmp_path / "input.txt"
    p.write_text("abcabcabcd", encoding="utf-8")
    d = load_data(str(p))
    assert (d.vocab_size, len(d.train), len(d.val), d.source) == (4, 9, 1, str(p))


def test_data_dir_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 50, 1000).astype(np.uint16)
    val = rng.integers(0, 50, 100).astype(np.uint16)
    train.tofile(tmp_path / "train.bin")
    val.tofile(tmp_path / "val.bin")
    with open(tmp_path / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": 50, "stoi": {"a": 0}, "itos": {0: "a"}}, f)
    d = load_data(tmp_path)
    assert d.vocab_size == 50 and d.stoi == {"a": 0} and d.itos == {0: "a"}
    assert isinstance(d.train, np.memmap) and d.train.dtype == np.uint16
    np.testing.assert_array_equal(d.train, train)
    np.testing.assert_array_equal(d.val, val)


def test_data_dir_without_meta(tmp_path):
    np.arange(10, dtype=np.uint16).tofile(tmp_path / "train.bin")
    np.arange(4, dtype=np.uint16).tofile(tmp_path / "val.bin")
    d = load_data(tmp_path)
    assert d.vocab_size is None and d.stoi is None and len(d.train) == 10


def test_dir_without_train_bin(tmp_path):
    with pytest.raises(InputError, match="train.bin"):
        load_data(tmp_path)


def test_dir_without_val_bin(tmp_path):
    np.arange(10, dtype=np.uint16).tofile(tmp_path / "train.bin")
    with pytest.raises(InputError, match="val.bin"):
        load_data(tmp_path)


@pytest.mark.parametrize("content,reason", [(b"", "empty"), (b"\x01\x00\x02", "odd")])
def test_bad_bin(tmp_path, content, reason):
    (tmp_path / "train.bin").write_bytes(content)
    np.arange(4, dtype=np.uint16).tofile(tmp_path / "val.bin")
    with pytest.raises(InputError, match=reason):
        load_data(tmp_path)


def test_missing_path(tmp_path):
    with pytest.raises(InputError, match="no such file or directory"):
        load_data(tmp_path / "nope")


@pytest.mark.parametrize("obj,needs", [
    ({"vocab_size": collections.OrderedDict(a=1)}, "collections.OrderedDict"),
    ({"vocab_size": 3, "when": datetime.date(2024, 1, 1)}, "datetime.date"),
    (_Loud(), "_canary"),
])
def test_meta_needing_code_is_refused(tmp_path, obj, needs):
    CALLED.clear()
    p = tmp_path / "meta.pkl"
    p.write_bytes(pickle.dumps(obj))
    with pytest.raises(InputError, match="refused for safety") as e:
        read_meta(p)
    assert needs in e.value.reason and "refused" in e.value.reason
    assert CALLED == []


def test_meta_class_never_imported(tmp_path):
    # protocol 0 GLOBAL opcode naming a module that must not get imported
    p = tmp_path / "meta.pkl"
    p.write_bytes(b"clossdoctor_never_imported\nboom\n(tR.")
    with pytest.raises(InputError, match=r"lossdoctor_never_imported\.boom"):
        read_meta(p)
    assert "lossdoctor_never_imported" not in sys.modules


@pytest.mark.parametrize("content", [b"", b"\x80\x04garbage", b"not a pickle"])
def test_meta_corrupt(tmp_path, content):
    p = tmp_path / "meta.pkl"
    p.write_bytes(content)
    with pytest.raises(InputError):
        read_meta(p)


def test_meta_not_a_dict_and_bad_vocab(tmp_path):
    p = tmp_path / "meta.pkl"
    p.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(InputError, match="expected a dict"):
        read_meta(p)
    np.arange(10, dtype=np.uint16).tofile(tmp_path / "train.bin")
    np.arange(4, dtype=np.uint16).tofile(tmp_path / "val.bin")
    p.write_bytes(pickle.dumps({"vocab_size": "65"}))
    with pytest.raises(InputError, match="vocab_size"):
        load_data(tmp_path)


def test_embedded_corpus():
    text, description = embedded_corpus()
    assert text and text.isascii()
    assert len(text) <= 1_000_000
    assert embedded_corpus() == (text, description)
    version = f"Python {sys.version_info.major}.{sys.version_info.minor}"
    assert version in description and "argparse.py" in description
    assert f"{len(text):,} characters" in description


def test_load_none_is_embedded_corpus():
    text, description = embedded_corpus()
    d = load_data(None)
    assert d.source == description
    assert d.vocab_size == len(set(text)) == len(d.stoi)
    assert len(d.train) == int(len(text) * 0.9) and len(d.train) + len(d.val) == len(text)
