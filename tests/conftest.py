"""Shared helpers: paths to the project's fixtures and to ../shared (CI has it)."""

from __future__ import annotations

import os
from pathlib import Path

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
