"""A log read a piece at a time reads exactly as the whole file does, and a log of more
iteration lines than the bound keeps an even, real sample of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lossdoctor
from lossdoctor.readers import chunks, linereader, nanogpt
from lossdoctor.readers.build import iter_lines, text_lines
from lossdoctor.readers.registry import Sample

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
LOGS = sorted(FIXTURES.glob("nanogpt/*/train.log"))[:4] + sorted(FIXTURES.glob("diagnosis/*/train.log"))[:4]


def _same(a: linereader.Scan, b: linereader.Scan) -> None:
    assert a.n_lines == b.n_lines and a.counts == b.counts and a.nonstandard == b.nonstandard
    for k in ("line", "step", "loss", "time_ms", "mfu"):
        assert np.array_equal(getattr(a.fast, k), getattr(b.fast, k))
    assert [(r.line, r.kind, r.value) for r in a.records] == [(r.line, r.kind, r.value) for r in b.records]
    assert a.unparsed == b.unparsed


@pytest.mark.parametrize("path", LOGS, ids=[f"{p.parent.name}" for p in LOGS])
@pytest.mark.parametrize("crlf", [False, True])
def test_small_pieces_read_as_the_whole_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: Path,
                                             crlf: bool) -> None:
    data = path.read_bytes()
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    data = data.rstrip(b"\n") + b"\niter 99999: loss 1.23"  # a last line cut short
    case = tmp_path / "train.log"
    case.write_bytes(data)
    whole = nanogpt.scan(data)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 257)
    monkeypatch.setattr(chunks, "LINE_CHUNK_BYTES", 263)
    _same(nanogpt.scan_file(str(case)), whole)
    _same(nanogpt.scan(data), whole)  # pieces of an array, as a pipe is read
    assert list(iter_lines(Sample(str(case)))) == data.replace(b"\r\n", b"\n").decode().split("\n")


def test_a_line_longer_than_a_piece_is_cut_not_held_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 100)
    monkeypatch.setattr(chunks, "LONG_LINE", 1000)
    case = tmp_path / "train.log"
    case.write_bytes(b"step 0: train loss 4.2000, val loss 4.3000\n" + b"x" * 5000 + b"\nstep 10: train loss 3.0, "
                     b"val loss 3.1\n")
    pieces = list(chunks.of_file(str(case)))
    assert max(len(p) for p in pieces) <= 1000 + 100
    assert b"".join(p.tobytes() for p in pieces) == case.read_bytes()
    assert list(nanogpt.scan_file(str(case)).counts.items())


def test_iteration_lines_past_the_bound_are_thinned_evenly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks, "ITER_CAP", 1000)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 4096)
    lines = ["Overriding: max_iters = 5000"]
    for s in range(5001):
        if s % 250 == 0:
            lines.append(f"step {s}: train loss {3 - s / 5000:.4f}, val loss {3.1 - s / 5000:.4f}")
        lines.append(f"iter {s}: loss {3 - s / 5000:.4f}, time 10.00ms, mfu 1.00%")
    case = tmp_path / "train.log"
    case.write_text("\n".join(lines) + "\n")
    run = lossdoctor.load(str(case))
    steps = run.iters.step
    assert 500 < len(steps) <= 1001 and steps[0] == 0 and steps[-1] == 5000
    assert set(np.diff(steps[:-1]).tolist()) == {8}  # every 8th, evenly
    assert len(run.evals.step) == 21  # evals are all kept
    assert any("iteration lines: one in 8 is kept" in n for n in run.notes)


def test_text_lines_is_the_streamed_lines() -> None:
    path = LOGS[0]
    assert text_lines(Sample(str(path))) == path.read_text().splitlines()


@pytest.mark.parametrize(("data", "lines"), [(b"a\nb\n", ["a", "b"]), (b"a\nb", ["a", "b"]),
                                             (b"a\n\n", ["a", ""]), (b"", [])])
def test_a_last_newline_ends_the_last_line_and_adds_none(tmp_path, data, lines) -> None:
    from lossdoctor.readers.build import count_lines
    p = tmp_path / "x.log"
    p.write_bytes(data)
    assert text_lines(Sample(str(p))) == lines and count_lines(data) == len(lines)


def test_a_long_curve_of_another_format_is_thinned_evenly_with_a_note(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from lossdoctor.readers import build
    monkeypatch.setattr(build, "POINTS_CAP", 100)
    case = tmp_path / "llmc.log"
    case.write_text("".join(f"step {s:4d}/1000 | loss {3 - s / 1000:.6f} (+nanz)| norm 0.5000 (+nanz)| lr 6.00e-04 | "
                            f"25.00 ms | 40.0% bf16 MFU | 650000 tok/s\n" for s in range(1, 1001)))
    run = lossdoctor.load(str(case))
    steps = run.iters.step
    assert run.format == "llmc" and len(steps) <= 101 and steps[0] == 1 and steps[-1] == 1000
    assert len(set(np.diff(steps[:-1]).tolist())) == 1
    assert not np.isnan(run.iters.time_ms).any()  # the kept points keep their times
    assert any("1,000 train points: every 16th is kept" in n for n in run.notes), run.notes
