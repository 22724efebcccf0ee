"""Every real log of ../shared/corpus/logs, in every format: its format and points as
listed in corpus_expected.yaml, and `lossdoctor analyze` on each ends in a result, never a
traceback. Skipped where ../shared is absent (test_corpus.py has the nanoGPT files' details)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from conftest import shared_path
from lossdoctor.yamlio import safe_load

HERE = os.path.dirname(__file__)
with open(os.path.join(HERE, "corpus_expected.yaml"), encoding="utf-8") as _f:
    EXPECTED: list[dict[str, Any]] = safe_load(_f)


@pytest.mark.parametrize("case", EXPECTED, ids=[c["file"] for c in EXPECTED])
def test_corpus_file(case: dict[str, Any]) -> None:
    from lossdoctor.readers import read_runs
    runs = read_runs(str(shared_path("corpus/logs/" + case["file"])))
    assert (str(runs[0].format), len(runs[0].evals), len(runs[0].iters), len(runs)) == (
        case["format"], case["evals"], case["iters"], case.get("runs", 1))


def test_every_corpus_file_is_listed() -> None:
    root = str(shared_path("corpus/logs"))
    found = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root)
                   for f in fs if f != "SOURCES.md")
    assert found == sorted(c["file"] for c in EXPECTED)


def test_the_corpus_yields_curves_in_nine_formats() -> None:
    with_curves = [c for c in EXPECTED if c["evals"] + c["iters"] > 0]
    assert len(with_curves) >= 32
    assert len({c["format"] for c in with_curves}) >= 9


@pytest.mark.parametrize("case", EXPECTED, ids=[c["file"] for c in EXPECTED])
def test_analyze_never_tracebacks(case: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from lossdoctor.cli import main
    code = main(["analyze", "--format", "json", str(shared_path("corpus/logs/" + case["file"]))])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if case.get("logged_nothing"):  # read, but nothing to judge: one error line, no report
        assert code == 2 and "holds no loss or metric value" in err and not out, err
        return
    assert code in (0, 1), err
    assert out.count('"schema_version"') == 1
