"""Checkpoints and pickles from strangers: nothing in them runs, and every one that cannot
be read gets one line that says why, in every place lossdoctor opens one."""

from __future__ import annotations

import os
import pickle
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lossdoctor  # noqa: E402
from lossdoctor.cli import main  # noqa: E402
from lossdoctor.errors import CheckpointError  # noqa: E402
from lossdoctor.nanogpt import checkpoint as nc  # noqa: E402
from lossdoctor.readers.checkpoint import read_checkpoint  # noqa: E402

LOG = "iter 0: loss 4.2000, time 10.00ms, mfu -100.00%\nstep 0: train loss 4.2000, val loss 4.2100\n"


class Payload:
    """Unpickling this would run `touch MARKER`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _ckpt(**changes: Any) -> dict[str, Any]:
    sd = {"transformer.wte.weight": torch.zeros(65, 8), "transformer.wpe.weight": torch.zeros(16, 8),
          "lm_head.weight": torch.zeros(65, 8)}
    ck: dict[str, Any] = {
        "model": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "weight_decay": 0.1}]},
        "model_args": {"n_layer": 0, "n_head": 2, "n_embd": 8, "block_size": 16, "vocab_size": 65,
                       "bias": False, "dropout": 0.0},
        "iter_num": 100, "best_val_loss": 1.5, "config": {"learning_rate": 1e-3, "max_iters": 200}}
    ck.update(changes)
    return ck


def _evil_dir(tmp_path: Path) -> tuple[Path, Path]:
    """A run directory whose ckpt.pt and meta.pkl would each create the marker file."""
    run, marker = tmp_path / "run", tmp_path / "MARKER"
    run.mkdir()
    torch.save(_ckpt(evil=Payload(marker)), run / "ckpt.pt")
    (run / "meta.pkl").write_bytes(pickle.dumps({"vocab_size": 3, "evil": Payload(marker)}))
    (run / "train.log").write_text(LOG)
    ids = np.arange(3000, dtype=np.uint16) % 3
    ids.tofile(run / "train.bin")
    ids.tofile(run / "val.bin")
    return run, marker


TINY = ["--device=cpu", "--compile=False", "--dtype=float32", "--n_layer=1", "--n_head=2", "--n_embd=8",
        "--block_size=8", "--batch_size=2", "--max_iters=2", "--eval_interval=1", "--eval_iters=1"]


@pytest.mark.parametrize("place", ["analyze-ckpt", "analyze-dir", "train-resume", "sample", "verify", "train-data"])
def test_a_pickle_that_would_run_code_is_refused_for_safety_everywhere(tmp_path: Path, place: str,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    run, marker = _evil_dir(tmp_path)
    clean = tmp_path / "clean"
    clean.mkdir()
    argv = {
        "analyze-ckpt": ["analyze", str(run / "ckpt.pt")],
        "analyze-dir": ["analyze", str(run)],
        "train-resume": ["train", *TINY, "--init_from=resume", f"--out_dir={run}", f"--data={run}"],
        "sample": ["sample", str(run / "ckpt.pt")],
        "verify": ["verify", "--device", "cpu", "--data", str(run), "--out", str(tmp_path / "v"), "--budget", "5s"],
        "train-data": ["train", *TINY, f"--out_dir={clean}", f"--data={run}"],
    }[place]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert not marker.exists()
    assert "refused for safety" in err and "system" in err, err
    errors = [line for line in err.splitlines() if not line.startswith("lossdoctor: no config file and a CPU")]
    assert len(errors) == 1 and "Traceback" not in err  # the error, beside train's note of its CPU config


def test_a_refused_checkpoint_is_not_called_damaged(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    torch.save(_ckpt(evil=Payload(tmp_path / "MARKER")), path)
    with pytest.raises(CheckpointError) as e:
        nc.load_checkpoint(str(path))
    assert "is a damaged" not in e.value.reason and "corrupt" not in e.value.reason
    assert "posix.system" in e.value.reason or "nt.system" in e.value.reason


def test_a_legacy_pickle_checkpoint_names_the_global_it_asks_for(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    path.write_bytes(pickle.dumps({"model": Payload(tmp_path / "MARKER")}, protocol=2))
    with pytest.raises(CheckpointError, match=r"refused for safety: its pickle asks for (posix|nt)\.system"):
        nc.load_checkpoint(str(path))
    assert not (tmp_path / "MARKER").exists()


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nc, "BOMB_BYTES", 1 << 20)
    plain = tmp_path / "plain.pt"
    torch.save({"model": {"transformer.wte.weight": torch.zeros(1024, 1024)}, "model_args": {}}, plain)
    bomb = tmp_path / "ckpt.pt"
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(bomb, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename), compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(CheckpointError, match="zip bomb"):
        nc.load_checkpoint(str(bomb))
    nc.load_checkpoint(str(plain))  # torch.save's own (stored) members are never refused


@pytest.mark.parametrize("content, reason", [
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 99\n", "Git LFS pointer"),
    (b"step 0: train loss 4.2, val loss 4.3\n", "text file"),
    (b"PK\x03\x04" + b"\0" * 100, "truncated or corrupt"),
    (b"\x80\x02}q\x00(X\x05\x00\x00\x00model", "truncated"),
])
def test_unreadable_checkpoints_get_one_line(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "ckpt.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=reason) as e:
        nc.load_checkpoint(str(path))
    assert "\n" not in str(e.value)


def _deep(n: int) -> list[Any]:
    x: list[Any] = []
    for _ in range(n):
        x = [x]
    return x


def _shared(n: int) -> list[Any]:
    x: list[Any] = []
    for _ in range(n):
        x = [x, x]  # pickled once per level, 2**n items when walked
    return x


@pytest.mark.parametrize("name, changes, note", [
    ("iter_num past float", {"iter_num": 10**400}, "iter_num is a 401-digit int, out of range"),
    ("nan iter_num", {"iter_num": float("nan")}, "iter_num is nan, out of range"),
    ("huge best", {"best_val_loss": 10**400}, "best_val_loss is a 401-digit int"),
    ("non-dict optimizer", {"optimizer": [1, 2]}, "no 'step'"),
    ("nan optimizer step", {"optimizer": {"state": {0: {"step": float("nan")}}, "param_groups": [{"lr": 10**400}]}},
     "no 'step'"),
    ("tensor in model_args", {"model_args": {"n_layer": torch.zeros(3), "n_embd": 8}}, "model_args n_layer"),
    ("huge model_args", {"model_args": {"n_embd": 10**400}}, "model_args n_embd = a 401-digit int"),
    ("deep config", {"config": {"deep": _deep(2000)}}, None),
    ("self-sharing config", {"config": {"shared": _shared(60)}}, None),
    ("huge lr", {"config": {"learning_rate": 10**400}}, None),
])
def test_hostile_checkpoint_contents_are_read_or_noted(tmp_path: Path, name: str, changes: dict[str, Any],
                                                       note: str | None) -> None:
    path = tmp_path / "ckpt.pt"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)  # pickling a 2000-deep list recurses
    try:
        torch.save(_ckpt(**changes), path)
    finally:
        sys.setrecursionlimit(limit)
    info = read_checkpoint(str(path))
    if note:
        assert any(note in n for n in info.notes), info.notes
    analysis = lossdoctor.analyze([str(path)])  # facts and rules on it: no exception
    assert analysis.runs


def test_a_stride_zero_embedding_is_not_compared_element_by_element(tmp_path: Path) -> None:
    big = torch.zeros(1).expand(200_000, 200_000)  # 4e10 elements in one float
    path = tmp_path / "ckpt.pt"
    torch.save(_ckpt(model={"transformer.wte.weight": big, "lm_head.weight": torch.zeros(1).expand(200_000, 200_000)}),
               path)
    info = read_checkpoint(str(path))
    assert info.n_params is not None


def test_a_fifo_is_no_checkpoint(tmp_path: Path) -> None:
    fifo = tmp_path / "ckpt.pt"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="not a regular file"):
        nc.load_checkpoint(str(fifo))


def test_a_log_of_long_junk_lines_keeps_a_bounded_part_of_them_and_counts_all(tmp_path):
    import lossdoctor
    from conftest import FIXTURES
    from lossdoctor.run import MAX_KEPT_UNPARSED, MAX_UNPARSED_CHARS
    text = (FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text()
    junk = "".join(f"junk {i} " + "x" * 5000 + "\n" for i in range(MAX_KEPT_UNPARSED + 50))
    path = tmp_path / "junk.log"
    path.write_text(junk + text)
    run = lossdoctor.load(str(path))
    assert run.n_unparsed == MAX_KEPT_UNPARSED + 50 and len(run.unparsed) == MAX_KEPT_UNPARSED
    assert max(len(u.text) for u in run.unparsed) == MAX_UNPARSED_CHARS and len(run.iters) > 0


def test_an_llmc_checkpoint_header_is_not_taken_for_utf16_text(tmp_path):
    import struct

    from conftest import run_cli
    path = tmp_path / "model_00005000.bin"  # llm.c's header: little-endian int32s, mostly small
    path.write_bytes(struct.pack("<256i", 20240326, 3, 1024, 50257, 12, 12, 768, 50304, *([0] * 248)))
    code, _, err = run_cli("analyze", str(path))
    assert code == 2 and "binary file" in err and "UTF-16" not in err


@pytest.mark.parametrize("make, hint", [
    (lambda text: text.encode("utf-16"), "UTF-16 text"),
    (lambda text: text.encode("utf-16-le"), "UTF-16 text"),  # no BOM
    (lambda text: ("Schritt 0: Verlust ä ö ü é █▌\n" * 3 + text).encode("utf-16-le"), "UTF-16 text"),
    (lambda text: __import__("gzip").compress(text.encode()), "gzip-compressed: decompress it first"),
    (lambda text: text.replace("\n", "\r").encode(), "its lines end in a carriage return alone"),
])
def test_a_log_in_another_dress_is_refused_with_what_to_do(tmp_path, make, hint):
    from conftest import FIXTURES, run_cli
    path = tmp_path / "dressed.log"
    path.write_bytes(make((FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text()))
    code, out, err = run_cli("analyze", str(path))
    assert code == 2 and out == "" and hint in err


def test_every_reader_keeps_a_bounded_part_of_the_lines_it_does_not_understand(tmp_path):
    import lossdoctor
    from lossdoctor.run import MAX_KEPT_UNPARSED, MAX_UNPARSED_CHARS
    points = "".join(f"s:{s} trl:{4 - s / 1000:.4f} lr:0.0006 norm:1.0\n" for s in range(0, 100, 10))
    junk = "".join(f"?? {i} " + "y" * 900 + "\n" for i in range(MAX_KEPT_UNPARSED + 7))
    path = tmp_path / "main.log"  # llm.c's main.log, read line by line (build.point_lines)
    path.write_text(points + junk)
    run = lossdoctor.load(str(path))
    assert run.format == "llmc-main" and run.n_unparsed == MAX_KEPT_UNPARSED + 7
    assert len(run.unparsed) == MAX_KEPT_UNPARSED and max(len(u.text) for u in run.unparsed) == MAX_UNPARSED_CHARS


def test_a_utf8_byte_order_mark_is_no_text_of_the_first_line(tmp_path: Path) -> None:
    # an editor that saves with a BOM: the header's first line is read, from a file or a pipe
    import subprocess
    log = Path(__file__).parent.parent / "fixtures" / "nanogpt" / "cpu_small" / "train.log"
    text = log.read_bytes()
    bom = tmp_path / "bom.log"
    bom.write_bytes(b"\xef\xbb\xbf" + text)
    plain, marked = lossdoctor.load(str(log)), lossdoctor.load(str(bom))
    assert marked.n_unparsed == plain.n_unparsed == 0
    assert marked.line_counts == plain.line_counts and marked.config == plain.config
    piped = subprocess.run([sys.executable, "-m", "lossdoctor", "analyze", "-", "--format", "json"],
                           input=b"\xef\xbb\xbf" + text, capture_output=True, check=False)
    import json
    run = json.loads(piped.stdout)["runs"][0]
    assert run["unparsed"]["count"] == 0 and run["config_origin"] == json.loads(
        subprocess.run([sys.executable, "-m", "lossdoctor", "analyze", str(log), "--format", "json"],
                       capture_output=True, check=False).stdout)["runs"][0]["config_origin"]
