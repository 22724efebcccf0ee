"""Shared helpers: paths to the project's fixtures and to ../shared (CI has it)."""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SHARED = Path(os.environ.get("LOSSDOCTOR_SHARED", ROOT.parent / "shared"))


def shared_path(rel: str) -> Path:
    """A file under ../shared, or skip the test when it is absent."""
    p = SHARED / rel
    if not p.exists():
        pytest.skip(f"{p} not available")
    return p


def parse_text(text: str, name: str = "test.log"):
    """Read log text into a Run, as `lossdoctor.load` would read a file holding it."""
    from lossdoctor.readers import nanogpt
    from lossdoctor.readers.assemble import assemble
    data = text.encode() if isinstance(text, str) else text
    return assemble(nanogpt.scan(data, markdown=name.endswith(".md")), name, "nanogpt")


def run_cli(*argv: str) -> tuple[int, str, str]:
    """lossdoctor's main() in this process: (exit code, stdout, stderr)."""
    from lossdoctor.cli import main
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


# a model small enough that verify's experiments train in seconds, on the README CPU config
TINY_TRAIN = ["--n_layer=1", "--n_head=2", "--n_embd=16", "--block_size=16", "--batch_size=4",
              "--max_iters=200", "--lr_decay_iters=200", "--warmup_iters=10", "--eval_interval=50"]


@pytest.fixture(scope="module")
def data() -> Any:
    """The embedded corpus, loaded once per test module."""
    from lossdoctor.trainer import load_data
    return load_data(None)


@pytest.fixture(scope="module")
def tiny() -> Any:
    """The README CPU config with TINY_TRAIN's model and steps."""
    from lossdoctor.trainer import resolve
    from lossdoctor.verify.design import BASE_CONFIG
    return resolve(BASE_CONFIG, TINY_TRAIN)


# a minimal valid rule file, edited by the rule-file tests
DEMO_RULE = """\
id: XY001-demo
title: Demo
category: config
severity: info
when: "max_iters < 100"
message: "max_iters is {max_iters}"
recommendation: {flags: "--max_iters=5000 --lr_decay_iters=5000"}
expected_effect: {kind: none, source: "demo"}
verify: {metric: final_val, expect: lower}
why: a demo
cases:
  - {name: short, facts: {max_iters: 10}, expect: fire}
  - {name: long, facts: {max_iters: 1000}, expect: pass}
"""


@pytest.fixture(autouse=True)
def _no_console_width_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A COLUMNS exported in the shell that runs the tests would wrap errors and reports:
    each test sets the width it checks."""
    monkeypatch.delenv("COLUMNS", raising=False)
