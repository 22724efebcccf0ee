"""The error catalogue (tests/error_catalogue.yaml): every error a user can meet is one
line on stderr and exit status 2, and names its file or argument, says what was
expected, and (where there is one) what to do."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from lossdoctor.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
LOG = FIXTURES / "nanogpt" / "cpu_small" / "train.log"
CATALOGUE: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "error_catalogue.yaml").read_text())


def _make(tmp: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = tmp / name
        if content == "dir":
            path.mkdir()
        elif content == "fifo":
            os.mkfifo(path)
        elif content.startswith("hex:"):
            path.write_bytes(bytes.fromhex(content[4:]))
        else:
            path.write_text(content)


def test_the_catalogue_covers_every_command_and_its_ids_are_unique() -> None:
    ids = [c["id"] for c in CATALOGUE]
    assert len(ids) == len(set(ids)) >= 20
    assert {c["argv"][0] for c in CATALOGUE} >= {"analyze", "extrapolate", "train", "verify", "sample"}


@pytest.mark.parametrize("case", CATALOGUE, ids=[c["id"] for c in CATALOGUE])
def test_every_error_names_its_file_says_what_was_expected_and_what_to_do(
        tmp_path: Path, case: dict[str, Any], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    if case["argv"][1:2] == ["/dev/zero"] and not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    monkeypatch.chdir(tmp_path)  # `train` looks for data/ in the working folder
    _make(tmp_path, case.get("files") or {})
    argv = [a.format(tmp=tmp_path, log=LOG, fixtures=FIXTURES) for a in case["argv"]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if re.match(r"lossdoctor( \w+)?: error: ", line)]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert not err.startswith("usage:"), err  # one line, not argparse's usage block
    line = errors[0]
    shown = line.replace(str(tmp_path), "TMP").replace(f"{ROOT}{os.sep}", "")
    rows = (ROOT / "docs" / "errors.md").read_text().splitlines()
    doc = next(row for row in rows if row.startswith(f"| {case['id']} |"))  # the message as printed, in the docs
    assert doc.rstrip(" |").endswith(shown.replace("|", "\\|")), f"docs/errors.md's {case['id']} is not: {shown}"
    for key in ("names", "expected", "todo"):
        if key in case:
            assert re.search(case[key], line), f"{case['id']}: no {key} /{case[key]}/ in: {line}"


def test_docs_errors_lists_every_case() -> None:
    doc = (ROOT / "docs" / "errors.md").read_text()
    missing = [c["id"] for c in CATALOGUE if f"| {c['id']} |" not in doc]
    assert not missing, f"docs/errors.md lacks {missing}"
